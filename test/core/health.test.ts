import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_HEALTH_OPTIONS,
  DEFAULT_HEALTH_WEIGHTS,
  healthLevel,
  healthScore,
  healthScoreValue,
} from '../../functions/core/health.js';
import type { HealthInput, HealthOptions } from '../../functions/core/health.js';

const OPTS: HealthOptions = { ...DEFAULT_HEALTH_OPTIONS };

/** A long at 100 with its stop (and initial stop) at 90: 1R = 10. */
function long(over: Partial<HealthInput> = {}): HealthInput {
  return { side: 'long', entryPrice: 100, price: 100, stop: 90, initialStop: 90, minutesOpen: 0, ...over };
}
/** The mirror image: a short at 100 with its stop at 110. */
function short(over: Partial<HealthInput> = {}): HealthInput {
  return { side: 'short', entryPrice: 100, price: 100, stop: 110, initialStop: 110, minutesOpen: 0, ...over };
}
const components = (input: HealthInput, opts: HealthOptions = OPTS) => healthScore(input, opts).components;

describe('time at risk component', () => {
  it('is 100 at entry, 50 half way to criticalMinutes, 0 at and after it', () => {
    expect(components(long({ minutesOpen: 0 })).timeAtRisk).toBe(100);
    expect(components(long({ minutesOpen: 120 })).timeAtRisk).toBe(50);
    expect(components(long({ minutesOpen: 180 })).timeAtRisk).toBe(25);
    expect(components(long({ minutesOpen: 240 })).timeAtRisk).toBe(0);
    expect(components(long({ minutesOpen: 1000 })).timeAtRisk).toBe(0);
  });

  it('scales with criticalMinutes', () => {
    expect(components(long({ minutesOpen: 30 }), { ...OPTS, criticalMinutes: 60 }).timeAtRisk).toBe(50);
  });
});

describe('drawdown component', () => {
  it('is 100 at or above entry, falls linearly to 0 at the stop, stays 0 beyond it (long)', () => {
    expect(components(long({ price: 105 })).drawdown).toBe(100);
    expect(components(long({ price: 100 })).drawdown).toBe(100);
    expect(components(long({ price: 97.5 })).drawdown).toBe(75);
    expect(components(long({ price: 95 })).drawdown).toBe(50);
    expect(components(long({ price: 90 })).drawdown).toBe(0);
    expect(components(long({ price: 85 })).drawdown).toBe(0);
  });

  it('measures against the current stop, not the initial one', () => {
    // stop tightened to 95: price 97.5 has consumed half of the 5-point room
    expect(components(long({ stop: 95, price: 97.5 })).drawdown).toBe(50);
  });

  it('is 100 when the stop is at break-even or locks profit, whatever the price', () => {
    expect(components(long({ stop: 100, price: 99 })).drawdown).toBe(100);
    expect(components(long({ stop: 102, price: 95 })).drawdown).toBe(100);
    expect(components(short({ stop: 98, price: 105 })).drawdown).toBe(100);
  });

  it('is mirrored for a short', () => {
    expect(components(short({ price: 95 })).drawdown).toBe(100);
    expect(components(short({ price: 102.5 })).drawdown).toBe(75);
    expect(components(short({ price: 105 })).drawdown).toBe(50);
    expect(components(short({ price: 110 })).drawdown).toBe(0);
    expect(components(short({ price: 120 })).drawdown).toBe(0);
  });
});

describe('volume component', () => {
  it('is 100 × recent / average, capped at 100', () => {
    expect(components(long({ recentVolume: 0, averageVolume: 100 })).volume).toBe(0);
    expect(components(long({ recentVolume: 50, averageVolume: 100 })).volume).toBe(50);
    expect(components(long({ recentVolume: 100, averageVolume: 100 })).volume).toBe(100);
    expect(components(long({ recentVolume: 300, averageVolume: 100 })).volume).toBe(100);
  });

  it('is 100 when either volume is unknown or the average is 0', () => {
    expect(components(long()).volume).toBe(100);
    expect(components(long({ recentVolume: 10 })).volume).toBe(100);
    expect(components(long({ averageVolume: 10 })).volume).toBe(100);
    expect(components(long({ recentVolume: 10, averageVolume: 0 })).volume).toBe(100);
  });
});

describe('volatility component', () => {
  // price 100, stop 90: 10 points of room
  it('is 100 while ATR ≤ half the room, 50 at 1.25× the room, 0 from twice the room', () => {
    expect(components(long({ atr: 2 })).volatility).toBe(100);
    expect(components(long({ atr: 5 })).volatility).toBe(100);
    expect(components(long({ atr: 12.5 })).volatility).toBe(50);
    expect(components(long({ atr: 20 })).volatility).toBe(0);
    expect(components(long({ atr: 40 })).volatility).toBe(0);
  });

  it('measures the room from the current price to the current stop', () => {
    // price 104, stop 95: room 9; ATR 9 → ratio 1 → 100 × (1 − 0.5/1.5) = 66.67
    expect(components(long({ price: 104, stop: 95, atr: 9 })).volatility).toBeCloseTo(66.6667, 4);
  });

  it('is 100 when ATR is unknown or zero', () => {
    expect(components(long()).volatility).toBe(100);
    expect(components(long({ atr: 0, price: 90 })).volatility).toBe(100);
  });

  it('is 0 with ATR > 0 when the price is at or through the stop', () => {
    expect(components(long({ price: 90, atr: 0.01 })).volatility).toBe(0);
    expect(components(long({ price: 89, atr: 0.01 })).volatility).toBe(0);
    expect(components(short({ price: 111, atr: 0.01 })).volatility).toBe(0);
  });

  it('is mirrored for a short', () => {
    expect(components(short({ atr: 12.5 })).volatility).toBe(50);
  });
});

describe('profitability component', () => {
  it('maps −1R → 0, 0 → 50, +1R → 100, clamped outside', () => {
    expect(components(long({ price: 80 })).profitability).toBe(0);
    expect(components(long({ price: 90 })).profitability).toBe(0);
    expect(components(long({ price: 95 })).profitability).toBe(25);
    expect(components(long({ price: 100 })).profitability).toBe(50);
    expect(components(long({ price: 105 })).profitability).toBe(75);
    expect(components(long({ price: 110 })).profitability).toBe(100);
    expect(components(long({ price: 130 })).profitability).toBe(100);
  });

  it('measures R from the initial stop, not the current one', () => {
    expect(components(long({ stop: 100, price: 105 })).profitability).toBe(75);
  });

  it('is mirrored for a short', () => {
    expect(components(short({ price: 95 })).profitability).toBe(75);
    expect(components(short({ price: 110 })).profitability).toBe(0);
  });
});

describe('weighted score and level', () => {
  // long 100, stop 90, price 97.5, 60 of 240 min, volume 30 vs 40, ATR 9.375 against 7.5 of room
  const worked = long({ price: 97.5, minutesOpen: 60, recentVolume: 30, averageVolume: 40, atr: 9.375 });

  it('worked example: 0.20 × 75 + 0.30 × 75 + 0.20 × 75 + 0.15 × 50 + 0.15 × 37.5 = 65.625 → SAFE', () => {
    const r = healthScore(worked, OPTS);
    expect(r.components).toEqual({
      timeAtRisk: 75,
      drawdown: 75,
      volume: 75,
      volatility: 50,
      profitability: 37.5,
    });
    expect(r.score).toBe(65.625);
    expect(r.level).toBe('SAFE');
    expect(healthScoreValue(worked, OPTS)).toBe(65.625);
  });

  it('the mirrored short scores the same', () => {
    const mirrored = short({
      price: 102.5,
      minutesOpen: 60,
      recentVolume: 30,
      averageVolume: 40,
      atr: 9.375,
    });
    expect(healthScore(mirrored, OPTS)).toEqual(healthScore(worked, OPTS));
  });

  it('a fresh position at entry with no market data scores 92.5', () => {
    // every component 100 except profitability 50: (20 + 30 + 20 + 15) × 100 + 15 × 50 = 9250 / 100
    expect(healthScoreValue(long(), OPTS)).toBe(92.5);
  });

  it('weights are relative: they are divided by their sum', () => {
    const onlyDrawdown = {
      ...OPTS,
      weights: { timeAtRisk: 0, drawdown: 1, volume: 0, volatility: 0, profitability: 0 },
    };
    expect(healthScoreValue(worked, onlyDrawdown)).toBe(75);
    const doubled = {
      ...OPTS,
      weights: { timeAtRisk: 0.4, drawdown: 0.6, volume: 0.4, volatility: 0.3, profitability: 0.3 },
    };
    expect(healthScoreValue(worked, doubled)).toBeCloseTo(65.625, 10);
  });

  it('exactly 60 is SAFE', () => {
    // 20 × 100 + 30 × 100 + 20 × 12.5 + 15 × 0 + 15 × 50 = 6000
    const r = healthScore(long({ recentVolume: 1, averageVolume: 8, atr: 20 }), OPTS);
    expect(r.score).toBe(60);
    expect(r.level).toBe('SAFE');
  });

  it('exactly 30 is WARNING', () => {
    // at the stop after 60 min with no volume: 20 × 75 + 30 × 0 + 20 × 0 + 15 × 100 + 15 × 0 = 3000
    const r = healthScore(long({ price: 90, minutesOpen: 60, recentVolume: 0, averageVolume: 5 }), OPTS);
    expect(r.score).toBe(30);
    expect(r.level).toBe('WARNING');
  });

  it('29.99 is CRITICAL (the level uses the unrounded score)', () => {
    // time at risk 100 × (1 − 60.12 / 240) = 74.95 → score 29.99
    const r = healthScore(long({ price: 90, minutesOpen: 60.12, recentVolume: 0, averageVolume: 5 }), OPTS);
    expect(r.score).toBeCloseTo(29.99, 10);
    expect(r.level).toBe('CRITICAL');
    expect(healthLevel(29.99, OPTS)).toBe('CRITICAL');
    expect(healthLevel(59.999999, OPTS)).toBe('WARNING');
  });

  it('healthLevel uses the configured thresholds', () => {
    expect(healthLevel(60, OPTS)).toBe('SAFE');
    expect(healthLevel(30, OPTS)).toBe('WARNING');
    expect(healthLevel(70, { safeAt: 80, warningAt: 50 })).toBe('WARNING');
    expect(healthLevel(40, { safeAt: 80, warningAt: 50 })).toBe('CRITICAL');
    expect(() => healthLevel(NaN, OPTS)).toThrow(/score is NaN/);
  });

  it('the default weights are the specified 20/30/20/15/15', () => {
    expect(DEFAULT_HEALTH_WEIGHTS).toEqual({
      timeAtRisk: 20,
      drawdown: 30,
      volume: 20,
      volatility: 15,
      profitability: 15,
    });
    expect(DEFAULT_HEALTH_OPTIONS).toMatchObject({ criticalMinutes: 240, safeAt: 60, warningAt: 30 });
  });
});

describe('input validation', () => {
  it('rejects bad prices, times and volumes with the field named', () => {
    expect(() => healthScore(long({ price: NaN }), OPTS)).toThrow(
      /price must be a finite number > 0, got NaN/,
    );
    expect(() => healthScore(long({ entryPrice: 0 }), OPTS)).toThrow(
      /entryPrice must be a finite number > 0/,
    );
    expect(() => healthScore(long({ stop: -1 }), OPTS)).toThrow(/stop must be a finite number > 0/);
    expect(() => healthScore(long({ initialStop: 100 }), OPTS)).toThrow(
      /initialStop must be different from entryPrice/,
    );
    expect(() => healthScore(long({ minutesOpen: -1 }), OPTS)).toThrow(
      /minutesOpen must be a finite number ≥ 0/,
    );
    expect(() => healthScore(long({ recentVolume: -5 }), OPTS)).toThrow(/recentVolume must be/);
    expect(() => healthScore(long({ averageVolume: Infinity }), OPTS)).toThrow(/averageVolume must be/);
    expect(() => healthScore(long({ atr: -1 }), OPTS)).toThrow(/atr must be/);
    expect(() => healthScoreValue({ ...long(), side: 'flat' as 'long' }, OPTS)).toThrow(
      /side must be 'long' or 'short'/,
    );
  });

  it('rejects bad options', () => {
    expect(() => healthScore(long(), { ...OPTS, criticalMinutes: 0 })).toThrow(/criticalMinutes must be/);
    expect(() => healthScore(long(), { ...OPTS, safeAt: 101 })).toThrow(/safeAt must be between 0 and 100/);
    expect(() => healthScore(long(), { ...OPTS, warningAt: 70 })).toThrow(
      /warningAt must be between 0 and safeAt/,
    );
    const zero = { timeAtRisk: 0, drawdown: 0, volume: 0, volatility: 0, profitability: 0 };
    expect(() => healthScoreValue(long(), { ...OPTS, weights: zero })).toThrow(/sum of weights must be/);
    expect(() => healthScoreValue(long(), { ...OPTS, weights: { ...zero, drawdown: -1 } })).toThrow(
      /weights.drawdown must be/,
    );
  });
});

describe('health properties', () => {
  const px = fc.double({ min: 1, max: 100_000, noNaN: true });
  const inputArb = fc.record({
    side: fc.constantFrom<'long' | 'short'>('long', 'short'),
    entryPrice: px,
    price: px,
    stop: px,
    initialStop: px,
    minutesOpen: fc.double({ min: 0, max: 10_000, noNaN: true }),
    recentVolume: fc.option(fc.double({ min: 0, max: 1e9, noNaN: true }), { nil: undefined }),
    averageVolume: fc.option(fc.double({ min: 0, max: 1e9, noNaN: true }), { nil: undefined }),
    atr: fc.option(fc.double({ min: 0, max: 10_000, noNaN: true }), { nil: undefined }),
  });
  const valid = inputArb.filter((i) => i.initialStop !== i.entryPrice);

  it('the score is always within [0, 100] and healthScoreValue equals healthScore().score', () => {
    fc.assert(
      fc.property(valid, (input) => {
        const value = healthScoreValue(input, OPTS);
        const full = healthScore(input, OPTS);
        return (
          value >= 0 &&
          value <= 100 &&
          Object.is(value, full.score) &&
          full.level === healthLevel(value, OPTS)
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('moving the price toward the stop never increases the drawdown component', () => {
    fc.assert(
      fc.property(valid, fc.double({ min: 0, max: 1, noNaN: true }), (input, f) => {
        // a price between the current price and the stop (bounded so float rounding cannot overshoot)
        const lo = Math.min(input.price, input.stop);
        const hi = Math.max(input.price, input.stop);
        const closer = Math.min(hi, Math.max(lo, input.price + (input.stop - input.price) * f));
        const before = healthScore(input, OPTS).components.drawdown;
        const after = healthScore({ ...input, price: closer }, OPTS).components.drawdown;
        return after <= before;
      }),
      { numRuns: 1000 },
    );
  });

  it('a long and the mirrored short (prices reflected about a centre) score the same', () => {
    const int = fc.integer({ min: 1, max: 99_999 });
    fc.assert(
      fc.property(
        fc.record({
          entryPrice: int,
          price: int,
          stop: int,
          initialStop: int,
          minutesOpen: fc.integer({ min: 0, max: 500 }),
        }),
        fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
        (p, atr) => {
          if (p.entryPrice === p.initialStop) return true;
          const m = (x: number) => 100_000 - x; // reflection about 50 000, stays positive and exact
          const asLong: HealthInput = { side: 'long', ...p, recentVolume: 3, averageVolume: 7, atr };
          const asShort: HealthInput = {
            ...asLong,
            side: 'short',
            entryPrice: m(p.entryPrice),
            price: m(p.price),
            stop: m(p.stop),
            initialStop: m(p.initialStop),
          };
          const a = healthScore(asLong, OPTS);
          const b = healthScore(asShort, OPTS);
          return a.score === b.score && a.level === b.level;
        },
      ),
      { numRuns: 1000 },
    );
  });
});
