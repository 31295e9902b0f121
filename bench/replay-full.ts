/**
 * Full-engine replay benchmark (`npm run bench -- replay-full`): how fast `--engine full` (the serverless
 * engine on dynalite, local-aws-sqs and the local Step Functions, on the simulated clock) replays the
 * default window of `npm start` (2023-03-20 → 2023-03-25, BTC, ETH, SOL, DOGE, bundled signals), and its
 * ratio to `--engine core` measured in the same process on the same input.
 *
 * Figures: `sim_minutes_per_second` = minutes of the window / wall seconds of the full replay (idle minutes
 * are skipped by the clock, so they count but cost little); `active_sim_minutes_per_second` = the minutes in
 * which the engine ran (workers scheduled) / wall seconds; `core_sim_minutes_per_second` the same window
 * through the core (median of 3 runs after a cold one); `core_to_full_ratio` = core rate / full rate.
 */
import os from 'node:os';
import { parseCliArgs, prepareRun } from '../local/cli.js';
import { runCoreReplay } from '../local/replay/engine.js';
import { runFullReplay } from '../local/runtime/full-replay.js';
import { median, progress, sig } from './lib/progress.js';

/** Runs the benchmark and returns its figures. */
export async function run(): Promise<Record<string, number | string>> {
  const parsed = parseCliArgs(['--quiet']);
  if (parsed.kind !== 'run') throw new Error(`default options did not parse: ${JSON.stringify(parsed)}`);
  const prepared = await prepareRun(parsed.options);
  const { from, to } = parsed.options;
  const windowMinutes = (to - from) / 60_000;
  progress('core: cold run and 3 measured runs');
  runCoreReplay(prepared.input);
  const coreMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    runCoreReplay(prepared.input);
    coreMs.push(performance.now() - t);
  }
  progress(`core: ${median(coreMs).toFixed(0)} ms; full engine (about 1.5 minutes)`);
  let last = 0;
  const t = performance.now();
  const full = await runFullReplay({
    ...prepared.input,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct >= last + 10) {
        last = pct;
        progress(`full: ${pct} % of the candles`);
      }
    },
  });
  const fullMs = performance.now() - t;
  const fullRate = windowMinutes / (fullMs / 1000);
  const coreRate = windowMinutes / (median(coreMs) / 1000);
  return {
    window_minutes: windowMinutes,
    active_minutes: full.costModel?.activeMinutes ?? 0,
    trades: full.summary.trades,
    full_ms: sig(fullMs, 4),
    sim_minutes_per_second: sig(fullRate, 4),
    active_sim_minutes_per_second: sig((full.costModel?.activeMinutes ?? 0) / (fullMs / 1000), 4),
    core_ms: sig(median(coreMs), 3),
    core_sim_minutes_per_second: sig(coreRate, 4),
    core_to_full_ratio: sig(coreRate / fullRate, 4),
    invariants_ok: full.invariants?.ok === true ? 'yes' : 'no',
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
  };
}
