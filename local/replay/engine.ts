/**
 * The core replay (`--engine core`): bundled candles and signals through the domain core alone, with the
 * paper fill model standing in for the exchange. No emulators, no I/O: a fast, deterministic reference run
 * that the full local serverless engine is later compared against.
 *
 * How a replay proceeds (rules documented in docs/replay.md):
 * - Candles of all symbols are processed in time order. A signal is acted on at the open of the first
 *   candle of its symbol that opens at or after the signal's time (after a data gap, that is the first
 *   candle after the gap; the slippage guard then decides whether the entry is still valid).
 * - Risk gate, exit planning and sizing run at that open; a market entry fills at the open through the fill
 *   model, a limit entry rests until it fills or times out (a partial fill keeps the filled part).
 * - The initial stop is placed at the fill time (zero simulated latency) after the fail-safe check.
 * - Each candle is walked along the fill model's path (open → adverse extreme → favourable extreme →
 *   close). At every point: the resting stop is checked first (filled by the fill model, gaps at the open),
 *   then milestones, then the stop-management step, then the lifecycle timeouts and the health score.
 * - After an exit the trade is shadow-monitored for the post-trade window, then finalized; skipped signals
 *   are shadow-monitored from the signal's price.
 * - At the end of the data, open positions are closed at the last close (`END_OF_DATA`).
 */
import { D, type Decimal, ZERO } from '../../functions/core/decimal.js';
import { accountConfig, type TradingOptions } from '../../functions/core/config.js';
import { type Signal, signalReferencePrice, tradeIdFor } from '../../functions/core/signal.js';
import {
  assertTransition,
  type TradeStatus,
  OPEN_POSITION_STATUSES,
  timeoutDecision,
} from '../../functions/core/lifecycle.js';
import { checkRiskGate } from '../../functions/core/risk-gate.js';
import { averageTrueRange, planInitialExits } from '../../functions/core/exits.js';
import { riskBudget, sizePosition } from '../../functions/core/sizing.js';
import {
  adjustStop,
  openPosition,
  type PositionState,
  type StopAction,
  type StopMoveReason,
  type StopRules,
  stopRulesFor,
} from '../../functions/core/stop-manager.js';
import {
  createMilestoneTracker,
  liveMilestones,
  type MilestonePhase,
  type MilestoneTracker,
  observeMilestones,
  shadowMilestones,
} from '../../functions/core/milestones.js';
import { healthLevel, healthScoreValue, type HealthOptions } from '../../functions/core/health.js';
import {
  candlePath,
  evaluateCandle,
  marketFill,
  type RestingOrder,
} from '../../functions/core/fill-model.js';
import {
  type Candle,
  closingOrderSide,
  openingOrderSide,
  type MarketRules,
  type PriceObservation,
  sideSign,
} from '../../functions/core/types.js';
import type { ReplayInput, ReplayResult, TradeResult } from './types.js';
import { emptyResult, signalTime, summarizeReplay } from './summary.js';

/** Exit reason recorded when the resting stop fills, by why the stop was where it was. */
const STOP_EXIT_REASON: Record<StopMoveReason, string> = {
  INITIAL: 'STOP_LOSS',
  FAILSAFE_TIGHTEN: 'STOP_LOSS',
  TRAILING: 'TRAILING_STOP',
  BREAK_EVEN: 'BREAK_EVEN_STOP',
  PROFIT_LOCK: 'PROFIT_LOCK_STOP',
};

interface SymbolStats {
  /** Wilder ATR of the candles before the current one (number, for the health score). */
  atr: number | null;
  trSum: number;
  trCount: number;
  prevClose: number | null;
  /** Last 20 candle volumes before the current one. */
  volumes: number[];
  volumeSum: number;
  lastVolume: number | null;
  lastClose: Decimal | null;
  lastAt: number;
}

interface Run {
  result: TradeResult;
  signal: Signal;
  options: TradingOptions;
  market: MarketRules;
  rules: StopRules;
  leverage: number;
  position: PositionState | null;
  tracker: MilestoneTracker | null;
  /** End of the shadow window (epoch ms) while shadow-monitoring. */
  shadowUntil: number | null;
  /** Resting limit entry while ENTERING. */
  entry: { order: RestingOrder; expiresAt: number; filledQty: Decimal; cost: Decimal; fees: Decimal } | null;
  /** Last observed price of this run's symbol path (segment start for the fill model). */
  lastPrice: Decimal | null;
}

const HEALTH_VOLUME_WINDOW = 20;

export function runCoreReplay(input: ReplayInput): ReplayResult {
  const started = performance.now();
  const { config, markets, fillModel } = input;
  const symbols = [...input.candles.keys()].sort();
  for (const symbol of symbols) {
    if (!markets[symbol]) throw new RangeError(`no market rules for ${symbol}`);
  }

  // Timeline: every candle of every symbol in [from, to), ordered by open time then symbol.
  const timeline: { symbol: string; index: number; candle: Candle }[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const symbol of symbols) {
    const list = input.candles.get(symbol)!;
    list.forEach((candle, index) => {
      if (input.from !== undefined && candle.openTime < input.from) return;
      if (input.to !== undefined && candle.openTime >= input.to) return;
      timeline.push({ symbol, index, candle });
      first = Math.min(first, candle.openTime);
      last = Math.max(last, candle.openTime + candle.intervalMs);
    });
  }
  timeline.sort((a, b) => a.candle.openTime - b.candle.openTime || (a.symbol < b.symbol ? -1 : 1));
  const from = input.from ?? first;
  const to = input.to ?? last;

  // Signals per symbol, in time order; duplicates (same trade id) are acted on once.
  const pending = new Map<string, Signal[]>();
  const seen = new Set<string>();
  let duplicateSignals = 0;
  const runs: Run[] = [];
  const sortedSignals = [...input.signals]
    .map((s) => ({ s, at: signalTime(s) }))
    .filter(({ s, at }) => symbols.includes(s.symbol) && at >= from && at < to)
    .sort((a, b) => a.at - b.at || (a.s.signalId < b.s.signalId ? -1 : 1));
  for (const { s } of sortedSignals) {
    const id = tradeIdFor(s);
    if (seen.has(id)) {
      duplicateSignals++;
      continue;
    }
    seen.add(id);
    accountConfig(config, s.accountId); // unknown account: a specific error before anything runs
    const list = pending.get(s.symbol) ?? [];
    list.push(s);
    pending.set(s.symbol, list);
  }

  const stats = new Map<string, SymbolStats>(
    symbols.map((s) => [
      s,
      {
        atr: null,
        trSum: 0,
        trCount: 0,
        prevClose: null,
        volumes: [],
        volumeSum: 0,
        lastVolume: null,
        lastClose: null,
        lastAt: 0,
      },
    ]),
  );
  const active = new Map<string, Run[]>(symbols.map((s) => [s, []]));
  const realizedByDay = new Map<string, Decimal>();
  const lastStopOut = new Map<string, number>();
  let realizedTotal = new D(0);
  const counters = { failSafeTightened: 0 };

  const accountOpen = (accountId: string) =>
    runs.filter(
      (r) =>
        r.signal.accountId === accountId &&
        (r.result.status === 'ENTERING' || OPEN_POSITION_STATUSES.includes(r.result.status)),
    );

  const move = (run: Run, to: TradeStatus) => {
    assertTransition(run.result.status, to);
    run.result.status = to;
  };

  const bookPnl = (run: Run, qty: Decimal, price: Decimal, fee: Decimal, at: number) => {
    const pos = run.position!;
    const pnl = price.minus(pos.entryPrice).mul(qty).mul(sideSign(pos.side)).minus(fee);
    run.result.realizedPnl = (run.result.realizedPnl ?? ZERO).plus(pnl);
    run.result.fees = run.result.fees.plus(fee);
    realizedTotal = realizedTotal.plus(pnl);
    const day = new Date(at).toISOString().slice(0, 10) + '|' + run.signal.accountId;
    realizedByDay.set(day, (realizedByDay.get(day) ?? ZERO).plus(pnl));
  };

  /** The position is gone: record the exit and start the post-trade window. */
  const closeOut = (run: Run, at: number, price: Decimal, reason: string) => {
    const r = run.result;
    move(run, 'CLOSED');
    r.exitAt = at;
    r.exitPrice = price;
    r.exitReason = reason;
    run.position = run.position && { ...run.position, remainingQty: ZERO };
    if (reason === 'STOP_LOSS') lastStopOut.set(`${run.signal.accountId}|${run.signal.symbol}`, at);
    startShadow(run, 'POST_TRADE_MONITOR', at);
  };

  const startShadow = (run: Run, status: 'POST_TRADE_MONITOR' | null, at: number) => {
    const minutes = run.options.lifecycle.postTradeMonitorMinutes;
    if (status) move(run, status);
    run.shadowUntil = at + minutes * 60_000;
    if (minutes === 0 || run.tracker === null) finalize(run);
  };

  const finalize = (run: Run) => {
    move(run, 'FINALIZED');
    run.shadowUntil = null;
  };

  /** Closes the whole remaining position at market (engine-initiated exit). */
  const marketExit = (run: Run, price: Decimal, at: number, reason: string) => {
    const pos = run.position!;
    if (pos.remainingQty.isZero()) return;
    if (run.result.status !== 'CLOSING') move(run, 'CLOSING');
    const fill = marketFill(
      closingOrderSide(pos.side),
      pos.remainingQty,
      price,
      fillModel,
      run.market.tickSize,
    );
    bookPnl(run, pos.remainingQty, fill.price, fill.fee, at);
    closeOut(run, at, fill.price, reason);
  };

  const segment = (run: Run, obs: PriceObservation, firstOfCandle: boolean, interval: number): Candle => {
    const open = firstOfCandle || run.lastPrice === null ? obs.price : run.lastPrice;
    return {
      openTime: obs.at,
      intervalMs: interval,
      open,
      high: D.max(open, obs.price),
      low: D.min(open, obs.price),
      close: obs.price,
      volume: ZERO,
    };
  };

  /** A resting take-profit filled on the segment that reached it (level price, or better on a gap). */
  const levelFill = (run: Run, seg: Candle, price: Decimal, qty: Decimal) => {
    const pos = run.position!;
    const order: RestingOrder = {
      id: 'tp',
      kind: 'take-profit',
      side: closingOrderSide(pos.side),
      qty,
      price,
      reduceOnly: true,
    };
    const fills = evaluateCandle([order], seg, pos.side, fillModel, run.market.tickSize, {
      positionQty: pos.remainingQty.plus(qty),
      lotStep: run.market.lotStep,
    });
    const fill = fills[0];
    // The step only emits a level when the price reached it, so the fill model fills it; fall back defensively.
    return fill
      ? { price: fill.price, fee: fill.fee }
      : { price, fee: qty.mul(price).mul(fillModel.makerFeeRate) };
  };

  const applyActions = (run: Run, actions: StopAction[], obs: PriceObservation, seg: Candle) => {
    for (const a of actions) {
      switch (a.type) {
        case 'PLACE_STOP':
          run.result.stops.push({ at: obs.at, price: a.price, reason: a.reason });
          if (a.reason === 'FAILSAFE_TIGHTEN') counters.failSafeTightened++;
          break;
        case 'MOVE_STOP':
          run.result.stops.push({ at: obs.at, price: a.to, reason: a.reason });
          break;
        case 'PARTIAL_EXIT': {
          const fill = levelFill(run, seg, a.price, a.qty);
          bookPnl(run, a.qty, fill.price, fill.fee, obs.at);
          run.result.partialExits.push({ at: obs.at, price: fill.price, qty: a.qty });
          break;
        }
        case 'EXIT':
          if (a.reason === 'TAKE_PROFIT') {
            const fill = levelFill(run, seg, a.price, a.qty);
            move(run, 'CLOSING');
            bookPnl(run, a.qty, fill.price, fill.fee, obs.at);
            closeOut(run, obs.at, fill.price, 'TAKE_PROFIT');
          } else {
            // The position state already shows zero remaining; exit the quantity the action names.
            run.position = { ...run.position!, remainingQty: a.qty };
            marketExit(run, obs.price, obs.at, a.reason);
          }
          break;
        case 'STOP_REJECTED':
        case 'ALARM':
          break;
      }
    }
  };

  /** Entry filled (fully or, at timeout, partially): plan exits from the fill and place the stop. */
  const goLive = (
    run: Run,
    fillPrice: Decimal,
    qty: Decimal,
    fees: Decimal,
    at: number,
    atr: Decimal | undefined,
  ) => {
    const r = run.result;
    const s = run.signal;
    r.entryFilledAt = at;
    r.entryPrice = fillPrice;
    r.qty = qty;
    const ref = signalReferencePrice(s);
    r.entrySlippage = ref ? fillPrice.minus(ref).mul(sideSign(s.side)) : null;
    r.fees = r.fees.plus(fees);
    r.realizedPnl = fees.negated();
    realizedTotal = realizedTotal.minus(fees);
    move(run, 'LIVE');
    run.tracker = createMilestoneTracker({
      side: s.side,
      entryPrice: fillPrice,
      entryAt: at,
      leverage: run.leverage,
      thresholds: run.options.milestones.thresholds,
    });
    let exits;
    try {
      exits = planInitialExits({
        side: s.side,
        entryPrice: fillPrice,
        stop: s.stop,
        rr: s.rr,
        market: run.market,
        options: run.options.exits,
        atr,
      });
    } catch (e) {
      // The fill gapped through a price stop: there is no valid stop, so the position is closed at once.
      run.position = provisionalPosition(run, fillPrice, qty, at);
      marketExit(run, fillPrice, at, 'STOP_INVALID_AT_FILL');
      r.statusReason = (e as Error).message;
      return;
    }
    r.takeProfit = exits.takeProfit;
    const opened = openPosition({
      side: s.side,
      entryPrice: fillPrice,
      qty,
      filledAt: at,
      exits,
      maxLoss: r.maxLoss!,
      rules: run.rules,
      price: fillPrice,
    });
    run.position = opened.position;
    run.lastPrice = fillPrice;
    r.stopPlacedAt = at;
    const obs = { price: fillPrice, at };
    const exitAction = opened.actions.find((a) => a.type === 'EXIT');
    if (exitAction) {
      run.position = { ...opened.position, remainingQty: qty };
      marketExit(run, fillPrice, at, exitAction.reason);
      return;
    }
    applyActions(run, opened.actions, obs, segment(run, obs, true, 0));
  };

  const provisionalPosition = (run: Run, entryPrice: Decimal, qty: Decimal, at: number): PositionState => {
    const dummyStop = entryPrice.mul(run.signal.side === 'long' ? '0.5' : '1.5');
    return openPosition({
      side: run.signal.side,
      entryPrice,
      qty,
      filledAt: at,
      exits: { stop: dummyStop, takeProfit: entryPrice, levels: [], stopDistance: ZERO },
      maxLoss: new D('1e30'),
      rules: run.rules,
    }).position;
  };

  const handleSignal = (s: Signal, candle: Candle, index: number, list: readonly Candle[]) => {
    const account = accountConfig(config, s.accountId);
    const options = account.options;
    const market = markets[s.symbol]!;
    const at = signalTime(s);
    const ref = signalReferencePrice(s) ?? candle.open;
    const result = emptyResult(s);
    result.outcome = 'TRADED';
    const run: Run = {
      result,
      signal: s,
      options,
      market,
      rules: stopRulesFor(options, market),
      leverage: s.leverage ?? account.defaultLeverage,
      position: null,
      tracker: null,
      shadowUntil: null,
      entry: null,
      lastPrice: null,
    };
    runs.push(run);

    const skip = (reason: string) => {
      move(run, 'SKIPPED');
      result.outcome = 'SKIPPED';
      result.statusReason = reason;
      run.tracker = createMilestoneTracker({
        side: s.side,
        entryPrice: ref,
        entryAt: at,
        leverage: run.leverage,
        thresholds: options.milestones.thresholds,
      });
      active.get(s.symbol)!.push(run);
      startShadow(run, null, at);
    };

    const open = accountOpen(s.accountId);
    const onSymbol = open.find((r) => r.signal.symbol === s.symbol);
    const day = new Date(candle.openTime).toISOString().slice(0, 10) + '|' + s.accountId;
    const gate = checkRiskGate(
      s.symbol,
      {
        globalTradingState: 'ACTIVE',
        accountTradingState: 'ACTIVE',
        breaker: 'CLOSED',
        openTrades: open.length,
        openNotional: open.reduce(
          (sum, r) =>
            sum.plus(r.result.qty && r.result.entryPrice ? r.result.qty.mul(r.result.entryPrice) : ZERO),
          ZERO,
        ),
        realizedPnlToday: realizedByDay.get(day) ?? ZERO,
        lastStopOutAt: lastStopOut.get(`${s.accountId}|${s.symbol}`),
        ...(onSymbol
          ? { openTradeOnSymbol: { tradeId: onSymbol.result.tradeId, status: onSymbol.result.status } }
          : {}),
      },
      options.risk,
      candle.openTime,
    );
    if (!gate.ok) return skip(`${gate.code}: ${gate.reason}`);

    const expected = s.entry.type === 'limit' ? s.entry.price : candle.open;
    if (s.entry.type === 'market') {
      const moved = candle.open.minus(ref).abs().div(ref).mul(100);
      if (moved.gt(options.orderExecution.maxSlippagePercent)) {
        move(run, 'CANCELLED');
        result.outcome = 'CANCELLED';
        result.statusReason = `slippage guard: price ${candle.open.toFixed()} is ${moved.toDecimalPlaces(3).toFixed()}% from the signal's ${ref.toFixed()} (limit ${options.orderExecution.maxSlippagePercent.toFixed()}%)`;
        return;
      }
    }
    let atr: Decimal | undefined;
    if ('atrMultiple' in s.stop) {
      const window = list.slice(Math.max(0, index - options.exits.atrPeriod - 1), index);
      atr = averageTrueRange(window, options.exits.atrPeriod) ?? undefined;
      if (atr === undefined)
        return skip(`not enough candles before the signal for ATR(${options.exits.atrPeriod})`);
    }
    let exits;
    try {
      exits = planInitialExits({
        side: s.side,
        entryPrice: expected,
        stop: s.stop,
        rr: s.rr,
        market,
        options: options.exits,
        atr,
      });
    } catch (e) {
      return skip(`INVALID_STOP: ${(e as Error).message}`);
    }
    const budget = riskBudget({
      riskAmount: s.riskAmount,
      riskPct: s.riskPct,
      equity: (account.equity ?? ZERO).plus(realizedTotal),
      maxLossPerTrade: options.risk.maxLossPerTrade,
      failSafeFraction: options.failSafe.maxLossFraction,
    });
    result.maxLoss = budget.maxLoss;
    const sized = sizePosition({
      side: s.side,
      entryPrice: expected,
      stopPrice: exits.stop,
      riskBudget: budget.budget,
      takerFeeRate: options.fees.takerRate,
      stopSlippage: options.failSafe.stopSlippageBps.div(10_000),
      leverage: run.leverage,
      market,
      maxNotionalPerTrade: options.risk.maxNotionalPerTrade,
      remainingAccountNotional: options.risk.maxNotionalPerAccount.minus(
        open.reduce(
          (sum, r) =>
            sum.plus(r.result.qty && r.result.entryPrice ? r.result.qty.mul(r.result.entryPrice) : ZERO),
          ZERO,
        ),
      ),
    });
    if (!sized.ok) return skip(`${sized.code}: ${sized.reason}`);

    move(run, 'ENTERING');
    active.get(s.symbol)!.push(run);
    if (s.entry.type === 'market') {
      const fill = marketFill(openingOrderSide(s.side), sized.qty, candle.open, fillModel, market.tickSize);
      goLive(run, fill.price, sized.qty, fill.fee, candle.openTime, atr);
    } else {
      run.entry = {
        order: {
          id: result.tradeId,
          kind: 'limit',
          side: openingOrderSide(s.side),
          qty: sized.qty,
          price: s.entry.price,
        },
        expiresAt: candle.openTime + options.orderExecution.orderTimeoutSeconds * 1000,
        filledQty: ZERO,
        cost: ZERO,
        fees: ZERO,
      };
      (run as Run & { atr?: Decimal }).atr = atr;
    }
  };

  /** Works a resting limit entry against one candle; fills after the timeout do not count. */
  const workLimitEntry = (run: Run, candle: Candle) => {
    const e = run.entry!;
    const remaining = e.order.qty.minus(e.filledQty);
    const fills = evaluateCandle(
      [{ ...e.order, qty: remaining }],
      candle,
      null,
      fillModel,
      run.market.tickSize,
      {
        lotStep: run.market.lotStep,
      },
    );
    let filledAt = candle.openTime;
    for (const f of fills) {
      if (f.at > e.expiresAt) continue;
      e.filledQty = e.filledQty.plus(f.qty);
      e.cost = e.cost.plus(f.price.mul(f.qty));
      e.fees = e.fees.plus(f.fee);
      filledAt = f.at;
    }
    const done = e.filledQty.gte(e.order.qty);
    const expired = candle.openTime + candle.intervalMs > e.expiresAt;
    if (!done && !expired) return;
    const atr = (run as Run & { atr?: Decimal }).atr;
    run.entry = null;
    if (e.filledQty.isZero()) {
      move(run, 'CANCELLED');
      run.result.outcome = 'CANCELLED';
      run.result.statusReason = `limit entry at ${e.order.price.toFixed()} not filled within ${run.options.orderExecution.orderTimeoutSeconds}s`;
      return;
    }
    if (!done)
      run.result.statusReason = `limit entry partially filled: ${e.filledQty.toFixed()} of ${e.order.qty.toFixed()}, rest cancelled`;
    const avg = e.cost.div(e.filledQty);
    goLive(run, avg, e.filledQty, e.fees, done ? filledAt : e.expiresAt, atr);
  };

  const observeMilestone = (run: Run, obs: PriceObservation, phase: MilestonePhase) => {
    if (run.tracker === null) return;
    const next = observeMilestones(run.tracker, obs.price, obs.at, phase);
    run.tracker = next.tracker;
  };

  const healthOptionsFor = (o: TradingOptions): HealthOptions => ({
    criticalMinutes: o.lifecycle.criticalMinutes,
    safeAt: o.riskMonitoring.safeAt,
    warningAt: o.riskMonitoring.healthScoreThreshold,
  });

  /** Walks one candle for one run. */
  const walk = (run: Run, candle: Candle, st: SymbolStats) => {
    if (run.result.status === 'ENTERING' && run.entry) {
      workLimitEntry(run, candle);
      if ((run.result.status as TradeStatus) !== 'LIVE') return;
    }
    const side = run.signal.side;
    const path = candlePath(candle, side);
    for (let i = 0; i < path.length; i++) {
      const obs = path[i]!;
      const status = run.result.status;
      if (status === 'LIVE' || status === 'WARNING' || status === 'CRITICAL') {
        const pos = run.position!;
        if (obs.at < pos.entryFilledAt) continue;
        const seg = segment(run, obs, i === 0, Math.max(1, path[i]!.at - (path[i - 1]?.at ?? obs.at) || 1));
        run.lastPrice = obs.price;
        // 1. The resting stop (on the exchange) fills first.
        const stopOrder: RestingOrder = {
          id: 'stop',
          kind: 'stop',
          side: closingOrderSide(side),
          qty: pos.remainingQty,
          price: pos.stop,
          reduceOnly: true,
        };
        const stopFill = evaluateCandle([stopOrder], seg, side, fillModel, run.market.tickSize, {
          positionQty: pos.remainingQty,
          lotStep: run.market.lotStep,
        })[0];
        if (stopFill) {
          bookPnl(run, stopFill.qty, stopFill.price, stopFill.fee, obs.at);
          closeOut(run, obs.at, stopFill.price, STOP_EXIT_REASON[pos.stopReason]);
          observeMilestone(run, obs, 'shadow');
          continue;
        }
        // 2. Milestones, 3. the stop-management step.
        observeMilestone(run, obs, 'live');
        const step = adjustStop(pos, obs);
        run.position = step.position;
        if (step.actions.length > 0) applyActions(run, step.actions, obs, seg);
        if (!OPEN_POSITION_STATUSES.includes(run.result.status)) continue;
        // 4. Lifecycle timeouts and the health score.
        const o = run.options;
        const decision = timeoutDecision(run.result.status, pos.entryFilledAt, obs.at, o.lifecycle);
        if (decision.kind === 'escalate') move(run, decision.to);
        else if (decision.kind === 'emergency-close') {
          marketExit(run, obs.price, obs.at, 'TIMEOUT');
          continue;
        }
        if (o.riskMonitoring.enabled && o.riskMonitoring.emergencyCloseOnCritical) {
          const p = run.position;
          const score = healthScoreValue(
            {
              side,
              entryPrice: p.entryPrice.toNumber(),
              price: obs.price.toNumber(),
              stop: p.stop.toNumber(),
              initialStop: p.initialStop.toNumber(),
              minutesOpen: (obs.at - p.entryFilledAt) / 60_000,
              recentVolume: st.lastVolume ?? undefined,
              averageVolume:
                st.volumes.length >= HEALTH_VOLUME_WINDOW ? st.volumeSum / st.volumes.length : undefined,
              atr: st.atr ?? undefined,
            },
            healthOptionsFor(o),
          );
          if (healthLevel(score, healthOptionsFor(o)) === 'CRITICAL') {
            marketExit(run, obs.price, obs.at, 'HEALTH_CRITICAL');
            continue;
          }
        }
      } else if (run.shadowUntil !== null && (status === 'POST_TRADE_MONITOR' || status === 'SKIPPED')) {
        if (obs.at > run.shadowUntil) {
          finalize(run);
          break;
        }
        if (obs.at >= (run.result.exitAt ?? run.result.signalAt)) observeMilestone(run, obs, 'shadow');
      }
    }
    if (
      run.shadowUntil !== null &&
      candle.openTime + candle.intervalMs > run.shadowUntil &&
      run.result.status !== 'FINALIZED'
    ) {
      finalize(run);
    }
  };

  const updateStats = (st: SymbolStats, c: Candle) => {
    const high = c.high.toNumber();
    const low = c.low.toNumber();
    const close = c.close.toNumber();
    const tr =
      st.prevClose === null
        ? high - low
        : Math.max(high - low, Math.abs(high - st.prevClose), Math.abs(low - st.prevClose));
    const period = 14;
    if (st.atr === null) {
      st.trSum += tr;
      st.trCount++;
      if (st.trCount === period) st.atr = st.trSum / period;
    } else st.atr = (st.atr * (period - 1) + tr) / period;
    st.prevClose = close;
    const v = c.volume.toNumber();
    st.volumes.push(v);
    st.volumeSum += v;
    if (st.volumes.length > HEALTH_VOLUME_WINDOW) st.volumeSum -= st.volumes.shift()!;
    st.lastVolume = v;
    st.lastClose = c.close;
    st.lastAt = c.openTime + c.intervalMs - 1;
  };

  // Main loop.
  let done = 0;
  for (const { symbol, index, candle } of timeline) {
    const queue = pending.get(symbol);
    const list = input.candles.get(symbol)!;
    while (queue && queue.length > 0 && signalTime(queue[0]!) <= candle.openTime) {
      handleSignal(queue.shift()!, candle, index, list);
    }
    const st = stats.get(symbol)!;
    const runsHere = active.get(symbol)!;
    for (const run of runsHere) walk(run, candle, st);
    if (runsHere.some((r) => isFinished(r.result.status))) {
      active.set(
        symbol,
        runsHere.filter((r) => !isFinished(r.result.status)),
      );
    }
    updateStats(st, candle);
    if (++done % 2000 === 0) input.onProgress?.(done, timeline.length);
  }
  input.onProgress?.(timeline.length, timeline.length);

  // End of data: close what is open, cancel what never got a price, finalize shadow windows.
  for (const [symbol, runsHere] of active) {
    const st = stats.get(symbol)!;
    for (const run of runsHere) {
      const status = run.result.status;
      if (status === 'ENTERING') {
        move(run, 'CANCELLED');
        run.result.outcome = 'CANCELLED';
        run.result.statusReason = 'replay ended before the entry completed';
      } else if (status === 'LIVE' || status === 'WARNING' || status === 'CRITICAL') {
        marketExit(run, st.lastClose!, st.lastAt, 'END_OF_DATA');
      }
      if (run.result.status === 'POST_TRADE_MONITOR' || run.result.status === 'SKIPPED') finalize(run);
    }
  }
  for (const [, queue] of pending) {
    for (const s of queue) {
      const result = emptyResult(s);
      result.status = 'CANCELLED';
      result.statusReason = 'no candle of the symbol after the signal within the replay window';
      runs.push({ result } as Run);
    }
  }

  for (const run of runs) {
    if (run.tracker) {
      run.result.milestones =
        run.result.entryFilledAt === null ? emptyMilestones(run.tracker) : liveMilestones(run.tracker);
      run.result.shadowMilestones = shadowMilestones(run.tracker);
    }
  }

  const trades = runs.map((r) => r.result);
  const stopCounters = {
    applied: 0,
    skippedMinStep: 0,
    failSafeRejections: 0,
    failSafeTightened: counters.failSafeTightened,
  };
  for (const r of runs) {
    if (!r.position) continue;
    stopCounters.applied += r.position.counters.stopMoves;
    stopCounters.skippedMinStep += r.position.counters.skippedMinStep;
    stopCounters.failSafeRejections += r.position.counters.failSafeRejections;
  }
  const summary = summarizeReplay(trades, stopCounters, {
    engine: 'core',
    from,
    to,
    symbols,
    candles: timeline.length,
    signals: sortedSignals.length,
    duplicateSignals,
    startingEquity: [...config.accounts.values()].reduce((sum, a) => sum.plus(a.equity ?? ZERO), ZERO),
    wallMs: performance.now() - started,
  });
  return { summary, trades };
}

function isFinished(status: TradeStatus): boolean {
  return status === 'FINALIZED' || status === 'CANCELLED' || status === 'FAILED';
}

function emptyMilestones(tracker: MilestoneTracker): Record<string, number | null> {
  return Object.fromEntries(tracker.thresholds.map((t) => [String(t), null]));
}
