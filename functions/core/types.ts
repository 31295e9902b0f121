/**
 * Shared vocabulary of the domain core. Every price, quantity and amount is a `Decimal`;
 * times are epoch milliseconds (UTC) supplied by the caller's clock — the core never reads a clock.
 */
import type { Decimal } from './decimal.js';

/** Position direction. `long` profits when price rises; `short` is the mirror image. */
export type Side = 'long' | 'short';

/** +1 for long, −1 for short: multiply a price difference by it to get a signed profit per unit. */
export function sideSign(side: Side): 1 | -1 {
  return side === 'long' ? 1 : -1;
}

/** The order side that closes a position of `side`. */
export function closingOrderSide(side: Side): 'buy' | 'sell' {
  return side === 'long' ? 'sell' : 'buy';
}
/** The order side that opens a position of `side`. */
export function openingOrderSide(side: Side): 'buy' | 'sell' {
  return side === 'long' ? 'buy' : 'sell';
}

/** Exchange trading rules for one symbol (what ccxt calls a market's precision and limits). */
export interface MarketRules {
  symbol: string;
  /** Price increment (tick size). Zero means unconstrained. */
  tickSize: Decimal;
  /** Quantity increment (lot step). Zero means unconstrained. */
  lotStep: Decimal;
  /** Minimum order quantity. */
  minQty: Decimal;
  /** Minimum order notional (qty × price), in quote currency. */
  minNotional: Decimal;
  /** Maximum order quantity, if the exchange has one. */
  maxQty?: Decimal;
  /** Maximum leverage allowed for the symbol. */
  maxLeverage?: number;
}

/** One OHLCV candle; `openTime` in epoch ms, `intervalMs` its length. */
export interface Candle {
  openTime: number;
  intervalMs: number;
  open: Decimal;
  high: Decimal;
  low: Decimal;
  close: Decimal;
  volume: Decimal;
}

/** A single observed price at a moment. */
export interface PriceObservation {
  price: Decimal;
  at: number;
  /**
   * `price` as a JS number, when the caller has it (build with {@link observation}). Used only as a
   * conservative pre-filter that proves a step changes nothing; every decision is still made on `price`.
   */
  priceNum?: number;
}

/** An observation with its number form, converted once (per symbol and tick) from the same Decimal. */
export function observation(price: Decimal, at: number): PriceObservation {
  return { price, at, priceNum: price.toNumber() };
}
