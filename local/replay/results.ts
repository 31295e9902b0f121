/**
 * `results.json`: the file a replay writes with `--out DIR`. A {@link ReplayResult} becomes plain JSON:
 * every Decimal a decimal string (`decStr`: no exponent, no trailing zeros), every time an ISO 8601 UTC
 * string, ratios plain numbers. {@link resultsFileSchema} is the format's definition (docs/replay.md
 * describes each field); {@link serializeResults} produces it and {@link writeResults} writes it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type Decimal, decStr } from '../../functions/core/decimal.js';
import { TRADE_STATUSES } from '../../functions/core/lifecycle.js';
import type { FillModelOptions } from '../../functions/core/fill-model.js';
import type { CandleGap } from '../market-data.js';
import type { ReplayResult, ReplaySummary, TradeResult } from './types.js';

/** Version of the results format; bumped when a field changes meaning or is removed. */
export const RESULTS_FORMAT_VERSION = 1;

const decimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a plain decimal string');
const isoTime = z.iso.datetime();
const finite = z.number().refine(Number.isFinite, 'expected a finite number');
const milestoneMap = z.record(z.string().regex(/^\d+(\.\d+)?$/), z.int().nonnegative().nullable());

/** One trade (or skipped/cancelled/failed signal) in `results.json`. */
export const tradeJsonSchema = z.strictObject({
  tradeId: z.string().min(1),
  signalId: z.string().min(1),
  accountId: z.string().min(1),
  symbol: z.string().min(1),
  side: z.enum(['long', 'short']),
  status: z.enum(TRADE_STATUSES),
  outcome: z.enum(['TRADED', 'SKIPPED', 'CANCELLED', 'FAILED']),
  statusReason: z.string().nullable(),
  signalAt: isoTime,
  entryFilledAt: isoTime.nullable(),
  entryPrice: decimalString.nullable(),
  qty: decimalString.nullable(),
  stopPlacedAt: isoTime.nullable(),
  stops: z.array(z.strictObject({ at: isoTime, price: decimalString, reason: z.string() })),
  takeProfit: decimalString.nullable(),
  exitAt: isoTime.nullable(),
  exitPrice: decimalString.nullable(),
  exitReason: z.string().nullable(),
  realizedPnl: decimalString.nullable(),
  fees: decimalString,
  maxLoss: decimalString.nullable(),
  milestones: milestoneMap,
  shadowMilestones: milestoneMap,
  partialExits: z.array(z.strictObject({ at: isoTime, price: decimalString, qty: decimalString })),
  entrySlippage: decimalString.nullable(),
});

/** The run's aggregate figures in `results.json`. */
export const summaryJsonSchema = z.strictObject({
  engine: z.enum(['core', 'full']),
  from: isoTime,
  to: isoTime,
  symbols: z.array(z.string()),
  candles: z.int().nonnegative(),
  signals: z.int().nonnegative(),
  duplicateSignals: z.int().nonnegative(),
  trades: z.int().nonnegative(),
  skipped: z.int().nonnegative(),
  cancelled: z.int().nonnegative(),
  failed: z.int().nonnegative(),
  wins: z.int().nonnegative(),
  losses: z.int().nonnegative(),
  netPnl: decimalString,
  fees: decimalString,
  winRate: finite.nullable(),
  profitFactor: finite.nullable(),
  expectancy: decimalString.nullable(),
  sharpe: finite.nullable(),
  sortino: finite.nullable(),
  maxDrawdown: decimalString,
  maxDrawdownPct: finite,
  milestones: z.record(
    z.string(),
    z.strictObject({
      live: z.int().nonnegative(),
      shadow: z.int().nonnegative(),
      medianSeconds: finite.nullable(),
    }),
  ),
  stopUpdates: z.strictObject({ applied: z.int().nonnegative(), skippedMinStep: z.int().nonnegative() }),
  failSafeRejections: z.int().nonnegative(),
  failSafeTightened: z.int().nonnegative(),
  exitReasons: z.record(z.string(), z.int().nonnegative()),
  wallMs: finite,
});

/** How the run was set up: inputs, fill model, seed and the data gaps it ran across. */
export const runJsonSchema = z.strictObject({
  formatVersion: z.literal(RESULTS_FORMAT_VERSION),
  engine: z.enum(['core', 'full']),
  dataDir: z.string(),
  signalsFile: z.string(),
  configFile: z.string(),
  marketsFile: z.string(),
  seed: z.int().nullable(),
  fillModel: z.strictObject({
    slippageBps: decimalString,
    takerFeeRate: decimalString,
    makerFeeRate: decimalString,
    maxParticipation: decimalString.nullable(),
  }),
  /** Missing candles per symbol inside the window: [from, to) runs. */
  gaps: z.record(
    z.string(),
    z.array(z.strictObject({ from: isoTime, to: isoTime, candles: z.int().positive() })),
  ),
  /** Wall time of loading the candles, signals and configuration (ms). */
  loadMs: finite,
});

const count = z.int().nonnegative();
const usageJsonSchema = z.strictObject({
  dynamoReadRequests: finite,
  dynamoWriteRequests: finite,
  dynamoReadUnits: finite,
  dynamoWriteUnits: finite,
  sqsFifoRequests: finite,
  sqsStandardRequests: finite,
  stateTransitions: finite,
  lambdaInvocations: finite,
  lambdaGbSeconds: finite,
  schedulerInvocations: finite,
  invocationsByHandler: z.record(z.string(), finite),
});
const costJsonSchema = z.strictObject({
  dynamodb: finite,
  sqs: finite,
  stepFunctions: finite,
  lambda: finite,
  scheduler: finite,
  total: finite,
});

/** Full engine: fill → stop latency in simulated ms and the order-latency model it ran with. */
export const latencyJsonSchema = z.strictObject({
  fillToStopMs: z.strictObject({
    count,
    p50: finite.nullable(),
    p99: finite.nullable(),
    max: finite.nullable(),
  }),
  orderCallLatencyMs: z.strictObject({ min: finite, max: finite }),
  seed: z.int().nonnegative(),
});

/** Full engine: the AWS cost model (usage counted by the runtime, list prices with their date). */
export const costModelJsonSchema = z.strictObject({
  prices: z.record(z.string(), z.union([finite, z.string()])),
  trades: count,
  activeMinutes: count,
  run: z.strictObject({ usage: usageJsonSchema, cost: costJsonSchema }),
  perTrade: z.strictObject({ usage: usageJsonSchema, cost: costJsonSchema }),
  per1000Trades: z.strictObject({ cost: costJsonSchema }),
  idleMonth: z.strictObject({ usage: usageJsonSchema, cost: costJsonSchema, minutes: count }),
});

/** Full engine: the invariants checked after the run. */
export const invariantsJsonSchema = z.strictObject({
  ok: z.boolean(),
  dlqMessages: count,
  checks: z.array(
    z.strictObject({
      name: z.string().min(1),
      description: z.string(),
      ok: z.boolean(),
      checked: count,
      violations: z.array(z.string()),
    }),
  ),
});

/**
 * The whole file. Later engines add sections (latency, cost model, invariants) beside these, so unknown
 * top-level keys are allowed; the sections defined here are strict.
 */
export const resultsFileSchema = z.looseObject({
  summary: summaryJsonSchema,
  run: runJsonSchema.optional(),
  trades: z.array(tradeJsonSchema),
  latency: latencyJsonSchema.optional(),
  costModel: costModelJsonSchema.optional(),
  invariants: invariantsJsonSchema.optional(),
});

export type TradeJson = z.infer<typeof tradeJsonSchema>;
export type SummaryJson = z.infer<typeof summaryJsonSchema>;
export type RunJson = z.infer<typeof runJsonSchema>;
export type ResultsFile = z.infer<typeof resultsFileSchema>;

/** What the caller knows about the run beyond the replay's own result. */
export interface RunInfo {
  engine: 'core' | 'full';
  dataDir: string;
  signalsFile: string;
  configFile: string;
  marketsFile: string;
  seed: number | null;
  fillModel: FillModelOptions;
  /** Gaps per symbol (already limited to the replay window). */
  gaps: ReadonlyMap<string, readonly CandleGap[]>;
  intervalMs: ReadonlyMap<string, number>;
  loadMs: number;
}

/** Epoch ms → ISO 8601 UTC; a non-finite or out-of-range time is a RangeError naming the field. */
export function isoOf(ms: number, what: string): string {
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a finite time: ${String(ms)}`);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError(`${what} is out of the Date range: ${ms}`);
  return d.toISOString();
}

function isoOrNull(ms: number | null, what: string): string | null {
  return ms === null ? null : isoOf(ms, what);
}

function decOrNull(value: Decimal | null): string | null {
  return value === null ? null : decStr(value);
}

/** A ratio for JSON: NaN and ±Infinity would silently become null in JSON.stringify, so they are errors. */
function num(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`${what} is not finite: ${String(value)}`);
  return value;
}

function numOrNull(value: number | null, what: string): number | null {
  return value === null ? null : num(value, what);
}

/** One trade as JSON (see {@link tradeJsonSchema}). */
export function serializeTrade(t: TradeResult): TradeJson {
  const at = (ms: number | null, field: string) => isoOrNull(ms, `trade ${t.tradeId} ${field}`);
  return {
    tradeId: t.tradeId,
    signalId: t.signalId,
    accountId: t.accountId,
    symbol: t.symbol,
    side: t.side,
    status: t.status,
    outcome: t.outcome,
    statusReason: t.statusReason,
    signalAt: isoOf(t.signalAt, `trade ${t.tradeId} signalAt`),
    entryFilledAt: at(t.entryFilledAt, 'entryFilledAt'),
    entryPrice: decOrNull(t.entryPrice),
    qty: decOrNull(t.qty),
    stopPlacedAt: at(t.stopPlacedAt, 'stopPlacedAt'),
    stops: t.stops.map((s) => ({
      at: isoOf(s.at, `trade ${t.tradeId} stop time`),
      price: decStr(s.price),
      reason: s.reason,
    })),
    takeProfit: decOrNull(t.takeProfit),
    exitAt: at(t.exitAt, 'exitAt'),
    exitPrice: decOrNull(t.exitPrice),
    exitReason: t.exitReason,
    realizedPnl: decOrNull(t.realizedPnl),
    fees: decStr(t.fees),
    maxLoss: decOrNull(t.maxLoss),
    milestones: { ...t.milestones },
    shadowMilestones: { ...t.shadowMilestones },
    partialExits: t.partialExits.map((p) => ({
      at: isoOf(p.at, `trade ${t.tradeId} partial exit time`),
      price: decStr(p.price),
      qty: decStr(p.qty),
    })),
    entrySlippage: decOrNull(t.entrySlippage),
  };
}

/** The summary as JSON (see {@link summaryJsonSchema}). */
export function serializeSummary(s: ReplaySummary): SummaryJson {
  const milestones: SummaryJson['milestones'] = {};
  for (const [threshold, m] of Object.entries(s.milestones)) {
    milestones[threshold] = {
      live: m.live,
      shadow: m.shadow,
      medianSeconds: numOrNull(m.medianSeconds, `milestone ${threshold} medianSeconds`),
    };
  }
  return {
    engine: s.engine,
    from: isoOf(s.from, 'summary.from'),
    to: isoOf(s.to, 'summary.to'),
    symbols: [...s.symbols],
    candles: s.candles,
    signals: s.signals,
    duplicateSignals: s.duplicateSignals,
    trades: s.trades,
    skipped: s.skipped,
    cancelled: s.cancelled,
    failed: s.failed,
    wins: s.wins,
    losses: s.losses,
    netPnl: decStr(s.netPnl),
    fees: decStr(s.fees),
    winRate: numOrNull(s.winRate, 'winRate'),
    profitFactor: numOrNull(s.profitFactor, 'profitFactor'),
    expectancy: decOrNull(s.expectancy),
    sharpe: numOrNull(s.sharpe, 'sharpe'),
    sortino: numOrNull(s.sortino, 'sortino'),
    maxDrawdown: decStr(s.maxDrawdown),
    maxDrawdownPct: num(s.maxDrawdownPct, 'maxDrawdownPct'),
    milestones,
    stopUpdates: { applied: s.stopUpdates.applied, skippedMinStep: s.stopUpdates.skippedMinStep },
    failSafeRejections: s.failSafeRejections,
    failSafeTightened: s.failSafeTightened,
    exitReasons: { ...s.exitReasons },
    wallMs: num(s.wallMs, 'wallMs'),
  };
}

/** The run section as JSON (see {@link runJsonSchema}). */
export function serializeRun(run: RunInfo): RunJson {
  const gaps: RunJson['gaps'] = {};
  for (const [symbol, list] of run.gaps) {
    const step = run.intervalMs.get(symbol);
    if (step === undefined) throw new RangeError(`no candle interval known for ${symbol}`);
    gaps[symbol] = list.map((g) => ({
      from: isoOf(g.from, `${symbol} gap start`),
      to: isoOf(g.to, `${symbol} gap end`),
      candles: Math.ceil((g.to - g.from) / step),
    }));
  }
  const fm = run.fillModel;
  return {
    formatVersion: RESULTS_FORMAT_VERSION,
    engine: run.engine,
    dataDir: run.dataDir,
    signalsFile: run.signalsFile,
    configFile: run.configFile,
    marketsFile: run.marketsFile,
    seed: run.seed,
    fillModel: {
      slippageBps: decStr(fm.slippageBps),
      takerFeeRate: decStr(fm.takerFeeRate),
      makerFeeRate: decStr(fm.makerFeeRate),
      maxParticipation: fm.maxParticipation === undefined ? null : decStr(fm.maxParticipation),
    },
    gaps,
    loadMs: num(run.loadMs, 'loadMs'),
  };
}

/**
 * The whole `results.json` document: `{ summary, run?, trades }`, plus the full engine's `latency`,
 * `costModel` and `invariants` when the result has them (checked against their schemas).
 */
export function serializeResults(result: ReplayResult, run?: RunInfo): ResultsFile {
  const summary = serializeSummary(result.summary);
  const trades = result.trades.map(serializeTrade);
  const doc: ResultsFile = run ? { summary, run: serializeRun(run), trades } : { summary, trades };
  if (result.latency) doc.latency = latencyJsonSchema.parse(result.latency);
  if (result.costModel) doc.costModel = costModelJsonSchema.parse(result.costModel);
  if (result.invariants) doc.invariants = invariantsJsonSchema.parse(result.invariants);
  return doc;
}

/** Writes `dir/results.json` (creating `dir`), two-space indented; returns the file's path. */
export async function writeResults(dir: string, results: ResultsFile): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'results.json');
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
