/**
 * Execution of one order command from the FIFO order queue (called by the order-executor handler under the
 * trade's lease, once per commandId):
 *
 * - `ENTER`: kill-switch check, the one-trade-per-account-and-symbol re-check (`SYMBOL_BUSY`, see
 *   {@link symbolBusy}), the entry through the executor, then — in the same invocation that sees the
 *   fill — the position from the core (`openPosition` with exits re-planned from the fill), the exchange stop
 *   (`protectOrExit`: a stop that would trigger becomes a market exit), the encoded position and milestone
 *   tracker persisted with ENTERING → LIVE, the fill → stop latency metric, and the task's answer
 *   `{result: 'FILLED', …}`. Nothing filled → `{result: 'NOT_FILLED', reason}` (the state machine cancels).
 * - `EXIT`: LIVE/WARNING/CRITICAL → CLOSING, reduce-only market exit of the trade's remaining quantity
 *   (nothing left on the exchange = the position is gone), the resting stop cancelled, → CLOSED.
 * - `PARTIAL_EXIT` `{qty}`: reduce-only partial exit, then the stop resized to the rest (create before cancel).
 * - `PLACE_STOP` / `REPLACE_STOP`: (re-)places the stop the stored position holds, for its remaining quantity.
 * - `CANCEL_ORDER` `{orderId, trigger}`: cancels an order of the trade.
 *
 * A redelivered command finds its effects in the trade's status and intents and answers the same result.
 * Exchange failures that survive the executor's retries are answered with SendTaskFailure and a classified
 * error name (see `functions/handlers/shared/errors.ts`); storage errors are thrown (the message is retried).
 */
import { accountConfig } from '../core/config.js';
import type { TradingOptions } from '../core/config.js';
import { D } from '../core/decimal.js';
import type { Decimal } from '../core/decimal.js';
import { planInitialExits } from '../core/exits.js';
import type { InitialExits } from '../core/exits.js';
import { OPEN_POSITION_STATUSES } from '../core/lifecycle.js';
import { createMilestoneTracker } from '../core/milestones.js';
import { clientOrderId } from '../core/reconciliation.js';
import { openPosition, reducePosition, stopRulesFor } from '../core/stop-manager.js';
import type { PositionState } from '../core/stop-manager.js';
import { encodePosition, encodeTracker } from '../core/trade-codec.js';
import type { Clock } from '../ports/clock.js';
import type { ConfigSource } from '../ports/config.js';
import { isExchangeFailure } from '../ports/exchange.js';
import type { ExchangeMarket, ExchangePort } from '../ports/exchange.js';
import type { OrderCommand } from '../ports/order-queue.js';
import type { JsonMap, TradeRecord, TradeStore } from '../ports/trade-store.js';
import type { WorkflowPort } from '../ports/workflow.js';
import type { OrderExecutor, ProtectResult } from './order-executor.js';
import { storedSignal } from './evaluate.js';
import { writeTrade } from './store-writes.js';
import { asJson, dataMap, readEntry, readPlan, readPosition, readStop, tradeSide } from './trade-data.js';
import type { EntryData, ExitData } from './trade-data.js';

/** Ports of {@link executeOrderCommand}. */
export interface OrderCommandDeps {
  store: TradeStore;
  workflow: WorkflowPort;
  config: ConfigSource;
  clock: Clock;
  accounts: { account(accountId: string): Promise<{ exchange: ExchangePort; executor: OrderExecutor }> };
  metrics: { count(name: string, n?: number): void; timing(name: string, ms: number): void };
  log?: (level: 'info' | 'warn' | 'error', message: string, extra?: Record<string, unknown>) => void;
}

/** A failure answered to the waiting task (the state machine's Catch decides what follows). */
export class CommandFailure extends Error {
  constructor(
    /** The error name sent with SendTaskFailure. */
    readonly errorName: string,
    message: string,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

/** The answer of an ENTER command. */
export type EnterAnswer =
  | {
      result: 'FILLED';
      positionOpen: boolean;
      filledQty: string;
      avgPrice: string;
      partial: boolean;
      stopPrice: string | null;
      fillToStopMs: number | null;
      exitReason: string | null;
    }
  | { result: 'NOT_FILLED'; reason: string };

/** Classifies an exchange failure for SendTaskFailure. */
function failureName(e: unknown): string {
  if (isExchangeFailure(e)) return e.outcome === 'never-retry' ? 'ExchangeRejected' : 'ExchangeUnavailable';
  return 'InternalError';
}

/** Runs one command and answers its task token (when it has one). Throws only for retryable storage errors. */
export async function executeOrderCommand(
  deps: OrderCommandDeps,
  command: OrderCommand,
  leaseToken: number,
): Promise<void> {
  let answer: Record<string, unknown>;
  try {
    answer = await run(deps, command, leaseToken);
  } catch (e) {
    if (!(e instanceof CommandFailure) && !isExchangeFailure(e)) throw e;
    const name = e instanceof CommandFailure ? e.errorName : failureName(e);
    const cause = e instanceof Error ? e.message : String(e);
    deps.log?.('error', `command ${command.commandId} failed: ${name}`, { cause });
    if (command.taskToken) await deps.workflow.sendTaskFailure(command.taskToken, name, cause);
    return;
  }
  if (command.taskToken) await deps.workflow.sendTaskSuccess(command.taskToken, answer);
}

async function run(
  deps: OrderCommandDeps,
  cmd: OrderCommand,
  leaseToken: number,
): Promise<Record<string, unknown>> {
  switch (cmd.type) {
    case 'ENTER':
      return enter(deps, cmd, leaseToken);
    case 'EXIT':
      return exit(deps, cmd, leaseToken);
    case 'PARTIAL_EXIT':
      return partialExit(deps, cmd, leaseToken);
    case 'PLACE_STOP':
    case 'REPLACE_STOP':
      return replaceStop(deps, cmd, leaseToken);
    case 'CANCEL_ORDER':
      return cancelOrder(deps, cmd);
  }
}

async function load(deps: OrderCommandDeps, tradeId: string): Promise<TradeRecord> {
  const t = await deps.store.getTrade(tradeId);
  if (t === null) throw new CommandFailure('InvalidInput', `trade ${tradeId} does not exist`);
  return t;
}

async function optionsOf(deps: OrderCommandDeps, accountId: string): Promise<TradingOptions> {
  return accountConfig(await deps.config.getConfig(), accountId).options;
}

async function marketOf(exchange: ExchangePort, symbol: string): Promise<ExchangeMarket> {
  const m = (await exchange.loadMarkets())[symbol];
  if (!m) throw new CommandFailure('InvalidInput', `the exchange has no market ${symbol}`);
  return m;
}

/** The FILLED answer from a trade that already went LIVE (a redelivered ENTER). */
function filledAnswer(trade: TradeRecord): EnterAnswer {
  const entry = readEntry(trade);
  if (!entry)
    throw new CommandFailure('IllegalState', `trade ${trade.tradeId} is ${trade.status} without an entry`);
  const position = dataMap(trade, 'position');
  const exit = dataMap(trade, 'exit');
  return {
    result: 'FILLED',
    positionOpen: OPEN_POSITION_STATUSES.includes(trade.status) && trade.status !== 'CLOSING',
    filledQty: entry.filledQty,
    avgPrice: entry.avgPrice,
    partial: entry.partial,
    stopPrice: typeof position?.stop === 'string' ? position.stop : null,
    fillToStopMs: typeof trade.data.fillToStopMs === 'number' ? trade.data.fillToStopMs : null,
    exitReason: typeof exit?.reason === 'string' ? exit.reason : null,
  };
}

/**
 * One trade per account and symbol, re-checked where it is serialized: the exchanges run in one-way
 * position mode (one net position per symbol), and the risk gate reads the store at evaluation, so two
 * signals evaluated at the same time can both pass it. ENTER commands of one account and symbol go through
 * one FIFO message group and run one at a time, so this check, made before the entry is sent, sees every
 * earlier entry of the symbol. Another trade of the account on the symbol blocks when it holds a position
 * (LIVE, WARNING, CRITICAL, CLOSING) or is ENTERING with its entry order already recorded (an intent not
 * REJECTED). A trade whose own entry was already recorded (a redelivered ENTER) is not re-checked: its
 * order may be on the exchange, and the executor resumes it. Returns the reason, or null when free.
 */
async function symbolBusy(store: TradeStore, trade: TradeRecord): Promise<string | null> {
  if (await entrySent(store, trade.tradeId)) return null;
  const open = await store.listOpenTrades({ symbol: trade.symbol });
  for (const o of open) {
    if (o.accountId !== trade.accountId || o.tradeId === trade.tradeId) continue;
    const other = await store.getTrade(o.tradeId);
    if (other === null) continue;
    const holds = OPEN_POSITION_STATUSES.includes(other.status);
    if (holds || (other.status === 'ENTERING' && (await entrySent(store, other.tradeId))))
      return `${trade.symbol} already has open trade ${other.tradeId} (${other.status}${holds ? '' : ', entry sent'}): one trade per account and symbol`;
  }
  return null;
}

/** Whether the trade's entry order was recorded (an intent with the entry's client order id, not REJECTED). */
async function entrySent(store: TradeStore, tradeId: string): Promise<boolean> {
  const intent = await store.getOrderIntent(tradeId, clientOrderId(tradeId, 'entry'));
  return intent !== null && intent.status !== 'REJECTED';
}

async function enter(deps: OrderCommandDeps, cmd: OrderCommand, leaseToken: number): Promise<EnterAnswer> {
  const { store, clock } = deps;
  const trade = await load(deps, cmd.tradeId);
  if (trade.status === 'CANCELLED') {
    const c = dataMap(trade, 'cancel');
    return { result: 'NOT_FILLED', reason: typeof c?.reason === 'string' ? c.reason : 'cancelled' };
  }
  if (trade.status !== 'ENTERING') {
    if (readEntry(trade)) return filledAnswer(trade);
    throw new CommandFailure(
      'IllegalState',
      `trade ${trade.tradeId} is ${trade.status}; ENTER needs ENTERING`,
    );
  }
  const [globalState, accountState] = await Promise.all([
    store.getTradingState({ global: true }),
    store.getTradingState({ accountId: trade.accountId }),
  ]);
  for (const [scope, s] of [
    ['global', globalState],
    ['account', accountState],
  ] as const) {
    if (s.value !== 'ACTIVE')
      return {
        result: 'NOT_FILLED',
        reason: `KILL_SWITCH: ${scope} trading state is ${s.value} (${s.reason})`,
      };
  }
  const busy = await symbolBusy(store, trade);
  if (busy !== null) return { result: 'NOT_FILLED', reason: `SYMBOL_BUSY: ${busy}` };
  const plan = readPlan(trade);
  if (!plan) throw new CommandFailure('IllegalState', `trade ${trade.tradeId} has no plan`);
  const signal = storedSignal(trade);
  const side = signal.side;
  const options = await optionsOf(deps, trade.accountId);
  const { exchange, executor } = await deps.accounts.account(trade.accountId);
  const market = await marketOf(exchange, trade.symbol);
  await exchange.setLeverage(trade.symbol, plan.leverage).catch((e: unknown) =>
    deps.log?.('warn', `setLeverage ${plan.leverage} failed; the exchange's leverage stays`, {
      error: e instanceof Error ? e.message : String(e),
    }),
  );

  const r = await executor.enter({
    tradeId: trade.tradeId,
    symbol: trade.symbol,
    side,
    qty: new D(plan.qty),
    type: plan.entryType,
    ...(plan.limitPrice ? { price: new D(plan.limitPrice) } : {}),
    referencePrice: new D(plan.referencePrice),
  });
  if (r.status === 'refused') return { result: 'NOT_FILLED', reason: `${r.reason}: ${r.detail}` };
  if (r.status === 'rejected')
    throw new CommandFailure(
      'ExchangeRejected',
      `entry ${r.clientOrderId} rejected: ${r.failure.code} ${r.failure.message}`,
    );
  if (r.status === 'unfilled')
    return {
      result: 'NOT_FILLED',
      reason: `ENTRY_TIMEOUT: the limit entry filled nothing within ${executor.settings.orderTimeoutMs / 1000} s`,
    };
  const fillSeenAt = clock.now();
  const avg = r.avgPrice ?? new D(plan.expectedEntry);
  const filledQty = r.filledQty;
  const entry: EntryData = {
    clientOrderId: r.clientOrderId,
    orderId: r.order.id,
    requestedQty: plan.qty,
    filledQty: filledQty.toFixed(),
    avgPrice: avg.toFixed(),
    filledAt: fillSeenAt,
    partial: r.status === 'partial',
    slippageBps: r.slippage ? r.slippage.bps.toFixed() : null,
  };

  // The stop, in this same invocation.
  let exits: InitialExits | null = null;
  let planError: string | null = null;
  try {
    exits = planInitialExits({
      side,
      entryPrice: avg,
      stop: signal.stop,
      rr: signal.rr,
      market,
      options: options.exits,
      ...(plan.atr ? { atr: new D(plan.atr) } : {}),
    });
  } catch (e) {
    planError = (e as Error).message;
  }
  const rules = stopRulesFor(options, market);
  const opened = exits
    ? openPosition({
        side,
        entryPrice: avg,
        qty: filledQty,
        filledAt: fillSeenAt,
        exits,
        maxLoss: new D(plan.maxLoss),
        rules,
        price: avg,
      })
    : null;
  const place = opened?.actions.find((a) => a.type === 'PLACE_STOP');
  for (const a of opened?.actions ?? [])
    if (a.type === 'ALARM') deps.log?.('warn', `initial stop: ${a.code}`, { message: a.message });

  let protect: ProtectResult;
  if (opened && place && place.type === 'PLACE_STOP') {
    try {
      protect = await executor.protectOrExit({
        tradeId: trade.tradeId,
        symbol: trade.symbol,
        positionSide: side,
        qty: place.qty,
        stopPrice: place.price,
        seq: 1,
      });
    } catch (e) {
      deps.metrics.count('UnprotectedPositions');
      throw new CommandFailure('PositionUnprotected', e instanceof Error ? e.message : String(e));
    }
  } else {
    const reason = planError ?? 'the initial stop cannot pass the fail-safe at the fill';
    const ex = await executor.exit({
      tradeId: trade.tradeId,
      symbol: trade.symbol,
      positionSide: side,
      qty: filledQty,
    });
    if (ex.status === 'rejected') {
      deps.metrics.count('UnprotectedPositions');
      throw new CommandFailure(
        'PositionUnprotected',
        `no valid stop (${reason}) and the exit was rejected: ${ex.failure.message}`,
      );
    }
    return closeAtEntry(
      deps,
      trade,
      leaseToken,
      cmd,
      entry,
      opened?.position ?? null,
      'FAILSAFE_UNPROTECTABLE',
      ex,
    );
  }

  if (protect.action === 'exited') {
    return closeAtEntry(
      deps,
      trade,
      leaseToken,
      cmd,
      entry,
      opened.position,
      protect.reason === 'WOULD_TRIGGER' ? 'STOP_WOULD_TRIGGER' : 'STOP_REJECTED',
      protect.exit,
    );
  }
  if (protect.action !== 'protected')
    throw new CommandFailure('PositionUnprotected', `unexpected stop outcome ${protect.action}`);
  const stopAckAt = clock.now();
  const fillToStopMs = stopAckAt - fillSeenAt;
  const position: PositionState = opened.position;
  if (!protect.stop.triggerPrice.eq(position.stop))
    deps.log?.('warn', 'the exchange stop differs from the planned stop', {
      planned: position.stop.toFixed(),
      placed: protect.stop.triggerPrice.toFixed(),
    });
  const tracker = createMilestoneTracker({
    side,
    entryPrice: avg,
    entryAt: fillSeenAt,
    leverage: plan.leverage,
    thresholds: options.milestones.thresholds,
  });
  await writeTrade(
    store,
    trade.tradeId,
    () => clock.now(),
    (t) =>
      t.status === 'ENTERING'
        ? {
            kind: 'transition',
            to: 'LIVE',
            type: 'ENTRY_FILLED',
            commandId: `${cmd.commandId}:LIVE`,
            patch: {
              entry: asJson(entry),
              position: asJson(encodePosition(position)),
              tracker: asJson(encodeTracker(tracker)),
              stopOrderId: protect.stop.order.id,
              stopSeq: 1,
              fillToStopMs,
            },
          }
        : { kind: 'none' },
    { leaseToken },
  );
  deps.metrics.timing('FillToStopLatencyMs', fillToStopMs);
  return {
    result: 'FILLED',
    positionOpen: true,
    filledQty: entry.filledQty,
    avgPrice: entry.avgPrice,
    partial: entry.partial,
    stopPrice: protect.stop.triggerPrice.toFixed(),
    fillToStopMs,
    exitReason: null,
  };
}

/** The fill could not be protected and was exited at once: ENTERING → LIVE → CLOSED. */
async function closeAtEntry(
  deps: OrderCommandDeps,
  trade: TradeRecord,
  leaseToken: number,
  cmd: OrderCommand,
  entry: EntryData,
  position: PositionState | null,
  reason: string,
  ex: { status: string; order?: { id: string }; filledQty?: Decimal; avgPrice?: Decimal | null },
): Promise<EnterAnswer> {
  const now = () => deps.clock.now();
  const exitData: ExitData = {
    reason,
    orderId: ex.order?.id ?? null,
    filledQty: ex.filledQty ? ex.filledQty.toFixed() : null,
    avgPrice: ex.avgPrice ? ex.avgPrice.toFixed() : null,
    at: now(),
  };
  await writeTrade(
    deps.store,
    trade.tradeId,
    now,
    (t) =>
      t.status === 'ENTERING'
        ? {
            kind: 'transition',
            to: 'LIVE',
            type: 'ENTRY_FILLED',
            commandId: `${cmd.commandId}:LIVE`,
            patch: {
              entry: asJson(entry),
              ...(position
                ? { position: asJson(encodePosition(reducePosition(position, position.remainingQty))) }
                : {}),
            },
          }
        : { kind: 'none' },
    { leaseToken },
  );
  await writeTrade(
    deps.store,
    trade.tradeId,
    now,
    (t) =>
      t.status === 'LIVE'
        ? {
            kind: 'transition',
            to: 'CLOSED',
            type: 'EXITED_AT_ENTRY',
            commandId: `${cmd.commandId}:CLOSED`,
            patch: { exit: asJson(exitData) },
          }
        : { kind: 'none' },
    { leaseToken },
  );
  return {
    result: 'FILLED',
    positionOpen: false,
    filledQty: entry.filledQty,
    avgPrice: entry.avgPrice,
    partial: entry.partial,
    stopPrice: null,
    fillToStopMs: null,
    exitReason: reason,
  };
}

/** Cancels a resting order, tolerating one that is already gone; false when it could not be cancelled. */
async function cancelQuietly(
  exchange: ExchangePort,
  orderId: string,
  symbol: string,
  trigger: boolean,
): Promise<boolean> {
  try {
    const o = await exchange.fetchOrder(orderId, { symbol, trigger });
    if (o.status !== 'open') return true;
    await exchange.cancelOrder(orderId, { symbol, trigger });
    return true;
  } catch (e) {
    return isExchangeFailure(e) && e.code === 'ORDER_NOT_FOUND';
  }
}

/** The trade's quantity still open on the exchange: min(stored remaining, the exchange position). */
async function openQty(
  exchange: ExchangePort,
  trade: TradeRecord,
  position: PositionState | null,
): Promise<Decimal> {
  const side = tradeSide(trade);
  const positions = await exchange.fetchPositions([trade.symbol]);
  const p = positions.find((x) => x.symbol === trade.symbol && x.side === side);
  const onExchange = p?.qty ?? new D(0);
  const mine = position?.remainingQty ?? onExchange;
  return onExchange.lt(mine) ? onExchange : mine;
}

async function exit(
  deps: OrderCommandDeps,
  cmd: OrderCommand,
  leaseToken: number,
): Promise<Record<string, unknown>> {
  const now = () => deps.clock.now();
  const reason = typeof cmd.payload.reason === 'string' ? cmd.payload.reason : 'OPERATOR';
  let trade = await load(deps, cmd.tradeId);
  const done = (t: TradeRecord) => {
    const e = dataMap(t, 'exit');
    return {
      result: 'EXITED',
      reason: e?.reason ?? reason,
      filledQty: e?.filledQty ?? null,
      avgPrice: e?.avgPrice ?? null,
    };
  };
  if (['CLOSED', 'POST_TRADE_MONITOR', 'FINALIZED'].includes(trade.status)) return done(trade);
  if (!OPEN_POSITION_STATUSES.includes(trade.status))
    throw new CommandFailure(
      'IllegalState',
      `trade ${trade.tradeId} is ${trade.status}; EXIT needs an open position`,
    );
  if (trade.status !== 'CLOSING') {
    trade = (
      await writeTrade(
        deps.store,
        trade.tradeId,
        now,
        (t) =>
          ['LIVE', 'WARNING', 'CRITICAL'].includes(t.status)
            ? {
                kind: 'transition',
                to: 'CLOSING',
                type: 'EXIT_STARTED',
                commandId: `${cmd.commandId}:CLOSING`,
                patch: { exitRequest: { reason, at: now() } },
              }
            : { kind: 'none' },
        { leaseToken },
      )
    ).trade;
  }
  const options = await optionsOf(deps, trade.accountId);
  const { exchange, executor } = await deps.accounts.account(trade.accountId);
  const market = await marketOf(exchange, trade.symbol);
  const position = readPosition(trade, stopRulesFor(options, market));
  const side = tradeSide(trade);
  const qty = await openQty(exchange, trade, position);
  let exitData: ExitData;
  if (qty.gt(0)) {
    const ex = await executor.exit({ tradeId: trade.tradeId, symbol: trade.symbol, positionSide: side, qty });
    if (ex.status === 'rejected')
      throw new CommandFailure(
        'ExchangeRejected',
        `exit ${ex.clientOrderId} rejected: ${ex.failure.code} ${ex.failure.message}`,
      );
    exitData =
      ex.status === 'exited'
        ? {
            reason,
            orderId: ex.order.id,
            filledQty: ex.filledQty.toFixed(),
            avgPrice: ex.avgPrice?.toFixed() ?? null,
            at: now(),
          }
        : { reason: 'STOP_HIT', orderId: null, filledQty: null, avgPrice: null, at: now() };
  } else {
    exitData = { reason: 'STOP_HIT', orderId: null, filledQty: null, avgPrice: null, at: now() };
  }
  const stop = readStop(trade);
  const stopCancelled = stop ? await cancelQuietly(exchange, stop.orderId, trade.symbol, true) : true;
  const closed = await writeTrade(
    deps.store,
    trade.tradeId,
    now,
    (t) =>
      t.status === 'CLOSING'
        ? {
            kind: 'transition',
            to: 'CLOSED',
            type: exitData.orderId ? 'EXIT_FILLED' : 'POSITION_GONE',
            commandId: `${cmd.commandId}:CLOSED`,
            patch: {
              exit: asJson(exitData),
              ...(position
                ? { position: asJson(encodePosition(reducePosition(position, position.remainingQty))) }
                : {}),
              ...(stopCancelled ? {} : { orphanedStopOrderId: stop?.orderId ?? null }),
            },
          }
        : { kind: 'none' },
    { leaseToken },
  );
  return done(closed.trade);
}

async function partialExit(
  deps: OrderCommandDeps,
  cmd: OrderCommand,
  leaseToken: number,
): Promise<Record<string, unknown>> {
  const now = () => deps.clock.now();
  const trade = await load(deps, cmd.tradeId);
  if (!['LIVE', 'WARNING', 'CRITICAL'].includes(trade.status))
    throw new CommandFailure(
      'IllegalState',
      `trade ${trade.tradeId} is ${trade.status}; PARTIAL_EXIT needs a live position`,
    );
  if (typeof cmd.payload.qty !== 'string')
    throw new CommandFailure('InvalidInput', 'PARTIAL_EXIT needs payload.qty (a decimal string)');
  const options = await optionsOf(deps, trade.accountId);
  const { exchange, executor } = await deps.accounts.account(trade.accountId);
  const market = await marketOf(exchange, trade.symbol);
  const position = readPosition(trade, stopRulesFor(options, market));
  const stop = readStop(trade);
  if (!position || !stop)
    throw new CommandFailure('IllegalState', `trade ${trade.tradeId} has no stored position or stop`);
  const wanted = new D(cmd.payload.qty);
  if (!wanted.gt(0) || !wanted.lt(position.remainingQty))
    throw new CommandFailure(
      'InvalidInput',
      `qty must be > 0 and below the remaining ${position.remainingQty.toFixed()}`,
    );
  const seq = (typeof trade.data.partialExitSeq === 'number' ? trade.data.partialExitSeq : 0) + 1;
  const ex = await executor.partialExit({
    tradeId: trade.tradeId,
    symbol: trade.symbol,
    positionSide: position.side,
    qty: wanted,
    seq,
  });
  if (ex.status === 'rejected') throw new CommandFailure('ExchangeRejected', ex.failure.message);
  const closedQty = ex.status === 'exited' ? ex.filledQty : new D(0);
  const reduced = reducePosition(
    position,
    closedQty.gt(position.remainingQty) ? position.remainingQty : closedQty,
  );
  const patch: JsonMap = { partialExitSeq: seq, position: asJson(encodePosition(reduced)) };
  if (reduced.remainingQty.gt(0)) {
    const p = await executor.protectOrExit({
      tradeId: trade.tradeId,
      symbol: trade.symbol,
      positionSide: position.side,
      qty: reduced.remainingQty,
      stopPrice: reduced.stop,
      seq: stop.seq + 1,
      oldOrderId: stop.orderId,
    });
    if (p.action === 'protected')
      Object.assign(patch, { stopOrderId: p.stop.order.id, stopSeq: stop.seq + 1 });
  }
  await writeTrade(
    deps.store,
    trade.tradeId,
    now,
    () => ({ kind: 'event', type: 'PARTIAL_EXIT', commandId: cmd.commandId, patch }),
    { leaseToken },
  );
  return {
    result: 'PARTIAL_EXITED',
    filledQty: closedQty.toFixed(),
    remainingQty: reduced.remainingQty.toFixed(),
  };
}

async function replaceStop(
  deps: OrderCommandDeps,
  cmd: OrderCommand,
  leaseToken: number,
): Promise<Record<string, unknown>> {
  const now = () => deps.clock.now();
  const trade = await load(deps, cmd.tradeId);
  if (!['LIVE', 'WARNING', 'CRITICAL'].includes(trade.status))
    throw new CommandFailure(
      'IllegalState',
      `trade ${trade.tradeId} is ${trade.status}; ${cmd.type} needs a live position`,
    );
  const options = await optionsOf(deps, trade.accountId);
  const { exchange, executor } = await deps.accounts.account(trade.accountId);
  const market = await marketOf(exchange, trade.symbol);
  const position = readPosition(trade, stopRulesFor(options, market));
  if (!position || !position.remainingQty.gt(0))
    throw new CommandFailure('IllegalState', `trade ${trade.tradeId} has no open position`);
  const stop = readStop(trade);
  const seq = (stop?.seq ?? 0) + 1;
  const p = await executor.protectOrExit({
    tradeId: trade.tradeId,
    symbol: trade.symbol,
    positionSide: position.side,
    qty: position.remainingQty,
    stopPrice: position.stop,
    seq,
    ...(cmd.type === 'REPLACE_STOP' && stop ? { oldOrderId: stop.orderId } : {}),
  });
  if (p.action !== 'protected')
    return { result: p.action === 'exited' ? 'EXITED' : 'STOP_KEPT', action: p.action };
  await writeTrade(
    deps.store,
    trade.tradeId,
    now,
    () => ({
      kind: 'event',
      type: 'STOP_REPLACED',
      commandId: cmd.commandId,
      patch: { stopOrderId: p.stop.order.id, stopSeq: seq },
    }),
    { leaseToken },
  );
  return { result: 'STOP_PLACED', stopPrice: p.stop.triggerPrice.toFixed(), orderId: p.stop.order.id };
}

async function cancelOrder(deps: OrderCommandDeps, cmd: OrderCommand): Promise<Record<string, unknown>> {
  const trade = await load(deps, cmd.tradeId);
  const orderId = cmd.payload.orderId;
  if (typeof orderId !== 'string' || orderId === '')
    throw new CommandFailure('InvalidInput', 'CANCEL_ORDER needs payload.orderId');
  const { exchange } = await deps.accounts.account(trade.accountId);
  const ok = await cancelQuietly(exchange, orderId, trade.symbol, cmd.payload.trigger === true);
  return { result: ok ? 'CANCELLED' : 'NOT_CANCELLED', orderId };
}
