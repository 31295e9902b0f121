/**
 * The full replay (`--engine full`): the serverless engine run locally over the candles — the same handler
 * modules and the same state machine as on AWS, on in-process emulators, on a simulated clock.
 *
 * How each AWS piece is run (docs/replay.md, "Full engine"):
 * - DynamoDB → dynalite and SQS → local-aws-sqs, in-process on 127.0.0.1, the table and queues created from
 *   `functions/resources.ts` (`local/runtime/emulators.ts`);
 * - Step Functions → the real ASL on aws-local-stepfunctions (`local/runtime/sfn.ts`), its Wait states on the
 *   simulated clock;
 * - Lambda → the handler modules called in-process with AWS-shaped events, their ports injected through the
 *   composition root (`setContext`): the DynamoDB store on dynalite, the workflow port on the harness, the
 *   configuration of the run, the paper exchange, the simulated clock;
 * - API Gateway → each signal is a payload-v2 `POST /signals` event to the intake-http handler;
 * - the SQS event source → `pollOnce` on the order queue (batches of up to 10, partial batch failures,
 *   the queue's visibility timeout and redrive to the dead-letter queue after 5 receives);
 * - EventBridge Scheduler → once a simulated minute, while anything runs, an EventBridge scheduled event
 *   to each worker handler (stop manager, milestone checker, lifecycle watch), whose loop runs six ticks
 *   10 s apart on the simulated clock; every 5 minutes, while anything runs, the reconciler function, dry
 *   (it must find nothing: invariant `reconciledClean`);
 * - the exchange → the paper exchange driven by the candles: each candle is walked along the fill model's
 *   path (open, adverse extreme, favourable extreme, close) placed on the 10-s tick grid (offsets 0, ⅓, ⅔
 *   of the interval, and the last tick of the candle), resting orders worked on each segment; order calls
 *   (create, cancel, order and fill look-ups, leverage) take a seeded simulated latency, market data calls
 *   none.
 *
 * Time moves candle by candle; a simulated minute in which no execution runs and no signal arrives is
 * skipped (the clock jumps), so a data gap such as the 2023-03-24 outage is a jump of the clock with the
 * last price held.
 */
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, ScheduledEvent } from 'aws-lambda';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { PaperExchange } from '../../functions/adapters/paper/paper-exchange.js';
import { createBinanceUsdmExchange } from '../../functions/adapters/ccxt/binanceusdm.js';
import { StaticCredentialsProvider } from '../../functions/adapters/ccxt/credentials.js';
import { BinanceUsdmStub } from '../exchange-stub/binanceusdm-stub.js';
import type { PaperExchangeOptions } from '../../functions/adapters/paper/paper-exchange.js';
import { pollOnce } from '../../functions/adapters/sqs/local-event-source.js';
import { accountConfig } from '../../functions/core/config.js';
import type { EngineConfig } from '../../functions/core/config.js';
import { D, ZERO } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import { checkFailSafe } from '../../functions/core/fail-safe.js';
import {
  createMilestoneTracker,
  liveMilestones,
  observeMilestones,
} from '../../functions/core/milestones.js';
import { signalReferencePrice, tradeIdFor } from '../../functions/core/signal.js';
import type { Signal } from '../../functions/core/signal.js';
import type { StopMoveReason } from '../../functions/core/stop-manager.js';
import { closingOrderSide, sideSign } from '../../functions/core/types.js';
import type { Candle, MarketRules, Side } from '../../functions/core/types.js';
import { handler as evaluateHandler } from '../../functions/handlers/evaluate.js';
import { handler as intakeHttpHandler } from '../../functions/handlers/intake-http.js';
import { handler as lifecycleTaskHandler } from '../../functions/handlers/lifecycle-task.js';
import { handler as lifecycleWatchHandler } from '../../functions/handlers/lifecycle-watch.js';
import { handler as milestoneHandler } from '../../functions/handlers/milestone-checker.js';
import { handler as orderExecutorHandler } from '../../functions/handlers/order-executor.js';
import { handler as reconcilerHandler } from '../../functions/handlers/reconciler.js';
import { handler as stopManagerHandler } from '../../functions/handlers/stop-manager.js';
import { AccountRuntimes } from '../../functions/handlers/shared/accounts.js';
import { buildContext, setContext } from '../../functions/handlers/shared/context.js';
import { RecordingMetrics, logger } from '../../functions/handlers/shared/powertools.js';
import type { ConfigSource } from '../../functions/ports/config.js';
import type { ExchangeMarket, ExchangePort, Fill } from '../../functions/ports/exchange.js';
import type { JsonMap, TradeEvent, TradeRecord, TradeStore } from '../../functions/ports/trade-store.js';
import { emptyResult, signalTime, summarizeReplay } from '../replay/summary.js';
import type { ReplayInput, ReplayResult, StopChange, TradeResult } from '../replay/types.js';
import type { CostModelSection, InvariantCheck, InvariantsSection, LatencySection } from '../replay/types.js';
import { PRICES, UsageCounter, priceUsage, usageDiff, usageScale } from './cost-model.js';
import type { Usage } from './cost-model.js';
import { startEmulators } from './emulators.js';
import type { Emulators } from './emulators.js';
import { SimScheduler, seededRandom } from './scheduler.js';
import { LocalStepFunctions } from './sfn.js';

/** Options of the full replay beyond the shared {@link ReplayInput}. */
export interface FullReplayOptions {
  /** Seed of the modeled exchange latency and the executor's jitter (default 1). */
  seed?: number;
  /**
   * `paper` (default): the handlers talk to the paper exchange through the port. `binanceusdm-stub`: they
   * talk to the real ccxt `binanceusdm` client, whose HTTP requests go to the local Binance USD-M protocol
   * stub (`local/exchange-stub/binanceusdm-stub.ts`) backed by the same paper exchange.
   */
  exchange?: 'paper' | 'binanceusdm-stub';
  /** Simulated latency of one order call, ms: uniform in [min, max] (default 20–80). */
  orderLatencyMs?: { min: number; max: number };
  /** What a scenario does to the run at the end of its window (e.g. the drift scenario's drift and reconciliation). */
  scenario?: ReplayScenario;
}

/**
 * The run as a scenario sees it at the end of the window: the run's own store, exchanges and handlers,
 * and the means to let the engine go on.
 */
export interface ReplayRunControl {
  /** The simulated time, epoch ms. */
  now(): number;
  /** The account's exchange: the replay's paper exchange, as the engine's handlers use it. */
  exchange(accountId: string): PaperExchange;
  /** The run's trade store (on dynalite). */
  store: TradeStore;
  /** The last price the replay set for `symbol` (undefined before its first candle). */
  lastPrice(symbol: string): Decimal | undefined;
  /**
   * Invokes a handler as Lambda would in this run (counted in the cost model), moving the simulated clock
   * while it sleeps (modeled exchange latency, back-offs), until it returns.
   */
  invoke<T>(handler: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Runs `n` more simulated minutes of the engine with the prices held: the workers on their schedule, the
   * state machine's executions and the order queue.
   */
  runMinutes(n: number): Promise<void>;
  /** The executions of the local state machine, by name (= trade id), with the states they entered. */
  executions(): { name: string; status: string; states: string[] }[];
}

/** Hooks of a scenario into the full replay. */
export interface ReplayScenario {
  /** After the last candle of the window, before open positions are closed (END_OF_DATA). */
  beforeEndOfData?(run: ReplayRunControl): Promise<void>;
  /** After every execution ended, before the results are read (the store is still up). */
  afterEndOfData?(run: ReplayRunControl): Promise<void>;
}

/** The minute of the worker schedule (EventBridge `rate(1 minute)`). */
const MINUTE = 60_000;
/** The reconciler's schedule (EventBridge `rate(5 minutes)`). */
const RECONCILE_EVERY = 5 * 60_000;
/** The worker tick interval the path points are placed on. */
const TICK = 10_000;
/** A 30-day month, in minutes (the idle-month basis). */
const MONTH_MINUTES = 43_200;

/** Exit reason recorded when the resting stop fills, by why the stop was where it was (as the core replay). */
const STOP_EXIT_REASON: Record<StopMoveReason, string> = {
  INITIAL: 'STOP_LOSS',
  FAILSAFE_TIGHTEN: 'STOP_LOSS',
  TRAILING: 'TRAILING_STOP',
  BREAK_EVEN: 'BREAK_EVEN_STOP',
  PROFIT_LOCK: 'PROFIT_LOCK_STOP',
};

/** Port calls that model an order round trip (they take the simulated latency); market data calls do not. */
const ORDER_CALLS = new Set([
  'createOrder',
  'cancelOrder',
  'fetchOrder',
  'fetchOrderByClientId',
  'fetchMyTrades',
  'setLeverage',
]);

/** Handler timeouts of the workers (docs/architecture.md), for the loop's remaining-time check. */
const WORKER_TIMEOUT_MS = { 'lifecycle-watch': 60_000, 'milestone-checker': 70_000, 'stop-manager': 70_000 };

/** One point of a candle's path on the tick grid. */
interface PathPoint {
  at: number;
  symbol: string;
  candle: Candle;
  /** 0 open, 1 adverse extreme, 2 favourable extreme, 3 close. */
  index: number;
  /** The candle's open (a gap from the previous price fills resting orders at this price). */
  first: boolean;
}

/**
 * The price of a path point for a position side: the fill model's path for that side (a long's adverse
 * extreme is the low, a short's the high), so each position meets the candle as the core replay walks it.
 */
function pointPrice(pt: PathPoint, side: Side): Decimal {
  const c = pt.candle;
  switch (pt.index) {
    case 0:
      return c.open;
    case 1:
      return side === 'long' ? c.low : c.high;
    case 2:
      return side === 'long' ? c.high : c.low;
    default:
      return c.close;
  }
}

/**
 * Offsets of the path points inside a candle of `intervalMs`: 0, ⅓ and ⅔ of the interval rounded down to
 * the tick grid, and the candle's last tick. A RangeError when the interval is not a multiple of 10 s of
 * at least 40 s (the four points must fall on distinct ticks).
 */
export function pathOffsets(intervalMs: number): [number, number, number, number] {
  if (!Number.isInteger(intervalMs) || intervalMs % TICK !== 0 || intervalMs < 4 * TICK)
    throw new RangeError(
      `the full engine needs candles of a multiple of 10 s and at least 40 s, got ${intervalMs} ms`,
    );
  const grid = (ms: number) => Math.floor(ms / TICK) * TICK;
  return [0, grid(intervalMs / 3), grid((2 * intervalMs) / 3), intervalMs - TICK];
}

/** The paper exchange of the replay: `fetchOHLCV` answers from the real candles closed before now. */
class ReplayPaperExchange extends PaperExchange {
  constructor(
    options: PaperExchangeOptions,
    private readonly history: ReadonlyMap<string, readonly Candle[]>,
    private readonly now: () => number,
  ) {
    super(options);
  }

  override fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    void timeframe; // the replay has one interval per symbol
    const list = this.history.get(symbol);
    if (!list) return Promise.reject(new RangeError(`no candles for ${symbol}`));
    const now = this.now();
    let end = list.length; // first candle not closed at `now`
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = list[mid]!;
      if (c.openTime + c.intervalMs <= now) lo = mid + 1;
      else hi = mid;
    }
    end = lo;
    if (since === undefined) {
      const n = limit ?? end;
      return Promise.resolve(list.slice(Math.max(0, end - n), end));
    }
    let start = 0;
    while (start < end && list[start]!.openTime < since) start++;
    return Promise.resolve(list.slice(start, limit === undefined ? end : Math.min(end, start + limit)));
  }
}

/** The signal as the JSON a client would POST (decimals as strings). */
export function signalJson(s: Signal): Record<string, unknown> {
  const out: Record<string, unknown> = {
    signalId: s.signalId,
    accountId: s.accountId,
    exchange: s.exchange,
    symbol: s.symbol,
    side: s.side,
    entry: s.entry.type === 'market' ? 'market' : { type: 'limit', price: s.entry.price.toFixed() },
    stop:
      'pct' in s.stop
        ? { pct: s.stop.pct.toFixed() }
        : 'price' in s.stop
          ? { price: s.stop.price.toFixed() }
          : { atrMultiple: s.stop.atrMultiple.toFixed() },
    rr: s.rr.toFixed(),
  };
  if (s.price !== undefined) out.price = s.price.toFixed();
  if (s.riskPct !== undefined) out.riskPct = s.riskPct.toFixed();
  if (s.riskAmount !== undefined) out.riskAmount = s.riskAmount.toFixed();
  if (s.leverage !== undefined) out.leverage = s.leverage;
  if (s.tags !== undefined) out.tags = [...s.tags];
  if (s.at !== undefined) out.at = s.at;
  return out;
}

function httpEvent(body: unknown, at: number): APIGatewayProxyEventV2 {
  const iso = new Date(at).toISOString();
  return {
    version: '2.0',
    routeKey: 'POST /signals',
    rawPath: '/signals',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: 'POST',
        path: '/signals',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'replay',
      },
      requestId: `replay-${at}`,
      routeKey: 'POST /signals',
      stage: '$default',
      time: iso,
      timeEpoch: at,
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

function scheduledEvent(worker: string, at: number): ScheduledEvent {
  return {
    version: '0',
    id: `${worker}-${at}`,
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    account: '000000000000',
    time: new Date(at).toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:scheduler:us-east-1:000000000000:schedule/default/${worker}`],
    detail: {},
  };
}

/** The percentile `q` (0–1) of sorted numbers, nearest rank; null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Runs the whole serverless engine locally over the input; the result has the core replay's format. */
export async function runFullReplay(
  input: ReplayInput,
  options: FullReplayOptions = {},
): Promise<ReplayResult> {
  const started = performance.now();
  const { config, markets, fillModel } = input;
  const symbols = [...input.candles.keys()].sort();
  for (const symbol of symbols) if (!markets[symbol]) throw new RangeError(`no market rules for ${symbol}`);
  const seed = options.seed ?? 1;
  const latency = options.orderLatencyMs ?? { min: 20, max: 80 };
  if (!(latency.min >= 0 && latency.max >= latency.min))
    throw new RangeError(`orderLatencyMs must have 0 ≤ min ≤ max, got ${latency.min}–${latency.max}`);

  // Path points of every candle in the window, on the tick grid, in time order.
  const points: PathPoint[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let candleCount = 0;
  for (const symbol of symbols) {
    for (const c of input.candles.get(symbol)!) {
      if (input.from !== undefined && c.openTime < input.from) continue;
      if (input.to !== undefined && c.openTime >= input.to) continue;
      if (c.openTime % TICK !== 0)
        throw new RangeError(`${symbol} candle at ${c.openTime} is not on the 10-s grid`);
      const offsets = pathOffsets(c.intervalMs);
      // The fill model's path (open, adverse, favourable extreme, close); the side is chosen when applied.
      offsets.forEach((o, i) =>
        points.push({ at: c.openTime + o, symbol, candle: c, index: i, first: i === 0 }),
      );
      candleCount++;
      first = Math.min(first, c.openTime);
      last = Math.max(last, c.openTime + c.intervalMs);
    }
  }
  points.sort((a, b) => a.at - b.at || (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  const from = input.from ?? first;
  const to = input.to ?? last;
  if (!(from < to)) throw new RangeError('the replay window is empty');

  // Signals: when each is submitted (the open of the first candle of its symbol at or after its time).
  const inWindow = [...input.signals]
    .map((s) => ({ s, at: signalTime(s) }))
    .filter(({ s, at }) => symbols.includes(s.symbol) && at >= from && at < to)
    .sort((a, b) => a.at - b.at || (a.s.signalId < b.s.signalId ? -1 : 1));
  for (const { s } of inWindow) accountConfig(config, s.accountId);
  const opens = new Map<string, number[]>();
  for (const p of points)
    if (p.first) (opens.get(p.symbol) ?? opens.set(p.symbol, []).get(p.symbol)!).push(p.at);
  const submissions: { signal: Signal; at: number }[] = [];
  const neverSubmitted: Signal[] = [];
  for (const { s, at } of inWindow) {
    const list = opens.get(s.symbol) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < at) lo = mid + 1;
      else hi = mid;
    }
    if (lo < list.length) submissions.push({ signal: s, at: list[lo]! });
    else neverSubmitted.push(s);
  }
  // Signals acted on at the same open: by symbol, then by signal time and id (the core replay's order).
  submissions.sort(
    (a, b) =>
      a.at - b.at ||
      (a.signal.symbol < b.signal.symbol ? -1 : a.signal.symbol > b.signal.symbol ? 1 : 0) ||
      signalTime(a.signal) - signalTime(b.signal) ||
      (a.signal.signalId < b.signal.signalId ? -1 : a.signal.signalId > b.signal.signalId ? 1 : 0),
  );

  const sched = new SimScheduler(from - MINUTE);
  const random = seededRandom(seed);
  const orderLatency = () => Math.round(latency.min + (latency.max - latency.min) * random());
  const usage = new UsageCounter();
  const metrics = new RecordingMetrics();
  const previousLogLevel = logger.getLevelName();
  logger.setLogLevel('SILENT');
  let emu: Emulators | undefined;
  let sfn: LocalStepFunctions | undefined;
  let stopStubs: () => Promise<void> = () => Promise.resolve();
  try {
    emu = await startEmulators();
    const e = emu;
    sched.instrument(e.ddb);
    sched.instrument(e.sqs);
    // The SDK's logger middleware filters every input and output for a logger that discards them: skip it.
    e.ddb.middlewareStack.remove('loggerMiddleware');
    e.sqs.middlewareStack.remove('loggerMiddleware');
    usage.instrumentDynamo(e.ddb);
    usage.instrumentSqs(e.sqs, (url) => url.endsWith('.fifo'));
    const store = new DynamoTradeStore({ client: e.ddb, tableName: e.tableName, clock: sched });
    const configSource: ConfigSource = { getConfig: () => Promise.resolve(config) };

    // One paper account per configured account, with the account's equity as its wallet.
    const exchangeMarkets: Record<string, ExchangeMarket> = {};
    for (const [symbol, rules] of Object.entries(markets))
      exchangeMarkets[symbol] = toExchangeMarket(symbol, rules);
    const papers = new Map<string, ReplayPaperExchange>();
    const paperFor = (accountId: string): ReplayPaperExchange => {
      let p = papers.get(accountId);
      if (!p) {
        const account = accountConfig(config, accountId);
        p = new ReplayPaperExchange(
          {
            markets: exchangeMarkets,
            clock: sched,
            fill: fillModel,
            initialBalance: (account.equity ?? new D(10_000)).toFixed(),
            defaultLeverage: account.defaultLeverage,
            seed,
          },
          input.candles,
          () => sched.now(),
        );
        papers.set(accountId, p);
      }
      return p;
    };
    for (const id of config.accounts.keys()) paperFor(id);
    // With the Binance stub, one stub per account (backed by its paper exchange) and one real ccxt client
    // whose HTTP requests the scheduler counts as busy, so simulated time stands still while they run.
    const stubs: BinanceUsdmStub[] = [];
    stopStubs = () => Promise.all(stubs.map((st) => st.close())).then(() => undefined);
    const ccxtClients = new Map<string, ExchangePort>();
    const exchangeFor = (accountId: string): ExchangePort => {
      if ((options.exchange ?? 'paper') === 'paper') return paperFor(accountId);
      let client = ccxtClients.get(accountId);
      if (!client) {
        const stubReady = BinanceUsdmStub.start(paperFor(accountId), { now: () => sched.now() }).then(
          (st) => {
            stubs.push(st);
            return st;
          },
        );
        client = createBinanceUsdmExchange({
          accountId,
          credentials: new StaticCredentialsProvider({ apiKey: 'local-key', secret: 'local-secret' }),
          enableRateLimit: false,
          fetchImplementation: (url, init) =>
            sched.track(async () => (await stubReady).fetchImplementation(url, init)),
        });
        ccxtClients.set(accountId, client);
      }
      return client;
    };
    const withLatency = (port: ExchangePort): ExchangePort =>
      new Proxy(port, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof prop !== 'string' || !ORDER_CALLS.has(prop) || typeof v !== 'function') return v;
          return async (...args: unknown[]) => {
            await sched.sleep(orderLatency());
            return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        },
      });

    /** One Lambda invocation, counted in the cost model. */
    const invoke = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = sched.now();
      const w0 = performance.now();
      try {
        return await fn();
      } finally {
        usage.invocation(name, sched.now() - t0 + (performance.now() - w0));
      }
    };

    let pumping = false;
    let pumpAgain = false;
    const pump = (): void => {
      if (pumping) {
        pumpAgain = true;
        return;
      }
      pumping = true;
      void (async () => {
        do {
          pumpAgain = false;
          for (;;) {
            const r = await pollOnce({
              sqs: e.sqs,
              queueUrl: e.orderQueue.url,
              handler: (event) => invoke('order-executor', () => orderExecutorHandler(event)),
            });
            if (r.received === 0) break;
          }
        } while (pumpAgain);
      })().finally(() => {
        pumping = false;
      });
    };

    const localSfn = new LocalStepFunctions({
      lambdas: {
        EvaluateFunctionArn: (payload) => invoke('evaluate', () => evaluateHandler(payload)),
        LifecycleTaskFunctionArn: (payload) => invoke('lifecycle-task', () => lifecycleTaskHandler(payload)),
      },
      substitutions: { OrderQueueUrl: e.orderQueue.url },
      sendMessage: async (p) => {
        await e.sqs.send(
          new SendMessageCommand({
            QueueUrl: p.QueueUrl,
            MessageBody: JSON.stringify(p.MessageBody),
            MessageGroupId: p.MessageGroupId,
            MessageDeduplicationId: p.MessageDeduplicationId,
          }),
        );
      },
      afterSend: pump,
      clock: sched,
      clockWait: (until) => sched.waitUntil(until),
    });
    sfn = localSfn;
    const accounts = new AccountRuntimes({
      store,
      clock: sched,
      config: configSource,
      exchangeFor: (account) => withLatency(exchangeFor(account.accountId)),
      sleep: sched.sleep,
      random: seededRandom(seed + 1),
    });
    const ctx = buildContext({
      store,
      workflow: localSfn,
      config: configSource,
      clock: sched,
      metrics,
      accounts,
      sleep: sched.sleep,
    });
    setContext(ctx);

    const anyRunning = () => localSfn.list().some((x) => x.status === 'RUNNING');
    const pumpIfWaiting = () => {
      if (
        localSfn
          .waitingTasks()
          .some((t) => t.ready && (t.state === 'SubmitEntry' || t.state === 'SubmitExit'))
      )
        pump();
    };

    // The workers of one scheduled minute, started 1 ms apart in a fixed order (lifecycle watch, milestones,
    // stop manager), so at every tick they run in that order: the lifecycle watch sees a stop that filled at
    // this price before the stop manager decides, as the core replay checks the resting stop first.
    const startWorkers = async (minute: number): Promise<void> => {
      const workers: [
        keyof typeof WORKER_TIMEOUT_MS,
        (ev: ScheduledEvent, l: { getRemainingTimeInMillis: () => number }) => Promise<unknown>,
      ][] = [
        ['lifecycle-watch', (ev, l) => lifecycleWatchHandler(ev as { ticks?: number }, l)],
        ['milestone-checker', (ev, l) => milestoneHandler(ev as { ticks?: number }, l)],
        ['stop-manager', (ev, l) => stopManagerHandler(ev as { ticks?: number }, l)],
      ];
      for (const [i, [name, fn]] of workers.entries()) {
        if (i > 0) await sched.advanceTo(sched.now() + 1);
        usage.scheduled();
        const deadline = sched.now() + WORKER_TIMEOUT_MS[name];
        void invoke(name, () =>
          fn(scheduledEvent(name, minute), { getRemainingTimeInMillis: () => deadline - sched.now() }),
        );
        await sched.settle();
      }
    };

    // Price updates: each point works the resting orders on the segment from the previous price.
    const lastPrice = new Map<string, Decimal>();
    let pi = 0;
    let candlesDone = 0;
    // The side whose path a candle follows: that of the oldest running trade on the symbol (long if none).
    const tradeSide = new Map(submissions.map(({ signal }) => [tradeIdFor(signal), signal]));
    const pathSide = (symbol: string): Side => {
      for (const x of localSfn.list()) {
        if (x.status !== 'RUNNING') continue;
        const sig = tradeSide.get(x.name);
        if (sig?.symbol === symbol) return sig.side;
      }
      return 'long';
    };
    const applyPoint = (pt: PathPoint) => {
      const price = pointPrice(pt, pathSide(pt.symbol));
      const prev = lastPrice.get(pt.symbol);
      const open = pt.first || prev === undefined ? price : prev;
      const seg: Candle = {
        openTime: pt.at,
        intervalMs: 1,
        open,
        high: D.max(open, price),
        low: D.min(open, price),
        close: price,
        volume: ZERO,
      };
      for (const p of papers.values()) p.advance(pt.symbol, seg);
      lastPrice.set(pt.symbol, price);
      if (pt.first && ++candlesDone % 500 === 0) input.onProgress?.(candlesDone, candleCount);
    };
    const applyPointsUntil = (t: number) => {
      while (pi < points.length && points[pi]!.at <= t) applyPoint(points[pi++]!);
    };
    /** Skips points before `t` (nothing is open): only the last price per symbol is set. */
    const skipPointsBefore = (t: number) => {
      const latest = new Map<string, PathPoint>();
      while (pi < points.length && points[pi]!.at < t) {
        const pt = points[pi++]!;
        latest.set(pt.symbol, pt);
        if (pt.first && ++candlesDone % 500 === 0) input.onProgress?.(candlesDone, candleCount);
      }
      for (const pt of latest.values()) {
        const price = pointPrice(pt, 'long');
        for (const p of papers.values()) p.setPrice(pt.symbol, price, pt.at);
        lastPrice.set(pt.symbol, price);
      }
    };

    // Intake: each signal as an HTTP POST through the real handler.
    let si = 0;
    let duplicateSignals = 0;
    const intakeErrors: string[] = [];
    const submitDue = async (t: number): Promise<number> => {
      let n = 0;
      while (si < submissions.length && submissions[si]!.at <= t) {
        const { signal } = submissions[si++]!;
        const res = await invoke('intake-http', () =>
          intakeHttpHandler(httpEvent(signalJson(signal), sched.now())),
        );
        const body = JSON.parse(typeof res.body === 'string' ? res.body : '{}') as {
          created?: boolean;
          errors?: string[];
        };
        if (res.statusCode !== 202)
          intakeErrors.push(`${signal.signalId}: ${res.statusCode} ${(body.errors ?? []).join('; ')}`);
        else if (body.created === false) duplicateSignals++;
        n++;
        // Each signal is evaluated before the next arrives (the risk gate sees the trades before it).
        await sched.settle();
      }
      return n;
    };

    /** One active simulated minute: six ticks; the workers start at its first. */
    /**
     * Invokes a handler outside the worker schedule (the reconciler, an operator's call), moving the clock
     * while it sleeps (modeled exchange latency, back-offs) until it returns.
     */
    const driven = async <T>(handler: string, fn: () => Promise<T>): Promise<T> => {
      let done = false;
      const call = invoke(handler, fn).finally(() => {
        done = true;
      });
      call.catch(() => undefined);
      await sched.settle();
      for (let idle = 0; !done;) {
        const next = sched.nextWake();
        if (next !== null) {
          await sched.advanceTo(Math.max(next, sched.now()));
          continue;
        }
        // Waiting on something the scheduler does not count (a callback): a little real time.
        if (++idle > 2000) throw new Error(`${handler} did not return (nothing left to wake)`);
        await new Promise((r) => setTimeout(r, 5));
        await sched.settle();
      }
      return call;
    };

    // The reconciler's schedule (every 5 minutes), run dry while anything runs: the table and the
    // exchange must agree at every one of them (invariant reconciledClean).
    const scheduledRecon: { at: number; mismatches: number; findings: string[] }[] = [];
    const reconcileScheduled = async () => {
      const at = sched.now();
      const r = await driven('reconciler', () => reconcilerHandler({ dryRun: true }));
      const findings: string[] = [];
      for (const run of r.runs) {
        if ('error' in run) findings.push(`${run.accountId}: ${run.error}`);
        else
          for (const f of Array.isArray(run.report.findings) ? run.report.findings : [])
            findings.push(`${run.accountId}: ${JSON.stringify(f)}`);
      }
      scheduledRecon.push({ at, mismatches: r.mismatches, findings });
    };

    const runMinute = async (minute: number, withPoints: boolean) => {
      for (let k = 0; k < MINUTE / TICK; k++) {
        const t = minute + k * TICK;
        // Sleepers due before the tick first; then the tick's prices and signals; then the sleepers due at it.
        await sched.advanceTo(Math.max(sched.now(), t - 1));
        await sched.jumpTo(t);
        if (withPoints) applyPointsUntil(t);
        if (k === 0 && minute % RECONCILE_EVERY === 0 && anyRunning()) await reconcileScheduled();
        const submitted = await submitDue(t);
        if (k === 0) {
          // A signal entered at this open: its entry and stop complete first (order latency), so the
          // minute's workers — which end at their first idle tick — see the new position.
          await sched.settle();
          if (submitted > 0)
            for (let next = sched.nextWake(); next !== null && next < t + 1000; next = sched.nextWake())
              await sched.advanceTo(next);
          await startWorkers(sched.now());
        }
        pumpIfWaiting();
        await sched.advanceTo(Math.max(sched.now(), t));
      }
      await sched.advanceTo(minute + MINUTE - 1);
    };

    // The idle sample: one scheduled minute before the window with nothing open.
    const before = usage.snapshot();
    await runMinute(from - MINUTE, false);
    await sched.advanceTo(from);
    const idleMinute = usageDiff(usage.snapshot(), before);

    const runStart = usage.snapshot();
    let minute = Math.floor(from / MINUTE) * MINUTE;
    let activeMinutes = 0;
    while (minute < to) {
      const nextSubmit = si < submissions.length ? submissions[si]!.at : Number.POSITIVE_INFINITY;
      if (!anyRunning() && nextSubmit >= minute + MINUTE) {
        const target = Math.min(to, Math.floor(Math.min(nextSubmit, to) / MINUTE) * MINUTE);
        if (target > minute) {
          skipPointsBefore(target);
          await sched.advanceTo(target);
          minute = target;
          continue;
        }
      }
      await runMinute(minute, true);
      activeMinutes++;
      minute += MINUTE;
    }
    applyPointsUntil(to - 1);
    input.onProgress?.(candleCount, candleCount);

    // A scenario's hooks see the run as it is: its store, its exchanges, its handlers and state machine.
    const control: ReplayRunControl = {
      now: () => sched.now(),
      exchange: (accountId) => paperFor(accountId),
      store,
      lastPrice: (symbol) => lastPrice.get(symbol),
      invoke: driven,
      runMinutes: async (n) => {
        for (let k = 0; k < n; k++) {
          const m = Math.floor(sched.now() / MINUTE) * MINUTE + MINUTE;
          await runMinute(m, false);
          activeMinutes++;
        }
      },
      executions: () =>
        localSfn.list().map((x) => ({ name: x.name, status: x.status, states: [...x.statesEntered] })),
    };
    await options.scenario?.beforeEndOfData?.(control);

    // End of the window: open positions are closed (END_OF_DATA), everything runs to its end.
    await sched.advanceTo(Math.max(sched.now(), to));
    const endOfData = new Set<string>();
    for (let round = 0; round < 10_000 && anyRunning(); round++) {
      for (const x of localSfn.list()) {
        if (x.status !== 'RUNNING' || endOfData.has(x.name)) continue;
        const waiting = localSfn
          .waitingTasks()
          .some((w) => w.execution === x.name && w.state === 'AwaitExit' && w.ready);
        if (!waiting) continue;
        const r = await ctx.liveWait.endLiveWait(x.name, {
          reason: 'OPERATOR',
          decidedBy: 'replay:end-of-data',
          detail: 'END_OF_DATA: the replay window ended',
        });
        if (r.ended || r.reason === 'ALREADY_ENDED') endOfData.add(x.name);
      }
      pumpIfWaiting();
      await sched.settle();
      const next = sched.nextWake();
      if (next === null) {
        if (!anyRunning()) break;
        // Only callbacks are awaited (e.g. an order command not yet visible again): wait a little real time.
        await new Promise((r) => setTimeout(r, 50));
        pumpIfWaiting();
        if (round > 400) break;
        continue;
      }
      await sched.advanceTo(next);
    }

    await options.scenario?.afterEndOfData?.(control);
    usage.transitions(localSfn.list().reduce((n, x) => n + x.statesEntered.length, 0));
    const runUsage = usageDiff(usage.snapshot(), runStart);
    const stuck = localSfn
      .list()
      .filter((x) => x.status === 'RUNNING')
      .map((x) => x.name);
    await localSfn.stop();

    // Results from the store, the audit log and the exchange's books.
    const snapshots = new Map([...papers].map(([id, p]) => [id, p.snapshot()]));
    const trades: TradeResult[] = [];
    const records: TradeRecordSet[] = [];
    const seen = new Set<string>();
    for (const { signal } of submissions) {
      const tradeId = tradeIdFor(signal);
      if (seen.has(tradeId)) continue;
      seen.add(tradeId);
      const trade = await store.getTrade(tradeId);
      if (!trade) {
        const r = emptyResult(signal);
        r.status = 'CANCELLED';
        r.statusReason = `the intake refused the signal: ${intakeErrors.find((x) => x.startsWith(`${signal.signalId}:`)) ?? 'unknown'}`;
        trades.push(r);
        continue;
      }
      const events = await store.listEvents(tradeId);
      const intents = await store.listOrderIntents(tradeId);
      const snap = snapshots.get(signal.accountId)!;
      const owned = intents.map((i) => ({ clientOrderId: i.clientOrderId, purpose: i.purpose }));
      const result = tradeResult(
        signal,
        trade,
        events,
        owned,
        snap.orders,
        snap.fills,
        config,
        endOfData.has(tradeId),
      );
      trades.push(result);
      records.push({ result, trade, events, intents: owned });
    }
    for (const s of neverSubmitted) {
      const r = emptyResult(s);
      r.status = 'CANCELLED';
      r.statusReason = 'no candle of the symbol after the signal within the replay window';
      trades.push(r);
    }

    // Invariants.
    const dlqDepth = async (url: string | undefined) => {
      if (!url) return 0;
      const a = await e.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    };
    const dlq = {
      orders: await dlqDepth(e.orderQueue.dlq?.url),
      signals: await dlqDepth(e.signalsQueue.dlq?.url),
    };
    const invariants = checkInvariants(records, snapshots, config, points, dlq, stuck, scheduledRecon);

    const latencies = records
      .map((r) => num(r.trade.data.fillToStopMs))
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    const latencySection: LatencySection = {
      fillToStopMs: {
        count: latencies.length,
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        max: latencies.length > 0 ? latencies[latencies.length - 1]! : null,
      },
      orderCallLatencyMs: { min: latency.min, max: latency.max },
      seed,
    };

    const stopCounters = {
      applied: 0,
      skippedMinStep: 0,
      failSafeRejections: 0,
      failSafeTightened: trades.filter((t) => t.stops[0]?.reason === 'FAILSAFE_TIGHTEN').length,
    };
    for (const { trade } of records) {
      const c = asMap(asMap(trade.data.position)?.counters);
      if (!c) continue;
      stopCounters.applied += num(c.stopMoves) ?? 0;
      stopCounters.skippedMinStep += num(c.skippedMinStep) ?? 0;
      stopCounters.failSafeRejections += num(c.failSafeRejections) ?? 0;
    }
    const summary = summarizeReplay(trades, stopCounters, {
      engine: 'full',
      from,
      to,
      symbols,
      candles: candleCount,
      signals: inWindow.length,
      duplicateSignals,
      startingEquity: [...config.accounts.values()].reduce((sum, a) => sum.plus(a.equity ?? ZERO), ZERO),
      wallMs: performance.now() - started,
    });
    const costModel = costSection(runUsage, idleMinute, trades.length, activeMinutes);
    return { summary, trades, latency: latencySection, costModel, invariants };
  } finally {
    await sfn?.stop().catch(() => undefined);
    setContext(undefined);
    logger.setLogLevel(previousLogLevel);
    await stopStubs();
    await emu?.stop();
  }
}

function toExchangeMarket(symbol: string, rules: MarketRules): ExchangeMarket {
  const m = /^([A-Z0-9]+)\/([A-Z0-9]+)/.exec(symbol);
  if (!m) throw new RangeError(`market symbol must look like BASE/QUOTE:SETTLE, got "${symbol}"`);
  return { ...rules, symbol, id: `${m[1]}${m[2]}`, base: m[1]!, quote: m[2]!, contractSize: new D(1) };
}

function asMap(v: unknown): JsonMap | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonMap) : null;
}

/** An order intent as the results read it. */
interface OwnedOrder {
  clientOrderId: string;
  purpose: string;
}

/** What the results and the invariants read of one trade. */
interface TradeRecordSet {
  result: TradeResult;
  trade: TradeRecord;
  events: TradeEvent[];
  intents: OwnedOrder[];
}

/** The trade's orders on the exchange (by the client ids of its order intents, with their purpose) and fills. */
function tradeBooks(
  intents: readonly OwnedOrder[],
  orders: readonly ExchangeOrderLike[],
  fills: readonly Fill[],
): { orders: (ExchangeOrderLike & { purpose: string })[]; fills: Fill[] } {
  const purpose = new Map(intents.map((i) => [i.clientOrderId, i.purpose]));
  const mine = orders
    .filter((o) => o.clientOrderId !== undefined && purpose.has(o.clientOrderId))
    .map((o) => ({ ...o, purpose: purpose.get(o.clientOrderId!)! }));
  const byId = new Set(mine.map((o) => o.id));
  return { orders: mine, fills: fills.filter((f) => byId.has(f.orderId)).sort((a, b) => a.at - b.at) };
}

/** The exchange order fields the results read. */
type ExchangeOrderLike = {
  id: string;
  clientOrderId?: string;
  kind: string;
  side: string;
  qty: Decimal;
  triggerPrice?: Decimal;
  createdAt: number;
};

/** One trade of the results, read back from the store, its audit log and the exchange's books. */
function tradeResult(
  signal: Signal,
  trade: TradeRecord,
  events: readonly TradeEvent[],
  intents: readonly OwnedOrder[],
  orders: readonly ExchangeOrderLike[],
  fills: readonly Fill[],
  config: EngineConfig,
  endOfData: boolean,
): TradeResult {
  const r = emptyResult(signal);
  const d = trade.data;
  r.status = trade.status;
  const plan = asMap(d.plan);
  const entry = asMap(d.entry);
  const skip = asMap(d.skip);
  const cancel = asMap(d.cancel);
  const failure = asMap(d.failure);
  const settlement = asMap(d.settlement);
  const exit = asMap(d.exit);
  const filledQty = str(entry?.filledQty);
  const traded = filledQty !== null && new D(filledQty).gt(0);
  r.outcome = traded ? 'TRADED' : skip ? 'SKIPPED' : trade.status === 'FAILED' ? 'FAILED' : 'CANCELLED';
  if (skip) r.statusReason = `${str(skip.code) ?? 'SKIPPED'}: ${str(skip.reason) ?? ''}`;
  else if (failure) r.statusReason = `${JSON.stringify(failure.error ?? failure)}`;
  else if (cancel) r.statusReason = str(cancel.reason);
  else if (traded && entry?.partial === true)
    r.statusReason = `limit entry partially filled: ${filledQty} of ${str(entry.requestedQty) ?? '?'}, rest cancelled`;
  if (plan && str(plan.maxLoss) !== null) r.maxLoss = new D(str(plan.maxLoss)!);
  const thresholds = accountConfig(config, signal.accountId).options.milestones.thresholds;
  for (const t of thresholds) {
    const k = String(t);
    const live = trade.milestones[k] ?? null;
    r.milestones[k] = live;
    r.shadowMilestones[k] = live ?? trade.shadowMilestones[k] ?? null;
  }
  if (!traded || !entry) return r;

  r.entryFilledAt = num(entry.filledAt);
  r.entryPrice = new D(str(entry.avgPrice)!);
  r.qty = new D(filledQty);
  const ref = signalReferencePrice(signal);
  r.entrySlippage = ref ? r.entryPrice.minus(ref).mul(sideSign(signal.side)) : null;
  const fillToStop = num(d.fillToStopMs);
  if (fillToStop !== null && r.entryFilledAt !== null) r.stopPlacedAt = r.entryFilledAt + fillToStop;

  // The stop's path: every stored position whose stop differs from the one before.
  let prevStop: string | null = null;
  let lastPosition: JsonMap | null = null;
  for (const ev of events) {
    const pos = asMap(ev.data.position);
    if (pos) lastPosition = pos;
    const stop = pos ? str(pos.stop) : null;
    if (stop !== null && stop !== prevStop) {
      const at = ev.type === 'ENTRY_FILLED' && r.stopPlacedAt !== null ? r.stopPlacedAt : ev.at;
      r.stops.push({
        at,
        price: new D(stop),
        reason: str(pos!.stopReason) ?? 'INITIAL',
      } satisfies StopChange);
      prevStop = stop;
    }
    if (ev.type === 'PARTIAL_EXIT' && Array.isArray(ev.data.partialFills)) {
      for (const f of ev.data.partialFills) {
        const m = asMap(f);
        const price = m ? str(m.avgPrice) : null;
        const qty = m ? str(m.qty) : null;
        if (price !== null && qty !== null)
          r.partialExits.push({ at: ev.at, price: new D(price), qty: new D(qty) });
      }
    }
  }
  const finalPos = asMap(d.position) ?? lastPosition;
  // The target is the last profit level of the position opened at the fill (exits re-planned from it).
  const opened = asMap(events.find((ev) => asMap(ev.data.position) !== null)?.data.position);
  const levels = Array.isArray(opened?.levels) ? opened.levels : [];
  const targetLevel = asMap(levels[levels.length - 1]);
  const target = (targetLevel ? str(targetLevel.price) : null) ?? (plan ? str(plan.takeProfit) : null);
  r.takeProfit = target !== null ? new D(target) : null;

  // The exit: the last closing fill on the exchange (a stop order → the stop's reason).
  const books = tradeBooks(intents, orders, fills);
  const closing = closingOrderSide(signal.side);
  const partialOrderIds = new Set(books.orders.filter((o) => o.purpose === 'PARTIAL_EXIT').map((o) => o.id));
  const exitFills = books.fills.filter((f) => f.side === closing && !partialOrderIds.has(f.orderId));
  const lastFill = exitFills[exitFills.length - 1];
  if (lastFill) {
    const sameOrder = exitFills.filter((f) => f.orderId === lastFill.orderId);
    const qty = sameOrder.reduce((s, f) => s.plus(f.qty), ZERO);
    r.exitAt = lastFill.at;
    r.exitPrice = sameOrder.reduce((s, f) => s.plus(f.qty.mul(f.price)), ZERO).div(qty);
    const order = books.orders.find((o) => o.id === lastFill.orderId);
    if (order?.kind === 'stop') {
      const reason = (str(finalPos?.stopReason) ?? 'INITIAL') as StopMoveReason;
      r.exitReason = STOP_EXIT_REASON[reason] ?? 'STOP_LOSS';
    } else if (endOfData) r.exitReason = 'END_OF_DATA';
    else r.exitReason = str(exit?.reason);
  } else if (exit) {
    r.exitAt = num(exit.at);
    r.exitReason = str(exit.reason);
  }
  // Realized PnL from the fills: exact (no average price) when everything opened was closed.
  const fees = books.fills.reduce((s, f) => s.plus(f.fee), ZERO);
  const opening = books.fills.filter((f) => f.side !== closing);
  const closingFills = books.fills.filter((f) => f.side === closing);
  const sumQ = (fs: Fill[]) => fs.reduce((s, f) => s.plus(f.qty), ZERO);
  const sumQP = (fs: Fill[]) => fs.reduce((s, f) => s.plus(f.qty.mul(f.price)), ZERO);
  r.fees = fees;
  if (closingFills.length > 0 && sumQ(opening).eq(sumQ(closingFills))) {
    r.realizedPnl = sumQP(closingFills).minus(sumQP(opening)).mul(sideSign(signal.side)).minus(fees);
  } else if (settlement && str(settlement.realizedPnl) !== null) {
    r.realizedPnl = new D(str(settlement.realizedPnl)!);
    if (str(settlement.fees) !== null) r.fees = new D(str(settlement.fees)!);
  }
  return r;
}

/** Every invariant of docs/replay.md ("Full engine"), with its violations. */
function checkInvariants(
  records: readonly TradeRecordSet[],
  snapshots: ReadonlyMap<string, { orders: ExchangeOrderLike[]; fills: Fill[] }>,
  config: EngineConfig,
  points: readonly PathPoint[],
  dlq: { orders: number; signals: number },
  stuck: readonly string[],
  reconciliations: readonly { at: number; findings: readonly string[] }[],
): InvariantsSection {
  const check = (
    name: string,
    description: string,
    checked: number,
    violations: string[],
  ): InvariantCheck => ({
    name,
    description,
    ok: violations.length === 0,
    checked,
    violations: violations.slice(0, 50),
  });
  const traded = records.filter((r) => r.result.outcome === 'TRADED');

  // 1. The exchange stop within 1 s (simulated) of the fill, or the fill exited at once.
  const late: string[] = [];
  for (const { result, trade } of traded) {
    const ms = num(trade.data.fillToStopMs);
    const exitedAtEntry = trade.data.position === undefined || result.stops.length === 0;
    if (ms === null && exitedAtEntry && result.exitAt !== null && result.entryFilledAt !== null) {
      if (result.exitAt - result.entryFilledAt > 1000)
        late.push(
          `${result.tradeId}: unprotected fill exited ${result.exitAt - result.entryFilledAt} ms after the fill`,
        );
    } else if (ms === null || ms > 1000) late.push(`${result.tradeId}: fill → stop ${ms ?? 'never'} ms`);
  }

  // 2. Every stop order sent passes the fail-safe for the position it protected.
  const unsafe: string[] = [];
  let stopsChecked = 0;
  for (const { result, trade, intents } of traded) {
    const snap = snapshots.get(result.accountId);
    const plan = asMap(trade.data.plan);
    const maxLoss = plan ? str(plan.maxLoss) : null;
    if (!snap || maxLoss === null || result.entryPrice === null) continue;
    const options = accountConfig(config, result.accountId).options;
    for (const o of tradeBooks(intents, snap.orders, snap.fills).orders) {
      if (o.kind !== 'stop' || o.triggerPrice === undefined) continue;
      stopsChecked++;
      const c = checkFailSafe(
        {
          side: result.side,
          entryPrice: result.entryPrice,
          qty: o.qty,
          feeRate: options.fees.takerRate,
          maxLoss: new D(maxLoss),
          fraction: options.failSafe.maxLossFraction,
          stopSlippage: options.failSafe.stopSlippageBps.div(10_000),
        },
        o.triggerPrice,
      );
      if (!c.ok)
        unsafe.push(
          `${result.tradeId}: stop ${o.triggerPrice.toFixed()} × ${o.qty.toFixed()} risks ${c.loss.toFixed()} > ${c.limit.toFixed()}`,
        );
    }
  }

  // 3. Live milestones recomputed from the candles at the worker ticks between the fill and the exit.
  const byTick = new Map<string, PathPoint[]>();
  for (const p of points) (byTick.get(p.symbol) ?? byTick.set(p.symbol, []).get(p.symbol)!).push(p);
  const mismatched: string[] = [];
  for (const { result, trade } of traded) {
    const tracker = asMap(trade.data.tracker);
    if (!tracker || result.entryPrice === null || result.exitAt === null) continue;
    const entryAt = num(tracker.entryAt) ?? result.entryFilledAt!;
    let t = createMilestoneTracker({
      side: result.side,
      entryPrice: result.entryPrice,
      entryAt,
      leverage: num(tracker.leverage) ?? 1,
      thresholds: accountConfig(config, result.accountId).options.milestones.thresholds,
    });
    const series = byTick.get(result.symbol) ?? [];
    let price: Decimal | null = null;
    let j = 0;
    const firstTick = Math.ceil(entryAt / TICK) * TICK;
    for (let tick = firstTick; tick < result.exitAt; tick += TICK) {
      while (j < series.length && series[j]!.at <= tick) price = pointPrice(series[j++]!, result.side);
      if (price !== null) t = observeMilestones(t, price, tick, 'live').tracker;
    }
    const expected = liveMilestones(t);
    for (const [k, v] of Object.entries(expected)) {
      if ((result.milestones[k] ?? null) !== v)
        mismatched.push(
          `${result.tradeId}: ${k} % stored ${String(result.milestones[k] ?? null)}, recomputed ${String(v)}`,
        );
    }
  }

  // 4. Every trade reached a terminal state and its execution ended.
  const terminal = new Set(['FINALIZED', 'CANCELLED', 'FAILED']);
  const notTerminal = records
    .filter((r) => !terminal.has(r.trade.status))
    .map((r) => `${r.result.tradeId}: ${r.trade.status}`);
  for (const name of stuck) notTerminal.push(`${name}: execution still running at the end`);

  // 5. The dead-letter queues are empty.
  const dlqViolations: string[] = [];
  if (dlq.orders > 0) dlqViolations.push(`order DLQ holds ${dlq.orders} message(s)`);
  if (dlq.signals > 0) dlqViolations.push(`signals DLQ holds ${dlq.signals} message(s)`);

  // 6. The audit log replays to the stored trade: versions 1..n, each event from the previous status.
  const audit: string[] = [];
  for (const { result, trade, events } of records) {
    let prev: string | null = null;
    events.forEach((ev, i) => {
      if (ev.version !== i + 1) audit.push(`${result.tradeId}: event ${i + 1} has version ${ev.version}`);
      if (i > 0 && ev.fromStatus !== prev)
        audit.push(
          `${result.tradeId}: event ${ev.version} ${ev.type} from ${String(ev.fromStatus)}, previous status ${String(prev)}`,
        );
      prev = ev.toStatus;
    });
    const lastEv = events[events.length - 1];
    if (!lastEv || lastEv.version !== trade.version || lastEv.toStatus !== trade.status)
      audit.push(
        `${result.tradeId}: audit ends at ${lastEv?.toStatus ?? 'nothing'} v${lastEv?.version ?? 0}, trade is ${trade.status} v${trade.version}`,
      );
  }

  // 7. Every scheduled reconciliation found the table and the exchange in agreement.
  const drift = reconciliations.flatMap((r) => r.findings.map((f) => `${new Date(r.at).toISOString()} ${f}`));

  const checks = [
    check(
      'stopWithinOneSecond',
      'every filled trade had its exchange stop within 1 s (simulated) of the fill, or was exited at once',
      traded.length,
      late,
    ),
    check(
      'failSafeRespected',
      'no stop sent risked more than the fail-safe fraction of the max loss',
      stopsChecked,
      unsafe,
    ),
    check(
      'milestonesMatchCandles',
      'live milestones equal a recomputation from the candles at the worker ticks',
      traded.length,
      mismatched,
    ),
    check('allTerminal', 'every trade reached FINALIZED, CANCELLED or FAILED', records.length, notTerminal),
    check('dlqEmpty', 'the order and signals dead-letter queues are empty', 2, dlqViolations),
    check(
      'auditMatchesState',
      "every trade's audit log ends at its stored status and version",
      records.length,
      audit,
    ),
    check(
      'reconciledClean',
      'every scheduled reconciliation (every 5 minutes while a trade ran, dry) found the table and the exchange in agreement',
      reconciliations.length,
      drift,
    ),
  ];
  return { ok: checks.every((c) => c.ok), dlqMessages: dlq.orders + dlq.signals, checks };
}

/** The cost model section: the run's usage, per trade, per 1,000 trades, and an idle month. */
function costSection(run: Usage, idleMinute: Usage, trades: number, activeMinutes: number): CostModelSection {
  const per = trades > 0 ? 1 / trades : 0;
  const perTrade = usageScale(run, per);
  const idleMonth = usageScale(idleMinute, MONTH_MINUTES);
  const round = (u: Usage) => ({ ...u, lambdaGbSeconds: Number(u.lambdaGbSeconds.toFixed(6)) });
  return {
    prices: { ...PRICES },
    trades,
    activeMinutes,
    run: { usage: round(run), cost: priceUsage(run) },
    perTrade: { usage: round(perTrade), cost: priceUsage(perTrade) },
    per1000Trades: { cost: priceUsage(usageScale(perTrade, 1000)) },
    idleMonth: { usage: round(idleMonth), cost: priceUsage(idleMonth), minutes: MONTH_MINUTES },
  };
}
