/**
 * An SQS queue and its dead-letter queue, mapped from a {@link QueueShape} in `functions/resources.ts`
 * (FIFO flag, content-based deduplication, visibility timeout, retention, redrive). Both queues use
 * SQS-managed server-side encryption and refuse requests that are not over TLS.
 */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueShape } from '../functions/resources.js';

function queueProps(shape: QueueShape): sqs.QueueProps {
  return {
    fifo: shape.fifo ? true : undefined,
    contentBasedDeduplication: shape.fifo ? shape.contentBasedDeduplication : undefined,
    visibilityTimeout: Duration.seconds(shape.visibilityTimeoutSeconds),
    retentionPeriod: Duration.seconds(shape.retentionPeriodSeconds),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  };
}

/** A queue with a dead-letter queue (the shape must name one). */
export class QueueWithDeadLetter extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly shape: QueueShape;

  constructor(scope: Construct, id: string, shape: QueueShape) {
    super(scope, id);
    const dlqShape = shape.deadLetter;
    if (!dlqShape) throw new RangeError(`queue shape ${shape.logicalId} has no dead-letter queue`);
    if (dlqShape.fifo !== shape.fifo) {
      throw new RangeError(
        `queue ${shape.logicalId} and its dead-letter queue must both be FIFO or both standard`,
      );
    }
    this.shape = shape;
    this.deadLetterQueue = new sqs.Queue(this, dlqShape.logicalId, queueProps(dlqShape));
    this.queue = new sqs.Queue(this, shape.logicalId, {
      ...queueProps(shape),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: shape.maxReceiveCount ?? 5 },
    });
  }
}
