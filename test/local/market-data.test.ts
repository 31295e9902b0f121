import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listCandleFiles,
  loadCandleDir,
  loadCandleFile,
  loadMarkets,
  MarketDataError,
  parseCandleFileName,
  parseMarkets,
  shortSymbol,
  toUnifiedSymbol,
} from '../../local/market-data.js';
import { BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE } from '../../local/paths.js';

const MIN = 60_000;
const T0 = Date.UTC(2023, 2, 20, 0, 0); // 1679270400000
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'tw-market-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a candle file from rows [minute offset, o, h, l, c, v]; gzips when the name ends in .gz. */
async function candleFile(
  name: string,
  rows: (string | number)[][],
  opts: { header?: boolean; step?: number } = {},
) {
  const step = opts.step ?? MIN;
  const lines = rows.map(([m, ...rest]) => [T0 + Number(m) * step, ...rest].join(','));
  if (opts.header !== false) lines.unshift('timestamp,open,high,low,close,volume');
  const text = `${lines.join('\n')}\n`;
  const path = join(dir, name);
  await writeFile(path, name.endsWith('.gz') ? gzipSync(text) : text);
  return path;
}

const row = (m: number, close = '100.5'): (string | number)[] => [m, '100', '101.25', '99.5', close, '12.5'];

describe('file names and symbols', () => {
  it('reads exchange, pair, interval and compression from a candle file name', () => {
    expect(parseCandleFileName('data/candles/binance_BTC-USDT_1m.csv.gz')).toEqual({
      exchange: 'binance',
      base: 'BTC',
      quote: 'USDT',
      symbol: 'BTC/USDT:USDT',
      interval: '1m',
      intervalMs: 60_000,
      gzip: true,
    });
    expect(parseCandleFileName('binance_OP-USDT_3m.csv')).toMatchObject({
      symbol: 'OP/USDT:USDT',
      intervalMs: 180_000,
      gzip: false,
    });
    expect(parseCandleFileName('ETH-USDT_1h.csv')).toMatchObject({ exchange: null, intervalMs: 3_600_000 });
  });

  it('rejects names without a pair or an interval', () => {
    expect(parseCandleFileName('BTC_1m.csv')).toBeNull();
    expect(parseCandleFileName('binance_BTC-USDT.csv')).toBeNull();
    expect(parseCandleFileName('binance_BTC-USDT_1m.json')).toBeNull();
    expect(parseCandleFileName('binance_BTC-USDT_0m.csv')).toBeNull();
  });

  it('maps short names, pairs and unified symbols to the linear perpetual', () => {
    expect(toUnifiedSymbol('BTC')).toBe('BTC/USDT:USDT');
    expect(toUnifiedSymbol(' doge ')).toBe('DOGE/USDT:USDT');
    expect(toUnifiedSymbol('ETH-USDT')).toBe('ETH/USDT:USDT');
    expect(toUnifiedSymbol('SOL/USDT:USDT')).toBe('SOL/USDT:USDT');
    expect(toUnifiedSymbol('OP', 'USDC')).toBe('OP/USDC:USDC');
  });

  it('rejects spot, inverse and malformed symbols with the reason', () => {
    expect(() => toUnifiedSymbol('BTC/USDT')).toThrow(/spot symbol.*BTC\/USDT:USDT/);
    expect(() => toUnifiedSymbol('BTC/USD:BTC')).toThrow(/not a linear perpetual/);
    expect(() => toUnifiedSymbol('')).toThrow(/not a symbol/);
    expect(() => toUnifiedSymbol('BTC USDT')).toThrow(/not a symbol/);
  });

  it('shortens a unified symbol to its base', () => {
    expect(shortSymbol('DOGE/USDT:USDT')).toBe('DOGE');
  });
});

describe('loadCandleFile', () => {
  it('streams a gzip file into Decimal candles with the interval from the name', async () => {
    const path = await candleFile('x_BTC-USDT_1m.csv.gz', [row(0), row(1, '101'), row(2)]);
    const r = await loadCandleFile(path);
    expect(r.symbol).toBe('BTC/USDT:USDT');
    expect(r.intervalMs).toBe(60_000);
    expect(r.candles.map((c) => c.openTime)).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
    const c = r.candles[1]!;
    expect(c.intervalMs).toBe(60_000);
    expect(c.open.toFixed()).toBe('100');
    expect(c.high.toFixed()).toBe('101.25');
    expect(c.low.toFixed()).toBe('99.5');
    expect(c.close.toFixed()).toBe('101');
    expect(c.volume.toFixed()).toBe('12.5');
    expect(r.gaps).toEqual([]);
  });

  it('reads a plain CSV without a header line', async () => {
    const path = await candleFile('x_ETH-USDT_1m.csv', [row(0), row(1)], { header: false });
    const r = await loadCandleFile(path);
    expect(r.candles).toHaveLength(2);
    expect(r.symbol).toBe('ETH/USDT:USDT');
  });

  it('keeps missing minutes missing and reports them as a gap', async () => {
    const path = await candleFile('gap_BTC-USDT_1m.csv.gz', [row(0), row(1), row(2), row(5), row(6)]);
    const r = await loadCandleFile(path);
    expect(r.candles.map((c) => (c.openTime - T0) / MIN)).toEqual([0, 1, 2, 5, 6]);
    expect(r.gaps).toEqual([{ from: T0 + 3 * MIN, to: T0 + 5 * MIN }]);
  });

  it('filters to [from, to): from inclusive, to exclusive', async () => {
    const path = await candleFile(
      'win_BTC-USDT_1m.csv',
      [0, 1, 2, 3, 4, 5].map((m) => row(m)),
    );
    const r = await loadCandleFile(path, { from: T0 + MIN, to: T0 + 4 * MIN });
    expect(r.candles.map((c) => (c.openTime - T0) / MIN)).toEqual([1, 2, 3]);
  });

  it('limits gaps to the window: a gap across the start is clipped, one at the end is reported', async () => {
    const path = await candleFile('clip_BTC-USDT_1m.csv', [row(0), row(4), row(5), row(9)]);
    const r = await loadCandleFile(path, { from: T0 + 2 * MIN, to: T0 + 8 * MIN });
    expect(r.candles.map((c) => (c.openTime - T0) / MIN)).toEqual([4, 5]);
    expect(r.gaps).toEqual([
      { from: T0 + 2 * MIN, to: T0 + 4 * MIN },
      { from: T0 + 6 * MIN, to: T0 + 8 * MIN },
    ]);
  });

  it('does not call the span before the first or after the last candle a gap', async () => {
    const path = await candleFile('edge_BTC-USDT_1m.csv', [row(3), row(4)]);
    const r = await loadCandleFile(path, { from: T0, to: T0 + 10 * MIN });
    expect(r.candles).toHaveLength(2);
    expect(r.gaps).toEqual([]);
  });

  it('names the file and the line of a malformed candle', async () => {
    const path = await candleFile('bad_BTC-USDT_1m.csv', [row(0), row(1), [2, '100', 'x', '99', '100', '1']]);
    const err = await loadCandleFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MarketDataError);
    expect((err as MarketDataError).line).toBe(4);
    expect((err as MarketDataError).message).toContain(`${path}:4: malformed candle`);
  });

  it('rejects a line with a missing field', async () => {
    const path = await candleFile('short_BTC-USDT_1m.csv', [row(0), [1, '100', '101', '99', '100']]);
    await expect(loadCandleFile(path)).rejects.toThrow(`${path}:3: malformed candle`);
  });

  it('rejects an empty line inside the file', async () => {
    const path = join(dir, 'blank_BTC-USDT_1m.csv');
    await writeFile(path, `${T0},1,1,1,1,1\n\n${T0 + MIN},1,1,1,1,1\n`);
    await expect(loadCandleFile(path)).rejects.toThrow(`${path}:2: empty line`);
  });

  it('rejects timestamps off the grid the file name implies', async () => {
    const path = await candleFile('grid_OP-USDT_3m.csv', [row(0), row(1)], { step: MIN });
    await expect(loadCandleFile(path)).rejects.toThrow(/:3: timestamp \d+ is not on the 3m grid/);
  });

  it('rejects timestamps that are not ascending', async () => {
    const path = await candleFile('order_BTC-USDT_1m.csv', [row(0), row(2), row(1)]);
    await expect(loadCandleFile(path)).rejects.toThrow(/:4: timestamp \d+ is not after the previous one/);
  });

  it('rejects a candle whose low is above its close', async () => {
    const path = await candleFile('ohlc_BTC-USDT_1m.csv', [row(0), [1, '100', '101', '100.5', '100.2', '1']]);
    await expect(loadCandleFile(path)).rejects.toThrow(/:3: inconsistent candle/);
  });

  it('reports a corrupt gzip file by name', async () => {
    const path = join(dir, 'corrupt_BTC-USDT_1m.csv.gz');
    await writeFile(path, 'not gzip at all');
    await expect(loadCandleFile(path)).rejects.toThrow(new RegExp(`^${path}.*cannot read \\(gzip\\)`));
  });

  it('reports a missing file and a file name it cannot interpret', async () => {
    await expect(loadCandleFile(join(dir, 'none_BTC-USDT_1m.csv'))).rejects.toThrow(/cannot read: ENOENT/);
    await expect(loadCandleFile(join(dir, 'btc.csv'))).rejects.toThrow(/file name must look like/);
  });
});

describe('bundled candles', () => {
  it('keeps the real 2023-03-24 Binance outage: 80 missing minutes, halted flat candles kept', async () => {
    const from = Date.UTC(2023, 2, 24, 12, 0);
    const to = Date.UTC(2023, 2, 24, 15, 0);
    const r = await loadCandleFile(join(BUNDLED_CANDLES_DIR, 'binance_BTC-USDT_1m.csv.gz'), { from, to });
    expect(r.gaps).toEqual([{ from: Date.UTC(2023, 2, 24, 12, 40), to: Date.UTC(2023, 2, 24, 14, 0) }]);
    expect(r.candles).toHaveLength(40 + 60);
    expect(r.candles.some((c) => c.openTime >= r.gaps[0]!.from && c.openTime < r.gaps[0]!.to)).toBe(false);
    const halted = r.candles.find((c) => c.openTime === Date.UTC(2023, 2, 24, 12, 0))!;
    expect(halted.volume.isZero()).toBe(true);
    expect(halted.high.eq(halted.low)).toBe(true);
  });

  it('has the OP 3-minute candles of the 10 Oct 2025 crash', async () => {
    const r = await loadCandleFile(join(BUNDLED_CANDLES_DIR, 'binance_OP-USDT_3m.csv.gz'), {
      from: Date.UTC(2025, 9, 10, 21, 0),
      to: Date.UTC(2025, 9, 10, 22, 0),
    });
    expect(r.intervalMs).toBe(180_000);
    expect(r.candles).toHaveLength(20);
    const low = r.candles.reduce((m, c) => (c.low.lt(m) ? c.low : m), r.candles[0]!.low);
    expect(low.toFixed()).toBe('0.1625');
  });

  it('lists one file per symbol in the bundled directory', async () => {
    const files = await listCandleFiles(BUNDLED_CANDLES_DIR);
    expect(files.map((f) => f.symbol)).toEqual([
      'BTC/USDT:USDT',
      'DOGE/USDT:USDT',
      'ETH/USDT:USDT',
      'OP/USDT:USDT',
      'SOL/USDT:USDT',
    ]);
  });

  it('loads 4 symbols × 1 week: every minute of the window, one file per symbol', async () => {
    // Loading speed is measured by `npm run bench -- replay` (load_ms), not asserted here.
    const symbols = ['BTC', 'ETH', 'SOL', 'DOGE'].map((s) => toUnifiedSymbol(s));
    const window = { from: Date.UTC(2023, 3, 3), to: Date.UTC(2023, 3, 10) };
    const loaded = await loadCandleDir(BUNDLED_CANDLES_DIR, symbols, window);
    expect([...loaded.values()].map((l) => l.candles.length)).toEqual([10_080, 10_080, 10_080, 10_080]);
  });

  it('names the symbols a directory has no file for', async () => {
    await expect(loadCandleDir(BUNDLED_CANDLES_DIR, ['XRP/USDT:USDT'])).rejects.toThrow(
      /no candle file for XRP\/USDT:USDT \(available: BTC\/USDT:USDT, DOGE/,
    );
  });
});

describe('markets', () => {
  it('parses the bundled trading rules as Decimals', async () => {
    const m = await loadMarkets(BUNDLED_MARKETS_FILE);
    expect(Object.keys(m).sort()).toEqual([
      'BTC/USDT:USDT',
      'DOGE/USDT:USDT',
      'ETH/USDT:USDT',
      'OP/USDT:USDT',
      'SOL/USDT:USDT',
    ]);
    const btc = m['BTC/USDT:USDT']!;
    expect([btc.tickSize, btc.lotStep, btc.minQty, btc.minNotional].map((d) => d.toFixed())).toEqual([
      '0.1',
      '0.001',
      '0.001',
      '100',
    ]);
    expect(btc.maxLeverage).toBe(125);
    const doge = m['DOGE/USDT:USDT']!;
    expect([doge.tickSize.toFixed(), doge.lotStep.toFixed(), doge.minNotional.toFixed()]).toEqual([
      '0.00001',
      '1',
      '5',
    ]);
    const op = m['OP/USDT:USDT']!;
    expect([op.tickSize.toFixed(), op.lotStep.toFixed(), op.minNotional.toFixed()]).toEqual([
      '0.0001',
      '0.1',
      '5',
    ]);
    expect(m['ETH/USDT:USDT']!.minNotional.toFixed()).toBe('20');
    expect(m['SOL/USDT:USDT']!.lotStep.toFixed()).toBe('1');
  });

  it('rejects bad rules, naming the symbol and the field', () => {
    expect(() =>
      parseMarkets({
        'BTC/USDT:USDT': { tickSize: '-0.1', lotStep: '0.001', minQty: '0', minNotional: '5' },
      }),
    ).toThrow(/BTC\/USDT:USDT\.tickSize: must not be negative/);
    expect(() =>
      parseMarkets({ BTCUSDT: { tickSize: '0.1', lotStep: '0.001', minQty: '0', minNotional: '5' } }),
    ).toThrow(/unified perpetual symbols/);
    expect(() =>
      parseMarkets({
        'BTC/USDT:USDT': { tickSize: '0.1', lotStep: '0.001', minQty: '0', minNotional: '5', tick: 1 },
      }),
    ).toThrow(/tick/);
  });
});
