/**
 * Storage and queue benchmark (`npm run bench -- store`).
 *
 * 1. Counts DynamoDB reads/writes (requests and the capacity units dynalite reports) and SQS requests
 *    for one full simulated trade lifecycle: create → ENTER command (intent, ENTERING, LIVE) →
 *    PLACE_STOP command (intent) → 3 × STOP_MOVED → 3 live milestones → EXIT command (intent,
 *    CLOSING, CLOSED) → POST_TRADE_MONITOR → 2 shadow milestones → FINALIZED. Every command goes
 *    through the order queue (send, receive, delete) and the consumer helper (lease, mark, release).
 * 2. Measures, in the same run, the throughput of conditional transitions (the full event protocol)
 *    against plain PutItem of an item of similar size, as a ratio (absolute figures depend on the machine).
 */
import { pathToFileURL } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoTradeStore } from '../functions/adapters/dynamodb/trade-store.js';
import type { DynamoSender } from '../functions/adapters/dynamodb/trade-store.js';
import { SqsOrderQueue } from '../functions/adapters/sqs/order-queue.js';
import type { SqsSender } from '../functions/adapters/sqs/order-queue.js';
import { consumeOrderBatch } from '../functions/adapters/sqs/order-consumer.js';
import type { OrderCommandHandler } from '../functions/adapters/sqs/order-consumer.js';
import { pollOnce } from '../functions/adapters/sqs/local-event-source.js';
import type { OrderCommand } from '../functions/ports/order-queue.js';
import type { TradeStore } from '../functions/ports/trade-store.js';
import { ManualClock, startEmulators } from '../test/support/emulators.js';

const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

interface Counts {
  reads: number;
  writes: number;
  rcu: number;
  wcu: number;
  sqs: number;
}

function countingDynamo(client: DynamoDBClient, c: Counts): DynamoSender {
  return {
    send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      command.input.ReturnConsumedCapacity = 'TOTAL';
      const read = READS.has(name);
      if (read) c.reads++;
      else if (WRITES.has(name)) c.writes++;
      try {
        const out = (await client.send(command as never)) as {
          ConsumedCapacity?: { CapacityUnits?: number };
        };
        const units = out.ConsumedCapacity?.CapacityUnits ?? 0;
        if (read) c.rcu += units;
        else c.wcu += units;
        return out;
      } catch (e) {
        if (!read) c.wcu += 1; // a failed conditional write still consumes write capacity
        throw e;
      }
    }) as DynamoDBClient['send'],
  };
}

function countingSqs(client: SQSClient, c: Counts): SqsSender {
  return {
    send: (async (command: unknown) => {
      c.sqs++;
      return client.send(command as never);
    }) as SQSClient['send'],
  };
}

const handler: OrderCommandHandler = async (cmd, { store, lease }) => {
  const t = await store.getTrade(cmd.tradeId);
  if (!t) throw new Error('no trade');
  const at = 2_000;
  const cid = `${cmd.tradeId}-${cmd.type}`;
  const intent = async (purpose: string) => {
    await store.putOrderIntent({
      tradeId: cmd.tradeId,
      clientOrderId: cid,
      purpose,
      request: { amount: '0.010' },
      at,
    });
    await store.updateOrderIntent(cmd.tradeId, cid, { to: 'SENT', at });
    await store.updateOrderIntent(cmd.tradeId, cid, { to: 'ACKED', exchangeOrderId: `x-${cid}`, at });
  };
  const move = async (v: number, to: 'ENTERING' | 'LIVE' | 'CLOSING' | 'CLOSED', type: string) =>
    (
      await store.transition(cmd.tradeId, {
        expectedVersion: v,
        to,
        type,
        at,
        commandId: `${cmd.commandId}:${type}`,
        leaseToken: lease.token,
      })
    ).trade.version;
  if (cmd.type === 'ENTER') {
    const v = await move(t.version, 'ENTERING', 'ENTRY_SENT');
    await intent('ENTRY');
    await move(v, 'LIVE', 'ENTRY_FILLED');
  } else if (cmd.type === 'PLACE_STOP') {
    await intent('STOP');
  } else {
    const v = await move(t.version, 'CLOSING', 'EXIT_SENT');
    await intent('EXIT');
    await move(v, 'CLOSED', 'EXIT_FILLED');
  }
};

async function lifecycle(
  store: TradeStore,
  queue: SqsOrderQueue,
  sqs: SqsSender,
  queueUrl: string,
  tradeId: string,
  clock: ManualClock,
) {
  await store.createTrade({
    tradeId,
    accountId: 'acct-bench',
    symbol: 'BTC/USDT:USDT',
    data: { entry: '100' },
    at: 1_000,
  });
  const command = (type: OrderCommand['type']): OrderCommand => ({
    commandId: `${tradeId}-${type}`,
    tradeId,
    accountId: 'acct-bench',
    symbol: 'BTC/USDT:USDT',
    type,
    payload: {},
    issuedAt: new Date(clock.now()).toISOString(),
  });
  const run = async (type: OrderCommand['type']) => {
    await queue.send(command(type));
    const r = await pollOnce({
      sqs,
      queueUrl,
      handler: (e) => consumeOrderBatch(e, handler, { store, owner: 'bench', leaseMs: 10_000, clock }),
    });
    if (r.deleted !== 1) throw new Error(`command ${type} was not processed: ${JSON.stringify(r)}`);
  };
  await run('ENTER');
  await run('PLACE_STOP');
  let t = await store.getTrade(tradeId);
  for (let i = 0; i < 3; i++) {
    if (!t) throw new Error('lost trade');
    t = (
      await store.recordEvent(tradeId, {
        expectedVersion: t.version,
        type: 'STOP_MOVED',
        patch: { stop: `${99 + i}` },
        at: 3_000 + i,
        commandId: `${tradeId}-mv${i}`,
      })
    ).trade;
  }
  for (const th of [10, 15, 20]) await store.recordMilestone(tradeId, 'live', th, th * 6);
  await run('EXIT');
  t = await store.getTrade(tradeId);
  if (!t) throw new Error('lost trade');
  t = (
    await store.transition(tradeId, {
      expectedVersion: t.version,
      to: 'POST_TRADE_MONITOR',
      type: 'PTM',
      at: 5_000,
      commandId: `${tradeId}-ptm`,
    })
  ).trade;
  for (const th of [25, 30]) await store.recordMilestone(tradeId, 'shadow', th, th * 6);
  t = (
    await store.transition(tradeId, {
      expectedVersion: t.version,
      to: 'FINALIZED',
      type: 'FINAL',
      at: 6_000,
      commandId: `${tradeId}-fin`,
    })
  ).trade;
  if (t.status !== 'FINALIZED') throw new Error('did not finalize');
}

/** Runs the benchmark and returns its figures. */
export async function run(): Promise<Record<string, number>> {
  const emu = await startEmulators();
  try {
    const clock = new ManualClock(1_700_000_000_000);
    const counts: Counts = { reads: 0, writes: 0, rcu: 0, wcu: 0, sqs: 0 };
    const store = new DynamoTradeStore({
      client: countingDynamo(emu.ddb, counts),
      tableName: emu.tableName,
      clock,
    });
    const sqs = countingSqs(emu.sqs, counts);
    const queue = new SqsOrderQueue({ client: sqs, queueUrl: emu.orderQueue.url });
    // GetQueueAttributes for the ARN is cached per queue: warm it so it is not counted per trade.
    await lifecycle(store, queue, sqs, emu.orderQueue.url, 'warmup', clock);
    const TRADES = 5;
    Object.assign(counts, { reads: 0, writes: 0, rcu: 0, wcu: 0, sqs: 0 });
    for (let i = 0; i < TRADES; i++)
      await lifecycle(store, queue, sqs, emu.orderQueue.url, `bench-${i}`, clock);
    const perTrade = { ...counts };

    // Throughput: conditional transitions (full protocol, data-only events) vs plain PutItem.
    const plain = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
    await plain.createTrade({
      tradeId: 'tp',
      accountId: 'acct-bench',
      symbol: 'BTC/USDT:USDT',
      data: {},
      at: 1,
    });
    const N = 300;
    let v = 1;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      v = (
        await plain.recordEvent('tp', {
          expectedVersion: v,
          type: 'STOP_MOVED',
          patch: { stop: `${i}.5` },
          at: 2,
          commandId: `tp-${i}`,
        })
      ).trade.version;
    }
    const t1 = performance.now();
    for (let i = 0; i < N; i++) {
      await emu.ddb.send(
        new PutItemCommand({
          TableName: emu.tableName,
          Item: {
            pk: { S: 'BENCH#put' },
            sk: { S: `ITEM#${i}` },
            stop: { S: `${i}.5` },
            version: { N: String(i) },
          },
        }),
      );
    }
    const t2 = performance.now();
    const transitionsPerS = N / ((t1 - t0) / 1000);
    const putsPerS = N / ((t2 - t1) / 1000);
    return {
      ddb_reads_per_trade: perTrade.reads / TRADES,
      ddb_writes_per_trade: perTrade.writes / TRADES,
      ddb_rcu_per_trade: perTrade.rcu / TRADES,
      ddb_wcu_per_trade: perTrade.wcu / TRADES,
      sqs_requests_per_trade: perTrade.sqs / TRADES,
      transitions_per_s: Math.round(transitionsPerS),
      puts_per_s: Math.round(putsPerS),
      ratio_conditional_vs_put: Number((transitionsPerS / putsPerS).toFixed(3)),
    };
  } finally {
    await emu.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().then(
    (figures) => console.log(JSON.stringify(figures, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
