/**
 * The exchange port: everything the engine asks of an exchange account. Implemented by the ccxt adapter
 * (`functions/adapters/ccxt/`, real exchanges) and the paper exchange (`functions/adapters/paper/`, local
 * runs and tests). Symbols are ccxt unified symbols (`BTC/USDT:USDT`); prices, quantities and money are
 * `Decimal`; times are epoch ms.
 *
 * Errors are always an {@link ExchangeFailure} whose `outcome` tells the caller what it may do:
 * - `retryable`: nothing happened on the exchange (network error before send, 429, 503 on a read);
 *   a read may be retried with backoff.
 * - `unknown-outcome`: a write may or may not have been accepted (timeout, 5xx after send); look the order
 *   up by its client order id before anything else, and only then retry with the same id.
 * - `never-retry`: the exchange refused for a reason a retry will not change (insufficient funds,
 *   invalid order, authentication, would trigger immediately).
 */
import type { Decimal } from '../core/decimal.js';
import type { Candle, MarketRules, Side } from '../core/types.js';

export type OrderSide = 'buy' | 'sell';
/** `stop` is a reduce-only stop-market; `take-profit` a reduce-only take-profit-market. */
export type OrderKind = 'market' | 'limit' | 'stop' | 'take-profit';
export type OrderStatus = 'open' | 'closed' | 'canceled' | 'rejected' | 'expired';

export interface ExchangeMarket extends MarketRules {
  /** The exchange's own id of the market, e.g. `BTCUSDT`. */
  id: string;
  base: string;
  quote: string;
  /** Contract size (1 for linear USDT-margined perpetuals quoted in the base asset). */
  contractSize: Decimal;
}

export interface Ticker {
  symbol: string;
  last: Decimal;
  bid?: Decimal;
  ask?: Decimal;
  at: number;
}

export interface Balance {
  currency: string;
  total: Decimal;
  free: Decimal;
  used: Decimal;
}

export interface ExchangePosition {
  symbol: string;
  side: Side;
  qty: Decimal;
  entryPrice: Decimal;
  markPrice?: Decimal;
  leverage?: number;
  unrealizedPnl?: Decimal;
}

export interface OrderRequest {
  symbol: string;
  side: OrderSide;
  kind: OrderKind;
  qty: Decimal;
  /** Limit price (limit orders). */
  price?: Decimal;
  /** Trigger price (stop and take-profit orders). */
  triggerPrice?: Decimal;
  reduceOnly: boolean;
  /** Deterministic, at most 36 characters of [A-Za-z0-9_-]; see `clientOrderId` in the core. */
  clientOrderId: string;
}

export interface ExchangeOrder {
  id: string;
  clientOrderId?: string;
  symbol: string;
  side: OrderSide;
  kind: OrderKind;
  status: OrderStatus;
  qty: Decimal;
  filledQty: Decimal;
  /** Average fill price, once anything filled. */
  avgPrice?: Decimal;
  price?: Decimal;
  triggerPrice?: Decimal;
  reduceOnly: boolean;
  createdAt: number;
  /** Fee paid so far (quote currency), when known. */
  fee?: Decimal;
}

export interface Fill {
  id: string;
  orderId: string;
  clientOrderId?: string;
  symbol: string;
  side: OrderSide;
  qty: Decimal;
  price: Decimal;
  fee: Decimal;
  at: number;
  reduceOnly?: boolean;
}

/** Whether an order lives in the conditional (trigger / algo) book: stops and take-profits do. */
export interface OrderLookup {
  symbol: string;
  trigger: boolean;
}

export interface ExchangePort {
  /** `binanceusdm`, `bybit`, `okx` or `paper`. */
  readonly exchangeId: string;
  loadMarkets(): Promise<Record<string, ExchangeMarket>>;
  fetchTicker(symbol: string): Promise<Ticker>;
  fetchTickers(symbols: readonly string[]): Promise<Record<string, Ticker>>;
  /** Candles for ATR and health (`timeframe` as ccxt: `1m`, `5m`, …). */
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]>;
  fetchBalance(): Promise<Balance>;
  fetchPositions(symbols?: readonly string[]): Promise<ExchangePosition[]>;
  setLeverage(symbol: string, leverage: number): Promise<void>;
  createOrder(request: OrderRequest): Promise<ExchangeOrder>;
  cancelOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder>;
  fetchOrder(orderId: string, lookup: OrderLookup): Promise<ExchangeOrder>;
  /** The order carrying this client order id, or null when the exchange has none (never throws not-found). */
  fetchOrderByClientId(clientOrderId: string, lookup: OrderLookup): Promise<ExchangeOrder | null>;
  /** Open orders, regular and conditional (trigger) ones. */
  fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]>;
  /** The account's fills (my trades) since a time. */
  fetchMyTrades(symbol: string, since?: number): Promise<Fill[]>;
}

export type FailureOutcome = 'retryable' | 'unknown-outcome' | 'never-retry';
export type FailureCode =
  | 'NETWORK'
  | 'TIMEOUT'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INSUFFICIENT_FUNDS'
  | 'INVALID_ORDER'
  | 'DUPLICATE_CLIENT_ORDER_ID'
  | 'WOULD_TRIGGER_IMMEDIATELY'
  | 'ORDER_NOT_FOUND'
  | 'AUTHENTICATION'
  | 'CIRCUIT_OPEN'
  | 'UNKNOWN';

/** The one error type that crosses the exchange port. */
export class ExchangeFailure extends Error {
  constructor(
    readonly code: FailureCode,
    readonly outcome: FailureOutcome,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ExchangeFailure';
  }
}

export function isExchangeFailure(e: unknown): e is ExchangeFailure {
  return e instanceof ExchangeFailure;
}
