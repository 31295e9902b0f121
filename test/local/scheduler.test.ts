/** The simulated clock of the full runtime: sleepers wake in time order, the clock never moves back. */
import { describe, expect, it } from 'vitest';
import { SimScheduler, seededRandom } from '../../local/runtime/scheduler.js';
import { pathOffsets, percentile } from '../../local/runtime/full-replay.js';

describe('SimScheduler', () => {
  it('wakes sleepers in time order, then in the order they slept, and ends at the target time', async () => {
    const s = new SimScheduler(1000);
    const log: string[] = [];
    const sleeper = async (name: string, ms: number[]) => {
      for (const m of ms) {
        await s.sleep(m);
        log.push(`${name}@${s.now()}`);
      }
    };
    void sleeper('a', [10, 10]);
    void sleeper('b', [10, 5]);
    void sleeper('c', [30]);
    await s.advanceTo(1025);
    expect(log).toEqual(['a@1010', 'b@1010', 'b@1015', 'a@1020']);
    expect(s.now()).toBe(1025);
    await s.advanceTo(1030);
    expect(log.at(-1)).toBe('c@1030');
    expect(s.sleeping).toBe(0);
  });

  it('waits on the clock for untracked waits and never moves back', async () => {
    const s = new SimScheduler(0);
    let done = false;
    void s.waitUntil(500).then(() => (done = true));
    await s.advanceTo(499);
    expect(done).toBe(false);
    await s.advanceTo(500);
    expect(done).toBe(true);
    await expect(s.advanceTo(100)).rejects.toThrow(/cannot move the clock back from 500 to 100/);
    await expect(s.jumpTo(10)).rejects.toThrow(/cannot move the clock back/);
  });

  it('refuses to jump over a due sleeper', async () => {
    const s = new SimScheduler(0);
    void s.sleep(100);
    await expect(s.jumpTo(200)).rejects.toThrow(/a sleeper is due at 100, before 200/);
    await s.advanceTo(100);
    await s.jumpTo(200);
    expect(s.now()).toBe(200);
  });

  it('wakes sleepers due at the same time lowest priority first', async () => {
    let current = 0;
    const s = new SimScheduler(0, () => current);
    const log: string[] = [];
    current = 2;
    void s.sleep(10).then(() => log.push('p2'));
    current = 1;
    void s.sleep(10).then(() => log.push('p1'));
    await s.advanceTo(10);
    expect(log).toEqual(['p1', 'p2']);
  });

  it('rejects a non-integer start', () => {
    expect(() => new SimScheduler(1.5)).toThrow(/integer epoch ms/);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(() => seededRandom(-1)).toThrow(/seed must be an integer/);
  });
});

describe('pathOffsets and percentile', () => {
  it('places the path points of a candle on the 10-s grid', () => {
    expect(pathOffsets(60_000)).toEqual([0, 20_000, 40_000, 50_000]);
    expect(pathOffsets(180_000)).toEqual([0, 60_000, 120_000, 170_000]);
    expect(pathOffsets(300_000)).toEqual([0, 100_000, 200_000, 290_000]);
    expect(() => pathOffsets(30_000)).toThrow(/at least 40 s/);
    expect(() => pathOffsets(65_000)).toThrow(/multiple of 10 s/);
  });

  it('takes the nearest-rank percentile', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([10, 20, 30, 40], 0.5)).toBe(20);
    expect(percentile([10, 20, 30, 40], 0.99)).toBe(40);
    expect(percentile([7], 0.99)).toBe(7);
  });
});
