import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  createMilestoneTracker,
  flattenMilestones,
  liveMilestones,
  observeMilestones,
  profitPct,
  shadowMilestones,
  type MilestoneTracker,
} from '../../functions/core/milestones.js';
import { d } from './helpers.js';

const T = [10, 15, 20, 25, 30];
const tracker = (side: 'long' | 'short' = 'long', leverage = 10, entry = '100') =>
  createMilestoneTracker({ side, entryPrice: d(entry), entryAt: 0, leverage, thresholds: T });

describe('milestones', () => {
  it('profit % is return on margin: side × (price − entry) / entry × 100 × leverage', () => {
    expect(profitPct('long', d(100), d(101), 10).toFixed()).toBe('10');
    expect(profitPct('short', d(100), d(99), 10).toFixed()).toBe('10');
    expect(profitPct('short', d(100), d(101), 20).toFixed()).toBe('-20');
  });

  it('bounds are exact: a long at 10× reaches 10 % at exactly +1 % and not one tick before', () => {
    const t = tracker();
    expect(t.bounds.map((b) => b.toFixed())).toEqual(['101', '101.5', '102', '102.5', '103']);
    expect(observeMilestones(t, d('100.9999999'), 5000, 'live').hits).toEqual([]);
    const r = observeMilestones(t, d('101'), 5000, 'live');
    expect(r.hits.map((h) => [h.threshold, h.seconds])).toEqual([[10, 5]]);
  });

  it('non-terminating bounds round in the safe direction (3× leverage)', () => {
    // 10 % at 3× = +3.333…%: bound = 100 × 310/300 = 103.333…, rounded up; 103.3333 is not enough
    const t = tracker('long', 3);
    expect(observeMilestones(t, d('103.3333333333'), 1000, 'live').hits).toEqual([]);
    expect(observeMilestones(t, d('103.3333333334'), 1000, 'live').hits).toHaveLength(1);
    const s = tracker('short', 3);
    expect(observeMilestones(s, d('96.6666666667'), 1000, 'live').hits).toEqual([]);
    expect(observeMilestones(s, d('96.6666666666'), 1000, 'live').hits).toHaveLength(1);
  });

  it('records whole seconds from the entry fill, once; a later phase never overwrites', () => {
    let t = tracker();
    t = observeMilestones(t, d('101.2'), 12_999, 'live').tracker; // 10 % at 12 s
    t = observeMilestones(t, d('101.6'), 30_000, 'live').tracker; // 15 % at 30 s
    t = observeMilestones(t, d('101.0'), 40_000, 'live').tracker; // back down: nothing changes
    t = observeMilestones(t, d('102.6'), 90_000, 'shadow').tracker; // 20 % and 25 % after exit
    expect(liveMilestones(t)).toEqual({ '10': 12, '15': 30, '20': null, '25': null, '30': null });
    expect(shadowMilestones(t)).toEqual({ '10': 12, '15': 30, '20': 90, '25': 90, '30': null });
    expect(flattenMilestones(t)).toEqual({
      seconds_to_10_pct: 12,
      seconds_to_15_pct: 30,
      seconds_to_20_pct: 90,
      seconds_to_25_pct: 90,
      seconds_to_30_pct: null,
    });
  });

  it('the seed case: a trade exiting at 12 % during LIVE keeps its 10 % milestone through post-trade monitoring', () => {
    let t = tracker();
    t = observeMilestones(t, d('101.2'), 60_000, 'live').tracker; // 12 %: 10 % reached at 60 s
    t = observeMilestones(t, d('100.5'), 120_000, 'shadow').tracker;
    expect(liveMilestones(t)['10']).toBe(60);
    expect(shadowMilestones(t)['10']).toBe(60);
  });

  it('a trade exiting at 8 % records nothing', () => {
    const r = observeMilestones(tracker(), d('100.8'), 60_000, 'live');
    expect(r.hits).toEqual([]);
    expect(liveMilestones(r.tracker)).toEqual({ '10': null, '15': null, '20': null, '25': null, '30': null });
  });

  it('returns the same tracker when nothing is reached (no allocation on the hot path)', () => {
    const t = tracker();
    expect(observeMilestones(t, d('100.5'), 1000, 'live').tracker).toBe(t);
  });

  it('rejects bad thresholds and leverage', () => {
    expect(() =>
      createMilestoneTracker({
        side: 'long',
        entryPrice: d(100),
        entryAt: 0,
        leverage: 10,
        thresholds: [10, 10],
      }),
    ).toThrow('strictly ascending');
    expect(() =>
      createMilestoneTracker({ side: 'long', entryPrice: d(100), entryAt: 0, leverage: 0, thresholds: T }),
    ).toThrow('leverage must be an integer ≥ 1, got 0');
  });

  it('property: recorded once, never overwritten, and higher thresholds never earlier than lower ones', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 9_000, max: 11_000 }),
            fc.constantFrom<'live' | 'shadow'>('live', 'shadow'),
          ),
          {
            maxLength: 80,
          },
        ),
        (side, leverage, path) => {
          let t: MilestoneTracker = tracker(side, leverage);
          let time = 0;
          for (const [cents, phase] of path) {
            time += 7_000;
            const before = t.seconds.slice();
            t = observeMilestones(t, d(cents).div(100), time, phase).tracker;
            before.forEach((s, i) => {
              if (s !== null) expect(t.seconds[i]).toBe(s);
            });
            for (let i = 1; i < t.seconds.length; i++) {
              const lo = t.seconds[i - 1];
              const hi = t.seconds[i];
              if (hi !== null && hi !== undefined) {
                expect(lo).not.toBeNull();
                expect(hi).toBeGreaterThanOrEqual(lo!);
              }
            }
          }
          // Every recorded milestone agrees with the profit % definition at its bound.
          t.bounds.forEach((b, i) => {
            expect(profitPct(side, t.entryPrice, b, leverage).gte(T[i]!)).toBe(true);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
