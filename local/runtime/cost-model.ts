/**
 * The AWS cost model of the full local runtime: the runtime counts what the engine would be billed for
 * (DynamoDB request units, SQS requests, Step Functions state transitions, Lambda invocations and
 * GB-seconds, EventBridge Scheduler invocations) and prices the counts at public list prices.
 *
 * Counting rules:
 * - **DynamoDB** (on-demand): every request the store sends to dynalite is counted by its command. Writes
 *   (PutItem, UpdateItem, DeleteItem) cost ⌈item size / 1 KB⌉ write request units, size estimated as the
 *   JSON length of the request's item, key and update values; a TransactWriteItems costs twice the units of
 *   its items. Reads (GetItem, Query) cost ⌈size / 4 KB⌉ read request units per item returned (strongly
 *   consistent), at least 1 per request; a TransactGetItems twice that.
 * - **SQS**: every API request is one request (each message is far below 64 KB). The order queue is FIFO.
 * - **Step Functions** (Standard): one transition per state entered.
 * - **Lambda**: one invocation per handler call; its billed duration is the simulated time it spanned
 *   (the worker loops span ≈ 50 s) plus the wall time it took here (the handlers' own work), rounded up to
 *   1 ms; GB-seconds = duration × the function's memory (docs/architecture.md).
 * - **EventBridge Scheduler**: one invocation per worker invocation.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';

/** Public list prices used by the model (USD, us-east-1, without free tiers). */
export const PRICES = {
  /** When these prices were read from the AWS pricing pages. */
  asOf: '2025-06',
  region: 'us-east-1',
  /** DynamoDB on-demand: per million write request units. */
  dynamoWriteRequestUnitPerMillion: 0.625,
  /** DynamoDB on-demand: per million read request units. */
  dynamoReadRequestUnitPerMillion: 0.125,
  /** SQS FIFO queues: per million requests. */
  sqsFifoPerMillion: 0.5,
  /** SQS standard queues: per million requests. */
  sqsStandardPerMillion: 0.4,
  /** Step Functions Standard: per 1,000 state transitions. */
  stateTransitionPerThousand: 0.025,
  /** Lambda requests: per million. */
  lambdaRequestPerMillion: 0.2,
  /** Lambda duration, arm64: per GB-second. */
  lambdaArmGbSecond: 0.0000133334,
  /** EventBridge Scheduler: per million invocations. */
  schedulerPerMillion: 1.0,
} as const;

/** Memory of each handler in MB (docs/architecture.md, "Handlers"). */
export const HANDLER_MEMORY_MB: Readonly<Record<string, number>> = {
  'intake-http': 256,
  'intake-sqs': 256,
  evaluate: 512,
  'order-executor': 1024,
  'lifecycle-task': 512,
  'stop-manager': 1024,
  'milestone-checker': 512,
  'lifecycle-watch': 512,
  reconciler: 512,
  reporter: 256,
  api: 512,
};

/** Counted usage (a snapshot is a plain copy). */
export interface Usage {
  dynamoReadRequests: number;
  dynamoWriteRequests: number;
  dynamoReadUnits: number;
  dynamoWriteUnits: number;
  sqsFifoRequests: number;
  sqsStandardRequests: number;
  stateTransitions: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  schedulerInvocations: number;
  /** Invocations per handler. */
  invocationsByHandler: Record<string, number>;
}

/** A zero usage. */
export function emptyUsage(): Usage {
  return {
    dynamoReadRequests: 0,
    dynamoWriteRequests: 0,
    dynamoReadUnits: 0,
    dynamoWriteUnits: 0,
    sqsFifoRequests: 0,
    sqsStandardRequests: 0,
    stateTransitions: 0,
    lambdaInvocations: 0,
    lambdaGbSeconds: 0,
    schedulerInvocations: 0,
    invocationsByHandler: {},
  };
}

/** `a − b`, field by field (usage between two snapshots). */
export function usageDiff(a: Usage, b: Usage): Usage {
  const by: Record<string, number> = {};
  for (const [k, v] of Object.entries(a.invocationsByHandler)) {
    const d = v - (b.invocationsByHandler[k] ?? 0);
    if (d !== 0) by[k] = d;
  }
  return {
    dynamoReadRequests: a.dynamoReadRequests - b.dynamoReadRequests,
    dynamoWriteRequests: a.dynamoWriteRequests - b.dynamoWriteRequests,
    dynamoReadUnits: a.dynamoReadUnits - b.dynamoReadUnits,
    dynamoWriteUnits: a.dynamoWriteUnits - b.dynamoWriteUnits,
    sqsFifoRequests: a.sqsFifoRequests - b.sqsFifoRequests,
    sqsStandardRequests: a.sqsStandardRequests - b.sqsStandardRequests,
    stateTransitions: a.stateTransitions - b.stateTransitions,
    lambdaInvocations: a.lambdaInvocations - b.lambdaInvocations,
    lambdaGbSeconds: a.lambdaGbSeconds - b.lambdaGbSeconds,
    schedulerInvocations: a.schedulerInvocations - b.schedulerInvocations,
    invocationsByHandler: by,
  };
}

/** `u × k`, field by field (e.g. per trade, per month). */
export function usageScale(u: Usage, k: number): Usage {
  const by: Record<string, number> = {};
  for (const [name, v] of Object.entries(u.invocationsByHandler)) by[name] = v * k;
  return {
    dynamoReadRequests: u.dynamoReadRequests * k,
    dynamoWriteRequests: u.dynamoWriteRequests * k,
    dynamoReadUnits: u.dynamoReadUnits * k,
    dynamoWriteUnits: u.dynamoWriteUnits * k,
    sqsFifoRequests: u.sqsFifoRequests * k,
    sqsStandardRequests: u.sqsStandardRequests * k,
    stateTransitions: u.stateTransitions * k,
    lambdaInvocations: u.lambdaInvocations * k,
    lambdaGbSeconds: u.lambdaGbSeconds * k,
    schedulerInvocations: u.schedulerInvocations * k,
    invocationsByHandler: by,
  };
}

/** Dollar cost of a usage, per service and in total (USD). */
export interface CostBreakdown {
  dynamodb: number;
  sqs: number;
  stepFunctions: number;
  lambda: number;
  scheduler: number;
  total: number;
}

/** Prices a usage at {@link PRICES}. */
export function priceUsage(u: Usage): CostBreakdown {
  const m = 1_000_000;
  const dynamodb =
    (u.dynamoWriteUnits * PRICES.dynamoWriteRequestUnitPerMillion +
      u.dynamoReadUnits * PRICES.dynamoReadRequestUnitPerMillion) /
    m;
  const sqs =
    (u.sqsFifoRequests * PRICES.sqsFifoPerMillion + u.sqsStandardRequests * PRICES.sqsStandardPerMillion) / m;
  const stepFunctions = (u.stateTransitions * PRICES.stateTransitionPerThousand) / 1000;
  const lambda =
    (u.lambdaInvocations * PRICES.lambdaRequestPerMillion) / m + u.lambdaGbSeconds * PRICES.lambdaArmGbSecond;
  const scheduler = (u.schedulerInvocations * PRICES.schedulerPerMillion) / m;
  return {
    dynamodb,
    sqs,
    stepFunctions,
    lambda,
    scheduler,
    total: dynamodb + sqs + stepFunctions + lambda + scheduler,
  };
}

const WRITE_COMMANDS = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
const READ_COMMANDS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);

function units(bytes: number, unit: number): number {
  return Math.max(1, Math.ceil(bytes / unit));
}

function size(v: unknown): number {
  return v === undefined ? 0 : JSON.stringify(v).length;
}

/** Counts usage as the runtime runs (see the file comment). */
export class UsageCounter {
  private u: Usage = emptyUsage();

  /** A copy of the counts so far. */
  snapshot(): Usage {
    return { ...this.u, invocationsByHandler: { ...this.u.invocationsByHandler } };
  }

  /** Counts every request of a DynamoDB client (middleware; call once per client). */
  instrumentDynamo(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const command = (context as { commandName?: string }).commandName ?? '';
        const input = args.input as Record<string, unknown>;
        const output = out.output as unknown as Record<string, unknown>;
        if (WRITE_COMMANDS.has(command)) {
          this.u.dynamoWriteRequests++;
          this.u.dynamoWriteUnits += units(
            size(input.Item) + size(input.Key) + size(input.ExpressionAttributeValues),
            1024,
          );
        } else if (command === 'TransactWriteItemsCommand') {
          this.u.dynamoWriteRequests++;
          for (const item of (input.TransactItems as unknown[] | undefined) ?? [])
            this.u.dynamoWriteUnits += 2 * units(size(item), 1024);
        } else if (READ_COMMANDS.has(command)) {
          this.u.dynamoReadRequests++;
          const items = (output.Items as unknown[] | undefined) ?? (output.Item ? [output.Item] : []);
          this.u.dynamoReadUnits += Math.max(
            1,
            items.reduce((s: number, it) => s + units(size(it), 4096), 0),
          );
        } else if (command === 'TransactGetItemsCommand') {
          this.u.dynamoReadRequests++;
          const items = (output.Responses as unknown[] | undefined) ?? [];
          this.u.dynamoReadUnits += Math.max(
            2,
            items.reduce((s: number, it) => s + 2 * units(size(it), 4096), 0),
          );
        }
        return out;
      },
      { step: 'initialize', name: 'tradewardenUsageCounter' },
    );
  }

  /** Counts every request of an SQS client; `fifo(url)` tells FIFO queues from standard ones. */
  instrumentSqs(client: SQSClient, fifo: (queueUrl: string) => boolean): void {
    client.middlewareStack.add(
      (next) => async (args) => {
        const url = (args.input as { QueueUrl?: string }).QueueUrl ?? '';
        if (fifo(url)) this.u.sqsFifoRequests++;
        else this.u.sqsStandardRequests++;
        return next(args);
      },
      { step: 'initialize', name: 'tradewardenUsageCounter' },
    );
  }

  /** Adds state transitions. */
  transitions(n: number): void {
    this.u.stateTransitions += n;
  }

  /** Records one Lambda invocation of `handler` lasting `ms` (billed duration, rounded up to 1 ms). */
  invocation(handler: string, ms: number): void {
    const memory = HANDLER_MEMORY_MB[handler];
    if (memory === undefined) throw new RangeError(`no memory size known for handler ${handler}`);
    this.u.lambdaInvocations++;
    this.u.invocationsByHandler[handler] = (this.u.invocationsByHandler[handler] ?? 0) + 1;
    this.u.lambdaGbSeconds += (Math.max(1, Math.ceil(ms)) / 1000) * (memory / 1024);
  }

  /** Records one EventBridge Scheduler invocation. */
  scheduled(): void {
    this.u.schedulerInvocations++;
  }
}
