/**
 * EventBridge schedule (rate 1 minute): runs the milestone worker (`functions/services/milestone-worker.ts`)
 * for live and shadow trades in sub-minute ticks inside the invocation. Emits `MilestonesReached`.
 */
import { MilestoneWorker } from '../services/milestone-worker.js';
import type { MilestoneTickReport } from '../services/milestone-worker.js';
import { getContext } from './shared/context.js';
import { logger } from './shared/powertools.js';
import { recordWorkerTick } from './shared/worker-ticks.js';
import { runTicks, workerAccounts } from './shared/workers.js';
import type { LoopContext } from './shared/workers.js';

/** The milestone-checker handler; `event.ticks` overrides the number of ticks. */
export async function handler(
  event?: { ticks?: number },
  lambda?: LoopContext,
): Promise<MilestoneTickReport[]> {
  const ctx = await getContext();
  const startedAt = ctx.clock.now();
  try {
    const config = await ctx.config.getConfig();
    const worker = new MilestoneWorker({
      store: ctx.store,
      clock: ctx.clock,
      accounts: await workerAccounts(ctx),
      metrics: ctx.metrics,
    });
    const reports = await runTicks<MilestoneTickReport>(
      ctx,
      {
        intervalMs: config.defaults.ticks.intervalSeconds * 1000,
        ...(event?.ticks !== undefined ? { ticks: event.ticks } : {}),
        ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
        ...(lambda ? { lambda } : {}),
        idleWhen: (r) => r.results.length === 0 && r.errors.length === 0,
      },
      (now) => worker.tick(now),
    );
    logger.info('milestone ticks', { ticks: reports.length });
    await recordWorkerTick(ctx, 'milestone-checker', startedAt, reports.length);
    return reports;
  } finally {
    ctx.metrics.flush();
  }
}
