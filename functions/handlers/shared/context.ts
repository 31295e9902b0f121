/**
 * The composition root of the handlers: the ports every handler uses, built lazily from the environment at
 * the first invocation of a Lambda instance (cold start) and kept for its life. Tests and the local runtime
 * replace them with {@link setContext} (dynalite store, local state machine, in-memory config, paper
 * exchange, manual clock) — the handlers themselves never change.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoTradeStore } from '../../adapters/dynamodb/trade-store.js';
import { SfnWorkflow } from '../../adapters/sfn/workflow.js';
import { SsmConfigSource } from '../../adapters/ssm/config-source.js';
import type { Clock } from '../../ports/clock.js';
import type { ConfigSource } from '../../ports/config.js';
import type { TradeStore } from '../../ports/trade-store.js';
import type { WorkflowPort } from '../../ports/workflow.js';
import { LiveWait } from '../../services/live-wait.js';
import { AccountRuntimes } from './accounts.js';
import type { ExchangeFactory } from './accounts.js';
import { parseEnv, required } from './env.js';
import { PowertoolsMetrics, tracer } from './powertools.js';
import type { HandlerMetrics } from './powertools.js';

/** The ports of the handlers. */
export interface HandlerContext {
  store: TradeStore;
  workflow: WorkflowPort;
  config: ConfigSource;
  clock: Clock;
  metrics: HandlerMetrics;
  accounts: AccountRuntimes;
  liveWait: LiveWait;
  /** Lease duration of the order consumer per command (must exceed one command's worst case). */
  orderLeaseMs: number;
  /** How the worker loops wait between ticks (default: a real timer; tests advance a manual clock). */
  sleep?: (ms: number) => Promise<void>;
}

/** The parts a caller supplies to {@link buildContext}; the rest is derived. */
export type ContextParts = Omit<HandlerContext, 'liveWait' | 'accounts' | 'orderLeaseMs'> & {
  accounts?: AccountRuntimes;
  exchangeFor?: ExchangeFactory;
  orderLeaseMs?: number;
};

/** Assembles a context from its parts (derives the LIVE-wait ender and the account runtimes). */
export function buildContext(parts: ContextParts): HandlerContext {
  const { exchangeFor, ...rest } = parts;
  const accounts =
    parts.accounts ??
    new AccountRuntimes({
      store: parts.store,
      clock: parts.clock,
      config: parts.config,
      exchangeFor:
        exchangeFor ??
        (() => {
          throw new TypeError('no exchange factory configured');
        }),
    });
  return {
    ...rest,
    accounts,
    liveWait: new LiveWait({ store: parts.store, workflow: parts.workflow, clock: parts.clock }),
    orderLeaseMs: parts.orderLeaseMs ?? 60_000,
  };
}

let current: HandlerContext | undefined;
let building: Promise<HandlerContext> | undefined;

/** Replaces the context (tests, the local runtime); `undefined` makes the next call build from the environment. */
export function setContext(ctx: HandlerContext | undefined): void {
  current = ctx;
  building = undefined;
}

/** The current context, built from the environment on first use. */
export async function getContext(): Promise<HandlerContext> {
  if (current) return current;
  building ??= fromEnvironment().then((ctx) => {
    current = ctx;
    return ctx;
  });
  return building;
}

/** The AWS context: DynamoDB table, Step Functions, SSM configuration, ccxt exchanges with Secrets Manager keys. */
async function fromEnvironment(): Promise<HandlerContext> {
  const env = parseEnv();
  const clock: Clock = { now: () => Date.now() };
  const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));
  const sfn = tracer.captureAWSv3Client(new SFNClient({}));
  const store = new DynamoTradeStore({ client: ddb, tableName: required(env, 'TABLE_NAME'), clock });
  const config = new SsmConfigSource({
    parameterName: required(env, 'CONFIG_PARAMETER'),
    ...(env.CONFIG_MAX_AGE_SECONDS !== undefined ? { maxAgeSeconds: env.CONFIG_MAX_AGE_SECONDS } : {}),
  });
  const workflow: WorkflowPort = new SfnWorkflow({
    client: sfn,
    ...(env.STATE_MACHINE_ARN ? { stateMachineArn: env.STATE_MACHINE_ARN } : {}),
  });
  const { awsExchangeFactory } = await import('./exchanges.js');
  return buildContext({
    store,
    workflow,
    config,
    clock,
    metrics: new PowertoolsMetrics(),
    exchangeFor: awsExchangeFactory(),
  });
}
