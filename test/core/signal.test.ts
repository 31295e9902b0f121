import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import { parseSignal, signalReferencePrice, tradeIdFor } from '../../functions/core/signal.js';
import type { Signal } from '../../functions/core/signal.js';

/** A valid market long with a 1 % stop and 0.5 % risk. */
const BASE = {
  signalId: 's-001',
  accountId: 'main',
  exchange: 'binanceusdm',
  symbol: 'BTC/USDT:USDT',
  side: 'long',
  entry: 'market',
  price: '27500',
  stop: { pct: '1' },
  riskPct: '0.5',
  rr: '2',
} as const;

/** Parses `BASE` with `over` applied (a key set to undefined is removed) and returns the signal; fails if invalid. */
function valid(over: Record<string, unknown> = {}): Signal {
  const r = parseSignal(withOver(over));
  if (!r.ok) throw new Error(`expected a valid signal, got ${r.errors.join('; ')}`);
  return r.signal;
}
/** Parses `BASE` with `over` applied and returns the error lines; fails if the signal is valid. */
function errors(over: Record<string, unknown>): string[] {
  const r = parseSignal(withOver(over));
  if (r.ok) throw new Error('expected the signal to be rejected');
  return r.errors;
}
function withOver(over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...BASE, ...over };
  for (const [k, v] of Object.entries(over)) if (v === undefined) delete out[k];
  return out;
}

const STOP_ONE = 'stop: stop must have exactly one of pct, price or atrMultiple, got';
const ENTRY_UNION = 'entry: entry must be "market", {"type":"market"} or {"type":"limit","price":…}';

describe('valid signals', () => {
  it('market entry given as "market", with a pct stop', () => {
    const s = valid();
    expect(s.entry).toEqual({ type: 'market' });
    expect('pct' in s.stop && s.stop.pct.toFixed()).toBe('1');
    expect(s.side).toBe('long');
    expect(s.exchange).toBe('binanceusdm');
    expect(s.price!.toFixed()).toBe('27500');
    expect(s.riskPct!.toFixed()).toBe('0.5');
    expect(s.riskAmount).toBeUndefined();
    expect(s.rr.toFixed()).toBe('2');
  });

  it('market entry given as {"type":"market"}', () => {
    expect(valid({ entry: { type: 'market' } }).entry).toEqual({ type: 'market' });
  });

  it('limit entry with its price', () => {
    const s = valid({ entry: { type: 'limit', price: '27400.5' } });
    expect(s.entry.type).toBe('limit');
    expect(s.entry.type === 'limit' && s.entry.price.toFixed()).toBe('27400.5');
  });

  it('price stop below entry for a long, above for a short', () => {
    const l = valid({ stop: { price: '27000' } });
    expect('price' in l.stop && l.stop.price.toFixed()).toBe('27000');
    const s = valid({ side: 'short', stop: { price: '28000' } });
    expect('price' in s.stop && s.stop.price.toFixed()).toBe('28000');
  });

  it('atrMultiple stop', () => {
    const s = valid({ stop: { atrMultiple: '1.5' } });
    expect('atrMultiple' in s.stop && s.stop.atrMultiple.toFixed()).toBe('1.5');
  });

  it('riskAmount instead of riskPct', () => {
    const s = valid({ riskPct: undefined, riskAmount: '3.00' });
    expect(s.riskAmount!.toFixed()).toBe('3');
    expect(s.riskPct).toBeUndefined();
  });

  it('optional leverage, tags and an ISO time with offset', () => {
    const s = valid({ leverage: 10, tags: ['breakout', 'h1'], at: '2023-03-16T10:00:00+02:00' });
    expect(s.leverage).toBe(10);
    expect(s.tags).toEqual(['breakout', 'h1']);
    expect(s.at).toBe('2023-03-16T10:00:00+02:00');
    expect(valid({ at: '2023-03-16T08:00:00Z' }).at).toBe('2023-03-16T08:00:00Z');
  });

  it('spot symbols and every supported exchange', () => {
    expect(valid({ symbol: 'ETH/USDT' }).symbol).toBe('ETH/USDT');
    for (const exchange of ['binanceusdm', 'bybit', 'okx', 'paper'])
      expect(valid({ exchange }).exchange).toBe(exchange);
  });

  it('a market signal without a price is valid (no stop-side check is possible)', () => {
    const s = valid({ price: undefined, stop: { price: '30000' } });
    expect(s.price).toBeUndefined();
    expect(signalReferencePrice(s)).toBeUndefined();
  });

  it('the smallest and largest allowed bounds', () => {
    valid({ leverage: 1, rr: '100', riskPct: '100', stop: { pct: '50' } });
    valid({ leverage: 125, tags: Array.from({ length: 20 }, () => 'x'.repeat(64)) });
  });
});

describe('decimals keep their digits', () => {
  it('numbers and strings are both accepted', () => {
    expect(valid({ riskPct: 0.5, rr: 3, price: 27500.25 }).price!.toFixed()).toBe('27500.25');
    expect(valid({ riskPct: 0.5, rr: 3 }).rr.toFixed()).toBe('3');
  });

  it('"0.1" and 0.1 are exactly one tenth (no binary floating point)', () => {
    const a = valid({ riskPct: '0.1' }).riskPct!;
    const b = valid({ riskPct: 0.1 }).riskPct!;
    expect(a.eq(new D('0.1'))).toBe(true);
    expect(b.eq(new D('0.1'))).toBe(true);
    expect(a.plus(new D('0.2')).toFixed()).toBe('0.3');
  });

  it('a long decimal string keeps every digit', () => {
    expect(valid({ price: '27500.00000000000000000001' }).price!.toFixed()).toBe(
      '27500.00000000000000000001',
    );
  });
});

describe('invalid signals: one `path: message` per problem', () => {
  it('riskPct and riskAmount both given, or neither', () => {
    const msg = 'riskPct: give exactly one of riskPct or riskAmount';
    expect(errors({ riskAmount: '3' })).toEqual([msg]);
    expect(errors({ riskPct: undefined })).toEqual([msg]);
  });

  it('a long stop price at or above the entry price', () => {
    expect(errors({ stop: { price: '27600' } })).toEqual([
      'stop.price: a long stop must be below the entry price 27500, got 27600',
    ]);
    expect(errors({ stop: { price: '27500' } })).toEqual([
      'stop.price: a long stop must be below the entry price 27500, got 27500',
    ]);
  });

  it('a short stop price at or below the entry price', () => {
    expect(errors({ side: 'short', stop: { price: '27400' } })).toEqual([
      'stop.price: a short stop must be above the entry price 27500, got 27400',
    ]);
    expect(errors({ side: 'short', stop: { price: '27500' } })).toEqual([
      'stop.price: a short stop must be above the entry price 27500, got 27500',
    ]);
  });

  it('the stop side is checked against the limit price, not the signal price', () => {
    expect(errors({ entry: { type: 'limit', price: '27000' }, stop: { price: '27100' } })).toEqual([
      'stop.price: a long stop must be below the entry price 27000, got 27100',
    ]);
    expect(valid({ entry: { type: 'limit', price: '27000' }, stop: { price: '26900' } }).stop).toBeDefined();
  });

  it('signalId', () => {
    const msg = 'signalId: signalId must be 1–47 letters, digits, "_", "." or "-"';
    for (const signalId of ['', '-a', '.a', 'a b', 'a/b', 'a:b', 'x'.repeat(48)]) {
      expect(errors({ signalId })).toEqual([msg]);
    }
    expect(errors({ signalId: 7 })).toEqual(['signalId: Invalid input: expected string, received number']);
  });

  it('accountId', () => {
    const msg = 'accountId: accountId must be 1–32 lowercase letters, digits or dashes';
    for (const accountId of ['', 'Main', '-main', 'a_b', 'a.b', 'a'.repeat(33)]) {
      expect(errors({ accountId })).toEqual([msg]);
    }
  });

  it('exchange', () => {
    expect(errors({ exchange: 'kraken' })).toEqual([
      'exchange: Invalid option: expected one of "binanceusdm"|"bybit"|"okx"|"paper"',
    ]);
  });

  it('symbol', () => {
    const msg = 'symbol: symbol must be a ccxt unified symbol such as "BTC/USDT:USDT"';
    for (const symbol of ['BTCUSDT', 'btc/usdt', 'BTC/USDT:', 'BTC-USDT', '']) {
      expect(errors({ symbol })).toEqual([msg]);
    }
  });

  it('side', () => {
    expect(errors({ side: 'buy' })).toEqual(['side: Invalid option: expected one of "long"|"short"']);
  });

  it('entry: unknown word, limit without price, unknown type, extra key', () => {
    expect(errors({ entry: 'limit' })).toEqual([ENTRY_UNION]);
    expect(errors({ entry: { type: 'limit' } })).toEqual(['entry.price: a limit entry needs a price']);
    expect(errors({ entry: { type: 'stop', price: '1' } })).toEqual([
      'entry.type: Invalid option: expected one of "market"|"limit"',
    ]);
    expect(errors({ entry: { type: 'market', price: '1' } })).toEqual([
      'entry.price: a market entry takes no price; use "price" at the top level for the reference',
    ]);
  });

  it('stop: none of the three kinds, two kinds at once, not an object', () => {
    expect(errors({ stop: {} })).toEqual([`${STOP_ONE} none`]);
    expect(errors({ stop: { pct: '1', price: '27000' } })).toEqual([`${STOP_ONE} pct and price`]);
    expect(errors({ stop: { distance: '1' } })).toEqual([
      'stop: Unrecognized key: "distance"',
      `${STOP_ONE} none`,
    ]);
    expect(errors({ stop: '1%' })).toEqual(['stop: Invalid input: expected object, received string']);
  });

  it('a bad value inside stop or entry names that field and its bound (not "exactly one of")', () => {
    // {"pct": "0"} is exactly one kind of stop: the problem is its value, and the message should say so,
    // as it does for every top-level decimal field.
    expect(errors({ stop: { pct: '0' } })).toEqual(['stop.pct: must be greater than 0, got 0']);
    expect(errors({ stop: { pct: '51' } })).toEqual(['stop.pct: must be at most 50, got 51']);
    expect(errors({ stop: { atrMultiple: '0' } })).toEqual([
      'stop.atrMultiple: must be greater than 0, got 0',
    ]);
    expect(errors({ entry: { type: 'limit', price: '-1' } })).toEqual([
      'entry.price: must be greater than 0, got -1',
    ]);
  });

  it('price', () => {
    expect(errors({ price: 'x' })).toEqual(['price: "x" is not a decimal number']);
    expect(errors({ price: '0' })).toEqual(['price: must be greater than 0, got 0']);
    expect(errors({ price: null })).toEqual(['price: expected a decimal number (string or number)']);
  });

  it('riskPct and riskAmount values', () => {
    expect(errors({ riskPct: '0' })).toEqual(['riskPct: must be greater than 0, got 0']);
    expect(errors({ riskPct: '100.5' })).toEqual(['riskPct: must be at most 100, got 100.5']);
    expect(errors({ riskPct: undefined, riskAmount: '-3' })).toEqual([
      'riskAmount: must be greater than 0, got -3',
    ]);
    expect(errors({ riskPct: '1e' })).toEqual(['riskPct: "1e" is not a decimal number']);
  });

  it('rr', () => {
    expect(errors({ rr: '0' })).toEqual(['rr: must be greater than 0, got 0']);
    expect(errors({ rr: '101' })).toEqual(['rr: must be at most 100, got 101']);
    expect(errors({ rr: undefined })).toEqual(['rr: expected a decimal number (string or number)']);
  });

  it('leverage', () => {
    expect(errors({ leverage: 0 })).toEqual(['leverage: Too small: expected number to be >=1']);
    expect(errors({ leverage: 126 })).toEqual(['leverage: Too big: expected number to be <=125']);
    expect(errors({ leverage: 1.5 })).toEqual(['leverage: Invalid input: expected int, received number']);
    expect(errors({ leverage: '10' })).toEqual(['leverage: Invalid input: expected number, received string']);
  });

  it('tags', () => {
    expect(errors({ tags: [''] })).toEqual(['tags.0: Too small: expected string to have >=1 characters']);
    expect(errors({ tags: ['ok', 'x'.repeat(65)] })).toEqual([
      'tags.1: Too big: expected string to have <=64 characters',
    ]);
    expect(errors({ tags: Array.from({ length: 21 }, () => 'a') })).toEqual([
      'tags: Too big: expected array to have <=20 items',
    ]);
    expect(errors({ tags: 'breakout' })).toEqual(['tags: Invalid input: expected array, received string']);
  });

  it('at', () => {
    expect(errors({ at: 'yesterday' })).toEqual(['at: Invalid ISO datetime']);
    expect(errors({ at: '2023-03-16' })).toEqual(['at: Invalid ISO datetime']);
  });

  it('unknown keys are rejected, not ignored', () => {
    expect(errors({ stopLoss: '27000' })).toEqual(['(root): Unrecognized key: "stopLoss"']);
    expect(errors({ stop: { pct: '1' }, qty: 1 })).toEqual(['(root): Unrecognized key: "qty"']);
  });

  it('a non-object is rejected', () => {
    expect(parseSignal(null)).toEqual({
      ok: false,
      errors: ['(root): Invalid input: expected object, received null'],
    });
    expect(parseSignal('{}')).toEqual({
      ok: false,
      errors: ['(root): Invalid input: expected object, received string'],
    });
  });

  it('every problem is listed at once', () => {
    expect(errors({ side: 'up', rr: '0', leverage: 0, riskAmount: '1' })).toEqual([
      'side: Invalid option: expected one of "long"|"short"',
      'rr: must be greater than 0, got 0',
      'leverage: Too small: expected number to be >=1',
    ]);
  });

  it('an empty object lists every required field', () => {
    const r = parseSignal({});
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.map((e) => e.split(':')[0])).toEqual([
      'signalId',
      'accountId',
      'exchange',
      'symbol',
      'side',
      'entry',
      'stop',
      'rr',
    ]);
  });
});

describe('signalReferencePrice', () => {
  it('is the limit price for a limit entry, else the signal price', () => {
    expect(signalReferencePrice(valid({ entry: { type: 'limit', price: '27000' } }))!.toFixed()).toBe(
      '27000',
    );
    expect(signalReferencePrice(valid())!.toFixed()).toBe('27500');
  });
});

describe('tradeIdFor', () => {
  // Step Functions execution names: 1–80 characters, none of: whitespace, < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /
  // and no control characters (AWS StartExecution API reference, "name").
  // eslint-disable-next-line no-control-regex -- control characters are forbidden in execution names
  const FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

  const accountId = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/);
  const signalId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,46}$/);

  it('is <accountId>.<signalId>', () => {
    expect(tradeIdFor({ accountId: 'main', signalId: 's-001' })).toBe('main.s-001');
  });

  it('is deterministic, and different signals or accounts give different ids', () => {
    expect(tradeIdFor(valid())).toBe(tradeIdFor(valid()));
    expect(tradeIdFor(valid({ signalId: 's-002' }))).not.toBe(tradeIdFor(valid()));
    expect(tradeIdFor(valid({ accountId: 'alt' }))).not.toBe(tradeIdFor(valid()));
  });

  it('ids generated from the schema regexes are accepted by parseSignal', () => {
    fc.assert(
      fc.property(accountId, signalId, (a, s) => {
        expect(parseSignal({ ...BASE, accountId: a, signalId: s }).ok).toBe(true);
      }),
    );
  });

  it('never contains a character forbidden in an execution name (property)', () => {
    fc.assert(
      fc.property(accountId, signalId, (a, s) => {
        expect(tradeIdFor({ accountId: a, signalId: s })).not.toMatch(FORBIDDEN);
      }),
    );
  });

  it('is at most 80 characters for every valid accountId and signalId (property, incl. the longest)', () => {
    const longest = tradeIdFor({ accountId: 'a'.repeat(32), signalId: 'S'.repeat(47) });
    expect(longest).not.toMatch(FORBIDDEN);
    expect(longest.length).toBeLessThanOrEqual(80);
    fc.assert(
      fc.property(accountId, signalId, (a, s) => {
        expect(tradeIdFor({ accountId: a, signalId: s }).length).toBeLessThanOrEqual(80);
      }),
    );
  });
});
