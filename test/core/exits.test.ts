import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import { averageTrueRange, planInitialExits } from '../../functions/core/exits.js';
import type { ExitOptions, PlanExitsInput } from '../../functions/core/exits.js';
import type { StopSpec } from '../../functions/core/signal.js';
import type { Candle, Side } from '../../functions/core/types.js';

const d = (s: string): Decimal => new D(s);

/** The configured defaults: 0.05 % spread buffer, first partial (50 %) at half the target. */
const OPTS: ExitOptions = {
  spreadBufferPct: d('0.05'),
  partialTakeProfit: { enabled: true, firstAtFractionOfTarget: d('0.5'), firstCloseFraction: d('0.5') },
};
const NO_BUFFER: ExitOptions = { ...OPTS, spreadBufferPct: d('0') };

function plan(over: Partial<PlanExitsInput> & { stop: StopSpec }, tick = '0.1') {
  return planInitialExits({
    side: 'long',
    entryPrice: d('27000'),
    rr: d('2'),
    market: { tickSize: d(tick) },
    options: OPTS,
    ...over,
  });
}
/** [price, fraction] of each level as strings. */
const levels = (x: ReturnType<typeof plan>) => x.levels.map((l) => [l.price.toFixed(), l.fraction.toFixed()]);

describe('stop from a percentage', () => {
  it('long 27000, 1 %, buffer 0.05 %, tick 0.1, rr 2', () => {
    // raw stop  = 27000 × (100 − 1) / 100           = 26730
    // buffer    = 27000 × 0.05 / 100                 = 13.5
    // stop      = 26730 − 13.5 = 26716.5 (already on the 0.1 grid)
    // distance  = 27000 − 26716.5                    = 283.5
    // target    = 27000 + 2 × 283.5                  = 27567
    // partial 1 = 27000 + 0.5 × (27567 − 27000)      = 27283.5
    const x = plan({ stop: { pct: d('1') } });
    expect(x.stop.toFixed()).toBe('26716.5');
    expect(x.stopDistance.toFixed()).toBe('283.5');
    expect(x.takeProfit.toFixed()).toBe('27567');
    expect(levels(x)).toEqual([
      ['27283.5', '0.5'],
      ['27567', '1'],
    ]);
  });

  it('short mirror: 27000, 1 %', () => {
    // raw 27270, + 13.5 = 27283.5; distance 283.5; target 27000 − 567 = 26433; partial 26716.5
    const x = plan({ side: 'short', stop: { pct: d('1') } });
    expect(x.stop.toFixed()).toBe('27283.5');
    expect(x.stopDistance.toFixed()).toBe('283.5');
    expect(x.takeProfit.toFixed()).toBe('26433');
    expect(levels(x)).toEqual([
      ['26716.5', '0.5'],
      ['26433', '1'],
    ]);
  });

  it('long off the grid: every price rounds towards entry', () => {
    // entry 100, 1.23 %: raw 98.77, − 0.05 buffer = 98.72 → up to 98.8; distance 1.2
    // target 100 + 1.55 × 1.2 = 101.86 → down to 101.8; partial 100 + 0.5 × 1.8 = 100.9
    const x = plan({ entryPrice: d('100'), rr: d('1.55'), stop: { pct: d('1.23') } });
    expect(x.stop.toFixed()).toBe('98.8');
    expect(x.stopDistance.toFixed()).toBe('1.2');
    expect(x.takeProfit.toFixed()).toBe('101.8');
    expect(levels(x)).toEqual([
      ['100.9', '0.5'],
      ['101.8', '1'],
    ]);
  });

  it('short off the grid: every price rounds towards entry', () => {
    // raw 101.23, + 0.05 = 101.28 → down to 101.2; distance 1.2
    // target 100 − 1.86 = 98.14 → up to 98.2; partial 100 − 0.5 × 1.8 = 99.1
    const x = plan({ side: 'short', entryPrice: d('100'), rr: d('1.55'), stop: { pct: d('1.23') } });
    expect(x.stop.toFixed()).toBe('101.2');
    expect(x.stopDistance.toFixed()).toBe('1.2');
    expect(x.takeProfit.toFixed()).toBe('98.2');
    expect(levels(x)).toEqual([
      ['99.1', '0.5'],
      ['98.2', '1'],
    ]);
  });

  it('a zero tick size leaves prices unrounded', () => {
    const x = plan({ entryPrice: d('100'), rr: d('1.55'), stop: { pct: d('1.23') } }, '0');
    expect(x.stop.toFixed()).toBe('98.72');
    expect(x.takeProfit.toFixed()).toBe('101.984'); // 100 + 1.55 × 1.28
    expect(x.levels[0]!.price.toFixed()).toBe('100.992');
  });
});

describe('stop from a price', () => {
  it('long: the absolute price widened by the buffer, rounded up to the tick', () => {
    // 26800 − 13.5 = 26786.5 → up to the 1.0 grid = 26787; distance 213; target 27426; partial 27213
    const x = plan({ stop: { price: d('26800') } }, '1');
    expect(x.stop.toFixed()).toBe('26787');
    expect(x.stopDistance.toFixed()).toBe('213');
    expect(x.takeProfit.toFixed()).toBe('27426');
    expect(x.levels[0]!.price.toFixed()).toBe('27213');
  });

  it('short: widened upwards, rounded down to the tick', () => {
    // 27200 + 13.5 = 27213.5 → down to 27213; distance 213; target 26574; partial 26787
    const x = plan({ side: 'short', stop: { price: d('27200') } }, '1');
    expect(x.stop.toFixed()).toBe('27213');
    expect(x.takeProfit.toFixed()).toBe('26574');
    expect(x.levels[0]!.price.toFixed()).toBe('26787');
  });

  it('keeps its absolute price when planned from a different fill', () => {
    const a = plan({ entryPrice: d('27000'), stop: { price: d('26800') } }, '0.5');
    const b = plan({ entryPrice: d('27010'), stop: { price: d('26800') } }, '0.5');
    // buffer: 13.5 and 13.505 → 26786.5 and 26786.495 → up to 0.5: both 26786.5
    expect(a.stop.toFixed()).toBe('26786.5');
    expect(b.stop.toFixed()).toBe('26786.5');
    expect(b.stopDistance.toFixed()).toBe('223.5');
  });
});

describe('stop from an ATR multiple', () => {
  it('long: entry − multiple × ATR − buffer', () => {
    // 2000 − 1.5 × 12.34 = 1981.49; − 1 (0.05 % of 2000) = 1980.49; distance 19.51; target 2039.02; partial 2019.51
    const x = plan({ entryPrice: d('2000'), stop: { atrMultiple: d('1.5') }, atr: d('12.34') }, '0.01');
    expect(x.stop.toFixed()).toBe('1980.49');
    expect(x.stopDistance.toFixed()).toBe('19.51');
    expect(x.takeProfit.toFixed()).toBe('2039.02');
    expect(x.levels[0]!.price.toFixed()).toBe('2019.51');
  });

  it('short: entry + multiple × ATR + buffer', () => {
    const x = plan(
      { side: 'short', entryPrice: d('2000'), stop: { atrMultiple: d('1.5') }, atr: d('12.34') },
      '0.01',
    );
    expect(x.stop.toFixed()).toBe('2019.51');
    expect(x.takeProfit.toFixed()).toBe('1960.98');
    expect(x.levels[0]!.price.toFixed()).toBe('1980.49');
  });

  it('rounds to the tick in the safe direction (long up, short down)', () => {
    // 2000 − 1.5 × 12.345 = 1981.4825 − 1 = 1980.4825 → long: 1980.49; short: 2019.5175 → 2019.51
    expect(
      plan(
        { entryPrice: d('2000'), stop: { atrMultiple: d('1.5') }, atr: d('12.345') },
        '0.01',
      ).stop.toFixed(),
    ).toBe('1980.49');
    expect(
      plan(
        { side: 'short', entryPrice: d('2000'), stop: { atrMultiple: d('1.5') }, atr: d('12.345') },
        '0.01',
      ).stop.toFixed(),
    ).toBe('2019.51');
  });
});

describe('errors', () => {
  it('an ATR stop without an ATR', () => {
    expect(() => plan({ stop: { atrMultiple: d('2') } })).toThrow(
      new RangeError('an atrMultiple stop needs a positive ATR of the symbol'),
    );
  });

  it('an ATR stop with a zero ATR', () => {
    expect(() => plan({ stop: { atrMultiple: d('2') }, atr: d('0') })).toThrow(
      new RangeError('an atrMultiple stop needs a positive ATR of the symbol'),
    );
  });

  it('a long price stop above entry', () => {
    // 27100 − 13.5 = 27086.5, still above 27000
    expect(() => plan({ stop: { price: d('27100') } })).toThrow(
      new RangeError('a long stop must be below entry 27000, got 27086.5'),
    );
  });

  it('a short price stop below entry', () => {
    expect(() => plan({ side: 'short', stop: { price: d('26900') } })).toThrow(
      new RangeError('a short stop must be above entry 27000, got 26913.5'),
    );
  });

  it('a stop that rounds onto entry at a coarse tick', () => {
    // 100 × 0.9999 = 99.99 → up to the 1.0 grid = 100 = entry
    expect(() => plan({ entryPrice: d('100'), stop: { pct: d('0.01') }, options: NO_BUFFER }, '1')).toThrow(
      new RangeError('a long stop must be below entry 100, got 100'),
    );
  });

  it('a stop at or below zero', () => {
    // 100 × (100 − 99.99) / 100 = 0.01; − 0.05 = −0.04
    expect(() => plan({ entryPrice: d('100'), stop: { pct: d('99.99') } }, '0.01')).toThrow(
      new RangeError('stop price -0.04 is not positive'),
    );
  });

  it('a target that collapses onto entry at a coarse tick', () => {
    // stop 99, distance 1, rr 0.5: target 100.5 → down to the 1.0 grid = 100 = entry
    expect(() =>
      plan({ entryPrice: d('100'), rr: d('0.5'), stop: { price: d('99') }, options: NO_BUFFER }, '1'),
    ).toThrow(new RangeError('target 100 collapses onto entry at this tick size'));
  });

  it('a short target that collapses onto entry', () => {
    expect(() =>
      plan(
        { side: 'short', entryPrice: d('100'), rr: d('0.5'), stop: { price: d('101') }, options: NO_BUFFER },
        '1',
      ),
    ).toThrow(new RangeError('target 100 collapses onto entry at this tick size'));
  });
});

describe('partial take-profit levels', () => {
  const base = { stop: { pct: d('1') } };

  it('disabled: one level, the target, closing everything', () => {
    const x = plan({
      ...base,
      options: { ...OPTS, partialTakeProfit: { ...OPTS.partialTakeProfit, enabled: false } },
    });
    expect(levels(x)).toEqual([['27567', '1']]);
  });

  it('firstCloseFraction 1: no separate partial, the target closes everything', () => {
    const x = plan({
      ...base,
      options: { ...OPTS, partialTakeProfit: { ...OPTS.partialTakeProfit, firstCloseFraction: d('1') } },
    });
    expect(levels(x)).toEqual([['27567', '1']]);
  });

  it('firstAtFractionOfTarget 1: the partial would be the target itself, so there is one level', () => {
    const x = plan({
      ...base,
      options: { ...OPTS, partialTakeProfit: { ...OPTS.partialTakeProfit, firstAtFractionOfTarget: d('1') } },
    });
    expect(levels(x)).toEqual([['27567', '1']]);
  });

  it('custom fraction and position: 30 % at a quarter of the way', () => {
    // 27000 + 0.25 × 567 = 27141.75 → down to 27141.7
    const x = plan({
      ...base,
      options: {
        ...OPTS,
        partialTakeProfit: {
          enabled: true,
          firstAtFractionOfTarget: d('0.25'),
          firstCloseFraction: d('0.3'),
        },
      },
    });
    expect(levels(x)).toEqual([
      ['27141.7', '0.3'],
      ['27567', '1'],
    ]);
  });

  it('a partial that rounds onto entry is dropped', () => {
    // stop 99, target 101, partial 100.5 → down to 100 = entry
    const x = plan({ entryPrice: d('100'), rr: d('1'), stop: { price: d('99') }, options: NO_BUFFER }, '1');
    expect(levels(x)).toEqual([['101', '1']]);
  });
});

describe('averageTrueRange (Wilder)', () => {
  const c = (h: string, l: string, cl: string, i: number): Candle => ({
    openTime: i * 60_000,
    intervalMs: 60_000,
    open: d(cl),
    high: d(h),
    low: d(l),
    close: d(cl),
    volume: d('1'),
  });
  // Hand-computed, period 3:
  //   c0  H 10   L 9    C 9.5
  //   c1  H 11   L 9.5  C 10.5   TR = max(1.5, |11 − 9.5|, |9.5 − 9.5|)     = 1.5  (high − low)
  //   c2  H 10.8 L 10   C 10.2   TR = max(0.8, |10.8 − 10.5|, |10 − 10.5|)  = 0.8
  //   c3  H 12   L 10.5 C 11.8   TR = max(1.5, |12 − 10.2|, |10.5 − 10.2|)  = 1.8  (high − previous close)
  //   ATR after c3 = (1.5 + 0.8 + 1.8) / 3 = 4.1 / 3 = 1.3666…
  //   c4  H 11   L 10.2 C 10.4   TR = max(0.8, |11 − 11.8|, |10.2 − 11.8|)  = 1.6  (previous close − low)
  //   ATR after c4 = (4.1/3 × 2 + 1.6) / 3 = (8.2 + 4.8) / 9 = 13 / 9 = 1.4444…
  const CANDLES = [
    c('10', '9', '9.5', 0),
    c('11', '9.5', '10.5', 1),
    c('10.8', '10', '10.2', 2),
    c('12', '10.5', '11.8', 3),
    c('11', '10.2', '10.4', 4),
  ];
  const places = (x: Decimal | null) => x!.toDecimalPlaces(30).toFixed();

  it('with exactly period + 1 candles it is the mean of the true ranges', () => {
    expect(places(averageTrueRange(CANDLES.slice(0, 4), 3))).toBe(
      new D('4.1').div(3).toDecimalPlaces(30).toFixed(),
    );
    expect(places(averageTrueRange(CANDLES.slice(0, 4), 3))).toBe('1.366666666666666666666666666667');
  });

  it('one more candle applies Wilder smoothing: (prev × (n − 1) + TR) / n', () => {
    expect(places(averageTrueRange(CANDLES, 3))).toBe('1.444444444444444444444444444444');
  });

  it('period 1 is the last true range', () => {
    expect(averageTrueRange(CANDLES, 1)!.toFixed()).toBe('1.6');
  });

  it('is null with too few candles', () => {
    expect(averageTrueRange(CANDLES.slice(0, 3), 3)).toBeNull();
    expect(averageTrueRange([], 14)).toBeNull();
    expect(averageTrueRange(CANDLES.slice(0, 1), 1)).toBeNull();
  });

  it('rejects a period that is not a positive integer', () => {
    expect(() => averageTrueRange(CANDLES, 0)).toThrow(new RangeError('ATR period must be ≥ 1, got 0'));
    expect(() => averageTrueRange(CANDLES, 2.5)).toThrow(new RangeError('ATR period must be ≥ 1, got 2.5'));
  });
});

describe('properties', () => {
  const TICKS = ['0', '0.0001', '0.01', '0.1', '0.5', '1', '10'];
  const arb = fc.record({
    side: fc.constantFrom<Side>('long', 'short'),
    entryCents: fc.integer({ min: 1, max: 10_000_000 }),
    tick: fc.constantFrom(...TICKS),
    kind: fc.constantFrom('pct', 'price', 'atr'),
    pctBp: fc.integer({ min: 1, max: 5000 }), // 0.01 % … 50 %
    bufferBp: fc.integer({ min: 0, max: 100 }), // 0 … 1 %
    rrCenti: fc.integer({ min: 10, max: 1000 }), // 0.1 … 10
    atrMultDeci: fc.integer({ min: 1, max: 50 }),
  });

  it('stop on the protective side, at most as far as the unrounded buffered stop and within one tick of it; targets on the profit side', () => {
    fc.assert(
      fc.property(arb, (a) => {
        const entry = new D(a.entryCents).div(100);
        const s = a.side === 'long' ? 1 : -1;
        const pct = new D(a.pctBp).div(100);
        const buffer = new D(a.bufferBp).div(100);
        const tick = d(a.tick);
        const rr = new D(a.rrCenti).div(100);
        const atrMultiple = new D(a.atrMultDeci).div(10);
        // ATR stops: ATR = pct % of entry, so the raw distance is multiple × that (exact decimals throughout)
        const atr = entry.mul(pct).div(100);
        const rawDistance = a.kind === 'atr' ? atr.mul(atrMultiple) : entry.mul(pct).div(100);
        const stop: StopSpec =
          a.kind === 'pct'
            ? { pct }
            : a.kind === 'price'
              ? { price: entry.minus(rawDistance.mul(s)) }
              : { atrMultiple };
        const buffered = entry.minus(rawDistance.plus(entry.mul(buffer).div(100)).mul(s));
        let x;
        try {
          x = planInitialExits({
            side: a.side,
            entryPrice: entry,
            stop,
            rr,
            market: { tickSize: tick },
            options: { ...OPTS, spreadBufferPct: buffer },
            atr,
          });
        } catch (e) {
          // Only the documented impossibilities may throw.
          expect(e).toBeInstanceOf(RangeError);
          expect((e as Error).message).toMatch(
            /must be (below|above) entry|is not positive|collapses onto entry/,
          );
          return;
        }
        // protective side
        expect(entry.minus(x.stop).mul(s).gt(0)).toBe(true);
        expect(x.stop.gt(0)).toBe(true);
        // rounding is towards entry: never farther than the buffered stop, and less than one tick closer
        expect(x.stop.minus(buffered).mul(s).gte(0)).toBe(true);
        if (!tick.isZero()) {
          expect(x.stop.minus(buffered).abs().lt(tick)).toBe(true);
          expect(x.stop.div(tick).isInteger()).toBe(true);
          expect(x.takeProfit.div(tick).isInteger()).toBe(true);
        } else {
          expect(x.stop.eq(buffered)).toBe(true);
        }
        expect(x.stopDistance.eq(entry.minus(x.stop).abs())).toBe(true);
        // target on the profit side, never beyond rr × distance
        const reward = x.takeProfit.minus(entry).mul(s);
        expect(reward.gt(0)).toBe(true);
        expect(reward.lte(x.stopDistance.mul(rr))).toBe(true);
        // levels: strictly increasing distance, all on the profit side, the last is the target closing the rest
        let prev = new D(0);
        for (const l of x.levels) {
          const dist = l.price.minus(entry).mul(s);
          expect(dist.gt(prev)).toBe(true);
          prev = dist;
        }
        const last = x.levels[x.levels.length - 1]!;
        expect(last.price.eq(x.takeProfit)).toBe(true);
        expect(last.fraction.toFixed()).toBe('1');
      }),
      { numRuns: 2000 },
    );
  });
});
