import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import {
  resultsFileSchema,
  type RunInfo,
  serializeResults,
  serializeTrade,
  summaryJsonSchema,
  tradeJsonSchema,
  writeResults,
} from '../../local/replay/results.js';
import type { ReplayResult, ReplaySummary, TradeResult } from '../../local/replay/types.js';

const T = Date.UTC(2023, 2, 20, 14, 15); // 2023-03-20T14:15:00.000Z

function trade(overrides: Partial<TradeResult> = {}): TradeResult {
  return {
    tradeId: 'demo.BTC-20230320T1415-long',
    signalId: 'BTC-20230320T1415-long',
    accountId: 'demo',
    symbol: 'BTC/USDT:USDT',
    side: 'long',
    status: 'FINALIZED',
    outcome: 'TRADED',
    statusReason: null,
    signalAt: T,
    entryFilledAt: T,
    entryPrice: D('28000.50'),
    qty: D('0.0130'),
    stopPlacedAt: T,
    stops: [
      { at: T, price: D('27818.3'), reason: 'INITIAL' },
      { at: T + 300_000, price: D('28180.1'), reason: 'TRAILING' },
    ],
    takeProfit: D('28546.9'),
    exitAt: T + 420_000,
    exitPrice: D('28176.2'),
    exitReason: 'TRAILING_STOP',
    realizedPnl: D('1.9311'),
    fees: D('0.3656'),
    maxLoss: D('3'),
    milestones: { '10': 300, '15': null, '20': null, '25': null, '30': null },
    shadowMilestones: { '10': 300, '15': 1260, '20': null, '25': null, '30': null },
    partialExits: [{ at: T + 360_000, price: D('28273.7'), qty: D('0.006') }],
    entrySlippage: D('5.6'),
    ...overrides,
  };
}

function summary(overrides: Partial<ReplaySummary> = {}): ReplaySummary {
  return {
    engine: 'core',
    from: Date.UTC(2023, 2, 20),
    to: Date.UTC(2023, 2, 25),
    symbols: ['BTC/USDT:USDT'],
    candles: 7120,
    signals: 2,
    duplicateSignals: 0,
    trades: 1,
    skipped: 1,
    cancelled: 0,
    failed: 0,
    wins: 1,
    losses: 0,
    netPnl: D('1.9311'),
    fees: D('0.3656'),
    winRate: 1,
    profitFactor: null,
    expectancy: D('1.9311'),
    sharpe: null,
    sortino: null,
    maxDrawdown: D('0'),
    maxDrawdownPct: 0,
    milestones: { '10': { live: 1, shadow: 2, medianSeconds: 300 } },
    stopUpdates: { applied: 1, skippedMinStep: 0 },
    failSafeRejections: 0,
    failSafeTightened: 0,
    exitReasons: { TRAILING_STOP: 1 },
    wallMs: 12.5,
    ...overrides,
  };
}

const skipped = trade({
  tradeId: 'demo.probe-maxopen-7',
  signalId: 'probe-maxopen-7',
  outcome: 'SKIPPED',
  statusReason: 'MAX_OPEN_TRADES: 3 open trades, the limit is 3',
  entryFilledAt: null,
  entryPrice: null,
  qty: null,
  stopPlacedAt: null,
  stops: [],
  takeProfit: null,
  exitAt: null,
  exitPrice: null,
  exitReason: null,
  realizedPnl: null,
  fees: D(0),
  maxLoss: null,
  milestones: { '10': null, '15': null, '20': null, '25': null, '30': null },
  shadowMilestones: { '10': 840, '15': null, '20': null, '25': null, '30': null },
  partialExits: [],
  entrySlippage: null,
});

const run: RunInfo = {
  engine: 'core',
  dataDir: '/repo/data/candles',
  signalsFile: '/repo/data/signals/sample-signals.json',
  configFile: '/repo/local/default-config.json',
  marketsFile: '/repo/data/markets.json',
  seed: 7,
  fillModel: { slippageBps: D(2), takerFeeRate: D('0.0005'), makerFeeRate: D('0.0002') },
  gaps: new Map([
    ['BTC/USDT:USDT', [{ from: Date.UTC(2023, 2, 24, 12, 40), to: Date.UTC(2023, 2, 24, 14, 0) }]],
  ]),
  intervalMs: new Map([['BTC/USDT:USDT', 60_000]]),
  loadMs: 180.25,
};

const result: ReplayResult = { summary: summary(), trades: [trade(), skipped] };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'tw-results-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('results.json', () => {
  it('writes decimals as plain strings and times as ISO strings, field by field', () => {
    const t = serializeTrade(trade());
    expect(t).toEqual({
      tradeId: 'demo.BTC-20230320T1415-long',
      signalId: 'BTC-20230320T1415-long',
      accountId: 'demo',
      symbol: 'BTC/USDT:USDT',
      side: 'long',
      status: 'FINALIZED',
      outcome: 'TRADED',
      statusReason: null,
      signalAt: '2023-03-20T14:15:00.000Z',
      entryFilledAt: '2023-03-20T14:15:00.000Z',
      entryPrice: '28000.5',
      qty: '0.013',
      stopPlacedAt: '2023-03-20T14:15:00.000Z',
      stops: [
        { at: '2023-03-20T14:15:00.000Z', price: '27818.3', reason: 'INITIAL' },
        { at: '2023-03-20T14:20:00.000Z', price: '28180.1', reason: 'TRAILING' },
      ],
      takeProfit: '28546.9',
      exitAt: '2023-03-20T14:22:00.000Z',
      exitPrice: '28176.2',
      exitReason: 'TRAILING_STOP',
      realizedPnl: '1.9311',
      fees: '0.3656',
      maxLoss: '3',
      milestones: { '10': 300, '15': null, '20': null, '25': null, '30': null },
      shadowMilestones: { '10': 300, '15': 1260, '20': null, '25': null, '30': null },
      partialExits: [{ at: '2023-03-20T14:21:00.000Z', price: '28273.7', qty: '0.006' }],
      entrySlippage: '5.6',
    });
  });

  it('never writes an exponent, even for tiny or huge amounts', () => {
    const t = serializeTrade(
      trade({ entryPrice: D('0.00000001234'), realizedPnl: D('-1e-12'), fees: D('1e25') }),
    );
    expect(t.entryPrice).toBe('0.00000001234');
    expect(t.realizedPnl).toBe('-0.000000000001');
    expect(t.fees).toBe('10000000000000000000000000');
  });

  it('writes a file that validates against the schema and reads back equal', async () => {
    const json = serializeResults(result, run);
    const file = await writeResults(join(dir, 'nested', 'out'), json);
    expect(file).toBe(join(dir, 'nested', 'out', 'results.json'));
    const back: unknown = JSON.parse(await readFile(file, 'utf8'));
    const parsed = resultsFileSchema.safeParse(back);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(back).toEqual(json);
    expect(Object.keys(back as object)).toEqual(['summary', 'run', 'trades']);
  });

  it('records the run: fill model, seed and gaps with their candle counts', () => {
    const json = serializeResults(result, run);
    expect(json.run).toEqual({
      formatVersion: 1,
      engine: 'core',
      dataDir: '/repo/data/candles',
      signalsFile: '/repo/data/signals/sample-signals.json',
      configFile: '/repo/local/default-config.json',
      marketsFile: '/repo/data/markets.json',
      seed: 7,
      fillModel: { slippageBps: '2', takerFeeRate: '0.0005', makerFeeRate: '0.0002', maxParticipation: null },
      gaps: {
        'BTC/USDT:USDT': [{ from: '2023-03-24T12:40:00.000Z', to: '2023-03-24T14:00:00.000Z', candles: 80 }],
      },
      loadMs: 180.25,
    });
  });

  it('writes the summary with ISO window bounds and decimal-string money', () => {
    const s = serializeResults(result).summary;
    expect(s.from).toBe('2023-03-20T00:00:00.000Z');
    expect(s.to).toBe('2023-03-25T00:00:00.000Z');
    expect(s.netPnl).toBe('1.9311');
    expect(s.profitFactor).toBeNull();
    expect(summaryJsonSchema.safeParse(s).success).toBe(true);
  });

  it('refuses a non-finite ratio instead of letting JSON turn it into null', () => {
    expect(() =>
      serializeResults({ ...result, summary: summary({ profitFactor: Number.POSITIVE_INFINITY }) }),
    ).toThrow(/profitFactor is not finite/);
    expect(() => serializeResults({ ...result, summary: summary({ sharpe: Number.NaN }) })).toThrow(
      /sharpe is not finite/,
    );
  });

  it('refuses an invalid time, naming the trade and the field', () => {
    expect(() => serializeTrade(trade({ exitAt: Number.NaN }))).toThrow(
      /BTC-20230320T1415-long exitAt is not a finite time/,
    );
  });

  it('the schema rejects numbers for amounts, missing fields and unknown trade fields', () => {
    const good = serializeTrade(trade());
    expect(tradeJsonSchema.safeParse(good).success).toBe(true);
    expect(tradeJsonSchema.safeParse({ ...good, entryPrice: 28000.5 }).success).toBe(false);
    expect(tradeJsonSchema.safeParse({ ...good, realizedPnl: '1.9e3' }).success).toBe(false);
    expect(tradeJsonSchema.safeParse({ ...good, exitAt: 1679321700000 }).success).toBe(false);
    const { maxLoss: _m, ...missing } = good;
    expect(tradeJsonSchema.safeParse(missing).success).toBe(false);
    expect(tradeJsonSchema.safeParse({ ...good, extra: 1 }).success).toBe(false);
  });

  it('the file schema allows later top-level sections beside summary, run and trades', () => {
    const json = { ...serializeResults(result, run), scenario: { name: 'drift' } };
    expect(resultsFileSchema.safeParse(json).success).toBe(true);
  });

  it('the full engine sections are strict: a malformed latency section is rejected', () => {
    const json = { ...serializeResults(result, run), latency: { p50: 120 } };
    expect(resultsFileSchema.safeParse(json).success).toBe(false);
  });
});
