/**
 * Performance analytics over closed trades: counts, win rate, profit factor, expectancy, Sharpe and
 * Sortino from daily returns, maximum drawdown, holding time, best/worst trade and milestone statistics.
 *
 * Money stays `Decimal`; ratios (win rate, Sharpe, relative drawdown, hit rates) are numbers, computed
 * in `Decimal` and converted once at the end so that the result does not depend on summation order.
 * Time is epoch milliseconds (UTC) supplied by the caller. Definitions: docs/domain/analytics.md.
 */
import { D, ZERO, dec } from './decimal.js';
import type { Decimal } from './decimal.js';
import type { Side } from './types.js';

/** Reporting window: everything, the current UTC day, the current ISO week (from Monday), the current month. */
export type AnalyticsPeriod = 'ALL' | 'TODAY' | 'WEEK' | 'MONTH';

/** The periods in display order. */
export const ANALYTICS_PERIODS: readonly AnalyticsPeriod[] = ['ALL', 'TODAY', 'WEEK', 'MONTH'];

/** Default milestone thresholds, in profit % of margin. */
export const DEFAULT_MILESTONE_THRESHOLDS: readonly number[] = [10, 15, 20, 25, 30];

/** Days per year used to annualize daily Sharpe and Sortino (crypto trades every day). */
export const TRADING_DAYS_PER_YEAR = 365;

const DAY_MS = 86_400_000;
/** Largest magnitude a JavaScript Date accepts, in epoch ms. */
const MAX_EPOCH_MS = 8.64e15;
const SQRT_DAYS_PER_YEAR = new D(TRADING_DAYS_PER_YEAR).sqrt();

/** One finished trade as analytics sees it. */
export interface ClosedTradeRecord {
  tradeId: string;
  accountId: string;
  symbol: string;
  side: Side;
  /** Epoch ms of the entry fill. */
  entryFilledAt: number;
  /** Epoch ms of the exit (the fill that closed the position). */
  exitAt: number;
  /** Realized profit and loss, net of fees, in quote currency. */
  realizedPnl: Decimal;
  /**
   * Live milestones: threshold as a string ("10" … "30") → whole seconds from entry fill to the first
   * moment the threshold was reached, or null if it was not reached. A missing key counts as not reached.
   */
  milestones?: Record<string, number | null>;
}

/** Inputs that are not part of the trades themselves. */
export interface AnalyticsOptions {
  /** Equity before the first trade in the period; base for relative drawdown and daily returns. Must be > 0. */
  startingEquity: Decimal;
  /** Milestone thresholds to report (profit % of margin); default {@link DEFAULT_MILESTONE_THRESHOLDS}. */
  milestoneThresholds?: readonly number[];
}

/** A trade singled out as best or worst. */
export interface TradeRef {
  tradeId: string;
  symbol: string;
  exitAt: number;
  realizedPnl: Decimal;
}

/**
 * Largest fall of the equity curve. `absolute` and `relative` are each maximized on their own and can
 * come from different episodes: `peakAt`/`troughAt` locate the largest absolute fall,
 * `relativePeakAt`/`relativeTroughAt` the largest relative one.
 * A `…PeakAt` of null with a non-null `…TroughAt` means the peak was the starting equity (before the first
 * trade); both null means the curve never fell (absolute = 0, relative = 0).
 */
export interface MaxDrawdown {
  /** Largest peak − later value, in quote currency (≥ 0). */
  absolute: Decimal;
  /** Largest (peak − later value) / peak, as a fraction (0.25 = 25 %). */
  relative: number;
  /** Exit time of the trade that set the peak of the largest absolute fall. */
  peakAt: number | null;
  /** Exit time of the trade at the trough of the largest absolute fall. */
  troughAt: number | null;
  /** Equity at that peak and trough (null when there was no fall). */
  peakEquity: Decimal | null;
  troughEquity: Decimal | null;
  /** Peak and trough times of the largest relative fall. */
  relativePeakAt: number | null;
  relativeTroughAt: number | null;
}

/** One UTC calendar day of the daily-return series. */
export interface DailyReturn {
  /** UTC date, `YYYY-MM-DD`. */
  day: string;
  /** Epoch ms of 00:00 UTC of that day. */
  dayStart: number;
  /** Sum of realized PnL of trades that exited that day (0 when none did). */
  pnl: Decimal;
  /** Equity at the start of the day: startingEquity + PnL of all earlier days. */
  startEquity: Decimal;
  /** pnl / startEquity; null when startEquity ≤ 0 (the return is undefined). */
  return: number | null;
}

/** Milestone statistics for one threshold. */
export interface MilestoneStats {
  threshold: number;
  /** Trades that reached the threshold. */
  hits: number;
  /** hits / trades; null when there are no trades. */
  hitRate: number | null;
  /** Median seconds to reach the threshold over the hits; null when there are none. */
  medianSeconds: number | null;
}

/** Everything reported for one set of trades (one account and period). */
export interface PerformanceReport {
  trades: number;
  /** Trades with realizedPnl > 0. */
  wins: number;
  /** Trades with realizedPnl < 0. */
  losses: number;
  /** Trades with realizedPnl = 0 (neither win nor loss). */
  breakeven: number;
  /** wins / trades; null when there are no trades. */
  winRate: number | null;
  /** Sum of winning PnL. */
  grossProfit: Decimal;
  /** Sum of losing PnL as a positive magnitude. */
  grossLoss: Decimal;
  /** Sum of all PnL = grossProfit − grossLoss. */
  netPnl: Decimal;
  /** grossProfit / grossLoss; null when there are no losses. */
  profitFactor: number | null;
  /** Mean PnL per trade = netPnl / trades; null when there are no trades. */
  expectancy: Decimal | null;
  /** grossProfit / wins; null when there are no wins. */
  avgWin: Decimal | null;
  /** grossLoss / losses (positive magnitude); null when there are no losses. */
  avgLoss: Decimal | null;
  /** Annualized Sharpe ratio of daily returns (risk-free rate 0); null when undefined. */
  sharpe: number | null;
  /** Annualized Sortino ratio of daily returns (target 0); null when undefined. */
  sortino: number | null;
  /** The daily-return series Sharpe and Sortino are computed from. */
  dailyReturns: DailyReturn[];
  maxDrawdown: MaxDrawdown;
  /** Mean of (exitAt − entryFilledAt) in seconds; null when there are no trades. */
  avgHoldingSeconds: number | null;
  /** Highest and lowest realizedPnl (ties: the earlier exit, then the smaller tradeId). */
  best: TradeRef | null;
  worst: TradeRef | null;
  /** Per threshold, keyed like the trades' milestones ("10", "15", …). */
  milestones: Record<string, MilestoneStats>;
}

function checkEpoch(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_EPOCH_MS) {
    throw new RangeError(`${what} must be a finite epoch-ms time, got ${String(value)}`);
  }
}

/**
 * Start (epoch ms, inclusive) of `period` as of `now`, in UTC: TODAY → 00:00 today, WEEK → Monday 00:00 of
 * the current week, MONTH → the 1st of the month 00:00; ALL → null (no lower bound).
 */
export function periodStart(period: AnalyticsPeriod, now: number): number | null {
  checkEpoch(now, 'now');
  const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
  switch (period) {
    case 'ALL':
      return null;
    case 'TODAY':
      return dayStart;
    case 'WEEK': {
      // getUTCDay: 0 = Sunday … 6 = Saturday; days since Monday = (day + 6) mod 7.
      const daysSinceMonday = (new Date(dayStart).getUTCDay() + 6) % 7;
      return dayStart - daysSinceMonday * DAY_MS;
    }
    case 'MONTH': {
      const d = new Date(now);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    default:
      throw new RangeError(`unknown analytics period: ${String(period)}`);
  }
}

/**
 * The trades of `period` as of `now`: exitAt within [periodStart, now] (ALL: exitAt ≤ now), optionally only
 * those of `accountId`. Input order is kept.
 */
export function filterPeriod(
  trades: readonly ClosedTradeRecord[],
  period: AnalyticsPeriod,
  now: number,
  accountId?: string,
): ClosedTradeRecord[] {
  const start = periodStart(period, now);
  return trades.filter(
    (t) =>
      (accountId === undefined || t.accountId === accountId) &&
      (start === null || t.exitAt >= start) &&
      t.exitAt <= now,
  );
}

interface CheckedTrade {
  trade: ClosedTradeRecord;
  pnl: Decimal;
}

function compareTrades(a: CheckedTrade, b: CheckedTrade): number {
  if (a.trade.exitAt !== b.trade.exitAt) return a.trade.exitAt - b.trade.exitAt;
  if (a.trade.tradeId < b.trade.tradeId) return -1;
  return a.trade.tradeId > b.trade.tradeId ? 1 : 0;
}

function checkTrades(trades: readonly ClosedTradeRecord[]): CheckedTrade[] {
  const seen = new Set<string>();
  return trades.map((t, i) => {
    if (typeof t.tradeId !== 'string' || t.tradeId === '') {
      throw new TypeError(`trade at index ${i}: tradeId must be a non-empty string`);
    }
    const id = t.tradeId;
    if (seen.has(id)) throw new RangeError(`duplicate tradeId ${id}`);
    seen.add(id);
    if (t.side !== 'long' && t.side !== 'short') {
      throw new TypeError(`trade ${id}: side must be 'long' or 'short', got ${String(t.side)}`);
    }
    checkEpoch(t.entryFilledAt, `trade ${id}: entryFilledAt`);
    checkEpoch(t.exitAt, `trade ${id}: exitAt`);
    if (t.exitAt < t.entryFilledAt) {
      throw new RangeError(`trade ${id}: exitAt (${t.exitAt}) is before entryFilledAt (${t.entryFilledAt})`);
    }
    const pnl = dec(t.realizedPnl, `trade ${id}: realizedPnl`);
    if (t.milestones !== undefined) {
      for (const [key, seconds] of Object.entries(t.milestones)) {
        if (seconds !== null && !(Number.isInteger(seconds) && seconds >= 0)) {
          throw new RangeError(
            `trade ${id}: milestone ${key} must be null or whole seconds ≥ 0, got ${String(seconds)}`,
          );
        }
      }
    }
    return { trade: t, pnl };
  });
}

function checkThresholds(thresholds: readonly number[]): void {
  const keys = new Set<string>();
  for (const th of thresholds) {
    if (typeof th !== 'number' || !Number.isFinite(th) || th <= 0) {
      throw new RangeError(`milestone threshold must be a finite number > 0, got ${String(th)}`);
    }
    const key = String(th);
    if (keys.has(key)) throw new RangeError(`duplicate milestone threshold ${key}`);
    keys.add(key);
  }
}

/** Median of a non-empty list; an even count gives the mean of the two middle values. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] as number;
  if (sorted.length % 2 === 1) return hi;
  const lo = sorted[mid - 1] as number;
  return (lo + hi) / 2;
}

function ratioOrNull(num: number, den: number): number | null {
  return den === 0 ? null : num / den;
}

function utcDay(dayStart: number): string {
  return new Date(dayStart).toISOString().slice(0, 10);
}

/** Daily returns from the first to the last exit day (inclusive), in order. Trades must be sorted. */
function dailyReturnSeries(sorted: readonly CheckedTrade[], startingEquity: Decimal): DailyReturn[] {
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (first === undefined || last === undefined) return [];
  const firstDay = Math.floor(first.trade.exitAt / DAY_MS);
  const lastDay = Math.floor(last.trade.exitAt / DAY_MS);
  const pnlByDay = new Map<number, Decimal>();
  for (const { trade, pnl } of sorted) {
    const day = Math.floor(trade.exitAt / DAY_MS);
    pnlByDay.set(day, (pnlByDay.get(day) ?? ZERO).plus(pnl));
  }
  const out: DailyReturn[] = [];
  let equity = startingEquity;
  for (let day = firstDay; day <= lastDay; day++) {
    const pnl = pnlByDay.get(day) ?? ZERO;
    const dayStart = day * DAY_MS;
    out.push({
      day: utcDay(dayStart),
      dayStart,
      pnl,
      startEquity: equity,
      return: equity.gt(0) ? pnl.div(equity).toNumber() : null,
    });
    equity = equity.plus(pnl);
  }
  return out;
}

/**
 * Sharpe and Sortino of the daily returns (recomputed in Decimal from pnl / startEquity), annualized by √365,
 * risk-free rate and target return 0. Null when there are fewer than 2 days or any return is undefined;
 * Sharpe also when the sample standard deviation is 0, Sortino also when no day is negative.
 */
function riskRatios(days: readonly DailyReturn[]): { sharpe: number | null; sortino: number | null } {
  if (days.length < 2 || days.some((d) => !d.startEquity.gt(0))) return { sharpe: null, sortino: null };
  const returns = days.map((d) => d.pnl.div(d.startEquity));
  const n = returns.length;
  const mean = returns.reduce((s, r) => s.plus(r), ZERO).div(n);
  const variance = returns.reduce((s, r) => s.plus(r.minus(mean).pow(2)), ZERO).div(n - 1);
  const sharpe = variance.isZero() ? null : mean.div(variance.sqrt()).mul(SQRT_DAYS_PER_YEAR).toNumber();
  const negatives = returns.filter((r) => r.lt(0));
  let sortino: number | null = null;
  if (negatives.length > 0) {
    const downsideDev = negatives
      .reduce((s, r) => s.plus(r.pow(2)), ZERO)
      .div(n)
      .sqrt();
    sortino = mean.div(downsideDev).mul(SQRT_DAYS_PER_YEAR).toNumber();
  }
  return { sharpe, sortino };
}

/** Largest absolute and largest relative fall of the equity curve. Trades must be sorted. */
function maxDrawdownOf(sorted: readonly CheckedTrade[], startingEquity: Decimal): MaxDrawdown {
  let peak = startingEquity;
  let peakAt: number | null = null;
  let equity = startingEquity;
  const result: MaxDrawdown = {
    absolute: ZERO,
    relative: 0,
    peakAt: null,
    troughAt: null,
    peakEquity: null,
    troughEquity: null,
    relativePeakAt: null,
    relativeTroughAt: null,
  };
  let relative = ZERO;
  for (const { trade, pnl } of sorted) {
    equity = equity.plus(pnl);
    if (equity.gte(peak)) {
      // A new (or repeated) high starts a new episode; the most recent high is the episode's peak.
      peak = equity;
      peakAt = trade.exitAt;
      continue;
    }
    const fall = peak.minus(equity);
    if (fall.gt(result.absolute)) {
      result.absolute = fall;
      result.peakAt = peakAt;
      result.troughAt = trade.exitAt;
      result.peakEquity = peak;
      result.troughEquity = equity;
    }
    // peak ≥ startingEquity > 0, so the division is defined.
    const rel = fall.div(peak);
    if (rel.gt(relative)) {
      relative = rel;
      result.relativePeakAt = peakAt;
      result.relativeTroughAt = trade.exitAt;
    }
  }
  result.relative = relative.toNumber();
  return result;
}

/**
 * Computes the performance report of `trades` (normally one account's trades of one period, see
 * {@link filterPeriod}). Trades are ordered by exitAt, ties by tradeId, so input order does not matter.
 * Throws RangeError on exitAt < entryFilledAt, a non-finite realizedPnl, startingEquity ≤ 0, a duplicate
 * tradeId, a bad time, a bad milestone value or threshold; TypeError on a missing tradeId or a bad side.
 */
export function computePerformance(
  trades: readonly ClosedTradeRecord[],
  opts: AnalyticsOptions,
): PerformanceReport {
  const startingEquity = dec(opts.startingEquity, 'startingEquity');
  if (!startingEquity.gt(0)) {
    throw new RangeError(`startingEquity must be > 0, got ${startingEquity.toFixed()}`);
  }
  const thresholds = opts.milestoneThresholds ?? DEFAULT_MILESTONE_THRESHOLDS;
  checkThresholds(thresholds);
  const sorted = checkTrades(trades).sort(compareTrades);
  const n = sorted.length;

  let wins = 0;
  let losses = 0;
  let grossProfit = ZERO;
  let grossLoss = ZERO;
  let holdingMs = ZERO;
  let best: CheckedTrade | undefined;
  let worst: CheckedTrade | undefined;
  for (const ct of sorted) {
    const { pnl, trade } = ct;
    if (pnl.gt(0)) {
      wins++;
      grossProfit = grossProfit.plus(pnl);
    } else if (pnl.lt(0)) {
      losses++;
      grossLoss = grossLoss.minus(pnl);
    }
    holdingMs = holdingMs.plus(new D(trade.exitAt).minus(trade.entryFilledAt));
    if (best === undefined || pnl.gt(best.pnl)) best = ct;
    if (worst === undefined || pnl.lt(worst.pnl)) worst = ct;
  }
  const netPnl = grossProfit.minus(grossLoss);
  const toRef = (ct: CheckedTrade | undefined): TradeRef | null =>
    ct === undefined
      ? null
      : {
          tradeId: ct.trade.tradeId,
          symbol: ct.trade.symbol,
          exitAt: ct.trade.exitAt,
          realizedPnl: ct.pnl,
        };

  const milestones: Record<string, MilestoneStats> = {};
  for (const threshold of thresholds) {
    const key = String(threshold);
    const seconds: number[] = [];
    for (const { trade } of sorted) {
      const s = trade.milestones?.[key];
      if (s !== undefined && s !== null) seconds.push(s);
    }
    milestones[key] = {
      threshold,
      hits: seconds.length,
      hitRate: ratioOrNull(seconds.length, n),
      medianSeconds: seconds.length === 0 ? null : median(seconds),
    };
  }

  const dailyReturns = dailyReturnSeries(sorted, startingEquity);
  const { sharpe, sortino } = riskRatios(dailyReturns);

  return {
    trades: n,
    wins,
    losses,
    breakeven: n - wins - losses,
    winRate: ratioOrNull(wins, n),
    grossProfit,
    grossLoss,
    netPnl,
    profitFactor: losses === 0 ? null : grossProfit.div(grossLoss).toNumber(),
    expectancy: n === 0 ? null : netPnl.div(n),
    avgWin: wins === 0 ? null : grossProfit.div(wins),
    avgLoss: losses === 0 ? null : grossLoss.div(losses),
    sharpe,
    sortino,
    dailyReturns,
    maxDrawdown: maxDrawdownOf(sorted, startingEquity),
    avgHoldingSeconds: n === 0 ? null : holdingMs.div(n).div(1000).toNumber(),
    best: toRef(best),
    worst: toRef(worst),
    milestones,
  };
}

/** One account's report for one period, with the window it covers. */
export interface PeriodPerformance {
  accountId: string;
  period: AnalyticsPeriod;
  /** Inclusive window start (null for ALL) and end (= now), epoch ms. */
  from: number | null;
  to: number;
  report: PerformanceReport;
}

/**
 * {@link filterPeriod} then {@link computePerformance} for one account. `opts.startingEquity` must be the
 * account's equity at the start of the period (for ALL: before its first trade).
 */
export function performanceForPeriod(
  trades: readonly ClosedTradeRecord[],
  accountId: string,
  period: AnalyticsPeriod,
  now: number,
  opts: AnalyticsOptions,
): PeriodPerformance {
  return {
    accountId,
    period,
    from: periodStart(period, now),
    to: now,
    report: computePerformance(filterPeriod(trades, period, now, accountId), opts),
  };
}
