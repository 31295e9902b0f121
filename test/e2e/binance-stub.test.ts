/**
 * The full engine with `--exchange binanceusdm-stub`: every handler talks to the real ccxt `binanceusdm`
 * client, whose requests go to the local Binance USD-M protocol stub backed by the paper exchange. The trade
 * must come out as with the paper exchange behind the port, with every invariant held.
 */
import { describe, expect, it } from 'vitest';
import { parseCliArgs, prepareRun } from '../../local/cli.js';
import { runCoreReplay } from '../../local/replay/engine.js';
import { runFullReplay } from '../../local/runtime/full-replay.js';

describe('full engine through real ccxt and the Binance protocol stub', () => {
  it('trails and exits the BTC short as the core does, every invariant held but reconciledClean (known race)', async () => {
    const parsed = parseCliArgs([
      '--exchange',
      'binanceusdm-stub',
      '--symbols',
      'BTC',
      '--from',
      '2023-03-20T02:00',
      '--to',
      '2023-03-20T06:00',
    ]);
    if (parsed.kind !== 'run') throw new Error(JSON.stringify(parsed));
    const prepared = await prepareRun(parsed.options);
    const viaCcxt = await runFullReplay(prepared.input, { exchange: 'binanceusdm-stub' });
    // reconciledClean is left out here: through real HTTP I/O the old stop can fill while the stop manager
    // replaces it, which leaves the trade LIVE with an orphaned new stop until reconciliation (on AWS the
    // scheduled reconciler applies and settles it; docs/replay.md, "Through real ccxt").
    expect(viaCcxt.invariants!.checks.filter((c) => !c.ok && c.name !== 'reconciledClean')).toEqual([]);
    const trade = viaCcxt.trades.find((t) => t.signalId === 'BTC-20230320T0245-short')!;
    expect(trade.outcome).toBe('TRADED');
    expect(trade.exitReason).toBe('TRAILING_STOP');
    expect(trade.stops.filter((s) => s.reason === 'TRAILING').length).toBeGreaterThan(0);
    // Against the core: the same entry and exit; the core's stops come first and in order. Real HTTP I/O
    // through the stub can let a worker read the next path price of the candle (docs/replay.md), which may add
    // a trailing step — always tighter, never looser.
    const core = runCoreReplay(prepared.input).trades.find((t) => t.signalId === trade.signalId)!;
    expect(trade.entryPrice!.toFixed()).toBe(core.entryPrice!.toFixed());
    expect(trade.exitReason).toBe(core.exitReason);
    expect(trade.exitPrice!.minus(core.exitPrice!).abs().div(core.exitPrice!).lte('0.005')).toBe(true);
    expect(trade.stops.slice(0, core.stops.length).map((x) => x.price.toFixed())).toEqual(
      core.stops.map((x) => x.price.toFixed()),
    );
    const prices = trade.stops.map((x) => x.price);
    for (let i = 1; i < prices.length; i++) expect(prices[i]!.lte(prices[i - 1]!)).toBe(true); // a short's stop only falls
  }, 90_000);
});
