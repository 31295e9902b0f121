/**
 * The order executor: the one safe way to act on any `ExchangePort`. It never double-orders:
 *
 * 1. Every order gets a deterministic client order id (`clientOrderId(tradeId, purpose, seq)` from the core)
 *    and is recorded as an intent (INTENDED) before it is sent; the intent moves to SENT just before the
 *    call and to ACKED, REJECTED or UNKNOWN after it. Running the same operation again (a redelivered
 *    command) finds the intent: ACKED / REJECTED → the recorded answer (nothing is sent); SENT / UNKNOWN →
 *    looked up first; INTENDED → sent (it never left).
 * 2. Reads retry on `retryable` failures with backoff retryDelayMs·2^(n−1) plus up to 20 % jitter
 *    (1 s → 2 s → 4 s by default; cockatiel's retry policy, waiting through the injectable sleeper).
 * 3. A write whose outcome is unknown is looked up by client order id (tolerating "not found" for
 *    `lookupAttempts` look-ups right after the create), and only when absent re-sent with the SAME id; a
 *    DUPLICATE_CLIENT_ORDER_ID answer means it exists → look it up again. A write that failed `retryable`
 *    (nothing happened) is re-sent with the same id after a backoff.
 * 4. Every call has a timeout (`callTimeoutMs`, cockatiel's aggressive timeout): a timed-out write is
 *    unknown-outcome, a timed-out read retryable.
 * 5. Prices and quantities are rounded to the market's precision in the safe direction; quantities below the
 *    minimum are refused before anything is sent.
 * 6. The account breaker wraps every call; when it is open, calls fail fast with CIRCUIT_OPEN — except
 *    protective ones (stops and reduce-only exits), which are always attempted.
 */
import { ConstantBackoff, TaskCancelledError, TimeoutStrategy, handleWhen, retry, timeout } from 'cockatiel';
import { D, HUNDRED, roundToStep } from '../core/decimal.js';
import type { Decimal } from '../core/decimal.js';
import { clientOrderId as makeClientOrderId } from '../core/reconciliation.js';
import { roundStop } from '../core/stop-manager.js';
import { closingOrderSide, openingOrderSide } from '../core/types.js';
import type { Side } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { ExchangeFailure, isExchangeFailure } from '../ports/exchange.js';
import type {
  ExchangeMarket,
  ExchangeOrder,
  ExchangePort,
  OrderLookup,
  OrderRequest,
} from '../ports/exchange.js';
import type { JsonMap, OrderIntent, TradeStore } from '../ports/trade-store.js';
import type { BreakerPermit, CircuitBreaker } from './circuit-breaker.js';

/** Waits `ms` milliseconds (a real timer in production, an instant clock advance in tests). */
export type Sleeper = (ms: number) => Promise<void>;

/** Tunables of the executor. */
export interface ExecutorSettings {
  /** Timeout of each exchange call, ms; default 5000. */
  callTimeoutMs: number;
  /** Retries of a read (and re-sends of an unresolved write); default 3. */
  maxRetries: number;
  /** First backoff delay, ms; doubles each retry; default 1000. */
  retryDelayMs: number;
  /** Refuse an entry when the last price is more than this percent away from the signal's price; default 0.5. */
  maxSlippagePercent: Decimal;
  /** A limit entry not filled within this is cancelled (the filled part is kept); ms; default 30 000. */
  orderTimeoutMs: number;
  /** Look-ups by client order id before an order is taken as absent; default 3. */
  lookupAttempts: number;
  /** Wait between those look-ups, ms; default 500. */
  lookupDelayMs: number;
  /** Poll interval of a resting limit entry, ms; default 1000. */
  pollIntervalMs: number;
}

/** The defaults (see {@link ExecutorSettings}). */
export const DEFAULT_EXECUTOR_SETTINGS: ExecutorSettings = {
  callTimeoutMs: 5000,
  maxRetries: 3,
  retryDelayMs: 1000,
  maxSlippagePercent: new D('0.5'),
  orderTimeoutMs: 30_000,
  lookupAttempts: 3,
  lookupDelayMs: 500,
  pollIntervalMs: 1000,
};

/** Executor settings from the config block `orderExecution`. */
export function executorSettingsFromConfig(cfg: {
  maxRetries: number;
  retryDelayMs: number;
  orderTimeoutSeconds: number;
  maxSlippagePercent: Decimal;
  callTimeoutMs: number;
}): Partial<ExecutorSettings> {
  return {
    maxRetries: cfg.maxRetries,
    retryDelayMs: cfg.retryDelayMs,
    orderTimeoutMs: Math.round(cfg.orderTimeoutSeconds * 1000),
    maxSlippagePercent: cfg.maxSlippagePercent,
    callTimeoutMs: cfg.callTimeoutMs,
  };
}

/** Options of {@link OrderExecutor}. */
export interface OrderExecutorOptions {
  exchange: ExchangePort;
  store: TradeStore;
  clock: Clock;
  /** The account breaker; without one, calls are not guarded. */
  breaker?: CircuitBreaker;
  settings?: Partial<ExecutorSettings>;
  /** Default: a real timer. */
  sleep?: Sleeper;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /** Markets to use instead of loading them from the exchange. */
  markets?: Record<string, ExchangeMarket>;
}

/** Realized slippage of a fill against a reference price; positive = adverse to the trader. */
export interface SlippageRecord {
  referencePrice: Decimal;
  fillPrice: Decimal;
  /** Per unit, in price. */
  perUnit: Decimal;
  /** In basis points of the reference price. */
  bps: Decimal;
}

/** An order the exchange holds (acknowledged, or found by its client order id). */
export interface AckedOrder {
  status: 'acked';
  clientOrderId: string;
  order: ExchangeOrder;
  /** True when the order was found by a look-up rather than by the create's answer. */
  viaLookup: boolean;
}
/** An order the exchange refused (never-retry). */
export interface RejectedOrder {
  status: 'rejected';
  clientOrderId: string;
  failure: ExchangeFailure;
}

/** Result of {@link OrderExecutor.enter}. */
export type EnterResult =
  | {
      status: 'refused';
      reason: 'SLIPPAGE' | 'BELOW_MINIMUM';
      detail: string;
    }
  | { status: 'rejected'; clientOrderId: string; failure: ExchangeFailure }
  | {
      /** `filled`: everything; `partial`: a limit entry timed out with part filled (kept); `unfilled`: nothing. */
      status: 'filled' | 'partial' | 'unfilled';
      clientOrderId: string;
      order: ExchangeOrder;
      filledQty: Decimal;
      avgPrice: Decimal | null;
      slippage: SlippageRecord | null;
    };

/** Result of {@link OrderExecutor.placeStop}. */
export type StopResult =
  | { status: 'placed'; clientOrderId: string; order: ExchangeOrder; triggerPrice: Decimal; qty: Decimal }
  /** The stop would trigger at once (price already through it): exit at market instead. */
  | {
      status: 'would-trigger';
      exitAtMarket: true;
      clientOrderId: string;
      triggerPrice: Decimal;
      failure: ExchangeFailure;
    }
  | { status: 'rejected'; clientOrderId: string; triggerPrice: Decimal; failure: ExchangeFailure };

/** Result of {@link OrderExecutor.replaceStop}. */
export type ReplaceStopResult =
  | {
      status: 'replaced';
      stop: Extract<StopResult, { status: 'placed' }>;
      /** The old stop is cancelled (or was already gone). */
      oldStopCancelled: boolean;
      /** Old stop ids that could not be cancelled and must be cleaned up (reconciliation cancels them). */
      cleanup: string[];
    }
  | (Exclude<StopResult, { status: 'placed' }> & { oldStopKept: string });

/** Result of {@link OrderExecutor.exit} / {@link OrderExecutor.partialExit}. */
export type ExitResult =
  | {
      status: 'exited';
      clientOrderId: string;
      order: ExchangeOrder;
      filledQty: Decimal;
      avgPrice: Decimal | null;
      slippage: SlippageRecord | null;
    }
  | { status: 'rejected'; clientOrderId: string; failure: ExchangeFailure }
  | { status: 'nothing-to-exit' };

/** Result of {@link OrderExecutor.protectOrExit}. */
export type ProtectResult =
  | { action: 'protected'; stop: Extract<StopResult, { status: 'placed' }>; replaced?: ReplaceStopResult }
  /** A replacement was refused (not "would trigger"): the old stop still protects the position. */
  | { action: 'kept-old-stop'; replaced: Extract<ReplaceStopResult, { status: 'rejected' }> }
  | { action: 'exited'; reason: 'WOULD_TRIGGER' | 'STOP_REJECTED'; stop: StopResult; exit: ExitResult };

/** Parameters of an entry. */
export interface EnterParams {
  tradeId: string;
  symbol: string;
  side: Side;
  qty: Decimal;
  type: 'market' | 'limit';
  /** Limit price (limit entries). */
  price?: Decimal;
  /** The signal's price: the slippage guard and realized slippage are measured against it. */
  referencePrice: Decimal;
  /** Sequence of the entry order (default none: one entry per trade). */
  seq?: number;
  /** Override of `orderTimeoutMs` for a limit entry. */
  timeoutMs?: number;
}

/** Parameters of a stop. */
export interface StopParams {
  tradeId: string;
  symbol: string;
  /** The position's side (a long's stop is a sell). */
  positionSide: Side;
  qty: Decimal;
  stopPrice: Decimal;
  /** Sequence number of this stop (each replacement uses a new one). */
  seq: number;
}

/** Parameters of an exit (reduce-only market). */
export interface ExitParams {
  tradeId: string;
  symbol: string;
  positionSide: Side;
  /** Quantity to close; default: the whole position as the exchange reports it. */
  qty?: Decimal;
  seq?: number;
}

interface CallOpts {
  write: boolean;
  protective: boolean;
  permit?: BreakerPermit | undefined;
}

/** The intent purposes and the client-order-id purposes they map to. */
const PURPOSES = {
  ENTRY: 'entry',
  STOP: 'stop',
  EXIT: 'exit',
  PARTIAL_EXIT: 'pexit',
} as const;
type Purpose = keyof typeof PURPOSES;

function failureJson(e: ExchangeFailure): JsonMap {
  return { code: e.code, outcome: e.outcome, message: e.message };
}

function orderJson(o: ExchangeOrder): JsonMap {
  const out: JsonMap = {
    orderId: o.id,
    status: o.status,
    qty: o.qty.toFixed(),
    filledQty: o.filledQty.toFixed(),
    createdAt: o.createdAt,
  };
  if (o.avgPrice) out.avgPrice = o.avgPrice.toFixed();
  if (o.fee) out.fee = o.fee.toFixed();
  return out;
}

function requestJson(r: OrderRequest): JsonMap {
  const out: JsonMap = {
    symbol: r.symbol,
    side: r.side,
    kind: r.kind,
    qty: r.qty.toFixed(),
    reduceOnly: r.reduceOnly,
  };
  if (r.price) out.price = r.price.toFixed();
  if (r.triggerPrice) out.triggerPrice = r.triggerPrice.toFixed();
  return out;
}

/** Realized slippage of a fill at `fill` for an order on `side` against `ref` (positive = adverse). */
export function realizedSlippage(orderSide: 'buy' | 'sell', ref: Decimal, fill: Decimal): SlippageRecord {
  const perUnit = orderSide === 'buy' ? fill.minus(ref) : ref.minus(fill);
  return { referencePrice: ref, fillPrice: fill, perUnit, bps: perUnit.div(ref).mul(10000) };
}

function slippageJson(s: SlippageRecord): JsonMap {
  return { referencePrice: s.referencePrice.toFixed(), perUnit: s.perUnit.toFixed(), bps: s.bps.toFixed() };
}

function asFailure(e: unknown, write: boolean): ExchangeFailure {
  if (isExchangeFailure(e)) return e;
  if (e instanceof TaskCancelledError) {
    return new ExchangeFailure(
      'TIMEOUT',
      write ? 'unknown-outcome' : 'retryable',
      'exchange call timed out',
      e,
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ExchangeFailure(
    'UNKNOWN',
    write ? 'unknown-outcome' : 'never-retry',
    `unexpected error: ${message}`,
    e,
  );
}

function isRetryable(e: unknown): boolean {
  return isExchangeFailure(e) && e.outcome === 'retryable' && e.code !== 'CIRCUIT_OPEN';
}

function requirePositive(v: unknown, what: string): Decimal {
  if (!D.isDecimal(v) || !v.isFinite() || !v.gt(0))
    throw new RangeError(`${what} must be a positive Decimal, got ${String(v)}`);
  return v;
}

/** The order executor (see the file comment for its rules). */
export class OrderExecutor {
  readonly settings: ExecutorSettings;
  private readonly exchange: ExchangePort;
  private readonly store: TradeStore;
  private readonly clock: Clock;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly sleep: Sleeper;
  private readonly random: () => number;
  private markets: Record<string, ExchangeMarket> | undefined;

  constructor(opts: OrderExecutorOptions) {
    this.exchange = opts.exchange;
    this.store = opts.store;
    this.clock = opts.clock;
    this.breaker = opts.breaker;
    this.settings = { ...DEFAULT_EXECUTOR_SETTINGS, ...opts.settings };
    const s = this.settings;
    for (const k of ['callTimeoutMs', 'orderTimeoutMs', 'pollIntervalMs'] as const) {
      if (!Number.isFinite(s[k]) || s[k] <= 0) throw new RangeError(`${k} must be > 0, got ${String(s[k])}`);
    }
    for (const k of ['maxRetries', 'retryDelayMs', 'lookupDelayMs'] as const) {
      if (!Number.isInteger(s[k]) || s[k] < 0)
        throw new RangeError(`${k} must be an integer ≥ 0, got ${String(s[k])}`);
    }
    if (!Number.isInteger(s.lookupAttempts) || s.lookupAttempts < 1)
      throw new RangeError(`lookupAttempts must be an integer ≥ 1, got ${String(s.lookupAttempts)}`);
    if (!D.isDecimal(s.maxSlippagePercent) || s.maxSlippagePercent.lt(0))
      throw new RangeError('maxSlippagePercent must be a Decimal ≥ 0');
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
    this.markets = opts.markets;
  }

  /** The backoff before retry `attempt` (1-based): retryDelayMs·2^(attempt−1) plus up to 20 % jitter. */
  backoffDelay(attempt: number): number {
    const base = this.settings.retryDelayMs * 2 ** (attempt - 1);
    return Math.round(base + base * 0.2 * this.random());
  }

  // -------------------------------------------------------------------------------------- operations

  /**
   * Opens (or adds to) a position: rounds the quantity down to the lot, refuses below the minimum, refuses
   * when the last price moved more than `maxSlippagePercent` from `referencePrice`, then sends a market
   * order, or a limit order (buy price rounded down, sell up) that is cancelled after the timeout — a
   * partial fill keeps the filled part.
   */
  async enter(p: EnterParams): Promise<EnterResult> {
    requirePositive(p.qty, 'qty');
    requirePositive(p.referencePrice, 'referencePrice');
    if (p.type !== 'market' && p.type !== 'limit')
      throw new TypeError(`entry type must be market or limit, got ${String(p.type)}`);
    const market = await this.market(p.symbol, false);
    const orderSide = openingOrderSide(p.side);
    const qty = roundToStep(p.qty, market.lotStep, 'down');
    if (qty.lt(market.minQty) || !qty.gt(0)) {
      return {
        status: 'refused',
        reason: 'BELOW_MINIMUM',
        detail: `qty ${p.qty.toFixed()} rounds down to ${qty.toFixed()}, below the minimum ${market.minQty.toFixed()}`,
      };
    }
    const ticker = await this.read(() => this.exchange.fetchTicker(p.symbol), false);
    const movedPct = ticker.last.minus(p.referencePrice).abs().div(p.referencePrice).mul(HUNDRED);
    if (movedPct.gt(this.settings.maxSlippagePercent)) {
      return {
        status: 'refused',
        reason: 'SLIPPAGE',
        detail: `last price ${ticker.last.toFixed()} is ${movedPct.toDecimalPlaces(4).toFixed()} % from the signal's ${p.referencePrice.toFixed()} (max ${this.settings.maxSlippagePercent.toFixed()} %)`,
      };
    }
    let price: Decimal | undefined;
    if (p.type === 'limit') {
      price = roundToStep(
        requirePositive(p.price, 'price'),
        market.tickSize,
        orderSide === 'buy' ? 'down' : 'up',
      );
    }
    const notional = qty.mul(price ?? ticker.last);
    if (notional.lt(market.minNotional)) {
      return {
        status: 'refused',
        reason: 'BELOW_MINIMUM',
        detail: `notional ${notional.toFixed()} is below the minimum ${market.minNotional.toFixed()}`,
      };
    }
    const request: Omit<OrderRequest, 'clientOrderId'> = {
      symbol: p.symbol,
      side: orderSide,
      kind: p.type,
      qty,
      reduceOnly: false,
    };
    if (price) request.price = price;
    const placed = await this.place(p.tradeId, 'ENTRY', p.seq, request, false, p.referencePrice);
    if (placed.status === 'rejected') return placed;
    let order = placed.order;
    if (p.type === 'limit')
      order = await this.waitForLimit(
        order,
        placed.clientOrderId,
        p.timeoutMs ?? this.settings.orderTimeoutMs,
      );
    const avg = order.avgPrice ?? null;
    const filledQty = order.filledQty;
    return {
      status: filledQty.gte(order.qty) ? 'filled' : filledQty.gt(0) ? 'partial' : 'unfilled',
      clientOrderId: placed.clientOrderId,
      order,
      filledQty,
      avgPrice: avg,
      slippage: avg ? realizedSlippage(orderSide, p.referencePrice, avg) : null,
    };
  }

  /**
   * Places a reduce-only stop-market for the position: the trigger is rounded to the tick in the safe
   * direction (a long's stop up, a short's down), the quantity down to the lot. Always attempted, even with
   * the account breaker open. "Would trigger immediately" → `status: 'would-trigger'` (exit at market).
   */
  async placeStop(p: StopParams): Promise<StopResult> {
    requirePositive(p.qty, 'qty');
    requirePositive(p.stopPrice, 'stopPrice');
    const market = await this.market(p.symbol, true);
    const triggerPrice = roundStop(p.positionSide, p.stopPrice, market.tickSize);
    const qty = roundToStep(p.qty, market.lotStep, 'down');
    if (qty.lt(market.minQty) || !qty.gt(0)) {
      throw new RangeError(
        `stop qty ${p.qty.toFixed()} rounds down to ${qty.toFixed()}, below the minimum ${market.minQty.toFixed()}`,
      );
    }
    const placed = await this.place(
      p.tradeId,
      'STOP',
      p.seq,
      {
        symbol: p.symbol,
        side: closingOrderSide(p.positionSide),
        kind: 'stop',
        qty,
        triggerPrice,
        reduceOnly: true,
      },
      true,
    );
    if (placed.status === 'acked')
      return {
        status: 'placed',
        clientOrderId: placed.clientOrderId,
        order: placed.order,
        triggerPrice,
        qty,
      };
    if (placed.failure.code === 'WOULD_TRIGGER_IMMEDIATELY') {
      return {
        status: 'would-trigger',
        exitAtMarket: true,
        clientOrderId: placed.clientOrderId,
        triggerPrice,
        failure: placed.failure,
      };
    }
    return { status: 'rejected', clientOrderId: placed.clientOrderId, triggerPrice, failure: placed.failure };
  }

  /**
   * Replaces a stop: creates the new reduce-only stop FIRST, then cancels the old one. If the new stop is
   * not placed, the old one stays (`oldStopKept`). If the cancel fails, the old id is returned in `cleanup`
   * (both stops are reduce-only and capped by the position, so together they never over-close).
   */
  async replaceStop(p: StopParams & { oldOrderId: string }): Promise<ReplaceStopResult> {
    if (typeof p.oldOrderId !== 'string' || p.oldOrderId === '')
      throw new TypeError('oldOrderId must be a non-empty string');
    const stop = await this.placeStop(p);
    if (stop.status !== 'placed') return { ...stop, oldStopKept: p.oldOrderId };
    const cancelled = await this.cancelSafely(p.oldOrderId, { symbol: p.symbol, trigger: true }, true);
    return {
      status: 'replaced',
      stop,
      oldStopCancelled: cancelled,
      cleanup: cancelled ? [] : [p.oldOrderId],
    };
  }

  /** Closes the position (or `qty` of it) with a reduce-only market order. Always attempted. */
  exit(p: ExitParams): Promise<ExitResult> {
    return this.reduce(p, 'EXIT');
  }

  /** Closes `qty` of the position with a reduce-only market order (its own client id purpose `pexit`). */
  partialExit(p: ExitParams & { qty: Decimal }): Promise<ExitResult> {
    requirePositive(p.qty, 'qty');
    return this.reduce(p, 'PARTIAL_EXIT');
  }

  /**
   * Protects a position: places (or, with `oldOrderId`, replaces) its stop. When the stop would trigger
   * immediately, exits the position at market instead. When a first stop is refused for another reason, also
   * exits (the position would otherwise be unprotected); when a replacement is refused, the old stop stays
   * and nothing else is done (`kept-old-stop`).
   */
  async protectOrExit(p: StopParams & { oldOrderId?: string; exitSeq?: number }): Promise<ProtectResult> {
    let stop: StopResult;
    let replaced: ReplaceStopResult | undefined;
    if (p.oldOrderId !== undefined) {
      replaced = await this.replaceStop({ ...p, oldOrderId: p.oldOrderId });
      stop = replaced.status === 'replaced' ? replaced.stop : replaced;
    } else {
      stop = await this.placeStop(p);
    }
    if (stop.status === 'placed')
      return replaced ? { action: 'protected', stop, replaced } : { action: 'protected', stop };
    if (replaced?.status === 'rejected') return { action: 'kept-old-stop', replaced };
    const exitParams: ExitParams = { tradeId: p.tradeId, symbol: p.symbol, positionSide: p.positionSide };
    if (p.exitSeq !== undefined) exitParams.seq = p.exitSeq;
    const exit = await this.exit(exitParams);
    if (exit.status === 'rejected') {
      throw new ExchangeFailure(
        exit.failure.code,
        exit.failure.outcome,
        `position ${p.tradeId} is unprotected: stop ${stop.status} and the market exit was rejected (${exit.failure.message})`,
        exit.failure,
      );
    }
    return {
      action: 'exited',
      reason: stop.status === 'would-trigger' ? 'WOULD_TRIGGER' : 'STOP_REJECTED',
      stop,
      exit,
    };
  }

  // -------------------------------------------------------------------------------------- internals

  private async reduce(p: ExitParams, purpose: 'EXIT' | 'PARTIAL_EXIT'): Promise<ExitResult> {
    const market = await this.market(p.symbol, true);
    let qty: Decimal;
    if (p.qty === undefined) {
      const positions = await this.read(() => this.exchange.fetchPositions([p.symbol]), true);
      const pos = positions.find((x) => x.symbol === p.symbol && x.side === p.positionSide && x.qty.gt(0));
      if (!pos) return { status: 'nothing-to-exit' };
      qty = pos.qty;
    } else {
      qty = roundToStep(requirePositive(p.qty, 'qty'), market.lotStep, 'down');
      if (!qty.gt(0)) return { status: 'nothing-to-exit' };
    }
    let reference: Decimal | null = null;
    try {
      reference = (await this.read(() => this.exchange.fetchTicker(p.symbol), true)).last;
    } catch {
      reference = null; // the exit does not wait for a ticker; slippage is then unknown
    }
    const orderSide = closingOrderSide(p.positionSide);
    const placed = await this.place(
      p.tradeId,
      purpose,
      p.seq,
      { symbol: p.symbol, side: orderSide, kind: 'market', qty, reduceOnly: true },
      true,
      reference ?? undefined,
    );
    if (placed.status === 'rejected') return placed;
    const avg = placed.order.avgPrice ?? null;
    return {
      status: 'exited',
      clientOrderId: placed.clientOrderId,
      order: placed.order,
      filledQty: placed.order.filledQty,
      avgPrice: avg,
      slippage: avg && reference ? realizedSlippage(orderSide, reference, avg) : null,
    };
  }

  private async market(symbol: string, protective: boolean): Promise<ExchangeMarket> {
    if (!this.markets) this.markets = await this.read(() => this.exchange.loadMarkets(), protective);
    const m = this.markets[symbol];
    if (!m) throw new ExchangeFailure('INVALID_ORDER', 'never-retry', `unknown market ${symbol}`);
    return m;
  }

  /** One exchange call under the breaker and the timeout. */
  private async call<T>(fn: () => Promise<T>, opts: CallOpts): Promise<T> {
    const permit =
      opts.permit ?? (opts.protective || !this.breaker ? undefined : await this.breaker.acquire());
    let result: T;
    try {
      result = await timeout(this.settings.callTimeoutMs, TimeoutStrategy.Aggressive).execute(() => fn());
    } catch (e) {
      const failure = asFailure(e, opts.write);
      await this.breaker?.onFailure(failure, permit);
      throw failure;
    }
    await this.breaker?.onSuccess(permit);
    return result;
  }

  /** A read, retried on retryable failures with exponential backoff plus jitter. */
  private read<T>(fn: () => Promise<T>, protective: boolean): Promise<T> {
    const policy = retry(handleWhen(isRetryable), {
      maxAttempts: this.settings.maxRetries,
      backoff: new ConstantBackoff(0),
    });
    return policy.execute(async ({ attempt }) => {
      if (attempt > 0) await this.sleep(this.backoffDelay(attempt));
      return this.call(fn, { write: false, protective });
    });
  }

  /** Looks an order up by client order id, tolerating "not found" for `lookupAttempts` look-ups. */
  private async lookup(cid: string, lookup: OrderLookup, protective: boolean): Promise<ExchangeOrder | null> {
    for (let i = 0; i < this.settings.lookupAttempts; i++) {
      if (i > 0) await this.sleep(this.settings.lookupDelayMs);
      const found = await this.read(() => this.exchange.fetchOrderByClientId(cid, lookup), protective);
      if (found) return found;
    }
    return null;
  }

  /** Records the intent, sends the order and settles its outcome; see the file comment. */
  private async place(
    tradeId: string,
    purpose: Purpose,
    seq: number | undefined,
    req: Omit<OrderRequest, 'clientOrderId'>,
    protective: boolean,
    referencePrice?: Decimal,
  ): Promise<AckedOrder | RejectedOrder> {
    const cid = makeClientOrderId(tradeId, PURPOSES[purpose], seq);
    const request: OrderRequest = { ...req, clientOrderId: cid };
    const lookup: OrderLookup = {
      symbol: req.symbol,
      trigger: req.kind === 'stop' || req.kind === 'take-profit',
    };
    const acked = async (order: ExchangeOrder, viaLookup: boolean): Promise<AckedOrder> => {
      const outcome = orderJson(order);
      if (referencePrice && order.avgPrice)
        outcome.slippage = slippageJson(realizedSlippage(req.side, referencePrice, order.avgPrice));
      await this.store.updateOrderIntent(tradeId, cid, {
        to: 'ACKED',
        exchangeOrderId: order.id,
        outcome,
        at: this.clock.now(),
      });
      return { status: 'acked', clientOrderId: cid, order, viaLookup };
    };
    const rejected = async (failure: ExchangeFailure): Promise<RejectedOrder> => {
      await this.store.updateOrderIntent(tradeId, cid, {
        to: 'REJECTED',
        outcome: failureJson(failure),
        at: this.clock.now(),
      });
      return { status: 'rejected', clientOrderId: cid, failure };
    };

    const { intent } = await this.store.putOrderIntent({
      tradeId,
      clientOrderId: cid,
      purpose,
      request: requestJson(request),
      at: this.clock.now(),
    });
    const resumed = await this.resume(intent, lookup, protective);
    if (resumed) return resumed;

    let lastFailure: ExchangeFailure | undefined;
    let mustLookUp = intent.status === 'SENT' || intent.status === 'UNKNOWN';
    for (let round = 0; round <= this.settings.maxRetries; round++) {
      if (round > 0) await this.sleep(this.backoffDelay(round));
      if (mustLookUp) {
        const found = await this.lookup(cid, lookup, protective);
        if (found) return acked(found, true);
        if (round === this.settings.maxRetries) break;
      }
      // The breaker is asked before the intent says SENT: a CIRCUIT_OPEN here sends nothing and leaves the
      // intent as it was (INTENDED: never sent; UNKNOWN: an earlier round may have reached the exchange).
      const permit = protective || !this.breaker ? undefined : await this.breaker.acquire();
      await this.store.updateOrderIntent(tradeId, cid, { to: 'SENT', at: this.clock.now() });
      try {
        const order = await this.call(() => this.exchange.createOrder(request), {
          write: true,
          protective,
          permit,
        });
        return await acked(order, false);
      } catch (e) {
        const failure = asFailure(e, true);
        lastFailure = failure;
        if (failure.code === 'DUPLICATE_CLIENT_ORDER_ID') {
          mustLookUp = true; // it exists: find it
          const found = await this.lookup(cid, lookup, protective);
          if (found) return acked(found, true);
          continue;
        }
        if (failure.outcome === 'never-retry') {
          if (mustLookUp) {
            // A re-send was refused: an earlier attempt may have gone through (e.g. it closed the position).
            const found = await this.lookup(cid, lookup, protective);
            if (found) return acked(found, true);
          }
          return rejected(failure);
        }
        if (failure.outcome === 'unknown-outcome') {
          await this.store.updateOrderIntent(tradeId, cid, {
            to: 'UNKNOWN',
            outcome: failureJson(failure),
            at: this.clock.now(),
          });
          mustLookUp = true;
        }
        // retryable: nothing happened; the intent stays SENT and the order is re-sent after the backoff.
      }
    }
    const f = lastFailure ?? new ExchangeFailure('UNKNOWN', 'unknown-outcome', 'order outcome unresolved');
    throw new ExchangeFailure(
      f.code,
      f.outcome === 'retryable' && !mustLookUp ? 'retryable' : 'unknown-outcome',
      `order ${cid} unresolved after ${this.settings.maxRetries + 1} attempts (${f.message}); its intent stays UNKNOWN for reconciliation`,
      f,
    );
  }

  /** An existing intent: ACKED / REJECTED → its recorded answer; otherwise null (continue). */
  private async resume(
    intent: OrderIntent,
    lookup: OrderLookup,
    protective: boolean,
  ): Promise<AckedOrder | RejectedOrder | null> {
    const cid = intent.clientOrderId;
    if (intent.status === 'ACKED') {
      const found =
        (await this.lookup(cid, lookup, protective)) ??
        (intent.exchangeOrderId
          ? await this.read(() => this.exchange.fetchOrder(intent.exchangeOrderId ?? '', lookup), protective)
          : null);
      if (!found)
        throw new ExchangeFailure(
          'ORDER_NOT_FOUND',
          'never-retry',
          `acknowledged order ${cid} is not on the exchange`,
        );
      return { status: 'acked', clientOrderId: cid, order: found, viaLookup: true };
    }
    if (intent.status === 'REJECTED') {
      const o = intent.outcome ?? {};
      const code = typeof o.code === 'string' ? (o.code as ExchangeFailure['code']) : 'UNKNOWN';
      const message = typeof o.message === 'string' ? o.message : 'rejected earlier';
      return {
        status: 'rejected',
        clientOrderId: cid,
        failure: new ExchangeFailure(code, 'never-retry', message),
      };
    }
    return null;
  }

  /** Polls a resting limit entry until it is done or the timeout passes, then cancels the rest. */
  private async waitForLimit(order: ExchangeOrder, cid: string, timeoutMs: number): Promise<ExchangeOrder> {
    const lookup: OrderLookup = { symbol: order.symbol, trigger: false };
    const deadline = this.clock.now() + timeoutMs;
    let current = order;
    let misses = 0;
    while (current.status === 'open' && this.clock.now() < deadline) {
      await this.sleep(Math.min(this.settings.pollIntervalMs, Math.max(1, deadline - this.clock.now())));
      try {
        current = await this.read(() => this.exchange.fetchOrder(order.id, lookup), false);
      } catch (e) {
        if (!(
          isExchangeFailure(e) &&
          e.code === 'ORDER_NOT_FOUND' &&
          ++misses <= this.settings.lookupAttempts
        ))
          throw e;
      }
    }
    if (current.status !== 'open') return current;
    await this.cancelSafely(order.id, lookup, false);
    const final = await this.lookup(cid, lookup, false);
    return final ?? current;
  }

  /**
   * Cancels an order; an unknown outcome is settled by fetching the order. True when the order is no longer
   * open (cancelled, or already filled / cancelled / not found); false when it could not be cancelled.
   */
  private async cancelSafely(orderId: string, lookup: OrderLookup, protective: boolean): Promise<boolean> {
    for (let round = 0; round <= this.settings.maxRetries; round++) {
      if (round > 0) await this.sleep(this.backoffDelay(round));
      try {
        await this.call(() => this.exchange.cancelOrder(orderId, lookup), { write: true, protective });
        return true;
      } catch (e) {
        const failure = asFailure(e, true);
        if (failure.code === 'ORDER_NOT_FOUND') return true;
        if (failure.outcome === 'never-retry' || failure.code === 'CIRCUIT_OPEN') return false;
        try {
          const o = await this.read(() => this.exchange.fetchOrder(orderId, lookup), protective);
          if (o.status !== 'open') return true;
        } catch (e2) {
          if (isExchangeFailure(e2) && e2.code === 'ORDER_NOT_FOUND') return true;
        }
      }
    }
    return false;
  }
}
