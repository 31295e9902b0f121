/**
 * The ccxt adapter: an {@link ExchangePort} over one ccxt exchange class (binanceusdm, bybit, okx).
 *
 * The class takes the ccxt exchange constructor as an argument, so a Lambda bundle that imports
 * `./binanceusdm.js` contains Binance's code only (each exchange module imports its own class by deep
 * path, never ccxt's root). Conventions at the boundary:
 * - quantities on the port are in the base asset; ccxt amounts are in contracts, so both directions are
 *   converted with the market's contract size (1 on Binance and Bybit linear perpetuals, e.g. 0.01 on OKX);
 * - numbers from ccxt become `Decimal` through their shortest decimal string (`new D(String(n))`), which
 *   is the exchange's own string for every value with at most 15 significant digits;
 * - prices and quantities sent are first rounded to the market's precision in the safe direction
 *   (see {@link roundOrderRequest}), so ccxt's own rounding never moves them;
 * - every call has ccxt's `timeout` (default 5000 ms); every error becomes an `ExchangeFailure`
 *   (`./errors.ts`) with the credentials redacted. The adapter never retries: retry policy belongs to the
 *   caller, which knows whether the call was a read or a write.
 */
import type { Exchange } from 'ccxt/js/src/base/Exchange.js';
import type {
  MarketInterface,
  Order,
  Position,
  Ticker as CcxtTicker,
  Trade,
} from 'ccxt/js/src/base/types.js';
import { D, roundToStep, ZERO } from '../../core/decimal.js';
import type { Decimal } from '../../core/decimal.js';
import type { Candle } from '../../core/types.js';
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
  OrderStatus,
  Ticker,
} from '../../ports/exchange.js';
import type { CredentialsProvider, ExchangeCredentials } from './credentials.js';
import { toExchangeFailure } from './errors.js';
import type { CallContext } from './errors.js';

/** A ccxt exchange class (`binanceusdm`, `bybit`, `okx`, … imported from `ccxt/js/src/<id>.js`). */
export type CcxtExchangeClass = new (config?: Record<string, unknown>) => Exchange;

/** The per-exchange settings that differ between ccxt exchange classes. */
export interface CcxtExchangeProfile {
  /** ccxt options merged into the exchange's `options` (market types to load, warnings to silence). */
  ccxtOptions: Record<string, unknown>;
  /** Extra params for `fetchOrder` (Bybit needs `acknowledged: true`). */
  fetchOrderParams?: Record<string, unknown>;
  /** The margin (settlement) currency whose balance `fetchBalance` reports. */
  settleCurrency: string;
}

/** How the adapter is built. */
export interface CcxtExchangeOptions {
  /** The account whose credentials the provider returns. */
  accountId: string;
  credentials: CredentialsProvider;
  /** Timeout of every HTTP request in ms (ccxt's `timeout`); default 5000. */
  timeoutMs?: number;
  /** Replaces ccxt's HTTP client, e.g. to rewrite the host to a local stub in tests. */
  fetchImplementation?: (url: string, init?: RequestInit) => Promise<Response>;
  /** ccxt's rate limiter (on by default; tests against a stub turn it off). */
  enableRateLimit?: boolean;
  /** Extra ccxt options merged over the profile's (rarely needed). */
  ccxtOptions?: Record<string, unknown>;
  /** Overrides the profile's settlement currency. */
  settleCurrency?: string;
}

/** Default request timeout (ms). */
export const DEFAULT_TIMEOUT_MS = 5000;

/** Converts a ccxt number (or numeric string) to a Decimal; `undefined`/`null` stay undefined. */
export function fromCcxtNumber(n: number | string | undefined | null): Decimal | undefined {
  if (n === undefined || n === null || n === '') return undefined;
  if (typeof n === 'number' && !Number.isFinite(n)) return undefined;
  return new D(String(n));
}

function req(n: number | string | undefined | null, what: string): Decimal {
  const d = fromCcxtNumber(n);
  if (d === undefined) throw new TypeError(`ccxt response has no ${what}`);
  return d;
}

/** Milliseconds in a ccxt timeframe such as `1m`, `5m`, `1h`, `1d`, `1w`. */
export function timeframeMs(timeframe: string): number {
  const m = /^(\d+)([smhdwM])$/.exec(timeframe);
  if (m === null) throw new RangeError(`unknown timeframe "${timeframe}" (expected e.g. 1m, 5m, 1h, 1d)`);
  const unit: Record<string, number> = {
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
    M: 2_592_000_000,
  };
  return Number(m[1]) * (unit[m[2] ?? ''] ?? 0);
}

/**
 * Rounds an order's quantity and prices to the market's precision in the safe direction:
 * the quantity down to the lot step (never more than asked); a buy limit price down and a sell limit
 * price up (never a worse price); a stop trigger towards the position (a sell stop — closing a long —
 * up, a buy stop down: the stop is never looser than asked); a take-profit trigger towards the current
 * price (a sell take-profit down, a buy one up: it triggers no later than asked). Rejects a quantity
 * below the minimum with a never-retry `INVALID_ORDER`.
 */
export function roundOrderRequest(request: OrderRequest, market: ExchangeMarket): OrderRequest {
  const qty = roundToStep(request.qty, market.lotStep, 'down');
  if (!qty.gt(ZERO) || qty.lt(market.minQty)) {
    throw new ExchangeFailure(
      'INVALID_ORDER',
      'never-retry',
      `${request.clientOrderId}: quantity ${request.qty.toFixed()} rounds to ${qty.toFixed()}, below the minimum ${market.minQty.toFixed()} of ${market.symbol}`,
    );
  }
  const out: OrderRequest = { ...request, qty };
  if (request.price !== undefined) {
    out.price = roundToStep(request.price, market.tickSize, request.side === 'buy' ? 'down' : 'up');
  }
  if (request.triggerPrice !== undefined) {
    const sellUp = request.kind === 'stop';
    const up = request.side === 'sell' ? sellUp : !sellUp;
    out.triggerPrice = roundToStep(request.triggerPrice, market.tickSize, up ? 'up' : 'down');
  }
  return out;
}

/** Validates an order request's shape (the port's rules), throwing a never-retry INVALID_ORDER. */
export function checkOrderRequest(r: OrderRequest): void {
  const bad = (why: string): never => {
    throw new ExchangeFailure('INVALID_ORDER', 'never-retry', `order ${r.clientOrderId}: ${why}`);
  };
  if (!/^[A-Za-z0-9_-]{1,36}$/.test(r.clientOrderId)) {
    bad('clientOrderId must be 1–36 characters of [A-Za-z0-9_-]');
  }
  if (!r.qty.isFinite() || !r.qty.gt(ZERO)) bad(`qty must be positive, got ${r.qty.toString()}`);
  if (r.kind === 'limit' && r.price === undefined) bad('a limit order needs a price');
  if (r.kind !== 'limit' && r.price !== undefined) bad(`a ${r.kind} order takes no limit price`);
  if (r.kind === 'stop' || r.kind === 'take-profit') {
    if (r.triggerPrice === undefined) bad(`a ${r.kind} order needs a triggerPrice`);
    if (!r.reduceOnly) bad(`a ${r.kind} order must be reduce-only`);
  } else if (r.triggerPrice !== undefined) {
    bad(`a ${r.kind} order takes no triggerPrice`);
  }
  for (const [what, v] of [
    ['price', r.price],
    ['triggerPrice', r.triggerPrice],
  ] as const) {
    if (v !== undefined && (!v.isFinite() || !v.gt(ZERO)))
      bad(`${what} must be positive, got ${v.toString()}`);
  }
}

const TAKE_PROFIT_TEXT = /TAKE_?PROFIT|TakeProfit|tpTrigger/i;

/** Which port kind a ccxt order is (stop and take-profit told apart by ccxt's fields, then the raw payload). */
function orderKind(o: Order): OrderKind {
  const trigger = o.triggerPrice ?? o.stopPrice ?? o.stopLossPrice ?? o.takeProfitPrice;
  if (o.takeProfitPrice !== undefined && o.stopLossPrice === undefined) return 'take-profit';
  if (trigger !== undefined) {
    const info = (o.info ?? {}) as Record<string, unknown>;
    const text = ['type', 'orderType', 'origType', 'stopOrderType', 'ordType', 'tpTriggerPx']
      .map((k) => {
        const v = info[k];
        if (k === 'tpTriggerPx') return typeof v === 'string' && v !== '' ? 'tpTrigger' : '';
        return typeof v === 'string' ? v : '';
      })
      .join(' ');
    return TAKE_PROFIT_TEXT.test(text) ? 'take-profit' : 'stop';
  }
  return o.type === 'limit' ? 'limit' : 'market';
}

function orderStatus(s: string | undefined, fallback: OrderStatus): OrderStatus {
  switch (s) {
    case 'open':
    case 'closed':
    case 'canceled':
    case 'rejected':
    case 'expired':
      return s;
    case 'cancelled':
      return 'canceled';
    case undefined:
    default:
      return fallback;
  }
}

/** An ExchangePort over a ccxt exchange instance. */
export class CcxtExchange implements ExchangePort {
  readonly exchangeId: string;
  /** The ccxt instance (exposed for tests and diagnostics; do not log it: it holds the credentials). */
  readonly ccxt: Exchange;
  private readonly settleCurrency: string;
  private credentials: ExchangeCredentials | undefined;
  private credentialsLoading: Promise<void> | undefined;
  private markets: Record<string, ExchangeMarket> | undefined;

  constructor(
    ExchangeClass: CcxtExchangeClass,
    private readonly profile: CcxtExchangeProfile,
    private readonly opts: CcxtExchangeOptions,
  ) {
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout <= 0) {
      throw new RangeError(`timeoutMs must be a positive integer, got ${String(opts.timeoutMs)}`);
    }
    if (opts.accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
    this.ccxt = new ExchangeClass({
      timeout,
      enableRateLimit: opts.enableRateLimit ?? true,
      options: { fetchCurrencies: false, ...profile.ccxtOptions, ...opts.ccxtOptions },
    });
    if (opts.fetchImplementation !== undefined) {
      (this.ccxt as unknown as { fetchImplementation: unknown }).fetchImplementation =
        opts.fetchImplementation;
    }
    this.exchangeId = this.ccxt.id;
    this.settleCurrency = opts.settleCurrency ?? profile.settleCurrency;
  }

  // ---- plumbing ----

  private secrets(): (string | undefined)[] {
    const c = this.credentials;
    return c === undefined ? [] : [c.apiKey, c.secret, c.password];
  }

  /** Loads the credentials once, before the first private call; a failure is an AUTHENTICATION error. */
  private async ensureCredentials(): Promise<void> {
    if (this.credentials !== undefined) return;
    this.credentialsLoading ??= (async () => {
      try {
        const c = await this.opts.credentials.getCredentials(this.exchangeId, this.opts.accountId);
        this.credentials = c;
        this.ccxt.apiKey = c.apiKey;
        this.ccxt.secret = c.secret;
        if (c.password !== undefined) this.ccxt.password = c.password;
      } catch (e) {
        throw new ExchangeFailure(
          'AUTHENTICATION',
          'never-retry',
          `${this.exchangeId}: credentials of account ${this.opts.accountId} unavailable: ${e instanceof Error ? e.name : 'error'}`,
          e,
        );
      } finally {
        this.credentialsLoading = undefined;
      }
    })();
    await this.credentialsLoading;
  }

  /** Runs one ccxt call, translating every error into an ExchangeFailure. */
  private async call<T>(ctx: CallContext, privateCall: boolean, fn: () => Promise<T>): Promise<T> {
    if (privateCall) await this.ensureCredentials();
    try {
      return await fn();
    } catch (e) {
      const failure = toExchangeFailure(e, this.exchangeId, ctx, this.secrets());
      if (failure.code === 'AUTHENTICATION') {
        // let a rotated key be picked up by the next call
        this.credentials = undefined;
      }
      throw failure;
    }
  }

  private async market(symbol: string): Promise<ExchangeMarket> {
    const markets = await this.loadMarkets();
    const m = markets[symbol];
    if (m === undefined) {
      throw new ExchangeFailure(
        'INVALID_ORDER',
        'never-retry',
        `${this.exchangeId}: unknown symbol ${symbol}`,
      );
    }
    return m;
  }

  private contractSize(symbol: string | undefined): Decimal {
    if (symbol === undefined) return new D(1);
    return this.markets?.[symbol]?.contractSize ?? new D(1);
  }

  // ---- mapping ----

  private toMarket(m: MarketInterface): ExchangeMarket {
    const contractSize = fromCcxtNumber(m.contractSize) ?? new D(1);
    const tickSize = fromCcxtNumber(m.precision.price) ?? ZERO;
    const amountStep = fromCcxtNumber(m.precision.amount) ?? ZERO;
    const lotStep = amountStep.mul(contractSize);
    const minAmount = fromCcxtNumber(m.limits.amount?.min);
    const maxAmount = fromCcxtNumber(m.limits.amount?.max);
    const out: ExchangeMarket = {
      symbol: m.symbol,
      id: m.id ?? m.symbol,
      base: m.base,
      quote: m.quote,
      contractSize,
      tickSize,
      lotStep,
      minQty: minAmount !== undefined ? minAmount.mul(contractSize) : lotStep,
      minNotional: fromCcxtNumber(m.limits.cost?.min) ?? ZERO,
    };
    if (maxAmount !== undefined) out.maxQty = maxAmount.mul(contractSize);
    const maxLev = m.limits.leverage?.max;
    if (typeof maxLev === 'number' && Number.isFinite(maxLev)) out.maxLeverage = maxLev;
    return out;
  }

  private toOrder(
    o: Order,
    lookup: { symbol: string; reduceOnly?: boolean },
    fallback: OrderStatus,
  ): ExchangeOrder {
    if (o.id === undefined || o.id === null || o.id === '') throw new TypeError('ccxt order has no id');
    const symbol = o.symbol ?? lookup.symbol;
    const cs = this.contractSize(symbol);
    const kind = orderKind(o);
    const filledQty = (fromCcxtNumber(o.filled) ?? ZERO).mul(cs);
    const out: ExchangeOrder = {
      id: String(o.id),
      symbol,
      side: o.side === 'sell' ? 'sell' : 'buy',
      kind,
      status: orderStatus(o.status, fallback),
      qty: req(o.amount, `amount of order ${String(o.id)}`).mul(cs),
      filledQty,
      reduceOnly: o.reduceOnly ?? lookup.reduceOnly ?? false,
      createdAt: o.timestamp ?? o.lastUpdateTimestamp ?? Date.now(),
    };
    if (o.clientOrderId !== undefined && o.clientOrderId !== null) out.clientOrderId = o.clientOrderId;
    const avg = fromCcxtNumber(o.average);
    if (avg !== undefined && filledQty.gt(ZERO) && avg.gt(ZERO)) out.avgPrice = avg;
    const price = fromCcxtNumber(o.price);
    if (kind === 'limit' && price !== undefined) out.price = price;
    const trigger = fromCcxtNumber(o.triggerPrice ?? o.stopPrice ?? o.stopLossPrice ?? o.takeProfitPrice);
    if (trigger !== undefined) out.triggerPrice = trigger;
    const fee = fromCcxtNumber(o.fee?.cost);
    if (fee !== undefined) out.fee = fee;
    return out;
  }

  private toFill(t: Trade): Fill {
    const symbol = t.symbol ?? '';
    const cs = this.contractSize(symbol);
    const fill: Fill = {
      id: String(t.id),
      orderId: String(t.order),
      symbol,
      side: t.side === 'sell' ? 'sell' : 'buy',
      qty: req(t.amount, `amount of trade ${String(t.id)}`).mul(cs),
      price: req(t.price, `price of trade ${String(t.id)}`),
      fee: fromCcxtNumber(t.fee?.cost) ?? ZERO,
      at: t.timestamp ?? 0,
    };
    const info = (t.info ?? {}) as Record<string, unknown>;
    const cid = info.clientOrderId ?? info.orderLinkId ?? info.clOrdId;
    if (typeof cid === 'string' && cid !== '') fill.clientOrderId = cid;
    return fill;
  }

  private toTicker(t: CcxtTicker, symbol: string): Ticker {
    const last = fromCcxtNumber(t.last ?? t.close);
    if (last === undefined) throw new TypeError(`ticker of ${symbol} has no last price`);
    const out: Ticker = { symbol: t.symbol ?? symbol, last, at: t.timestamp ?? Date.now() };
    const bid = fromCcxtNumber(t.bid);
    const ask = fromCcxtNumber(t.ask);
    if (bid !== undefined) out.bid = bid;
    if (ask !== undefined) out.ask = ask;
    return out;
  }

  private toPosition(p: Position): ExchangePosition | undefined {
    const contracts = fromCcxtNumber(p.contracts);
    if (contracts === undefined || contracts.isZero() || p.symbol === undefined) return undefined;
    const cs = fromCcxtNumber(p.contractSize) ?? this.contractSize(p.symbol);
    const side =
      p.side === 'short' ? 'short' : p.side === 'long' ? 'long' : contracts.isNegative() ? 'short' : 'long';
    const out: ExchangePosition = {
      symbol: p.symbol,
      side,
      qty: contracts.abs().mul(cs),
      entryPrice: req(p.entryPrice, `entry price of position ${p.symbol}`),
    };
    const mark = fromCcxtNumber(p.markPrice);
    if (mark !== undefined) out.markPrice = mark;
    if (typeof p.leverage === 'number' && Number.isFinite(p.leverage)) out.leverage = p.leverage;
    const upnl = fromCcxtNumber(p.unrealizedPnl);
    if (upnl !== undefined) out.unrealizedPnl = upnl;
    return out;
  }

  // ---- the port ----

  /** Linear and inverse contract markets of the exchange, keyed by unified symbol (loaded once). */
  async loadMarkets(): Promise<Record<string, ExchangeMarket>> {
    if (this.markets !== undefined) return this.markets;
    const loaded = await this.call({ operation: 'loadMarkets', write: false }, false, () =>
      this.ccxt.loadMarkets(),
    );
    const out: Record<string, ExchangeMarket> = {};
    for (const m of Object.values(loaded)) {
      if (m !== undefined && m.contract === true && m.active !== false) out[m.symbol] = this.toMarket(m);
    }
    this.markets = out;
    return out;
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    await this.loadMarkets();
    const t = await this.call({ operation: 'fetchTicker', write: false }, false, () =>
      this.ccxt.fetchTicker(symbol),
    );
    return this.toTicker(t, symbol);
  }

  async fetchTickers(symbols: readonly string[]): Promise<Record<string, Ticker>> {
    await this.loadMarkets();
    const ts = await this.call({ operation: 'fetchTickers', write: false }, false, () =>
      this.ccxt.fetchTickers([...symbols]),
    );
    const out: Record<string, Ticker> = {};
    for (const s of symbols) {
      const t = ts[s];
      if (t !== undefined) out[s] = this.toTicker(t, s);
    }
    return out;
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    const intervalMs = timeframeMs(timeframe);
    await this.loadMarkets();
    const rows = await this.call({ operation: 'fetchOHLCV', write: false }, false, () =>
      this.ccxt.fetchOHLCV(symbol, timeframe, since, limit),
    );
    return rows.map((r) => ({
      openTime: Number(r[0]),
      intervalMs,
      open: req(r[1], 'candle open'),
      high: req(r[2], 'candle high'),
      low: req(r[3], 'candle low'),
      close: req(r[4], 'candle close'),
      volume: fromCcxtNumber(r[5]) ?? ZERO,
    }));
  }

  async fetchBalance(): Promise<Balance> {
    const b = await this.call({ operation: 'fetchBalance', write: false }, true, () =>
      this.ccxt.fetchBalance(),
    );
    const c = b[this.settleCurrency];
    const total = fromCcxtNumber(c?.total) ?? ZERO;
    const free = fromCcxtNumber(c?.free) ?? ZERO;
    const used = fromCcxtNumber(c?.used) ?? total.minus(free);
    return { currency: this.settleCurrency, total, free, used };
  }

  async fetchPositions(symbols?: readonly string[]): Promise<ExchangePosition[]> {
    await this.loadMarkets();
    const ps = await this.call({ operation: 'fetchPositions', write: false }, true, () =>
      this.ccxt.fetchPositions(symbols === undefined ? undefined : [...symbols]),
    );
    const out: ExchangePosition[] = [];
    for (const p of ps) {
      const mapped = this.toPosition(p);
      if (mapped !== undefined && (symbols === undefined || symbols.includes(mapped.symbol)))
        out.push(mapped);
    }
    return out;
  }

  async setLeverage(symbol: string, leverage: number): Promise<void> {
    if (!Number.isInteger(leverage) || leverage < 1) {
      throw new ExchangeFailure(
        'INVALID_ORDER',
        'never-retry',
        `leverage must be an integer ≥ 1, got ${leverage}`,
      );
    }
    await this.market(symbol);
    await this.call({ operation: 'setLeverage', write: true }, true, () =>
      this.ccxt.setLeverage(leverage, symbol),
    );
  }

  async createOrder(request: OrderRequest): Promise<ExchangeOrder> {
    checkOrderRequest(request);
    const market = await this.market(request.symbol);
    const r = roundOrderRequest(request, market);
    const amount = Number(r.qty.div(market.contractSize).toFixed());
    const params: Record<string, unknown> = { clientOrderId: r.clientOrderId };
    if (r.reduceOnly) params.reduceOnly = true;
    let type: 'market' | 'limit' = 'market';
    let price: number | undefined;
    switch (r.kind) {
      case 'market':
        break;
      case 'limit':
        type = 'limit';
        price = Number(r.price?.toFixed());
        break;
      case 'stop':
        params.stopLossPrice = r.triggerPrice?.toFixed();
        break;
      case 'take-profit':
        params.takeProfitPrice = r.triggerPrice?.toFixed();
        break;
    }
    const o = await this.call({ operation: 'createOrder', write: true }, true, () =>
      this.ccxt.createOrder(r.symbol, type, r.side, amount, price, params),
    );
    const mapped = this.toOrder(o, { symbol: r.symbol, reduceOnly: r.reduceOnly }, 'open');
    // Creation responses may omit fields: fill them from the request (the exchange accepted exactly it).
    mapped.clientOrderId ??= r.clientOrderId;
    mapped.kind = r.kind;
    mapped.side = r.side;
    if (r.triggerPrice !== undefined) mapped.triggerPrice ??= r.triggerPrice;
    if (r.price !== undefined) mapped.price ??= r.price;
    return mapped;
  }

  async cancelOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder> {
    await this.loadMarkets();
    const params = lookup.trigger ? { trigger: true } : {};
    const o = await this.call({ operation: 'cancelOrder', write: true }, true, () =>
      this.ccxt.cancelOrder(orderId, lookup.symbol, params),
    );
    if (o.amount === undefined || o.amount === null) {
      // Some cancel responses (Binance algo orders, OKX) carry only the ids: read the order back.
      return this.fetchOrder(orderId, lookup);
    }
    return this.toOrder(o, { symbol: lookup.symbol }, 'canceled');
  }

  async fetchOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder> {
    await this.loadMarkets();
    const params = { ...this.profile.fetchOrderParams, ...(lookup.trigger ? { trigger: true } : {}) };
    const o = await this.call({ operation: 'fetchOrder', write: false }, true, () =>
      this.ccxt.fetchOrder(orderId, lookup.symbol, params),
    );
    return this.toOrder(o, { symbol: lookup.symbol }, 'open');
  }

  async fetchOrderByClientId(clientOrderId: string, lookup: OrderLookup): Promise<ExchangeOrder | null> {
    await this.loadMarkets();
    const params = {
      ...this.profile.fetchOrderParams,
      clientOrderId,
      ...(lookup.trigger ? { trigger: true } : {}),
    };
    try {
      const o = await this.call({ operation: 'fetchOrderByClientId', write: false }, true, () =>
        this.ccxt.fetchOrder(undefined as unknown as string, lookup.symbol, params),
      );
      return this.toOrder(o, { symbol: lookup.symbol }, 'open');
    } catch (e) {
      if (e instanceof ExchangeFailure && e.code === 'ORDER_NOT_FOUND') return null;
      throw e;
    }
  }

  async fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]> {
    await this.loadMarkets();
    const ctx = { operation: 'fetchOpenOrders', write: false };
    const regular = await this.call(ctx, true, () => this.ccxt.fetchOpenOrders(symbol));
    const conditional = await this.call(ctx, true, () =>
      this.ccxt.fetchOpenOrders(symbol, undefined, undefined, { trigger: true }),
    );
    const seen = new Set<string>();
    const out: ExchangeOrder[] = [];
    for (const o of [...regular, ...conditional]) {
      const mapped = this.toOrder(o, { symbol: o.symbol ?? symbol ?? '' }, 'open');
      if (!seen.has(mapped.id)) {
        seen.add(mapped.id);
        out.push(mapped);
      }
    }
    return out;
  }

  async fetchMyTrades(symbol: string, since?: number): Promise<Fill[]> {
    await this.loadMarkets();
    const ts = await this.call({ operation: 'fetchMyTrades', write: false }, true, () =>
      this.ccxt.fetchMyTrades(symbol, since),
    );
    return ts.map((t) => this.toFill(t));
  }
}
