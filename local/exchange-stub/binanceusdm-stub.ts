/**
 * A Binance USDⓈ-M futures protocol stub: an HTTP server on 127.0.0.1 (random port) that speaks enough of
 * the `fapi` REST API for the real ccxt `binanceusdm` class, backed by any {@link ExchangePort} (the paper
 * exchange in tests and local runs). Every HTTP call maps to one or two port calls; an
 * {@link ExchangeFailure} from the port maps back to Binance's HTTP status and error body, so ccxt raises
 * exactly the error class it raises in production.
 *
 * Endpoints (public): `GET /fapi/v1/ping`, `/fapi/v1/time`, `/fapi/v1/exchangeInfo`, `/fapi/v1/ticker/24hr`,
 * `/fapi/v1/ticker/bookTicker`, `/fapi/v1/ticker/price`, `/fapi/v2/ticker/price`, `/fapi/v1/klines`.
 * Endpoints (signed; the signature is not checked): `GET /fapi/v2|v3/account`, `/fapi/v2|v3/balance`,
 * `/fapi/v2|v3/positionRisk`, `/fapi/v1/leverageBracket`, `POST /fapi/v1/leverage`, `POST|GET|DELETE /fapi/v1/order`,
 * `GET /fapi/v1/openOrders`, `/fapi/v1/allOrders`, `/fapi/v1/userTrades`, and the algo-order endpoints for
 * STOP_MARKET / TAKE_PROFIT_MARKET: `POST|GET|DELETE /fapi/v1/algoOrder`, `GET /fapi/v1/openAlgoOrders`,
 * `/fapi/v1/allAlgoOrders`.
 *
 * Error mapping (port failure code → HTTP status, Binance code): INSUFFICIENT_FUNDS → 400 -2019;
 * WOULD_TRIGGER_IMMEDIATELY → 400 -2021; DUPLICATE_CLIENT_ORDER_ID → 400 -4116; ORDER_NOT_FOUND → 400 -2013
 * (fetch) / -2011 (cancel); INVALID_ORDER → 400 -1116 with the reason; AUTHENTICATION → 401 -2015;
 * RATE_LIMITED → 429 -1003; UNAVAILABLE / CIRCUIT_OPEN → 503 (plain text); TIMEOUT → no response (the
 * client times out); NETWORK → the connection is reset; anything else → 500 -1000.
 *
 * Fault hooks on the stub itself ({@link BinanceUsdmStub.injectFault}): `drop-response` (the request is
 * fully handled, then no response is ever sent: the client sees a timeout while the order exists),
 * `rate-limit` (429 before handling), `unavailable` (503 before handling), `unavailable-after` (handled,
 * then 503), `reset` (the connection is destroyed before handling).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { D } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import type {
  ExchangeMarket,
  ExchangeOrder,
  ExchangePort,
  Fill,
  OrderKind,
  OrderRequest,
  Ticker,
} from '../../functions/ports/exchange.js';

/** The stub's own faults (on top of whatever the backing port injects). */
export type StubFaultKind = 'drop-response' | 'rate-limit' | 'unavailable' | 'unavailable-after' | 'reset';

/** One stub fault rule: fires on the next `times` (default 1) requests matching method and path. */
export interface StubFaultRule {
  kind: StubFaultKind;
  /** HTTP method to match (`GET`, `POST`, `DELETE`); default any. */
  method?: string;
  /** Exact path to match, e.g. `/fapi/v1/order`; default any. */
  path?: string;
  times?: number;
}

/** One request the stub received (for assertions: e.g. how many order POSTs were made). */
export interface StubRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  /** HTTP status sent, or `dropped` / `reset`. */
  outcome: number | 'dropped' | 'reset';
}

/** Options of {@link BinanceUsdmStub.start}. */
export interface BinanceUsdmStubOptions {
  /** Epoch ms for `serverTime` and response timestamps; default `Date.now`. */
  now?: () => number;
}

/** The Binance futures hosts whose requests {@link BinanceUsdmStub.fetchImplementation} rewrites. */
export const BINANCE_FUTURES_HOSTS: readonly string[] = ['fapi.binance.com'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const d2s = (d: Decimal | undefined, fallback = '0'): string => (d === undefined ? fallback : d.toFixed());

/** Binance's order status for a port order. */
function binanceStatus(o: ExchangeOrder): string {
  switch (o.status) {
    case 'open':
      return o.filledQty.gt(0) ? 'PARTIALLY_FILLED' : 'NEW';
    case 'closed':
      return 'FILLED';
    case 'canceled':
      return 'CANCELED';
    case 'rejected':
      return 'REJECTED';
    case 'expired':
      return 'EXPIRED';
  }
}

/** Binance's algo-order status for a port stop / take-profit. */
function algoStatus(o: ExchangeOrder): string {
  switch (o.status) {
    case 'open':
      return 'NEW';
    case 'closed':
      return 'FINISHED';
    case 'canceled':
      return 'CANCELED';
    case 'rejected':
      return 'REJECTED';
    case 'expired':
      return 'EXPIRED';
  }
}

function isTriggerKind(kind: OrderKind): boolean {
  return kind === 'stop' || kind === 'take-profit';
}

/** The Binance error body and HTTP status for a port failure (`cancel` picks -2011 for not-found). */
export function binanceErrorFor(
  f: ExchangeFailure,
  op: 'cancel' | 'other' = 'other',
): HttpError | 'drop' | 'reset' {
  switch (f.code) {
    case 'INSUFFICIENT_FUNDS':
      return new HttpError(400, -2019, 'Margin is insufficient.');
    case 'WOULD_TRIGGER_IMMEDIATELY':
      return new HttpError(400, -2021, 'Order would immediately trigger.');
    case 'DUPLICATE_CLIENT_ORDER_ID':
      return new HttpError(400, -4116, 'ClientOrderId is duplicated.');
    case 'ORDER_NOT_FOUND':
      return op === 'cancel'
        ? new HttpError(400, -2011, 'Unknown order sent.')
        : new HttpError(400, -2013, 'Order does not exist.');
    case 'INVALID_ORDER':
      return new HttpError(400, -1116, `Invalid orderType. ${f.message}`);
    case 'AUTHENTICATION':
      return new HttpError(401, -2015, 'Invalid API-key, IP, or permissions for action.');
    case 'RATE_LIMITED':
      return new HttpError(429, -1003, 'Too many requests; current limit is 2400 requests per minute.');
    case 'UNAVAILABLE':
    case 'CIRCUIT_OPEN':
      return new HttpError(503, 0, 'Service Unavailable');
    case 'TIMEOUT':
      return 'drop';
    case 'NETWORK':
      return 'reset';
    case 'UNKNOWN':
      return new HttpError(500, -1000, 'An unknown error occured while processing the request.');
  }
}

/** A running stub. Start with {@link BinanceUsdmStub.start}, stop with {@link BinanceUsdmStub.close}. */
export class BinanceUsdmStub {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every request received, oldest first. */
  readonly requests: StubRequest[] = [];
  /** Paths the stub does not implement that were requested (answered 404). */
  readonly unhandled: string[] = [];
  private faults: { rule: StubFaultRule; left: number }[] = [];
  private readonly held = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private markets: Record<string, ExchangeMarket> | undefined;
  private readonly byExchangeId = new Map<string, string>();
  /** Port order id ↔ numeric Binance id (port ids that are decimal integers are used as they are). */
  private readonly numToPort = new Map<number, string>();
  private readonly portToNum = new Map<string, number>();
  private nextNum = 1_000_000_000_000;
  private readonly now: () => number;

  private constructor(
    private readonly port: ExchangePort,
    private readonly server: Server,
    opts: BinanceUsdmStubOptions,
  ) {
    const address = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
    this.now = opts.now ?? Date.now;
  }

  /** Starts a stub backed by `port` on 127.0.0.1 and a random free port. */
  static async start(port: ExchangePort, opts: BinanceUsdmStubOptions = {}): Promise<BinanceUsdmStub> {
    const ref: { stub?: BinanceUsdmStub } = {};
    const server = createServer((req, res) => {
      if (ref.stub === undefined) {
        res.writeHead(503).end();
        return;
      }
      void ref.stub.handle(req, res);
    });
    server.on('connection', (s: Socket) => {
      ref.stub?.sockets.add(s);
      s.on('close', () => ref.stub?.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const stub = new BinanceUsdmStub(port, server, opts);
    ref.stub = stub;
    return stub;
  }

  /**
   * A `fetch` that sends requests for Binance's futures hosts to this stub (path and query kept) and
   * everything else to the real `fetch`. Give it to ccxt as `exchange.fetchImplementation`.
   */
  readonly fetchImplementation = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const u = new URL(raw);
    if (BINANCE_FUTURES_HOSTS.includes(u.hostname)) {
      return fetch(`${this.url}${u.pathname}${u.search}`, init);
    }
    return fetch(input, init);
  };

  /** Adds a fault rule; rules fire in the order added. */
  injectFault(rule: StubFaultRule): void {
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1)
      throw new RangeError(`fault times must be an integer ≥ 1, got ${times}`);
    this.faults.push({ rule, left: times });
  }

  /** Removes every pending fault rule. */
  clearFaults(): void {
    this.faults = [];
  }

  /** Requests received for one method and path (e.g. `POST /fapi/v1/order`). */
  requestsTo(method: string, path: string): StubRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** Stops the server, dropping held responses and open connections. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFault(method: string, path: string): StubFaultKind | undefined {
    for (const f of this.faults) {
      if (f.left <= 0) continue;
      if (f.rule.method !== undefined && f.rule.method !== method) continue;
      if (f.rule.path !== undefined && f.rule.path !== path) continue;
      f.left -= 1;
      return f.rule.kind;
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------- HTTP plumbing

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params: Record<string, string> = {};
    for (const [k, v] of u.searchParams) params[k] = v;
    const body = await new Promise<string>((resolve) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => resolve(data));
      req.on('error', () => resolve(data));
    });
    for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    const record: StubRequest = { method, path: u.pathname, params, outcome: 0 };
    this.requests.push(record);

    const fault = this.takeFault(method, u.pathname);
    if (fault === 'reset') {
      record.outcome = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault === 'rate-limit') {
      this.sendError(
        res,
        record,
        new HttpError(429, -1003, 'Too many requests; current limit is 2400 requests per minute.'),
      );
      return;
    }
    if (fault === 'unavailable') {
      this.sendError(res, record, new HttpError(503, 0, 'Service Unavailable'));
      return;
    }

    let payload: unknown;
    let failure: HttpError | 'drop' | 'reset' | undefined;
    try {
      payload = await this.route(method, u.pathname, params);
      if (payload === undefined) {
        this.unhandled.push(`${method} ${u.pathname}`);
        failure = new HttpError(404, 0, `stub: ${method} ${u.pathname} is not implemented`);
      }
    } catch (e) {
      if (e instanceof HttpError) failure = e;
      else if (e instanceof ExchangeFailure) {
        const op = method === 'DELETE' ? 'cancel' : 'other';
        failure = binanceErrorFor(e, op);
      } else failure = new HttpError(500, -1000, 'An unknown error occured while processing the request.');
    }
    if (fault === 'drop-response' || failure === 'drop') {
      record.outcome = 'dropped';
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    if (failure === 'reset') {
      record.outcome = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault === 'unavailable-after') {
      this.sendError(res, record, new HttpError(503, 0, 'Service Unavailable'));
      return;
    }
    if (failure !== undefined) {
      this.sendError(res, record, failure);
      return;
    }
    record.outcome = 200;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }

  private sendError(res: ServerResponse, record: StubRequest, e: HttpError): void {
    record.outcome = e.status;
    if (e.status === 503 || e.status === 404) {
      res.writeHead(e.status, { 'content-type': 'text/plain' });
      res.end(e.message);
      return;
    }
    res.writeHead(e.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: e.code, msg: e.message }));
  }

  // ---------------------------------------------------------------------------------- helpers

  private async loadMarkets(): Promise<Record<string, ExchangeMarket>> {
    if (this.markets === undefined) {
      this.markets = await this.port.loadMarkets();
      for (const [symbol, m] of Object.entries(this.markets)) this.byExchangeId.set(m.id, symbol);
    }
    return this.markets;
  }

  /** The unified symbol of a Binance symbol id (`BTCUSDT` → `BTC/USDT:USDT`); -1121 when unknown. */
  private async symbolOf(id: string | undefined): Promise<string> {
    await this.loadMarkets();
    const symbol = id === undefined ? undefined : this.byExchangeId.get(id);
    if (symbol === undefined) throw new HttpError(400, -1121, 'Invalid symbol.');
    return symbol;
  }

  private exchangeIdOf(symbol: string): string {
    return this.markets?.[symbol]?.id ?? symbol.replace(/[/:].*$/, '').replace('/', '');
  }

  private numOf(portId: string): number {
    const known = this.portToNum.get(portId);
    if (known !== undefined) return known;
    const n = /^\d{1,15}$/.test(portId) ? Number(portId) : this.nextNum++;
    this.portToNum.set(portId, n);
    this.numToPort.set(n, portId);
    return n;
  }

  /** A numeric trade id: the digits a port fill id ends with (`f12` → 12), else a fresh number. */
  private tradeNum(fillId: string): number {
    const m = /(\d{1,15})$/.exec(fillId);
    return m?.[1] !== undefined ? Number(m[1]) : this.nextNum++;
  }

  private portIdOf(num: string): string {
    const n = Number(num);
    return this.numToPort.get(n) ?? num;
  }

  private required(params: Record<string, string>, name: string): string {
    const v = params[name];
    if (v === undefined || v === '') {
      throw new HttpError(
        400,
        -1102,
        `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`,
      );
    }
    return v;
  }

  private decimal(params: Record<string, string>, name: string): Decimal {
    const v = this.required(params, name);
    try {
      return new D(v);
    } catch {
      throw new HttpError(
        400,
        -1100,
        `Illegal characters found in parameter '${name}'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.`,
      );
    }
  }

  private orderJson(o: ExchangeOrder): Record<string, unknown> {
    const cumQuote = o.avgPrice !== undefined ? o.avgPrice.mul(o.filledQty) : new D(0);
    const type =
      o.kind === 'limit'
        ? 'LIMIT'
        : o.kind === 'stop'
          ? 'STOP_MARKET'
          : o.kind === 'take-profit'
            ? 'TAKE_PROFIT_MARKET'
            : 'MARKET';
    return {
      orderId: this.numOf(o.id),
      symbol: this.exchangeIdOf(o.symbol),
      status: binanceStatus(o),
      clientOrderId: o.clientOrderId ?? `stub${o.id}`,
      price: d2s(o.price),
      avgPrice: d2s(o.avgPrice),
      origQty: o.qty.toFixed(),
      executedQty: o.filledQty.toFixed(),
      cumQty: o.filledQty.toFixed(),
      cumQuote: cumQuote.toFixed(),
      timeInForce: 'GTC',
      type,
      reduceOnly: o.reduceOnly,
      closePosition: false,
      side: o.side.toUpperCase(),
      positionSide: 'BOTH',
      stopPrice: d2s(o.triggerPrice),
      workingType: 'CONTRACT_PRICE',
      priceProtect: false,
      origType: type,
      priceMatch: 'NONE',
      selfTradePreventionMode: 'EXPIRE_MAKER',
      goodTillDate: 0,
      time: o.createdAt,
      updateTime: o.createdAt,
    };
  }

  private algoJson(o: ExchangeOrder): Record<string, unknown> {
    return {
      algoId: this.numOf(o.id),
      clientAlgoId: o.clientOrderId ?? `stub${o.id}`,
      algoType: 'CONDITIONAL',
      orderType: o.kind === 'take-profit' ? 'TAKE_PROFIT_MARKET' : 'STOP_MARKET',
      symbol: this.exchangeIdOf(o.symbol),
      side: o.side.toUpperCase(),
      positionSide: 'BOTH',
      timeInForce: 'GTC',
      quantity: o.qty.toFixed(),
      algoStatus: algoStatus(o),
      triggerPrice: d2s(o.triggerPrice),
      price: '0',
      icebergQuantity: null,
      selfTradePreventionMode: 'EXPIRE_MAKER',
      workingType: 'CONTRACT_PRICE',
      priceMatch: 'NONE',
      closePosition: false,
      priceProtect: false,
      reduceOnly: o.reduceOnly,
      actualPrice: o.avgPrice !== undefined ? o.avgPrice.toFixed() : '0',
      createTime: o.createdAt,
      updateTime: o.createdAt,
      triggerTime: o.status === 'closed' ? o.createdAt : 0,
      goodTillDate: 0,
    };
  }

  private tradeJson(f: Fill): Record<string, unknown> {
    return {
      buyer: f.side === 'buy',
      commission: f.fee.toFixed(),
      commissionAsset: 'USDT',
      id: this.tradeNum(f.id),
      maker: false,
      orderId: this.numOf(f.orderId),
      price: f.price.toFixed(),
      qty: f.qty.toFixed(),
      quoteQty: f.price.mul(f.qty).toFixed(),
      realizedPnl: '0',
      side: f.side.toUpperCase(),
      positionSide: 'BOTH',
      symbol: this.exchangeIdOf(f.symbol),
      time: f.at,
    };
  }

  /** Builds the port's order request from Binance's create parameters (regular or algo). */
  private async orderRequest(params: Record<string, string>, algo: boolean): Promise<OrderRequest> {
    const symbol = await this.symbolOf(this.required(params, 'symbol'));
    const type = this.required(params, 'type');
    const sideRaw = this.required(params, 'side');
    if (sideRaw !== 'BUY' && sideRaw !== 'SELL') throw new HttpError(400, -1117, 'Invalid side.');
    const kinds: Record<string, OrderKind> = algo
      ? { STOP_MARKET: 'stop', TAKE_PROFIT_MARKET: 'take-profit' }
      : { MARKET: 'market', LIMIT: 'limit' };
    const kind = kinds[type];
    if (kind === undefined) throw new HttpError(400, -1116, 'Invalid orderType.');
    const clientOrderId = (algo ? params.clientAlgoId : params.newClientOrderId) ?? `stub-${this.nextNum++}`;
    const request: OrderRequest = {
      symbol,
      side: sideRaw === 'BUY' ? 'buy' : 'sell',
      kind,
      qty: this.decimal(params, 'quantity'),
      reduceOnly: params.reduceOnly === 'true',
      clientOrderId,
    };
    if (kind === 'limit') request.price = this.decimal(params, 'price');
    if (algo) request.triggerPrice = this.decimal(params, 'triggerPrice');
    return request;
  }

  /** Finds the order a GET / DELETE names, by numeric id or client id. */
  private async findOrder(params: Record<string, string>, algo: boolean): Promise<ExchangeOrder> {
    const symbol = await this.symbolOf(this.required(params, 'symbol'));
    const lookup = { symbol, trigger: algo };
    const id = algo ? params.algoId : params.orderId;
    const cid = algo ? params.clientAlgoId : params.origClientOrderId;
    if (id !== undefined) return this.port.fetchOrder(this.portIdOf(id), lookup);
    if (cid !== undefined) {
      const o = await this.port.fetchOrderByClientId(cid, lookup);
      if (o === null) throw new HttpError(400, -2013, 'Order does not exist.');
      return o;
    }
    throw new HttpError(
      400,
      -1102,
      `Param '${algo ? 'algoId' : 'orderId'}' or '${algo ? 'clientAlgoId' : 'origClientOrderId'}' must be sent, but both were empty/null!`,
    );
  }

  private async openOrders(params: Record<string, string>, algo: boolean): Promise<ExchangeOrder[]> {
    const symbol = params.symbol === undefined ? undefined : await this.symbolOf(params.symbol);
    const all = await this.port.fetchOpenOrders(symbol);
    return all.filter((o) => isTriggerKind(o.kind) === algo);
  }

  // ---------------------------------------------------------------------------------- routes

  /** The response payload of one request, or `undefined` for an unknown route. */
  private async route(method: string, path: string, p: Record<string, string>): Promise<unknown> {
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /fapi/v1/ping':
        return {};
      case 'GET /fapi/v1/time':
        return { serverTime: this.now() };
      case 'GET /fapi/v1/exchangeInfo':
        return this.exchangeInfo();
      case 'GET /fapi/v1/ticker/24hr':
        return this.ticker24hr(p);
      case 'GET /fapi/v1/ticker/bookTicker':
        return this.bookTicker(p);
      case 'GET /fapi/v1/ticker/price':
      case 'GET /fapi/v2/ticker/price':
        return this.tickerPrice(p);
      case 'GET /fapi/v1/klines':
        return this.klines(p);
      case 'GET /fapi/v2/account':
      case 'GET /fapi/v3/account':
        return this.account();
      case 'GET /fapi/v2/balance':
      case 'GET /fapi/v3/balance':
        return this.balance();
      case 'GET /fapi/v2/positionRisk':
      case 'GET /fapi/v3/positionRisk':
        return this.positionRisk(p);
      case 'GET /fapi/v1/leverageBracket':
        return this.leverageBrackets(p);
      case 'POST /fapi/v1/leverage': {
        const symbol = await this.symbolOf(this.required(p, 'symbol'));
        const leverage = Number(this.required(p, 'leverage'));
        if (!Number.isInteger(leverage) || leverage < 1)
          throw new HttpError(400, -4028, 'Leverage is not valid');
        await this.port.setLeverage(symbol, leverage);
        return { leverage, maxNotionalValue: '1000000000', symbol: p.symbol };
      }
      case 'POST /fapi/v1/order': {
        const o = await this.port.createOrder(await this.orderRequest(p, false));
        return this.orderJson(o);
      }
      case 'GET /fapi/v1/order':
        return this.orderJson(await this.findOrder(p, false));
      case 'DELETE /fapi/v1/order': {
        const found = await this.findOrder(p, false).catch((e: unknown) => {
          if (e instanceof HttpError && e.code === -2013)
            throw new HttpError(400, -2011, 'Unknown order sent.');
          throw e;
        });
        const o = await this.port.cancelOrder(found.id, { symbol: found.symbol, trigger: false });
        return this.orderJson(o);
      }
      case 'GET /fapi/v1/openOrders':
        return (await this.openOrders(p, false)).map((o) => this.orderJson(o));
      case 'GET /fapi/v1/allOrders':
        return (await this.openOrders(p, false)).map((o) => this.orderJson(o));
      case 'POST /fapi/v1/algoOrder': {
        if (p.algoType !== 'CONDITIONAL') throw new HttpError(400, -1116, 'Invalid algoType.');
        const o = await this.port.createOrder(await this.orderRequest(p, true));
        return this.algoJson(o);
      }
      case 'GET /fapi/v1/algoOrder':
        return this.algoJson(await this.findOrder(p, true));
      case 'DELETE /fapi/v1/algoOrder': {
        const found = await this.findOrder(p, true);
        const o = await this.port.cancelOrder(found.id, { symbol: found.symbol, trigger: true });
        return { algoId: this.numOf(o.id), clientAlgoId: o.clientOrderId ?? '', code: '200', msg: 'success' };
      }
      case 'GET /fapi/v1/openAlgoOrders':
      case 'GET /fapi/v1/allAlgoOrders':
        return (await this.openOrders(p, true)).map((o) => this.algoJson(o));
      case 'GET /fapi/v1/userTrades': {
        const symbol = await this.symbolOf(this.required(p, 'symbol'));
        const since = p.startTime === undefined ? undefined : Number(p.startTime);
        const fills = await this.port.fetchMyTrades(symbol, since);
        const limit = p.limit === undefined ? 500 : Number(p.limit);
        return fills.slice(-limit).map((f) => this.tradeJson(f));
      }
      default:
        return undefined;
    }
  }

  private async exchangeInfo(): Promise<unknown> {
    const markets = await this.loadMarkets();
    const decimals = (d: Decimal): number => Math.max(0, d.decimalPlaces());
    return {
      timezone: 'UTC',
      serverTime: this.now(),
      futuresType: 'U_MARGINED',
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 },
        { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
      ],
      exchangeFilters: [],
      assets: [{ asset: 'USDT', marginAvailable: true, autoAssetExchange: '-10000' }],
      symbols: Object.values(markets).map((m) => ({
        symbol: m.id,
        pair: m.id,
        contractType: 'PERPETUAL',
        deliveryDate: 4133404800000,
        onboardDate: 1569398400000,
        status: 'TRADING',
        maintMarginPercent: '2.5000',
        requiredMarginPercent: '5.0000',
        baseAsset: m.base,
        quoteAsset: m.quote,
        marginAsset: m.quote,
        pricePrecision: decimals(m.tickSize),
        quantityPrecision: decimals(m.lotStep),
        baseAssetPrecision: 8,
        quotePrecision: 8,
        underlyingType: 'COIN',
        underlyingSubType: [],
        settlePlan: 0,
        triggerProtect: '0.0500',
        liquidationFee: '0.012500',
        marketTakeBound: '0.05',
        maxMoveOrderLimit: 10000,
        filters: [
          {
            filterType: 'PRICE_FILTER',
            minPrice: m.tickSize.toFixed(),
            maxPrice: '10000000',
            tickSize: m.tickSize.toFixed(),
          },
          {
            filterType: 'LOT_SIZE',
            minQty: m.minQty.toFixed(),
            maxQty: d2s(m.maxQty, '1000000'),
            stepSize: m.lotStep.toFixed(),
          },
          {
            filterType: 'MARKET_LOT_SIZE',
            minQty: m.minQty.toFixed(),
            maxQty: d2s(m.maxQty, '1000000'),
            stepSize: m.lotStep.toFixed(),
          },
          { filterType: 'MAX_NUM_ORDERS', limit: 200 },
          { filterType: 'MAX_NUM_ALGO_ORDERS', limit: 10 },
          { filterType: 'MIN_NOTIONAL', notional: m.minNotional.toFixed() },
          {
            filterType: 'PERCENT_PRICE',
            multiplierUp: '1.0500',
            multiplierDown: '0.9500',
            multiplierDecimal: '4',
          },
        ],
        orderTypes: [
          'LIMIT',
          'MARKET',
          'STOP',
          'STOP_MARKET',
          'TAKE_PROFIT',
          'TAKE_PROFIT_MARKET',
          'TRAILING_STOP_MARKET',
        ],
        timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
      })),
    };
  }

  private async leverageBrackets(p: Record<string, string>): Promise<unknown> {
    const markets = await this.loadMarkets();
    const symbols = await this.symbolsOf(p);
    return symbols.map((s) => ({
      symbol: this.exchangeIdOf(s),
      notionalCoef: 1,
      brackets: [
        {
          bracket: 1,
          initialLeverage: markets[s]?.maxLeverage ?? 20,
          notionalCap: 1_000_000_000,
          notionalFloor: 0,
          maintMarginRatio: 0.004,
          cum: 0,
        },
      ],
    }));
  }

  private async symbolsOf(p: Record<string, string>): Promise<string[]> {
    const markets = await this.loadMarkets();
    return p.symbol === undefined ? Object.keys(markets) : [await this.symbolOf(p.symbol)];
  }

  /**
   * The tickers a ticker endpoint answers: the one symbol asked for (its errors pass through), or — without a
   * symbol, as Binance does — every market that has a price (markets not yet priced are left out, not failed).
   */
  private async tickersOf(p: Record<string, string>): Promise<Record<string, Ticker>> {
    const symbols = await this.symbolsOf(p);
    if (p.symbol !== undefined) return this.port.fetchTickers(symbols);
    const out: Record<string, Ticker> = {};
    for (const symbol of symbols) {
      try {
        out[symbol] = await this.port.fetchTicker(symbol);
      } catch {
        // no price yet for this market
      }
    }
    return out;
  }

  private async ticker24hr(p: Record<string, string>): Promise<unknown> {
    const tickers = await this.tickersOf(p);
    const rows = Object.values(tickers).map((t) => ({
      symbol: this.exchangeIdOf(t.symbol),
      priceChange: '0',
      priceChangePercent: '0',
      weightedAvgPrice: t.last.toFixed(),
      lastPrice: t.last.toFixed(),
      lastQty: '0',
      openPrice: t.last.toFixed(),
      highPrice: t.last.toFixed(),
      lowPrice: t.last.toFixed(),
      volume: '0',
      quoteVolume: '0',
      openTime: t.at - 86_400_000,
      closeTime: t.at,
      firstId: 0,
      lastId: 0,
      count: 0,
    }));
    return p.symbol === undefined ? rows : rows[0];
  }

  private async bookTicker(p: Record<string, string>): Promise<unknown> {
    const tickers = await this.tickersOf(p);
    const rows = Object.values(tickers).map((t) => ({
      symbol: this.exchangeIdOf(t.symbol),
      bidPrice: (t.bid ?? t.last).toFixed(),
      bidQty: '1',
      askPrice: (t.ask ?? t.last).toFixed(),
      askQty: '1',
      time: t.at,
    }));
    return p.symbol === undefined ? rows : rows[0];
  }

  private async tickerPrice(p: Record<string, string>): Promise<unknown> {
    const tickers = await this.tickersOf(p);
    const rows = Object.values(tickers).map((t) => ({
      symbol: this.exchangeIdOf(t.symbol),
      price: t.last.toFixed(),
      time: t.at,
    }));
    return p.symbol === undefined ? rows : rows[0];
  }

  private async klines(p: Record<string, string>): Promise<unknown> {
    const symbol = await this.symbolOf(this.required(p, 'symbol'));
    const interval = this.required(p, 'interval');
    const since = p.startTime === undefined ? undefined : Number(p.startTime);
    const limit = p.limit === undefined ? undefined : Number(p.limit);
    const candles = await this.port.fetchOHLCV(symbol, interval, since, limit);
    return candles.map((c) => [
      c.openTime,
      c.open.toFixed(),
      c.high.toFixed(),
      c.low.toFixed(),
      c.close.toFixed(),
      c.volume.toFixed(),
      c.openTime + c.intervalMs - 1,
      c.volume.mul(c.close).toFixed(),
      0,
      '0',
      '0',
      '0',
    ]);
  }

  private async account(): Promise<unknown> {
    const b = await this.port.fetchBalance();
    const positions = await this.port.fetchPositions();
    const upnl = positions.reduce((s, p) => s.plus(p.unrealizedPnl ?? 0), new D(0));
    const margin = b.total.plus(upnl);
    const asset = {
      asset: b.currency,
      walletBalance: b.total.toFixed(),
      unrealizedProfit: upnl.toFixed(),
      marginBalance: margin.toFixed(),
      maintMargin: '0',
      initialMargin: b.used.toFixed(),
      positionInitialMargin: b.used.toFixed(),
      openOrderInitialMargin: '0',
      crossWalletBalance: b.total.toFixed(),
      crossUnPnl: upnl.toFixed(),
      availableBalance: b.free.toFixed(),
      maxWithdrawAmount: b.free.toFixed(),
      updateTime: this.now(),
    };
    return {
      totalInitialMargin: b.used.toFixed(),
      totalMaintMargin: '0',
      totalWalletBalance: b.total.toFixed(),
      totalUnrealizedProfit: upnl.toFixed(),
      totalMarginBalance: margin.toFixed(),
      totalPositionInitialMargin: b.used.toFixed(),
      totalOpenOrderInitialMargin: '0',
      totalCrossWalletBalance: b.total.toFixed(),
      totalCrossUnPnl: upnl.toFixed(),
      availableBalance: b.free.toFixed(),
      maxWithdrawAmount: b.free.toFixed(),
      assets: [asset],
      positions: positions.map((p) => ({
        symbol: this.exchangeIdOf(p.symbol),
        positionSide: 'BOTH',
        positionAmt: (p.side === 'short' ? p.qty.neg() : p.qty).toFixed(),
        unrealizedProfit: d2s(p.unrealizedPnl),
        isolatedMargin: '0',
        notional: p.qty.mul(p.markPrice ?? p.entryPrice).toFixed(),
        isolatedWallet: '0',
        initialMargin: '0',
        maintMargin: '0',
        updateTime: this.now(),
      })),
    };
  }

  private async balance(): Promise<unknown> {
    const b = await this.port.fetchBalance();
    return [
      {
        accountAlias: 'stub',
        asset: b.currency,
        balance: b.total.toFixed(),
        crossWalletBalance: b.total.toFixed(),
        crossUnPnl: '0',
        availableBalance: b.free.toFixed(),
        maxWithdrawAmount: b.free.toFixed(),
        marginAvailable: true,
        updateTime: this.now(),
      },
    ];
  }

  private async positionRisk(p: Record<string, string>): Promise<unknown> {
    const symbol = p.symbol === undefined ? undefined : await this.symbolOf(p.symbol);
    const positions = await this.port.fetchPositions(symbol === undefined ? undefined : [symbol]);
    return positions.map((x) => {
      const mark = x.markPrice ?? x.entryPrice;
      const leverage = x.leverage ?? 1;
      return {
        symbol: this.exchangeIdOf(x.symbol),
        positionSide: 'BOTH',
        positionAmt: (x.side === 'short' ? x.qty.neg() : x.qty).toFixed(),
        entryPrice: x.entryPrice.toFixed(),
        breakEvenPrice: x.entryPrice.toFixed(),
        markPrice: mark.toFixed(),
        unRealizedProfit: d2s(x.unrealizedPnl),
        liquidationPrice: '0',
        isolatedMargin: '0',
        notional: (x.side === 'short' ? x.qty.neg() : x.qty).mul(mark).toFixed(),
        marginAsset: 'USDT',
        isolatedWallet: '0',
        initialMargin: x.qty.mul(mark).div(leverage).toFixed(),
        maintMargin: '0',
        positionInitialMargin: x.qty.mul(mark).div(leverage).toFixed(),
        openOrderInitialMargin: '0',
        leverage: String(leverage),
        marginType: 'cross',
        adl: 0,
        bidNotional: '0',
        askNotional: '0',
        updateTime: this.now(),
      };
    });
  }
}
