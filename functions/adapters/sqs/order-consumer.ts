/**
 * The order-queue consumer helper, with the semantics of an SQS event source with partial batch
 * responses (`ReportBatchItemFailures`):
 * - each record is parsed; a malformed body is a failed item with a logged reason (it reaches the
 *   DLQ after maxReceiveCount receives — never dropped silently);
 * - FIFO order within a message group: after one failure in a group, the rest of that group in the
 *   batch are reported as failures too (as AWS does), so nothing overtakes a failed command;
 * - per-trade serialization through the trade's lease, because local-aws-sqs does not enforce the
 *   FIFO group lock: a trade leased by another live owner → failure, retried after the visibility timeout;
 * - one effect per commandId: a command already marked processed on the trade is acknowledged
 *   without calling the handler again; the mark is written under the lease (fenced).
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Clock } from '../../ports/clock.js';
import type { OrderCommand } from '../../ports/order-queue.js';
import type { Lease, TradeStore } from '../../ports/trade-store.js';
import { messageGroupId, parseOrderCommandBody } from './order-command.js';

/** What the handler gets besides the command. */
export interface OrderHandlerContext {
  /** The trade lease held for this command; pass `lease.token` as `leaseToken` to store writes. */
  lease: Lease;
  store: TradeStore;
  record: SQSRecord;
  /** ApproximateReceiveCount of the message (1 on the first delivery). */
  receiveCount: number;
}

/** Executes one order command. Throwing marks the record as failed (it will be redelivered). */
export type OrderCommandHandler = (command: OrderCommand, ctx: OrderHandlerContext) => Promise<void>;

/** The outcome of one record. */
export type RecordOutcome = 'processed' | 'duplicate' | 'failed';

/** One log line per record (wire it to the Powertools logger in Lambda). */
export interface ConsumerLogEntry {
  level: 'info' | 'warn' | 'error';
  messageId: string;
  outcome: RecordOutcome;
  reason: string;
  commandId?: string;
  tradeId?: string;
  groupId?: string;
}

/** Options of {@link consumeOrderBatch}. */
export interface ConsumeOptions {
  store: TradeStore;
  /** Lease owner for this invocation (e.g. the Lambda request id). */
  owner: string;
  /** Lease duration; must exceed the handler's worst-case time for one command. */
  leaseMs: number;
  clock: Clock;
  log?: (entry: ConsumerLogEntry) => void;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Processes one SQS batch of order commands in order; returns the partial batch failure report. */
export async function consumeOrderBatch(
  event: SQSEvent,
  handle: OrderCommandHandler,
  opts: ConsumeOptions,
): Promise<SQSBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  const failedGroups = new Set<string>();
  const log = opts.log ?? (() => undefined);

  for (const record of event.Records) {
    const groupId = record.attributes.MessageGroupId ?? `standard:${record.messageId}`;
    const fail = (
      reason: string,
      extra: Partial<ConsumerLogEntry> = {},
      level: 'warn' | 'error' = 'error',
    ) => {
      failures.push({ itemIdentifier: record.messageId });
      failedGroups.add(groupId);
      log({ level, messageId: record.messageId, outcome: 'failed', reason, groupId, ...extra });
    };
    if (failedGroups.has(groupId)) {
      fail(`an earlier message of group ${groupId} failed in this batch; kept in order`, {}, 'warn');
      continue;
    }
    let command: OrderCommand;
    try {
      command = parseOrderCommandBody(record.body);
    } catch (e) {
      fail(`malformed order command: ${describeError(e)}`);
      continue;
    }
    const ids = { commandId: command.commandId, tradeId: command.tradeId };
    if (
      record.attributes.MessageGroupId !== undefined &&
      record.attributes.MessageGroupId !== messageGroupId(command)
    ) {
      fail(
        `message group ${record.attributes.MessageGroupId} does not match ${messageGroupId(command)}`,
        ids,
      );
      continue;
    }
    try {
      const before = await opts.store.getTrade(command.tradeId);
      if (before === null) {
        fail(`trade ${command.tradeId} not found`, ids);
        continue;
      }
      if (before.processedCommands[command.commandId] !== undefined) {
        log({
          level: 'info',
          messageId: record.messageId,
          outcome: 'duplicate',
          reason: 'already processed',
          groupId,
          ...ids,
        });
        continue;
      }
      const acquired = await opts.store.acquireLease({ tradeId: command.tradeId }, opts.owner, opts.leaseMs);
      if (!acquired.acquired) {
        fail(
          `trade ${command.tradeId} is leased by ${acquired.holder} until ${acquired.expiresAt}`,
          ids,
          'warn',
        );
        continue;
      }
      const lease = acquired.lease;
      try {
        // Re-check under the lease: a previous holder may have finished this command meanwhile.
        const current = await opts.store.getTrade(command.tradeId);
        if (current !== null && current.processedCommands[command.commandId] !== undefined) {
          log({
            level: 'info',
            messageId: record.messageId,
            outcome: 'duplicate',
            reason: 'already processed',
            groupId,
            ...ids,
          });
          continue;
        }
        await handle(command, {
          lease,
          store: opts.store,
          record,
          receiveCount: Number(record.attributes.ApproximateReceiveCount),
        });
        await opts.store.markCommandProcessed(command.tradeId, command.commandId, {
          at: opts.clock.now(),
          leaseToken: lease.token,
        });
        log({
          level: 'info',
          messageId: record.messageId,
          outcome: 'processed',
          reason: 'ok',
          groupId,
          ...ids,
        });
      } finally {
        await opts.store.releaseLease(lease).catch((e: unknown) =>
          log({
            level: 'warn',
            messageId: record.messageId,
            outcome: 'processed',
            reason: `lease release failed: ${describeError(e)}`,
            groupId,
            ...ids,
          }),
        );
      }
    } catch (e) {
      fail(`handler failed: ${describeError(e)}`, ids);
    }
  }
  return { batchItemFailures: failures };
}
