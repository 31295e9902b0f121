/**
 * `report.html`: one self-contained HTML file that shows a replay to a trader — the run and its summary
 * figures, a candlestick chart per symbol with entries, exits and each trade's stop path, the realized
 * equity curve with its drawdown, the trades table and the milestone table.
 *
 * The file needs no network: the charting library (TradingView Lightweight Charts, Apache-2.0, its notice
 * kept), the stylesheet, the page script and the data (JSON in a `<script type="application/json">`) are
 * all inlined. Candles are stored at the finest resolution that fits {@link ReportOptions.maxCandles}
 * (OHLC aggregation when the window is long) and the page aggregates further for display.
 * What each part shows: docs/replay.md, section "report.html".
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { D, type Decimal, ZERO } from '../../functions/core/decimal.js';
import type { Candle } from '../../functions/core/types.js';
import { type ResultsFile, resultsFileSchema, serializeResults } from '../replay/results.js';
import type { ReplayResult } from '../replay/types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Candle resolutions the report may store or display, in ms (1 minute … 1 day). */
export const REPORT_RESOLUTIONS_MS = [
  60_000, 180_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 21_600_000, 43_200_000,
  86_400_000,
] as const;

/** Options of {@link renderReport}. */
export interface ReportOptions {
  /**
   * Most candles stored in the file, all symbols together (default 60,000: about 1.5 MB of data). When the
   * window holds more, candles are aggregated to the smallest resolution of {@link REPORT_RESOLUTIONS_MS}
   * that fits.
   */
  maxCandles?: number;
  /** Page title (default "Tradewarden replay <from> → <to>"). */
  title?: string;
}

/** Candles of one symbol as stored in the report: columnar, times as steps of `intervalMs` from `t0`. */
export interface ReportCandles {
  /** Interval of the stored candles, ms (the file's interval, or the aggregation's). */
  intervalMs: number;
  /** Interval of the source candles, ms. */
  sourceIntervalMs: number;
  /** Open time of the first candle, epoch ms. */
  t0: number;
  /** Per candle, the number of intervals since the previous candle (1 unless data is missing; 0 first). */
  dt: number[];
  o: number[];
  h: number[];
  l: number[];
  c: number[];
  /** Decimal places of the prices (for the chart's price format). */
  precision: number;
}

/** A point of the realized equity curve: cumulative net PnL and drawdown from the running peak. */
export interface EquityPoint {
  /** End of the bucket, epoch ms. */
  t: number;
  equity: number;
  drawdown: number;
}

/** The JSON the page reads (`<script type="application/json" id="report-data">`). */
export interface ReportData {
  title: string;
  results: ResultsFile;
  /** Top-level sections of results.json beyond summary/run/trades (latency, DLQ, invariants, cost model). */
  extras: Record<string, unknown>;
  candles: Record<string, ReportCandles>;
  equity: { stepMs: number; points: EquityPoint[] };
}

/** OHLC aggregation of candles into buckets of `bucketMs` (aligned to the epoch); order kept, gaps kept. */
export function aggregateCandles(candles: readonly Candle[], bucketMs: number): Candle[] {
  if (!Number.isInteger(bucketMs) || bucketMs <= 0) {
    throw new RangeError(`bucket must be a positive whole number of ms, got ${bucketMs}`);
  }
  const out: Candle[] = [];
  for (const c of candles) {
    if (bucketMs % c.intervalMs !== 0) {
      throw new RangeError(`cannot aggregate ${c.intervalMs} ms candles into ${bucketMs} ms buckets`);
    }
    const start = Math.floor(c.openTime / bucketMs) * bucketMs;
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.openTime === start) {
      out[out.length - 1] = {
        ...prev,
        high: c.high.gt(prev.high) ? c.high : prev.high,
        low: c.low.lt(prev.low) ? c.low : prev.low,
        close: c.close,
        volume: prev.volume.plus(c.volume),
      };
    } else {
      if (prev !== undefined && start < prev.openTime) {
        throw new RangeError(`candles are not in ascending order at ${new Date(c.openTime).toISOString()}`);
      }
      out.push({ ...c, openTime: start, intervalMs: bucketMs });
    }
  }
  return out;
}

/** The smallest resolution (multiple of every source interval) that keeps the total at most `max`. */
function storageInterval(windowed: Map<string, readonly Candle[]>, max: number): Map<string, number> {
  const result = new Map<string, number>();
  const total = [...windowed.values()].reduce((n, list) => n + list.length, 0);
  if (total <= max) {
    for (const [s, list] of windowed) result.set(s, list[0]?.intervalMs ?? 60_000);
    return result;
  }
  for (const res of REPORT_RESOLUTIONS_MS) {
    let n = 0;
    let ok = true;
    for (const list of windowed.values()) {
      const first = list[0];
      const last = list[list.length - 1];
      if (!first || !last) continue;
      if (res < first.intervalMs || res % first.intervalMs !== 0) {
        ok = false;
        break;
      }
      n += Math.floor(last.openTime / res) - Math.floor(first.openTime / res) + 1;
    }
    if (ok && n <= max) {
      for (const [s, list] of windowed) {
        const iv = list[0]?.intervalMs ?? res;
        result.set(s, Math.max(res, iv));
      }
      return result;
    }
  }
  const coarsest = REPORT_RESOLUTIONS_MS[REPORT_RESOLUTIONS_MS.length - 1]!;
  for (const [s, list] of windowed) result.set(s, Math.max(coarsest, list[0]?.intervalMs ?? coarsest));
  return result;
}

function encodeCandles(list: readonly Candle[], sourceIntervalMs: number): ReportCandles {
  const first = list[0];
  const intervalMs = first?.intervalMs ?? sourceIntervalMs;
  const t0 = first?.openTime ?? 0;
  const enc: ReportCandles = {
    intervalMs,
    sourceIntervalMs,
    t0,
    dt: [],
    o: [],
    h: [],
    l: [],
    c: [],
    precision: 0,
  };
  let prev = t0;
  let precision = 0;
  for (const c of list) {
    enc.dt.push(Math.round((c.openTime - prev) / intervalMs));
    prev = c.openTime;
    enc.o.push(c.open.toNumber());
    enc.h.push(c.high.toNumber());
    enc.l.push(c.low.toNumber());
    enc.c.push(c.close.toNumber());
    precision = Math.max(precision, c.open.dp(), c.high.dp(), c.low.dp(), c.close.dp());
  }
  enc.precision = Math.min(precision, 10);
  return enc;
}

/**
 * The realized equity curve on a regular grid over the window (at most ~1,000 steps): at each step the sum
 * of the net PnL of trades closed before the step's end, and the fall from the highest value so far.
 */
export function equityCurve(results: ResultsFile): { stepMs: number; points: EquityPoint[] } {
  const from = Date.parse(results.summary.from);
  const to = Date.parse(results.summary.to);
  const span = Math.max(to - from, 60_000);
  const steps = [...REPORT_RESOLUTIONS_MS, 604_800_000];
  const stepMs = steps.find((s) => span / s <= 1000) ?? steps[steps.length - 1]!;
  const closes = results.trades
    .filter((t) => t.exitAt !== null && t.realizedPnl !== null)
    .map((t) => ({ at: Date.parse(t.exitAt!), pnl: D(t.realizedPnl!) }))
    .sort((a, b) => a.at - b.at);
  const points: EquityPoint[] = [{ t: from, equity: 0, drawdown: 0 }];
  let equity: Decimal = ZERO;
  let peak: Decimal = ZERO;
  let i = 0;
  for (let end = from + stepMs; ; end += stepMs) {
    const edge = Math.min(end, to);
    while (i < closes.length && closes[i]!.at < edge) {
      equity = equity.plus(closes[i]!.pnl);
      i += 1;
    }
    if (equity.gt(peak)) peak = equity;
    points.push({ t: edge, equity: equity.toNumber(), drawdown: equity.minus(peak).toNumber() });
    if (edge >= to) break;
  }
  // Trades closed at or after `to` (END_OF_DATA exits at the last candle's end) land on the last point.
  if (i < closes.length) {
    for (; i < closes.length; i += 1) equity = equity.plus(closes[i]!.pnl);
    if (equity.gt(peak)) peak = equity;
    points[points.length - 1] = { t: to, equity: equity.toNumber(), drawdown: equity.minus(peak).toNumber() };
  }
  return { stepMs, points };
}

function isReplayResult(x: ResultsFile | ReplayResult): x is ReplayResult {
  return typeof x.summary.from === 'number';
}

/** Validates a parsed results.json (or serializes a {@link ReplayResult}); a bad document is a TypeError. */
function toResultsFile(results: ResultsFile | ReplayResult): ResultsFile {
  if (isReplayResult(results)) return serializeResults(results);
  const parsed = resultsFileSchema.safeParse(results);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 8)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TypeError(`not a valid results.json document: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );
}

/** JSON safe inside a `<script>` element: `<`, `>`, `&` and the JS line separators escaped. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Text to inline in a `<script>` or `<style>` element; refuses text that would end the element early. */
function inlineText(text: string, what: string): string {
  if (/<\/(script|style)/i.test(text) || text.includes('<!--')) {
    throw new Error(`${what} cannot be inlined: it contains "</script", "</style" or "<!--"`);
  }
  return text;
}

interface Assets {
  library: string;
  libraryVersion: string;
  libraryLicense: string;
  client: string;
  css: string;
}

let assets: Assets | null = null;

/** Reads the charting library, its licence, the page script and the stylesheet (once per process). */
function loadAssets(): Assets {
  if (assets) return assets;
  const pkgFile = require.resolve('lightweight-charts/package.json');
  const pkgDir = dirname(pkgFile);
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version?: unknown };
  const library = readFileSync(join(pkgDir, 'dist', 'lightweight-charts.standalone.production.js'), 'utf8');
  assets = {
    library: inlineText(library, 'lightweight-charts'),
    libraryVersion: typeof pkg.version === 'string' ? pkg.version : 'unknown',
    libraryLicense: readFileSync(join(pkgDir, 'LICENSE'), 'utf8'),
    client: inlineText(readFileSync(join(HERE, 'client.js'), 'utf8'), 'the report script'),
    css: inlineText(readFileSync(join(HERE, 'report.css'), 'utf8'), 'the report stylesheet'),
  };
  return assets;
}

function shortSymbol(symbol: string): string {
  return symbol.split('/')[0] ?? symbol;
}

function minute(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

/** The data the page reads: results, extra sections, candles inside the window, the equity curve. */
export function buildReportData(
  results: ResultsFile | ReplayResult,
  candles: ReadonlyMap<string, readonly Candle[]>,
  options: ReportOptions = {},
): ReportData {
  const doc = toResultsFile(results);
  const maxCandles = options.maxCandles ?? 60_000;
  if (!Number.isInteger(maxCandles) || maxCandles < 1) {
    throw new RangeError(`maxCandles must be a positive integer, got ${maxCandles}`);
  }
  const from = Date.parse(doc.summary.from);
  const to = Date.parse(doc.summary.to);
  const windowed = new Map<string, readonly Candle[]>();
  for (const symbol of doc.summary.symbols) {
    const list = candles.get(symbol);
    if (list === undefined) {
      throw new RangeError(
        `no candles given for ${symbol} (given: ${[...candles.keys()].join(', ') || 'none'})`,
      );
    }
    windowed.set(
      symbol,
      list.filter((c) => c.openTime >= from && c.openTime < to),
    );
  }
  const intervals = storageInterval(windowed, maxCandles);
  const encoded: Record<string, ReportCandles> = {};
  for (const [symbol, list] of windowed) {
    const source = list[0]?.intervalMs ?? 60_000;
    const iv = intervals.get(symbol) ?? source;
    encoded[symbol] = encodeCandles(iv === source ? list : aggregateCandles(list, iv), source);
  }
  const extras: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key !== 'summary' && key !== 'run' && key !== 'trades') extras[key] = value;
  }
  const symbols = doc.summary.symbols.map(shortSymbol).join(', ');
  return {
    title:
      options.title ??
      `Tradewarden replay ${minute(doc.summary.from)} → ${minute(doc.summary.to)} UTC · ${symbols}`,
    results: doc,
    extras,
    candles: encoded,
    equity: equityCurve(doc),
  };
}

/**
 * Renders `report.html` for a replay: the parsed results.json document (or the {@link ReplayResult} itself)
 * and the candles per symbol the replay ran on (warm-up candles before the window are ignored). Returns
 * the whole HTML document as a string; it loads nothing from the network.
 */
export function renderReport(
  results: ResultsFile | ReplayResult,
  candles: ReadonlyMap<string, readonly Candle[]>,
  options: ReportOptions = {},
): string {
  const a = loadAssets();
  const data = buildReportData(results, candles, options);
  const title = escapeHtml(data.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:">
<title>${title}</title>
<style>
${a.css}
</style>
</head>
<body>
<header class="top">
  <h1>${title}</h1>
  <div id="run-facts" class="facts"></div>
</header>
<main>
  <section id="summary" aria-label="Summary"></section>
  <section id="charts-section">
    <div class="section-head">
      <h2>Candles, entries, exits and stops</h2>
      <div id="resolution" class="toggle" role="group" aria-label="Candle resolution"></div>
    </div>
    <p class="hint">▲/▼ entry (long/short) · ● exit, green if the trade made money · ◆ partial take-profit · ○ skipped or cancelled signal · orange steps: the stop resting at each bar's open · dotted green: the target. Click a trade in the table to zoom to it; double-click a chart to see the whole window.</p>
    <div id="charts"></div>
  </section>
  <section>
    <h2>Realized equity and drawdown</h2>
    <div class="chart-card"><div id="equity" class="chart chart-equity"></div></div>
  </section>
  <section>
    <div class="section-head"><h2>Trades</h2><span id="trades-count" class="hint"></span></div>
    <div class="table-wrap"><table id="trades" class="sortable"></table></div>
  </section>
  <section>
    <h2>Milestones</h2>
    <div class="table-wrap"><table id="milestones"></table></div>
  </section>
  <section id="extras"></section>
</main>
<footer>
  <p>Generated by Tradewarden from results.json. Charts: TradingView Lightweight Charts™ v${escapeHtml(a.libraryVersion)}, Copyright (c) TradingView, Inc., Apache License 2.0 (inlined below).</p>
  <details><summary>Lightweight Charts licence</summary><pre>${escapeHtml(a.libraryLicense)}</pre></details>
</footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>
${a.library}
</script>
<script>
${a.client}
</script>
</body>
</html>
`;
}

/** Writes `dir/report.html` (creating `dir`); returns the file's path. */
export async function writeReport(dir: string, html: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'report.html');
  await writeFile(file, html);
  return file;
}
