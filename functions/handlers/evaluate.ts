/**
 * The `Evaluate` task of the state machine. Input `{tradeId}`; output {@link EvaluateOutput}:
 * `{decision: 'ENTER', command, messageGroupId, postTradeSeconds}` or `{decision: 'SKIP', code, reason,
 * postTradeSeconds}` (the trade is then SKIPPED). Errors carry the names of `shared/errors.ts`.
 */
import { z } from 'zod';
import { evaluateTrade } from '../services/evaluate.js';
import type { EvaluateOutput } from '../services/evaluate.js';
import { getContext } from './shared/context.js';
import { TaskError, classifyError } from './shared/errors.js';
import { HANDLER_METRIC, logger } from './shared/powertools.js';

const inputSchema = z.object({ tradeId: z.string().min(1) });

/** The Evaluate handler. */
export async function handler(event: unknown): Promise<EvaluateOutput> {
  const input = inputSchema.safeParse(event);
  if (!input.success) throw new TaskError('InvalidInput', `Evaluate needs {tradeId}: ${input.error.message}`);
  const ctx = await getContext();
  try {
    const out = await evaluateTrade(ctx, input.data.tradeId);
    if (out.decision === 'SKIP') ctx.metrics.count(HANDLER_METRIC.TradesSkipped);
    logger.info('evaluated', { tradeId: input.data.tradeId, decision: out.decision });
    return out;
  } catch (e) {
    const err = classifyError(e);
    logger.error('evaluate failed', { tradeId: input.data.tradeId, error: err.name, message: err.message });
    throw err;
  } finally {
    ctx.metrics.flush();
  }
}
