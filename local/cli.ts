/**
 * `npm start`: replays bundled (or given) candles and signals through the engine and prints a summary.
 *
 *     npm start                                   # the default 5-day window, BTC ETH SOL DOGE
 *     npm start -- --symbols BTC,ETH --from 2023-04-01 --to 2023-04-08 --out out/
 *
 * Parsing ({@link parseCliArgs}) and preparation ({@link prepareRun}) reject bad input with a
 * {@link UsageError} before anything is run or written; {@link main} turns that into exit code 2.
 * Flags and the results format: docs/replay.md.
 */
import { readFile, stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type EngineConfig, parseConfig } from '../functions/core/config.js';
import { D, type Decimal } from '../functions/core/decimal.js';
import type { FillModelOptions } from '../functions/core/fill-model.js';
import { ValidationError } from '../functions/core/schema-util.js';
import { parseSignal, type Signal } from '../functions/core/signal.js';
import type { Candle, MarketRules } from '../functions/core/types.js';
import {
  type CandleGap,
  listCandleFiles,
  loadCandleFile,
  loadMarkets,
  MarketDataError,
  shortSymbol,
  toUnifiedSymbol,
} from './market-data.js';
import {
  BUNDLED_CANDLES_DIR,
  BUNDLED_MARKETS_FILE,
  BUNDLED_SIGNALS_FILE,
  DEFAULT_CONFIG_FILE,
  REPO_ROOT,
} from './paths.js';
import { type RunInfo, serializeResults, writeResults } from './replay/results.js';
import type { ReplayInput, ReplayResult } from './replay/types.js';
import type { ReconciliationSection } from './runtime/drift-scenario.js';
import { runIfEntryPoint } from './entry-point.js';
import { renderReport, writeReport } from './report/report.js';

const DAY_MS = 86_400_000;

/** Defaults of every flag. Paths are absolute; the help shows them relative to the repository. */
export const CLI_DEFAULTS = {
  engine: 'full',
  exchange: 'paper',
  scenario: 'default',
  dataDir: BUNDLED_CANDLES_DIR,
  signalsFile: BUNDLED_SIGNALS_FILE,
  configFile: DEFAULT_CONFIG_FILE,
  marketsFile: BUNDLED_MARKETS_FILE,
  symbols: ['BTC', 'ETH', 'SOL', 'DOGE'],
  /** 2023-03-20T00:00Z → 2023-03-25T00:00Z: five days across the 2023-03-24 Binance outage. */
  from: Date.UTC(2023, 2, 20),
  to: Date.UTC(2023, 2, 25),
  /** Window length used when only one of --from / --to is given. */
  windowMs: 5 * DAY_MS,
  slippageBps: '2',
} as const;

/** The engines `--engine` knows: the serverless engine on local emulators, or the domain core alone. */
export const ENGINES = ['full', 'core'] as const;
export type EngineName = (typeof ENGINES)[number];

/** The exchanges `--exchange` knows (the full engine's exchange; the core engine uses its fill model). */
export const EXCHANGES = ['paper', 'binanceusdm-stub'] as const;
export type ExchangeName = (typeof EXCHANGES)[number];

/** The scenarios `--scenario` knows. */
export const SCENARIOS = ['default', 'drift'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Everything a run needs, after parsing and defaults. Times are epoch ms, [from, to). */
export interface CliOptions {
  engine: EngineName;
  exchange: ExchangeName;
  scenario: ScenarioName;
  dataDir: string;
  signalsFile: string;
  configFile: string;
  marketsFile: string;
  /** ccxt unified symbols, in the order given, without duplicates. */
  symbols: string[];
  from: number;
  to: number;
  outDir: string | null;
  seed: number | null;
  slippageBps: Decimal;
  quiet: boolean;
}

/** Outcome of parsing the command line: a run, a help text to print, or a usage error. */
export type CliParse =
  { kind: 'run'; options: CliOptions } | { kind: 'help'; text: string } | { kind: 'error'; message: string };

/** Bad input found before the run (flags, files, signals, configuration): exit code 2, nothing written. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Parses an ISO 8601 date (`2023-03-20`) or date-time (`2023-03-20T12:30`, `…:00Z`, `…+02:00`) to epoch ms.
 * A value without an offset is UTC. Impossible dates (2023-02-30) are rejected, not rolled over.
 */
export function parseIsoTime(text: string): number {
  const m = TIME_RE.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not an ISO date such as 2023-03-20 or 2023-03-20T12:30Z`);
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) =>
    Number(v ?? 0),
  ) as [number, number, number, number, number, number];
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0;
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const d = new Date(t);
  if (
    d.getUTCFullYear() !== year ||
    d.getUTCMonth() !== month - 1 ||
    d.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new RangeError(`"${text}" is not a valid calendar date and time`);
  }
  const zone = m[8];
  if (zone === undefined || zone === 'Z') return t;
  const sign = zone.startsWith('-') ? -1 : 1;
  const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
  if (zh > 23 || zm > 59) throw new RangeError(`"${text}" has an invalid UTC offset ${zone}`);
  return t - sign * (zh * 60 + zm) * 60_000;
}

function argParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
    }
  };
}

function parseEngine(value: string): EngineName {
  const v = value.trim().toLowerCase();
  if ((ENGINES as readonly string[]).includes(v)) return v as EngineName;
  throw new Error(`unknown engine "${value}"; available: ${ENGINES.join(', ')}`);
}

function parseExchange(value: string): ExchangeName {
  const v = value.trim().toLowerCase();
  if ((EXCHANGES as readonly string[]).includes(v)) return v as ExchangeName;
  throw new Error(`unknown exchange "${value}"; available: ${EXCHANGES.join(', ')}`);
}

function parseScenario(value: string): ScenarioName {
  const v = value.trim();
  if ((SCENARIOS as readonly string[]).includes(v)) return v as ScenarioName;
  throw new Error(`unknown scenario "${value}"; available: ${SCENARIOS.join(', ')}`);
}

function parseSymbols(value: string): string[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new Error('give at least one symbol, e.g. BTC,ETH');
  return [...new Set(parts.map((p) => toUnifiedSymbol(p)))];
}

function parseSeed(value: string): number {
  if (!/^\d{1,10}$/.test(value.trim()) || Number(value) > 0xffffffff) {
    throw new Error(`seed must be an integer from 0 to 4294967295, got "${value}"`);
  }
  return Number(value);
}

function parseBps(value: string): Decimal {
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text))
    throw new Error(`slippage must be a non-negative number of basis points, got "${value}"`);
  const d = new D(text);
  if (d.gte(10_000)) throw new Error(`slippage must be below 10000 bps, got ${text}`);
  return d;
}

function rel(path: string): string {
  return relative(REPO_ROOT, path) || '.';
}

/** The commander program with every flag and its help; a fresh instance per parse. */
export function buildProgram(): Command {
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  const program = new Command('npm start --')
    .description(
      'Replay real Binance candles and a signal file through the Tradewarden engine, then print a summary ' +
        '(trades, PnL, win rate, profit factor, Sharpe, max drawdown, milestones, stop updates, fail-safe rejections).',
    )
    .addOption(
      new Option(
        '--engine <name>',
        'engine to run: full (the serverless engine — handlers, state machine, queues, table — on local emulators) or core (the domain core with the paper fill model)',
      )
        .default(CLI_DEFAULTS.engine)
        .argParser(argParser(parseEngine)),
    )
    .addOption(
      new Option(
        '--exchange <name>',
        'exchange of the full engine: paper (driven by the candles) or binanceusdm-stub (the real ccxt binanceusdm client against the local Binance USD-M protocol stub, backed by the same paper exchange)',
      )
        .default(CLI_DEFAULTS.exchange)
        .argParser(argParser(parseExchange)),
    )
    .addOption(
      new Option(
        '--scenario <name>',
        'scenario to run: default (the signals as given), drift (the full engine, then drift on its exchange reconciled by its reconciler, see docs/operations.md)',
      )
        .default(CLI_DEFAULTS.scenario)
        .argParser(argParser(parseScenario)),
    )
    .addOption(
      new Option(
        '--data <dir>',
        'directory of candle files <exchange>_<BASE>-<QUOTE>_<interval>.csv[.gz]',
      ).default(CLI_DEFAULTS.dataDir, rel(CLI_DEFAULTS.dataDir)),
    )
    .addOption(
      new Option('--signals <file>', 'JSON array of signals, each with an "at" time').default(
        CLI_DEFAULTS.signalsFile,
        rel(CLI_DEFAULTS.signalsFile),
      ),
    )
    .addOption(
      new Option('--config <file>', 'engine configuration (accounts, risk limits, exit options)').default(
        CLI_DEFAULTS.configFile,
        rel(CLI_DEFAULTS.configFile),
      ),
    )
    .addOption(
      new Option(
        '--markets <file>',
        'exchange trading rules per symbol (tick size, lot step, minimums)',
      ).default(CLI_DEFAULTS.marketsFile, rel(CLI_DEFAULTS.marketsFile)),
    )
    .addOption(
      new Option(
        '--symbols <list>',
        'comma-separated symbols: short (BTC), pair (BTC-USDT) or unified (BTC/USDT:USDT)',
      )
        .default(
          CLI_DEFAULTS.symbols.map((s) => toUnifiedSymbol(s)),
          CLI_DEFAULTS.symbols.join(','),
        )
        .argParser(argParser(parseSymbols)),
    )
    .addOption(
      new Option(
        '--from <time>',
        `start of the window, inclusive: ISO date or date-time, UTC unless an offset is given (default: ${iso(CLI_DEFAULTS.from)}, or 5 days before --to)`,
      ).argParser(argParser(parseIsoTime)),
    )
    .addOption(
      new Option(
        '--to <time>',
        `end of the window, exclusive (default: ${iso(CLI_DEFAULTS.to)}, or 5 days after --from)`,
      ).argParser(argParser(parseIsoTime)),
    )
    .addOption(
      new Option('--out <dir>', 'write <dir>/results.json (summary and every trade) and <dir>/report.html'),
    )
    .addOption(
      new Option(
        '--seed <n>',
        "random seed of the full engine's simulated order latency (default 1; recorded in results.json)",
      ).argParser(argParser(parseSeed)),
    )
    .addOption(
      new Option(
        '--slippage-bps <bps>',
        'adverse slippage of market fills and triggered stops, in basis points',
      )
        .default(new D(CLI_DEFAULTS.slippageBps), CLI_DEFAULTS.slippageBps)
        .argParser(argParser(parseBps)),
    )
    .addOption(
      new Option('--quiet', 'no progress bar and no notes on stderr (the summary still goes to stdout)'),
    )
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
Times are UTC. The default window is ${iso(CLI_DEFAULTS.from)} → ${iso(CLI_DEFAULTS.to)} (it crosses the
2023-03-24 Binance outage, 80 missing minutes). Fees come from the configuration (taker 0.0005,
maker 0.0002 by default). Exit codes: 0 done, 1 the run failed, 2 bad flags or input (nothing written).

Examples:
  npm start
  npm start -- --symbols BTC,ETH --from 2023-04-01 --to 2023-04-08 --out out
  npm start -- --symbols OP --from 2025-10-09 --to 2025-10-13    # the 10 Oct 2025 crash (3m candles)`,
    )
    .allowExcessArguments(false)
    .allowUnknownOption(false);
  return program;
}

interface RawOptions {
  engine: EngineName;
  exchange: ExchangeName;
  scenario: ScenarioName;
  data: string;
  signals: string;
  config: string;
  markets: string;
  symbols: string[];
  from?: number;
  to?: number;
  out?: string;
  seed?: number;
  slippageBps: Decimal;
  quiet?: boolean;
}

/**
 * Parses the command-line arguments (without `node` and the script). Never exits the process and never
 * prints: help and errors are returned for {@link main} to print.
 */
export function parseCliArgs(argv: readonly string[], cwd = process.cwd()): CliParse {
  const program = buildProgram();
  let out = '';
  program.exitOverride();
  program.configureOutput({
    writeOut: (s) => {
      out += s;
    },
    writeErr: () => {},
    outputError: () => {},
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help')
        return { kind: 'help', text: out };
      return { kind: 'error', message: e.message.replace(/^error: /, '') };
    }
    throw e;
  }
  const o = program.opts<RawOptions>();
  let from = o.from;
  let to = o.to;
  if (from === undefined && to === undefined) {
    from = CLI_DEFAULTS.from;
    to = CLI_DEFAULTS.to;
  } else if (from === undefined) from = to! - CLI_DEFAULTS.windowMs;
  else if (to === undefined) to = from + CLI_DEFAULTS.windowMs;
  if (!(from < to!)) {
    return {
      kind: 'error',
      message: `--from (${new Date(from).toISOString()}) must be before --to (${new Date(to!).toISOString()})`,
    };
  }
  if (o.engine === 'core' && o.scenario === 'drift') {
    return {
      kind: 'error',
      message:
        "--scenario drift needs --engine full (the drift is made on the engine's exchange and reconciled through its handlers and state machine)",
    };
  }
  if (o.engine === 'core' && o.exchange !== 'paper') {
    return {
      kind: 'error',
      message: `--exchange ${o.exchange} needs --engine full (the core engine fills orders with its fill model)`,
    };
  }
  const path = (p: string) => resolve(cwd, p);
  return {
    kind: 'run',
    options: {
      engine: o.engine,
      exchange: o.exchange,
      scenario: o.scenario,
      dataDir: path(o.data),
      signalsFile: path(o.signals),
      configFile: path(o.config),
      marketsFile: path(o.markets),
      symbols: o.symbols,
      from,
      to: to!,
      outDir: o.out === undefined ? null : path(o.out),
      seed: o.seed ?? null,
      slippageBps: o.slippageBps,
      quiet: o.quiet === true,
    },
  };
}

/** A run ready to start: the replay input and what results.json records about it. */
export interface PreparedRun {
  input: ReplayInput;
  run: RunInfo;
  options: CliOptions;
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`the ${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const MAX_LISTED_PROBLEMS = 12;

function listProblems(head: string, problems: string[]): string {
  const shown = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => `  - ${p}`);
  if (problems.length > MAX_LISTED_PROBLEMS)
    shown.push(`  … and ${problems.length - MAX_LISTED_PROBLEMS} more`);
  return `${head}\n${shown.join('\n')}`;
}

/** Reads and validates a signal file: a JSON array of signals, each valid, each with `at`, known accounts. */
export async function loadSignals(file: string, config: EngineConfig): Promise<Signal[]> {
  const raw = await readJson(file, 'signal file');
  if (!Array.isArray(raw)) throw new UsageError(`the signal file ${file} must hold a JSON array of signals`);
  const problems: string[] = [];
  const signals: Signal[] = [];
  raw.forEach((item: unknown, i) => {
    const id =
      typeof item === 'object' &&
      item !== null &&
      typeof (item as { signalId?: unknown }).signalId === 'string'
        ? ` (${(item as { signalId: string }).signalId})`
        : '';
    const r = parseSignal(item);
    if (!r.ok) {
      problems.push(...r.errors.map((e) => `[${i}]${id} ${e}`));
      return;
    }
    if (r.signal.at === undefined) problems.push(`[${i}]${id} at: a replayed signal needs its time ("at")`);
    else if (!config.accounts.has(r.signal.accountId)) {
      problems.push(
        `[${i}]${id} accountId: "${r.signal.accountId}" is not in the configuration (${[...config.accounts.keys()].join(', ')})`,
      );
    } else signals.push(r.signal);
  });
  if (problems.length > 0) throw new UsageError(listProblems(`invalid signals in ${file}:`, problems));
  return signals;
}

async function requireDirectory(dir: string, what: string): Promise<void> {
  const s = await stat(dir).catch(() => null);
  if (!s) throw new UsageError(`the ${what} ${dir} does not exist`);
  if (!s.isDirectory()) throw new UsageError(`the ${what} ${dir} is not a directory`);
}

/** Candles loaded before `from` so ATR stops and the health score have history at the first signal. */
function warmupCandles(config: EngineConfig): number {
  let period = config.defaults.exits.atrPeriod;
  for (const a of config.accounts.values()) period = Math.max(period, a.options.exits.atrPeriod);
  return Math.max(60, period + 1);
}

function clipGaps(gaps: readonly CandleGap[], from: number, to: number): CandleGap[] {
  return gaps
    .filter((g) => g.to > from && g.from < to)
    .map((g) => ({ from: Math.max(g.from, from), to: Math.min(g.to, to) }));
}

/**
 * Loads and checks every input of a run: configuration, markets, signals and candles (with a warm-up
 * before `from`). Any problem is a {@link UsageError} and nothing has been written.
 */
export async function prepareRun(options: CliOptions): Promise<PreparedRun> {
  const started = performance.now();
  if (options.outDir !== null) {
    const s = await stat(options.outDir).catch(() => null);
    if (s && !s.isDirectory()) throw new UsageError(`--out ${options.outDir} exists and is not a directory`);
  }
  await requireDirectory(options.dataDir, 'data directory');

  let config: EngineConfig;
  try {
    config = parseConfig(await readJson(options.configFile, 'configuration'));
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new UsageError(listProblems(`invalid configuration ${options.configFile}:`, e.problems));
    }
    throw e;
  }

  let markets: Record<string, MarketRules>;
  try {
    markets = await loadMarkets(options.marketsFile);
  } catch (e) {
    if (e instanceof MarketDataError) throw new UsageError(e.message);
    throw e;
  }
  const noRules = options.symbols.filter((s) => markets[s] === undefined);
  if (noRules.length > 0) {
    throw new UsageError(
      `no trading rules for ${noRules.join(', ')} in ${options.marketsFile} (it has ${Object.keys(markets).join(', ')})`,
    );
  }

  const signals = await loadSignals(options.signalsFile, config);

  const files = await listCandleFiles(options.dataDir).catch((e: unknown) => {
    throw e instanceof MarketDataError ? new UsageError(e.message) : e;
  });
  const bySymbol = new Map(files.map((f) => [f.symbol, f]));
  const missing = options.symbols.filter((s) => !bySymbol.has(s));
  if (missing.length > 0) {
    const have = files.map((f) => shortSymbol(f.symbol)).join(', ') || 'none';
    throw new UsageError(
      `no candle file for ${missing.join(', ')} in ${options.dataDir} (available: ${have})`,
    );
  }
  const warmup = warmupCandles(config);
  const loaded = await Promise.all(
    options.symbols.map((s) => {
      const f = bySymbol.get(s)!;
      return loadCandleFile(f.path, { from: options.from - warmup * f.intervalMs, to: options.to });
    }),
  ).catch((e: unknown) => {
    throw e instanceof MarketDataError ? new UsageError(e.message) : e;
  });

  const candles = new Map<string, readonly Candle[]>();
  const gaps = new Map<string, CandleGap[]>();
  const intervalMs = new Map<string, number>();
  const iso = (t: number) => new Date(t).toISOString();
  for (const l of loaded) {
    if (!l.candles.some((c) => c.openTime >= options.from)) {
      throw new UsageError(
        `no ${l.symbol} candles from ${iso(options.from)} to ${iso(options.to)} in ${l.file}; choose --from/--to inside the file's range`,
      );
    }
    candles.set(l.symbol, l.candles);
    gaps.set(l.symbol, clipGaps(l.gaps, options.from, options.to));
    intervalMs.set(l.symbol, l.intervalMs);
  }

  if (options.scenario === 'drift') {
    const { checkDriftInput } = await import('./runtime/drift-scenario.js');
    try {
      checkDriftInput({ candles, config });
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
  }

  const fillModel: FillModelOptions = {
    slippageBps: options.slippageBps,
    takerFeeRate: config.defaults.fees.takerRate,
    makerFeeRate: config.defaults.fees.makerRate,
  };
  return {
    options,
    input: { candles, signals, config, markets, fillModel, from: options.from, to: options.to },
    run: {
      engine: options.engine,
      dataDir: options.dataDir,
      signalsFile: options.signalsFile,
      configFile: options.configFile,
      marketsFile: options.marketsFile,
      seed: options.seed,
      fillModel,
      gaps,
      intervalMs,
      loadMs: performance.now() - started,
    },
  };
}

function fmtMoney(d: Decimal, quote: string): string {
  return `${d.toFixed(2)} ${quote}`;
}
function fmtRatio(x: number | null): string {
  return x === null ? 'n/a' : x.toFixed(2);
}
function fmtPct(fraction: number | null): string {
  return fraction === null ? 'n/a' : `${(fraction * 100).toFixed(1)} %`;
}
function fmtDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
function fmtMinute(t: number): string {
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}

/** Extra facts for the summary table beyond the replay result. */
export interface SummaryContext {
  run: RunInfo;
  /** Wall time of the whole command so far (load + replay). */
  totalMs: number;
  resultsFile: string | null;
}

/** The summary tables printed at the end of a run (plain text, no colours). */
export function renderSummary(result: ReplayResult, ctx: SummaryContext): string {
  const s = result.summary;
  const quote = s.symbols[0]?.split(':')[1] ?? 'quote';
  const style = { head: [], border: [] };
  // No rule between body rows: a compact table that still reads well in a terminal and in a log file.
  const chars = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
  const main = new Table({ style, chars, head: ['Replay', `engine ${s.engine}`] });
  const reasons = Object.entries(s.exitReasons).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const gapLines: string[] = [];
  for (const [symbol, list] of ctx.run.gaps) {
    const step = ctx.run.intervalMs.get(symbol) ?? 60_000;
    for (const g of list) {
      gapLines.push(
        `${shortSymbol(symbol)} ${fmtMinute(g.from)} → ${fmtMinute(g.to)} (${Math.ceil((g.to - g.from) / step)} candles)`,
      );
    }
  }
  main.push(
    ['Window (UTC)', `${fmtMinute(s.from)} → ${fmtMinute(s.to)}`],
    ['Symbols', s.symbols.map(shortSymbol).join(', ')],
    ['Candles', String(s.candles)],
    [
      'Signals',
      `${s.signals}: ${s.trades} traded, ${s.skipped} skipped, ${s.cancelled} cancelled, ${s.failed} failed` +
        (s.duplicateSignals > 0 ? `, ${s.duplicateSignals} duplicates ignored` : ''),
    ],
    ['Trades (closed)', `${s.trades} (${s.wins} wins, ${s.losses} losses)`],
    ['Net PnL', `${fmtMoney(s.netPnl, quote)} (fees ${fmtMoney(s.fees, quote)})`],
    ['Win rate', fmtPct(s.winRate)],
    ['Profit factor', fmtRatio(s.profitFactor)],
    ['Expectancy', s.expectancy === null ? 'n/a' : `${fmtMoney(s.expectancy, quote)} per trade`],
    ['Sharpe / Sortino', `${fmtRatio(s.sharpe)} / ${fmtRatio(s.sortino)} (daily, ×√365)`],
    ['Max drawdown', `${fmtMoney(s.maxDrawdown, quote)} (${s.maxDrawdownPct.toFixed(3)} %)`],
    [
      'Stop updates',
      `${s.stopUpdates.applied} applied, ${s.stopUpdates.skippedMinStep} skipped (below min step)`,
    ],
    [
      'Fail-safe',
      `${s.failSafeRejections} stop updates rejected, ${s.failSafeTightened} initial stops tightened`,
    ],
    ...(result.latency
      ? [
          [
            'Fill → stop',
            result.latency.fillToStopMs.count === 0
              ? 'n/a (no fills)'
              : `p50 ${result.latency.fillToStopMs.p50} ms, p99 ${result.latency.fillToStopMs.p99} ms (simulated, ${result.latency.fillToStopMs.count} fills)`,
          ],
        ]
      : []),
    ...(result.invariants
      ? [
          ['DLQ', `${result.invariants.dlqMessages} message(s)`],
          [
            'Invariants',
            result.invariants.checks
              .map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name} (${c.checked})`)
              .join('\n'),
          ],
        ]
      : []),
    ...(result.costModel
      ? [
          [
            'AWS cost model',
            `$${result.costModel.perTrade.cost.total.toFixed(5)} per trade, $${result.costModel.per1000Trades.cost.total.toFixed(2)} per 1,000 trades, $${result.costModel.idleMonth.cost.total.toFixed(2)} per idle month (list prices ${result.costModel.prices.asOf})`,
          ],
        ]
      : []),
    ['Exit reasons', reasons.length === 0 ? 'none' : reasons.map(([r, n]) => `${r} ${n}`).join('\n')],
    ['Data gaps', gapLines.length === 0 ? 'none' : gapLines.join('\n')],
    [
      'Wall time',
      `${fmtDuration(ctx.totalMs)} (load ${fmtDuration(ctx.run.loadMs)}, replay ${fmtDuration(s.wallMs)})`,
    ],
  );
  if (ctx.resultsFile !== null) main.push(['Results', ctx.resultsFile]);

  const ms = new Table({
    style,
    chars,
    head: ['Milestone (% on margin)', 'Live hits', 'Shadow hits', 'Median s to hit'],
  });
  const thresholds = Object.keys(s.milestones).sort((a, b) => Number(a) - Number(b));
  for (const t of thresholds) {
    const m = s.milestones[t]!;
    ms.push([
      `${t} %`,
      String(m.live),
      String(m.shadow),
      m.medianSeconds === null ? 'n/a' : String(m.medianSeconds),
    ]);
  }
  return `${main.toString()}\n${ms.toString()}\n`;
}

/** Where {@link main} writes and whether stderr is a terminal (for the progress bar). */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

/** The engine entry point, injectable for tests. */
export type ReplayRunner = (input: ReplayInput) => ReplayResult | Promise<ReplayResult>;

async function defaultRunner(options: CliOptions): Promise<ReplayRunner> {
  if (options.engine === 'full') {
    const { runFullReplay } = await import('./runtime/full-replay.js');
    return (input) =>
      runFullReplay(input, {
        exchange: options.exchange,
        ...(options.seed === null ? {} : { seed: options.seed }),
      });
  }
  const { runCoreReplay } = await import('./replay/engine.js');
  return runCoreReplay;
}

/**
 * Runs the CLI: parse, prepare, replay, print the summary, write results.json. Returns the exit code
 * (0 done, 1 the run failed, 2 bad flags or input; nothing is written on 2).
 */
export async function main(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  runner?: ReplayRunner,
): Promise<number> {
  const started = performance.now();
  const parsed = parseCliArgs(argv);
  if (parsed.kind === 'help') {
    io.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === 'error') {
    io.stderr.write(`error: ${parsed.message}\nRun "npm start -- --help" for the flags.\n`);
    return 2;
  }
  const options = parsed.options;
  let prepared: PreparedRun;
  try {
    prepared = await prepareRun(options);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const replay = runner ?? (await defaultRunner(options));
  const showProgress = !options.quiet && io.stderr.isTTY === true;
  const bar = showProgress
    ? new cliProgress.SingleBar(
        {
          stream: io.stderr as NodeJS.WritableStream,
          format: 'replay |{bar}| {percentage}% | {value}/{total} candles | {duration_formatted}',
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let result: ReplayResult;
  let reconciliation: ReconciliationSection | null = null;
  try {
    let startedBar = false;
    const input: ReplayInput = {
      ...prepared.input,
      onProgress: (done, total) => {
        if (!bar) return;
        if (!startedBar) {
          bar.start(total, done);
          startedBar = true;
        } else bar.update(done);
      },
    };
    if (options.scenario === 'drift') {
      const { runDriftScenario } = await import('./runtime/drift-scenario.js');
      ({ result, reconciliation } = await runDriftScenario(input, {
        replay: { exchange: options.exchange, ...(options.seed === null ? {} : { seed: options.seed }) },
      }));
    } else result = await replay(input);
  } finally {
    bar?.stop();
  }
  let resultsFile: string | null = null;
  if (options.outDir !== null) {
    const resultsDoc = serializeResults(result, prepared.run);
    if (reconciliation !== null) resultsDoc.reconciliation = reconciliation;
    resultsFile = await writeResults(options.outDir, resultsDoc);
    await writeReport(options.outDir, renderReport(resultsDoc, prepared.input.candles));
  }
  io.stdout.write(
    renderSummary(result, { run: prepared.run, totalMs: performance.now() - started, resultsFile }),
  );
  if (reconciliation !== null) {
    const [dry, applied, again] = reconciliation.runs;
    io.stdout.write(
      `Reconciliation after ${reconciliation.drifts.length} drifts: dry run ${dry?.mismatches ?? 0} findings, ` +
        `applied ${applied?.actions.length ?? 0} actions, dry run again ${again?.mismatches ?? 0} findings\n`,
    );
  }
  return 0;
}

runIfEntryPoint(import.meta.url, main, 'error: the run failed');
