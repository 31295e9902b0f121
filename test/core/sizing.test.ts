import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { riskBudget, sizePosition, type SizingInput } from '../../functions/core/sizing.js';
import { checkFailSafe } from '../../functions/core/fail-safe.js';
import { BTC, d } from './helpers.js';

const input = (over: Partial<SizingInput> = {}): SizingInput => ({
  side: 'long',
  entryPrice: d('27000'),
  stopPrice: d('26716.5'),
  riskBudget: d('2.85'),
  takerFeeRate: d('0.0005'),
  stopSlippage: d('0.0002'),
  leverage: 10,
  market: BTC,
  maxNotionalPerTrade: d('5000'),
  remainingAccountNotional: d('20000'),
  ...over,
});

describe('sizePosition', () => {
  it('qty = budget / (distance + fees per unit), rounded down to the lot step', () => {
    // expected entry fill = 27000 × 1.0002 = 27005.4 ; stop fill = 26716.5 × 0.9998 = 26711.1567
    // per unit = (27005.4 − 26711.1567) + 0.0005 × (27005.4 + 26711.1567) = 294.2433 + 26.85827835 = 321.10157835
    // 2.85 / 321.10157835 = 0.008875… → 0.008
    const r = sizePosition(input());
    expect(r.ok && r.qty.toFixed()).toBe('0.008');
    expect(r.ok && r.cappedBy).toBe('risk');
    expect(r.ok && r.notional.toFixed()).toBe('216');
    expect(r.ok && r.margin.toFixed()).toBe('21.6');
    expect(r.ok && r.riskAtStop.toFixed()).toBe('2.5688126268');
  });

  it('the textbook risk-to-quantity vector: risk 100 at a 2-point stop buys 50 units without fees', () => {
    // Same semantics as the common position-size formula (e.g. freqtrade stoploss-based stake sizing).
    const r = sizePosition(
      input({
        entryPrice: d('100'),
        stopPrice: d('98'),
        riskBudget: d('100'),
        takerFeeRate: d(0),
        stopSlippage: d(0),
        market: { ...BTC, tickSize: d('0.01'), lotStep: d('1'), minNotional: d('5') },
        maxNotionalPerTrade: d('1e9'),
        remainingAccountNotional: d('1e9'),
      }),
    );
    expect(r.ok && r.qty.toFixed()).toBe('50');
  });

  it('caps by max notional per trade', () => {
    const r = sizePosition(input({ riskBudget: d('1000'), maxNotionalPerTrade: d('1000') }));
    // 1000 / 27000 = 0.037037 → 0.037
    expect(r.ok && r.qty.toFixed()).toBe('0.037');
    expect(r.ok && r.cappedBy).toBe('maxNotionalPerTrade');
  });

  it('caps by the account notional left and by margin', () => {
    const a = sizePosition(input({ riskBudget: d('1000'), remainingAccountNotional: d('540') }));
    expect(a.ok && a.qty.toFixed()).toBe('0.02');
    expect(a.ok && a.cappedBy).toBe('accountNotional');
    // margin per unit = 27000/10 + 27000×0.0005 = 2713.5 ; 100 / 2713.5 = 0.03685 → 0.036
    const m = sizePosition(input({ riskBudget: d('1000'), availableMargin: d('100') }));
    expect(m.ok && m.qty.toFixed()).toBe('0.036');
    expect(m.ok && m.cappedBy).toBe('margin');
  });

  it('rejects below the exchange minimum instead of rounding up', () => {
    // 0.2 / 321.10157835 = 0.00062 → rounds down to 0, below the 0.001 minimum: rejected, not rounded up
    const r = sizePosition(input({ riskBudget: d('0.2') }));
    expect(r).toMatchObject({ ok: false, code: 'BELOW_MIN_QTY' });
    const n = sizePosition(input({ riskBudget: d('2'), market: { ...BTC, minNotional: d('200') } }));
    expect(n).toMatchObject({ ok: false, code: 'BELOW_MIN_NOTIONAL' });
    expect(!n.ok && n.reason).toBe('notional 162 (limited by risk) is below the exchange minimum 200');
  });

  it('rejects a stop on the wrong side', () => {
    expect(sizePosition(input({ stopPrice: d('27100') }))).toMatchObject({ ok: false, code: 'INVALID_STOP' });
    expect(sizePosition(input({ side: 'short', stopPrice: d('26900') }))).toMatchObject({
      ok: false,
      code: 'INVALID_STOP',
    });
  });

  it('reports no room when the account is full', () => {
    expect(sizePosition(input({ remainingAccountNotional: d('-5') }))).toMatchObject({
      ok: false,
      code: 'NO_ROOM',
    });
  });

  it('property: never risks more than the budget, never exceeds max notional, passes the fail-safe', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        fc.integer({ min: 10_000, max: 10_000_000 }),
        fc.integer({ min: 5, max: 500 }), // stop distance in tenths of a percent
        fc.integer({ min: 100, max: 100_000 }),
        fc.integer({ min: 10_000, max: 10_000_000 }),
        (side, entryC, distTenths, budgetC, maxNotionalC) => {
          const entry = d(entryC).div(100);
          const dist = entry.mul(distTenths).div(1000);
          const stop = side === 'long' ? entry.minus(dist) : entry.plus(dist);
          const budget = d(budgetC).div(100);
          const maxNotional = d(maxNotionalC).div(100);
          const market = { ...BTC, tickSize: d('0.01'), minNotional: d('5') };
          const r = sizePosition(
            input({
              side,
              entryPrice: entry,
              stopPrice: stop,
              riskBudget: budget,
              maxNotionalPerTrade: maxNotional,
              market,
            }),
          );
          if (!r.ok) return;
          expect(r.riskAtStop.lte(budget)).toBe(true);
          expect(r.notional.lte(maxNotional)).toBe(true);
          const fs = checkFailSafe(
            {
              side,
              entryPrice: entry,
              qty: r.qty,
              feeRate: d('0.0005'),
              maxLoss: budget.div('0.95'),
              fraction: d('0.95'),
              stopSlippage: d('0.0002'),
            },
            stop,
          );
          expect(fs.ok).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('riskBudget', () => {
  it('uses riskAmount, capped by the hard max loss, and sizes at 95 % of it', () => {
    const r = riskBudget({ riskAmount: d('5'), maxLossPerTrade: d('3'), failSafeFraction: d('0.95') });
    expect(r.maxLoss.toFixed()).toBe('3');
    expect(r.budget.toFixed()).toBe('2.85');
  });
  it('derives the amount from riskPct of equity', () => {
    const r = riskBudget({ riskPct: d('0.5'), equity: d('10000'), failSafeFraction: d('0.95') });
    expect(r.maxLoss.toFixed()).toBe('50');
    expect(r.budget.toFixed()).toBe('47.5');
  });
  it('needs equity for riskPct', () => {
    expect(() => riskBudget({ riskPct: d('1'), failSafeFraction: d('0.95') })).toThrow(
      'riskPct needs a positive account equity',
    );
  });
});
