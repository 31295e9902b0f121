import { describe, expect, it } from 'vitest';
import {
  orderDlqShape,
  orderQueueShape,
  signalsQueueShape,
  tableShape,
  toCreateQueueInput,
  toCreateTableInput,
} from '../../functions/resources.js';

describe('toCreateTableInput', () => {
  it('maps the table shape: pk/sk strings, three GSIs projecting ALL, on-demand billing', () => {
    expect(toCreateTableInput('tw-test')).toEqual({
      TableName: 'tw-test',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
        { AttributeName: 'gsi2pk', AttributeType: 'S' },
        { AttributeName: 'gsi2sk', AttributeType: 'S' },
        { AttributeName: 'gsi3pk', AttributeType: 'S' },
        { AttributeName: 'gsi3sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byAccount',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'bySymbol',
          KeySchema: [
            { AttributeName: 'gsi2pk', KeyType: 'HASH' },
            { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'byClosedAt',
          KeySchema: [
            { AttributeName: 'gsi3pk', KeyType: 'HASH' },
            { AttributeName: 'gsi3sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    expect(tableShape.partitionKey.name).toBe('pk');
  });

  it('rejects an invalid table name', () => {
    expect(() => toCreateTableInput('ab')).toThrow(/3–255 characters/);
    expect(() => toCreateTableInput('a b c')).toThrow(RangeError);
  });
});

describe('toCreateQueueInput', () => {
  it('the order queue is FIFO, explicit dedup, 360 s visibility, 4 days retention, DLQ after 5 receives', () => {
    expect(toCreateQueueInput(orderQueueShape, 'orders.fifo', { deadLetterArn: 'arn:dlq' })).toEqual({
      QueueName: 'orders.fifo',
      Attributes: {
        FifoQueue: 'true',
        ContentBasedDeduplication: 'false',
        VisibilityTimeout: '360',
        MessageRetentionPeriod: '345600',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:dlq', maxReceiveCount: 5 }),
      },
    });
  });

  it('applies local overrides', () => {
    const q = toCreateQueueInput(orderQueueShape, 'o.fifo', {
      deadLetterArn: 'arn:d',
      overrides: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 },
    });
    expect(q.Attributes.VisibilityTimeout).toBe('1');
    expect(JSON.parse(q.Attributes.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: 'arn:d',
      maxReceiveCount: 2,
    });
  });

  it('the DLQ is FIFO with 14 days retention; the signals queue is standard', () => {
    expect(toCreateQueueInput(orderDlqShape, 'd.fifo').Attributes).toEqual({
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
      VisibilityTimeout: '60',
      MessageRetentionPeriod: '1209600',
    });
    expect(
      toCreateQueueInput(signalsQueueShape, 'signals', { deadLetterArn: 'arn:s' }).Attributes.FifoQueue,
    ).toBeUndefined();
  });

  it('rejects a name that does not fit the FIFO flag, and a missing DLQ ARN', () => {
    expect(() => toCreateQueueInput(orderQueueShape, 'orders', { deadLetterArn: 'x' })).toThrow(
      /must end in \.fifo/,
    );
    expect(() => toCreateQueueInput(signalsQueueShape, 's.fifo', { deadLetterArn: 'x' })).toThrow(
      /must not end in \.fifo/,
    );
    expect(() => toCreateQueueInput(orderQueueShape, 'orders.fifo')).toThrow(
      /needs the ARN of its dead-letter queue/,
    );
  });
});
