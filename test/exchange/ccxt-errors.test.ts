import { describe, expect, test } from 'vitest';
import {
  ArgumentsRequired,
  AuthenticationError,
  BadRequest,
  BadResponse,
  BadSymbol,
  DDoSProtection,
  DuplicateOrderId,
  ExchangeError,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidNonce,
  InvalidOrder,
  NetworkError,
  NotSupported,
  OnMaintenance,
  OrderImmediatelyFillable,
  OrderNotFound,
  PermissionDenied,
  RateLimitExceeded,
  RequestTimeout,
} from 'ccxt/js/src/base/errors.js';
import {
  classifyError,
  isDuplicateClientOrderIdMessage,
  redact,
  toExchangeFailure,
} from '../../functions/adapters/ccxt/errors.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';

const READ = { operation: 'fetchOrder', write: false };
const WRITE = { operation: 'createOrder', write: true };

// [error, expected on a read, expected on a write]
const cases: [string, Error, string, string][] = [
  ['RequestTimeout', new RequestTimeout('timed out'), 'TIMEOUT/retryable', 'TIMEOUT/unknown-outcome'],
  ['NetworkError', new NetworkError('fetch failed'), 'NETWORK/retryable', 'NETWORK/unknown-outcome'],
  ['InvalidNonce', new InvalidNonce('-1021'), 'NETWORK/retryable', 'NETWORK/unknown-outcome'],
  [
    'ExchangeNotAvailable',
    new ExchangeNotAvailable('503'),
    'UNAVAILABLE/retryable',
    'UNAVAILABLE/unknown-outcome',
  ],
  ['OnMaintenance', new OnMaintenance('maintenance'), 'UNAVAILABLE/retryable', 'UNAVAILABLE/unknown-outcome'],
  ['DDoSProtection', new DDoSProtection('429'), 'RATE_LIMITED/retryable', 'RATE_LIMITED/retryable'],
  ['RateLimitExceeded', new RateLimitExceeded('-1003'), 'RATE_LIMITED/retryable', 'RATE_LIMITED/retryable'],
  [
    'InsufficientFunds',
    new InsufficientFunds('-2019'),
    'INSUFFICIENT_FUNDS/never-retry',
    'INSUFFICIENT_FUNDS/never-retry',
  ],
  [
    'InvalidOrder',
    new InvalidOrder('-4164 notional'),
    'INVALID_ORDER/never-retry',
    'INVALID_ORDER/never-retry',
  ],
  [
    'OrderImmediatelyFillable',
    new OrderImmediatelyFillable('-2021'),
    'WOULD_TRIGGER_IMMEDIATELY/never-retry',
    'WOULD_TRIGGER_IMMEDIATELY/never-retry',
  ],
  ['OrderNotFound', new OrderNotFound('-2013'), 'ORDER_NOT_FOUND/never-retry', 'ORDER_NOT_FOUND/never-retry'],
  [
    'DuplicateOrderId',
    new DuplicateOrderId('dup'),
    'DUPLICATE_CLIENT_ORDER_ID/never-retry',
    'DUPLICATE_CLIENT_ORDER_ID/never-retry',
  ],
  [
    'AuthenticationError',
    new AuthenticationError('-2015'),
    'AUTHENTICATION/never-retry',
    'AUTHENTICATION/never-retry',
  ],
  [
    'PermissionDenied',
    new PermissionDenied('-1002'),
    'AUTHENTICATION/never-retry',
    'AUTHENTICATION/never-retry',
  ],
  ['BadRequest', new BadRequest('-1100'), 'INVALID_ORDER/never-retry', 'INVALID_ORDER/never-retry'],
  ['BadSymbol', new BadSymbol('no such market'), 'INVALID_ORDER/never-retry', 'INVALID_ORDER/never-retry'],
  [
    'ArgumentsRequired',
    new ArgumentsRequired('symbol'),
    'INVALID_ORDER/never-retry',
    'INVALID_ORDER/never-retry',
  ],
  ['NotSupported', new NotSupported('no'), 'INVALID_ORDER/never-retry', 'INVALID_ORDER/never-retry'],
  ['ExchangeError', new ExchangeError('-1001 internal'), 'UNKNOWN/retryable', 'UNKNOWN/unknown-outcome'],
  [
    'BadResponse',
    new BadResponse('-1007 execution status unknown'),
    'UNKNOWN/retryable',
    'UNKNOWN/unknown-outcome',
  ],
  ['TypeError (not ccxt)', new TypeError('x is undefined'), 'UNKNOWN/retryable', 'UNKNOWN/unknown-outcome'],
];

describe('classifyError: every ccxt class on a read and on a write', () => {
  for (const [name, error, onRead, onWrite] of cases) {
    test(`${name}: read → ${onRead}, write → ${onWrite}`, () => {
      const r = classifyError(error, READ);
      const w = classifyError(error, WRITE);
      expect(`${r.code}/${r.outcome}`).toBe(onRead);
      expect(`${w.code}/${w.outcome}`).toBe(onWrite);
    });
  }
});

describe('duplicate client order id arriving as InvalidOrder', () => {
  test('Binance -4116 body (as ccxt raises it) → DUPLICATE_CLIENT_ORDER_ID', () => {
    const e = new InvalidOrder('binanceusdm {"code":-4116,"msg":"ClientOrderId is duplicated."}');
    expect(classifyError(e, WRITE)).toEqual({ code: 'DUPLICATE_CLIENT_ORDER_ID', outcome: 'never-retry' });
  });
  test('OKX 51016 and Bybit 110072 bodies → DUPLICATE_CLIENT_ORDER_ID', () => {
    expect(
      isDuplicateClientOrderIdMessage(
        'okx {"code":"1","data":[{"sCode":"51016","sMsg":"Duplicated clOrdId"}]}',
      ),
    ).toBe(true);
    expect(
      isDuplicateClientOrderIdMessage('bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate"}'),
    ).toBe(true);
  });
  test('another InvalidOrder code (-4164, -41160) is not a duplicate', () => {
    expect(
      isDuplicateClientOrderIdMessage(
        'binanceusdm {"code":-4164,"msg":"Order\'s notional must be no smaller than 5"}',
      ),
    ).toBe(false);
    expect(isDuplicateClientOrderIdMessage('{"code":-41160,"msg":"x"}')).toBe(false);
  });
});

describe('toExchangeFailure', () => {
  test('an ExchangeFailure passes through unchanged', () => {
    const f = new ExchangeFailure('CIRCUIT_OPEN', 'retryable', 'open');
    expect(toExchangeFailure(f, 'binanceusdm', WRITE)).toBe(f);
  });
  test('message names exchange, operation, code and class; the cause is the ccxt error', () => {
    const e = new InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}');
    const f = toExchangeFailure(e, 'binanceusdm', WRITE);
    expect(f).toBeInstanceOf(ExchangeFailure);
    expect(f.message).toBe(
      'binanceusdm createOrder: INSUFFICIENT_FUNDS (InsufficientFunds): binanceusdm {"code":-2019,"msg":"Margin is insufficient."}',
    );
    expect(f.cause).toBe(e);
  });
  test('API key, secret and URL signature are redacted from the failure and from the cause', () => {
    const e = new RequestTimeout(
      'binanceusdm POST https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&signature=abcdef0123 key=MYAPIKEY123 s=MYSECRET999 timed out',
    );
    const f = toExchangeFailure(e, 'binanceusdm', WRITE, ['MYAPIKEY123', 'MYSECRET999']);
    for (const text of [f.message, (f.cause as Error).message, (f.cause as Error).stack ?? '']) {
      expect(text).not.toContain('MYAPIKEY123');
      expect(text).not.toContain('MYSECRET999');
      expect(text).not.toContain('abcdef0123');
    }
    expect(f.message).toContain('signature=[REDACTED]');
  });
  test('redact leaves text without secrets unchanged', () => {
    expect(redact('plain text', ['KEY12345'])).toBe('plain text');
  });
});
