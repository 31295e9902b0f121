/**
 * A local stand-in for the Lambda SQS event source mapping (tests and the local runtime): receive up
 * to 10 messages, build an AWS-shaped SQSEvent, call the handler, delete the successes and leave the
 * failures to reappear after the visibility timeout — so redrive to the dead-letter queue happens by
 * the queue's maxReceiveCount, exactly as on AWS.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import type { SqsSender } from './order-queue.js';

/** Options of {@link pollOnce}. */
export interface PollOptions {
  sqs: SqsSender;
  queueUrl: string;
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>;
  /** 1–10 (default 10). */
  maxMessages?: number;
  /** Long-poll wait (default 0). Keep it below the visibility timeout. */
  waitTimeSeconds?: number;
  region?: string;
}

/** What one poll did. */
export interface PollResult {
  received: number;
  deleted: number;
  /** Message ids reported as failures (left on the queue). */
  failed: string[];
}

const arnCache = new Map<string, string>();

async function queueArn(sqs: SqsSender, queueUrl: string): Promise<string> {
  const cached = arnCache.get(queueUrl);
  if (cached) return cached;
  const res = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = res.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${queueUrl} has no QueueArn`);
  arnCache.set(queueUrl, arn);
  return arn;
}

/** Receives one batch, runs the handler, deletes what succeeded. A throwing handler fails the whole batch. */
export async function pollOnce(opts: PollOptions): Promise<PollResult> {
  const max = opts.maxMessages ?? 10;
  if (!Number.isInteger(max) || max < 1 || max > 10)
    throw new RangeError(`maxMessages must be 1–10, got ${max}`);
  const res = await opts.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: opts.queueUrl,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: opts.waitTimeSeconds ?? 0,
      AttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  // local-aws-sqs can return the same message twice in one long poll (it became visible again while
  // the poll waited); keep the last delivery, whose receipt handle is current.
  const byId = new Map<string, NonNullable<typeof res.Messages>[number]>();
  for (const m of res.Messages ?? []) if (m.MessageId) byId.set(m.MessageId, m);
  if (byId.size === 0) return { received: 0, deleted: 0, failed: [] };
  const arn = await queueArn(opts.sqs, opts.queueUrl);
  const region = opts.region ?? arn.split(':')[3] ?? 'us-east-1';
  const records: SQSRecord[] = [...byId.values()].map((m) => {
    const a = m.Attributes ?? {};
    const attributes: SQSRecordAttributes = {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? '0',
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? '0',
      ...(a.SequenceNumber ? { SequenceNumber: a.SequenceNumber } : {}),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
      ...(a.MessageDeduplicationId ? { MessageDeduplicationId: a.MessageDeduplicationId } : {}),
    };
    const messageAttributes: SQSRecord['messageAttributes'] = {};
    for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
      messageAttributes[k] = {
        dataType: v.DataType ?? 'String',
        ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      };
    }
    return {
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes,
      messageAttributes,
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: arn,
      awsRegion: region,
    };
  });
  let failedIds: string[];
  try {
    const out = await opts.handler({ Records: records });
    const known = new Set(records.map((r) => r.messageId));
    failedIds = out.batchItemFailures.map((f) => f.itemIdentifier);
    // As on AWS: an unknown or empty identifier fails the whole batch.
    if (failedIds.some((id) => !known.has(id))) failedIds = [...known];
  } catch {
    failedIds = records.map((r) => r.messageId);
  }
  const failed = new Set(failedIds);
  const toDelete = records.filter((r) => !failed.has(r.messageId));
  let deleted = 0;
  for (let i = 0; i < toDelete.length; i += 10) {
    const chunk = toDelete.slice(i, i + 10);
    const del = await opts.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: opts.queueUrl,
        Entries: chunk.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle })),
      }),
    );
    deleted += del.Successful?.length ?? 0;
  }
  return { received: records.length, deleted, failed: [...failed] };
}
