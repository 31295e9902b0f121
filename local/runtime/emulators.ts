/**
 * Starts dynalite (DynamoDB) and local-aws-sqs (SQS) in-process on 127.0.0.1 with random ports, creates
 * the table and queues from `functions/resources.ts`, and returns clients plus `stop()`. Used by the full
 * local runtime (`local/runtime/full-replay.ts`) and, through `test/support/emulators.ts`, by the tests.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import dynalite from 'dynalite';
import { createSqsServer } from 'local-aws-sqs';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  orderQueueShape,
  signalsQueueShape,
  tableShape,
  toCreateQueueInput,
  toCreateTableInput,
} from '../../functions/resources.js';
import type { QueueOverrides, QueueShape } from '../../functions/resources.js';

/** A created queue. */
export interface LocalQueue {
  url: string;
  arn: string;
  dlq: { url: string; arn: string } | null;
}

/** Running emulators with clients and created resources. */
export interface Emulators {
  ddb: DynamoDBClient;
  sqs: SQSClient;
  tableName: string;
  ddbEndpoint: string;
  sqsEndpoint: string;
  orderQueue: LocalQueue;
  signalsQueue: LocalQueue;
  stop(): Promise<void>;
}

/** Options: overrides for the order queue (e.g. a 1 s visibility timeout in a redrive test). */
export interface EmulatorOptions {
  orderQueue?: QueueOverrides;
  tableName?: string;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function createQueue(
  sqs: SQSClient,
  shape: QueueShape,
  overrides?: QueueOverrides,
): Promise<LocalQueue> {
  let dlq: LocalQueue['dlq'] = null;
  if (shape.deadLetter) {
    const d = await sqs.send(
      new CreateQueueCommand(toCreateQueueInput(shape.deadLetter, shape.deadLetter.localName)),
    );
    const arn = await queueArn(sqs, d.QueueUrl);
    dlq = { url: d.QueueUrl ?? '', arn };
  }
  const q = await sqs.send(
    new CreateQueueCommand(
      toCreateQueueInput(shape, shape.localName, { ...(dlq ? { deadLetterArn: dlq.arn } : {}), overrides }),
    ),
  );
  return { url: q.QueueUrl ?? '', arn: await queueArn(sqs, q.QueueUrl), dlq };
}

async function queueArn(sqs: SQSClient, url: string | undefined): Promise<string> {
  const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = res.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${url} has no ARN`);
  return arn;
}

/** Starts both emulators and creates the resources. Call `stop()` in afterAll. */
export async function startEmulators(opts: EmulatorOptions = {}): Promise<Emulators> {
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const ddbPort = await listen(dynamo);
  const sqsServer = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    emulateQueueCreationLifecycle: false,
  });
  if (!sqsServer.listening) await new Promise((r) => sqsServer.once('listening', r));
  const sqsPort = (sqsServer.address() as AddressInfo).port;
  const ddbEndpoint = `http://127.0.0.1:${ddbPort}`;
  const sqsEndpoint = `http://127.0.0.1:${sqsPort}`;
  const ddb = new DynamoDBClient({ endpoint: ddbEndpoint, region, credentials });
  const sqs = new SQSClient({ endpoint: sqsEndpoint, region, credentials });
  const tableName = opts.tableName ?? tableShape.localName;
  await ddb.send(new CreateTableCommand(toCreateTableInput(tableName)));
  await waitUntilTableExists(
    { client: ddb, maxWaitTime: 20, minDelay: 0.05, maxDelay: 0.2 },
    { TableName: tableName },
  );
  const orderQueue = await createQueue(sqs, orderQueueShape, opts.orderQueue);
  const signalsQueue = await createQueue(sqs, signalsQueueShape);
  return {
    ddb,
    sqs,
    tableName,
    ddbEndpoint,
    sqsEndpoint,
    orderQueue,
    signalsQueue,
    async stop() {
      ddb.destroy();
      sqs.destroy();
      await Promise.all([close(dynamo), close(sqsServer)]);
    },
  };
}

/** A manually driven clock for tests (epoch ms). */
export class ManualClock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
