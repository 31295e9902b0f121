/**
 * The last tick of each scheduled worker, recorded in the store (`CONTROL` / `WORKER#<name>`) at the end of
 * every invocation so `GET /health` can show when each worker last ran. A failed write is logged and never
 * fails the worker.
 */
import type { JsonMap } from '../../ports/trade-store.js';
import type { HandlerContext } from './context.js';
import { logger } from './powertools.js';

/** Records `worker`'s invocation that started at `startedAt` and ran `ticks` ticks, with `detail`. */
export async function recordWorkerTick(
  ctx: Pick<HandlerContext, 'store' | 'clock'>,
  worker: string,
  startedAt: number,
  ticks: number,
  detail: JsonMap = {},
): Promise<void> {
  const now = ctx.clock.now();
  try {
    await ctx.store.recordWorkerTick({
      worker,
      lastTickAt: now,
      startedAt,
      ticks,
      durationMs: Math.max(0, Math.round(now - startedAt)),
      detail,
    });
  } catch (e) {
    logger.warn('worker tick not recorded', { worker, error: e instanceof Error ? e.message : String(e) });
  }
}
