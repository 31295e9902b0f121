/**
 * The lifecycle tasks of the state machine, one per call: input `{task, tradeId, …}` with task one of
 * `armLive` (with `taskToken`; invoked with `.waitForTaskToken`, its return value is ignored), `settle`,
 * `startPostTrade`, `finalize`, `markCancelled` (with `reason`), `markFailed` (with `error`), `ensureFlat`.
 * See `functions/services/lifecycle-tasks.ts` for each contract. Errors carry the names of `shared/errors.ts`.
 */
import { z } from 'zod';
import {
  armLive,
  ensureFlat,
  finalize,
  markCancelled,
  markFailed,
  settle,
  startPostTrade,
} from '../services/lifecycle-tasks.js';
import { getContext } from './shared/context.js';
import { TaskError, classifyError } from './shared/errors.js';
import { logger } from './shared/powertools.js';

const errorSchema = z.object({ Error: z.string().optional(), Cause: z.string().optional() }).nullish();
const tradeId = z.string().min(1);
const inputSchema = z.discriminatedUnion('task', [
  z.object({ task: z.literal('armLive'), tradeId, taskToken: z.string().min(1) }),
  z.object({ task: z.literal('settle'), tradeId }),
  z.object({ task: z.literal('startPostTrade'), tradeId }),
  z.object({ task: z.literal('finalize'), tradeId }),
  z.object({ task: z.literal('markCancelled'), tradeId, reason: z.string().default('cancelled') }),
  z.object({ task: z.literal('markFailed'), tradeId, error: errorSchema }),
  z.object({ task: z.literal('ensureFlat'), tradeId, error: errorSchema }),
]);

/** The lifecycle-task handler. */
export async function handler(event: unknown): Promise<unknown> {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success)
    throw new TaskError(
      'InvalidInput',
      `lifecycle task input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  const input = parsed.data;
  const ctx = await getContext();
  try {
    switch (input.task) {
      case 'armLive':
        return await armLive(ctx, input.tradeId, input.taskToken);
      case 'settle':
        return await settle(ctx, input.tradeId);
      case 'startPostTrade':
        return await startPostTrade(ctx, input.tradeId);
      case 'finalize':
        return await finalize(ctx, input.tradeId);
      case 'markCancelled':
        return await markCancelled(ctx, input.tradeId, input.reason);
      case 'markFailed':
        return await markFailed(ctx, input.tradeId, input.error ?? null);
      case 'ensureFlat':
        return await ensureFlat(ctx, input.tradeId);
    }
  } catch (e) {
    const err = classifyError(e);
    logger.error('lifecycle task failed', {
      task: input.task,
      tradeId: input.tradeId,
      error: err.name,
      message: err.message,
    });
    throw err;
  } finally {
    ctx.metrics.flush();
  }
}
