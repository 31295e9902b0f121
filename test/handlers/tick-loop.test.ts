import { describe, expect, it } from 'vitest';
import { runTicks } from '../../functions/handlers/shared/workers.js';
import { ManualClock } from '../support/emulators.js';

/** A sleeper that advances the manual clock instead of waiting. */
function loop(start = 1_000_000) {
  const clock = new ManualClock(start);
  const sleep = (ms: number) => {
    clock.advance(ms);
    return Promise.resolve();
  };
  return { ctx: { clock }, clock, sleep };
}

describe('the worker tick loop', () => {
  it('runs one tick per interval on fixed deadlines from the start, six per minute at 10 s', async () => {
    const { ctx, sleep } = loop();
    const at: number[] = [];
    const reports = await runTicks(ctx, { intervalMs: 10_000, sleep }, (now) => {
      at.push(now);
      return Promise.resolve({ open: 1 });
    });
    expect(reports).toHaveLength(6);
    expect(at.map((t) => t - 1_000_000)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
  });

  it('ends after a tick that found nothing to work on (idle engine: one short tick a minute)', async () => {
    const { ctx, sleep } = loop();
    let n = 0;
    const reports = await runTicks(
      ctx,
      { intervalMs: 10_000, sleep, idleWhen: (r: { open: number }) => r.open === 0 },
      () => Promise.resolve({ open: n++ < 2 ? 1 : 0 }),
    );
    expect(reports.map((r) => r.open)).toEqual([1, 1, 0]);
  });

  it('stops before a tick that would not finish inside the Lambda time left', async () => {
    const { ctx, clock, sleep } = loop();
    const deadline = clock.now() + 32_000;
    const reports = await runTicks(
      ctx,
      { intervalMs: 10_000, sleep, lambda: { getRemainingTimeInMillis: () => deadline - clock.now() } },
      () => Promise.resolve(1),
    );
    // ticks at 0, 10 s and 20 s; the 30 s tick would leave less than the 5 s reserve
    expect(reports).toHaveLength(3);
  });
});
