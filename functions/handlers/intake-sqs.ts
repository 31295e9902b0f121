/**
 * The signals queue consumer (SQS standard). Each record is one signal: accepted like POST /signals.
 * An invalid signal is logged with every reason and counted (`SignalsRejected`) and NOT retried (it would
 * never become valid); a transient failure (storage, Step Functions) is reported as a partial batch failure
 * and retried by SQS, ending in the dead-letter queue after 5 receives.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { getContext } from './shared/context.js';
import { acceptSignal } from './shared/intake.js';
import { HANDLER_METRIC, logger } from './shared/powertools.js';

/** The SQS intake handler. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const ctx = await getContext();
  const processor = new BatchProcessor(EventType.SQS);
  const record = async (r: SQSRecord): Promise<void> => {
    let raw: unknown;
    try {
      raw = JSON.parse(r.body);
    } catch (e) {
      ctx.metrics.count(HANDLER_METRIC.SignalsRejected);
      logger.warn('signal rejected', {
        messageId: r.messageId,
        errors: [`(body): not JSON (${(e as Error).message})`],
      });
      return;
    }
    const res = await acceptSignal(ctx, raw);
    if (!res.ok) {
      ctx.metrics.count(HANDLER_METRIC.SignalsRejected);
      logger.warn('signal rejected', { messageId: r.messageId, errors: res.errors });
      return;
    }
    ctx.metrics.count(HANDLER_METRIC.SignalsAccepted);
    logger.info('signal accepted', { messageId: r.messageId, ...res });
  };
  try {
    return await processPartialResponse(event, record, processor);
  } finally {
    ctx.metrics.flush();
  }
}
