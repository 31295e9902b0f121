/**
 * EventBridge schedule (rate 1 minute): runs the lifecycle-watch worker
 * (`functions/services/lifecycle-watch-worker.ts`): 180 / 240-minute escalation, health score, emergency
 * close, unprotected-position repair, stop-hit detection. Ticks as the other workers.
 */
import { LifecycleWatchWorker } from '../services/lifecycle-watch-worker.js';
import type { LifecycleWatchTickReport } from '../services/lifecycle-watch-worker.js';
import { getContext } from './shared/context.js';
import { logger } from './shared/powertools.js';
import { recordWorkerTick } from './shared/worker-ticks.js';
import { runTicks, workerAccounts } from './shared/workers.js';
import type { LoopContext } from './shared/workers.js';

/** The lifecycle-watch handler; `event.ticks` overrides the number of ticks. */
export async function handler(
  event?: { ticks?: number },
  lambda?: LoopContext,
): Promise<LifecycleWatchTickReport[]> {
  const ctx = await getContext();
  const startedAt = ctx.clock.now();
  try {
    const config = await ctx.config.getConfig();
    const worker = new LifecycleWatchWorker({
      store: ctx.store,
      clock: ctx.clock,
      config: ctx.config,
      accounts: await workerAccounts(ctx),
      liveWait: ctx.liveWait,
      metrics: ctx.metrics,
      owner: `lifecycle-watch-${process.pid}`,
    });
    const reports = await runTicks<LifecycleWatchTickReport>(
      ctx,
      {
        intervalMs: config.defaults.ticks.intervalSeconds * 1000,
        ...(event?.ticks !== undefined ? { ticks: event.ticks } : {}),
        ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
        ...(lambda ? { lambda } : {}),
        idleWhen: (r) =>
          r.health.length === 0 &&
          r.unprotected.length === 0 &&
          r.positionsMissing.length === 0 &&
          r.errors.length === 0,
      },
      (now) => worker.tick(now),
    );
    logger.info('lifecycle-watch ticks', { ticks: reports.length });
    await recordWorkerTick(ctx, 'lifecycle-watch', startedAt, reports.length, {
      health: (reports.at(-1)?.health ?? []).map((h) => ({
        tradeId: h.tradeId,
        score: h.score,
        level: h.level,
        components: { ...h.components },
      })),
    });
    return reports;
  } finally {
    ctx.metrics.flush();
  }
}
