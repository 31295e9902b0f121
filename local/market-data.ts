/**
 * Bundled market data: candle files and exchange trading rules for the local replay.
 *
 * Candle files are CSV, optionally gzip-compressed, one candle per line:
 *
 *     timestamp,open,high,low,close,volume
 *     1679004900000,24899.18,24943.98,24896.29,24934.2,293.13711
 *
 * `timestamp` is the candle's open time in epoch milliseconds (UTC). The header line is optional. The file
 * name carries the exchange, the pair and the interval: `binance_BTC-USDT_1m.csv.gz` holds 1-minute candles
 * of BTC/USDT and is replayed as the linear perpetual `BTC/USDT:USDT`.
 *
 * Missing candles (an exchange outage) stay missing: the loader never fabricates a candle, it reports each
 * run of missing candles as a gap.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { D, type Decimal } from '../functions/core/decimal.js';
import { decimalField, formatIssues } from '../functions/core/schema-util.js';
import type { Candle, MarketRules } from '../functions/core/types.js';

/** A problem with a market-data file: a malformed line, a bad file name, an unreadable file. */
export class MarketDataError extends Error {
  constructor(
    /** The file concerned. */
    readonly file: string,
    message: string,
    /** 1-based line number, when the problem is on one line. */
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'MarketDataError';
  }
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** What a candle file's name says about its content. */
export interface CandleFileInfo {
  /** Exchange prefix of the file name (`binance`), or null when the name has none. */
  exchange: string | null;
  base: string;
  quote: string;
  /** The ccxt unified linear-perpetual symbol the candles are replayed as: `BASE/QUOTE:QUOTE`. */
  symbol: string;
  /** Interval as written in the name (`1m`, `3m`, `1h`). */
  interval: string;
  intervalMs: number;
  gzip: boolean;
}

const FILE_NAME_RE = /^(?:([a-z0-9]+)_)?([A-Z0-9]+)-([A-Z0-9]+)_(\d+)([mhd])\.csv(\.gz)?$/;

/**
 * Parses a candle file name `[<exchange>_]<BASE>-<QUOTE>_<n><m|h|d>.csv[.gz]`; returns null when the name
 * does not follow that pattern. `binance_BTC-USDT_1m.csv.gz` → symbol `BTC/USDT:USDT`, interval 60,000 ms.
 */
export function parseCandleFileName(fileName: string): CandleFileInfo | null {
  const m = FILE_NAME_RE.exec(basename(fileName));
  if (!m) return null;
  const [, exchange, base, quote, count, unit, gz] = m as unknown as [
    string,
    string | undefined,
    string,
    string,
    string,
    'm' | 'h' | 'd',
    string | undefined,
  ];
  const n = Number(count);
  if (!(n > 0)) return null;
  return {
    exchange: exchange ?? null,
    base,
    quote,
    symbol: `${base}/${quote}:${quote}`,
    interval: `${n}${unit}`,
    intervalMs: n * UNIT_MS[unit],
    gzip: gz !== undefined,
  };
}

const UNIFIED_PERP_RE = /^([A-Z0-9]{1,20})\/([A-Z0-9]{1,20}):([A-Z0-9]{1,20})$/;
const BASE_RE = /^[A-Z0-9]{1,20}$/;
const PAIR_RE = /^([A-Z0-9]{1,20})[-_]([A-Z0-9]{1,20})$/;

/**
 * Maps a user-given symbol to the ccxt unified linear-perpetual symbol the replay trades, quoted in
 * `quote` (default USDT): `BTC` / `btc` → `BTC/USDT:USDT`; `BTC-USDT` → `BTC/USDT:USDT`;
 * `BTC/USDT:USDT` stays. A spot symbol (`BTC/USDT`) or anything else throws a RangeError saying why.
 */
export function toUnifiedSymbol(input: string, quote = 'USDT'): string {
  const text = input.trim().toUpperCase();
  const perp = UNIFIED_PERP_RE.exec(text);
  if (perp) {
    if (perp[2] !== perp[3]) {
      throw new RangeError(`"${input}" is not a linear perpetual (settle currency must equal the quote)`);
    }
    return text;
  }
  if (BASE_RE.test(text)) return `${text}/${quote}:${quote}`;
  const pair = PAIR_RE.exec(text);
  if (pair) return `${pair[1]}/${pair[2]}:${pair[2]}`;
  const spot = /^([A-Z0-9]{1,20})\/([A-Z0-9]{1,20})$/.exec(text);
  if (spot) {
    throw new RangeError(
      `"${input}" is a spot symbol; the replay trades linear perpetuals: use ${spot[1]}/${spot[2]}:${spot[2]} or ${spot[1]}`,
    );
  }
  throw new RangeError(
    `"${input}" is not a symbol: use a base currency (BTC), a pair (BTC-USDT) or BTC/USDT:USDT`,
  );
}

/** The base currency of a unified symbol, for display: `BTC/USDT:USDT` → `BTC`. */
export function shortSymbol(symbol: string): string {
  const slash = symbol.indexOf('/');
  return slash < 0 ? symbol : symbol.slice(0, slash);
}

/**
 * A run of missing candles: `from` is the open time of the first missing candle, `to` the open time of the
 * next candle present (or the end of the loaded window), so the run is [from, to) and holds
 * (to − from) / intervalMs candles.
 */
export interface CandleGap {
  from: number;
  to: number;
}

/** Which candles to load: open times in [from, to) (epoch ms); either bound may be left open. */
export interface CandleWindow {
  from?: number;
  to?: number;
}

/** The candles of one file within a window. */
export interface LoadedCandles {
  file: string;
  symbol: string;
  intervalMs: number;
  /** Ascending by open time; never contains fabricated candles. */
  candles: Candle[];
  /**
   * Missing candles inside the window, limited to the span the file covers (a window that starts before
   * the file's first candle or ends after its last one is not a gap).
   */
  gaps: CandleGap[];
}

const NUM = '(\\d+(?:\\.\\d*)?(?:[eE][+-]?\\d+)?)';
const LINE_RE = new RegExp(`^(\\d{1,16}),${NUM},${NUM},${NUM},${NUM},${NUM}$`);
const TIMESTAMP_RE = /^\d{1,16}$/;
const PRICE_CACHE_LIMIT = 200_000;
const HEADER_RE = /^timestamp,open,high,low,close,volume$/i;

function malformed(file: string, line: string, lineNo: number): MarketDataError {
  if (line.trim() === '') return new MarketDataError(file, 'empty line', lineNo);
  const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
  return new MarketDataError(
    file,
    `malformed candle "${shown}": expected timestamp,open,high,low,close,volume (ms timestamp, non-negative decimals)`,
    lineNo,
  );
}

function alignUp(t: number, step: number): number {
  return Math.ceil(t / step) * step;
}

/**
 * Streams one candle file (plain or gzip, through node:zlib and node:readline) into the candles whose open
 * time lies in the window. The interval is taken from the file name and checked on every line: open times
 * must be multiples of it and strictly ascending. Reading stops at the first candle at or after
 * `window.to`. Lines before the window are checked for their timestamp only (format, grid, order); lines
 * inside it for all six fields and for 0 < low ≤ open, close ≤ high. A header line is allowed as line 1.
 * Throws a {@link MarketDataError} naming the file and the line for any malformed line.
 */
export async function loadCandleFile(file: string, window: CandleWindow = {}): Promise<LoadedCandles> {
  const info = parseCandleFileName(file);
  if (!info) {
    throw new MarketDataError(
      file,
      'file name must look like binance_BTC-USDT_1m.csv or binance_BTC-USDT_1m.csv.gz (pair and interval are read from it)',
    );
  }
  const from = window.from ?? -Infinity;
  const to = window.to ?? Infinity;
  if (from >= to) {
    throw new RangeError(
      `window start ${new Date(from).toISOString()} is not before its end ${new Date(to).toISOString()}`,
    );
  }
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new MarketDataError(file, 'not a regular file');
  } catch (e) {
    if (e instanceof MarketDataError) throw e;
    throw new MarketDataError(file, `cannot read: ${(e as Error).message}`);
  }

  const step = info.intervalMs;
  const raw = createReadStream(file);
  const input = info.gzip ? raw.pipe(createGunzip()) : raw;
  if (info.gzip) raw.on('error', (e) => input.destroy(e));
  const lines = createInterface({ input, crlfDelay: Infinity });

  const candles: Candle[] = [];
  const gaps: CandleGap[] = [];
  // Prices repeat a lot (a candle opens at the previous close; prices move on a tick grid): parse each
  // distinct price string once and share the immutable Decimal.
  const prices = new Map<string, Decimal>();
  const price = (text: string): Decimal => {
    let d = prices.get(text);
    if (d === undefined) {
      if (prices.size >= PRICE_CACHE_LIMIT) prices.clear();
      d = new D(text);
      prices.set(text, d);
    }
    return d;
  };
  let prev: number | undefined;
  let lineNo = 0;
  let endedAt: number | undefined;
  try {
    for await (const line of lines) {
      lineNo++;
      const comma = line.indexOf(',');
      const tsText = comma < 0 ? line : line.slice(0, comma);
      if (!TIMESTAMP_RE.test(tsText)) {
        if (lineNo === 1 && HEADER_RE.test(line.trim())) continue;
        throw malformed(file, line, lineNo);
      }
      const ts = Number(tsText);
      if (ts % step !== 0) {
        throw new MarketDataError(
          file,
          `timestamp ${ts} is not on the ${info.interval} grid implied by the file name`,
          lineNo,
        );
      }
      if (prev !== undefined && ts <= prev) {
        throw new MarketDataError(
          file,
          `timestamp ${ts} is not after the previous one ${prev} (rows must be ascending, no duplicates)`,
          lineNo,
        );
      }
      if (ts >= to) {
        endedAt = ts;
        break;
      }
      if (ts >= from) {
        const m = LINE_RE.exec(line);
        if (!m) throw malformed(file, line, lineNo);
        if (prev !== undefined && ts - prev > step) {
          const gapFrom = Math.max(prev + step, alignUp(from, step));
          if (gapFrom < ts) gaps.push({ from: gapFrom, to: ts });
        }
        const open = price(m[2]!);
        const high = price(m[3]!);
        const low = price(m[4]!);
        const close = price(m[5]!);
        if (!low.gt(0) || low.gt(open) || low.gt(close) || high.lt(open) || high.lt(close)) {
          throw new MarketDataError(
            file,
            `inconsistent candle: need 0 < low ≤ open, close ≤ high, got open ${m[2]} high ${m[3]} low ${m[4]} close ${m[5]}`,
            lineNo,
          );
        }
        candles.push({ openTime: ts, intervalMs: step, open, high, low, close, volume: new D(m[6]!) });
      }
      prev = ts;
    }
  } catch (e) {
    if (e instanceof MarketDataError) throw e;
    throw new MarketDataError(
      file,
      `cannot read${info.gzip ? ' (gzip)' : ''}: ${(e as Error).message}`,
      lineNo || undefined,
    );
  } finally {
    lines.close();
    raw.destroy();
    if (input !== raw) input.destroy();
  }
  // A run of missing candles right before the window's end (the file goes on after it).
  if (endedAt !== undefined && prev !== undefined) {
    const gapFrom = Math.max(prev + step, alignUp(from, step));
    const gapTo = Math.min(endedAt, alignUp(to, step));
    if (gapFrom < gapTo) gaps.push({ from: gapFrom, to: gapTo });
  }
  return { file, symbol: info.symbol, intervalMs: step, candles, gaps };
}

/** A candle file found in a data directory. */
export interface CandleFileEntry extends CandleFileInfo {
  /** Full path. */
  path: string;
}

/**
 * Lists the candle files of a directory (names as in {@link parseCandleFileName}; other files are ignored).
 * Throws a MarketDataError when two files map to the same symbol (e.g. both `_1m.csv` and `_1m.csv.gz`).
 */
export async function listCandleFiles(dir: string): Promise<CandleFileEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new MarketDataError(dir, `cannot list the data directory: ${(e as Error).message}`);
  }
  const bySymbol = new Map<string, CandleFileEntry>();
  for (const name of names.sort()) {
    const info = parseCandleFileName(name);
    if (!info) continue;
    const existing = bySymbol.get(info.symbol);
    if (existing) {
      throw new MarketDataError(
        dir,
        `two candle files for ${info.symbol}: ${basename(existing.path)} and ${name}`,
      );
    }
    bySymbol.set(info.symbol, { ...info, path: join(dir, name) });
  }
  return [...bySymbol.values()];
}

/**
 * Loads the candles of `symbols` (unified symbols) from a data directory, each file streamed in parallel.
 * Throws a MarketDataError naming the symbols without a file and the symbols the directory does have.
 */
export async function loadCandleDir(
  dir: string,
  symbols: readonly string[],
  window: CandleWindow = {},
): Promise<Map<string, LoadedCandles>> {
  const files = await listCandleFiles(dir);
  const bySymbol = new Map(files.map((f) => [f.symbol, f]));
  const missing = symbols.filter((s) => !bySymbol.has(s));
  if (missing.length > 0) {
    const have = files.map((f) => f.symbol).join(', ') || 'none';
    throw new MarketDataError(dir, `no candle file for ${missing.join(', ')} (available: ${have})`);
  }
  const loaded = await Promise.all(symbols.map((s) => loadCandleFile(bySymbol.get(s)!.path, window)));
  return new Map(loaded.map((l) => [l.symbol, l]));
}

const marketSchema = z.strictObject({
  tickSize: decimalField({ nonNegative: true }),
  lotStep: decimalField({ nonNegative: true }),
  minQty: decimalField({ nonNegative: true }),
  minNotional: decimalField({ nonNegative: true }),
  maxQty: decimalField({ positive: true }).optional(),
  maxLeverage: z.int().min(1).max(125).optional(),
});
const marketsSchema = z.record(z.string(), marketSchema);

/**
 * Parses a markets document `{ "BTC/USDT:USDT": { "tickSize": "0.1", "lotStep": "0.001", "minQty": "0.001",
 * "minNotional": "100", "maxLeverage": 125 }, … }` (decimals as strings) into MarketRules per symbol.
 * Throws a MarketDataError listing every problem with its path.
 */
export function parseMarkets(raw: unknown, file = 'markets'): Record<string, MarketRules> {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const badKeys = Object.keys(raw).filter((k) => !UNIFIED_PERP_RE.test(k));
    if (badKeys.length > 0) {
      throw new MarketDataError(
        file,
        `invalid markets: ${badKeys.map((k) => `"${k}"`).join(', ')}: keys must be unified perpetual symbols such as "BTC/USDT:USDT"`,
      );
    }
  }
  const result = marketsSchema.safeParse(raw);
  if (!result.success)
    throw new MarketDataError(file, `invalid markets: ${formatIssues(result.error).join('; ')}`);
  const out: Record<string, MarketRules> = {};
  for (const [symbol, m] of Object.entries(result.data)) {
    const rules: MarketRules = {
      symbol,
      tickSize: m.tickSize,
      lotStep: m.lotStep,
      minQty: m.minQty,
      minNotional: m.minNotional,
    };
    if (m.maxQty !== undefined) rules.maxQty = m.maxQty;
    if (m.maxLeverage !== undefined) rules.maxLeverage = m.maxLeverage;
    out[symbol] = rules;
  }
  return out;
}

/** Reads and parses a markets JSON file (see {@link parseMarkets}). */
export async function loadMarkets(file: string): Promise<Record<string, MarketRules>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MarketDataError(file, `cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MarketDataError(file, `not valid JSON: ${(e as Error).message}`);
  }
  return parseMarkets(raw, file);
}
