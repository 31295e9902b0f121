import { describe, expect, test } from 'vitest';
import {
  checkOrderRequest,
  fromCcxtNumber,
  roundOrderRequest,
  timeframeMs,
} from '../../functions/adapters/ccxt/ccxt-exchange.js';
import { D } from '../../functions/core/decimal.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import type { ExchangeMarket, OrderRequest } from '../../functions/ports/exchange.js';

const market: ExchangeMarket = {
  symbol: 'BTC/USDT:USDT',
  id: 'BTCUSDT',
  base: 'BTC',
  quote: 'USDT',
  contractSize: new D(1),
  tickSize: new D('0.1'),
  lotStep: new D('0.001'),
  minQty: new D('0.001'),
  minNotional: new D('100'),
};

const base = (over: Partial<OrderRequest>): OrderRequest => ({
  symbol: 'BTC/USDT:USDT',
  side: 'sell',
  kind: 'stop',
  qty: new D('0.0129'),
  triggerPrice: new D('29000.04'),
  reduceOnly: true,
  clientOrderId: 'abc-stop-1',
  ...over,
});

describe('roundOrderRequest: safe direction', () => {
  test('quantity rounds down to the lot step: 0.0129 → 0.012', () => {
    expect(roundOrderRequest(base({}), market).qty.toFixed()).toBe('0.012');
  });
  test('a sell stop (closing a long) rounds up: 29000.04 → 29000.1', () => {
    expect(roundOrderRequest(base({}), market).triggerPrice?.toFixed()).toBe('29000.1');
  });
  test('a buy stop (closing a short) rounds down: 31000.06 → 31000', () => {
    const r = roundOrderRequest(base({ side: 'buy', triggerPrice: new D('31000.06') }), market);
    expect(r.triggerPrice?.toFixed()).toBe('31000');
  });
  test('a sell take-profit rounds down, a buy take-profit up', () => {
    const sell = roundOrderRequest(base({ kind: 'take-profit', triggerPrice: new D('33000.07') }), market);
    const buy = roundOrderRequest(
      base({ kind: 'take-profit', side: 'buy', triggerPrice: new D('27000.01') }),
      market,
    );
    expect(sell.triggerPrice?.toFixed()).toBe('33000');
    expect(buy.triggerPrice?.toFixed()).toBe('27000.1');
  });
  test('a buy limit rounds down, a sell limit up', () => {
    const lim = { kind: 'limit' as const, triggerPrice: undefined, reduceOnly: false };
    expect(
      roundOrderRequest(base({ ...lim, side: 'buy', price: new D('30000.09') }), market).price?.toFixed(),
    ).toBe('30000');
    expect(
      roundOrderRequest(base({ ...lim, side: 'sell', price: new D('30000.01') }), market).price?.toFixed(),
    ).toBe('30000.1');
  });
  test('a quantity that rounds below the minimum is INVALID_ORDER, never-retry', () => {
    expect(() => roundOrderRequest(base({ qty: new D('0.0009') }), market)).toThrow(ExchangeFailure);
    try {
      roundOrderRequest(base({ qty: new D('0.0009') }), market);
    } catch (e) {
      expect((e as ExchangeFailure).code).toBe('INVALID_ORDER');
      expect((e as ExchangeFailure).outcome).toBe('never-retry');
    }
  });
});

describe('checkOrderRequest', () => {
  const reasons: [string, Partial<OrderRequest>, RegExp][] = [
    ['a stop that is not reduce-only', { reduceOnly: false }, /must be reduce-only/],
    ['a stop without trigger', { triggerPrice: undefined }, /needs a triggerPrice/],
    ['a client id over 36 characters', { clientOrderId: 'x'.repeat(37) }, /clientOrderId/],
    ['a client id with a dot', { clientOrderId: 'a.b' }, /clientOrderId/],
    ['a zero quantity', { qty: new D(0) }, /qty must be positive/],
    ['a limit without price', { kind: 'limit', triggerPrice: undefined }, /needs a price/],
    ['a market order with a trigger', { kind: 'market' }, /takes no triggerPrice/],
  ];
  for (const [what, over, message] of reasons) {
    test(`rejects ${what}`, () => {
      expect(() => checkOrderRequest(base(over))).toThrow(message);
    });
  }
  test('accepts a well-formed stop', () => {
    expect(() => checkOrderRequest(base({}))).not.toThrow();
  });
});

describe('number conversion and timeframes', () => {
  test('ccxt numbers become exact decimals through their shortest string', () => {
    expect(fromCcxtNumber(0.1)?.toFixed()).toBe('0.1');
    expect(fromCcxtNumber(29000.1)?.toFixed()).toBe('29000.1');
    expect(fromCcxtNumber('0.00012345')?.toFixed()).toBe('0.00012345');
    expect(fromCcxtNumber(undefined)).toBeUndefined();
    expect(fromCcxtNumber(Number.NaN)).toBeUndefined();
  });
  test('timeframes: 1m = 60000, 4h = 14400000, 1d = 86400000; unknown ones are refused', () => {
    expect(timeframeMs('1m')).toBe(60_000);
    expect(timeframeMs('4h')).toBe(14_400_000);
    expect(timeframeMs('1d')).toBe(86_400_000);
    expect(() => timeframeMs('1x')).toThrow(/unknown timeframe "1x"/);
  });
});
