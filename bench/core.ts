/**
 * Core benchmark (`npm run bench -- core`): the per-tick work for 10,000 open trades.
 *
 * Setup (not timed): 10,000 positions opened with `openPosition` at real 1-minute closes (3-minute for OP)
 * of the bundled candles, spread over BTC, ETH, SOL, DOGE and OP, long and short, pct stops 0.6–1.5 %,
 * rr 1.5–3, leverage 10–20, sized to a 3.00 max loss. Each position then sees the next 30 real closes of
 * its symbol, one per round; each price is parsed once into a Decimal and a number, as a tick handler
 * does once per symbol for all its positions.
 *
 * Timed, per position per round: one `adjustStop` step, one `observeMilestones` check and one
 * `healthScoreValue` (entry and initial stop converted to numbers once, the stop whenever it changes).
 * The same loop on plain numbers (bench/lib/float-step.ts: the same rules, the same immutable-state
 * style) runs in the same process, interleaved pass by pass after a warm-up pass of each.
 *
 * Figures:
 * - `us_per_trade`: median over the measured rounds of (round time / positions), Decimal loop, run as
 *   `npm run bench` runs it (tsx, whose esbuild transform keeps function names: every closure created
 *   in a hot function also pays a `__name` call);
 * - `us_per_trade_float`, `ratio_vs_float`: the float loop and Decimal / float;
 * - `us_per_trade_bundled`, `ratio_vs_float_bundled`: the same measurement on an esbuild bundle of the
 *   loop without kept names, as a Lambda bundle runs it;
 * - `decision_mismatches`: positions whose final state differs between the Decimal and float loops.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE, REPO_ROOT } from '../local/paths.js';
import type { CoreMeasurement, FixtureSource } from './lib/core-loop.js';
import { measureCore } from './lib/core-loop.js';
import { progress, sig } from './lib/progress.js';

/** Bundles bench/lib/core-loop.ts (dependencies included, names not kept) and runs its measurement. */
async function measureBundled(source: FixtureSource): Promise<CoreMeasurement> {
  const dir = await mkdtemp(join(os.tmpdir(), 'tradewarden-bench-'));
  try {
    const outfile = join(dir, 'core-loop.mjs');
    await build({
      entryPoints: [join(REPO_ROOT, 'bench', 'lib', 'core-loop.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: `node${process.versions.node}`,
      outfile,
      keepNames: false,
      logLevel: 'error',
    });
    const mod = (await import(pathToFileURL(outfile).href)) as { measureCore: typeof measureCore };
    return await mod.measureCore(source, { log: (line) => progress(`bundled: ${line}`) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the benchmark and returns its figures. */
export async function run(): Promise<Record<string, number | string>> {
  const source: FixtureSource = { candlesDir: BUNDLED_CANDLES_DIR, marketsFile: BUNDLED_MARKETS_FILE };
  progress('building the positions from the bundled candles (tsx)');
  const asRun = await measureCore(source, { log: (line) => progress(`tsx: ${line}`) });
  progress('bundling the loop with esbuild (no kept names)');
  const bundled = await measureBundled(source);
  return {
    positions: asRun.positions,
    rounds: asRun.rounds,
    measured_passes: asRun.passes,
    us_per_trade: sig(asRun.usPerTrade),
    us_per_trade_float: sig(asRun.usPerTradeFloat),
    ratio_vs_float: sig(asRun.usPerTrade / asRun.usPerTradeFloat, 3),
    us_per_trade_bundled: sig(bundled.usPerTrade),
    us_per_trade_float_bundled: sig(bundled.usPerTradeFloat),
    ratio_vs_float_bundled: sig(bundled.usPerTrade / bundled.usPerTradeFloat, 3),
    actions_per_pass: asRun.actionsPerPass,
    decision_mismatches: Math.max(asRun.decisionMismatches, bundled.decisionMismatches),
    target_us_per_trade: 2,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
  };
}
