/**
 * Decimal arithmetic for every price, quantity and amount in decision code.
 *
 * `D` is a private decimal.js constructor (40 significant digits, half-even rounding) so the engine's
 * settings never leak into, or depend on, another library's global Decimal configuration.
 * Numbers appear only at the edges: exchange payloads and JSON output (as decimal strings).
 */
import { Decimal as DecimalJs } from 'decimal.js';

export const D = DecimalJs.clone({
  precision: 40,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -30,
  toExpPos: 40,
});
export type Decimal = InstanceType<typeof D>;
/** What callers may pass where a decimal is expected: a Decimal, a decimal string, or a finite number. */
export type DecimalInput = Decimal | string | number;

export const ZERO = new D(0);
export const ONE = new D(1);
export const HUNDRED = new D(100);

/** Converts an input to `D`, rejecting NaN and infinities with a specific message. */
export function dec(value: DecimalInput, what = 'value'): Decimal {
  let d: Decimal;
  try {
    d = value instanceof D ? value : new D(value);
  } catch {
    throw new RangeError(`${what} is not a decimal number: ${String(value)}`);
  }
  if (!d.isFinite()) throw new RangeError(`${what} must be finite, got ${String(value)}`);
  return d;
}

/** Direction for rounding to an exchange step. */
export type RoundDirection = 'up' | 'down';

/**
 * Rounds `value` to a multiple of `step` (a tick size or lot step), towards +∞ (`up`) or −∞ (`down`).
 * A step of zero means "no precision constraint" and returns the value unchanged.
 */
export function roundToStep(value: Decimal, step: Decimal, direction: RoundDirection): Decimal {
  if (step.isZero()) return value;
  return value.toNearest(step, direction === 'up' ? D.ROUND_CEIL : D.ROUND_FLOOR);
}

/** Decimal min/max helpers (decimal.js has static versions, these keep the engine's constructor). */
export function dmin(a: Decimal, b: Decimal): Decimal {
  return a.lte(b) ? a : b;
}
export function dmax(a: Decimal, b: Decimal): Decimal {
  return a.gte(b) ? a : b;
}

/** Plain decimal string for JSON output (no exponent), trailing zeros removed. */
export function decStr(value: Decimal): string {
  return value.toFixed();
}

/**
 * Compares two finite Decimals without allocating (decimal.js's `cmp` wraps its argument in a new
 * Decimal on every call, which dominates the hot path of the stop step). Uses the instance fields
 * decimal.js documents — sign `s`, exponent `e`, base-1e7 digit words `d` — exactly as `cmp` does.
 * Returns −1, 0 or 1. Both values must be finite (every engine value is, see {@link dec}).
 */
export function dcmp(x: Decimal, y: Decimal): -1 | 0 | 1 {
  const xd = x.d;
  const yd = y.d;
  const xs = x.s;
  const ys = y.s;
  const xZero = xd[0] === 0;
  const yZero = yd[0] === 0;
  if (xZero || yZero) {
    if (xZero && yZero) return 0;
    return xZero ? (ys > 0 ? -1 : 1) : xs > 0 ? 1 : -1;
  }
  if (xs !== ys) return xs > 0 ? 1 : -1;
  const pos = xs > 0;
  if (x.e !== y.e) return x.e > y.e === pos ? 1 : -1;
  const n = xd.length < yd.length ? xd.length : yd.length;
  for (let i = 0; i < n; i++) {
    const a = xd[i]!;
    const b = yd[i]!;
    if (a !== b) return a > b === pos ? 1 : -1;
  }
  if (xd.length === yd.length) return 0;
  return xd.length > yd.length === pos ? 1 : -1;
}
