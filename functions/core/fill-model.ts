/**
 * The paper fill model: the one definition of how an order fills, shared by the core replay, the paper
 * exchange and the local runtime. Pure: candles and options in, fills out. Rules (see docs/domain/fill-model.md):
 *
 * - A market order fills at the reference price moved against the trader by `slippageBps`, rounded to the
 *   tick against the trader, and pays the taker fee.
 * - Resting orders are evaluated against one candle along a conservative intra-candle path
 *   (open → adverse extreme → favourable extreme → close). An order already crossed at the open fills at
 *   the open (a gap). Stops are market orders once triggered (slippage, taker fee); take-profits and limits
 *   fill at their price or better (maker fee, no slippage); limits may fill partially.
 * - Reduce-only orders only ever shrink the position and never fill more than what is left of it.
 */
import { D, ONE, ZERO, dmin, roundToStep } from './decimal.js';
import type { Decimal } from './decimal.js';
import type { Candle, PriceObservation, Side } from './types.js';

/** The side of an order on the exchange. */
export type OrderSide = 'buy' | 'sell';

/** Parameters of the fill model. */
export interface FillModelOptions {
  /** Adverse slippage applied to every market (taker) fill, in basis points of the reference price; 0 ≤ bps < 10000. */
  slippageBps: Decimal;
  /** Fee rate for market fills (market orders and triggered stops), a fraction of notional; 0 ≤ rate < 1. */
  takerFeeRate: Decimal;
  /** Fee rate for take-profit and limit fills, a fraction of notional; −1 < rate < 1 (negative = rebate). */
  makerFeeRate: Decimal;
  /** Fraction of candle volume a resting limit order may fill in one candle (0 < f ≤ 1); undefined = unlimited. */
  maxParticipation?: Decimal;
}

/** The outcome of a market fill. */
export interface MarketFill {
  /** Fill price (after slippage and tick rounding). */
  price: Decimal;
  /** Filled quantity (always the whole order). */
  qty: Decimal;
  /** Fee paid in quote currency: qty × price × takerFeeRate. */
  fee: Decimal;
  /** Price difference per unit against the reference price; positive = adverse to the trader. */
  slippage: Decimal;
}

/** The kinds of order the model keeps resting between candles. */
export type RestingOrderKind = 'stop' | 'take-profit' | 'limit';

/** An order resting on the (paper) exchange, evaluated candle by candle. */
export type RestingOrder = {
  id: string;
  kind: RestingOrderKind;
  side: OrderSide;
  /** Quantity still open on the order. */
  qty: Decimal;
  /** Trigger price for stop / take-profit, limit price for limit. */
  price: Decimal;
  /** When true the order may only reduce the current position, never open or flip one. */
  reduceOnly?: boolean;
};

/** One fill produced by {@link evaluateCandle}. */
export interface CandleFill {
  orderId: string;
  kind: RestingOrderKind;
  side: OrderSide;
  /** Fill price. */
  price: Decimal;
  /** Filled quantity (≤ the order's qty; less for a partial limit fill or a capped reduce-only order). */
  qty: Decimal;
  /** Fee in quote currency: qty × price × (taker rate for stops, maker rate for take-profit and limit). */
  fee: Decimal;
  /** Fill price minus the order's price, signed so that positive = adverse to the trader (negative = improvement). */
  slippage: Decimal;
  /** Epoch ms of the path observation at which the order filled (the candle's open for a gap). */
  at: number;
  /** True when the candle opened at or through the order's price, so it filled at the open. */
  gap: boolean;
}

/** Extra state for {@link evaluateCandle} beyond the candle itself. */
export interface CandleContext {
  /**
   * Size of `position` (> 0). Required when `position` is given and any order is reduce-only: reduce-only
   * fills are capped by what is left of it. Must be omitted (or zero) when `position` is null.
   */
  positionQty?: Decimal;
  /** Lot step (≥ 0; 0 = unconstrained): a quantity capped by participation or by the position rounds down to it. */
  lotStep?: Decimal;
}

const BPS_PER_UNIT = new D(10000);

function isDecimal(value: unknown): value is Decimal {
  return D.isDecimal(value);
}

function requireFinite(value: unknown, what: string): Decimal {
  if (!isDecimal(value)) throw new TypeError(`${what} must be a Decimal, got ${typeof value}`);
  if (!value.isFinite()) throw new RangeError(`${what} must be finite, got ${value.toString()}`);
  return value;
}

function requirePositive(value: unknown, what: string): Decimal {
  const d = requireFinite(value, what);
  if (!d.gt(0)) throw new RangeError(`${what} must be > 0, got ${d.toFixed()}`);
  return d;
}

function requireNonNegative(value: unknown, what: string): Decimal {
  const d = requireFinite(value, what);
  if (d.lt(0)) throw new RangeError(`${what} must be ≥ 0, got ${d.toFixed()}`);
  return d;
}

function requireOrderSide(value: unknown, what: string): OrderSide {
  if (value !== 'buy' && value !== 'sell')
    throw new TypeError(`${what} must be 'buy' or 'sell', got ${String(value)}`);
  return value;
}

function requireSide(value: unknown, what: string): Side {
  if (value !== 'long' && value !== 'short')
    throw new TypeError(`${what} must be 'long' or 'short', got ${String(value)}`);
  return value;
}

function validateOptions(opts: FillModelOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('fill model options must be an object');
  const bps = requireNonNegative(opts.slippageBps, 'slippageBps');
  if (bps.gte(BPS_PER_UNIT)) throw new RangeError(`slippageBps must be < 10000, got ${bps.toFixed()}`);
  const taker = requireNonNegative(opts.takerFeeRate, 'takerFeeRate');
  if (taker.gte(ONE)) throw new RangeError(`takerFeeRate must be < 1, got ${taker.toFixed()}`);
  const maker = requireFinite(opts.makerFeeRate, 'makerFeeRate');
  if (maker.abs().gte(ONE))
    throw new RangeError(`makerFeeRate must be between −1 and 1, got ${maker.toFixed()}`);
  if (opts.maxParticipation !== undefined) {
    const mp = requirePositive(opts.maxParticipation, 'maxParticipation');
    if (mp.gt(ONE)) throw new RangeError(`maxParticipation must be ≤ 1, got ${mp.toFixed()}`);
  }
}

function validateStep(step: Decimal | undefined, what: string): Decimal {
  return step === undefined ? ZERO : requireNonNegative(step, what);
}

function validateCandle(candle: Candle): void {
  if (typeof candle !== 'object' || candle === null) throw new TypeError('candle must be an object');
  if (!Number.isSafeInteger(candle.openTime)) {
    throw new RangeError(`candle.openTime must be an integer epoch ms, got ${String(candle.openTime)}`);
  }
  if (!Number.isSafeInteger(candle.intervalMs) || candle.intervalMs <= 0) {
    throw new RangeError(`candle.intervalMs must be a positive integer, got ${String(candle.intervalMs)}`);
  }
  const open = requirePositive(candle.open, 'candle.open');
  const high = requirePositive(candle.high, 'candle.high');
  const low = requirePositive(candle.low, 'candle.low');
  const close = requirePositive(candle.close, 'candle.close');
  requireNonNegative(candle.volume, 'candle.volume');
  if (low.gt(open) || low.gt(close) || high.lt(open) || high.lt(close)) {
    throw new RangeError(
      `candle at ${candle.openTime} is inconsistent: need low ≤ open, close ≤ high, got ` +
        `O ${open.toFixed()} H ${high.toFixed()} L ${low.toFixed()} C ${close.toFixed()}`,
    );
  }
}

/** Market fill without validation (callers have validated). */
function fillAtMarket(
  orderSide: OrderSide,
  qty: Decimal,
  refPrice: Decimal,
  opts: FillModelOptions,
  tick: Decimal,
): MarketFill {
  const move = opts.slippageBps.div(BPS_PER_UNIT);
  const raw = orderSide === 'buy' ? refPrice.mul(ONE.plus(move)) : refPrice.mul(ONE.minus(move));
  const price = roundToStep(raw, tick, orderSide === 'buy' ? 'up' : 'down');
  if (!price.gt(0)) {
    throw new RangeError(
      `${orderSide} fill at reference ${refPrice.toFixed()} rounds to ${price.toFixed()} with tick ${tick.toFixed()}`,
    );
  }
  const fee = qty.mul(price).mul(opts.takerFeeRate);
  const slippage = orderSide === 'buy' ? price.minus(refPrice) : refPrice.minus(price);
  return { price, qty, fee, slippage };
}

/**
 * Fills a market order of `qty` against `refPrice`: a buy at ref × (1 + bps/10000), a sell at
 * ref × (1 − bps/10000), rounded to `tickSize` against the trader (buy up, sell down; omitted or 0 = no
 * rounding). The fee is qty × price × takerFeeRate; `slippage` is the adverse price difference vs `refPrice`.
 */
export function marketFill(
  orderSide: OrderSide,
  qty: Decimal,
  refPrice: Decimal,
  opts: FillModelOptions,
  tickSize?: Decimal,
): MarketFill {
  requireOrderSide(orderSide, 'orderSide');
  requirePositive(qty, 'qty');
  requirePositive(refPrice, 'refPrice');
  validateOptions(opts);
  return fillAtMarket(orderSide, qty, refPrice, opts, validateStep(tickSize, 'tickSize'));
}

/**
 * The assumed price path inside a candle, as 4 observations: open → adverse extreme → favourable extreme →
 * close. For a long the low comes first, for a short the high. Times: open at openTime, the first extreme at
 * openTime + ⌊interval/3⌋, the second at openTime + ⌊2·interval/3⌋, close at openTime + interval − 1.
 * This makes a candle that touches both a position's stop and its target take the stop first.
 */
export function candlePath(candle: Candle, adverseFor: Side): PriceObservation[] {
  requireSide(adverseFor, 'adverseFor');
  validateCandle(candle);
  return pathOf(candle, adverseFor);
}

function pathOf(candle: Candle, adverseFor: Side): PriceObservation[] {
  const t0 = candle.openTime;
  const n = candle.intervalMs;
  const [first, second] = adverseFor === 'long' ? [candle.low, candle.high] : [candle.high, candle.low];
  return [
    { price: candle.open, at: t0 },
    { price: first, at: t0 + Math.floor(n / 3) },
    { price: second, at: t0 + Math.floor((2 * n) / 3) },
    { price: candle.close, at: t0 + n - 1 },
  ];
}

/** Whether an order fills when the price falls to its price (`'le'`) or rises to it (`'ge'`). */
function triggerDirection(order: RestingOrder): 'le' | 'ge' {
  switch (order.kind) {
    case 'stop':
      return order.side === 'sell' ? 'le' : 'ge';
    case 'take-profit':
    case 'limit':
      return order.side === 'sell' ? 'ge' : 'le';
  }
}

function validateOrders(orders: readonly RestingOrder[]): void {
  if (!Array.isArray(orders)) throw new TypeError('orders must be an array');
  const list = orders as readonly RestingOrder[]; // Array.isArray narrows to any[]
  const seen = new Set<string>();
  for (const order of list) {
    if (typeof order !== 'object' || order === null) throw new TypeError('each order must be an object');
    if (typeof order.id !== 'string' || order.id === '')
      throw new TypeError('order.id must be a non-empty string');
    if (seen.has(order.id)) throw new RangeError(`duplicate order id ${order.id}`);
    seen.add(order.id);
    const kind = order.kind as unknown;
    if (kind !== 'stop' && kind !== 'take-profit' && kind !== 'limit') {
      throw new TypeError(
        `order ${order.id}: kind must be 'stop', 'take-profit' or 'limit', got ${String(kind)}`,
      );
    }
    requireOrderSide(order.side, `order ${order.id}: side`);
    requirePositive(order.qty, `order ${order.id}: qty`);
    requirePositive(order.price, `order ${order.id}: price`);
    if (order.reduceOnly !== undefined && typeof order.reduceOnly !== 'boolean') {
      throw new TypeError(`order ${order.id}: reduceOnly must be a boolean`);
    }
  }
}

interface PathHit {
  order: RestingOrder;
  index: number;
  /** Index of the first path observation at which the order's condition holds. */
  point: number;
  /** Distance from the previous observation to the order's price (0 for a gap). */
  distance: Decimal;
}

/**
 * Evaluates resting orders against one candle and returns the fills in the order they happen along
 * `candlePath(candle, position ?? 'long')`.
 *
 * Triggers: sell stop low ≤ price; buy stop high ≥ price; sell take-profit high ≥ price; buy take-profit
 * low ≤ price; buy limit low ≤ price; sell limit high ≥ price. An order whose condition already holds at the
 * open fills at the open (`gap: true`): worse than the trigger for a stop, better than the price for a
 * take-profit or limit. Otherwise a stop fills at its trigger and a take-profit or limit at its price.
 * Stops then take adverse slippage, tick rounding against the trader and the taker fee; take-profits and
 * limits pay the maker fee with no slippage. A limit fills at most maxParticipation × candle volume.
 *
 * Orders reached on the same path segment fill nearest-first; exact ties keep the input order. The position
 * (`position`, `context.positionQty`) is tracked through the fills: a reduce-only order fills only while it
 * reduces the position, at most the quantity left, so when a reduce-only stop and a reduce-only take-profit
 * both trigger, the one first on the path closes the position and the other does not fill.
 * Orders that do not fill are not reported; they remain the caller's resting orders.
 */
export function evaluateCandle(
  orders: readonly RestingOrder[],
  candle: Candle,
  position: Side | null,
  opts: FillModelOptions,
  tickSize?: Decimal,
  context?: CandleContext,
): CandleFill[] {
  validateCandle(candle);
  if (position !== null) requireSide(position, 'position');
  validateOptions(opts);
  const tick = validateStep(tickSize, 'tickSize');
  const lotStep = validateStep(context?.lotStep, 'context.lotStep');
  validateOrders(orders);

  const positionQty = context?.positionQty;
  let net: Decimal; // signed position: + long, − short
  if (position === null) {
    if (positionQty !== undefined && !requireNonNegative(positionQty, 'context.positionQty').isZero()) {
      throw new RangeError(`context.positionQty is ${positionQty.toFixed()} but position is null`);
    }
    net = ZERO;
  } else if (positionQty === undefined) {
    if (orders.some((o) => o.reduceOnly === true)) {
      throw new TypeError('context.positionQty is required to cap reduce-only orders against the position');
    }
    net = ZERO; // not needed: only reduce-only orders read it
  } else {
    const q = requirePositive(positionQty, 'context.positionQty');
    net = position === 'long' ? q : q.neg();
  }

  const path = pathOf(candle, position ?? 'long');
  const hits: PathHit[] = [];
  orders.forEach((order, index) => {
    const dir = triggerDirection(order);
    const point = path.findIndex((obs) =>
      dir === 'le' ? obs.price.lte(order.price) : obs.price.gte(order.price),
    );
    if (point < 0) return;
    const previous = point === 0 ? undefined : path[point - 1];
    const distance = previous === undefined ? ZERO : order.price.minus(previous.price).abs();
    hits.push({ order, index, point, distance });
  });
  hits.sort((a, b) => a.point - b.point || a.distance.cmp(b.distance) || a.index - b.index);

  const fills: CandleFill[] = [];
  for (const { order, point } of hits) {
    let qty = order.qty;
    if (order.kind === 'limit' && opts.maxParticipation !== undefined) {
      qty = dmin(qty, opts.maxParticipation.mul(candle.volume));
    }
    if (order.reduceOnly === true) {
      const reduces = order.side === 'sell' ? net.gt(0) : net.lt(0);
      if (!reduces) continue;
      qty = dmin(qty, net.abs());
    }
    if (qty.lt(order.qty)) qty = roundToStep(qty, lotStep, 'down');
    if (!qty.gt(0)) continue;

    const observation = path[point];
    if (observation === undefined) continue; // unreachable: point is an index of path
    const gap = point === 0;
    const base = gap ? candle.open : order.price;
    let price: Decimal;
    let fee: Decimal;
    if (order.kind === 'stop') {
      const market = fillAtMarket(order.side, qty, base, opts, tick);
      price = market.price;
      fee = market.fee;
    } else {
      price = base;
      fee = qty.mul(price).mul(opts.makerFeeRate);
    }
    const slippage = order.side === 'buy' ? price.minus(order.price) : order.price.minus(price);
    net = order.side === 'buy' ? net.plus(qty) : net.minus(qty);
    fills.push({
      orderId: order.id,
      kind: order.kind,
      side: order.side,
      price,
      qty,
      fee,
      slippage,
      at: observation.at,
      gap,
    });
  }
  return fills;
}
