/**
 * Position sizing from risk.
 *
 *   qty = risk budget / (|entry − fill| + fees per unit),   fees per unit = takerRate × (entry + fill)
 *
 * where `fill` is the stop price moved against the position by the expected slippage σ (the same
 * {@link lossIfStopped} the fail-safe uses), and the entry is priced at the expected market fill
 * `entry × (1 + side × σ)`. A position sized this way passes the fail-safe at its stop after a normal
 * entry fill; only a fill worse than expected makes the fail-safe tighten the initial stop.
 * then capped by the max notional per trade, the account's remaining notional, the available margin
 * (margin = notional / leverage plus the entry fee) and the exchange's max quantity, and rounded DOWN to the
 * lot step. A result below the exchange minimum (quantity or notional) is rejected, never rounded up.
 * Rounding down and capping can only lower the risk, so the loss at the stop never exceeds the budget.
 */
import { type Decimal, ONE, roundToStep, ZERO } from './decimal.js';
import type { MarketRules, Side } from './types.js';
import { lossIfStopped } from './fail-safe.js';

export interface SizingInput {
  side: Side;
  entryPrice: Decimal;
  stopPrice: Decimal;
  /** Quote amount the trade may lose at its stop, fees included. */
  riskBudget: Decimal;
  takerFeeRate: Decimal;
  /** Expected adverse slippage of a market fill (fraction): priced into the entry and the stop, as in the fail-safe. */
  stopSlippage: Decimal;
  leverage: number;
  market: MarketRules;
  maxNotionalPerTrade: Decimal;
  /** maxNotionalPerAccount minus the notional of the account's open trades. */
  remainingAccountNotional: Decimal;
  /** Free margin (quote) on the exchange; undefined when unknown (paper runs sized from equity). */
  availableMargin?: Decimal;
}

export type SizingCap = 'risk' | 'maxNotionalPerTrade' | 'accountNotional' | 'margin' | 'maxQty';

export type SizingResult =
  | {
      ok: true;
      qty: Decimal;
      notional: Decimal;
      margin: Decimal;
      /** Loss if stopped at the stop with this qty, fees included; ≤ riskBudget. */
      riskAtStop: Decimal;
      /** Which limit decided the quantity. */
      cappedBy: SizingCap;
    }
  | {
      ok: false;
      code: 'INVALID_STOP' | 'BELOW_MIN_QTY' | 'BELOW_MIN_NOTIONAL' | 'NO_ROOM';
      reason: string;
    };

export function sizePosition(input: SizingInput): SizingResult {
  const { side, entryPrice, stopPrice, riskBudget, takerFeeRate: f, market } = input;
  const distance = entryPrice.minus(stopPrice);
  if (side === 'long' ? !distance.gt(0) : !distance.lt(0)) {
    return {
      ok: false,
      code: 'INVALID_STOP',
      reason: `a ${side} stop must be ${side === 'long' ? 'below' : 'above'} entry ${entryPrice.toFixed()}, got ${stopPrice.toFixed()}`,
    };
  }
  if (!Number.isInteger(input.leverage) || input.leverage < 1) {
    throw new RangeError(`leverage must be an integer ≥ 1, got ${input.leverage}`);
  }
  const expectedFill = entryPrice.mul(ONE.plus(input.stopSlippage.mul(side === 'long' ? 1 : -1)));
  const perUnit = lossIfStopped(side, expectedFill, ONE, stopPrice, f, input.stopSlippage);
  const caps: [SizingCap, Decimal][] = [
    ['risk', riskBudget.div(perUnit)],
    ['maxNotionalPerTrade', input.maxNotionalPerTrade.div(entryPrice)],
    ['accountNotional', nonNegative(input.remainingAccountNotional).div(entryPrice)],
  ];
  if (input.availableMargin !== undefined) {
    // margin needed per unit = entry / leverage + entry fee
    const marginPerUnit = entryPrice.div(input.leverage).plus(entryPrice.mul(f));
    caps.push(['margin', nonNegative(input.availableMargin).div(marginPerUnit)]);
  }
  if (market.maxQty !== undefined) caps.push(['maxQty', market.maxQty]);
  let [cappedBy, raw] = caps[0]!;
  for (const [name, value] of caps) {
    if (value.lt(raw)) [cappedBy, raw] = [name, value];
  }
  if (!raw.gt(0)) {
    return { ok: false, code: 'NO_ROOM', reason: `no quantity fits: limited by ${cappedBy}` };
  }
  const qty = roundToStep(raw, market.lotStep, 'down');
  if (!qty.gt(0) || qty.lt(market.minQty)) {
    return {
      ok: false,
      code: 'BELOW_MIN_QTY',
      reason: `quantity ${qty.toFixed()} (limited by ${cappedBy}) is below the exchange minimum ${market.minQty.toFixed()}`,
    };
  }
  const notional = qty.mul(entryPrice);
  if (notional.lt(market.minNotional)) {
    return {
      ok: false,
      code: 'BELOW_MIN_NOTIONAL',
      reason: `notional ${notional.toFixed()} (limited by ${cappedBy}) is below the exchange minimum ${market.minNotional.toFixed()}`,
    };
  }
  return {
    ok: true,
    qty,
    notional,
    margin: notional.div(input.leverage),
    riskAtStop: lossIfStopped(side, expectedFill, qty, stopPrice, f, input.stopSlippage),
    cappedBy,
  };
}

function nonNegative(v: Decimal): Decimal {
  return v.lt(ZERO) ? ZERO : v;
}

/**
 * The quote amount a signal risks: `riskAmount`, or `riskPct` % of equity. The trade's max loss is that
 * amount, capped by the account's hard `maxLossPerTrade` when set; sizing then aims at
 * `failSafeFraction × maxLoss` so the initial stop passes the fail-safe with room for entry slippage.
 */
export function riskBudget(args: {
  riskAmount?: Decimal;
  riskPct?: Decimal;
  equity?: Decimal;
  maxLossPerTrade?: Decimal;
  failSafeFraction: Decimal;
}): { maxLoss: Decimal; budget: Decimal } {
  let asked: Decimal;
  if (args.riskAmount !== undefined) asked = args.riskAmount;
  else if (args.riskPct !== undefined) {
    if (args.equity === undefined || !args.equity.gt(0)) {
      throw new RangeError('riskPct needs a positive account equity to size from');
    }
    asked = args.equity.mul(args.riskPct).div(100);
  } else throw new RangeError('a signal needs riskAmount or riskPct');
  const maxLoss =
    args.maxLossPerTrade !== undefined && args.maxLossPerTrade.lt(asked) ? args.maxLossPerTrade : asked;
  return { maxLoss, budget: maxLoss.mul(args.failSafeFraction.gt(ONE) ? ONE : args.failSafeFraction) };
}
