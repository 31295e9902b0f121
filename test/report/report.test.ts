/**
 * report.html: the generator's pieces (aggregation, storage resolution, equity curve, input checks,
 * escaping) and the page itself, opened from disk in headless Chromium with every network request
 * blocked: it must load without console or page errors and draw its charts.
 *
 * Chromium is Debian's `chromium` package at /usr/bin/chromium (installed by .ci/run); without it the
 * browser test fails rather than skips.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import type { Candle } from '../../functions/core/types.js';
import { parseCliArgs, prepareRun } from '../../local/cli.js';
import { runCoreReplay } from '../../local/replay/engine.js';
import { type ResultsFile, serializeResults } from '../../local/replay/results.js';
import {
  aggregateCandles,
  buildReportData,
  equityCurve,
  renderReport,
  writeReport,
} from '../../local/report/report.js';

const CHROMIUM = '/usr/bin/chromium';
const MIN = 60_000;

function candle(openTime: number, o: string, h: string, l: string, c: string, v = '1'): Candle {
  return {
    openTime,
    intervalMs: MIN,
    open: D(o),
    high: D(h),
    low: D(l),
    close: D(c),
    volume: D(v),
  };
}

/** A short real run: BTC and ETH, 2023-03-20, the bundled signals (5 trades, 1 skipped signal). */
async function shortRun(): Promise<{ doc: ResultsFile; candles: ReadonlyMap<string, readonly Candle[]> }> {
  const parsed = parseCliArgs(['--symbols', 'BTC,ETH', '--from', '2023-03-20', '--to', '2023-03-21']);
  if (parsed.kind !== 'run') throw new Error(`unexpected parse result ${parsed.kind}`);
  const prepared = await prepareRun(parsed.options);
  const result = runCoreReplay(prepared.input);
  return { doc: serializeResults(result, prepared.run), candles: prepared.input.candles };
}

let run: Awaited<ReturnType<typeof shortRun>>;
let dir: string;

beforeAll(async () => {
  run = await shortRun();
  dir = await mkdtemp(join(os.tmpdir(), 'tw-report-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('aggregateCandles', () => {
  it('merges 1-minute candles into 5-minute OHLC buckets aligned to the epoch, keeping gaps', () => {
    const t = Date.UTC(2023, 2, 20, 10, 3);
    const list = [
      candle(t, '100', '101', '99.5', '100.5', '2'), // 10:03 → bucket 10:00
      candle(t + MIN, '100.5', '102', '100', '101.8', '3'), // 10:04 → 10:00
      candle(t + 2 * MIN, '101.8', '101.9', '98.7', '99', '1'), // 10:05 → 10:05
      candle(t + 9 * MIN, '99', '99.4', '98.9', '99.2', '4'), // 10:12 → 10:10 (10:06–10:11 missing)
    ];
    const out = aggregateCandles(list, 5 * MIN);
    expect(out.map((c) => new Date(c.openTime).toISOString().slice(11, 16))).toEqual([
      '10:00',
      '10:05',
      '10:10',
    ]);
    expect(out.map((c) => [c.open, c.high, c.low, c.close, c.volume].map((d) => d.toFixed()))).toEqual([
      ['100', '102', '99.5', '101.8', '5'],
      ['101.8', '101.9', '98.7', '99', '1'],
      ['99', '99.4', '98.9', '99.2', '4'],
    ]);
    expect(out.every((c) => c.intervalMs === 5 * MIN)).toBe(true);
  });

  it('rejects a bucket that is not a multiple of the candle interval, and unordered candles', () => {
    expect(() => aggregateCandles([candle(0, '1', '1', '1', '1')], 90_000)).toThrow(
      /cannot aggregate 60000 ms candles into 90000 ms buckets/,
    );
    expect(() => aggregateCandles([], 0)).toThrow(/positive whole number/);
    expect(() =>
      aggregateCandles([candle(10 * MIN, '1', '1', '1', '1'), candle(0, '1', '1', '1', '1')], 5 * MIN),
    ).toThrow(/not in ascending order/);
  });
});

describe('buildReportData', () => {
  it('stores the window at the source resolution when it fits the budget', () => {
    const data = buildReportData(run.doc, run.candles);
    const btc = data.candles['BTC/USDT:USDT']!;
    expect(btc.intervalMs).toBe(MIN);
    expect(btc.sourceIntervalMs).toBe(MIN);
    expect(btc.t0).toBe(Date.UTC(2023, 2, 20));
    expect(btc.dt.length).toBe(1440); // the warm-up before the window is left out
    expect(btc.o.length).toBe(1440);
    expect(btc.precision).toBe(2);
    expect(data.title).toBe('Tradewarden replay 2023-03-20 00:00 → 2023-03-21 00:00 UTC · BTC, ETH');
  });

  it('aggregates to the smallest resolution that fits maxCandles', () => {
    const data = buildReportData(run.doc, run.candles, { maxCandles: 1000 });
    // 2 × 1440 one-minute candles: 3m gives 960 ≤ 1000.
    expect(data.candles['BTC/USDT:USDT']!.intervalMs).toBe(3 * MIN);
    expect(data.candles['ETH/USDT:USDT']!.dt.length).toBe(480);
  });

  it('rejects missing candles, a bad budget and a document that is not results.json', () => {
    expect(() => buildReportData(run.doc, new Map())).toThrow(/no candles given for BTC\/USDT:USDT/);
    expect(() => buildReportData(run.doc, run.candles, { maxCandles: 0 })).toThrow(/maxCandles/);
    const broken = { ...run.doc, summary: { ...run.doc.summary, netPnl: 12.5 } } as unknown as ResultsFile;
    expect(() => buildReportData(broken, run.candles)).toThrow(
      /not a valid results.json document: summary.netPnl/,
    );
  });

  it('passes extra top-level sections of results.json through for the page', () => {
    const latency = {
      fillToStopMs: { count: 3, p50: 120, p99: 480, max: 500 },
      orderCallLatencyMs: { min: 20, max: 80 },
      seed: 1,
    };
    const doc = { ...run.doc, latency, dlq: { messages: 0 } };
    expect(buildReportData(doc, run.candles).extras).toEqual({ latency, dlq: { messages: 0 } });
  });
});

describe('equityCurve', () => {
  it('steps by the realized PnL of each closed trade and ends at the net PnL', () => {
    const { stepMs, points } = equityCurve(run.doc);
    expect(stepMs).toBe(3 * MIN); // one day in at most 1,000 steps
    expect(points[0]).toEqual({ t: Date.UTC(2023, 2, 20), equity: 0, drawdown: 0 });
    expect(points[points.length - 1]!.t).toBe(Date.UTC(2023, 2, 21));
    expect(D(points[points.length - 1]!.equity).toFixed(6)).toBe(D(run.doc.summary.netPnl).toFixed(6));
    const worst = Math.min(...points.map((p) => p.drawdown));
    expect(D(-worst).toFixed(6)).toBe(D(run.doc.summary.maxDrawdown).toFixed(6));
  });

  it('sums trades by exit time: a loss then a win', () => {
    const base = run.doc.trades.find((t) => t.outcome === 'TRADED')!;
    const doc: ResultsFile = {
      ...run.doc,
      trades: [
        { ...base, tradeId: 'a', exitAt: '2023-03-20T01:00:00.000Z', realizedPnl: '-2.5' },
        { ...base, tradeId: 'b', exitAt: '2023-03-20T02:00:30.000Z', realizedPnl: '4' },
      ],
    };
    const { points } = equityCurve(doc);
    const at = (iso: string) => points.find((p) => p.t === Date.parse(iso))!;
    expect(at('2023-03-20T00:57:00.000Z')).toMatchObject({ equity: 0, drawdown: 0 });
    expect(at('2023-03-20T01:03:00.000Z')).toMatchObject({ equity: -2.5, drawdown: -2.5 });
    expect(at('2023-03-20T02:03:00.000Z')).toMatchObject({ equity: 1.5, drawdown: 0 });
  });
});

describe('renderReport', () => {
  it('inlines the library with its licence and escapes data that could end a script element', () => {
    const evil = '</script><script>alert(1)</script>';
    const doc: ResultsFile = {
      ...run.doc,
      trades: run.doc.trades.map((t, i) => (i === 0 ? { ...t, statusReason: evil } : t)),
    };
    const html = renderReport(doc, run.candles);
    expect(html).toContain('TradingView Lightweight Charts™ v5.2.1');
    expect(html).toContain('Apache License');
    expect(html).not.toContain(evil);
    expect(html).toContain('\\u003c/script\\u003e\\u003cscript\\u003ealert(1)');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  });

  it('accepts a ReplayResult as well as a parsed results.json', async () => {
    const parsed = parseCliArgs(['--symbols', 'ETH', '--from', '2023-03-20T23:00', '--to', '2023-03-21']);
    if (parsed.kind !== 'run') throw new Error('unexpected parse result');
    const prepared = await prepareRun(parsed.options);
    const result = runCoreReplay(prepared.input);
    const fromResult = buildReportData(result, prepared.input.candles);
    expect(fromResult.results.trades.map((t) => t.tradeId)).toEqual(['demo.ETH-20230320T2315-short']);
    expect(fromResult.candles['ETH/USDT:USDT']!.dt.length).toBe(60);
  });
});

describe('report.html in headless Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); .ci/run does`,
      );
    }
    userDataDir = await mkdtemp(join(os.tmpdir(), 'tw-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1440, height: 900 },
    });
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      requests.push(url);
      return route.abort();
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const file = await writeReport(dir, renderReport(run.doc, run.candles));
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (globalThis as { __report?: unknown }).__report !== undefined);
  });
  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('loads with no network request, no console error and no page error', async () => {
    expect(await page.evaluate(() => (globalThis as { __report?: unknown }).__report)).toEqual({
      ready: true,
      charts: 3,
    });
    expect(requests).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('draws the candles with the stop path on every symbol chart, and the equity curve', async () => {
    // Per chart container: canvases with their size and how many pixels have the candle colours
    // (#089981 up, #f23645 down) and the stop colour (#f57c00).
    const drawn = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<unknown> } })
        .document;
      const near = (d: Uint8ClampedArray, i: number, rgb: number[]) =>
        Math.abs(d[i]! - rgb[0]!) <= 6 &&
        Math.abs(d[i + 1]! - rgb[1]!) <= 6 &&
        Math.abs(d[i + 2]! - rgb[2]!) <= 6;
      return Array.from(
        doc.querySelectorAll('.chart') as ArrayLike<{
          dataset: { symbol?: string };
          id: string;
          querySelectorAll(s: string): ArrayLike<{
            width: number;
            height: number;
            getContext(k: '2d'): {
              getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
            };
          }>;
        }>,
      ).map((holder) => {
        const canvases = Array.from(holder.querySelectorAll('canvas'));
        let up = 0;
        let down = 0;
        let stop = 0;
        const colours = new Set<number>();
        for (const c of canvases) {
          if (c.width === 0 || c.height === 0) continue;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] === 0) continue;
            colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
            if (near(d, i, [8, 153, 129])) up += 1;
            else if (near(d, i, [242, 54, 69])) down += 1;
            else if (near(d, i, [245, 124, 0])) stop += 1;
          }
        }
        return {
          name: holder.dataset.symbol ?? holder.id,
          canvases: canvases.length,
          sized: canvases.filter((c) => c.width > 100 && c.height > 100).length,
          up,
          down,
          stop,
          colours: colours.size,
        };
      });
    });
    expect(drawn.map((d) => d.name)).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT', 'equity']);
    for (const d of drawn) {
      expect(d.canvases, d.name).toBeGreaterThan(0);
      expect(d.sized, d.name).toBeGreaterThan(0);
      expect(d.colours, d.name).toBeGreaterThan(20);
    }
    for (const d of drawn.slice(0, 2)) {
      expect(d.up, `${d.name} up candles`).toBeGreaterThan(500);
      expect(d.down, `${d.name} down candles`).toBeGreaterThan(500);
      expect(d.stop, `${d.name} stop path`).toBeGreaterThan(10);
    }
    const equity = drawn[2]!;
    expect(equity.up + equity.down, 'equity line').toBeGreaterThan(200);
  });

  it('shows the summary, the trades table and the milestone table', async () => {
    const cards = await page.locator('#summary .card-label').allTextContents();
    for (const label of [
      'Net PnL',
      'Win rate',
      'Profit factor',
      'Sharpe / Sortino',
      'Max drawdown',
      'Fail-safe',
    ]) {
      expect(cards).toContain(label);
    }
    expect(await page.locator('#trades tbody tr').count()).toBe(run.doc.trades.length);
    expect(await page.locator('#milestones tbody tr').count()).toBe(
      Object.keys(run.doc.summary.milestones).length,
    );
    const net = await page.locator('#summary .card').first().locator('.card-value').textContent();
    expect(net).toBe(
      `${Number(run.doc.summary.netPnl) >= 0 ? '+' : '−'}${Math.abs(Number(run.doc.summary.netPnl)).toFixed(2)} USDT`,
    );
  });

  it('sorts the trades by PnL when the header is clicked, and reverses on a second click', async () => {
    const pnlColumn = async () =>
      (await page.locator('#trades tbody tr td:nth-child(11)').allTextContents())
        .filter((t) => t !== '—')
        .map((t) => Number(t.replace('−', '-')));
    await page.locator('#trades th', { hasText: 'PnL' }).click();
    const ascending = await pnlColumn();
    expect(ascending.length).toBe(run.doc.summary.trades);
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
    await page.locator('#trades th', { hasText: 'PnL' }).click();
    const descending = await pnlColumn();
    expect(descending).toEqual([...ascending].reverse());
  });

  it('zooms the symbol chart to a trade at the finest resolution when its row is clicked', async () => {
    const row = page.locator('#trades tbody tr', { hasText: 'ETH-20230320T2315-short' });
    await row.click();
    await expect
      .poll(() => page.locator('.chart-card', { hasText: 'ETH/USDT:USDT' }).locator('.res-tag').textContent())
      .toBe('1m candles');
    expect(pageErrors).toEqual([]);
    expect(requests).toEqual([]);
  });
});

describe('report size', () => {
  it('keeps the default five-day, four-symbol run under 3 MB', async () => {
    const parsed = parseCliArgs([]);
    if (parsed.kind !== 'run') throw new Error('unexpected parse result');
    const prepared = await prepareRun(parsed.options);
    const html = renderReport(
      serializeResults(runCoreReplay(prepared.input), prepared.run),
      prepared.input.candles,
    );
    await writeFile(join(dir, 'default.html'), html);
    expect(Buffer.byteLength(html)).toBeLessThan(3 * 1024 * 1024);
  });
});
