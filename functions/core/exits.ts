/**
 * Initial exits of a trade: the stop (from a percentage, a price or an ATR multiple, widened by the spread
 * buffer), the take-profit from the reward:risk ratio, and the partial take-profit levels.
 *
 *   stop (long)  = raw stop − entry × spreadBufferPct / 100, rounded UP to the tick (towards entry: less risk)
 *   target       = entry + side × rr × |entry − stop|,      rounded towards entry (reached no later)
 *   first partial = entry + side × firstAtFractionOfTarget × |target − entry|, rounded towards entry
 *
 * Short trades mirror every formula. Exits are planned twice: from the expected entry when sizing, and
 * again from the actual fill (a price stop keeps its absolute price; pct and ATR stops move with the fill).
 */
import { D, type Decimal, HUNDRED, roundToStep } from './decimal.js';
import type { StopSpec } from './signal.js';
import { type Candle, type MarketRules, type Side, sideSign } from './types.js';

export interface ExitOptions {
  spreadBufferPct: Decimal;
  partialTakeProfit: { enabled: boolean; firstAtFractionOfTarget: Decimal; firstCloseFraction: Decimal };
}

/** A take-profit level: close `fraction` of the initial quantity at `price` (the last level closes the rest). */
export interface ProfitLevel {
  price: Decimal;
  fraction: Decimal;
}

export interface InitialExits {
  stop: Decimal;
  takeProfit: Decimal;
  /** Ascending distance from entry; the last level is the target and closes whatever remains. */
  levels: ProfitLevel[];
  /** |entry − stop|, the risk per unit before fees. */
  stopDistance: Decimal;
}

export interface PlanExitsInput {
  side: Side;
  entryPrice: Decimal;
  stop: StopSpec;
  rr: Decimal;
  market: Pick<MarketRules, 'tickSize'>;
  options: ExitOptions;
  /** Average true range, required for `atrMultiple` stops. */
  atr?: Decimal;
}

/** Plans the stop, target and partial levels; throws a RangeError naming the problem when impossible. */
export function planInitialExits(input: PlanExitsInput): InitialExits {
  const { side, entryPrice, stop, rr, market, options } = input;
  const s = sideSign(side);
  let raw: Decimal;
  if ('pct' in stop) raw = entryPrice.mul(HUNDRED.minus(stop.pct.mul(s))).div(HUNDRED);
  else if ('price' in stop) raw = stop.price;
  else {
    if (input.atr === undefined || !input.atr.gt(0)) {
      throw new RangeError('an atrMultiple stop needs a positive ATR of the symbol');
    }
    raw = entryPrice.minus(input.atr.mul(stop.atrMultiple).mul(s));
  }
  const buffered = raw.minus(entryPrice.mul(options.spreadBufferPct).div(HUNDRED).mul(s));
  const stopPrice = roundToStep(buffered, market.tickSize, side === 'long' ? 'up' : 'down');
  const distance = entryPrice.minus(stopPrice).mul(s);
  if (!distance.gt(0)) {
    throw new RangeError(
      `a ${side} stop must be ${side === 'long' ? 'below' : 'above'} entry ${entryPrice.toFixed()}, got ${stopPrice.toFixed()}`,
    );
  }
  if (!stopPrice.gt(0)) throw new RangeError(`stop price ${stopPrice.toFixed()} is not positive`);
  const towardsEntry = side === 'long' ? 'down' : 'up';
  const takeProfit = roundToStep(entryPrice.plus(distance.mul(rr).mul(s)), market.tickSize, towardsEntry);
  if (!takeProfit.minus(entryPrice).mul(s).gt(0)) {
    throw new RangeError(`target ${takeProfit.toFixed()} collapses onto entry at this tick size`);
  }
  const levels: ProfitLevel[] = [];
  const p = options.partialTakeProfit;
  if (p.enabled && p.firstAtFractionOfTarget.lt(1) && p.firstCloseFraction.lt(1)) {
    const first = roundToStep(
      entryPrice.plus(takeProfit.minus(entryPrice).mul(p.firstAtFractionOfTarget)),
      market.tickSize,
      towardsEntry,
    );
    if (first.minus(entryPrice).mul(s).gt(0) && !first.eq(takeProfit)) {
      levels.push({ price: first, fraction: p.firstCloseFraction });
    }
  }
  levels.push({ price: takeProfit, fraction: new D(1) });
  return { stop: stopPrice, takeProfit, levels, stopDistance: distance };
}

/**
 * Average true range with Wilder's smoothing over `period` candles (needs period + 1 candles: the first
 * true range uses the previous close). Returns null when there are too few candles.
 */
export function averageTrueRange(candles: readonly Candle[], period: number): Decimal | null {
  if (!Number.isInteger(period) || period < 1) throw new RangeError(`ATR period must be ≥ 1, got ${period}`);
  if (candles.length < period + 1) return null;
  let atr: Decimal | null = null;
  let sum = new D(0);
  for (let i = 1; i < candles.length; i++) {
    const c = candles[i]!;
    const prevClose = candles[i - 1]!.close;
    const tr = D.max(c.high.minus(c.low), c.high.minus(prevClose).abs(), c.low.minus(prevClose).abs());
    if (i <= period) {
      sum = sum.plus(tr);
      if (i === period) atr = sum.div(period);
    } else if (atr !== null) {
      atr = atr
        .mul(period - 1)
        .plus(tr)
        .div(period);
    }
  }
  return atr;
}
