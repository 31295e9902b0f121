/**
 * Contract of a replay run: what goes in (candles, signals, configuration, market rules) and what comes out
 * (per-trade results and a summary). Shared by the core replay (`--engine core`) and, later, the full local
 * serverless engine, so both produce the same `results.json`.
 */
import type { Decimal } from '../../functions/core/decimal.js';
import type { EngineConfig } from '../../functions/core/config.js';
import type { Signal } from '../../functions/core/signal.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import type { Candle, MarketRules, Side } from '../../functions/core/types.js';
import type { FillModelOptions } from '../../functions/core/fill-model.js';

export interface ReplayInput {
  /** Candles per symbol (ccxt unified symbol), ascending by openTime, gaps allowed. */
  candles: ReadonlyMap<string, readonly Candle[]>;
  /** Signals with `at` set, in any order. */
  signals: readonly Signal[];
  config: EngineConfig;
  markets: Readonly<Record<string, MarketRules>>;
  fillModel: FillModelOptions;
  /** Replay window (epoch ms, inclusive start, exclusive end); defaults to the candles' span. */
  from?: number;
  to?: number;
  /** Called now and then with candles processed so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface StopChange {
  at: number;
  price: Decimal;
  reason: string;
}

export interface TradeResult {
  tradeId: string;
  signalId: string;
  accountId: string;
  symbol: string;
  side: Side;
  /** Final lifecycle status (a finished trade is FINALIZED, a skipped signal too once its shadow window ends). */
  status: TradeStatus;
  /** What happened to the signal: traded, skipped by the risk gate or sizing, cancelled, or failed. */
  outcome: 'TRADED' | 'SKIPPED' | 'CANCELLED' | 'FAILED';
  /** Why the trade was skipped, cancelled or failed, if it was. */
  statusReason: string | null;
  signalAt: number;
  entryFilledAt: number | null;
  entryPrice: Decimal | null;
  qty: Decimal | null;
  stopPlacedAt: number | null;
  stops: StopChange[];
  takeProfit: Decimal | null;
  exitAt: number | null;
  exitPrice: Decimal | null;
  exitReason: string | null;
  realizedPnl: Decimal | null;
  fees: Decimal;
  maxLoss: Decimal | null;
  /** Live milestones: `{"10": seconds | null, …}`. */
  milestones: Record<string, number | null>;
  /** The whole continuation, live plus post-trade window (and the only one for skipped signals). */
  shadowMilestones: Record<string, number | null>;
  partialExits: { at: number; price: Decimal; qty: Decimal }[];
  /** Realized slippage of the entry fill vs the signal's price (adverse positive), quote per unit. */
  entrySlippage: Decimal | null;
}

export interface ReplaySummary {
  engine: 'core' | 'full';
  from: number;
  to: number;
  symbols: string[];
  candles: number;
  signals: number;
  /** Signals whose trade id was already seen (acted on once). */
  duplicateSignals: number;
  trades: number;
  skipped: number;
  cancelled: number;
  failed: number;
  wins: number;
  losses: number;
  netPnl: Decimal;
  fees: Decimal;
  winRate: number | null;
  profitFactor: number | null;
  expectancy: Decimal | null;
  sharpe: number | null;
  sortino: number | null;
  maxDrawdown: Decimal;
  maxDrawdownPct: number;
  /** Hit counts per threshold, live and shadow. */
  milestones: Record<string, { live: number; shadow: number; medianSeconds: number | null }>;
  stopUpdates: { applied: number; skippedMinStep: number };
  failSafeRejections: number;
  failSafeTightened: number;
  exitReasons: Record<string, number>;
  wallMs: number;
}

/** Fill → stop latency of the full engine (simulated ms), and the latency model it ran with. */
export interface LatencySection {
  /** Stop acknowledged − entry fill seen, over the filled trades; null without any. */
  fillToStopMs: { count: number; p50: number | null; p99: number | null; max: number | null };
  /** The simulated latency of one order call (create, cancel, look-ups), uniform in [min, max] ms. */
  orderCallLatencyMs: { min: number; max: number };
  /** Seed of the latency draws. */
  seed: number;
}

/** Counted AWS usage (see `local/runtime/cost-model.ts`). */
export interface UsageJson {
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
  invocationsByHandler: Record<string, number>;
}

/** US dollars per service. */
export interface CostJson {
  dynamodb: number;
  sqs: number;
  stepFunctions: number;
  lambda: number;
  scheduler: number;
  total: number;
}

/** The AWS cost model of a full run: usage counted by the runtime, priced at list prices. */
export interface CostModelSection {
  /** The prices used, with the date they were read (`asOf`) and the region. */
  prices: Record<string, number | string>;
  /** Signals acted on (the divisor of `perTrade`). */
  trades: number;
  /** Simulated minutes in which the engine ran (workers scheduled). */
  activeMinutes: number;
  /** The whole run (idle minutes skipped). */
  run: { usage: UsageJson; cost: CostJson };
  perTrade: { usage: UsageJson; cost: CostJson };
  per1000Trades: { cost: CostJson };
  /** A 30-day month with nothing open: one measured idle minute × 43,200. */
  idleMonth: { usage: UsageJson; cost: CostJson; minutes: number };
}

/** One invariant of the full engine. */
export interface InvariantCheck {
  name: string;
  description: string;
  ok: boolean;
  /** How many items were checked. */
  checked: number;
  /** What broke it (at most 50 listed). */
  violations: string[];
}

/** The invariants of a full run. */
export interface InvariantsSection {
  /** True when every check holds. */
  ok: boolean;
  /** Messages left in the dead-letter queues. */
  dlqMessages: number;
  checks: InvariantCheck[];
}

export interface ReplayResult {
  summary: ReplaySummary;
  trades: TradeResult[];
  /** Full engine only: fill → stop latency. */
  latency?: LatencySection;
  /** Full engine only: the AWS cost model. */
  costModel?: CostModelSection;
  /** Full engine only: the invariants checked after the run. */
  invariants?: InvariantsSection;
}
