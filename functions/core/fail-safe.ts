/**
 * The max-loss fail-safe: every stop the engine sends (the initial one and every change) is checked
 * before it leaves: the loss if that stop is hit must be at most `fraction` (default 95 %) of the trade's
 * max loss.
 *
 *   fill at stop    = stop × (1 − side × stopSlippage)     a stop-market order fills a little worse
 *   loss if stopped = qty × side × (entry − fill)          the price distance, signed
 *                   + qty × feeRate × (entry + fill)        entry fee and exit fee of the remaining qty
 *
 * `stopSlippage` (a fraction; the configuration gives it in basis points, default 2 bps, matching the paper
 * fill model) keeps the realized loss of a normally filled stop inside the max loss; a gap through the stop
 * can still fill worse, which no resting order can prevent.
 *
 * For a long, a stop above entry gives a negative distance term (locked profit). Realized profit from
 * earlier partial exits is not credited: the check holds for the remaining position on its own.
 */
import { D, type Decimal, roundToStep } from './decimal.js';
import { type Side, sideSign } from './types.js';

export interface FailSafeInput {
  side: Side;
  entryPrice: Decimal;
  /** Remaining position quantity. */
  qty: Decimal;
  /** Taker fee rate (the stop fills as a market order). */
  feeRate: Decimal;
  /** The trade's max loss in quote currency (e.g. 3.00). */
  maxLoss: Decimal;
  /** Fraction of the max loss a stop may risk (0.95). */
  fraction: Decimal;
  /** Expected adverse slippage of the stop's fill, as a fraction of the stop price (0.0002 = 2 bps). */
  stopSlippage: Decimal;
}

/** Loss (quote currency, fees included) if the remaining position is stopped at `stop`. Negative = profit. */
export function lossIfStopped(
  side: Side,
  entryPrice: Decimal,
  qty: Decimal,
  stop: Decimal,
  feeRate: Decimal,
  stopSlippage: Decimal,
): Decimal {
  const fill = stopFillPrice(side, stop, stopSlippage);
  const distance = entryPrice.minus(fill).mul(sideSign(side));
  return qty.mul(distance.plus(feeRate.mul(entryPrice.plus(fill))));
}

/** The price a stop is assumed to fill at: the stop moved against the position by the slippage. */
export function stopFillPrice(side: Side, stop: Decimal, stopSlippage: Decimal): Decimal {
  return stop.mul(new D(1).minus(stopSlippage.mul(sideSign(side))));
}

export type FailSafeCheck = {
  ok: boolean;
  /** Loss if stopped at the checked stop. */
  loss: Decimal;
  /** The most the stop may risk: fraction × max loss. */
  limit: Decimal;
};

/** Checks one stop price against the fail-safe. */
export function checkFailSafe(input: FailSafeInput, stop: Decimal): FailSafeCheck {
  const loss = lossIfStopped(
    input.side,
    input.entryPrice,
    input.qty,
    stop,
    input.feeRate,
    input.stopSlippage,
  );
  const limit = input.maxLoss.mul(input.fraction);
  return { ok: loss.lte(limit), loss, limit };
}

/**
 * The loosest stop that satisfies the fail-safe, rounded to the tick in the safe direction (a long's stop
 * up, a short's down), so the returned stop always passes {@link checkFailSafe}.
 *
 *   long:  stop ≥ (qty × entry × (1 + f) − limit) / (qty × (1 − σ) × (1 − f))
 *   short: stop ≤ (qty × entry × (1 − f) + limit) / (qty × (1 + σ) × (1 + f))      σ = stopSlippage
 *
 * Returns null for a zero quantity (nothing at risk, any stop passes).
 */
export function failSafeLimitStop(input: FailSafeInput, tickSize: Decimal): Decimal | null {
  const { side, entryPrice, qty, feeRate: f, maxLoss, fraction, stopSlippage: sl } = input;
  if (qty.isZero()) return null;
  const limit = maxLoss.mul(fraction);
  const one = new D(1);
  if (side === 'long') {
    const raw = qty
      .mul(entryPrice)
      .mul(f.plus(1))
      .minus(limit)
      .div(qty.mul(one.minus(sl)).mul(one.minus(f)));
    return roundToStep(raw, tickSize, 'up');
  }
  const raw = qty
    .mul(entryPrice)
    .mul(one.minus(f))
    .plus(limit)
    .div(qty.mul(one.plus(sl)).mul(one.plus(f)));
  return roundToStep(raw, tickSize, 'down');
}
