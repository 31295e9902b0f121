/**
 * The drift scenario (`npm start -- --scenario drift`): the engine's replay, then a reconciliation drill.
 * The drill runs the handler-level reconciler (`reconcileAccounts`, as the scheduled handler and the console
 * test event do) over an account whose records and paper exchange have drifted apart in every way the
 * reconciler knows: an untracked position, a stop filled, a manual close, a partial close, a cancelled
 * stop, a stale entry order and the orphaned stop the manual close leaves. It reconciles dry, then applied,
 * then dry again; the last run must find nothing.
 *
 * The drill has its own dynalite store, paper exchange (the bundled markets of `data/markets.json`) and
 * handlers context (`buildContext`: the account runtimes with the real order executor, the LIVE-wait
 * ender); the workflow port records the executions the reconciler starts and the callbacks it sends.
 */
import { readFile } from 'node:fs/promises';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { PaperExchange, paperMarkets } from '../../functions/adapters/paper/paper-exchange.js';
import type { PaperMarketConfig } from '../../functions/adapters/paper/paper-exchange.js';
import { accountConfig } from '../../functions/core/config.js';
import type { EngineConfig } from '../../functions/core/config.js';
import { D } from '../../functions/core/decimal.js';
import { clientOrderId } from '../../functions/core/reconciliation.js';
import { openPosition, stopRulesFor } from '../../functions/core/stop-manager.js';
import { encodePosition } from '../../functions/core/trade-codec.js';
import type { Side } from '../../functions/core/types.js';
import { buildContext } from '../../functions/handlers/shared/context.js';
import type { HandlerContext } from '../../functions/handlers/shared/context.js';
import { RecordingMetrics } from '../../functions/handlers/shared/powertools.js';
import { reconcileAccounts } from '../../functions/handlers/shared/reconcile.js';
import type { ConfigSource } from '../../functions/ports/config.js';
import type { JsonMap, JsonValue } from '../../functions/ports/trade-store.js';
import type { WorkflowPort } from '../../functions/ports/workflow.js';
import { BUNDLED_MARKETS_FILE } from '../paths.js';
import type { ReplayInput, ReplayResult } from '../replay/types.js';
import { ManualClock, startEmulators } from './emulators.js';

/** One drift made on the paper exchange, as recorded in the `reconciliation` section. */
export interface DriftMade {
  /** What was done: `UNTRACKED_POSITION`, `STOP_FILLED`, `MANUAL_CLOSE`, `PARTIAL_CLOSE`, `CANCELLED_STOP`, `STALE_ENTRY_ORDER`, `ORPHANED_STOP`. */
  kind: string;
  symbol: string;
  /** The trade it concerns (null for exchange-only drift). */
  tradeId: string | null;
  detail: string;
}

/** One reconciler run of the drill: its findings and actions as stored in the run's report. */
export interface ReconciliationRun {
  dryRun: boolean;
  /** Number of findings. */
  mismatches: number;
  findings: JsonValue[];
  actions: JsonValue[];
  /** Trades whose settlement is recorded and whose execution closes them (see the reconciler report). */
  awaitingExecution: JsonValue[];
}

/** The `reconciliation` section of `results.json` in the drift scenario. */
export interface ReconciliationSection {
  accountId: string;
  drifts: DriftMade[];
  /** Dry run, applied run, dry run (in that order). */
  runs: ReconciliationRun[];
  /** Executions the applied run started (adopted positions), by name. */
  executionsStarted: string[];
  /** Trades whose live wait the applied run ended. */
  liveWaitsEnded: string[];
}

/** Options of {@link runDriftScenario}. */
export interface DriftScenarioOptions {
  /** The engine run before the drill (default: the full local engine, `runFullReplay`). */
  engine?: (input: ReplayInput) => ReplayResult | Promise<ReplayResult>;
  /** The account of the drill (default: the first configured account). */
  accountId?: string;
}

/** Result of {@link runDriftScenario}: the engine's replay result and the drill's reconciliation section. */
export interface DriftScenarioResult {
  result: ReplayResult;
  reconciliation: ReconciliationSection;
}

const BTC = 'BTC/USDT:USDT';
const ETH = 'ETH/USDT:USDT';
const SOL = 'SOL/USDT:USDT';
const DOGE = 'DOGE/USDT:USDT';
const OP = 'OP/USDT:USDT';
/** The drill's clock start (2023-11-14T22:13:20Z). */
const T0 = 1_700_000_000_000;

/** Runs the engine over `input`, then the reconciliation drill (see the file comment). */
export async function runDriftScenario(
  input: ReplayInput,
  options: DriftScenarioOptions = {},
): Promise<DriftScenarioResult> {
  const engine =
    options.engine ?? (async (i: ReplayInput) => (await import('./full-replay.js')).runFullReplay(i));
  const result = await engine(input);
  const accountId = options.accountId ?? [...input.config.accounts.keys()][0];
  if (accountId === undefined) throw new RangeError('the configuration has no account for the drift drill');
  const reconciliation = await runReconciliationDrill(input.config, accountId);
  return { result, reconciliation };
}

/** A LIVE trade to seed: the position opened on the exchange, its stop placed through the order executor. */
interface SeedTrade {
  name: string;
  symbol: string;
  side: Side;
  qty: string;
  entry: string;
  stop: string;
  liveWait: boolean;
}

const SEEDS: readonly SeedTrade[] = [
  { name: 'btc', symbol: BTC, side: 'long', qty: '0.01', entry: '50000', stop: '49500', liveWait: true },
  { name: 'sol', symbol: SOL, side: 'long', qty: '10', entry: '20', stop: '19.5', liveWait: false },
  { name: 'doge', symbol: DOGE, side: 'long', qty: '1000', entry: '0.1', stop: '0.098', liveWait: false },
  { name: 'op', symbol: OP, side: 'long', qty: '100', entry: '1.5', stop: '1.45', liveWait: false },
];

/**
 * The drill alone: seeds four LIVE trades for `accountId` of `config`, makes the seven drifts, and runs the
 * reconciler dry, applied and dry through {@link reconcileAccounts}.
 */
export async function runReconciliationDrill(
  config: EngineConfig,
  accountId: string,
): Promise<ReconciliationSection> {
  const account = accountConfig(config, accountId);
  const markets = paperMarkets(
    JSON.parse(await readFile(BUNDLED_MARKETS_FILE, 'utf8')) as Record<string, PaperMarketConfig>,
  );
  for (const s of [BTC, ETH, SOL, DOGE, OP])
    if (!markets[s]) throw new RangeError(`the drift drill needs ${s} in ${BUNDLED_MARKETS_FILE}`);
  const emu = await startEmulators();
  try {
    const clock = new ManualClock(T0);
    const store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
    const ex = new PaperExchange({
      markets,
      clock,
      initialBalance: (account.equity ?? new D(10_000)).toFixed(),
      defaultLeverage: account.defaultLeverage,
    });
    for (const [symbol, price] of [
      [BTC, '50000'],
      [ETH, '2000'],
      [SOL, '20'],
      [DOGE, '0.1'],
      [OP, '1.5'],
    ] as const)
      ex.setPrice(symbol, price);
    const executionsStarted: string[] = [];
    const callbacks: string[] = [];
    const workflow: WorkflowPort = {
      startExecution(name) {
        const started = !executionsStarted.includes(name);
        executionsStarted.push(name);
        return Promise.resolve({ started });
      },
      sendTaskSuccess(token) {
        const delivered = !callbacks.includes(token);
        callbacks.push(token);
        return Promise.resolve({ delivered });
      },
      sendTaskFailure(token) {
        const delivered = !callbacks.includes(token);
        callbacks.push(token);
        return Promise.resolve({ delivered });
      },
    };
    const configSource: ConfigSource = { getConfig: () => Promise.resolve(config) };
    const ctx = buildContext({
      store,
      workflow,
      config: configSource,
      clock,
      metrics: new RecordingMetrics(),
      exchangeFor: () => ex,
      sleep: () => Promise.resolve(),
    });

    const trades = new Map<string, { tradeId: string; stopOrderId: string }>();
    for (const seed of SEEDS) trades.set(seed.name, await seedLiveTrade(ctx, ex, clock, accountId, seed));
    const drifts = await makeDrifts(ex, clock, trades);

    const settings = { leasePollMs: 10, leaseWaitMs: 5000 };
    const runs: ReconciliationRun[] = [];
    for (const dryRun of [true, false, true]) {
      const r = await reconcileAccounts(ctx, [accountId], dryRun, settings);
      const run = r.runs[0];
      if (run === undefined || 'error' in run)
        throw new Error(
          `the ${dryRun ? 'dry' : 'applied'} reconciliation failed: ${run ? run.error : 'no run'}`,
        );
      runs.push(runOf(run.report, dryRun));
    }
    const liveWaitsEnded = SEEDS.filter((s) => s.liveWait)
      .map((s) => trades.get(s.name)!.tradeId)
      .filter((id) => callbacks.includes(`token-${id}`));
    return { accountId, drifts, runs, executionsStarted, liveWaitsEnded };
  } finally {
    await emu.stop();
  }
}

function runOf(report: JsonMap, dryRun: boolean): ReconciliationRun {
  const list = (key: string): JsonValue[] => {
    const v = report[key];
    return Array.isArray(v) ? v : [];
  };
  const mismatches = report.mismatches;
  return {
    dryRun,
    mismatches: typeof mismatches === 'number' ? mismatches : list('findings').length,
    findings: list('findings'),
    actions: list('actions'),
    awaitingExecution: list('awaitingExecution'),
  };
}

/**
 * A LIVE trade as the engine leaves it: the position on the exchange, its stop placed through the account's
 * order executor (seq 0), and the trade record ENTRY_SENT → ENTRY_FILLED with its position and stop.
 */
async function seedLiveTrade(
  ctx: HandlerContext,
  ex: PaperExchange,
  clock: ManualClock,
  accountId: string,
  seed: SeedTrade,
): Promise<{ tradeId: string; stopOrderId: string }> {
  const tradeId = `${accountId}-drift-${seed.name}`;
  const at = clock.now();
  const { executor } = await ctx.accounts.account(accountId);
  ex.openPositionExternally(seed.symbol, seed.side, seed.qty, seed.entry);
  const placed = await executor.placeStop({
    tradeId,
    symbol: seed.symbol,
    positionSide: seed.side,
    qty: new D(seed.qty),
    stopPrice: new D(seed.stop),
    seq: 0,
  });
  if (placed.status !== 'placed')
    throw new Error(`the drill's ${seed.symbol} stop was not placed: ${placed.status}`);
  const config = await ctx.config.getConfig();
  const trading = accountConfig(config, accountId).options;
  const market = (await ex.loadMarkets())[seed.symbol];
  if (!market) throw new RangeError(`no market ${seed.symbol}`);
  const maxLoss = new D('100');
  const entry = new D(seed.entry);
  const position = openPosition({
    side: seed.side,
    entryPrice: entry,
    qty: new D(seed.qty),
    filledAt: at,
    exits: {
      stop: new D(seed.stop),
      takeProfit: entry,
      levels: [],
      stopDistance: entry.minus(seed.stop).abs(),
    },
    maxLoss,
    rules: stopRulesFor(trading, market),
  }).position;
  await ctx.store.createTrade({
    tradeId,
    accountId,
    symbol: seed.symbol,
    at,
    data: { side: seed.side, plan: { maxLoss: maxLoss.toFixed() } },
  });
  await ctx.store.transition(tradeId, {
    expectedVersion: 1,
    to: 'ENTERING',
    type: 'ENTRY_SENT',
    at,
    commandId: `${tradeId}:entry-sent`,
  });
  await ctx.store.transition(tradeId, {
    expectedVersion: 2,
    to: 'LIVE',
    type: 'ENTRY_FILLED',
    at,
    commandId: `${tradeId}:entry-filled`,
    patch: {
      position: encodePosition(position) as unknown as JsonMap,
      stopOrderId: placed.order.id,
      stopSeq: 0,
      entry: {
        clientOrderId: clientOrderId(tradeId, 'entry'),
        orderId: 'external',
        requestedQty: seed.qty,
        filledQty: seed.qty,
        avgPrice: seed.entry,
        filledAt: at,
        partial: false,
        slippageBps: null,
      },
      ...(seed.liveWait ? { liveTaskToken: `token-${tradeId}` } : {}),
    },
  });
  return { tradeId, stopOrderId: placed.order.id };
}

/** The seven drifts, made on the paper exchange behind the engine's back. */
async function makeDrifts(
  ex: PaperExchange,
  clock: ManualClock,
  trades: ReadonlyMap<string, { tradeId: string; stopOrderId: string }>,
): Promise<DriftMade[]> {
  const id = (name: string) => trades.get(name)!;
  const drifts: DriftMade[] = [];
  ex.setPrice(BTC, '49500');
  ex.setPrice(BTC, '49600');
  drifts.push({
    kind: 'STOP_FILLED',
    symbol: BTC,
    tradeId: id('btc').tradeId,
    detail: 'the price fell to 49500: the stop at 49500 filled and closed the 0.01 long',
  });
  ex.openPositionExternally(ETH, 'long', '0.5', '2000');
  drifts.push({
    kind: 'UNTRACKED_POSITION',
    symbol: ETH,
    tradeId: null,
    detail: 'a 0.5 long at 2000 opened outside the engine',
  });
  ex.closePositionExternally(SOL, '4');
  drifts.push({
    kind: 'PARTIAL_CLOSE',
    symbol: SOL,
    tradeId: id('sol').tradeId,
    detail: '4 of the 10 closed by hand: 6 remain, the stop is still for 10',
  });
  ex.cancelOrderExternally(id('doge').stopOrderId);
  drifts.push({
    kind: 'CANCELLED_STOP',
    symbol: DOGE,
    tradeId: id('doge').tradeId,
    detail: `the stop ${id('doge').stopOrderId} was cancelled by hand`,
  });
  ex.setPrice(OP, '1.6');
  ex.closePositionExternally(OP);
  drifts.push({
    kind: 'MANUAL_CLOSE',
    symbol: OP,
    tradeId: id('op').tradeId,
    detail: 'the 100 long closed by hand at 1.6',
  });
  drifts.push({
    kind: 'ORPHANED_STOP',
    symbol: OP,
    tradeId: id('op').tradeId,
    detail: `the manual close left the reduce-only stop ${id('op').stopOrderId} with no position`,
  });
  const order = await ex.createOrder({
    symbol: BTC,
    side: 'buy',
    kind: 'limit',
    qty: new D('0.01'),
    price: new D('40000'),
    reduceOnly: false,
    clientOrderId: 'manual-entry-1',
  });
  clock.advance(120_000);
  drifts.push({
    kind: 'STALE_ENTRY_ORDER',
    symbol: BTC,
    tradeId: null,
    detail: `a limit buy ${order.id} at 40000 that no trade owns, resting for 120 s`,
  });
  return drifts;
}
