/**
 * Evaluation of an accepted signal (the `Evaluate` state): the risk gate, then the exits planned from the
 * expected entry and the size from risk. A refusal moves the trade PENDING → SKIPPED with its code and
 * reason and arms the shadow milestone tracker from the signal's price (the skipped signal is still
 * shadow-monitored); an acceptance moves it PENDING → ENTERING with the plan and returns the ENTER command
 * for the order queue. Evaluating again (a retried task) returns the same decision without writing. A
 * trade the reconciler adopted (an untracked position, already LIVE with its stop) is `ADOPTED`: its
 * execution goes straight to the LIVE wait.
 */
import { accountConfig } from '../core/config.js';
import type { AccountConfig, TradingOptions } from '../core/config.js';
import { D, ZERO } from '../core/decimal.js';
import type { Decimal } from '../core/decimal.js';
import { averageTrueRange, planInitialExits } from '../core/exits.js';
import { createMilestoneTracker } from '../core/milestones.js';
import { checkRiskGate } from '../core/risk-gate.js';
import type { RiskSnapshot } from '../core/risk-gate.js';
import { parseSignal, signalReferencePrice } from '../core/signal.js';
import type { Signal } from '../core/signal.js';
import { riskBudget, sizePosition } from '../core/sizing.js';
import { encodeTracker } from '../core/trade-codec.js';
import type { Clock } from '../ports/clock.js';
import type { ConfigSource } from '../ports/config.js';
import type { ExchangeMarket, ExchangePort } from '../ports/exchange.js';
import type { JsonMap, TradeRecord, TradeStore } from '../ports/trade-store.js';
import { writeTrade } from './store-writes.js';
import { asJson, dataMap, readPlan, realizedPnlOf } from './trade-data.js';
import type { PlanData } from './trade-data.js';

/** Looks up the exchange of an account. */
export interface ExchangeLookup {
  account(accountId: string): Promise<{ exchange: ExchangePort }>;
}

/** Ports of {@link evaluateTrade}. */
export interface EvaluateDeps {
  store: TradeStore;
  config: ConfigSource;
  clock: Clock;
  accounts: ExchangeLookup;
}

/** The ENTER command the state machine puts on the order queue (its `taskToken` is added there). */
export interface EnterCommandSpec {
  commandId: string;
  payload: JsonMap;
}

/** Output of the `Evaluate` state. */
export type EvaluateOutput =
  | {
      decision: 'ENTER';
      command: EnterCommandSpec;
      /** `<accountId>#<symbol>`: the FIFO message group. */
      messageGroupId: string;
      /** Length of the post-trade (shadow) window, seconds. */
      postTradeSeconds: number;
    }
  | { decision: 'SKIP'; code: string; reason: string; postTradeSeconds: number }
  /** A position the reconciler adopted: already LIVE with its stop, nothing to send; the execution waits LIVE. */
  | { decision: 'ADOPTED'; postTradeSeconds: number };

/**
 * Statuses that hold (or are acquiring) a position: they count against max open trades and notional, and
 * one on the signal's symbol makes the gate answer SYMBOL_BUSY.
 */
const POSITION_STATUSES = new Set(['ENTERING', 'LIVE', 'WARNING', 'CRITICAL', 'CLOSING']);

/** The ENTER command id of a trade (one entry per trade). */
export function enterCommandId(tradeId: string): string {
  return `${tradeId}.enter`;
}

function postTradeSeconds(options: TradingOptions): number {
  return Math.ceil(options.lifecycle.postTradeMonitorMinutes * 60);
}

function enterOutput(trade: TradeRecord, plan: PlanData, options: TradingOptions): EvaluateOutput {
  return {
    decision: 'ENTER',
    command: {
      commandId: enterCommandId(trade.tradeId),
      payload: {
        qty: plan.qty,
        entryType: plan.entryType,
        limitPrice: plan.limitPrice,
        referencePrice: plan.referencePrice,
      },
    },
    messageGroupId: `${trade.accountId}#${trade.symbol}`,
    postTradeSeconds: postTradeSeconds(options),
  };
}

/** The stored signal of a trade, validated again (a corrupt record is an error, never half-acted on). */
export function storedSignal(trade: TradeRecord): Signal {
  const parsed = parseSignal(trade.data.signal);
  if (!parsed.ok)
    throw new TypeError(`trade ${trade.tradeId}: stored signal is invalid: ${parsed.errors.join('; ')}`);
  return parsed.signal;
}

/** Evaluates the trade's signal once; see the file comment. */
export async function evaluateTrade(deps: EvaluateDeps, tradeId: string): Promise<EvaluateOutput> {
  const { store, clock } = deps;
  const trade = await store.getTrade(tradeId);
  if (trade === null) throw new TypeError(`trade ${tradeId} does not exist`);
  const config = await deps.config.getConfig();
  const account = accountConfig(config, trade.accountId);
  const options = account.options;

  if (trade.status !== 'PENDING') return replay(trade, options);

  const signal = storedSignal(trade);
  const now = clock.now();
  const { exchange } = await deps.accounts.account(trade.accountId);
  const skip = (code: string, reason: string, shadowRef?: Decimal) =>
    skipTrade(deps, trade, signal, account, code, reason, shadowRef);

  const snapshot = await riskSnapshot(deps, trade, options.risk);
  const gate = checkRiskGate(signal.symbol, snapshot, options.risk, now);
  if (!gate.ok) {
    let ref = signalReferencePrice(signal);
    if (ref === undefined)
      ref = await exchange.fetchTicker(signal.symbol).then(
        (t) => t.last,
        () => undefined,
      );
    return skip(gate.code, gate.reason, ref);
  }

  const markets = await exchange.loadMarkets();
  const market: ExchangeMarket | undefined = markets[signal.symbol];
  if (!market) return skip('UNKNOWN_MARKET', `the exchange has no market ${signal.symbol}`);
  const ticker = await exchange.fetchTicker(signal.symbol);
  const referencePrice = signalReferencePrice(signal) ?? ticker.last;
  const expectedEntry = signal.entry.type === 'limit' ? signal.entry.price : ticker.last;

  let atr: Decimal | undefined;
  if ('atrMultiple' in signal.stop) {
    const period = options.exits.atrPeriod;
    const candles = await exchange.fetchOHLCV(signal.symbol, '1m', undefined, period + 1);
    atr = averageTrueRange(candles, period) ?? undefined;
    if (atr === undefined)
      return skip('NO_ATR', `not enough candles for ATR(${period}) of ${signal.symbol}`, referencePrice);
  }
  let exits;
  try {
    exits = planInitialExits({
      side: signal.side,
      entryPrice: expectedEntry,
      stop: signal.stop,
      rr: signal.rr,
      market,
      options: options.exits,
      ...(atr ? { atr } : {}),
    });
  } catch (e) {
    return skip('INVALID_STOP', (e as Error).message, referencePrice);
  }
  const balance = await exchange.fetchBalance().catch(() => undefined);
  const equity = balance?.total ?? account.equity;
  let budget;
  try {
    budget = riskBudget({
      ...(signal.riskAmount ? { riskAmount: signal.riskAmount } : {}),
      ...(signal.riskPct ? { riskPct: signal.riskPct } : {}),
      ...(equity ? { equity } : {}),
      ...(options.risk.maxLossPerTrade ? { maxLossPerTrade: options.risk.maxLossPerTrade } : {}),
      failSafeFraction: options.failSafe.maxLossFraction,
    });
  } catch (e) {
    return skip('NO_EQUITY', (e as Error).message, referencePrice);
  }
  if (signal.riskPct && signal.riskPct.gt(options.risk.maxRiskPct))
    return skip(
      'RISK_TOO_HIGH',
      `riskPct ${signal.riskPct.toFixed()} exceeds the account's maxRiskPct ${options.risk.maxRiskPct.toFixed()}`,
      referencePrice,
    );
  const leverage = signal.leverage ?? account.defaultLeverage;
  const sized = sizePosition({
    side: signal.side,
    entryPrice: expectedEntry,
    stopPrice: exits.stop,
    riskBudget: budget.budget,
    takerFeeRate: options.fees.takerRate,
    stopSlippage: options.failSafe.stopSlippageBps.div(10_000),
    leverage,
    market,
    maxNotionalPerTrade: options.risk.maxNotionalPerTrade,
    remainingAccountNotional: options.risk.maxNotionalPerAccount.minus(snapshot.openNotional),
    ...(balance ? { availableMargin: balance.free } : {}),
  });
  if (!sized.ok) return skip(sized.code, sized.reason, referencePrice);

  const plan: PlanData = {
    qty: sized.qty.toFixed(),
    expectedEntry: expectedEntry.toFixed(),
    referencePrice: referencePrice.toFixed(),
    entryType: signal.entry.type,
    limitPrice: signal.entry.type === 'limit' ? signal.entry.price.toFixed() : null,
    stop: exits.stop.toFixed(),
    takeProfit: exits.takeProfit.toFixed(),
    maxLoss: budget.maxLoss.toFixed(),
    leverage,
    atr: atr ? atr.toFixed() : null,
  };
  const written = await writeTrade(
    store,
    tradeId,
    () => clock.now(),
    (t) =>
      t.status === 'PENDING'
        ? {
            kind: 'transition',
            to: 'ENTERING',
            type: 'ENTRY_PLANNED',
            patch: { plan: asJson(plan) },
            commandId: `${tradeId}:plan`,
          }
        : { kind: 'none' },
  );
  return replay(written.trade, options);
}

/** The decision already taken (a retried Evaluate). */
function replay(trade: TradeRecord, options: TradingOptions): EvaluateOutput {
  if (trade.data.adopted !== undefined)
    return { decision: 'ADOPTED', postTradeSeconds: postTradeSeconds(options) };
  if (trade.status === 'SKIPPED') {
    const s = dataMap(trade, 'skip');
    return {
      decision: 'SKIP',
      code: typeof s?.code === 'string' ? s.code : 'SKIPPED',
      reason: typeof s?.reason === 'string' ? s.reason : 'skipped',
      postTradeSeconds: postTradeSeconds(options),
    };
  }
  const plan = readPlan(trade);
  if (plan !== null && trade.status !== 'PENDING') return enterOutput(trade, plan, options);
  throw new TypeError(`trade ${trade.tradeId} is ${trade.status} without a plan; it cannot be evaluated`);
}

async function skipTrade(
  deps: EvaluateDeps,
  trade: TradeRecord,
  signal: Signal,
  account: AccountConfig,
  code: string,
  reason: string,
  shadowRef: Decimal | undefined,
): Promise<EvaluateOutput> {
  const now = deps.clock.now();
  const options = account.options;
  const signalAt = signal.at ? Date.parse(signal.at) : trade.createdAt;
  const patch: JsonMap = {
    skip: { code, reason },
    shadowEndsAt: now + postTradeSeconds(options) * 1000,
  };
  if (shadowRef !== undefined) {
    patch.tracker = asJson(
      encodeTracker(
        createMilestoneTracker({
          side: signal.side,
          entryPrice: shadowRef,
          entryAt: signalAt,
          leverage: signal.leverage ?? account.defaultLeverage,
          thresholds: options.milestones.thresholds,
        }),
      ),
    );
  }
  const written = await writeTrade(
    deps.store,
    trade.tradeId,
    () => deps.clock.now(),
    (t) =>
      t.status === 'PENDING'
        ? { kind: 'transition', to: 'SKIPPED', type: 'SKIPPED', patch, commandId: `${t.tradeId}:skip` }
        : { kind: 'none' },
  );
  return replay(written.trade, options);
}

/**
 * What the risk gate needs to know about the account now. Open trades, open notional and the open trade
 * on the signal's symbol (if any) come from the open-trades index, the trade being evaluated left out;
 * today's realized PnL and the last losing stop-out on the symbol come from the trades closed since the
 * UTC day's start (or the cooldown window, when longer), so trades that were finalized and left the open
 * index still count.
 */
async function riskSnapshot(
  deps: EvaluateDeps,
  trade: TradeRecord,
  risk: TradingOptions['risk'],
): Promise<RiskSnapshot> {
  const { store, clock } = deps;
  const now = clock.now();
  const dayStart = now - (now % 86_400_000);
  const since = Math.min(dayStart, now - risk.cooldownAfterStopOutMinutes * 60_000);
  const [globalState, accountState, breaker, open] = await Promise.all([
    store.getTradingState({ global: true }),
    store.getTradingState({ accountId: trade.accountId }),
    store.getBreaker(trade.accountId),
    store.listOpenTrades({ accountId: trade.accountId }),
  ]);
  const closed = await store.listClosedTrades({ accountId: trade.accountId, fromAt: since });
  const others = await Promise.all(
    open.filter((t) => t.tradeId !== trade.tradeId).map((t) => store.getTrade(t.tradeId)),
  );
  let openTrades = 0;
  let openNotional = ZERO;
  let lastStopOutAt: number | undefined;
  let openTradeOnSymbol: RiskSnapshot['openTradeOnSymbol'];
  for (const t of others) {
    if (t === null) continue;
    if (POSITION_STATUSES.has(t.status)) {
      openTrades++;
      const plan = readPlan(t);
      if (plan) openNotional = openNotional.plus(new D(plan.qty).mul(plan.expectedEntry));
      if (t.symbol === trade.symbol && openTradeOnSymbol === undefined)
        openTradeOnSymbol = { tradeId: t.tradeId, status: t.status };
    }
  }
  let realizedPnlToday = ZERO;
  for (const { trade: t, closedAt } of closed) {
    if (t.tradeId === trade.tradeId) continue;
    const pnl = realizedPnlOf(t);
    if (pnl === null) continue;
    if (closedAt >= dayStart) realizedPnlToday = realizedPnlToday.plus(pnl);
    if (t.symbol === trade.symbol && pnl.lt(0) && isStopOut(t))
      lastStopOutAt = Math.max(lastStopOutAt ?? 0, closedAt);
  }
  return {
    globalTradingState: globalState.value,
    accountTradingState: accountState.value,
    breaker: breaker.state,
    openTrades,
    openNotional,
    realizedPnlToday,
    ...(lastStopOutAt !== undefined ? { lastStopOutAt } : {}),
    ...(openTradeOnSymbol !== undefined ? { openTradeOnSymbol } : {}),
  };
}

/** A trade closed by its stop on the exchange: the workers' exit or the reconciler's settlement says STOP_HIT. */
function isStopOut(t: TradeRecord): boolean {
  return dataMap(t, 'exit')?.reason === 'STOP_HIT' || dataMap(t, 'reconSettlement')?.reason === 'STOP_HIT';
}
