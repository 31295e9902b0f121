import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkFailSafe,
  failSafeLimitStop,
  lossIfStopped,
  stopFillPrice,
} from '../../functions/core/fail-safe.js';
import { d } from './helpers.js';

const base = {
  entryPrice: d('27000'),
  qty: d('0.009'),
  feeRate: d('0.0005'),
  maxLoss: d('3'),
  fraction: d('0.95'),
  stopSlippage: d('0.0002'),
};

describe('lossIfStopped', () => {
  it('prices distance, both fees and the stop slippage (long)', () => {
    // fill = 26716.5 × (1 − 0.0002) = 26711.1567
    // distance = 27000 − 26711.1567 = 288.8433 ; fees/unit = 0.0005 × (27000 + 26711.1567) = 26.85557835
    // loss = 0.009 × (288.8433 + 26.85557835) = 0.009 × 315.69887835 = 2.84128990515
    expect(stopFillPrice('long', d('26716.5'), d('0.0002')).toFixed()).toBe('26711.1567');
    expect(
      lossIfStopped('long', d('27000'), d('0.009'), d('26716.5'), d('0.0005'), d('0.0002')).toFixed(),
    ).toBe('2.84128990515');
  });

  it('mirrors for a short: the stop fills above the trigger', () => {
    // fill = 27283.5 × 1.0002 = 27288.9567 ; distance = 288.9567 ; fees/unit = 0.0005 × 54288.9567 = 27.14447835
    // loss = 0.009 × 316.10117835 = 2.84491060515
    expect(
      lossIfStopped('short', d('27000'), d('0.009'), d('27283.5'), d('0.0005'), d('0.0002')).toFixed(),
    ).toBe('2.84491060515');
  });

  it('is negative (locked profit) when the stop is beyond break-even', () => {
    expect(lossIfStopped('long', d('100'), d('1'), d('102'), d('0.0005'), d('0')).toFixed()).toBe('-1.899');
  });
});

describe('checkFailSafe', () => {
  it('passes at or under 95 % of the max loss and fails above, by the exact amount', () => {
    const ok = checkFailSafe({ side: 'long', ...base }, d('26716.5'));
    expect(ok.ok).toBe(true);
    expect(ok.limit.toFixed()).toBe('2.85');
    const bad = checkFailSafe({ side: 'long', ...base }, d('26700'));
    expect(bad.ok).toBe(false);
    expect(bad.loss.gt('2.85')).toBe(true);
  });

  it('the seeds example: a $3.00 max loss allows at most $2.85 at the stop', () => {
    const r = checkFailSafe(
      {
        side: 'long',
        entryPrice: d('100'),
        qty: d('1'),
        feeRate: d('0'),
        maxLoss: d('3'),
        fraction: d('0.95'),
        stopSlippage: d('0'),
      },
      d('97.15'),
    );
    expect(r.ok).toBe(true);
    expect(r.loss.toFixed()).toBe('2.85');
    expect(
      checkFailSafe(
        {
          side: 'long',
          entryPrice: d('100'),
          qty: d('1'),
          feeRate: d('0'),
          maxLoss: d('3'),
          fraction: d('0.95'),
          stopSlippage: d('0'),
        },
        d('97.14'),
      ).ok,
    ).toBe(false);
  });
});

describe('failSafeLimitStop', () => {
  it('is the loosest tick that passes (long rounds up)', () => {
    const stop = failSafeLimitStop({ side: 'long', ...base }, d('0.1'))!;
    expect(checkFailSafe({ side: 'long', ...base }, stop).ok).toBe(true);
    expect(checkFailSafe({ side: 'long', ...base }, stop.minus('0.1')).ok).toBe(false);
    // (0.009 × 27000 × 1.0005 − 2.85) / (0.009 × 0.9998 × 0.9995) = 240.2715 / 0.00899370090 = 26715.59… → up to 26715.6
    expect(stop.toFixed()).toBe('26715.6');
  });

  it('is the loosest tick that passes (short rounds down)', () => {
    const stop = failSafeLimitStop({ side: 'short', ...base }, d('0.1'))!;
    expect(checkFailSafe({ side: 'short', ...base }, stop).ok).toBe(true);
    expect(checkFailSafe({ side: 'short', ...base }, stop.plus('0.1')).ok).toBe(false);
  });

  it('returns null for a zero quantity', () => {
    expect(failSafeLimitStop({ side: 'long', ...base, qty: d(0) }, d('0.1'))).toBeNull();
  });

  it('property: the limit stop always passes and one tick looser never does', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        fc.integer({ min: 1_000, max: 10_000_000 }), // entry in cents
        fc.integer({ min: 1, max: 10_000 }), // qty in lots of 0.001
        fc.integer({ min: 50, max: 100_000 }), // max loss in cents
        fc.integer({ min: 0, max: 10 }), // fee in bps
        fc.integer({ min: 0, max: 20 }), // slippage in bps
        (side, entryC, lots, lossC, feeBps, slipBps) => {
          const input = {
            side,
            entryPrice: d(entryC).div(100),
            qty: d(lots).div(1000),
            feeRate: d(feeBps).div(10_000),
            maxLoss: d(lossC).div(100),
            fraction: d('0.95'),
            stopSlippage: d(slipBps).div(10_000),
          };
          const tick = d('0.01');
          const stop = failSafeLimitStop(input, tick)!;
          expect(checkFailSafe(input, stop).ok).toBe(true);
          const looser = side === 'long' ? stop.minus(tick) : stop.plus(tick);
          expect(checkFailSafe(input, looser).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
