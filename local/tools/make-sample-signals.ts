/**
 * Generates `data/signals/sample-signals.json` from the bundled candles, deterministically (same data →
 * byte-identical file). Run: `npx tsx local/tools/make-sample-signals.ts [--check]`.
 *
 * The rule (a channel breakout on 15-minute bars):
 *
 * 1. Candles are grouped into 15-minute bars aligned to UTC (15 one-minute or 5 three-minute candles). A bar
 *    with a missing candle (the 2023-03-24 outage) is incomplete: it never triggers and it ends the channel.
 * 2. A bar whose close is above the highest high of the previous 32 complete bars (8 hours), with close >
 *    open, gives a long; a close below the lowest low of the previous 32 with close < open gives a short.
 * 3. After a signal, the symbol is quiet for 12 hours (48 bars): at most 14 signals per symbol per week.
 * 4. The signal is made when the bar closes: `at` = the bar's close time (its last candle's open time +
 *    the interval), `price` = the bar's close (the close of that last candle).
 * 5. Parameters cycle with the symbol's signal number k (0, 1, 2, …) so every kind appears:
 *    stop kind k mod 3 → pct (0.6 / 0.8 / 1 / 1.2 / 1.5 by k mod 5), price (0.7 / 0.9 / 1.1 / 1.3 % from
 *    price by k mod 4, rounded away from price to the tick) or atrMultiple (1.5 / 2 / 2.5 / 3 by k mod 4);
 *    rr 2 / 2.5 / 3 / 1.5 and leverage 10 / 15 / 20 / 12 by k mod 4; riskPct "0.03" (3.00 of the
 *    10,000 demo equity) when k mod 4 = 3, else riskAmount "3".
 *
 * Plus deliberate probes of the risk gate and the data, tagged `probe:*`:
 * - `probe:max-open-trades`: seven market signals at 2023-03-21T12:00Z (one per symbol plus BTC, ETH and SOL
 *   again). With the default configuration (maxOpenTrades 3; the engines take signals of one moment in
 *   order of symbol) BTC, DOGE and ETH open, SOL is SKIPPED (`MAX_OPEN_TRADES`), BTC and ETH again are
 *   SKIPPED (`SYMBOL_BUSY`: one trade per account and symbol) and SOL again is SKIPPED (`MAX_OPEN_TRADES`).
 * - `probe:cooldown`: the first 15-minute close from 2023-03-20 where a BTC long with a 0.6 % stop is
 *   stopped out within an hour without first gaining 0.4 %, then a second BTC long 5 minutes after that
 *   stop-out, inside the 15-minute cooldown: SKIPPED.
 * - `probe:outage-gap`: an ETH long at 2023-03-24T13:00Z, inside the 80 missing minutes of the Binance
 *   outage; its price is the last close before the gap, and it can fill only when candles resume at 14:00.
 */
import { writeFile, readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { D, type Decimal, roundToStep } from '../../functions/core/decimal.js';
import { parseSignal } from '../../functions/core/signal.js';
import type { Candle, MarketRules, Side } from '../../functions/core/types.js';
import { listCandleFiles, loadCandleFile, loadMarkets, shortSymbol } from '../market-data.js';
import { BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE, BUNDLED_SIGNALS_FILE } from '../paths.js';

/** Where the generated file is written. */
export const SAMPLE_SIGNALS_FILE = BUNDLED_SIGNALS_FILE;

const BAR_MS = 15 * 60_000;
const CHANNEL_BARS = 32;
const QUIET_BARS = 48;
const ACCOUNT = 'demo';
const EXCHANGE = 'paper';

/** A signal as written to the JSON file (decimals as strings). */
export interface RawSignal {
  signalId: string;
  accountId: string;
  exchange: string;
  symbol: string;
  side: Side;
  entry: 'market';
  price: string;
  stop: { pct: string } | { price: string } | { atrMultiple: string };
  riskAmount?: string;
  riskPct?: string;
  rr: string;
  leverage: number;
  tags: string[];
  at: string;
}

interface Bar {
  start: number;
  open: Decimal;
  high: Decimal;
  low: Decimal;
  close: Decimal;
  complete: boolean;
}

function toBars(candles: readonly Candle[]): Bar[] {
  const bars: Bar[] = [];
  let cur: (Bar & { count: number; perBar: number }) | null = null;
  const flush = () => {
    if (cur) bars.push({ ...cur, complete: cur.count === cur.perBar });
  };
  for (const c of candles) {
    const start = Math.floor(c.openTime / BAR_MS) * BAR_MS;
    if (!cur || cur.start !== start) {
      flush();
      cur = {
        start,
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        complete: false,
        count: 0,
        perBar: BAR_MS / c.intervalMs,
      };
      // The bar's first candle must open the bar, else the bar misses candles.
      if (c.openTime !== start) cur.count = -Infinity;
    }
    if (c.high.gt(cur.high)) cur.high = c.high;
    if (c.low.lt(cur.low)) cur.low = c.low;
    cur.close = c.close;
    cur.count++;
  }
  flush();
  return bars;
}

const PCTS = ['0.6', '0.8', '1', '1.2', '1.5'];
const PRICE_PCTS = ['0.7', '0.9', '1.1', '1.3'];
const ATR_MULTIPLES = ['1.5', '2', '2.5', '3'];
const RRS = ['2', '2.5', '3', '1.5'];
const LEVERAGES = [10, 15, 20, 12];

function iso(t: number): string {
  return new Date(t).toISOString();
}

function compactTime(t: number): string {
  return iso(t).slice(0, 16).replace(/[-:]/g, '');
}

/** A price stop `pct` percent from `price`, rounded away from it to the tick (below for a long). */
function priceStop(side: Side, price: Decimal, pct: string, tick: Decimal): Decimal {
  const factor = new D(100).plus(side === 'long' ? new D(pct).negated() : new D(pct)).div(100);
  return roundToStep(price.mul(factor), tick, side === 'long' ? 'down' : 'up');
}

function breakoutSignals(symbol: string, candles: readonly Candle[], market: MarketRules): RawSignal[] {
  const bars = toBars(candles);
  const out: RawSignal[] = [];
  let quietUntil = -1;
  for (let i = CHANNEL_BARS; i < bars.length; i++) {
    const bar = bars[i]!;
    if (!bar.complete || i < quietUntil) continue;
    let hi: Decimal | null = null;
    let lo: Decimal | null = null;
    let ok = true;
    for (let j = i - CHANNEL_BARS; j < i; j++) {
      const b = bars[j]!;
      if (!b.complete || b.start !== bar.start - (i - j) * BAR_MS) {
        ok = false;
        break;
      }
      if (hi === null || b.high.gt(hi)) hi = b.high;
      if (lo === null || b.low.lt(lo)) lo = b.low;
    }
    if (!ok || hi === null || lo === null) continue;
    let side: Side | null = null;
    if (bar.close.gt(hi) && bar.close.gt(bar.open)) side = 'long';
    else if (bar.close.lt(lo) && bar.close.lt(bar.open)) side = 'short';
    if (side === null) continue;
    const k = out.length;
    const at = bar.start + BAR_MS;
    let stop: RawSignal['stop'];
    if (k % 3 === 0) stop = { pct: PCTS[k % 5]! };
    else if (k % 3 === 1)
      stop = { price: priceStop(side, bar.close, PRICE_PCTS[k % 4]!, market.tickSize).toFixed() };
    else stop = { atrMultiple: ATR_MULTIPLES[k % 4]! };
    const risk = k % 4 === 3 ? { riskPct: '0.03' } : { riskAmount: '3' };
    out.push({
      signalId: `${shortSymbol(symbol)}-${compactTime(at)}-${side}`,
      accountId: ACCOUNT,
      exchange: EXCHANGE,
      symbol,
      side,
      entry: 'market',
      price: bar.close.toFixed(),
      stop,
      ...risk,
      rr: RRS[k % 4]!,
      leverage: LEVERAGES[k % 4]!,
      tags: ['breakout', 'channel-8h'],
      at: iso(at),
    });
    quietUntil = i + QUIET_BARS;
  }
  return out;
}

/** The candle whose close is the price at `at`: the one that ends at `at`, else the last one before it. */
function candleEndingAt(candles: readonly Candle[], at: number): Candle {
  let lo = 0;
  let hi = candles.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (candles[mid]!.openTime + candles[mid]!.intervalMs <= at) lo = mid + 1;
    else hi = mid;
  }
  const c = candles[lo - 1];
  if (!c) throw new RangeError(`no candle ends at or before ${iso(at)}`);
  return c;
}

function probe(
  id: string,
  tag: string,
  symbol: string,
  side: Side,
  candles: readonly Candle[],
  at: number,
  extra: Partial<RawSignal> = {},
): RawSignal {
  return {
    signalId: id,
    accountId: ACCOUNT,
    exchange: EXCHANGE,
    symbol,
    side,
    entry: 'market',
    price: candleEndingAt(candles, at).close.toFixed(),
    stop: { pct: '1' },
    riskAmount: '3',
    rr: '2',
    leverage: 10,
    tags: [tag],
    at: iso(at),
    ...extra,
  };
}

const MAX_OPEN_AT = Date.UTC(2023, 2, 21, 12, 0);
const COOLDOWN_SEARCH_FROM = Date.UTC(2023, 2, 20, 0, 0);
const OUTAGE_PROBE_AT = Date.UTC(2023, 2, 24, 13, 0);

function maxOpenTradesProbes(bySymbol: ReadonlyMap<string, readonly Candle[]>): RawSignal[] {
  const order = ['BTC', 'ETH', 'SOL', 'DOGE', 'BTC', 'ETH', 'SOL'];
  return order.map((base, n) => {
    const symbol = `${base}/USDT:USDT`;
    const candles = bySymbol.get(symbol)!;
    // Side: the direction of the last hour.
    const now = candleEndingAt(candles, MAX_OPEN_AT).close;
    const hourAgo = candleEndingAt(candles, MAX_OPEN_AT - 3_600_000).close;
    const side: Side = now.gte(hourAgo) ? 'long' : 'short';
    return probe(`probe-maxopen-${n + 1}`, 'probe:max-open-trades', symbol, side, candles, MAX_OPEN_AT);
  });
}

/**
 * Finds the first 15-minute close from {@link COOLDOWN_SEARCH_FROM} where a BTC long with a 0.6 % stop is
 * surely stopped out within 60 minutes, and returns that long and a second long 5 minutes after the stop-out.
 * The engine's stop is estimated as entry × (1 − 0.6 % − 0.05 % spread buffer) with entry the next open;
 * "surely" means the low goes 0.1 % beyond that estimate in the same candle that first comes within 0.1 % of
 * it, and no high before reaches entry + 0.4 % (below trailing activation, locks and the first partial).
 */
function cooldownProbes(candles: readonly Candle[]): RawSignal[] {
  const symbol = 'BTC/USDT:USDT';
  const start = candles.findIndex((c) => c.openTime >= COOLDOWN_SEARCH_FROM);
  for (let i = start; i + 61 < candles.length; i++) {
    const signalCandle = candles[i]!;
    const at = signalCandle.openTime + signalCandle.intervalMs;
    if (at % BAR_MS !== 0) continue;
    const entryCandle = candles[i + 1]!;
    if (entryCandle.openTime !== at) continue;
    const entry = entryCandle.open;
    const stopEst = entry.mul('0.9935');
    const near = stopEst.mul('1.001');
    const sure = stopEst.mul('0.999');
    const ceiling = entry.mul('1.004');
    for (let j = i + 1; j <= i + 60; j++) {
      const c = candles[j]!;
      if (c.openTime !== at + (j - i - 1) * 60_000) break;
      if (c.open.gte(ceiling) || c.open.lte(near)) break;
      if (c.low.lte(near)) {
        if (!c.low.lte(sure)) break;
        const again = c.openTime + 5 * 60_000;
        return [
          probe('probe-cooldown-stopped', 'probe:cooldown', symbol, 'long', candles, at, {
            stop: { pct: '0.6' },
            rr: '3',
          }),
          probe('probe-cooldown-again', 'probe:cooldown', symbol, 'long', candles, again),
        ];
      }
      if (c.high.gte(ceiling)) break;
    }
  }
  throw new RangeError('no cooldown probe moment found in the BTC candles');
}

function outageProbe(candles: readonly Candle[]): RawSignal {
  return probe('probe-outage-gap', 'probe:outage-gap', 'ETH/USDT:USDT', 'long', candles, OUTAGE_PROBE_AT);
}

/** Builds every sample signal from the candle files of `dataDir`, sorted by time, then symbol, then id. */
export async function makeSampleSignals(dataDir: string, marketsFile: string): Promise<RawSignal[]> {
  const markets = await loadMarkets(marketsFile);
  const files = await listCandleFiles(dataDir);
  const bySymbol = new Map<string, Candle[]>();
  for (const f of files) bySymbol.set(f.symbol, (await loadCandleFile(f.path)).candles);
  const signals: RawSignal[] = [];
  for (const [symbol, candles] of bySymbol) {
    const market = markets[symbol];
    if (!market) throw new RangeError(`no market rules for ${symbol} in ${marketsFile}`);
    signals.push(...breakoutSignals(symbol, candles, market));
  }
  signals.push(...maxOpenTradesProbes(bySymbol));
  signals.push(...cooldownProbes(bySymbol.get('BTC/USDT:USDT')!));
  signals.push(outageProbe(bySymbol.get('ETH/USDT:USDT')!));
  const rank = (s: RawSignal) => (s.signalId.startsWith('probe-maxopen-') ? Number(s.signalId.slice(14)) : 0);
  signals.sort(
    (a, b) =>
      a.at.localeCompare(b.at) ||
      rank(a) - rank(b) ||
      a.symbol.localeCompare(b.symbol) ||
      a.signalId.localeCompare(b.signalId),
  );
  for (const s of signals) {
    const r = parseSignal(s);
    if (!r.ok) throw new RangeError(`generated an invalid signal ${s.signalId}: ${r.errors.join('; ')}`);
  }
  return signals;
}

/** The file's text: the signals as JSON, formatted with the repository's prettier settings. */
export async function renderSignals(
  signals: readonly RawSignal[],
  file = SAMPLE_SIGNALS_FILE,
): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(JSON.stringify(signals), { ...options, filepath: file });
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const signals = await makeSampleSignals(BUNDLED_CANDLES_DIR, BUNDLED_MARKETS_FILE);
  const text = await renderSignals(signals);
  if (check) {
    const current = await readFile(SAMPLE_SIGNALS_FILE, 'utf8').catch(() => '');
    if (current !== text) {
      process.stderr.write(
        `${SAMPLE_SIGNALS_FILE} is out of date: run npx tsx local/tools/make-sample-signals.ts\n`,
      );
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${SAMPLE_SIGNALS_FILE} is up to date (${signals.length} signals)\n`);
    return;
  }
  await writeFile(SAMPLE_SIGNALS_FILE, text);
  const perSymbol = new Map<string, number>();
  for (const s of signals) perSymbol.set(s.symbol, (perSymbol.get(s.symbol) ?? 0) + 1);
  process.stdout.write(
    `wrote ${signals.length} signals to ${SAMPLE_SIGNALS_FILE}: ${[...perSymbol].map(([s, n]) => `${shortSymbol(s)} ${n}`).join(', ')}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
