/**
 * EventBridge schedule (rate 1 minute): runs the stop-manager worker (`functions/services/stop-manager-worker.ts`)
 * in sub-minute ticks inside the invocation (`ticks.intervalSeconds`, default 10 s → 6 ticks). Emits the
 * worker's metrics (StopUpdatesApplied / Rejected / Failed, FailSafeRejections, TickDurationMs, TickOverBudget,
 * BreakerOpen). Returns the tick reports.
 */
import { StopManagerWorker } from '../services/stop-manager-worker.js';
import type { StopManagerTickReport } from '../services/stop-manager-worker.js';
import { getContext } from './shared/context.js';
import { logger } from './shared/powertools.js';
import { recordWorkerTick } from './shared/worker-ticks.js';
import { runTicks, workerAccounts } from './shared/workers.js';
import type { LoopContext } from './shared/workers.js';

/** The stop-manager handler; `event.ticks` overrides the number of ticks (tests, manual runs). */
export async function handler(
  event?: { ticks?: number },
  lambda?: LoopContext,
): Promise<StopManagerTickReport[]> {
  const ctx = await getContext();
  const startedAt = ctx.clock.now();
  try {
    const config = await ctx.config.getConfig();
    const worker = new StopManagerWorker({
      store: ctx.store,
      clock: ctx.clock,
      config: ctx.config,
      accounts: await workerAccounts(ctx),
      liveWait: ctx.liveWait,
      metrics: ctx.metrics,
      owner: `stop-manager-${process.pid}`,
    });
    const reports = await runTicks<StopManagerTickReport>(
      ctx,
      {
        intervalMs: config.defaults.ticks.intervalSeconds * 1000,
        ...(event?.ticks !== undefined ? { ticks: event.ticks } : {}),
        ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
        ...(lambda ? { lambda } : {}),
        idleWhen: (r) => r.order.length === 0 && r.errors.length === 0,
      },
      (now) => worker.tick(now),
    );
    logger.info('stop-manager ticks', { ticks: reports.length });
    await recordWorkerTick(ctx, 'stop-manager', startedAt, reports.length);
    return reports;
  } finally {
    ctx.metrics.flush();
  }
}
