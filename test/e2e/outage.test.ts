/**
 * The full engine across the 2023-03-24 Binance outage (80 missing minutes, 12:40 → 14:00): the clock
 * jumps over the gap with the last price held, and the ETH signal made inside the gap is acted on at the
 * first candle after it (14:00), as in the core replay.
 */
import { describe, expect, it } from 'vitest';
import { parseCliArgs, prepareRun } from '../../local/cli.js';
import { runCoreReplay } from '../../local/replay/engine.js';
import { compareReplays } from '../../local/runtime/differential.js';
import { runFullReplay } from '../../local/runtime/full-replay.js';

describe('full engine across the 2023-03-24 outage', () => {
  it('acts on the signal inside the gap at 14:00, holds the invariants and agrees with the core', async () => {
    const parsed = parseCliArgs([
      '--symbols',
      'ETH',
      '--from',
      '2023-03-24T12:00',
      '--to',
      '2023-03-24T16:00',
    ]);
    if (parsed.kind !== 'run') throw new Error(JSON.stringify(parsed));
    const prepared = await prepareRun(parsed.options);
    expect(prepared.run.gaps.get('ETH/USDT:USDT')).toEqual([
      { from: Date.UTC(2023, 2, 24, 12, 40), to: Date.UTC(2023, 2, 24, 14, 0) },
    ]);
    const full = await runFullReplay(prepared.input, { seed: 7 });
    const probe = full.trades.find((t) => t.signalId === 'probe-outage-gap')!;
    expect(probe.signalAt).toBe(Date.UTC(2023, 2, 24, 13, 0));
    const core = runCoreReplay(prepared.input);
    const coreProbe = core.trades.find((t) => t.signalId === 'probe-outage-gap')!;
    expect(probe.outcome).toBe(coreProbe.outcome);
    if (probe.entryFilledAt !== null) {
      expect(probe.entryFilledAt - Date.UTC(2023, 2, 24, 14, 0)).toBeGreaterThanOrEqual(0);
      expect(probe.entryFilledAt - Date.UTC(2023, 2, 24, 14, 0)).toBeLessThan(1000);
    }
    expect(full.invariants!.checks.filter((c) => !c.ok)).toEqual([]);
    expect(compareReplays(core, full)).toEqual([]);
    expect(full.summary.candles).toBe(core.summary.candles);
  }, 60_000);
});
