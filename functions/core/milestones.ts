/**
 * Profit milestones: the whole seconds from the entry fill to the first moment the position's return on
 * margin reaches each threshold (default 10, 15, 20, 25, 30 %).
 *
 *   profit % = side × (price − entry) / entry × 100 × leverage
 *
 * Measured while the position is LIVE (phase `live`) and, after exit, during the post-trade window as a
 * "shadow" continuation from the same entry (phase `shadow`); a skipped signal is shadow-monitored from the
 * signal's price and time. A milestone is recorded once and never overwritten or reset by a phase change;
 * a later (higher) threshold can never be reached before a lower one, because reaching it implies
 * reaching every lower one at the same observation.
 *
 * The threshold test is exact: each threshold is turned once into a bound price, divided with directed
 * rounding (up for a long, down for a short) at 40 significant digits, so `price ≥ bound` holds exactly
 * when `profit % ≥ threshold` for every price with fewer than 40 significant digits.
 */
import { Decimal as DecimalJs } from 'decimal.js';
import { D, dcmp, type Decimal } from './decimal.js';
import type { Side } from './types.js';

const DCeil = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_CEIL });
const DFloor = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_FLOOR });

export type MilestonePhase = 'live' | 'shadow';

export interface MilestoneTracker {
  readonly side: Side;
  readonly entryPrice: Decimal;
  /** Entry fill time (or the signal's time for a skipped signal), epoch ms. */
  readonly entryAt: number;
  readonly leverage: number;
  readonly thresholds: readonly number[];
  /** Price at which each threshold is reached (long: price ≥ bound; short: price ≤ bound). */
  readonly bounds: readonly Decimal[];
  /** Seconds to each threshold, null until reached. */
  readonly seconds: readonly (number | null)[];
  /** The phase in which each threshold was reached. */
  readonly phases: readonly (MilestonePhase | null)[];
  /** Index of the lowest threshold not yet reached (thresholds.length when all are). */
  readonly next: number;
}

export interface MilestoneHit {
  threshold: number;
  seconds: number;
  phase: MilestonePhase;
  price: Decimal;
  at: number;
}

export function createMilestoneTracker(args: {
  side: Side;
  entryPrice: Decimal;
  entryAt: number;
  leverage: number;
  thresholds: readonly number[];
}): MilestoneTracker {
  const { side, entryPrice, leverage, thresholds } = args;
  if (!entryPrice.gt(0))
    throw new RangeError(`milestone entry price must be positive, got ${entryPrice.toFixed()}`);
  if (!Number.isInteger(leverage) || leverage < 1)
    throw new RangeError(`leverage must be an integer ≥ 1, got ${leverage}`);
  thresholds.forEach((t, i) => {
    if (!(t > 0) || (i > 0 && !(t > thresholds[i - 1]!))) {
      throw new RangeError(
        `milestone thresholds must be positive and strictly ascending, got ${thresholds.join(', ')}`,
      );
    }
  });
  const k = 100 * leverage;
  const bounds = thresholds.map((t) => {
    // long: price ≥ entry × (k + t) / k ; short: price ≤ entry × (k − t) / k
    const num = entryPrice.mul(side === 'long' ? k + t : k - t);
    const bound = side === 'long' ? new DCeil(num.toFixed()).div(k) : new DFloor(num.toFixed()).div(k);
    return new D(bound.toFixed());
  });
  return {
    side,
    entryPrice,
    entryAt: args.entryAt,
    leverage,
    thresholds: [...thresholds],
    bounds,
    seconds: thresholds.map(() => null),
    phases: thresholds.map(() => null),
    next: 0,
  };
}

/**
 * Feeds one price observation. Returns the same tracker when nothing new is reached (the common case, one
 * comparison), else a new tracker and the thresholds reached now, lowest first.
 */
export function observeMilestones(
  tracker: MilestoneTracker,
  price: Decimal,
  at: number,
  phase: MilestonePhase,
): { tracker: MilestoneTracker; hits: MilestoneHit[] } {
  const { next, bounds } = tracker;
  if (next >= bounds.length || !reached(tracker.side, price, bounds[next]!))
    return { tracker, hits: NO_HITS };
  const seconds = [...tracker.seconds];
  const phases = [...tracker.phases];
  const hits: MilestoneHit[] = [];
  const elapsed = Math.max(0, Math.floor((at - tracker.entryAt) / 1000));
  let i = next;
  while (i < bounds.length && reached(tracker.side, price, bounds[i]!)) {
    seconds[i] = elapsed;
    phases[i] = phase;
    hits.push({ threshold: tracker.thresholds[i]!, seconds: elapsed, phase, price, at });
    i++;
  }
  return { tracker: { ...tracker, seconds, phases, next: i }, hits };
}

const NO_HITS: MilestoneHit[] = [];

function reached(side: Side, price: Decimal, bound: Decimal): boolean {
  const c = dcmp(price, bound);
  return side === 'long' ? c >= 0 : c <= 0;
}

/** Return on margin in percent at `price` (for display and tests; decisions use the exact bounds). */
export function profitPct(side: Side, entryPrice: Decimal, price: Decimal, leverage: number): Decimal {
  const move = price.minus(entryPrice).div(entryPrice).mul(100).mul(leverage);
  return side === 'long' ? move : move.negated();
}

/** `{"10": seconds | null, ...}` of the milestones reached while the position was live. */
export function liveMilestones(tracker: MilestoneTracker): Record<string, number | null> {
  return milestoneMap(tracker, (i) => (tracker.phases[i] === 'live' ? tracker.seconds[i]! : null));
}

/** `{"10": seconds | null, ...}` of the whole continuation: live milestones plus those reached in the shadow window. */
export function shadowMilestones(tracker: MilestoneTracker): Record<string, number | null> {
  return milestoneMap(tracker, (i) => tracker.seconds[i] ?? null);
}

/** The flat columns written at finalize: `seconds_to_10_pct` … from the whole continuation. */
export function flattenMilestones(tracker: MilestoneTracker): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  tracker.thresholds.forEach((t, i) => {
    out[`seconds_to_${t}_pct`] = tracker.seconds[i] ?? null;
  });
  return out;
}

function milestoneMap(
  tracker: MilestoneTracker,
  value: (i: number) => number | null,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  tracker.thresholds.forEach((t, i) => {
    out[String(t)] = value(i);
  });
  return out;
}
