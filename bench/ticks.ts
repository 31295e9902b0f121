/**
 * Tick-drift benchmark (`npm run bench -- ticks`): how late the ticks of a loop inside a scheduled Lambda
 * invocation start, measured with real timers.
 *
 * The model of the stop-manager Lambda: a scheduler invokes the handler once a minute; the invocation runs
 * `TICKS_PER_MINUTE` (6) ticks 10 s apart and returns. Each tick simulates a worker tick: an awaited I/O
 * wait of 40–400 ms (seeded pseudo-random, like a DynamoDB query plus exchange calls) and 2–20 ms of
 * synchronous CPU work (decision code) that blocks the event loop. Two ways of waiting for the next tick
 * are measured, one after the other, each over `TICK_BENCH_MINUTES` simulated minutes (default 3, i.e.
 * 18 ticks and 3 real minutes per strategy):
 * - `absolute`: tick k of an invocation starts at `invocationStart + k × 10 s` (one `setTimeout` to that
 *   deadline, so a slow tick does not shift the following ones);
 * - `relative`: after a tick ends, sleep 10 s (the naive loop; each tick's duration accumulates).
 *
 * Lateness of a tick = its actual start − its nominal start on the 10-s grid of the minute
 * (`minuteStart + k × 10 s`). Figures: `abs_max_late_ms`, `abs_p50_late_ms`, `rel_max_late_ms`,
 * `rel_p50_late_ms`, `abs_max_gap_ms` / `rel_max_gap_ms` (the longest interval between two consecutive tick
 * starts, across invocation boundaries), `ticks` (per strategy).
 */
import { median, progress, sig } from './lib/progress.js';

/** Ticks per invocation (one invocation per minute). */
export const TICKS_PER_MINUTE = 6;
/** Nominal interval between ticks, ms. */
export const TICK_MS = 10_000;
const MINUTE_MS = TICKS_PER_MINUTE * TICK_MS;

/** A seeded pseudo-random generator (mulberry32) returning numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* synchronous work that blocks the event loop */
  }
}

/** One simulated worker tick: awaited I/O then synchronous CPU work. */
async function simulatedTick(rand: () => number): Promise<void> {
  await sleep(40 + rand() * 360);
  busy(2 + rand() * 18);
}

/** Which waiting strategy the loop uses between ticks. */
export type Strategy = 'absolute' | 'relative';

/** Tick start times of one run, and their nominal times on the 10-s grid. */
export interface DriftRun {
  starts: number[];
  nominal: number[];
}

/** One simulated invocation: `TICKS_PER_MINUTE` ticks starting at `start` (performance.now() ms). */
async function invocation(
  strategy: Strategy,
  start: number,
  rand: () => number,
  run: DriftRun,
): Promise<void> {
  for (let k = 0; k < TICKS_PER_MINUTE; k++) {
    if (k > 0 && strategy === 'absolute') await sleep(start + k * TICK_MS - performance.now());
    run.starts.push(performance.now());
    run.nominal.push(start + k * TICK_MS);
    await simulatedTick(rand);
    if (strategy === 'relative' && k < TICKS_PER_MINUTE - 1) await sleep(TICK_MS);
  }
}

/**
 * Runs `minutes` simulated minutes: a scheduler (a `setTimeout` to each minute boundary) starts one
 * invocation per minute; invocations run concurrently if one overruns its minute, as Lambda would.
 */
export async function measure(strategy: Strategy, minutes: number, seed = 7): Promise<DriftRun> {
  if (!Number.isInteger(minutes) || minutes < 1) {
    throw new RangeError(`minutes must be a positive integer, got ${minutes}`);
  }
  const rand = prng(seed);
  const run: DriftRun = { starts: [], nominal: [] };
  const t0 = performance.now() + 50;
  const invocations: Promise<void>[] = [];
  for (let m = 0; m < minutes; m++) {
    const minuteStart = t0 + m * MINUTE_MS;
    await sleep(minuteStart - performance.now());
    progress(`${strategy}: minute ${m + 1}/${minutes}`);
    invocations.push(invocation(strategy, performance.now(), rand, run));
  }
  await Promise.all(invocations);
  // ticks are recorded in start order (an invocation ends before the next minute); nominal times are
  // re-based on the scheduler's grid, not on the (slightly late) invocation start
  run.nominal = run.nominal.map((_, i) => t0 + i * TICK_MS);
  return run;
}

/** Lateness of each tick (ms) and the longest gap between consecutive tick starts (ms). */
export function summarize(run: DriftRun): { late: number[]; maxGap: number } {
  const late = run.starts.map((s, i) => s - (run.nominal[i] ?? s));
  let maxGap = 0;
  for (let i = 1; i < run.starts.length; i++) {
    maxGap = Math.max(maxGap, (run.starts[i] ?? 0) - (run.starts[i - 1] ?? 0));
  }
  return { late, maxGap };
}

export async function run(): Promise<Record<string, number>> {
  const minutes = Number(process.env.TICK_BENCH_MINUTES ?? '3');
  const abs = summarize(await measure('absolute', minutes));
  const rel = summarize(await measure('relative', minutes));
  return {
    ticks: abs.late.length,
    abs_max_late_ms: sig(Math.max(...abs.late)),
    abs_p50_late_ms: sig(median(abs.late)),
    abs_max_gap_ms: sig(abs.maxGap),
    rel_max_late_ms: sig(Math.max(...rel.late)),
    rel_p50_late_ms: sig(median(rel.late)),
    rel_max_gap_ms: sig(rel.maxGap),
  };
}
