/**
 * Replay benchmark (`npm run bench -- replay`): candles per second of the core replay (`runCoreReplay`)
 * over the default window of `npm start` (2023-03-20 → 2023-03-25, BTC, ETH, SOL, DOGE, bundled signals).
 *
 * Loading (candles, signals, configuration) is timed once and reported apart as `load_ms`. The replay then
 * runs 1 + 3 times on the same input: `cold_candles_per_second` is the first run (includes JIT warm-up),
 * `candles_per_second` the median of the other three. A candle is one symbol's 1-minute candle in the
 * window (each walked along its 4-point path).
 */
import os from 'node:os';
import { parseCliArgs, prepareRun } from '../local/cli.js';
import { runCoreReplay } from '../local/replay/engine.js';
import { median, progress, sig } from './lib/progress.js';

const MEASURED_RUNS = 3;

/** Runs the benchmark and returns its figures. */
export async function run(): Promise<Record<string, number | string>> {
  const parsed = parseCliArgs(['--quiet']);
  if (parsed.kind !== 'run') throw new Error(`default options did not parse: ${JSON.stringify(parsed)}`);
  progress('loading the default window');
  const t0 = performance.now();
  const prepared = await prepareRun(parsed.options);
  const loadMs = performance.now() - t0;
  progress(`loaded in ${loadMs.toFixed(0)} ms; cold run`);
  const cold = runCoreReplay(prepared.input);
  const candles = cold.summary.candles;
  const rates: number[] = [];
  const wall: number[] = [];
  for (let i = 1; i <= MEASURED_RUNS; i++) {
    const t = performance.now();
    const r = runCoreReplay(prepared.input);
    const ms = performance.now() - t;
    if (r.summary.candles !== candles || r.trades.length !== cold.trades.length) {
      throw new Error('the replay is not deterministic: runs on the same input differ');
    }
    wall.push(ms);
    rates.push(candles / (ms / 1000));
    progress(
      `run ${i}/${MEASURED_RUNS}: ${ms.toFixed(0)} ms, ${Math.round(candles / (ms / 1000))} candles/s`,
    );
  }
  return {
    candles,
    signals: cold.summary.signals,
    trades: cold.summary.trades,
    load_ms: sig(loadMs, 3),
    cold_candles_per_second: Math.round(candles / (cold.summary.wallMs / 1000)),
    candles_per_second: Math.round(median(rates)),
    replay_ms: sig(median(wall), 3),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
  };
}
