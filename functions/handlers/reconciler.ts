/**
 * Reconciliation (`functions/services/reconciler.ts`) of every configured account, or one.
 *
 * Events:
 * - the EventBridge schedule (every 5 minutes; `detail-type: "Scheduled Event"`): every account, **applied**;
 * - a Lambda console test event: `{"dryRun": true}` (every account, dry: the diff and the planned actions,
 *   nothing changed but the stored report), `{"accountId": "main", "apply": true}` (one account, applied),
 *   `{"accountId": "main"}` (one account, dry). A manual event without `apply: true` / `dryRun: false` is dry.
 *
 * Returns `{dryRun, accounts, mismatches, runs: [{accountId, report}], failed}`; each report is also stored
 * (`RECON#<accountId>`) and each run emits `ReconciliationMismatches`. An invalid event is refused with an
 * `InvalidInput` error naming every problem (nothing runs); an account whose run failed makes the
 * invocation fail after the other accounts ran (so `HandlerErrors-reconciler` alarms).
 */
import { z } from 'zod';
import { accountsIn, OperationError } from '../services/operations.js';
import { getContext } from './shared/context.js';
import { TaskError } from './shared/errors.js';
import { logger } from './shared/powertools.js';
import { reconcileAccounts, type ReconcileRunResult } from './shared/reconcile.js';
import { recordWorkerTick } from './shared/worker-ticks.js';

const scheduledSchema = z.looseObject({ 'detail-type': z.literal('Scheduled Event') });
const manualSchema = z
  .strictObject({
    accountId: z.string().min(1).optional(),
    dryRun: z.boolean().optional(),
    apply: z.boolean().optional(),
  })
  .refine((e) => !(e.dryRun === true && e.apply === true) && !(e.dryRun === false && e.apply === false), {
    message: 'dryRun and apply contradict each other; give one of them',
  });

/** The run a parsed event asks for. */
export interface ReconcileRequest {
  accountId?: string;
  dryRun: boolean;
  source: 'schedule' | 'manual';
}

/** Parses a reconciler event (see the file comment); throws `InvalidInput` listing every problem. */
export function parseReconcileEvent(event: unknown): ReconcileRequest {
  if (scheduledSchema.safeParse(event).success) return { dryRun: false, source: 'schedule' };
  const r = manualSchema.safeParse(event ?? {});
  if (!r.success)
    throw new TaskError(
      'InvalidInput',
      `reconciler event: ${r.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}` +
        ' — expected {"dryRun": true}, {"accountId": "<id>", "apply": true} or a scheduled event',
    );
  const dryRun = !(r.data.apply === true || r.data.dryRun === false);
  return {
    ...(r.data.accountId !== undefined ? { accountId: r.data.accountId } : {}),
    dryRun,
    source: 'manual',
  };
}

/** The reconciler handler. */
export async function handler(event: unknown): Promise<ReconcileRunResult> {
  const request = parseReconcileEvent(event);
  const ctx = await getContext();
  const startedAt = ctx.clock.now();
  try {
    let accountIds: string[];
    try {
      accountIds = accountsIn(await ctx.config.getConfig(), request.accountId);
    } catch (e) {
      if (e instanceof OperationError) throw new TaskError('InvalidInput', `reconciler event: ${e.message}`);
      throw e;
    }
    const result = await reconcileAccounts(ctx, accountIds, request.dryRun);
    logger.info('reconciled', {
      source: request.source,
      dryRun: result.dryRun,
      accounts: result.accounts,
      mismatches: result.mismatches,
      failed: result.failed,
    });
    await recordWorkerTick(ctx, 'reconciler', startedAt, 1, {
      dryRun: result.dryRun,
      mismatches: result.mismatches,
      failed: result.failed,
    });
    if (result.failed.length > 0) {
      const errors = result.runs.flatMap((r) => ('error' in r ? [`${r.accountId}: ${r.error}`] : []));
      throw new Error(`reconciliation failed for ${result.failed.join(', ')}: ${errors.join('; ')}`);
    }
    return result;
  } finally {
    ctx.metrics.flush();
  }
}
