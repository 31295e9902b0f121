/**
 * The lifecycle tasks of the state machine (the `lifecycle-task` handler runs one per call):
 *
 * - `armLive` `{tradeId, taskToken}`: stores the `AwaitExit` task token at `data.liveTaskToken` (event
 *   LIVE_ARMED) so workers and operators can end the LIVE wait. A trade whose position is already gone
 *   ends the wait at once with `CLOSED_EXTERNALLY`.
 * - `settle` `{tradeId}`: a trade still LIVE/WARNING/CRITICAL here lost its position on the exchange
 *   (stop hit, closed by hand) → CLOSED (event POSITION_GONE; `data.exit` reason STOP_HIT, unless the
 *   reconciler recorded the trade's `exit` with its `reconSettlement`: that exit is kept); then the
 *   realized PnL (event SETTLED, `data.settlement`, the one realized PnL analytics, the risk gate and
 *   reports read) from the exchange's fills of the trade's own orders (those of its order intents) plus
 *   its external fills (`data.externalFills`: closing fills of orders that are not the trade's, e.g. a
 *   full or partial close by hand, recorded by the reconciler with the qty used and the fee pro rata; one
 *   whose order is among the trade's intents is not counted twice):
 *   gross = side × (Σ exit value − entry cost of the exit qty), realized = gross − all fees. Exact when
 *   the exits cover the whole entry qty (entry cost = Σ entry qty × price); otherwise the entry cost is taken
 *   pro rata to the exit qty.
 * - `startPostTrade` `{tradeId}`: CLOSED → POST_TRADE_MONITOR with `shadowEndsAt` (when the window is
 *   not zero); returns `{seconds}` for the PostTradeWait state.
 * - `finalize` `{tradeId}`: flattens the milestones to `seconds_to_N_pct` (live first, then shadow) and
 *   moves the trade to FINALIZED.
 * - `markCancelled` `{tradeId, reason}`: PENDING/ENTERING → CANCELLED.
 * - `markFailed` `{tradeId, error}`: PENDING/ENTERING → FAILED; a trade past the entry keeps its status
 *   and gets an EXECUTION_FAILED event (FAILED is not reachable from there in the lifecycle table).
 * - `ensureFlat` `{tradeId}`: the safe end after an error: cancels a resting entry order, exits whatever the
 *   trade holds on the exchange (reduce-only), cancels its stop once flat, and records FLATTENED.
 *
 * Every task is idempotent: a retried call finds its effect (status, commandId) and returns the same answer.
 */
import { accountConfig } from '../core/config.js';
import { D, ZERO } from '../core/decimal.js';
import type { Decimal } from '../core/decimal.js';
import { OPEN_POSITION_STATUSES } from '../core/lifecycle.js';
import { clientOrderId } from '../core/reconciliation.js';
import { reducePosition, stopRulesFor } from '../core/stop-manager.js';
import { encodePosition } from '../core/trade-codec.js';
import { sideSign } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import type { ConfigSource } from '../ports/config.js';
import { isExchangeFailure } from '../ports/exchange.js';
import type { ExchangePort, Fill } from '../ports/exchange.js';
import type { JsonMap, TradeRecord, TradeStore } from '../ports/trade-store.js';
import type { WorkflowPort } from '../ports/workflow.js';
import type { OrderExecutor } from './order-executor.js';
import { writeTrade } from './store-writes.js';
import {
  asJson,
  dataMap,
  readEntry,
  readExternalFills,
  readPosition,
  readStop,
  readTracker,
  tradeSide,
} from './trade-data.js';
import type { SettlementData } from './trade-data.js';

/** Ports of the lifecycle tasks. */
export interface LifecycleDeps {
  store: TradeStore;
  workflow: WorkflowPort;
  config: ConfigSource;
  clock: Clock;
  accounts: { account(accountId: string): Promise<{ exchange: ExchangePort; executor: OrderExecutor }> };
}

async function load(deps: LifecycleDeps, tradeId: string): Promise<TradeRecord> {
  const t = await deps.store.getTrade(tradeId);
  if (t === null) throw new TypeError(`trade ${tradeId} does not exist`);
  return t;
}

function tokenId(token: string): string {
  // A short, deterministic id of the token for the commandId (FNV-1a 32, hex).
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    h ^= token.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(16)}-${token.length}`;
}

const LIVE = ['LIVE', 'WARNING', 'CRITICAL'];

/** `armLive`: see the file comment. */
export async function armLive(
  deps: LifecycleDeps,
  tradeId: string,
  taskToken: string,
): Promise<{ armed: boolean; status: string }> {
  if (typeof taskToken !== 'string' || taskToken === '') throw new TypeError('armLive needs a taskToken');
  const r = await writeTrade(
    deps.store,
    tradeId,
    () => deps.clock.now(),
    (t) =>
      LIVE.includes(t.status)
        ? {
            kind: 'event',
            type: 'LIVE_ARMED',
            commandId: `${tradeId}:arm:${tokenId(taskToken)}`,
            patch: { liveTaskToken: taskToken },
          }
        : { kind: 'none' },
  );
  if (!LIVE.includes(r.trade.status)) {
    await deps.workflow.sendTaskSuccess(taskToken, {
      reason: 'CLOSED_EXTERNALLY',
      positionOpen: false,
      decidedBy: 'armLive',
      decidedAt: deps.clock.now(),
      detail: `the trade was already ${r.trade.status} when the LIVE wait was armed`,
    });
    return { armed: false, status: r.trade.status };
  }
  return { armed: true, status: r.trade.status };
}

/** A fill as settlement counts it. */
type SettledFill = Pick<Fill, 'side' | 'qty' | 'price' | 'fee'>;

/**
 * The trade's own fills (those of orders whose intents the trade recorded) and its external fills (from
 * `data.externalFills`, except any of an order among the trade's intents: that one is already counted).
 */
async function tradeFills(
  deps: LifecycleDeps,
  trade: TradeRecord,
  exchange: ExchangePort,
): Promise<{ own: SettledFill[]; external: SettledFill[] }> {
  const intents = await deps.store.listOrderIntents(trade.tradeId);
  const orderIds = new Set(intents.map((i) => i.exchangeOrderId).filter((x): x is string => x !== null));
  const cids = new Set(intents.map((i) => i.clientOrderId));
  const isOwn = (f: { orderId: string; clientOrderId?: string }): boolean =>
    orderIds.has(f.orderId) || (f.clientOrderId !== undefined && cids.has(f.clientOrderId));
  const since = readEntry(trade)?.filledAt ?? trade.createdAt;
  const fills = await exchange.fetchMyTrades(trade.symbol, since - 60_000);
  const external = readExternalFills(trade)
    .filter((f) => !isOwn(f))
    .map((f) => ({ side: f.side, qty: new D(f.qty), price: new D(f.price), fee: new D(f.fee) }));
  return { own: fills.filter(isOwn), external };
}

/**
 * The patch of the POSITION_GONE transition: the exit the reconciler recorded with its settlement (a close
 * by hand, the trade's stop) is kept; otherwise the exit is the stop's.
 */
function positionGonePatch(t: TradeRecord, at: number): JsonMap {
  if (dataMap(t, 'reconSettlement') !== null && dataMap(t, 'exit') !== null) return {};
  return { exit: { reason: 'STOP_HIT', orderId: null, filledQty: null, avgPrice: null, at } };
}

/** `settle`: see the file comment. */
export async function settle(deps: LifecycleDeps, tradeId: string): Promise<SettlementData> {
  const now = () => deps.clock.now();
  let trade = await load(deps, tradeId);
  const done = dataMap(trade, 'settlement');
  if (done) return done as unknown as SettlementData;
  if (LIVE.includes(trade.status) || trade.status === 'CLOSING') {
    trade = (
      await writeTrade(deps.store, tradeId, now, (t) =>
        LIVE.includes(t.status) || t.status === 'CLOSING'
          ? {
              kind: 'transition',
              to: 'CLOSED',
              type: 'POSITION_GONE',
              commandId: `${tradeId}:gone`,
              patch: positionGonePatch(t, now()),
            }
          : { kind: 'none' },
      )
    ).trade;
  }
  if (trade.status !== 'CLOSED')
    throw new TypeError(`trade ${tradeId} is ${trade.status}; settle needs CLOSED`);
  const side = tradeSide(trade);
  const { exchange } = await deps.accounts.account(trade.accountId);
  const { own, external } = await tradeFills(deps, trade, exchange);
  const fills = [...own, ...external];
  const opening = side === 'long' ? 'buy' : 'sell';
  let entryQty = ZERO;
  let entryCost = ZERO;
  let exitQty = ZERO;
  let exitValue = ZERO;
  let fees = ZERO;
  for (const f of fills) {
    fees = fees.plus(f.fee);
    if (f.side === opening) {
      entryQty = entryQty.plus(f.qty);
      entryCost = entryCost.plus(f.qty.mul(f.price));
    } else {
      exitQty = exitQty.plus(f.qty);
      exitValue = exitValue.plus(f.qty.mul(f.price));
    }
  }
  // An adopted position was opened outside the engine: its entry is the position the reconciler adopted
  // (qty at the exchange's average entry price; the fee of that opening is unknown and not counted).
  const adopted = dataMap(trade, 'adopted');
  const adoptedEntry =
    entryQty.isZero() && typeof adopted?.qty === 'string' && typeof adopted.entryPrice === 'string';
  if (adoptedEntry) {
    entryQty = new D(adopted.qty as string);
    entryCost = entryQty.mul(new D(adopted.entryPrice as string));
  }
  const avgEntry: Decimal | null = entryQty.gt(0) ? entryCost.div(entryQty) : null;
  const avgExit: Decimal | null = exitQty.gt(0) ? exitValue.div(exitQty) : null;
  // Exact from the fills: Σ exit value − Σ entry cost when the whole entry was closed; when only part of it
  // was, the entry cost of that part (one division, last), never a rounded average multiplied back out.
  const entryCostClosed = exitQty.eq(entryQty) ? entryCost : entryCost.mul(exitQty).div(entryQty);
  const gross = avgEntry && avgExit ? exitValue.minus(entryCostClosed).mul(sideSign(side)) : ZERO;
  const settlement: SettlementData = {
    realizedPnl: gross.minus(fees).toFixed(),
    grossPnl: gross.toFixed(),
    fees: fees.toFixed(),
    entryQty: entryQty.toFixed(),
    exitQty: exitQty.toFixed(),
    avgEntry: avgEntry?.toFixed() ?? null,
    avgExit: avgExit?.toFixed() ?? null,
    fills: fills.length,
    externalFills: external.length,
    ...(adoptedEntry ? { adoptedEntry: true } : {}),
    settledAt: now(),
  };
  const r = await writeTrade(deps.store, tradeId, now, () => ({
    kind: 'event',
    type: 'SETTLED',
    commandId: `${tradeId}:settle`,
    patch: { settlement: asJson(settlement) },
  }));
  return (dataMap(r.trade, 'settlement') as unknown as SettlementData | null) ?? settlement;
}

/** `startPostTrade`: see the file comment. */
export async function startPostTrade(
  deps: LifecycleDeps,
  tradeId: string,
): Promise<{ seconds: number; status: string }> {
  const now = () => deps.clock.now();
  const trade = await load(deps, tradeId);
  const options = accountConfig(await deps.config.getConfig(), trade.accountId).options;
  const seconds = Math.ceil(options.lifecycle.postTradeMonitorMinutes * 60);
  if (seconds === 0) return { seconds: 0, status: trade.status };
  const r = await writeTrade(deps.store, tradeId, now, (t) =>
    t.status === 'CLOSED'
      ? {
          kind: 'transition',
          to: 'POST_TRADE_MONITOR',
          type: 'POST_TRADE_STARTED',
          commandId: `${tradeId}:postTrade`,
          patch: { shadowEndsAt: now() + seconds * 1000 },
        }
      : { kind: 'none' },
  );
  return { seconds, status: r.trade.status };
}

/** `finalize`: see the file comment. */
export async function finalize(deps: LifecycleDeps, tradeId: string): Promise<Record<string, number | null>> {
  const now = () => deps.clock.now();
  const trade = await load(deps, tradeId);
  const stored = dataMap(trade, 'final');
  if (trade.status === 'FINALIZED' && stored) return stored as Record<string, number | null>;
  const options = accountConfig(await deps.config.getConfig(), trade.accountId).options;
  const tracker = readTracker(trade);
  const thresholds = tracker?.thresholds ?? options.milestones.thresholds;
  const final: Record<string, number | null> = {};
  thresholds.forEach((t, i) => {
    const key = String(t);
    final[`seconds_to_${t}_pct`] =
      trade.milestones[key] ?? trade.shadowMilestones[key] ?? tracker?.seconds[i] ?? null;
  });
  const r = await writeTrade(deps.store, tradeId, now, (t) =>
    ['CLOSED', 'POST_TRADE_MONITOR', 'SKIPPED'].includes(t.status)
      ? {
          kind: 'transition',
          to: 'FINALIZED',
          type: 'FINALIZED',
          commandId: `${tradeId}:finalize`,
          patch: { final },
        }
      : { kind: 'none' },
  );
  if (r.trade.status !== 'FINALIZED')
    throw new TypeError(
      `trade ${tradeId} is ${r.trade.status}; finalize needs CLOSED, POST_TRADE_MONITOR or SKIPPED`,
    );
  return final;
}

/** `markCancelled`: see the file comment. */
export async function markCancelled(
  deps: LifecycleDeps,
  tradeId: string,
  reason: string,
): Promise<{ status: string }> {
  const r = await writeTrade(
    deps.store,
    tradeId,
    () => deps.clock.now(),
    (t) =>
      t.status === 'PENDING' || t.status === 'ENTERING'
        ? {
            kind: 'transition',
            to: 'CANCELLED',
            type: 'CANCELLED',
            commandId: `${tradeId}:cancel`,
            patch: { cancel: { reason } },
          }
        : { kind: 'none' },
  );
  return { status: r.trade.status };
}

/** `markFailed`: see the file comment. */
export async function markFailed(
  deps: LifecycleDeps,
  tradeId: string,
  error: { Error?: string; Cause?: string } | null,
): Promise<{ status: string }> {
  const failure: JsonMap = { error: error?.Error ?? 'Unknown', cause: (error?.Cause ?? '').slice(0, 2000) };
  const r = await writeTrade(
    deps.store,
    tradeId,
    () => deps.clock.now(),
    (t) => {
      if (t.status === 'PENDING' || t.status === 'ENTERING')
        return {
          kind: 'transition',
          to: 'FAILED',
          type: 'FAILED',
          commandId: `${tradeId}:failed`,
          patch: { failure },
        };
      if (['FINALIZED', 'CANCELLED', 'FAILED'].includes(t.status)) return { kind: 'none' };
      return {
        kind: 'event',
        type: 'EXECUTION_FAILED',
        commandId: `${tradeId}:executionFailed`,
        patch: { failure },
      };
    },
  );
  return { status: r.trade.status };
}

/** What {@link ensureFlat} did. */
export interface FlatReport {
  entryCancelled: boolean;
  exitedQty: string;
  stopCancelled: boolean;
  flat: boolean;
}

/** `ensureFlat`: see the file comment. */
export async function ensureFlat(deps: LifecycleDeps, tradeId: string): Promise<FlatReport> {
  const now = () => deps.clock.now();
  const trade = await load(deps, tradeId);
  const report: FlatReport = { entryCancelled: false, exitedQty: '0', stopCancelled: false, flat: true };
  if (trade.data.side !== 'long' && trade.data.side !== 'short') return report;
  const side = tradeSide(trade);
  const { exchange, executor } = await deps.accounts.account(trade.accountId);
  const symbol = trade.symbol;

  // 1. A resting entry order: cancel it (its filled part is handled below).
  const entryCid = clientOrderId(tradeId, 'entry');
  const entryOrder = await exchange.fetchOrderByClientId(entryCid, { symbol, trigger: false });
  if (entryOrder && entryOrder.status === 'open') {
    await exchange.cancelOrder(entryOrder.id, { symbol, trigger: false }).catch((e: unknown) => {
      if (!(isExchangeFailure(e) && e.code === 'ORDER_NOT_FOUND')) throw e;
    });
    report.entryCancelled = true;
  }
  const entryFilled = entryOrder
    ? ((await exchange.fetchOrderByClientId(entryCid, { symbol, trigger: false })) ?? entryOrder).filledQty
    : ZERO;

  // 2. What the trade still holds: its remaining position, or its entry fill when it never went LIVE.
  const options = accountConfig(await deps.config.getConfig(), trade.accountId).options;
  const markets = await exchange.loadMarkets();
  const market = markets[symbol];
  const position = market ? readPosition(trade, stopRulesFor(options, market)) : null;
  const mine = position ? position.remainingQty : entryFilled;
  const positions = await exchange.fetchPositions([symbol]);
  const held = positions.find((p) => p.symbol === symbol && p.side === side)?.qty ?? ZERO;
  const qty = held.lt(mine) ? held : mine;
  if (qty.gt(0)) {
    const ex = await executor.exit({ tradeId, symbol, positionSide: side, qty, seq: 9 });
    if (ex.status === 'rejected') throw ex.failure;
    if (ex.status === 'exited') report.exitedQty = ex.filledQty.toFixed();
  }
  const after = await exchange.fetchPositions([symbol]);
  const left = after.find((p) => p.symbol === symbol && p.side === side)?.qty ?? ZERO;
  report.flat = left.isZero() || new D(report.exitedQty).gte(qty);

  // 3. The stop, once the trade holds nothing.
  const stop = readStop(trade);
  if (stop && report.flat) {
    try {
      const o = await exchange.fetchOrder(stop.orderId, { symbol, trigger: true });
      if (o.status === 'open') await exchange.cancelOrder(stop.orderId, { symbol, trigger: true });
      report.stopCancelled = true;
    } catch (e) {
      if (isExchangeFailure(e) && e.code === 'ORDER_NOT_FOUND') report.stopCancelled = true;
      else throw e;
    }
  }

  await writeTrade(deps.store, tradeId, now, (t) => {
    if (['FINALIZED', 'CANCELLED', 'FAILED'].includes(t.status)) return { kind: 'none' };
    const patch: JsonMap = { flattened: asJson(report) };
    if (position) patch.position = asJson(encodePosition(reducePosition(position, position.remainingQty)));
    if (OPEN_POSITION_STATUSES.includes(t.status) && report.flat) {
      if (t.status === 'CLOSING' || LIVE.includes(t.status))
        return {
          kind: 'transition',
          to: 'CLOSED',
          type: 'FLATTENED',
          commandId: `${tradeId}:flattened`,
          patch: {
            ...patch,
            exit: {
              reason: 'FAILURE',
              orderId: null,
              filledQty: report.exitedQty,
              avgPrice: null,
              at: now(),
            },
          },
        };
    }
    return { kind: 'event', type: 'FLATTENED', commandId: `${tradeId}:flattened`, patch };
  });
  return report;
}
