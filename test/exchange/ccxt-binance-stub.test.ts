/**
 * The real ccxt `binanceusdm` class (production URLs, host rewritten by `fetchImplementation`) driven
 * through the ccxt adapter against the Binance USDⓈ-M protocol stub, backed by the paper exchange.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import binanceusdm from 'ccxt/js/src/binanceusdm.js';
import { OrderImmediatelyFillable } from 'ccxt/js/src/base/errors.js';
import { createBinanceUsdmExchange } from '../../functions/adapters/ccxt/binanceusdm.js';
import type { CcxtExchange } from '../../functions/adapters/ccxt/ccxt-exchange.js';
import { StaticCredentialsProvider } from '../../functions/adapters/ccxt/credentials.js';
import { PaperExchange } from '../../functions/adapters/paper/paper-exchange.js';
import { D } from '../../functions/core/decimal.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import type { OrderRequest } from '../../functions/ports/exchange.js';
import { BinanceUsdmStub } from '../../local/exchange-stub/binanceusdm-stub.js';

const BTC = 'BTC/USDT:USDT';
const KEY = 'stub-api-key-0001';
const SECRET = 'stub-secret-0001';

let clock: { t: number; now(): number; advance(ms: number): void };
let paper: PaperExchange;
let stub: BinanceUsdmStub;
let ex: CcxtExchange;

beforeEach(async () => {
  clock = {
    t: 1_700_000_000_000,
    now() {
      return this.t;
    },
    advance(ms: number) {
      this.t += ms;
    },
  };
  paper = new PaperExchange({
    markets: {
      [BTC]: { tickSize: '0.1', lotStep: '0.001', minQty: '0.001', minNotional: '100', maxLeverage: 125 },
    },
    clock,
    initialBalance: '10000',
  });
  paper.setPrice(BTC, '30000');
  stub = await BinanceUsdmStub.start(paper, { now: () => clock.now() });
  ex = createBinanceUsdmExchange({
    accountId: 'acct-1',
    credentials: new StaticCredentialsProvider({ apiKey: KEY, secret: SECRET }),
    timeoutMs: 400,
    enableRateLimit: false,
    fetchImplementation: stub.fetchImplementation,
  });
});

afterEach(async () => {
  await stub.close();
});

const entry = (clientOrderId: string, qty = '0.01'): OrderRequest => ({
  symbol: BTC,
  side: 'buy',
  kind: 'market',
  qty: new D(qty),
  reduceOnly: false,
  clientOrderId,
});
const stop = (clientOrderId: string, trigger: string, qty = '0.01'): OrderRequest => ({
  symbol: BTC,
  side: 'sell',
  kind: 'stop',
  qty: new D(qty),
  triggerPrice: new D(trigger),
  reduceOnly: true,
  clientOrderId,
});

async function failureOf(p: Promise<unknown>): Promise<ExchangeFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ExchangeFailure) return e;
    throw e;
  }
  throw new Error('expected an ExchangeFailure, the call succeeded');
}

describe('reads', () => {
  test('loadMarkets maps exchangeInfo filters to precision and limits', async () => {
    const m = (await ex.loadMarkets())[BTC];
    expect(m?.id).toBe('BTCUSDT');
    expect(m?.tickSize.toFixed()).toBe('0.1');
    expect(m?.lotStep.toFixed()).toBe('0.001');
    expect(m?.minQty.toFixed()).toBe('0.001');
    expect(m?.minNotional.toFixed()).toBe('100');
    expect(m?.contractSize.toFixed()).toBe('1');
    expect(stub.requestsTo('GET', '/fapi/v1/exchangeInfo')).toHaveLength(1);
  });

  test('fetchTicker reads ticker/24hr', async () => {
    const t = await ex.fetchTicker(BTC);
    expect(t.last.toFixed()).toBe('30000');
    expect(t.symbol).toBe(BTC);
  });

  test('fetchBalance reads v3 account: total, free, used in USDT', async () => {
    const b = await ex.fetchBalance();
    expect(b.currency).toBe('USDT');
    expect(b.total.toFixed()).toBe('10000');
    expect(b.free.toFixed()).toBe('10000');
    expect(b.used.toFixed()).toBe('0');
    expect(stub.requestsTo('GET', '/fapi/v3/account')).toHaveLength(1);
  });

  test('the API key travels in the header, never in a failure message', async () => {
    stub.injectFault({ kind: 'drop-response', path: '/fapi/v3/account' });
    const f = await failureOf(ex.fetchBalance());
    expect(f.code).toBe('TIMEOUT');
    expect(f.message).not.toContain(KEY);
    expect(f.message).not.toContain(SECRET);
    expect(f.message).toContain('signature=[REDACTED]');
  });
});

describe('orders', () => {
  test('market entry with a client id, then the position', async () => {
    await ex.setLeverage(BTC, 5);
    const o = await ex.createOrder(entry('t1-entry-a1'));
    expect(o.clientOrderId).toBe('t1-entry-a1');
    expect(o.status).toBe('closed');
    expect(o.filledQty.toFixed()).toBe('0.01');
    expect(o.avgPrice?.toFixed()).toBe('30000');
    const sent = stub.requestsTo('POST', '/fapi/v1/order');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.params.newClientOrderId).toBe('t1-entry-a1');
    const positions = await ex.fetchPositions([BTC]);
    expect(positions).toHaveLength(1);
    expect(positions[0]?.side).toBe('long');
    expect(positions[0]?.qty.toFixed()).toBe('0.01');
    expect(positions[0]?.entryPrice.toFixed()).toBe('30000');
  });

  test('a stop is a reduce-only STOP_MARKET algo order, its trigger rounded up to the tick for a long', async () => {
    await ex.createOrder(entry('t2-entry'));
    const s = await ex.createOrder(stop('t2-stop', '29000.04'));
    expect(s.kind).toBe('stop');
    expect(s.status).toBe('open');
    expect(s.triggerPrice?.toFixed()).toBe('29000.1');
    const sent = stub.requestsTo('POST', '/fapi/v1/algoOrder');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.params).toMatchObject({
      algoType: 'CONDITIONAL',
      type: 'STOP_MARKET',
      side: 'SELL',
      quantity: '0.01',
      triggerPrice: '29000.1',
      reduceOnly: 'true',
      clientAlgoId: 't2-stop',
    });
    const open = await ex.fetchOpenOrders(BTC);
    expect(open.map((o) => `${o.kind}:${o.clientOrderId}`)).toEqual(['stop:t2-stop']);
  });

  test('the stop triggers on the paper exchange and the algo order reads back as closed', async () => {
    await ex.createOrder(entry('t3-entry'));
    const s = await ex.createOrder(stop('t3-stop', '29000'));
    paper.setPrice(BTC, '28900');
    const after = await ex.fetchOrder(s.id, { symbol: BTC, trigger: true });
    expect(after.status).toBe('closed');
    expect(await ex.fetchPositions([BTC])).toEqual([]);
  });

  test('cancel a stop (trigger: true), then it is canceled and gone from open orders', async () => {
    await ex.createOrder(entry('t4-entry'));
    const s = await ex.createOrder(stop('t4-stop', '29000'));
    const c = await ex.cancelOrder(s.id, { symbol: BTC, trigger: true });
    expect(c.status).toBe('canceled');
    expect(c.clientOrderId).toBe('t4-stop');
    expect(stub.requestsTo('DELETE', '/fapi/v1/algoOrder')).toHaveLength(1);
    expect(await ex.fetchOpenOrders(BTC)).toEqual([]);
  });

  test('cancel of an unknown order → ORDER_NOT_FOUND; lookup of an unknown client id → null', async () => {
    const f = await failureOf(ex.cancelOrder('424242', { symbol: BTC, trigger: false }));
    expect([f.code, f.outcome]).toEqual(['ORDER_NOT_FOUND', 'never-retry']);
    expect(await ex.fetchOrderByClientId('nope-1', { symbol: BTC, trigger: false })).toBeNull();
    expect(await ex.fetchOrderByClientId('nope-2', { symbol: BTC, trigger: true })).toBeNull();
  });

  test('fills (userTrades) carry price, qty and fee', async () => {
    const o = await ex.createOrder(entry('t5-entry'));
    const fills = await ex.fetchMyTrades(BTC);
    expect(fills).toHaveLength(1);
    expect(fills[0]?.orderId).toBe(o.id);
    expect(fills[0]?.price.toFixed()).toBe('30000');
    expect(fills[0]?.qty.toFixed()).toBe('0.01');
    expect(fills[0]?.fee.toFixed()).toBe('0.15');
  });
});

describe('a lost response on create: look up by client id, no second order', () => {
  test('entry: the stub drops the response, the client times out, the lookup finds the order', async () => {
    stub.injectFault({ kind: 'drop-response', method: 'POST', path: '/fapi/v1/order' });
    const f = await failureOf(ex.createOrder(entry('t6-entry')));
    expect([f.code, f.outcome]).toEqual(['TIMEOUT', 'unknown-outcome']);
    const found = await ex.fetchOrderByClientId('t6-entry', { symbol: BTC, trigger: false });
    expect(found?.clientOrderId).toBe('t6-entry');
    expect(found?.status).toBe('closed');
    expect(stub.requestsTo('POST', '/fapi/v1/order')).toHaveLength(1);
    expect(paper.ordersWithClientId('t6-entry')).toHaveLength(1);
  });

  test('stop: the lookup with trigger: true finds the algo order; no second one is created', async () => {
    await ex.createOrder(entry('t7-entry'));
    stub.injectFault({ kind: 'drop-response', method: 'POST', path: '/fapi/v1/algoOrder' });
    const f = await failureOf(ex.createOrder(stop('t7-stop', '29000')));
    expect(f.outcome).toBe('unknown-outcome');
    const found = await ex.fetchOrderByClientId('t7-stop', { symbol: BTC, trigger: true });
    expect(found?.kind).toBe('stop');
    expect(found?.status).toBe('open');
    expect(stub.requestsTo('POST', '/fapi/v1/algoOrder')).toHaveLength(1);
    expect(paper.ordersWithClientId('t7-stop')).toHaveLength(1);
  });
});

describe('error mapping through the real ccxt error handling', () => {
  test('-2019 margin insufficient → INSUFFICIENT_FUNDS, never-retry', async () => {
    const f = await failureOf(ex.createOrder(entry('t8-entry', '100')));
    expect([f.code, f.outcome]).toEqual(['INSUFFICIENT_FUNDS', 'never-retry']);
    expect(f.message).toContain('-2019');
  });

  test('-2021 order would immediately trigger → WOULD_TRIGGER_IMMEDIATELY, never-retry', async () => {
    await ex.createOrder(entry('t9-entry'));
    const f = await failureOf(ex.createOrder(stop('t9-stop', '30500')));
    expect([f.code, f.outcome]).toEqual(['WOULD_TRIGGER_IMMEDIATELY', 'never-retry']);
    expect(f.message).toContain('-2021');
  });

  test('raw ccxt raises OrderImmediatelyFillable for -2021 (as in production)', async () => {
    const raw = new binanceusdm({
      apiKey: KEY,
      secret: SECRET,
      enableRateLimit: false,
      timeout: 400,
      options: { fetchCurrencies: false },
    });
    (raw as unknown as { fetchImplementation: unknown }).fetchImplementation = stub.fetchImplementation;
    await raw.createOrder(BTC, 'market', 'buy', 0.01);
    await expect(
      raw.createOrder(BTC, 'market', 'sell', 0.01, undefined, { stopLossPrice: '31000', reduceOnly: true }),
    ).rejects.toBeInstanceOf(OrderImmediatelyFillable);
  });

  test('-4116 duplicate client order id → DUPLICATE_CLIENT_ORDER_ID, never-retry', async () => {
    await ex.createOrder(entry('t10-entry'));
    await ex.createOrder(stop('t10-stop', '29000'));
    const f = await failureOf(ex.createOrder(stop('t10-stop', '29000')));
    expect([f.code, f.outcome]).toEqual(['DUPLICATE_CLIENT_ORDER_ID', 'never-retry']);
    expect(f.message).toContain('-4116');
  });

  test('HTTP 429 → RATE_LIMITED, retryable (even on a write: nothing was done)', async () => {
    stub.injectFault({ kind: 'rate-limit', method: 'POST', path: '/fapi/v1/order' });
    const f = await failureOf(ex.createOrder(entry('t11-entry')));
    expect([f.code, f.outcome]).toEqual(['RATE_LIMITED', 'retryable']);
    expect(paper.ordersWithClientId('t11-entry')).toHaveLength(0);
  });

  test('HTTP 503 → UNAVAILABLE: retryable on a read, unknown-outcome on a write', async () => {
    stub.injectFault({ kind: 'unavailable', path: '/fapi/v1/ticker/24hr' });
    const read = await failureOf(ex.fetchTicker(BTC));
    expect([read.code, read.outcome]).toEqual(['UNAVAILABLE', 'retryable']);
    stub.injectFault({ kind: 'unavailable', method: 'POST', path: '/fapi/v1/order' });
    const write = await failureOf(ex.createOrder(entry('t12-entry')));
    expect([write.code, write.outcome]).toEqual(['UNAVAILABLE', 'unknown-outcome']);
  });

  test('a paper-exchange 5xx after acceptance → UNAVAILABLE unknown-outcome; the lookup finds the order', async () => {
    paper.faults.add({ kind: '5xx', method: 'createOrder', accepted: true });
    const f = await failureOf(ex.createOrder(entry('t13-entry')));
    expect([f.code, f.outcome]).toEqual(['UNAVAILABLE', 'unknown-outcome']);
    const found = await ex.fetchOrderByClientId('t13-entry', { symbol: BTC, trigger: false });
    expect(found?.status).toBe('closed');
    expect(paper.ordersWithClientId('t13-entry')).toHaveLength(1);
  });
});
