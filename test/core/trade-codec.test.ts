import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { adjustStop } from '../../functions/core/stop-manager.js';
import { createMilestoneTracker, observeMilestones } from '../../functions/core/milestones.js';
import {
  decodePosition,
  decodeTracker,
  encodePosition,
  encodeTracker,
} from '../../functions/core/trade-codec.js';
import { d, open } from './helpers.js';

describe('trade codec', () => {
  it('property: a position survives JSON round trips at any point of its life, and behaves the same after', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        fc.array(fc.integer({ min: 26_000, max: 28_000 }), { minLength: 1, maxLength: 40 }),
        (side, path) => {
          let p = open({ side }).position;
          let q = p;
          let t = 0;
          for (const px of path) {
            t += 20_000;
            const obs = { price: d(px), at: t };
            p = adjustStop(p, obs).position;
            const stored = JSON.parse(JSON.stringify(encodePosition(q))) as ReturnType<typeof encodePosition>;
            q = adjustStop(decodePosition(stored, q.rules), obs).position;
            expect(encodePosition(q)).toEqual(encodePosition(p));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a tracker round-trips with its recorded milestones', () => {
    let t = createMilestoneTracker({
      side: 'long',
      entryPrice: d(100),
      entryAt: 0,
      leverage: 10,
      thresholds: [10, 15, 20, 25, 30],
    });
    t = observeMilestones(t, d('101.6'), 30_000, 'live').tracker;
    const back = decodeTracker(
      JSON.parse(JSON.stringify(encodeTracker(t))) as ReturnType<typeof encodeTracker>,
    );
    expect(encodeTracker(back)).toEqual(encodeTracker(t));
    expect(back.seconds).toEqual([30, 30, null, null, null]);
  });

  it('rejects a corrupt stored field by name', () => {
    const e = encodePosition(open({}).position);
    expect(() => decodePosition({ ...e, stop: 'abc' }, open({}).position.rules)).toThrow();
    expect(() => decodePosition({ ...e, stop: '' }, open({}).position.rules)).toThrow(
      'stored position: stop is not a decimal string',
    );
  });
});
