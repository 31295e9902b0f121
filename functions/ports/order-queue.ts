/**
 * The order queue port: order commands for the execution worker. The SQS adapter
 * (`functions/adapters/sqs/`) sends them to the FIFO order queue with one message group per
 * `<accountId>#<symbol>` and the command id as deduplication id. The runtime schema of a command is
 * `OrderCommandSchema` in `functions/adapters/sqs/order-command.ts`.
 */

/** What the execution worker is asked to do. */
export type OrderCommandType =
  'ENTER' | 'EXIT' | 'PARTIAL_EXIT' | 'PLACE_STOP' | 'REPLACE_STOP' | 'CANCEL_ORDER';

/** One order command (a queue message body). */
export interface OrderCommand {
  /** Unique id of the command; the queue's deduplication id (≤ 128 chars of SQS's allowed set). */
  commandId: string;
  tradeId: string;
  accountId: string;
  symbol: string;
  type: OrderCommandType;
  /** Command details (JSON; decimals as strings). */
  payload: Record<string, unknown>;
  /** Step Functions task token to answer when the command completes. */
  taskToken?: string;
  /** When the command was issued (ISO 8601 UTC). */
  issuedAt: string;
}

/** Where the command landed in the queue. */
export interface SendResult {
  messageId: string;
  sequenceNumber: string | null;
}

/** Producer side of the order queue. */
export interface OrderQueue {
  /** Validates and enqueues the command; a repeat with the same commandId within 5 min is deduplicated by SQS. */
  send(command: OrderCommand): Promise<SendResult>;
}
