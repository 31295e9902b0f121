/**
 * The measured part of the core benchmark (see bench/core.ts): the fixture of open positions, the Decimal
 * loop, the float loop and a measurement that runs them interleaved after a warm-up pass. Kept free of
 * repository paths so it can also be bundled by esbuild and run as bundled code.
 */
import { parseConfig } from '../../functions/core/config.js';
import { D, type Decimal } from '../../functions/core/decimal.js';
import { planInitialExits } from '../../functions/core/exits.js';
import { healthScoreValue, type HealthOptions } from '../../functions/core/health.js';
import {
  createMilestoneTracker,
  type MilestoneTracker,
  observeMilestones,
} from '../../functions/core/milestones.js';
import { riskBudget, sizePosition } from '../../functions/core/sizing.js';
import {
  adjustStop,
  openPosition,
  type PositionState,
  stopRulesFor,
  type StopRules,
} from '../../functions/core/stop-manager.js';
import type { Candle, Side } from '../../functions/core/types.js';
import { listCandleFiles, loadCandleFile, loadMarkets } from '../../local/market-data.js';
import {
  adjustStopFloat,
  type FloatPosition,
  type FloatTracker,
  observeMilestonesFloat,
  toFloatPosition,
  toFloatTracker,
} from './float-step.js';
import { median } from './progress.js';

const POSITIONS = 10_000;
const ROUNDS = 30;
const MEASURED_PASSES = 3;
const THRESHOLDS = [10, 15, 20, 25, 30];
const HEALTH: HealthOptions = { criticalMinutes: 240, safeAt: 60, warningAt: 30 };

/** Deterministic PRNG (mulberry32) so every run builds the same positions. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The positions and their price paths, as both loops see them. */
export interface CoreFixture {
  positions: PositionState[];
  trackers: MilestoneTracker[];
  /** prices[i * ROUNDS + r]: the price position i sees in round r. */
  decPrices: Decimal[];
  numPrices: Float64Array;
  times: Float64Array;
  rounds: number;
}

/** Where the fixture's candles and market rules come from. */
export interface FixtureSource {
  candlesDir: string;
  marketsFile: string;
}

/** Builds `count` positions with `rounds` observations each from the candles (deterministic). */
export async function buildFixture(
  source: FixtureSource,
  count = POSITIONS,
  rounds = ROUNDS,
): Promise<CoreFixture> {
  const markets = await loadMarkets(source.marketsFile);
  const options = parseConfig({ accounts: [{ accountId: 'bench', exchange: 'paper' }] }).defaults;
  const files = await listCandleFiles(source.candlesDir);
  const series: { symbol: string; candles: Candle[]; rules: StopRules }[] = [];
  for (const f of files) {
    const window = f.intervalMs === 60_000 ? { from: Date.UTC(2023, 3, 1), to: Date.UTC(2023, 3, 8) } : {};
    const market = markets[f.symbol];
    if (!market) throw new RangeError(`no market rules for ${f.symbol}`);
    series.push({
      symbol: f.symbol,
      candles: (await loadCandleFile(f.path, window)).candles,
      rules: stopRulesFor(options, market),
    });
  }
  const random = rng(20230320);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const positions: PositionState[] = [];
  const trackers: MilestoneTracker[] = [];
  const decPrices: Decimal[] = [];
  const numPrices = new Float64Array(count * rounds);
  const times = new Float64Array(count * rounds);
  const budget = riskBudget({ riskAmount: new D(3), failSafeFraction: options.failSafe.maxLossFraction });
  while (positions.length < count) {
    const s = series[positions.length % series.length]!;
    const e = Math.floor(random() * (s.candles.length - rounds - 1));
    const entryCandle = s.candles[e]!;
    const entryPrice = entryCandle.close;
    const side: Side = random() < 0.5 ? 'long' : 'short';
    const leverage = pick([10, 12, 15, 20]);
    const market = markets[s.symbol]!;
    const exits = planInitialExits({
      side,
      entryPrice,
      stop: { pct: new D(pick(['0.6', '0.8', '1', '1.2', '1.5'])) },
      rr: new D(pick(['1.5', '2', '2.5', '3'])),
      market,
      options: options.exits,
    });
    const sized = sizePosition({
      side,
      entryPrice,
      stopPrice: exits.stop,
      riskBudget: budget.budget,
      takerFeeRate: options.fees.takerRate,
      stopSlippage: s.rules.stopSlippage,
      leverage,
      market,
      maxNotionalPerTrade: options.risk.maxNotionalPerTrade,
      remainingAccountNotional: options.risk.maxNotionalPerAccount,
    });
    if (!sized.ok) continue;
    const filledAt = entryCandle.openTime + entryCandle.intervalMs;
    const opened = openPosition({
      side,
      entryPrice,
      qty: sized.qty,
      filledAt,
      exits,
      maxLoss: budget.maxLoss,
      rules: s.rules,
    });
    if (opened.position.remainingQty.isZero()) continue;
    const i = positions.length;
    positions.push(opened.position);
    trackers.push(
      createMilestoneTracker({ side, entryPrice, entryAt: filledAt, leverage, thresholds: THRESHOLDS }),
    );
    for (let r = 0; r < rounds; r++) {
      const c = s.candles[e + 1 + r]!;
      // One parse per tick: the Decimal and the number come from the same text.
      const text = c.close.toFixed();
      decPrices.push(new D(text));
      numPrices[i * rounds + r] = Number(text);
      times[i * rounds + r] = c.openTime + c.intervalMs;
    }
  }
  return { positions, trackers, decPrices, numPrices, times, rounds };
}

/** State of one pass of the Decimal loop. */
interface DecimalPass {
  positions: PositionState[];
  trackers: MilestoneTracker[];
  roundUs: number[];
  actions: number;
  sink: number;
}

/** Runs all rounds of the Decimal loop over a fresh copy of the fixture's positions. */
export function runDecimalPass(f: CoreFixture): DecimalPass {
  const n = f.positions.length;
  const R = f.rounds;
  const positions = f.positions.slice();
  const trackers = f.trackers.slice();
  const entryNum = new Float64Array(n);
  const initialStopNum = new Float64Array(n);
  const stopNum = new Float64Array(n);
  const stopRef: (Decimal | null)[] = new Array<Decimal | null>(n).fill(null);
  for (let i = 0; i < n; i++) {
    entryNum[i] = positions[i]!.entryPrice.toNumber();
    initialStopNum[i] = positions[i]!.initialStop.toNumber();
  }
  const roundUs: number[] = [];
  let actions = 0;
  let sink = 0;
  for (let r = 0; r < R; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const k = i * R + r;
      const price = f.decPrices[k]!;
      const at = f.times[k]!;
      const step = adjustStop(positions[i]!, { price, at, priceNum: f.numPrices[k]! });
      const p = step.position;
      positions[i] = p;
      actions += step.actions.length;
      trackers[i] = observeMilestones(trackers[i]!, price, at, 'live').tracker;
      if (p.stop !== stopRef[i]) {
        stopRef[i] = p.stop;
        stopNum[i] = p.stop.toNumber();
      }
      sink += healthScoreValue(
        {
          side: p.side,
          entryPrice: entryNum[i]!,
          price: f.numPrices[k]!,
          stop: stopNum[i]!,
          initialStop: initialStopNum[i]!,
          minutesOpen: (at - p.entryFilledAt) / 60_000,
        },
        HEALTH,
      );
    }
    roundUs.push(((performance.now() - t0) * 1000) / n);
  }
  return { positions, trackers, roundUs, actions, sink };
}

/** State of one pass of the float loop. */
interface FloatPass {
  positions: FloatPosition[];
  trackers: FloatTracker[];
  roundUs: number[];
  actions: number;
  sink: number;
}

/** The same loop on numbers. */
export function runFloatPass(
  f: CoreFixture,
  start: { positions: FloatPosition[]; trackers: FloatTracker[] },
): FloatPass {
  const n = start.positions.length;
  const R = f.rounds;
  const positions = start.positions.slice();
  const trackers = start.trackers.slice();
  const roundUs: number[] = [];
  let actions = 0;
  let sink = 0;
  for (let r = 0; r < R; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const k = i * R + r;
      const price = f.numPrices[k]!;
      const at = f.times[k]!;
      const step = adjustStopFloat(positions[i]!, price, at);
      const p = step.position;
      positions[i] = p;
      actions += step.actions.length;
      trackers[i] = observeMilestonesFloat(trackers[i]!, price, at, 'live').tracker;
      sink += healthScoreValue(
        {
          side: p.side,
          entryPrice: p.entryPrice,
          price,
          stop: p.stop,
          initialStop: p.initialStop,
          minutesOpen: (at - p.entryFilledAt) / 60_000,
        },
        HEALTH,
      );
    }
    roundUs.push(((performance.now() - t0) * 1000) / n);
  }
  return { positions, trackers, roundUs, actions, sink };
}

/** Positions whose final state (remaining qty, stop, counters, milestones reached) differs between loops. */
export function countMismatches(dec: DecimalPass, flt: FloatPass): number {
  let mismatches = 0;
  for (let i = 0; i < dec.positions.length; i++) {
    const d = dec.positions[i]!;
    const x = flt.positions[i]!;
    const stop = d.stop.toNumber();
    const same =
      Math.abs(d.remainingQty.toNumber() - x.remainingQty) <= 1e-9 * Math.max(1, x.remainingQty) &&
      Math.abs(stop - x.stop) <= 1e-9 * stop &&
      d.stopReason === x.stopReason &&
      d.counters.stopMoves === x.counters.stopMoves &&
      d.counters.failSafeRejections === x.counters.failSafeRejections &&
      d.counters.skippedMinStep === x.counters.skippedMinStep &&
      dec.trackers[i]!.next === flt.trackers[i]!.next;
    if (!same) mismatches++;
  }
  return mismatches;
}

/** Result of {@link measureCore}: per-round µs per trade of both loops and the cross-check. */
export interface CoreMeasurement {
  positions: number;
  rounds: number;
  passes: number;
  /** Median over measured rounds of round time / positions, Decimal loop (µs). */
  usPerTrade: number;
  /** The same for the float loop (µs). */
  usPerTradeFloat: number;
  /** Actions (stop moves, partials, exits, rejections) in one pass of the Decimal loop. */
  actionsPerPass: number;
  /** Positions whose final state differs between the loops (0 expected). */
  decisionMismatches: number;
}

/**
 * Builds the fixture, runs one warm-up pass of each loop, then `passes` measured passes, Decimal and float
 * interleaved. `log` receives one line per pass.
 */
export async function measureCore(
  source: FixtureSource,
  opts: { positions?: number; rounds?: number; passes?: number; log?: (line: string) => void } = {},
): Promise<CoreMeasurement> {
  const passes = opts.passes ?? MEASURED_PASSES;
  const log = opts.log ?? (() => {});
  const fixture = await buildFixture(source, opts.positions ?? POSITIONS, opts.rounds ?? ROUNDS);
  const floatStart = {
    positions: fixture.positions.map(toFloatPosition),
    trackers: fixture.trackers.map(toFloatTracker),
  };
  log(`${fixture.positions.length} positions × ${fixture.rounds} rounds; warm-up pass`);
  runDecimalPass(fixture);
  runFloatPass(fixture, floatStart);
  const decUs: number[] = [];
  const floatUs: number[] = [];
  let mismatches = 0;
  let actions = 0;
  let sink = 0;
  for (let pass = 1; pass <= passes; pass++) {
    const dec = runDecimalPass(fixture);
    const flt = runFloatPass(fixture, floatStart);
    decUs.push(...dec.roundUs);
    floatUs.push(...flt.roundUs);
    mismatches = Math.max(mismatches, countMismatches(dec, flt));
    actions = dec.actions;
    sink += dec.sink + flt.sink;
    log(
      `pass ${pass}/${passes}: Decimal ${median(dec.roundUs).toFixed(3)} µs/trade, float ${median(flt.roundUs).toFixed(3)} µs/trade`,
    );
  }
  if (!Number.isFinite(sink)) throw new Error('health scores were not finite');
  return {
    positions: fixture.positions.length,
    rounds: fixture.rounds,
    passes,
    usPerTrade: median(decUs),
    usPerTradeFloat: median(floatUs),
    actionsPerPass: actions,
    decisionMismatches: mismatches,
  };
}
