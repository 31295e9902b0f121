import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.js';
import { parseSignal, type Signal } from '../../functions/core/signal.js';
import type { Candle } from '../../functions/core/types.js';
import { listCandleFiles, loadCandleFile } from '../../local/market-data.js';
import {
  BUNDLED_CANDLES_DIR,
  BUNDLED_MARKETS_FILE,
  BUNDLED_SIGNALS_FILE,
  DEFAULT_CONFIG_FILE,
} from '../../local/paths.js';
import { parseCliArgs, prepareRun } from '../../local/cli.js';
import { runCoreReplay } from '../../local/replay/engine.js';
import { makeSampleSignals, renderSignals } from '../../local/tools/make-sample-signals.js';

const WEEK_MS = 7 * 86_400_000;
let raw: unknown[];
let signals: Signal[];
const candles = new Map<string, Candle[]>();

beforeAll(async () => {
  raw = JSON.parse(await readFile(BUNDLED_SIGNALS_FILE, 'utf8')) as unknown[];
  signals = raw.map((r, i) => {
    const p = parseSignal(r);
    if (!p.ok) throw new Error(`signal [${i}] does not parse: ${p.errors.join('; ')}`);
    return p.signal;
  });
  for (const f of await listCandleFiles(BUNDLED_CANDLES_DIR))
    candles.set(f.symbol, (await loadCandleFile(f.path)).candles);
});

/** The candle that closes at `at`, or (inside a data gap) the last one that closed before it. */
function candleClosingBy(symbol: string, at: number): Candle | undefined {
  const list = candles.get(symbol)!;
  let found: Candle | undefined;
  for (const c of list) {
    if (c.openTime + c.intervalMs > at) break;
    found = c;
  }
  return found;
}

const num = (s: Signal, f: (s: Signal) => unknown): number => Number(String(f(s)));
const breakouts = () => signals.filter((s) => s.tags?.includes('breakout'));

describe('bundled sample signals', () => {
  it('all parse, with unique ids, for account demo on the paper exchange', () => {
    expect(signals.length).toBe(raw.length);
    expect(new Set(signals.map((s) => s.signalId)).size).toBe(signals.length);
    expect(
      signals.every((s) => s.accountId === 'demo' && s.exchange === 'paper' && s.entry.type === 'market'),
    ).toBe(true);
  });

  it('are sorted by time and all lie within the bundled data of their symbol', () => {
    const times = signals.map((s) => Date.parse(s.at!));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const s of signals) {
      const list = candles.get(s.symbol);
      expect(list, s.symbol).toBeDefined();
      const at = Date.parse(s.at!);
      expect(at, s.signalId).toBeGreaterThan(list![0]!.openTime);
      expect(at, s.signalId).toBeLessThan(list![list!.length - 1]!.openTime);
    }
  });

  it('carry the close of the candle that ends at their time as their price', () => {
    for (const s of signals) {
      const at = Date.parse(s.at!);
      const c = candleClosingBy(s.symbol, at)!;
      if (s.signalId !== 'probe-outage-gap') expect(c.openTime + c.intervalMs, s.signalId).toBe(at);
      expect(s.price?.toFixed(), s.signalId).toBe(c.close.toFixed());
    }
  });

  it('have 6–12 breakout signals per symbol per week over the bundled range, long and short', () => {
    for (const [symbol, list] of candles) {
      const weeks = (list[list.length - 1]!.openTime - list[0]!.openTime) / WEEK_MS;
      const mine = breakouts().filter((s) => s.symbol === symbol);
      const perWeek = mine.length / weeks;
      expect(perWeek, symbol).toBeGreaterThanOrEqual(6);
      expect(perWeek, symbol).toBeLessThanOrEqual(12);
      expect(mine.some((s) => s.side === 'long') && mine.some((s) => s.side === 'short'), symbol).toBe(true);
    }
  });

  it('use all three stop kinds within the documented ranges, on the right side of the price', () => {
    const kinds = new Set(signals.map((s) => Object.keys(s.stop)[0]));
    expect([...kinds].sort()).toEqual(['atrMultiple', 'pct', 'price']);
    for (const s of signals) {
      const stop = s.stop;
      if ('pct' in stop) expect(stop.pct.gte('0.6') && stop.pct.lte('1.5'), s.signalId).toBe(true);
      else if ('atrMultiple' in stop)
        expect(stop.atrMultiple.gte('1.5') && stop.atrMultiple.lte('3'), s.signalId).toBe(true);
      else {
        const distance = stop.price.minus(s.price!).div(s.price!).mul(100).abs();
        expect(s.side === 'long' ? stop.price.lt(s.price!) : stop.price.gt(s.price!), s.signalId).toBe(true);
        expect(distance.gte('0.6') && distance.lte('1.5'), `${s.signalId} ${distance.toFixed()}`).toBe(true);
      }
    }
  });

  it('risk 3.00 (riskAmount "3" or riskPct "0.03" of 10,000) with rr 1.5–3 and leverage 10–20', () => {
    for (const s of signals) {
      expect(s.riskAmount?.toFixed() ?? `pct ${s.riskPct?.toFixed()}`, s.signalId).toMatch(/^(3|pct 0\.03)$/);
      expect(
        num(s, (x) => x.rr),
        s.signalId,
      ).toBeGreaterThanOrEqual(1.5);
      expect(
        num(s, (x) => x.rr),
        s.signalId,
      ).toBeLessThanOrEqual(3);
      expect(s.leverage, s.signalId).toBeGreaterThanOrEqual(10);
      expect(s.leverage, s.signalId).toBeLessThanOrEqual(20);
    }
    expect(signals.some((s) => s.riskPct !== undefined)).toBe(true);
  });

  it('include the risk-gate probes: 7 signals at one moment, a re-entry inside the cooldown, one in the outage', () => {
    const maxOpen = signals.filter((s) => s.tags?.includes('probe:max-open-trades'));
    expect(maxOpen).toHaveLength(7);
    expect(new Set(maxOpen.map((s) => s.at)).size).toBe(1);
    // Four symbols, three of them twice: more than maxOpenTrades (3) symbols, and repeated symbols.
    expect(new Set(maxOpen.map((s) => s.symbol)).size).toBe(4);
    const [stopped, again] = signals.filter((s) => s.tags?.includes('probe:cooldown'));
    expect(stopped!.symbol).toBe(again!.symbol);
    expect(Date.parse(again!.at!) - Date.parse(stopped!.at!)).toBeLessThan(90 * 60_000);
    const outage = signals.find((s) => s.signalId === 'probe-outage-gap')!;
    expect(outage.at).toBe('2023-03-24T13:00:00.000Z');
    expect(candles.get(outage.symbol)!.some((c) => c.openTime === Date.parse(outage.at!))).toBe(false);
  });

  it('are exactly what the committed generator produces from the bundled candles', async () => {
    const text = await renderSignals(await makeSampleSignals(BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE));
    expect(text).toBe(await readFile(BUNDLED_SIGNALS_FILE, 'utf8'));
  });
});

describe('default configuration', () => {
  it('parses: account demo on paper, equity 10000, max loss 3.00 per trade, at most 3 open trades, the rest defaults', async () => {
    const config = parseConfig(JSON.parse(await readFile(DEFAULT_CONFIG_FILE, 'utf8')));
    expect([...config.accounts.keys()]).toEqual(['demo']);
    const demo = config.accounts.get('demo')!;
    expect(demo.exchange).toBe('paper');
    expect(demo.equity?.toFixed()).toBe('10000');
    expect(demo.options.risk.maxLossPerTrade?.toFixed(2)).toBe('3.00');
    expect(demo.options.risk.maxOpenTrades).toBe(3);
    expect(demo.options.risk.cooldownAfterStopOutMinutes).toBe(15);
    expect(demo.options.fees.takerRate.toFixed()).toBe('0.0005');
    expect(demo.options.fees.makerRate.toFixed()).toBe('0.0002');
  });
});

describe('the max-open-trades probes with the default configuration (core replay of 2023-03-21)', () => {
  it('open BTC, DOGE, ETH; BTC and ETH again are SYMBOL_BUSY; SOL twice is MAX_OPEN_TRADES', async () => {
    const parsed = parseCliArgs([
      '--quiet',
      '--symbols',
      'BTC,ETH,SOL,DOGE',
      '--from',
      '2023-03-21',
      '--to',
      '2023-03-22',
    ]);
    if (parsed.kind !== 'run') throw new Error(`unexpected parse result ${parsed.kind}`);
    const result = runCoreReplay((await prepareRun(parsed.options)).input);
    const probes = result.trades.filter((t) => t.signalId.startsWith('probe-maxopen-'));
    const outcomes = Object.fromEntries(
      probes.map((t) => [
        t.signalId.slice('probe-maxopen-'.length),
        t.statusReason?.split(':')[0] ?? t.outcome,
      ]),
    );
    expect(outcomes).toEqual({
      '1': 'TRADED',
      '2': 'TRADED',
      '3': 'MAX_OPEN_TRADES',
      '4': 'TRADED',
      '5': 'SYMBOL_BUSY',
      '6': 'SYMBOL_BUSY',
      '7': 'MAX_OPEN_TRADES',
    });
    expect(probes.find((t) => t.signalId === 'probe-maxopen-5')!.statusReason).toBe(
      'SYMBOL_BUSY: BTC/USDT:USDT already has open trade demo.probe-maxopen-1 (LIVE): one trade per account and symbol',
    );
    expect(probes.find((t) => t.signalId === 'probe-maxopen-7')!.statusReason).toBe(
      'MAX_OPEN_TRADES: 3 open trades, the limit is 3',
    );
  });
});
