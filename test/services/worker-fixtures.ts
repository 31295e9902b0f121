/**
 * Shared set-up of the worker tests: a DynamoTradeStore on dynalite, a paper exchange (wrapped to record
 * and shape calls), an order executor with an instant sleeper, and helpers that open a LIVE trade the way
 * the order-executor handler does (entry fill, stop on the exchange, position + tracker stored).
 */
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { PaperExchange } from '../../functions/adapters/paper/paper-exchange.js';
import { parseConfig, type EngineConfig } from '../../functions/core/config.js';
import { D, type Decimal } from '../../functions/core/decimal.js';
import { planInitialExits } from '../../functions/core/exits.js';
import { createMilestoneTracker } from '../../functions/core/milestones.js';
import { openPosition, stopRulesFor, type PositionState } from '../../functions/core/stop-manager.js';
import { encodePosition, encodeTracker } from '../../functions/core/trade-codec.js';
import type { Side } from '../../functions/core/types.js';
import type {
  ExchangeOrder,
  ExchangePort,
  OrderLookup,
  OrderRequest,
} from '../../functions/ports/exchange.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import { OrderExecutor, type ExecutorSettings } from '../../functions/services/order-executor.js';
import type {
  EndLiveWaitAnswer,
  LiveExit,
  LiveWaitEnder,
  MetricName,
  MetricsSink,
  WorkerAccount,
  WorkerConfigSource,
} from '../../functions/services/worker-support.js';
import { ManualClock } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { MARKETS, T0 } from '../exchange/paper-support.js';

export { T0 };
export const BTC = 'BTC/USDT:USDT';
export const ETH = 'ETH/USDT:USDT';
export const SOL = 'SOL/USDT:USDT';
export const DOGE = 'DOGE/USDT:USDT';
export const OP = 'OP/USDT:USDT';

/** One exchange call as the wrapper saw it. */
export interface CallRecord {
  method: 'createOrder' | 'cancelOrder';
  clientOrderId?: string;
  orderId?: string;
  kind?: string;
  triggerPrice?: string;
}

/**
 * The paper exchange behind a wrapper that records write calls in order, measures how many writes are in
 * flight at once, and can delay writes by a real timer or make chosen creates hang (a timeout).
 */
export class InstrumentedExchange implements ExchangePort {
  readonly exchangeId = 'paper';
  readonly calls: CallRecord[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Real delay added to every write, ms. */
  writeDelayMs = 0;
  /** Creates whose request matches never answer (the executor's call timeout fires). */
  hang: ((r: OrderRequest) => boolean) | null = null;

  constructor(readonly paper: PaperExchange) {}

  loadMarkets = () => this.paper.loadMarkets();
  fetchTicker = (s: string) => this.paper.fetchTicker(s);
  fetchTickers = (s: readonly string[]) => this.paper.fetchTickers(s);
  fetchOHLCV = (s: string, tf: string, since?: number, limit?: number) =>
    this.paper.fetchOHLCV(s, tf, since, limit);
  fetchBalance = () => this.paper.fetchBalance();
  fetchPositions = (s?: readonly string[]) => this.paper.fetchPositions(s);
  setLeverage = (s: string, l: number) => this.paper.setLeverage(s, l);
  fetchOrder = (id: string, l: OrderLookup) => this.paper.fetchOrder(id, l);
  fetchOrderByClientId = (cid: string, l: OrderLookup) => this.paper.fetchOrderByClientId(cid, l);
  fetchOpenOrders = (s?: string) => this.paper.fetchOpenOrders(s);
  fetchMyTrades = (s: string, since?: number) => this.paper.fetchMyTrades(s, since);

  async createOrder(r: OrderRequest): Promise<ExchangeOrder> {
    if (this.hang?.(r)) return new Promise<ExchangeOrder>(() => undefined);
    const rec: CallRecord = { method: 'createOrder', clientOrderId: r.clientOrderId, kind: r.kind };
    if (r.triggerPrice) rec.triggerPrice = r.triggerPrice.toFixed();
    return this.write(rec, () => this.paper.createOrder(r));
  }

  cancelOrder(orderId: string, l: OrderLookup): Promise<ExchangeOrder> {
    return this.write({ method: 'cancelOrder', orderId }, () => this.paper.cancelOrder(orderId, l));
  }

  private async write<T>(rec: CallRecord, fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.writeDelayMs > 0) await new Promise((r) => setTimeout(r, this.writeDelayMs));
      const out = await fn();
      this.calls.push(rec);
      return out;
    } finally {
      this.inFlight--;
    }
  }
}

/** A LiveWaitEnder that records every call and answers "ended". */
export class RecordingLiveWait implements LiveWaitEnder {
  readonly calls: { tradeId: string; exit: LiveExit }[] = [];
  answer: EndLiveWaitAnswer = { ended: true };
  endLiveWait(tradeId: string, exit: LiveExit): Promise<EndLiveWaitAnswer> {
    this.calls.push({ tradeId, exit });
    return Promise.resolve(this.answer);
  }
}

/** A MetricsSink that keeps totals and timings. */
export class RecordingMetrics implements MetricsSink {
  readonly counts = new Map<MetricName, number>();
  readonly timings: { name: MetricName; ms: number }[] = [];
  count(name: MetricName, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  timing(name: MetricName, ms: number): void {
    this.timings.push({ name, ms });
  }
  get(name: MetricName): number {
    return this.counts.get(name) ?? 0;
  }
}

/** Parameters of {@link Harness.openLive}. */
export interface OpenLiveParams {
  symbol?: string;
  side?: Side;
  entry?: string;
  qty?: string;
  stopPct?: string;
  rr?: string;
  maxLoss?: string;
  leverage?: number;
  /** Override of the stored position's maxLoss (an "adopted" position whose stop breaks the fail-safe). */
  storedMaxLoss?: string;
}

/** A trade opened by {@link Harness.openLive}. */
export interface OpenedTrade {
  tradeId: string;
  symbol: string;
  position: PositionState;
  stopOrderId: string;
}

let accounts = 0;

/** Default entry quantities (notional well above each market's minimum). */
const DEFAULT_QTY: Record<string, string> = {
  [BTC]: '0.01',
  [ETH]: '0.1',
  [SOL]: '10',
  [DOGE]: '1000',
  [OP]: '100',
};

/** One test's world: an account with its paper exchange, executor, config, and recording ports. */
export class Harness {
  readonly accountId = `acct-w${++accounts}`;
  readonly clock = new ManualClock(T0);
  readonly paper: PaperExchange;
  readonly ex: InstrumentedExchange;
  readonly store: DynamoTradeStore;
  readonly executor: OrderExecutor;
  readonly liveWait = new RecordingLiveWait();
  readonly metrics = new RecordingMetrics();
  readonly config: EngineConfig;
  readonly configSource: WorkerConfigSource;
  readonly account: WorkerAccount;
  private n = 0;

  constructor(
    emu: Emulators,
    opts: { overrides?: Record<string, unknown>; executor?: Partial<ExecutorSettings> } = {},
  ) {
    this.paper = new PaperExchange({ markets: MARKETS, clock: this.clock, initialBalance: '1000000' });
    for (const [s, p] of [
      [BTC, '50000'],
      [ETH, '3000'],
      [SOL, '100'],
      [DOGE, '0.1'],
      [OP, '2'],
    ] as const)
      this.paper.setPrice(s, p);
    this.ex = new InstrumentedExchange(this.paper);
    this.store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock: this.clock });
    this.executor = new OrderExecutor({
      exchange: this.ex,
      store: this.store,
      clock: this.clock,
      settings: opts.executor ?? {},
      sleep: (ms) => {
        this.clock.advance(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
    });
    this.config = parseConfig({
      accounts: [{ accountId: this.accountId, exchange: 'paper', overrides: opts.overrides ?? {} }],
    });
    this.configSource = { getConfig: () => Promise.resolve(this.config) };
    this.account = { accountId: this.accountId, exchange: this.ex, executor: this.executor };
  }

  get options() {
    return this.config.accounts.get(this.accountId)!.options;
  }

  /** Opens a LIVE trade: market entry on the paper exchange, initial stop placed, position and tracker stored. */
  async openLive(p: OpenLiveParams = {}): Promise<OpenedTrade> {
    const symbol = p.symbol ?? BTC;
    const side = p.side ?? 'long';
    const tradeId = `${this.accountId}-t${++this.n}`;
    if (p.entry) this.paper.setPrice(symbol, p.entry);
    const at = this.clock.now();
    const market = MARKETS[symbol]!;
    const created = await this.store.createTrade({
      tradeId,
      accountId: this.accountId,
      symbol,
      data: { side },
      at,
    });
    const version = (
      await this.store.transition(tradeId, {
        expectedVersion: created.trade.version,
        to: 'ENTERING',
        type: 'ENTRY_SENT',
        at,
        commandId: 'enter',
      })
    ).trade.version;
    const qty = new D(p.qty ?? DEFAULT_QTY[symbol] ?? '1');
    const ticker = await this.paper.fetchTicker(symbol);
    const entry = await this.executor.enter({
      tradeId,
      symbol,
      side,
      qty,
      type: 'market',
      referencePrice: ticker.last,
    });
    if (entry.status !== 'filled' || entry.avgPrice === null) throw new Error(`entry ${entry.status}`);
    const options = this.options;
    const exits = planInitialExits({
      side,
      entryPrice: entry.avgPrice,
      stop: { pct: new D(p.stopPct ?? '2') },
      rr: new D(p.rr ?? '2'),
      market,
      options: options.exits,
    });
    const opened = openPosition({
      side,
      entryPrice: entry.avgPrice,
      qty: entry.filledQty,
      filledAt: at,
      exits,
      maxLoss: new D(p.maxLoss ?? '10000'),
      rules: stopRulesFor(options, market),
    });
    const place = opened.actions.find((a) => a.type === 'PLACE_STOP');
    if (!place || place.type !== 'PLACE_STOP') throw new Error('no initial stop');
    const stop = await this.executor.placeStop({
      tradeId,
      symbol,
      positionSide: side,
      qty: place.qty,
      stopPrice: place.price,
      seq: 0,
    });
    if (stop.status !== 'placed') throw new Error(`stop ${stop.status}`);
    const encoded = encodePosition(opened.position);
    if (p.storedMaxLoss) encoded.maxLoss = p.storedMaxLoss;
    const tracker = createMilestoneTracker({
      side,
      entryPrice: entry.avgPrice,
      entryAt: at,
      leverage: p.leverage ?? 10,
      thresholds: options.milestones.thresholds,
    });
    await this.store.transition(tradeId, {
      expectedVersion: version,
      to: 'LIVE',
      type: 'ENTRY_FILLED',
      patch: {
        position: encoded as unknown as JsonMap,
        stopOrderId: stop.order.id,
        stopSeq: 0,
        tracker: encodeTracker(tracker) as unknown as JsonMap,
      },
      at,
      commandId: 'live',
    });
    return { tradeId, symbol, position: opened.position, stopOrderId: stop.order.id };
  }

  /** The stored stop (decimal string) and stop order id of a trade. */
  async stored(tradeId: string): Promise<{ stop: string; orderId: string; status: string; data: JsonMap }> {
    const t = await this.store.getTrade(tradeId);
    if (!t) throw new Error(`no trade ${tradeId}`);
    const pos = t.data.position as { stop: string };
    return { stop: pos.stop, orderId: t.data.stopOrderId as string, status: t.status, data: t.data };
  }

  /** Open reduce-only stop orders of a symbol on the paper exchange. */
  async exchangeStops(symbol: string): Promise<ExchangeOrder[]> {
    return (await this.paper.fetchOpenOrders(symbol)).filter((o) => o.kind === 'stop' && o.reduceOnly);
  }

  /** Sets a price and advances the clock by `ms` first. */
  move(symbol: string, price: string | Decimal, ms = 10_000): void {
    this.clock.advance(ms);
    this.paper.setPrice(symbol, price);
  }
}
