import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import {
  CLI_DEFAULTS,
  type CliOptions,
  main,
  parseCliArgs,
  parseIsoTime,
  prepareRun,
  type ReplayRunner,
  UsageError,
} from '../../local/cli.js';
import { REPO_ROOT } from '../../local/paths.js';
import { resultsFileSchema } from '../../local/replay/results.js';
import type { ReplayInput, ReplayResult } from '../../local/replay/types.js';

const run = promisify(execFile);

function options(argv: string[]): CliOptions {
  const r = parseCliArgs(argv, '/cwd');
  if (r.kind !== 'run') throw new Error(`expected a run, got ${JSON.stringify(r)}`);
  return r.options;
}
function error(argv: string[]): string {
  const r = parseCliArgs(argv, '/cwd');
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return r.message;
}

class Capture {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'tw-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseCliArgs', () => {
  it('defaults to the full engine, the bundled inputs and the 5-day window across the outage', () => {
    const o = options([]);
    expect(o).toMatchObject({
      engine: 'full',
      exchange: 'paper',
      scenario: 'default',
      dataDir: join(REPO_ROOT, 'data', 'candles'),
      signalsFile: join(REPO_ROOT, 'data', 'signals', 'sample-signals.json'),
      configFile: join(REPO_ROOT, 'local', 'default-config.json'),
      marketsFile: join(REPO_ROOT, 'data', 'markets.json'),
      symbols: ['BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDT:USDT', 'DOGE/USDT:USDT'],
      from: Date.UTC(2023, 2, 20),
      to: Date.UTC(2023, 2, 25),
      outDir: null,
      seed: null,
      quiet: false,
    });
    expect(o.slippageBps.toFixed()).toBe('2');
  });

  it('resolves paths against the working directory', () => {
    const o = options(['--data', 'd', '--signals', 's.json', '--config', '/abs/c.json', '--out', 'out']);
    expect([o.dataDir, o.signalsFile, o.configFile, o.outDir]).toEqual([
      '/cwd/d',
      '/cwd/s.json',
      '/abs/c.json',
      '/cwd/out',
    ]);
  });

  it('accepts short, pair and unified symbols and drops duplicates', () => {
    expect(options(['--symbols', 'btc, ETH-USDT ,SOL/USDT:USDT,BTC']).symbols).toEqual([
      'BTC/USDT:USDT',
      'ETH/USDT:USDT',
      'SOL/USDT:USDT',
    ]);
  });

  it('rejects an empty or spot symbol list', () => {
    expect(error(['--symbols', ' , '])).toMatch(/at least one symbol/);
    expect(error(['--symbols', 'BTC/USDT'])).toMatch(/spot symbol/);
  });

  it('accepts the full and core engines and names the known ones for any other', () => {
    expect(options(['--engine', 'core']).engine).toBe('core');
    expect(options(['--engine', 'FULL']).engine).toBe('full');
    expect(error(['--engine', 'warp'])).toMatch(/unknown engine "warp"; available: full, core/);
  });

  it('accepts the paper exchange, the Binance stub and the default scenario; other names are clear errors', () => {
    expect(options(['--exchange', 'paper', '--scenario', 'default'])).toMatchObject({
      exchange: 'paper',
      scenario: 'default',
    });
    expect(options(['--exchange', 'binanceusdm-stub'])).toMatchObject({ exchange: 'binanceusdm-stub' });
    expect(error(['--engine', 'core', '--exchange', 'binanceusdm-stub'])).toMatch(
      /--exchange binanceusdm-stub needs --engine full/,
    );
    expect(error(['--exchange', 'kraken'])).toMatch(
      /unknown exchange "kraken"; available: paper, binanceusdm-stub/,
    );
    expect(error(['--scenario', 'nonesuch'])).toMatch(
      /unknown scenario "nonesuch"; available: default, drift/,
    );
  });

  it('reads --from/--to as UTC dates, date-times and offsets', () => {
    const o = options(['--from', '2023-04-01', '--to', '2023-04-02T06:30+02:00']);
    expect(o.from).toBe(Date.UTC(2023, 3, 1));
    expect(o.to).toBe(Date.UTC(2023, 3, 2, 4, 30));
  });

  it('makes a 5-day window from only one bound', () => {
    expect(options(['--from', '2023-04-01'])).toMatchObject({
      from: Date.UTC(2023, 3, 1),
      to: Date.UTC(2023, 3, 6),
    });
    expect(options(['--to', '2023-04-06'])).toMatchObject({
      from: Date.UTC(2023, 3, 1),
      to: Date.UTC(2023, 3, 6),
    });
  });

  it('rejects impossible dates and an empty window', () => {
    expect(error(['--from', '2023-02-30'])).toMatch(/--from <time>.*not a valid calendar date/);
    expect(error(['--to', 'yesterday'])).toMatch(/not an ISO date/);
    expect(error(['--from', '2023-04-02', '--to', '2023-04-01'])).toMatch(/--from .* must be before --to/);
    expect(error(['--from', '2023-04-01', '--to', '2023-04-01'])).toMatch(/must be before/);
  });

  it('checks --seed and --slippage-bps', () => {
    expect(options(['--seed', '42']).seed).toBe(42);
    expect(error(['--seed', '-1'])).toMatch(/seed must be an integer from 0/);
    expect(error(['--seed', '1.5'])).toMatch(/seed must be an integer/);
    expect(options(['--slippage-bps', '0.5']).slippageBps.toFixed()).toBe('0.5');
    expect(error(['--slippage-bps', '-1'])).toMatch(/non-negative number of basis points/);
    expect(error(['--slippage-bps', '10000'])).toMatch(/below 10000/);
  });

  it('rejects unknown flags, missing values and stray arguments', () => {
    expect(error(['--bogus'])).toMatch(/unknown option '--bogus'/);
    expect(error(['--out'])).toMatch(/argument missing/);
    expect(error(['extra'])).toMatch(/too many arguments/);
  });

  it('returns the help text instead of printing it', () => {
    const r = parseCliArgs(['--help']);
    expect(r.kind).toBe('help');
    expect(r.kind === 'help' && r.text).toContain('--symbols <list>');
  });
});

describe('parseIsoTime', () => {
  it('parses seconds and milliseconds, Z and negative offsets', () => {
    expect(parseIsoTime('2023-03-24T12:40:05.250Z')).toBe(Date.UTC(2023, 2, 24, 12, 40, 5, 250));
    expect(parseIsoTime('2023-03-24T12:40-03:00')).toBe(Date.UTC(2023, 2, 24, 15, 40));
  });
  it('rejects out-of-range fields', () => {
    expect(() => parseIsoTime('2023-03-24T24:00')).toThrow(/not a valid calendar date/);
    expect(() => parseIsoTime('2023-13-01')).toThrow(/not a valid calendar date/);
    expect(() => parseIsoTime('2023-03-24T10:00+25:00')).toThrow(/invalid UTC offset/);
  });
});

describe('prepareRun', () => {
  const base = (): CliOptions => ({
    ...options(['--symbols', 'BTC', '--from', '2023-03-24T10:00', '--to', '2023-03-24T16:00']),
  });

  it('loads the window with warm-up candles before it and the gaps inside it', async () => {
    const p = await prepareRun(base());
    const candles = p.input.candles.get('BTC/USDT:USDT')!;
    expect(candles[0]!.openTime).toBe(Date.UTC(2023, 2, 24, 9, 0)); // 60 warm-up minutes
    expect(p.input.from).toBe(Date.UTC(2023, 2, 24, 10, 0));
    expect(p.run.gaps.get('BTC/USDT:USDT')).toEqual([
      { from: Date.UTC(2023, 2, 24, 12, 40), to: Date.UTC(2023, 2, 24, 14, 0) },
    ]);
    expect(p.input.fillModel.takerFeeRate.toFixed()).toBe('0.0005');
    expect(p.input.fillModel.makerFeeRate.toFixed()).toBe('0.0002');
    expect(p.input.fillModel.slippageBps.toFixed()).toBe('2');
  });

  async function usage(o: CliOptions): Promise<string> {
    const e = await prepareRun(o).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).message;
  }

  it('rejects a missing data directory', async () => {
    expect(await usage({ ...base(), dataDir: join(dir, 'nope') })).toMatch(
      /data directory .*nope does not exist/,
    );
  });

  it('rejects --out pointing at a file', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    expect(await usage({ ...base(), outDir: file })).toMatch(/exists and is not a directory/);
  });

  it('lists every invalid signal with its index, id and field', async () => {
    const file = join(dir, 'bad-signals.json');
    const good = {
      signalId: 'a',
      accountId: 'demo',
      exchange: 'paper',
      symbol: 'BTC/USDT:USDT',
      side: 'long',
      entry: 'market',
      stop: { pct: '1' },
      riskAmount: '3',
      rr: '2',
      at: '2023-03-24T11:00:00Z',
    };
    await writeFile(
      file,
      JSON.stringify([
        good,
        { ...good, signalId: 'b', rr: '-1' },
        { ...good, signalId: 'c', at: undefined },
        { ...good, signalId: 'd', accountId: 'other' },
      ]),
    );
    const msg = await usage({ ...base(), signalsFile: file });
    expect(msg).toContain('[1] (b) rr: must be greater than 0, got -1');
    expect(msg).toContain('[2] (c) at: a replayed signal needs its time');
    expect(msg).toContain('[3] (d) accountId: "other" is not in the configuration (demo)');
  });

  it('rejects a signal file that is not a JSON array', async () => {
    const file = join(dir, 'object.json');
    await writeFile(file, '{"signals": []}');
    expect(await usage({ ...base(), signalsFile: file })).toMatch(/must hold a JSON array/);
    await writeFile(file, '[{');
    expect(await usage({ ...base(), signalsFile: file })).toMatch(/is not valid JSON/);
  });

  it('rejects an invalid configuration with the field path', async () => {
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        accounts: [{ accountId: 'demo', exchange: 'paper' }],
        defaults: { risk: { maxOpenTrades: 0 } },
      }),
    );
    expect(await usage({ ...base(), configFile: file })).toMatch(
      /^invalid configuration \S+config\.json:\n {2}- risk\.maxOpenTrades: /,
    );
  });

  it('rejects symbols without trading rules or candles, and windows without candles', async () => {
    expect(await usage({ ...base(), symbols: ['XRP/USDT:USDT'] })).toMatch(
      /no trading rules for XRP\/USDT:USDT/,
    );
    const emptyDir = join(dir, 'empty-data');
    await mkdir(emptyDir, { recursive: true });
    expect(await usage({ ...base(), dataDir: emptyDir })).toMatch(
      /no candle file for BTC\/USDT:USDT .*available: none/,
    );
    expect(await usage({ ...base(), from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 2) })).toMatch(
      /no BTC\/USDT:USDT candles from 2024-01-01/,
    );
  });
});

function fakeResult(input: ReplayInput): ReplayResult {
  input.onProgress?.(1, 2);
  input.onProgress?.(2, 2);
  return {
    summary: {
      engine: 'core',
      from: input.from!,
      to: input.to!,
      symbols: [...input.candles.keys()],
      candles: 2,
      signals: 0,
      duplicateSignals: 0,
      trades: 0,
      skipped: 0,
      cancelled: 0,
      failed: 0,
      wins: 0,
      losses: 0,
      netPnl: D(0),
      fees: D(0),
      winRate: null,
      profitFactor: null,
      expectancy: null,
      sharpe: null,
      sortino: null,
      maxDrawdown: D(0),
      maxDrawdownPct: 0,
      milestones: { '10': { live: 0, shadow: 0, medianSeconds: null } },
      stopUpdates: { applied: 0, skippedMinStep: 0 },
      failSafeRejections: 0,
      failSafeTightened: 0,
      exitReasons: {},
      wallMs: 1,
    },
    trades: [],
  };
}

describe('main', () => {
  const window = ['--symbols', 'ETH', '--from', '2023-03-24T10:00', '--to', '2023-03-24T16:00'];

  it('exits 2 on a bad flag and writes nothing', async () => {
    const out = join(dir, 'never');
    const stdout = new Capture();
    const stderr = new Capture();
    const runner: ReplayRunner = () => {
      throw new Error('must not run');
    };
    expect(await main(['--out', out, '--scenario', 'nonesuch'], { stdout, stderr }, runner)).toBe(2);
    expect(stderr.text).toMatch(/^error: .*unknown scenario "nonesuch"/);
    expect(stdout.text).toBe('');
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('exits 2 on bad input found while preparing and writes nothing', async () => {
    const out = join(dir, 'never2');
    const stderr = new Capture();
    expect(
      await main(
        [...window, '--out', out, '--data', join(dir, 'missing')],
        { stdout: new Capture(), stderr },
        fakeResult,
      ),
    ).toBe(2);
    expect(stderr.text).toMatch(/data directory .* does not exist/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('prints the summary tables and writes results.json', async () => {
    const out = join(dir, 'out-fake');
    const stdout = new Capture();
    const stderr = new Capture();
    expect(await main([...window, '--out', out, '--seed', '9'], { stdout, stderr }, fakeResult)).toBe(0);
    for (const label of [
      'Trades (closed)',
      'Net PnL',
      'Win rate',
      'Profit factor',
      'Sharpe / Sortino',
      'Max drawdown',
      'Stop updates',
      'Fail-safe',
      'Exit reasons',
      'Data gaps',
      'Wall time',
      'Live hits',
      'Shadow hits',
    ]) {
      expect(stdout.text).toContain(label);
    }
    expect(stdout.text).toContain('ETH 2023-03-24 12:40 → 2023-03-24 14:00 (80 candles)');
    expect(stderr.text).toBe(''); // not a TTY: no progress bar
    const json: unknown = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(resultsFileSchema.parse(json).run?.seed).toBe(9);
  });

  it('draws a progress bar on a terminal, and none with --quiet', async () => {
    const tty = new Capture();
    tty.isTTY = true;
    expect(await main(window, { stdout: new Capture(), stderr: tty }, fakeResult)).toBe(0);
    expect(tty.text).toContain('candles');
    const quiet = new Capture();
    quiet.isTTY = true;
    expect(await main([...window, '--quiet'], { stdout: new Capture(), stderr: quiet }, fakeResult)).toBe(0);
    expect(quiet.text).toBe('');
  });

  it('runs the real core engine and writes a results.json that matches the schema', async () => {
    const out = join(dir, 'out-real');
    const stdout = new Capture();
    expect(await main(['--quiet', '--engine', 'core', '--out', out], { stdout, stderr: new Capture() })).toBe(
      0,
    );
    const parsed = resultsFileSchema.safeParse(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));
    expect(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3))).toBe(true);
    const results = parsed.data!;
    expect(results.summary.candles).toBeGreaterThan(28_000);
    expect(results.summary.from).toBe(new Date(CLI_DEFAULTS.from).toISOString());
    expect(results.trades.length).toBe(results.summary.signals);
    expect(results.trades.some((t) => t.outcome === 'SKIPPED')).toBe(true);
  });
});

describe('npm start --help (a real process)', () => {
  it('lists every flag', async () => {
    const { stdout } = await run('npx', ['tsx', 'local/cli.ts', '--help'], { cwd: REPO_ROOT });
    for (const flag of [
      '--engine',
      '--exchange',
      '--scenario',
      '--data',
      '--signals',
      '--config',
      '--symbols',
      '--from',
      '--to',
      '--out',
      '--seed',
      '--quiet',
    ]) {
      expect(stdout).toContain(flag);
    }
  });
});
