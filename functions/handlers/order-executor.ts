/**
 * The order queue consumer (SQS FIFO, partial batch responses): each command runs once per commandId under
 * the trade's lease (`consumeOrderBatch`), through `executeOrderCommand` — ENTER (entry, then the stop from
 * the same invocation), EXIT, PARTIAL_EXIT, PLACE_STOP / REPLACE_STOP, CANCEL_ORDER — and answers the
 * command's task token with SendTaskSuccess / SendTaskFailure. Emits `FillToStopLatencyMs` per entry.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { consumeOrderBatch } from '../adapters/sqs/order-consumer.js';
import { executeOrderCommand } from '../services/order-commands.js';
import { getContext } from './shared/context.js';
import { logger } from './shared/powertools.js';

let invocation = 0;

/** The order-executor handler. */
export async function handler(
  event: SQSEvent,
  context?: { awsRequestId?: string },
): Promise<SQSBatchResponse> {
  const ctx = await getContext();
  const owner = context?.awsRequestId ?? `order-executor-${process.pid}-${++invocation}`;
  const log = (level: 'info' | 'warn' | 'error', message: string, extra: Record<string, unknown> = {}) =>
    logger[level](message, extra);
  try {
    return await consumeOrderBatch(
      event,
      (command, hctx) => executeOrderCommand({ ...ctx, log }, command, hctx.lease.token),
      {
        store: ctx.store,
        owner,
        leaseMs: ctx.orderLeaseMs,
        clock: ctx.clock,
        log: (entry) => logger[entry.level](`order command ${entry.outcome}`, { ...entry }),
      },
    );
  } finally {
    ctx.metrics.flush();
  }
}
