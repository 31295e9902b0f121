/**
 * Position health: a 0–100 heuristic score recomputed for every open trade on every tick (higher = healthier).
 * It is a weighted mean of five components, each 0–100 — time at risk, drawdown, volume, volatility and
 * profitability (default weights 20/30/20/15/15) — and maps to a level: SAFE ≥ 60 > WARNING ≥ 30 > CRITICAL.
 * The score is not a price, so it is computed with JS numbers; callers convert Decimal inputs once with
 * `toNumber()`. Definitions and examples: docs/domain/health.md.
 */
import type { Side } from './types.js';

/** What the score is computed from. Prices in quote currency, all finite; prices > 0. */
export interface HealthInput {
  side: Side;
  /** Average entry price. */
  entryPrice: number;
  /** Current (last) price. */
  price: number;
  /** The stop currently protecting the position. */
  stop: number;
  /** The stop at entry; |entryPrice − initialStop| is the initial risk per unit (1R). Must differ from entryPrice. */
  initialStop: number;
  /** Minutes since the entry fill (≥ 0). */
  minutesOpen: number;
  /** Traded volume in the recent window (≥ 0); unknown = no evidence of risk. */
  recentVolume?: number;
  /** Normal traded volume for a window of the same length (≥ 0); unknown or 0 = no evidence of risk. */
  averageVolume?: number;
  /** Average true range in price units (≥ 0); unknown = no evidence of risk. */
  atr?: number;
}

/** Relative weights of the components (each ≥ 0, sum > 0); the score divides by their sum. */
export interface HealthWeights {
  timeAtRisk: number;
  drawdown: number;
  volume: number;
  volatility: number;
  profitability: number;
}

/** Scoring options. */
export interface HealthOptions {
  /** Minutes open at which the time-at-risk component reaches 0 (> 0); default 240, the lifecycle's CRITICAL. */
  criticalMinutes: number;
  /** Scores ≥ safeAt are SAFE (default 60). */
  safeAt: number;
  /** Scores ≥ warningAt (and < safeAt) are WARNING, below are CRITICAL (default 30). 0 ≤ warningAt ≤ safeAt ≤ 100. */
  warningAt: number;
  /** Component weights; default {@link DEFAULT_HEALTH_WEIGHTS}. */
  weights?: HealthWeights;
}

/** The health level a score maps to. */
export type HealthLevel = 'SAFE' | 'WARNING' | 'CRITICAL';

/** The five component scores, each 0–100. */
export interface HealthComponents {
  timeAtRisk: number;
  drawdown: number;
  volume: number;
  volatility: number;
  profitability: number;
}

/** A full health evaluation: the unrounded score, its level and the components it was made from. */
export interface HealthResult {
  score: number;
  level: HealthLevel;
  components: HealthComponents;
}

/** The specified weights: time at risk 20 %, drawdown 30 %, volume 20 %, volatility 15 %, profitability 15 %. */
export const DEFAULT_HEALTH_WEIGHTS: Readonly<HealthWeights> = Object.freeze({
  timeAtRisk: 20,
  drawdown: 30,
  volume: 20,
  volatility: 15,
  profitability: 15,
});

/** Default options: time at risk runs out at 240 minutes; SAFE ≥ 60, WARNING ≥ 30. */
export const DEFAULT_HEALTH_OPTIONS: Readonly<HealthOptions> = Object.freeze({
  criticalMinutes: 240,
  safeAt: 60,
  warningAt: 30,
  weights: DEFAULT_HEALTH_WEIGHTS,
});

const DEFAULT_WEIGHT_SUM =
  DEFAULT_HEALTH_WEIGHTS.timeAtRisk +
  DEFAULT_HEALTH_WEIGHTS.drawdown +
  DEFAULT_HEALTH_WEIGHTS.volume +
  DEFAULT_HEALTH_WEIGHTS.volatility +
  DEFAULT_HEALTH_WEIGHTS.profitability;

function clamp01(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 1 : x;
}

/** Time at risk: 100 × (1 − minutesOpen / criticalMinutes), clamped to [0, 100]. */
function timeAtRiskScore(minutesOpen: number, criticalMinutes: number): number {
  return 100 * clamp01(1 - minutesOpen / criticalMinutes);
}

/**
 * Drawdown: the share of the entry-to-stop distance the price has consumed.
 * consumed = max(0, side × (entry − price)) / |entry − stop|; score = 100 × (1 − clamp(consumed, 0, 1)).
 * A stop at or beyond entry in the trade's favour (break-even or locked profit) scores 100.
 */
function drawdownScore(sign: 1 | -1, entryPrice: number, price: number, stop: number): number {
  const room = sign * (entryPrice - stop);
  if (room <= 0) return 100;
  const adverse = sign * (entryPrice - price);
  return adverse <= 0 ? 100 : 100 * (1 - clamp01(adverse / room));
}

/** Volume: 100 × clamp(recent / average, 0, 1); 100 when either is unknown or average is 0. */
function volumeScore(recentVolume: number | undefined, averageVolume: number | undefined): number {
  if (recentVolume === undefined || averageVolume === undefined || averageVolume === 0) return 100;
  return 100 * clamp01(recentVolume / averageVolume);
}

/**
 * Volatility: noise against the room left to the stop. room = max(0, side × (price − stop)) (= |price − stop|
 * while the stop has not been crossed); ratio = atr / room; score = 100 × clamp(1 − (ratio − 0.5) / 1.5, 0, 1):
 * 100 while atr ≤ room / 2, 0 from atr ≥ 2 × room. Unknown or zero ATR → 100; no room with ATR > 0 → 0.
 */
function volatilityScore(sign: 1 | -1, price: number, stop: number, atr: number | undefined): number {
  if (atr === undefined || atr === 0) return 100;
  const room = sign * (price - stop);
  if (room <= 0) return 0;
  return 100 * clamp01(1 - (atr / room - 0.5) / 1.5);
}

/**
 * Profitability: unrealized PnL in R, R = |entry − initialStop|. r = side × (price − entry) / R;
 * score = 100 × clamp((r + 1) / 2, 0, 1): −1R → 0, 0 → 50, +1R → 100.
 */
function profitabilityScore(sign: 1 | -1, entryPrice: number, price: number, initialStop: number): number {
  const r = (sign * (price - entryPrice)) / Math.abs(entryPrice - initialStop);
  return 100 * clamp01((r + 1) / 2);
}

function bad(what: string, value: unknown, rule: string): never {
  throw new RangeError(`health: ${what} must be ${rule}, got ${String(value)}`);
}

/** Throws a RangeError/TypeError naming the first invalid field. Returns the side's sign. */
function checkInput(input: HealthInput): 1 | -1 {
  const side = input.side;
  if (side !== 'long' && side !== 'short')
    throw new TypeError(`health: side must be 'long' or 'short', got ${String(side)}`);
  const { entryPrice, price, stop, initialStop, minutesOpen, recentVolume, averageVolume, atr } = input;
  if (!(entryPrice > 0 && entryPrice < Infinity)) bad('entryPrice', entryPrice, 'a finite number > 0');
  if (!(price > 0 && price < Infinity)) bad('price', price, 'a finite number > 0');
  if (!(stop > 0 && stop < Infinity)) bad('stop', stop, 'a finite number > 0');
  if (!(initialStop > 0 && initialStop < Infinity)) bad('initialStop', initialStop, 'a finite number > 0');
  if (initialStop === entryPrice)
    bad('initialStop', initialStop, 'different from entryPrice (1R would be 0)');
  if (!(minutesOpen >= 0 && minutesOpen < Infinity)) bad('minutesOpen', minutesOpen, 'a finite number ≥ 0');
  if (recentVolume !== undefined && !(recentVolume >= 0 && recentVolume < Infinity)) {
    bad('recentVolume', recentVolume, 'a finite number ≥ 0 or undefined');
  }
  if (averageVolume !== undefined && !(averageVolume >= 0 && averageVolume < Infinity)) {
    bad('averageVolume', averageVolume, 'a finite number ≥ 0 or undefined');
  }
  if (atr !== undefined && !(atr >= 0 && atr < Infinity)) bad('atr', atr, 'a finite number ≥ 0 or undefined');
  return side === 'long' ? 1 : -1;
}

function checkWeight(what: string, w: number): void {
  if (!(w >= 0 && w < Infinity)) bad(`weights.${what}`, w, 'a finite number ≥ 0');
}

/** Validates the options; returns the sum of the weights in use. */
function checkOptions(opts: HealthOptions): number {
  const { criticalMinutes, safeAt, warningAt } = opts;
  if (!(criticalMinutes > 0 && criticalMinutes < Infinity))
    bad('criticalMinutes', criticalMinutes, 'a finite number > 0');
  if (!(safeAt >= 0 && safeAt <= 100)) bad('safeAt', safeAt, 'between 0 and 100');
  if (!(warningAt >= 0 && warningAt <= safeAt))
    bad('warningAt', warningAt, `between 0 and safeAt (${safeAt})`);
  const w = opts.weights;
  if (w === undefined) return DEFAULT_WEIGHT_SUM;
  checkWeight('timeAtRisk', w.timeAtRisk);
  checkWeight('drawdown', w.drawdown);
  checkWeight('volume', w.volume);
  checkWeight('volatility', w.volatility);
  checkWeight('profitability', w.profitability);
  const sum = w.timeAtRisk + w.drawdown + w.volume + w.volatility + w.profitability;
  if (!(sum > 0 && sum < Infinity)) bad('sum of weights', sum, 'a finite number > 0');
  return sum;
}

function weightedScore(
  weights: Readonly<HealthWeights>,
  weightSum: number,
  timeAtRisk: number,
  drawdown: number,
  volume: number,
  volatility: number,
  profitability: number,
): number {
  const total =
    weights.timeAtRisk * timeAtRisk +
    weights.drawdown * drawdown +
    weights.volume * volume +
    weights.volatility * volatility +
    weights.profitability * profitability;
  return total / weightSum;
}

/** The level of a score: SAFE when score ≥ safeAt, WARNING when ≥ warningAt, else CRITICAL. */
export function healthLevel(score: number, opts: Pick<HealthOptions, 'safeAt' | 'warningAt'>): HealthLevel {
  if (Number.isNaN(score)) throw new RangeError('health: score is NaN');
  return score >= opts.safeAt ? 'SAFE' : score >= opts.warningAt ? 'WARNING' : 'CRITICAL';
}

/**
 * The health score only (0–100, full precision): validates, computes the five components and returns their
 * weighted mean without allocating. The hot-path variant of {@link healthScore}, which returns the same score.
 */
export function healthScoreValue(input: HealthInput, opts: HealthOptions): number {
  const sign = checkInput(input);
  const weightSum = checkOptions(opts);
  const { entryPrice, price, stop } = input;
  return weightedScore(
    opts.weights ?? DEFAULT_HEALTH_WEIGHTS,
    weightSum,
    timeAtRiskScore(input.minutesOpen, opts.criticalMinutes),
    drawdownScore(sign, entryPrice, price, stop),
    volumeScore(input.recentVolume, input.averageVolume),
    volatilityScore(sign, price, stop, input.atr),
    profitabilityScore(sign, entryPrice, price, input.initialStop),
  );
}

/**
 * The full health evaluation: the unrounded score, its level (decided on the unrounded score) and the five
 * component scores.
 */
export function healthScore(input: HealthInput, opts: HealthOptions): HealthResult {
  const sign = checkInput(input);
  const weightSum = checkOptions(opts);
  const { entryPrice, price, stop } = input;
  const components: HealthComponents = {
    timeAtRisk: timeAtRiskScore(input.minutesOpen, opts.criticalMinutes),
    drawdown: drawdownScore(sign, entryPrice, price, stop),
    volume: volumeScore(input.recentVolume, input.averageVolume),
    volatility: volatilityScore(sign, price, stop, input.atr),
    profitability: profitabilityScore(sign, entryPrice, price, input.initialStop),
  };
  const score = weightedScore(
    opts.weights ?? DEFAULT_HEALTH_WEIGHTS,
    weightSum,
    components.timeAtRisk,
    components.drawdown,
    components.volume,
    components.volatility,
    components.profitability,
  );
  return { score, level: healthLevel(score, opts), components };
}
