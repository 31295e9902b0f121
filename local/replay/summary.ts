/**
 * What both replay engines share when they report: the empty result of a signal, its time, and the summary —
 * one definition, so the core replay and the full local engine are summarized alike (docs/replay.md).
 */
import { D, type Decimal, ZERO } from '../../functions/core/decimal.js';
import { computePerformance, type ClosedTradeRecord } from '../../functions/core/analytics.js';
import { type Signal, tradeIdFor } from '../../functions/core/signal.js';
import type { ReplaySummary, TradeResult } from './types.js';

/** Stop updates of a run, counted by each engine from its own positions. */
export interface StopCounters {
  applied: number;
  skippedMinStep: number;
  failSafeRejections: number;
  /** Initial stops the fail-safe tightened. */
  failSafeTightened: number;
}

/** The epoch ms of a replayed signal (replayed signals must carry `at`). */
export function signalTime(s: Signal): number {
  if (s.at === undefined)
    throw new RangeError(`signal ${s.signalId} has no "at" time; replayed signals need one`);
  return Date.parse(s.at);
}

/** A signal's result before anything happened to it. */
export function emptyResult(s: Signal): TradeResult {
  return {
    tradeId: tradeIdFor(s),
    signalId: s.signalId,
    accountId: s.accountId,
    symbol: s.symbol,
    side: s.side,
    status: 'PENDING',
    outcome: 'CANCELLED',
    statusReason: null,
    signalAt: signalTime(s),
    entryFilledAt: null,
    entryPrice: null,
    qty: null,
    stopPlacedAt: null,
    stops: [],
    takeProfit: null,
    exitAt: null,
    exitPrice: null,
    exitReason: null,
    realizedPnl: null,
    fees: ZERO,
    maxLoss: null,
    milestones: {},
    shadowMilestones: {},
    partialExits: [],
    entrySlippage: null,
  };
}

/** The summary of a replay (trades, PnL, ratios, milestones, stop counters, exit reasons). */
export function summarizeReplay(
  trades: readonly TradeResult[],
  stops: StopCounters,
  meta: {
    engine: 'core' | 'full';
    from: number;
    to: number;
    symbols: string[];
    candles: number;
    signals: number;
    duplicateSignals: number;
    startingEquity: Decimal;
    wallMs: number;
  },
): ReplaySummary {
  const closed: ClosedTradeRecord[] = trades
    .filter((t) => t.entryFilledAt !== null && t.exitAt !== null && t.realizedPnl !== null)
    .map((t) => ({
      tradeId: t.tradeId,
      accountId: t.accountId,
      symbol: t.symbol,
      side: t.side,
      entryFilledAt: t.entryFilledAt!,
      exitAt: t.exitAt!,
      realizedPnl: t.realizedPnl!,
      milestones: t.milestones,
    }));
  const equity = meta.startingEquity.gt(0) ? meta.startingEquity : new D(10_000);
  const perf = computePerformance(closed, { startingEquity: equity });
  const thresholds = Object.keys(perf.milestones);
  const milestones: ReplaySummary['milestones'] = {};
  for (const t of thresholds) {
    milestones[t] = {
      live: trades.filter((x) => x.milestones[t] !== null && x.milestones[t] !== undefined).length,
      shadow: trades.filter((x) => x.shadowMilestones[t] !== null && x.shadowMilestones[t] !== undefined)
        .length,
      medianSeconds: perf.milestones[t]?.medianSeconds ?? null,
    };
  }
  const exitReasons: Record<string, number> = {};
  for (const t of trades) if (t.exitReason) exitReasons[t.exitReason] = (exitReasons[t.exitReason] ?? 0) + 1;
  const { applied, skippedMinStep, failSafeRejections } = stops;
  return {
    engine: meta.engine,
    from: meta.from,
    to: meta.to,
    symbols: meta.symbols,
    candles: meta.candles,
    signals: meta.signals,
    duplicateSignals: meta.duplicateSignals,
    trades: closed.length,
    skipped: trades.filter((t) => t.outcome === 'SKIPPED').length,
    cancelled: trades.filter((t) => t.outcome === 'CANCELLED').length,
    failed: trades.filter((t) => t.outcome === 'FAILED').length,
    wins: perf.wins,
    losses: perf.losses,
    netPnl: perf.netPnl,
    fees: trades.reduce((sum, t) => sum.plus(t.fees), ZERO),
    winRate: perf.winRate,
    profitFactor: perf.profitFactor,
    expectancy: perf.expectancy,
    sharpe: perf.sharpe,
    sortino: perf.sortino,
    maxDrawdown: perf.maxDrawdown.absolute,
    maxDrawdownPct: perf.maxDrawdown.relative * 100,
    milestones,
    stopUpdates: { applied, skippedMinStep },
    failSafeRejections,
    failSafeTightened: stops.failSafeTightened,
    exitReasons,
    wallMs: meta.wallMs,
  };
}
