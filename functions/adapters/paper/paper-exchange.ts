/**
 * The paper exchange: an in-memory, deterministic USDT-margined perpetual-futures account behind the
 * exchange port, used by the local runtime, the Binance protocol stub and the tests. Every fill comes from
 * the core fill model (`functions/core/fill-model.ts`: `marketFill` for market orders, `evaluateCandle` for
 * resting limit, stop and take-profit orders); this file only keeps the books.
 *
 * ## Public API (stable; the Binance USD-M stub is built on it)
 *
 * Construction:
 * - `new PaperExchange(options: PaperExchangeOptions)` — `markets` (unified symbol → {@link PaperMarketConfig}
 *   with decimal strings, the `data/markets.json` format, or ready {@link ExchangeMarket}s), `clock`,
 *   optional `quoteCurrency` ('USDT'), `initialBalance` ('10000'), `fill` (fill-model options; defaults
 *   taker 0.0005, maker 0.0002, slippage 0 bps), `defaultLeverage` (10), `seed` (fault probabilities),
 *   `sleep` (how latency passes; default: advance the clock when it has `advance(ms)`, else a real delay).
 * - `paperMarkets(json)` — parses the `data/markets.json` format into `ExchangeMarket`s.
 *
 * The port (`ExchangePort`, `exchangeId = 'paper'`): loadMarkets, fetchTicker(s), fetchOHLCV (the candles
 * given to `advance`), fetchBalance, fetchPositions, setLeverage, createOrder, cancelOrder, fetchOrder,
 * fetchOrderByClientId, fetchOpenOrders (regular and trigger orders), fetchMyTrades.
 *
 * Control:
 * - `setPrice(symbol, price, at?, volume?)` — the last price becomes `price` at `at` (default: clock) and
 *   resting orders are worked against a one-point candle at that price (a jump through a stop fills at the
 *   new price, like a gap).
 * - `advance(symbol, candle)` — resting orders are worked against the candle (partial limit fills through
 *   `maxParticipation`), then the last price is the candle's close.
 * - `snapshot()` — a deep copy of the whole state for assertions ({@link PaperSnapshot}).
 * - `ordersWithClientId(clientOrderId)` — every order ever accepted with that client id (double-order check).
 * - `openPositionExternally(symbol, side, qty, price?)`, `closePositionExternally(symbol, qty?)`,
 *   `cancelOrderExternally(orderId)` — drift made "by hand" outside the engine (reconciliation scenarios).
 * - `faults` — the {@link PaperFaults} rule queue (see below).
 *
 * ## Rules
 * - One-way mode: at most one position per symbol. A fill in the position's direction averages the entry
 *   price (Σ qty·price / Σ qty); a fill against it realizes (exit − entry) × qty × (+1 long, −1 short) into
 *   the wallet; a non-reduce-only fill larger than the position flips it at the fill price.
 * - Fees: taker rate on market fills and triggered stops, maker rate on limit and take-profit fills; always
 *   debited from the wallet. A marketable limit order (a buy at or above the last price) fills at once at the
 *   last price, at the maker rate.
 * - Balance: `total` = wallet (initial + realized PnL − fees); `used` = Σ position margin (qty × entry /
 *   leverage) + Σ margin reserved by resting non-reduce-only limit orders; `free` = total − used.
 *   An opening quantity needs qty × price / leverage + its taker fee ≤ free, else INSUFFICIENT_FUNDS.
 * - Orders are validated like Binance: qty a multiple of the lot step, ≥ minQty, ≤ maxQty; prices multiples
 *   of the tick; notional ≥ minNotional (reduce-only orders exempt); client ids of 1–36 characters
 *   [A-Za-z0-9_-]; a client id already used by an OPEN order → DUPLICATE_CLIENT_ORDER_ID (never-retry).
 * - Reduce-only orders never open or flip a position: a market one with nothing to reduce is refused
 *   (INVALID_ORDER, like Binance -2022) and one larger than the position is capped by it; resting ones are
 *   capped by the fill model at the time they fill.
 * - A stop or take-profit whose trigger is already reached at creation (a sell stop at or above the last
 *   price, a buy stop at or below it; a sell take-profit at or below, a buy take-profit at or above) is
 *   refused with WOULD_TRIGGER_IMMEDIATELY (never-retry, like Binance -2021).
 * - A triggered stop or take-profit executes once: its status becomes `closed` with whatever filled (less
 *   than its qty when capped by the position). Resting reduce-only orders are not cancelled when the
 *   position closes (reconciliation cancels orphaned stops).
 * - Order ids are monotonic decimal strings ('1', '2', …); fill ids are 'f1', 'f2', ….
 */
import { D, ZERO, dec, dmin, roundToStep } from '../../core/decimal.js';
import type { Decimal, DecimalInput } from '../../core/decimal.js';
import { evaluateCandle, marketFill } from '../../core/fill-model.js';
import type { FillModelOptions, RestingOrder } from '../../core/fill-model.js';
import type { Candle, Side } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import { ExchangeFailure } from '../../ports/exchange.js';
import type {
  Balance,
  ExchangeMarket,
  ExchangeOrder,
  ExchangePort,
  ExchangePosition,
  Fill,
  OrderKind,
  OrderLookup,
  OrderRequest,
  OrderSide,
  OrderStatus,
  Ticker,
} from '../../ports/exchange.js';

// ------------------------------------------------------------------------------------------ configuration

/** One market in the `data/markets.json` format: decimals as strings. */
export interface PaperMarketConfig {
  tickSize: string;
  lotStep: string;
  minQty: string;
  minNotional: string;
  maxQty?: string;
  maxLeverage?: number;
  /** Exchange id of the market; default: base + quote without separators (`BTCUSDT`). */
  id?: string;
}

/** Options of {@link PaperExchange}. */
export interface PaperExchangeOptions {
  markets: Record<string, PaperMarketConfig | ExchangeMarket>;
  clock: Clock;
  /** The margin currency; default `USDT`. */
  quoteCurrency?: string;
  /** Starting wallet balance; default 10000. */
  initialBalance?: DecimalInput;
  /** Fill-model options; defaults: slippageBps 0, takerFeeRate 0.0005, makerFeeRate 0.0002, no participation cap. */
  fill?: Partial<FillModelOptions>;
  /** Leverage of a symbol before `setLeverage`; default 10 (capped by the market's maxLeverage). */
  defaultLeverage?: number;
  /** Seed of the fault-injection random source (rules with a `probability`); default 1. */
  seed?: number;
  /** How injected latency passes (unless a rule asks for a real delay); default: see the file comment. */
  sleep?: (ms: number) => Promise<void>;
}

/** Parses the `data/markets.json` format (symbol → decimal strings) into exchange markets. */
export function paperMarkets(json: Record<string, PaperMarketConfig>): Record<string, ExchangeMarket> {
  if (typeof json !== 'object' || json === null) throw new TypeError('markets must be an object');
  const out: Record<string, ExchangeMarket> = {};
  for (const [symbol, cfg] of Object.entries(json)) out[symbol] = toMarket(symbol, cfg);
  return out;
}

function toMarket(symbol: string, cfg: PaperMarketConfig | ExchangeMarket): ExchangeMarket {
  const m = /^([A-Z0-9]+)\/([A-Z0-9]+)(?::([A-Z0-9]+))?$/.exec(symbol);
  if (!m) throw new RangeError(`market symbol must look like BASE/QUOTE:SETTLE, got "${symbol}"`);
  const base = m[1] ?? '';
  const quote = m[2] ?? '';
  if ('contractSize' in cfg) return { ...cfg, symbol };
  const nonNeg = (v: string, what: string) => {
    const d = dec(v, `${symbol} ${what}`);
    if (d.lt(0)) throw new RangeError(`${symbol} ${what} must be ≥ 0, got ${v}`);
    return d;
  };
  const market: ExchangeMarket = {
    symbol,
    id: cfg.id ?? `${base}${quote}`,
    base,
    quote,
    contractSize: new D(1),
    tickSize: nonNeg(cfg.tickSize, 'tickSize'),
    lotStep: nonNeg(cfg.lotStep, 'lotStep'),
    minQty: nonNeg(cfg.minQty, 'minQty'),
    minNotional: nonNeg(cfg.minNotional, 'minNotional'),
  };
  if (cfg.maxQty !== undefined) market.maxQty = nonNeg(cfg.maxQty, 'maxQty');
  if (cfg.maxLeverage !== undefined) {
    if (!Number.isInteger(cfg.maxLeverage) || cfg.maxLeverage < 1)
      throw new RangeError(`${symbol} maxLeverage must be an integer ≥ 1, got ${String(cfg.maxLeverage)}`);
    market.maxLeverage = cfg.maxLeverage;
  }
  return market;
}

// ------------------------------------------------------------------------------------------ fault injection

/** The port methods faults can target. */
export type PaperMethod =
  | 'loadMarkets'
  | 'fetchTicker'
  | 'fetchTickers'
  | 'fetchOHLCV'
  | 'fetchBalance'
  | 'fetchPositions'
  | 'setLeverage'
  | 'createOrder'
  | 'cancelOrder'
  | 'fetchOrder'
  | 'fetchOrderByClientId'
  | 'fetchOpenOrders'
  | 'fetchMyTrades';

const WRITE_METHODS: ReadonlySet<PaperMethod> = new Set(['setLeverage', 'createOrder', 'cancelOrder']);

/** What a rule targets: one method, `any`, every `write` (createOrder, cancelOrder, setLeverage) or `read`. */
export type FaultTarget = PaperMethod | 'any' | 'write' | 'read';

/**
 * The injectable faults:
 * - `latency`: the call takes `ms` longer; `phase` 'after' (default: the exchange processes the request,
 *   the response is late) or 'before' (the request is late; processed after the delay).
 * - `lost-response`: the call is processed (an order IS accepted / cancelled), then it throws TIMEOUT —
 *   unknown-outcome for a write, retryable for a read.
 * - `5xx`: UNAVAILABLE; for a read retryable, for a write unknown-outcome, processed first when `accepted`.
 * - `429`: RATE_LIMITED, retryable; nothing is done.
 * - `not-found-after-create`: on a createOrder that succeeds, the next `lookups` (default 1) fetchOrder /
 *   fetchOrderByClientId calls for that order answer ORDER_NOT_FOUND / null (eventual consistency).
 * - `would-trigger-immediately`: createOrder is refused with WOULD_TRIGGER_IMMEDIATELY (never-retry).
 * - `insufficient-funds`: createOrder is refused with INSUFFICIENT_FUNDS (never-retry).
 */
export type FaultKind =
  | 'latency'
  | 'lost-response'
  | '5xx'
  | '429'
  | 'not-found-after-create'
  | 'would-trigger-immediately'
  | 'insufficient-funds';

/** One fault rule. It fires on matching calls until it has fired `times` times. */
export interface FaultRule {
  kind: FaultKind;
  /** Default `any` (for the createOrder-only kinds: `createOrder`). */
  method?: FaultTarget | FaultTarget[];
  /** How many times it fires; default 1; `Infinity` = until removed. */
  times?: number;
  /** Let this many matching calls pass untouched first; default 0. */
  skip?: number;
  /** Fire with this probability (0–1) on each matching call, from the exchange's seeded source; default 1. */
  probability?: number;
  /** Only calls whose request passes this predicate match (createOrder gets the OrderRequest). */
  match?: (call: FaultCall) => boolean;
  /** Latency in ms (`latency`). */
  ms?: number;
  /** `latency`: when the delay happens (default 'after'). */
  phase?: 'before' | 'after';
  /** `latency`: use a real timer even when the clock could be advanced. */
  real?: boolean;
  /** `5xx` on a write: process the request before failing (default false). */
  accepted?: boolean;
  /** `not-found-after-create`: how many look-ups miss the new order (default 1). */
  lookups?: number;
}

/** The call a rule is matched against. */
export interface FaultCall {
  method: PaperMethod;
  request?: OrderRequest;
  orderId?: string;
}

/** A fault that fired, for assertions. */
export interface FaultEvent {
  kind: FaultKind;
  method: PaperMethod;
  at: number;
  clientOrderId?: string;
}

interface LiveRule {
  rule: FaultRule;
  fired: number;
  seen: number;
}

/** Deterministic 32-bit PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CREATE_ONLY: ReadonlySet<FaultKind> = new Set([
  'not-found-after-create',
  'would-trigger-immediately',
  'insufficient-funds',
]);

/** The fault rules of one paper exchange: add rules, they fire in the order added, and are logged. */
export class PaperFaults {
  private rules: LiveRule[] = [];
  /** Every fault that fired, oldest first. */
  readonly log: FaultEvent[] = [];
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  /** Adds a rule (validated). Returns this, for chaining. */
  add(rule: FaultRule): this {
    validateRule(rule);
    this.rules.push({ rule, fired: 0, seen: 0 });
    return this;
  }

  /** Removes every rule (the log is kept). */
  clear(): void {
    this.rules = [];
  }

  /** Rules that can still fire. */
  pending(): FaultRule[] {
    return this.rules.filter((r) => r.fired < (r.rule.times ?? 1)).map((r) => r.rule);
  }

  /** The rules firing on this call (one per kind at most), marked as fired. */
  take(call: FaultCall, at: number): FaultRule[] {
    const out: FaultRule[] = [];
    for (const live of this.rules) {
      const { rule } = live;
      if (live.fired >= (rule.times ?? 1)) continue;
      if (out.some((r) => r.kind === rule.kind)) continue;
      const targets =
        rule.method === undefined ? [CREATE_ONLY.has(rule.kind) ? 'createOrder' : 'any'] : rule.method;
      const list = Array.isArray(targets) ? targets : [targets];
      const hit = list.some(
        (t) =>
          t === 'any' ||
          t === call.method ||
          (t === 'write' && WRITE_METHODS.has(call.method)) ||
          (t === 'read' && !WRITE_METHODS.has(call.method)),
      );
      if (!hit) continue;
      if (rule.match && !rule.match(call)) continue;
      live.seen += 1;
      if (live.seen <= (rule.skip ?? 0)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      live.fired += 1;
      out.push(rule);
      const event: FaultEvent = { kind: rule.kind, method: call.method, at };
      if (call.request) event.clientOrderId = call.request.clientOrderId;
      this.log.push(event);
    }
    return out;
  }
}

function validateRule(rule: FaultRule): void {
  const kinds: FaultKind[] = [
    'latency',
    'lost-response',
    '5xx',
    '429',
    'not-found-after-create',
    'would-trigger-immediately',
    'insufficient-funds',
  ];
  if (!kinds.includes(rule.kind)) throw new TypeError(`unknown fault kind ${String(rule.kind)}`);
  const times = rule.times ?? 1;
  if (!(times === Infinity || (Number.isInteger(times) && times >= 1)))
    throw new RangeError(`fault times must be an integer ≥ 1 or Infinity, got ${String(rule.times)}`);
  if (rule.skip !== undefined && !(Number.isInteger(rule.skip) && rule.skip >= 0))
    throw new RangeError(`fault skip must be an integer ≥ 0, got ${String(rule.skip)}`);
  if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1))
    throw new RangeError(`fault probability must be between 0 and 1, got ${String(rule.probability)}`);
  if (rule.kind === 'latency' && !(Number.isFinite(rule.ms) && (rule.ms ?? -1) >= 0))
    throw new RangeError(`a latency fault needs ms ≥ 0, got ${String(rule.ms)}`);
  if (rule.lookups !== undefined && !(Number.isInteger(rule.lookups) && rule.lookups >= 1))
    throw new RangeError(`fault lookups must be an integer ≥ 1, got ${String(rule.lookups)}`);
}

// ------------------------------------------------------------------------------------------ state

interface PaperOrder {
  id: string;
  clientOrderId?: string;
  symbol: string;
  side: OrderSide;
  kind: OrderKind;
  status: OrderStatus;
  qty: Decimal;
  filled: Decimal;
  /** Σ fill qty × price. */
  cost: Decimal;
  fee: Decimal;
  price?: Decimal;
  triggerPrice?: Decimal;
  reduceOnly: boolean;
  createdAt: number;
  updatedAt: number;
}

interface PaperPosition {
  side: Side;
  qty: Decimal;
  entryPrice: Decimal;
}

/** A deep copy of the paper exchange's state. */
export interface PaperSnapshot {
  now: number;
  balance: Balance;
  /** Wallet balance: initial + realized PnL − fees. */
  wallet: Decimal;
  realizedPnl: Decimal;
  feesPaid: Decimal;
  prices: Record<string, { price: Decimal; at: number }>;
  positions: ExchangePosition[];
  /** Every order ever accepted, oldest first. */
  orders: ExchangeOrder[];
  openOrders: ExchangeOrder[];
  fills: Fill[];
  leverage: Record<string, number>;
  faults: FaultEvent[];
}

const CLIENT_ID = /^[A-Za-z0-9_-]{1,36}$/;

function invalid(message: string): ExchangeFailure {
  return new ExchangeFailure('INVALID_ORDER', 'never-retry', message);
}

function isTrigger(kind: OrderKind): boolean {
  return kind === 'stop' || kind === 'take-profit';
}

/** The paper exchange. See the file comment for the rules and the public API. */
export class PaperExchange implements ExchangePort {
  readonly exchangeId = 'paper';
  /** Fault-injection rules. */
  readonly faults: PaperFaults;

  private readonly markets: Record<string, ExchangeMarket>;
  private readonly clock: Clock;
  private readonly quote: string;
  private readonly fillOpts: FillModelOptions;
  private readonly defaultLeverage: number;
  private readonly sleeper: (ms: number) => Promise<void>;

  private wallet: Decimal;
  private realized = ZERO;
  private feesPaid = ZERO;
  private readonly prices = new Map<string, { price: Decimal; at: number }>();
  private readonly positions = new Map<string, PaperPosition>();
  private readonly leverage = new Map<string, number>();
  private readonly orders = new Map<string, PaperOrder>();
  private readonly fills: Fill[] = [];
  private readonly candles = new Map<string, Candle[]>();
  /** orderId → look-ups still to miss (not-found-after-create). */
  private readonly hidden = new Map<string, number>();
  private nextOrderId = 1;
  private nextFillId = 1;

  constructor(options: PaperExchangeOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    if (typeof options.clock?.now !== 'function') throw new TypeError('options.clock must be a Clock');
    this.clock = options.clock;
    this.markets = {};
    for (const [symbol, cfg] of Object.entries(options.markets ?? {}))
      this.markets[symbol] = toMarket(symbol, cfg);
    if (Object.keys(this.markets).length === 0)
      throw new RangeError('the paper exchange needs at least one market');
    this.quote = options.quoteCurrency ?? 'USDT';
    this.wallet = dec(options.initialBalance ?? '10000', 'initialBalance');
    if (this.wallet.lt(0)) throw new RangeError(`initialBalance must be ≥ 0, got ${this.wallet.toFixed()}`);
    this.fillOpts = {
      slippageBps: options.fill?.slippageBps ?? ZERO,
      takerFeeRate: options.fill?.takerFeeRate ?? new D('0.0005'),
      makerFeeRate: options.fill?.makerFeeRate ?? new D('0.0002'),
    };
    if (options.fill?.maxParticipation !== undefined)
      this.fillOpts.maxParticipation = options.fill.maxParticipation;
    // Validates the options through the fill model itself.
    marketFill('buy', new D(1), new D(1), this.fillOpts);
    const lev = options.defaultLeverage ?? 10;
    if (!Number.isInteger(lev) || lev < 1)
      throw new RangeError(`defaultLeverage must be an integer ≥ 1, got ${lev}`);
    this.defaultLeverage = lev;
    this.faults = new PaperFaults(options.seed ?? 1);
    const clock = this.clock as Clock & { advance?: (ms: number) => void };
    this.sleeper =
      options.sleep ??
      (typeof clock.advance === 'function'
        ? (ms: number) => {
            clock.advance?.(ms);
            return Promise.resolve();
          }
        : realDelay);
  }

  // ---------------------------------------------------------------------------------------- the port

  loadMarkets(): Promise<Record<string, ExchangeMarket>> {
    return this.run('loadMarkets', {}, () => ({ ...this.markets }));
  }

  fetchTicker(symbol: string): Promise<Ticker> {
    return this.run('fetchTicker', {}, () => this.ticker(symbol));
  }

  fetchTickers(symbols: readonly string[]): Promise<Record<string, Ticker>> {
    return this.run('fetchTickers', {}, () => {
      const out: Record<string, Ticker> = {};
      for (const s of symbols) out[s] = this.ticker(s);
      return out;
    });
  }

  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    return this.run('fetchOHLCV', {}, () => {
      this.market(symbol);
      const all = (this.candles.get(symbol) ?? []).filter((c) => since === undefined || c.openTime >= since);
      void timeframe; // the paper exchange returns the candles it was advanced with, whatever their interval
      return limit === undefined ? all : all.slice(0, limit);
    });
  }

  fetchBalance(): Promise<Balance> {
    return this.run('fetchBalance', {}, () => this.balance());
  }

  fetchPositions(symbols?: readonly string[]): Promise<ExchangePosition[]> {
    return this.run('fetchPositions', {}, () => this.positionList(symbols));
  }

  setLeverage(symbol: string, leverage: number): Promise<void> {
    return this.run('setLeverage', {}, () => {
      const market = this.market(symbol);
      const max = market.maxLeverage ?? 125;
      if (!Number.isInteger(leverage) || leverage < 1 || leverage > max) {
        throw invalid(`leverage for ${symbol} must be an integer from 1 to ${max}, got ${String(leverage)}`);
      }
      this.leverage.set(symbol, leverage);
    });
  }

  createOrder(request: OrderRequest): Promise<ExchangeOrder> {
    return this.run('createOrder', { request }, (rules) => {
      if (rules.some((r) => r.kind === 'would-trigger-immediately'))
        throw new ExchangeFailure(
          'WOULD_TRIGGER_IMMEDIATELY',
          'never-retry',
          'Order would immediately trigger (injected)',
        );
      if (rules.some((r) => r.kind === 'insufficient-funds'))
        throw new ExchangeFailure('INSUFFICIENT_FUNDS', 'never-retry', 'Margin is insufficient (injected)');
      const order = this.create(request);
      const nf = rules.find((r) => r.kind === 'not-found-after-create');
      if (nf) this.hidden.set(order.id, nf.lookups ?? 1);
      return toExchangeOrder(order);
    });
  }

  cancelOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder> {
    return this.run('cancelOrder', { orderId }, () => toExchangeOrder(this.cancel(orderId, lookup)));
  }

  fetchOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder> {
    return this.run('fetchOrder', { orderId }, () => {
      const order = this.orders.get(orderId);
      if (!order || order.symbol !== lookup.symbol || this.consumeHidden(order.id))
        throw new ExchangeFailure(
          'ORDER_NOT_FOUND',
          'never-retry',
          `order ${orderId} not found on ${lookup.symbol}`,
        );
      return toExchangeOrder(order);
    });
  }

  fetchOrderByClientId(clientOrderId: string, lookup: OrderLookup): Promise<ExchangeOrder | null> {
    return this.run('fetchOrderByClientId', {}, () => {
      const order = this.byClientId(clientOrderId, lookup.symbol);
      if (!order || this.consumeHidden(order.id)) return null;
      return toExchangeOrder(order);
    });
  }

  fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]> {
    return this.run('fetchOpenOrders', {}, () =>
      [...this.orders.values()]
        .filter((o) => o.status === 'open' && (symbol === undefined || o.symbol === symbol))
        .map(toExchangeOrder),
    );
  }

  fetchMyTrades(symbol: string, since?: number): Promise<Fill[]> {
    return this.run('fetchMyTrades', {}, () =>
      this.fills.filter((f) => f.symbol === symbol && (since === undefined || f.at >= since)).map(copyFill),
    );
  }

  // ---------------------------------------------------------------------------------------- control API

  /** Sets the last price of `symbol` at `at` (default: now) and works resting orders against it. */
  setPrice(symbol: string, price: DecimalInput, at?: number, volume?: DecimalInput): Fill[] {
    const market = this.market(symbol);
    const p = dec(price, 'price');
    if (!p.gt(0)) throw new RangeError(`price must be > 0, got ${p.toFixed()}`);
    const t = at ?? this.clock.now();
    if (!Number.isSafeInteger(t)) throw new RangeError(`at must be an integer epoch ms, got ${String(t)}`);
    const candle: Candle = {
      openTime: t,
      intervalMs: 1,
      open: p,
      high: p,
      low: p,
      close: p,
      volume: volume === undefined ? ZERO : dec(volume, 'volume'),
    };
    const fills = this.work(market, candle, volume === undefined);
    this.prices.set(symbol, { price: p, at: t });
    return fills;
  }

  /** Works resting orders of `symbol` against `candle`, then sets the last price to its close. */
  advance(symbol: string, candle: Candle): Fill[] {
    const market = this.market(symbol);
    const fills = this.work(market, candle, false);
    const list = this.candles.get(symbol) ?? [];
    list.push(candle);
    this.candles.set(symbol, list);
    this.prices.set(symbol, { price: candle.close, at: candle.openTime + candle.intervalMs - 1 });
    return fills;
  }

  /** Every order ever accepted with this client order id (any status), oldest first. */
  ordersWithClientId(clientOrderId: string): ExchangeOrder[] {
    return [...this.orders.values()].filter((o) => o.clientOrderId === clientOrderId).map(toExchangeOrder);
  }

  /** A deep copy of the state, for assertions. */
  snapshot(): PaperSnapshot {
    const prices: PaperSnapshot['prices'] = {};
    for (const [s, p] of this.prices) prices[s] = { ...p };
    const leverage: Record<string, number> = {};
    for (const s of Object.keys(this.markets)) leverage[s] = this.leverageOf(s);
    const orders = [...this.orders.values()].map(toExchangeOrder);
    return {
      now: this.clock.now(),
      balance: this.balance(),
      wallet: this.wallet,
      realizedPnl: this.realized,
      feesPaid: this.feesPaid,
      prices,
      positions: this.positionList(),
      orders,
      openOrders: orders.filter((o) => o.status === 'open'),
      fills: this.fills.map(copyFill),
      leverage,
      faults: this.faults.log.map((e) => ({ ...e })),
    };
  }

  /** Opens (or adds to) a position outside the engine, at `price` (default the last price), with no fee. */
  openPositionExternally(
    symbol: string,
    side: Side,
    qty: DecimalInput,
    price?: DecimalInput,
  ): ExchangePosition {
    this.market(symbol);
    const q = dec(qty, 'qty');
    if (!q.gt(0)) throw new RangeError(`qty must be > 0, got ${q.toFixed()}`);
    const p = price === undefined ? this.lastPrice(symbol) : dec(price, 'price');
    this.applyFill(symbol, side === 'long' ? 'buy' : 'sell', q, p, ZERO, false, 'external', undefined);
    const pos = this.positionList([symbol])[0];
    if (!pos) throw new Error('unreachable: position missing after external open');
    return pos;
  }

  /** Closes `qty` (default all) of the position outside the engine, at the last price, with no fee. */
  closePositionExternally(symbol: string, qty?: DecimalInput): void {
    const pos = this.positions.get(symbol);
    if (!pos) throw new RangeError(`no position on ${symbol} to close`);
    const q = qty === undefined ? pos.qty : dec(qty, 'qty');
    if (!q.gt(0) || q.gt(pos.qty))
      throw new RangeError(`qty to close must be > 0 and ≤ ${pos.qty.toFixed()}, got ${q.toFixed()}`);
    this.applyFill(
      symbol,
      pos.side === 'long' ? 'sell' : 'buy',
      q,
      this.lastPrice(symbol),
      ZERO,
      true,
      'external',
      undefined,
    );
  }

  /** Cancels an open order outside the engine (as a user would in the exchange's UI). */
  cancelOrderExternally(orderId: string): ExchangeOrder {
    const order = this.orders.get(orderId);
    if (!order) throw new RangeError(`order ${orderId} does not exist`);
    return toExchangeOrder(this.cancel(orderId, { symbol: order.symbol, trigger: isTrigger(order.kind) }));
  }

  // ---------------------------------------------------------------------------------------- internals

  /** Runs one port call through the fault rules. */
  private async run<T>(
    method: PaperMethod,
    call: { request?: OrderRequest; orderId?: string },
    fn: (rules: FaultRule[]) => T,
  ): Promise<T> {
    const rules = this.faults.take({ method, ...call }, this.clock.now());
    const write = WRITE_METHODS.has(method);
    const latency = rules.find((r) => r.kind === 'latency');
    const wait = async (r: FaultRule) => (r.real === true ? realDelay(r.ms ?? 0) : this.sleeper(r.ms ?? 0));
    if (latency && latency.phase === 'before') await wait(latency);
    if (rules.some((r) => r.kind === '429'))
      throw new ExchangeFailure('RATE_LIMITED', 'retryable', `${method}: 429 Too Many Requests (injected)`);
    const fivexx = rules.find((r) => r.kind === '5xx');
    if (fivexx && !(write && fivexx.accepted === true)) {
      throw new ExchangeFailure(
        'UNAVAILABLE',
        write ? 'unknown-outcome' : 'retryable',
        `${method}: 503 Service Unavailable (injected)`,
      );
    }
    const result = fn(rules);
    if (latency && latency.phase !== 'before') await wait(latency);
    if (fivexx)
      throw new ExchangeFailure(
        'UNAVAILABLE',
        'unknown-outcome',
        `${method}: 503 after the request was processed (injected)`,
      );
    if (rules.some((r) => r.kind === 'lost-response')) {
      throw new ExchangeFailure(
        'TIMEOUT',
        write ? 'unknown-outcome' : 'retryable',
        `${method}: response lost (injected)`,
      );
    }
    return result;
  }

  private market(symbol: string): ExchangeMarket {
    const m = this.markets[symbol];
    if (!m) throw new ExchangeFailure('INVALID_ORDER', 'never-retry', `unknown symbol ${String(symbol)}`);
    return m;
  }

  private lastPrice(symbol: string): Decimal {
    const p = this.prices.get(symbol);
    if (!p)
      throw new ExchangeFailure(
        'UNAVAILABLE',
        'retryable',
        `no price for ${symbol} yet (call setPrice first)`,
      );
    return p.price;
  }

  private ticker(symbol: string): Ticker {
    this.market(symbol);
    const p = this.prices.get(symbol);
    if (!p)
      throw new ExchangeFailure(
        'UNAVAILABLE',
        'retryable',
        `no price for ${symbol} yet (call setPrice first)`,
      );
    return { symbol, last: p.price, bid: p.price, ask: p.price, at: p.at };
  }

  private leverageOf(symbol: string): number {
    const max = this.markets[symbol]?.maxLeverage ?? this.defaultLeverage;
    return this.leverage.get(symbol) ?? Math.min(this.defaultLeverage, max);
  }

  private used(): Decimal {
    let used = ZERO;
    for (const [symbol, pos] of this.positions)
      used = used.plus(pos.qty.mul(pos.entryPrice).div(this.leverageOf(symbol)));
    for (const o of this.orders.values()) {
      if (o.status === 'open' && o.kind === 'limit' && !o.reduceOnly && o.price)
        used = used.plus(o.qty.minus(o.filled).mul(o.price).div(this.leverageOf(o.symbol)));
    }
    return used;
  }

  private balance(): Balance {
    const used = this.used();
    return { currency: this.quote, total: this.wallet, used, free: this.wallet.minus(used) };
  }

  private positionList(symbols?: readonly string[]): ExchangePosition[] {
    const out: ExchangePosition[] = [];
    for (const [symbol, pos] of this.positions) {
      if (symbols && !symbols.includes(symbol)) continue;
      const p: ExchangePosition = {
        symbol,
        side: pos.side,
        qty: pos.qty,
        entryPrice: pos.entryPrice,
        leverage: this.leverageOf(symbol),
      };
      const mark = this.prices.get(symbol)?.price;
      if (mark) {
        p.markPrice = mark;
        p.unrealizedPnl = mark
          .minus(pos.entryPrice)
          .mul(pos.qty)
          .mul(pos.side === 'long' ? 1 : -1);
      }
      out.push(p);
    }
    return out;
  }

  private byClientId(clientOrderId: string, symbol: string): PaperOrder | undefined {
    let found: PaperOrder | undefined;
    for (const o of this.orders.values()) {
      if (o.clientOrderId !== clientOrderId || o.symbol !== symbol) continue;
      if (!found || o.status === 'open') found = o; // the open one, else the newest
    }
    return found;
  }

  private consumeHidden(orderId: string): boolean {
    const left = this.hidden.get(orderId);
    if (left === undefined) return false;
    if (left <= 1) this.hidden.delete(orderId);
    else this.hidden.set(orderId, left - 1);
    return true;
  }

  /** Signed position (+ long, − short). */
  private net(symbol: string): Decimal {
    const pos = this.positions.get(symbol);
    if (!pos) return ZERO;
    return pos.side === 'long' ? pos.qty : pos.qty.neg();
  }

  /** Quantity of an order that would open (or extend) a position, after reducing the current one. */
  private openingQty(symbol: string, side: OrderSide, qty: Decimal): Decimal {
    const net = this.net(symbol);
    const against = side === 'buy' ? net.lt(0) : net.gt(0);
    return against ? qty.minus(dmin(qty, net.abs())) : qty;
  }

  private requireMargin(symbol: string, side: OrderSide, qty: Decimal, price: Decimal): void {
    const opening = this.openingQty(symbol, side, qty);
    if (!opening.gt(0)) return;
    const need = opening
      .mul(price)
      .div(this.leverageOf(symbol))
      .plus(opening.mul(price).mul(this.fillOpts.takerFeeRate));
    const free = this.balance().free;
    if (need.gt(free)) {
      throw new ExchangeFailure(
        'INSUFFICIENT_FUNDS',
        'never-retry',
        `margin is insufficient: ${symbol} ${side} ${opening.toFixed()} needs ${need.toFixed()} ${this.quote}, free ${free.toFixed()}`,
      );
    }
  }

  private validate(request: OrderRequest, market: ExchangeMarket): void {
    if (typeof request !== 'object' || request === null) throw invalid('order request must be an object');
    if (request.side !== 'buy' && request.side !== 'sell')
      throw invalid(`side must be buy or sell, got ${String(request.side)}`);
    const kinds: OrderKind[] = ['market', 'limit', 'stop', 'take-profit'];
    if (!kinds.includes(request.kind)) throw invalid(`unknown order kind ${String(request.kind)}`);
    if (typeof request.clientOrderId !== 'string' || !CLIENT_ID.test(request.clientOrderId))
      throw invalid(
        `clientOrderId must be 1–36 characters of [A-Za-z0-9_-], got ${String(request.clientOrderId)}`,
      );
    if (typeof request.reduceOnly !== 'boolean') throw invalid('reduceOnly must be a boolean');
    if (!D.isDecimal(request.qty) || !request.qty.isFinite() || !request.qty.gt(0))
      throw invalid(`qty must be a positive Decimal, got ${String(request.qty)}`);
    const q = request.qty;
    if (!roundToStep(q, market.lotStep, 'down').eq(q))
      throw invalid(`qty ${q.toFixed()} is not a multiple of the lot step ${market.lotStep.toFixed()}`);
    if (q.lt(market.minQty))
      throw invalid(`qty ${q.toFixed()} is below the minimum ${market.minQty.toFixed()}`);
    if (market.maxQty && q.gt(market.maxQty))
      throw invalid(`qty ${q.toFixed()} is above the maximum ${market.maxQty.toFixed()}`);
    const checkPrice = (p: Decimal | undefined, what: string): Decimal => {
      if (!p || !D.isDecimal(p) || !p.isFinite() || !p.gt(0))
        throw invalid(`${what} must be a positive Decimal for a ${request.kind} order`);
      if (!roundToStep(p, market.tickSize, 'down').eq(p))
        throw invalid(`${what} ${p.toFixed()} is not a multiple of the tick ${market.tickSize.toFixed()}`);
      return p;
    };
    if (request.kind === 'limit') checkPrice(request.price, 'price');
    if (isTrigger(request.kind)) checkPrice(request.triggerPrice, 'triggerPrice');
  }

  private create(request: OrderRequest): PaperOrder {
    const market = this.market(request.symbol);
    this.validate(request, market);
    const symbol = market.symbol;
    for (const o of this.orders.values()) {
      if (o.status === 'open' && o.clientOrderId === request.clientOrderId) {
        throw new ExchangeFailure(
          'DUPLICATE_CLIENT_ORDER_ID',
          'never-retry',
          `client order id ${request.clientOrderId} is already used by open order ${o.id}`,
        );
      }
    }
    const last = this.lastPrice(symbol);
    const now = this.clock.now();
    let qty = request.qty;
    const notionalPrice =
      request.kind === 'limit'
        ? (request.price ?? last)
        : isTrigger(request.kind)
          ? (request.triggerPrice ?? last)
          : last;
    if (!request.reduceOnly && qty.mul(notionalPrice).lt(market.minNotional)) {
      throw invalid(
        `notional ${qty.mul(notionalPrice).toFixed()} is below the minimum ${market.minNotional.toFixed()}`,
      );
    }
    if (request.reduceOnly && request.kind === 'market') {
      const net = this.net(symbol);
      const reduces = request.side === 'sell' ? net.gt(0) : net.lt(0);
      if (!reduces) throw invalid(`reduce-only ${request.side} on ${symbol} has no position to reduce`);
      qty = dmin(qty, net.abs());
    }
    if (isTrigger(request.kind)) {
      const t = request.triggerPrice ?? last;
      const falls = (request.kind === 'stop') === (request.side === 'sell'); // triggers when price falls to t
      if (falls ? last.lte(t) : last.gte(t)) {
        throw new ExchangeFailure(
          'WOULD_TRIGGER_IMMEDIATELY',
          'never-retry',
          `Order would immediately trigger: ${request.side} ${request.kind} at ${t.toFixed()} with last price ${last.toFixed()}`,
        );
      }
    }
    if (!request.reduceOnly) {
      this.requireMargin(
        symbol,
        request.side,
        qty,
        request.kind === 'limit' ? (request.price ?? last) : last,
      );
    }
    const order: PaperOrder = {
      id: String(this.nextOrderId++),
      clientOrderId: request.clientOrderId,
      symbol,
      side: request.side,
      kind: request.kind,
      status: 'open',
      qty: request.qty,
      filled: ZERO,
      cost: ZERO,
      fee: ZERO,
      reduceOnly: request.reduceOnly,
      createdAt: now,
      updatedAt: now,
    };
    if (request.kind === 'limit') order.price = request.price;
    if (isTrigger(request.kind)) order.triggerPrice = request.triggerPrice;
    this.orders.set(order.id, order);

    if (request.kind === 'market') {
      const f = marketFill(request.side, qty, last, this.fillOpts, market.tickSize);
      this.fillOrder(order, f.qty, f.price, f.fee, now);
      order.status = 'closed';
    } else if (request.kind === 'limit') {
      // A marketable limit fills at once at the last price (through the fill model: a gap at the open).
      const marketable =
        request.side === 'buy' ? last.lte(order.price ?? last) : last.gte(order.price ?? last);
      if (marketable) {
        const candle: Candle = {
          openTime: now,
          intervalMs: 1,
          open: last,
          high: last,
          low: last,
          close: last,
          volume: ZERO,
        };
        this.workOrders(market, [order], candle, true);
      }
    }
    return order;
  }

  private cancel(orderId: string, lookup: OrderLookup): PaperOrder {
    const order = this.orders.get(orderId);
    if (!order || order.symbol !== lookup.symbol)
      throw new ExchangeFailure(
        'ORDER_NOT_FOUND',
        'never-retry',
        `order ${orderId} not found on ${lookup.symbol}`,
      );
    if (order.status !== 'open')
      throw new ExchangeFailure(
        'ORDER_NOT_FOUND',
        'never-retry',
        `order ${orderId} is ${order.status}, not open (Unknown order sent)`,
      );
    order.status = 'canceled';
    order.updatedAt = this.clock.now();
    return order;
  }

  /** Works every open resting order of the market against a candle. */
  private work(market: ExchangeMarket, candle: Candle, unlimitedVolume: boolean): Fill[] {
    const open = [...this.orders.values()].filter(
      (o) => o.status === 'open' && o.symbol === market.symbol && o.kind !== 'market',
    );
    return this.workOrders(market, open, candle, unlimitedVolume);
  }

  private workOrders(
    market: ExchangeMarket,
    open: PaperOrder[],
    candle: Candle,
    unlimitedVolume: boolean,
  ): Fill[] {
    if (open.length === 0) return [];
    const resting: RestingOrder[] = open.map((o) => ({
      id: o.id,
      kind: o.kind === 'market' ? 'limit' : o.kind,
      side: o.side,
      qty: o.qty.minus(o.filled),
      price: (o.kind === 'limit' ? o.price : o.triggerPrice) ?? ZERO,
      reduceOnly: o.reduceOnly,
    }));
    const pos = this.positions.get(market.symbol);
    const opts: FillModelOptions = { ...this.fillOpts };
    if (unlimitedVolume) delete opts.maxParticipation;
    const context = pos ? { positionQty: pos.qty, lotStep: market.lotStep } : { lotStep: market.lotStep };
    const fills = evaluateCandle(resting, candle, pos?.side ?? null, opts, market.tickSize, context);
    const out: Fill[] = [];
    for (const f of fills) {
      const order = this.orders.get(f.orderId);
      if (!order) continue;
      out.push(this.fillOrder(order, f.qty, f.price, f.fee, f.at));
      if (isTrigger(order.kind) || !order.filled.lt(order.qty)) order.status = 'closed';
    }
    return out;
  }

  private fillOrder(order: PaperOrder, qty: Decimal, price: Decimal, fee: Decimal, at: number): Fill {
    order.filled = order.filled.plus(qty);
    order.cost = order.cost.plus(qty.mul(price));
    order.fee = order.fee.plus(fee);
    order.updatedAt = at;
    return this.applyFill(
      order.symbol,
      order.side,
      qty,
      price,
      fee,
      order.reduceOnly,
      order.id,
      order.clientOrderId,
      at,
    );
  }

  /** Books a fill: position, realized PnL, fee, and the fill record. */
  private applyFill(
    symbol: string,
    side: OrderSide,
    qty: Decimal,
    price: Decimal,
    fee: Decimal,
    reduceOnly: boolean,
    orderId: string,
    clientOrderId: string | undefined,
    at = this.clock.now(),
  ): Fill {
    const pos = this.positions.get(symbol);
    const fillSide: Side = side === 'buy' ? 'long' : 'short';
    if (!pos) {
      this.positions.set(symbol, { side: fillSide, qty, entryPrice: price });
    } else if (pos.side === fillSide) {
      const total = pos.qty.plus(qty);
      pos.entryPrice = pos.qty.mul(pos.entryPrice).plus(qty.mul(price)).div(total);
      pos.qty = total;
    } else {
      const reduce = dmin(qty, pos.qty);
      const pnl = price
        .minus(pos.entryPrice)
        .mul(reduce)
        .mul(pos.side === 'long' ? 1 : -1);
      this.wallet = this.wallet.plus(pnl);
      this.realized = this.realized.plus(pnl);
      const left = pos.qty.minus(reduce);
      const flip = qty.minus(reduce);
      if (left.gt(0)) pos.qty = left;
      else if (flip.gt(0) && !reduceOnly)
        this.positions.set(symbol, { side: fillSide, qty: flip, entryPrice: price });
      else this.positions.delete(symbol);
    }
    this.wallet = this.wallet.minus(fee);
    this.feesPaid = this.feesPaid.plus(fee);
    const fill: Fill = {
      id: `f${this.nextFillId++}`,
      orderId,
      symbol,
      side,
      qty,
      price,
      fee,
      at,
      reduceOnly,
    };
    if (clientOrderId !== undefined) fill.clientOrderId = clientOrderId;
    this.fills.push(fill);
    return copyFill(fill);
  }
}

function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function copyFill(f: Fill): Fill {
  return { ...f };
}

function toExchangeOrder(o: PaperOrder): ExchangeOrder {
  const out: ExchangeOrder = {
    id: o.id,
    symbol: o.symbol,
    side: o.side,
    kind: o.kind,
    status: o.status,
    qty: o.qty,
    filledQty: o.filled,
    reduceOnly: o.reduceOnly,
    createdAt: o.createdAt,
    fee: o.fee,
  };
  if (o.clientOrderId !== undefined) out.clientOrderId = o.clientOrderId;
  if (o.filled.gt(0)) out.avgPrice = o.cost.div(o.filled);
  if (o.price) out.price = o.price;
  if (o.triggerPrice) out.triggerPrice = o.triggerPrice;
  return out;
}
