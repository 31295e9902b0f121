import { describe, expect, it } from 'vitest';
import { benchmarkNames } from '../../bench/run.js';
import { measureCore } from '../../bench/lib/core-loop.js';
import { median } from '../../bench/lib/progress.js';
import { BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE } from '../../local/paths.js';

describe('benchmarks', () => {
  it('are found by file name: core and replay, store when its file exists, never the runner or helpers', async () => {
    const names = await benchmarkNames();
    expect(names).toEqual(expect.arrayContaining(['core', 'replay']));
    expect(names).not.toContain('run');
    expect(names.some((n) => n.includes('/') || n === 'lib' || n === 'float-step')).toBe(false);
  });

  it('the float baseline makes exactly the decisions of the Decimal core on real prices', async () => {
    const m = await measureCore(
      { candlesDir: BUNDLED_CANDLES_DIR, marketsFile: BUNDLED_MARKETS_FILE },
      { positions: 1500, rounds: 30, passes: 1 },
    );
    expect(m.positions).toBe(1500);
    expect(m.actionsPerPass).toBeGreaterThan(100); // the path exercises levels, locks and trailing
    expect(m.decisionMismatches).toBe(0);
  });

  it('median takes the middle value or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/empty/);
  });
});
