/**
 * The whole trade lifecycle locally for tests: dynalite + local-aws-sqs (emulators), the paper exchange on
 * a manual clock, an in-memory configuration, the real handlers behind the composition root, and the real
 * ASL on the local Step Functions harness (`local/runtime/sfn.ts`). Order commands put on the local FIFO
 * queue by the state machine are consumed by the real order-executor handler through `pollOnce`.
 */
import { readFileSync } from 'node:fs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { InMemoryConfigSource } from '../../functions/adapters/memory/config-source.js';
import { PaperExchange, paperMarkets } from '../../functions/adapters/paper/paper-exchange.js';
import type {
  PaperExchangeOptions,
  PaperMarketConfig,
} from '../../functions/adapters/paper/paper-exchange.js';
import { pollOnce } from '../../functions/adapters/sqs/local-event-source.js';
import { handler as evaluateHandler } from '../../functions/handlers/evaluate.js';
import { handler as lifecycleHandler } from '../../functions/handlers/lifecycle-task.js';
import { handler as orderExecutorHandler } from '../../functions/handlers/order-executor.js';
import { AccountRuntimes } from '../../functions/handlers/shared/accounts.js';
import { buildContext, setContext } from '../../functions/handlers/shared/context.js';
import type { HandlerContext } from '../../functions/handlers/shared/context.js';
import { RecordingMetrics } from '../../functions/handlers/shared/powertools.js';
import { LocalStepFunctions } from '../../local/runtime/sfn.js';
import { ManualClock, startEmulators } from './emulators.js';
import type { Emulators } from './emulators.js';

export const BTC = 'BTC/USDT:USDT';
export const T0 = 1_700_000_000_000;
export const MARKETS = paperMarkets(
  JSON.parse(readFileSync(new URL('../../data/markets.json', import.meta.url), 'utf8')) as Record<
    string,
    PaperMarketConfig
  >,
);

/** The test configuration: one paper account; `defaults` merged over the engine defaults. */
export function testConfig(defaults: Record<string, unknown> = {}): Record<string, unknown> {
  return { defaults, accounts: [{ accountId: 'demo', exchange: 'paper', equity: '10000' }] };
}

/** A valid market long on BTC at 50000 with a 1 % stop, risking 20 USDT for 2R. */
export function btcSignal(signalId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    signalId,
    accountId: 'demo',
    exchange: 'paper',
    symbol: BTC,
    side: 'long',
    entry: 'market',
    price: '50000',
    stop: { pct: '1' },
    riskAmount: '20',
    rr: '2',
    ...over,
  };
}

/** A running local lifecycle. */
export interface LifecycleEnv {
  emu: Emulators;
  clock: ManualClock;
  store: DynamoTradeStore;
  paper: PaperExchange;
  config: InMemoryConfigSource;
  metrics: RecordingMetrics;
  sfn: LocalStepFunctions;
  ctx: HandlerContext;
  /** Called on every executor back-off / poll wait (after the clock advanced): script the market here. */
  onSleep: { fn: ((ms: number, clock: ManualClock) => void) | null };
  stop(): Promise<void>;
}

/** Starts everything; `configDefaults` are merged over the engine defaults. */
export async function startLifecycle(
  configDefaults: Record<string, unknown> = {},
  paperOptions: Partial<PaperExchangeOptions> = {},
): Promise<LifecycleEnv> {
  const emu = await startEmulators();
  const clock = new ManualClock(T0);
  const store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  const paper = new PaperExchange({ markets: MARKETS, clock, ...paperOptions });
  paper.setPrice(BTC, '50000');
  const config = new InMemoryConfigSource(testConfig(configDefaults));
  const metrics = new RecordingMetrics();
  const onSleep: LifecycleEnv['onSleep'] = { fn: null };
  const sleep = (ms: number) => {
    clock.advance(ms);
    onSleep.fn?.(ms, clock);
    return Promise.resolve();
  };
  let pumping: Promise<void> | null = null;
  const pump = (): Promise<void> => {
    pumping ??= (async () => {
      try {
        for (let i = 0; i < 2000; i++) {
          const waiting = sfn
            .waitingTasks()
            .some((t) => t.state === 'SubmitEntry' || t.state === 'SubmitExit');
          if (!waiting) return;
          const r = await pollOnce({
            sqs: emu.sqs,
            queueUrl: emu.orderQueue.url,
            handler: (e) => orderExecutorHandler(e),
          });
          if (r.received === 0) await new Promise((res) => setTimeout(res, 5));
        }
      } finally {
        pumping = null;
      }
    })();
    return pumping;
  };
  const sfn: LocalStepFunctions = new LocalStepFunctions({
    lambdas: {
      EvaluateFunctionArn: (input) => evaluateHandler(input),
      LifecycleTaskFunctionArn: (input) => lifecycleHandler(input),
    },
    substitutions: { OrderQueueUrl: emu.orderQueue.url },
    sendMessage: async (p) => {
      await emu.sqs.send(
        new SendMessageCommand({
          QueueUrl: p.QueueUrl,
          MessageBody: JSON.stringify(p.MessageBody),
          MessageGroupId: p.MessageGroupId,
          MessageDeduplicationId: p.MessageDeduplicationId,
        }),
      );
    },
    afterSend: () => void pump(),
    clock,
    waitTimeOverrides: { ShadowWindow: 0, PostTradeWait: 0 },
  });
  const accounts = new AccountRuntimes({
    store,
    clock,
    config,
    exchangeFor: () => paper,
    sleep,
    random: () => 0.5,
  });
  const ctx = buildContext({ store, workflow: sfn, config, clock, metrics, accounts, sleep });
  setContext(ctx);
  return {
    emu,
    clock,
    store,
    paper,
    config,
    metrics,
    sfn,
    ctx,
    onSleep,
    async stop() {
      await sfn.stop();
      await pumping;
      setContext(undefined);
      await emu.stop();
    },
  };
}
