import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { SqsOrderQueue } from '../../functions/adapters/sqs/order-queue.js';
import { InvalidOrderCommandError } from '../../functions/adapters/sqs/order-command.js';
import { consumeOrderBatch } from '../../functions/adapters/sqs/order-consumer.js';
import type { ConsumerLogEntry, OrderCommandHandler } from '../../functions/adapters/sqs/order-consumer.js';
import { pollOnce } from '../../functions/adapters/sqs/local-event-source.js';
import type { OrderCommand } from '../../functions/ports/order-queue.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';

let emu: Emulators;
let store: DynamoTradeStore;
let queue: SqsOrderQueue;
const clock = new ManualClock(1_700_000_000_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  emu = await startEmulators({ orderQueue: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } });
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  queue = new SqsOrderQueue({ client: emu.sqs, queueUrl: emu.orderQueue.url });
});
afterAll(async () => {
  await emu.stop();
});

const cmd = (over: Partial<OrderCommand> = {}): OrderCommand => ({
  commandId: 'cmd-1',
  tradeId: 'q-1',
  accountId: 'acct-q',
  symbol: 'BTC/USDT:USDT',
  type: 'ENTER',
  payload: { amount: '0.010' },
  issuedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});

async function queueDepth(url: string): Promise<number> {
  const res = await emu.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(res.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

let seq = 0;
function record(body: string, groupId: string, over: Partial<SQSRecord['attributes']> = {}): SQSRecord {
  seq++;
  return {
    messageId: `m-${seq}`,
    receiptHandle: `rh-${seq}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '0',
      MessageGroupId: groupId,
      MessageDeduplicationId: `d-${seq}`,
      ...over,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: emu.orderQueue.arn,
    awsRegion: 'us-east-1',
  };
}
const rec = (c: OrderCommand) => record(JSON.stringify(c), `${c.accountId}#${c.symbol}`);

async function newTrade(tradeId: string, symbol = 'BTC/USDT:USDT') {
  await store.createTrade({ tradeId, accountId: 'acct-q', symbol, data: {}, at: 1 });
}

describe('producer', () => {
  it('sends with group <accountId>#<symbol> and dedup id = commandId; a repeat is deduplicated', async () => {
    const c = cmd({ commandId: 'prod-1', tradeId: 'p-1' });
    await queue.send(c);
    await queue.send(c);
    const res = await emu.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emu.orderQueue.url,
        MaxNumberOfMessages: 10,
        AttributeNames: ['All'],
      }),
    );
    expect(res.Messages).toHaveLength(1);
    const m = res.Messages?.[0];
    expect(m?.Attributes?.MessageGroupId).toBe('acct-q#BTC/USDT:USDT');
    expect(m?.Attributes?.MessageDeduplicationId).toBe('prod-1');
    expect(JSON.parse(m?.Body ?? '')).toEqual(c);
    await sleep(1_100); // let it become visible, then drain it with a consumer that acknowledges
    await newTrade('p-1');
    const r = await pollOnce({
      sqs: emu.sqs,
      queueUrl: emu.orderQueue.url,
      handler: (e) => consumeOrderBatch(e, async () => {}, { store, owner: 'drain', leaseMs: 5_000, clock }),
    });
    expect(r).toMatchObject({ received: 1, deleted: 1, failed: [] });
  });

  const bad: [string, Partial<OrderCommand> | Record<string, unknown>, RegExp][] = [
    ['a commandId with a space', { commandId: 'a b' }, /commandId: commandId must be 1–128/],
    ['a 129-character commandId', { commandId: 'x'.repeat(129) }, /commandId/],
    ['an unknown type', { type: 'BUY' }, /type: /],
    ['a non-ISO issuedAt', { issuedAt: 'yesterday' }, /issuedAt must be an ISO 8601/],
    ['an unknown key', { extra: 1 }, /\(root\): Unrecognized key/],
    ['a tradeId with #', { tradeId: 'a#b' }, /tradeId may contain only/],
  ];
  for (const [name, over, msg] of bad) {
    it(`rejects ${name} and sends nothing`, async () => {
      const before = await queueDepth(emu.orderQueue.url);
      const err = await queue.send({ ...cmd(), ...(over as Partial<OrderCommand>) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOrderCommandError);
      expect((err as Error).message).toMatch(msg);
      expect(await queueDepth(emu.orderQueue.url)).toBe(before);
    });
  }
});

describe('consumeOrderBatch', () => {
  it('processes in order, keeps a failed group in order, and logs malformed bodies', async () => {
    await newTrade('c-1');
    await newTrade('c-2', 'ETH/USDT:USDT');
    const seen: string[] = [];
    const logs: ConsumerLogEntry[] = [];
    const handle: OrderCommandHandler = (c) => {
      seen.push(c.commandId);
      return c.commandId === 'boom' ? Promise.reject(new Error('exchange timeout')) : Promise.resolve();
    };
    const g1 = 'acct-q#BTC/USDT:USDT';
    const event: SQSEvent = {
      Records: [
        rec(cmd({ commandId: 'a1', tradeId: 'c-1' })),
        record('{not json', g1),
        rec(cmd({ commandId: 'a2', tradeId: 'c-1' })), // same group after a failure: kept back
        rec(cmd({ commandId: 'b1', tradeId: 'c-2', symbol: 'ETH/USDT:USDT' })),
        rec(cmd({ commandId: 'boom', tradeId: 'c-2', symbol: 'ETH/USDT:USDT' })),
        rec(cmd({ commandId: 'b3', tradeId: 'c-2', symbol: 'ETH/USDT:USDT' })),
      ],
    };
    const ids = event.Records.map((r) => r.messageId);
    const res = await consumeOrderBatch(event, handle, {
      store,
      owner: 'w1',
      leaseMs: 5_000,
      clock,
      log: (e) => logs.push(e),
    });
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([ids[1], ids[2], ids[4], ids[5]]);
    expect(seen).toEqual(['a1', 'b1', 'boom']);
    const malformed = logs.find((l) => l.messageId === ids[1]);
    expect(malformed).toMatchObject({ level: 'error', outcome: 'failed' });
    expect(malformed?.reason).toMatch(
      /^malformed order command: InvalidOrderCommandError: invalid order command: \(body\): not JSON/,
    );
    expect(logs.find((l) => l.messageId === ids[4])?.reason).toBe('handler failed: Error: exchange timeout');
    expect((await store.getTrade('c-1'))?.processedCommands).toHaveProperty('a1');
    expect((await store.getTrade('c-1'))?.processedCommands).not.toHaveProperty('a2');
  });

  it('a duplicate delivery has one effect (in the same batch and in a later one)', async () => {
    await newTrade('d-1');
    let effects = 0;
    const handle: OrderCommandHandler = async (c, ctx) => {
      effects++;
      await ctx.store.transition(c.tradeId, {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'ENTRY_SENT',
        at: 5,
        commandId: c.commandId,
        leaseToken: ctx.lease.token,
      });
    };
    const c = cmd({ commandId: 'dup-1', tradeId: 'd-1' });
    const first = await consumeOrderBatch({ Records: [rec(c), rec(c)] }, handle, {
      store,
      owner: 'w',
      leaseMs: 5_000,
      clock,
    });
    expect(first.batchItemFailures).toEqual([]);
    const later = await consumeOrderBatch({ Records: [rec(c)] }, handle, {
      store,
      owner: 'w2',
      leaseMs: 5_000,
      clock,
    });
    expect(later.batchItemFailures).toEqual([]);
    expect(effects).toBe(1);
    expect(await store.listEvents('d-1')).toHaveLength(2);
  });

  it('a trade leased by another live owner is reported as a failure (retried later)', async () => {
    await newTrade('l-1');
    const other = await store.acquireLease({ tradeId: 'l-1' }, 'someone-else', 60_000);
    expect(other.acquired).toBe(true);
    let called = false;
    const logs: ConsumerLogEntry[] = [];
    const r = rec(cmd({ commandId: 'l-cmd', tradeId: 'l-1' }));
    const res = await consumeOrderBatch(
      { Records: [r] },
      () => {
        called = true;
        return Promise.resolve();
      },
      { store, owner: 'w', leaseMs: 5_000, clock, log: (e) => logs.push(e) },
    );
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: r.messageId }]);
    expect(called).toBe(false);
    expect(logs[0]?.reason).toMatch(/^trade l-1 is leased by someone-else until \d+$/);
  });

  it('an unknown trade and a group id that does not match the command are failures', async () => {
    const r1 = rec(cmd({ commandId: 'u-1', tradeId: 'no-such' }));
    const r2 = record(JSON.stringify(cmd({ commandId: 'u-2', tradeId: 'c-1' })), 'acct-q#OTHER');
    const logs: ConsumerLogEntry[] = [];
    const res = await consumeOrderBatch({ Records: [r1, r2] }, async () => {}, {
      store,
      owner: 'w',
      leaseMs: 5_000,
      clock,
      log: (e) => logs.push(e),
    });
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([r1.messageId, r2.messageId]);
    expect(logs.map((l) => l.reason)).toEqual([
      'trade no-such not found',
      'message group acct-q#OTHER does not match acct-q#BTC/USDT:USDT',
    ]);
  });
});

describe('local event source on local-aws-sqs', () => {
  it('a crash before the delete redelivers the message; the consumer gives it one effect', async () => {
    await newTrade('e-1');
    let effects = 0;
    const handle: OrderCommandHandler = () => {
      effects++;
      return Promise.resolve();
    };
    await queue.send(cmd({ commandId: 'e-cmd', tradeId: 'e-1' }));
    const crashed = await pollOnce({
      sqs: emu.sqs,
      queueUrl: emu.orderQueue.url,
      handler: async (e) => {
        await consumeOrderBatch(e, handle, { store, owner: 'w1', leaseMs: 5_000, clock });
        throw new Error('Lambda killed before returning');
      },
    });
    expect(crashed).toMatchObject({ received: 1, deleted: 0 });
    await sleep(1_100);
    const again = await pollOnce({
      sqs: emu.sqs,
      queueUrl: emu.orderQueue.url,
      handler: (e) => consumeOrderBatch(e, handle, { store, owner: 'w2', leaseMs: 5_000, clock }),
    });
    expect(again).toMatchObject({ received: 1, deleted: 1, failed: [] });
    expect(effects).toBe(1);
    expect(await queueDepth(emu.orderQueue.url)).toBe(0);
  });

  it('a malformed message is redriven to the DLQ after maxReceiveCount (2) receives, body intact', async () => {
    const body = '{"commandId": 42}';
    await emu.sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.orderQueue.url,
        MessageBody: body,
        MessageGroupId: 'acct-q#X',
        MessageDeduplicationId: 'poison-1',
      }),
    );
    const logs: ConsumerLogEntry[] = [];
    const handler = (e: SQSEvent) =>
      consumeOrderBatch(e, async () => {}, {
        store,
        owner: 'w',
        leaseMs: 5_000,
        clock,
        log: (l) => logs.push(l),
      });
    let receives = 0;
    for (let i = 0; i < 6 && (await queueDepth(emu.orderQueue.url)) > 0; i++) {
      const r = await pollOnce({ sqs: emu.sqs, queueUrl: emu.orderQueue.url, handler });
      receives += r.received;
      expect(r.deleted).toBe(0);
      await sleep(1_100);
    }
    expect(receives).toBe(2);
    expect(logs.every((l) => l.outcome === 'failed' && l.reason.startsWith('malformed order command'))).toBe(
      true,
    );
    expect(logs).toHaveLength(2);
    expect(await queueDepth(emu.orderQueue.url)).toBe(0);
    const dlq = emu.orderQueue.dlq;
    if (!dlq) throw new Error('order queue has no DLQ');
    const dead = await emu.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, AttributeNames: ['All'] }),
    );
    expect(dead.Messages?.map((m) => m.Body)).toEqual([body]);
    expect(dead.Messages?.[0]?.Attributes?.MessageGroupId).toBe('acct-q#X');
  });
});
