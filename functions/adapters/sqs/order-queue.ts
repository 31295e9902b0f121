/**
 * The SQS producer of the order queue: FIFO, MessageGroupId `<accountId>#<symbol>`,
 * MessageDeduplicationId = commandId (content-based deduplication is off on the queue).
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { OrderCommand, OrderQueue, SendResult } from '../../ports/order-queue.js';
import { messageGroupId, parseOrderCommand } from './order-command.js';

/** The part of an SQS client the adapters use (tests wrap `send` to count requests). */
export interface SqsSender {
  send: SQSClient['send'];
}

/** Order queue producer on SQS. */
export class SqsOrderQueue implements OrderQueue {
  constructor(private readonly opts: { client: SqsSender; queueUrl: string }) {}

  /** Validates the command (InvalidOrderCommandError, nothing sent) and enqueues it. */
  async send(command: OrderCommand): Promise<SendResult> {
    const cmd = parseOrderCommand(command);
    const res = await this.opts.client.send(
      new SendMessageCommand({
        QueueUrl: this.opts.queueUrl,
        MessageBody: JSON.stringify(cmd),
        MessageGroupId: messageGroupId(cmd),
        MessageDeduplicationId: cmd.commandId,
      }),
    );
    if (!res.MessageId) throw new Error(`SQS accepted command ${cmd.commandId} but returned no MessageId`);
    return { messageId: res.MessageId, sequenceNumber: res.SequenceNumber ?? null };
  }
}
