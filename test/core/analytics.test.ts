import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computePerformance,
  filterPeriod,
  performanceForPeriod,
  periodStart,
  type ClosedTradeRecord,
} from '../../functions/core/analytics.js';
import { D } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';

const t = (iso: string): number => Date.parse(iso);
const SEC = 1000;
const DAY = 86_400_000;

function trade(
  tradeId: string,
  pnl: string | number,
  entryIso: string,
  holdSeconds: number,
  milestones?: Record<string, number | null>,
  accountId = 'acc-1',
): ClosedTradeRecord {
  const entryFilledAt = t(entryIso);
  const rec: ClosedTradeRecord = {
    tradeId,
    accountId,
    symbol: 'BTC/USDT:USDT',
    side: 'long',
    entryFilledAt,
    exitAt: entryFilledAt + holdSeconds * SEC,
    realizedPnl: new D(pnl),
  };
  if (milestones !== undefined) rec.milestones = milestones;
  return rec;
}

const str = (d: Decimal | null | undefined): string | null | undefined =>
  d === null || d === undefined ? d : d.toFixed();

/*
 * Hand-computed example (startingEquity 100):
 *   A +10  2024-01-01 08:00:00 → 08:01:00  (60 s)   milestones 10: 30 s, 15: 45 s
 *   B  −5  2024-01-01 09:00:00 → 09:02:00  (120 s)  no milestones reached
 *   C +20  2024-01-01 10:00:00 → 10:05:00  (300 s)  10: 20, 15: 40, 20: 100, 25: 200
 *   (2024-01-02: no exits)
 *   D −10  2024-01-03 08:00:00 → 08:10:00  (600 s)  10: 90
 *   E   0  2024-01-03 11:00:00 → 11:15:00  (900 s)  no milestone record at all
 */
const EXAMPLE: ClosedTradeRecord[] = [
  trade('A', 10, '2024-01-01T08:00:00Z', 60, { '10': 30, '15': 45, '20': null, '25': null, '30': null }),
  trade('B', -5, '2024-01-01T09:00:00Z', 120, { '10': null, '15': null, '20': null, '25': null, '30': null }),
  trade('C', 20, '2024-01-01T10:00:00Z', 300, { '10': 20, '15': 40, '20': 100, '25': 200, '30': null }),
  trade('D', -10, '2024-01-03T08:00:00Z', 600, { '10': 90, '15': null }),
  trade('E', 0, '2024-01-03T11:00:00Z', 900),
];
const exampleReport = () => computePerformance(EXAMPLE, { startingEquity: new D(100) });

describe('computePerformance: hand-computed example', () => {
  it('counts wins, losses and breakeven; win rate = wins / trades', () => {
    const r = exampleReport();
    // wins: A, C; losses: B, D; breakeven: E (pnl = 0 is neither)
    expect([r.trades, r.wins, r.losses, r.breakeven]).toEqual([5, 2, 2, 1]);
    expect(r.winRate).toBe(0.4); // 2 / 5
  });

  it('gross profit, gross loss (magnitude), net PnL', () => {
    const r = exampleReport();
    expect(str(r.grossProfit)).toBe('30'); // 10 + 20
    expect(str(r.grossLoss)).toBe('15'); // |−5| + |−10|
    expect(str(r.netPnl)).toBe('15'); // 30 − 15
  });

  it('profit factor, expectancy, average win and loss', () => {
    const r = exampleReport();
    expect(r.profitFactor).toBe(2); // 30 / 15
    expect(str(r.expectancy)).toBe('3'); // 15 / 5
    expect(str(r.avgWin)).toBe('15'); // 30 / 2
    expect(str(r.avgLoss)).toBe('7.5'); // 15 / 2
  });

  it('daily returns cover every calendar day from first to last exit day, gaps as 0', () => {
    const r = exampleReport();
    // 2024-01-01: pnl 10 − 5 + 20 = 25 on equity 100 → 0.25
    // 2024-01-02: no exits → pnl 0 on equity 125 → 0
    // 2024-01-03: pnl −10 + 0 = −10 on equity 125 → −0.08
    expect(
      r.dailyReturns.map((d) => [d.day, d.dayStart, d.pnl.toFixed(), d.startEquity.toFixed(), d.return]),
    ).toEqual([
      ['2024-01-01', t('2024-01-01T00:00:00Z'), '25', '100', 0.25],
      ['2024-01-02', t('2024-01-02T00:00:00Z'), '0', '125', 0],
      ['2024-01-03', t('2024-01-03T00:00:00Z'), '-10', '125', -0.08],
    ]);
  });

  it('Sharpe = mean / sample stdev × √365', () => {
    // r = [1/4, 0, −2/25]; mean = (17/100) / 3 = 17/300
    // Σr² = 1/16 + 4/625 = 689/10000; n·mean² = 3 · 289/90000 = 867/90000
    // sample variance = (Σr² − n·mean²) / (n − 1) = (6201 − 867) / 90000 / 2 = 2667/90000 = 889/30000
    // Sharpe = (17/300) / √(889/30000) × √365 = (17/3) × √(1095/889) = 6.28903259719838962210…
    expect(exampleReport().sharpe?.toFixed(12)).toBe('6.289032597198');
  });

  it('Sortino = mean / downside deviation (over all n days) × √365', () => {
    // downsideDev = √((0² + 0² + (2/25)²) / 3) = (2/25) / √3
    // Sortino = (17/300) / ((2/25)/√3) × √365 = (17/24) × √1095 = 23.43930548601358765…
    expect(exampleReport().sortino?.toFixed(12)).toBe('23.439305486014');
  });

  it('max drawdown: absolute and relative, with peak and trough times', () => {
    const dd = exampleReport().maxDrawdown;
    // curve: 100 → 110 (A) → 105 (B) → 125 (C) → 115 (D) → 115 (E)
    // falls: 110→105 = 5 (5/110 ≈ 0.045), 125→115 = 10 (10/125 = 0.08) → both maxima are C→D
    expect(str(dd.absolute)).toBe('10');
    expect(dd.relative).toBe(0.08);
    expect(dd.peakAt).toBe(t('2024-01-01T10:05:00Z'));
    expect(dd.troughAt).toBe(t('2024-01-03T08:10:00Z'));
    expect([str(dd.peakEquity), str(dd.troughEquity)]).toEqual(['125', '115']);
    expect(dd.relativePeakAt).toBe(t('2024-01-01T10:05:00Z'));
    expect(dd.relativeTroughAt).toBe(t('2024-01-03T08:10:00Z'));
  });

  it('average holding time in seconds', () => {
    // (60 + 120 + 300 + 600 + 900) / 5 = 1980 / 5 = 396
    expect(exampleReport().avgHoldingSeconds).toBe(396);
  });

  it('best and worst trades', () => {
    const r = exampleReport();
    expect([r.best?.tradeId, str(r.best?.realizedPnl)]).toEqual(['C', '20']);
    expect([r.worst?.tradeId, str(r.worst?.realizedPnl)]).toEqual(['D', '-10']);
  });

  it('milestone hit rates and medians (odd and even hit counts, missing record = not reached)', () => {
    const m = exampleReport().milestones;
    // 10: hits A 30, C 20, D 90 → 3/5 = 0.6; median of [20, 30, 90] = 30 (odd count)
    expect(m['10']).toEqual({ threshold: 10, hits: 3, hitRate: 0.6, medianSeconds: 30 });
    // 15: hits A 45, C 40 → 2/5 = 0.4; median of [40, 45] = (40 + 45) / 2 = 42.5 (even count)
    expect(m['15']).toEqual({ threshold: 15, hits: 2, hitRate: 0.4, medianSeconds: 42.5 });
    // 20: C 100; 25: C 200 → 1/5 = 0.2
    expect(m['20']).toEqual({ threshold: 20, hits: 1, hitRate: 0.2, medianSeconds: 100 });
    expect(m['25']).toEqual({ threshold: 25, hits: 1, hitRate: 0.2, medianSeconds: 200 });
    // 30: nobody → 0, no median
    expect(m['30']).toEqual({ threshold: 30, hits: 0, hitRate: 0, medianSeconds: null });
    expect(Object.keys(m)).toEqual(['10', '15', '20', '25', '30']);
  });
});

describe('computePerformance: edge cases', () => {
  it('profit factor and average loss are null when there are no losses', () => {
    const r = computePerformance(
      [trade('a', 5, '2024-01-01T00:00:00Z', 10), trade('b', 0, '2024-01-01T01:00:00Z', 10)],
      { startingEquity: new D(100) },
    );
    expect(r.losses).toBe(0);
    expect(r.profitFactor).toBeNull();
    expect(r.avgLoss).toBeNull();
    expect(str(r.grossLoss)).toBe('0');
    expect(str(r.avgWin)).toBe('5');
  });

  it('profit factor is 0 when there are losses but no wins; average win is null', () => {
    const r = computePerformance([trade('a', -5, '2024-01-01T00:00:00Z', 10)], {
      startingEquity: new D(100),
    });
    expect(r.profitFactor).toBe(0);
    expect(r.avgWin).toBeNull();
    expect(str(r.avgLoss)).toBe('5');
  });

  it('no trades: counts 0, ratios null, no drawdown', () => {
    const r = computePerformance([], { startingEquity: new D(100) });
    expect([r.trades, r.wins, r.losses, r.breakeven]).toEqual([0, 0, 0, 0]);
    expect([r.winRate, r.profitFactor, r.expectancy, r.avgWin, r.avgLoss]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect([r.sharpe, r.sortino, r.avgHoldingSeconds, r.best, r.worst]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(r.dailyReturns).toEqual([]);
    expect(str(r.maxDrawdown.absolute)).toBe('0');
    expect(r.maxDrawdown.relative).toBe(0);
    expect(r.maxDrawdown.troughAt).toBeNull();
    expect(r.milestones['10']).toEqual({ threshold: 10, hits: 0, hitRate: null, medianSeconds: null });
  });

  it('Sharpe and Sortino are null with fewer than 2 days', () => {
    const r = computePerformance(
      [trade('a', 10, '2024-01-01T01:00:00Z', 60), trade('b', -4, '2024-01-01T02:00:00Z', 60)],
      { startingEquity: new D(100) },
    );
    expect(r.dailyReturns).toHaveLength(1);
    expect(r.sharpe).toBeNull();
    expect(r.sortino).toBeNull();
  });

  it('Sharpe is null when the daily returns do not vary (stdev 0); Sortino null with no negative day', () => {
    // day 1: 10 / 100 = 0.1; day 2: 11 / 110 = 0.1
    const r = computePerformance(
      [trade('a', 10, '2024-01-01T01:00:00Z', 60), trade('b', 11, '2024-01-02T01:00:00Z', 60)],
      { startingEquity: new D(100) },
    );
    expect(r.dailyReturns.map((d) => d.return)).toEqual([0.1, 0.1]);
    expect(r.sharpe).toBeNull();
    expect(r.sortino).toBeNull();
  });

  it('Sortino is null with no negative day even when Sharpe is defined', () => {
    // day 1: 10 / 100 = 0.1; day 2: 0 / 110 = 0
    const r = computePerformance(
      [trade('a', 10, '2024-01-01T01:00:00Z', 60), trade('b', 0, '2024-01-02T01:00:00Z', 60)],
      { startingEquity: new D(100) },
    );
    // mean 0.05, sample stdev = √((0.05² + 0.05²) / 1) = 0.05·√2 → Sharpe = √365 / √2 = √182.5 = 13.50925608…
    expect(r.sharpe?.toFixed(8)).toBe('13.50925609');
    expect(r.sortino).toBeNull();
  });

  it('Sortino is defined when Sharpe is not: constant negative returns', () => {
    // day 1: −10 / 100 = −0.1; day 2: −9 / 90 = −0.1 → stdev 0, downsideDev = √((0.01 + 0.01) / 2) = 0.1
    // Sortino = −0.1 / 0.1 × √365 = −√365 = −19.10497317454280…
    const r = computePerformance(
      [trade('a', -10, '2024-01-01T01:00:00Z', 60), trade('b', -9, '2024-01-02T01:00:00Z', 60)],
      { startingEquity: new D(100) },
    );
    expect(r.sharpe).toBeNull();
    expect(r.sortino?.toFixed(12)).toBe('-19.104973174543');
  });

  it('daily returns are undefined (and Sharpe/Sortino null) once equity at the start of a day is ≤ 0', () => {
    // equity 10, day 1: −10 → equity 0 at the start of day 2
    const r = computePerformance(
      [trade('a', -10, '2024-01-01T01:00:00Z', 60), trade('b', 5, '2024-01-02T01:00:00Z', 60)],
      { startingEquity: new D(10) },
    );
    expect(r.dailyReturns.map((d) => d.return)).toEqual([-1, null]);
    expect(r.sharpe).toBeNull();
    expect(r.sortino).toBeNull();
    expect(r.maxDrawdown.relative).toBe(1); // 10 → 0: the whole peak
  });

  it('largest absolute and largest relative drawdown can be different episodes', () => {
    // curve: 100 → 50 (fall 50, 50/100 = 0.5) → 1000 → 900 (fall 100, 100/1000 = 0.1)
    const trades = [
      trade('a', -50, '2024-01-01T00:00:00Z', 60),
      trade('b', 950, '2024-01-02T00:00:00Z', 60),
      trade('c', -100, '2024-01-03T00:00:00Z', 60),
    ];
    const dd = computePerformance(trades, { startingEquity: new D(100) }).maxDrawdown;
    expect(str(dd.absolute)).toBe('100');
    expect(dd.peakAt).toBe(t('2024-01-02T00:01:00Z'));
    expect(dd.troughAt).toBe(t('2024-01-03T00:01:00Z'));
    expect(dd.relative).toBe(0.5);
    expect(dd.relativePeakAt).toBeNull(); // the peak is the starting equity
    expect(dd.relativeTroughAt).toBe(t('2024-01-01T00:01:00Z'));
  });

  it('drawdown peak is the most recent high; a fall continuing over several trades ends at the lowest point', () => {
    // curve: 100 → 120 → 120 (new equal high, later) → 110 → 90 → 95
    const trades = [
      trade('a', 20, '2024-01-01T00:00:00Z', 60),
      trade('b', 0, '2024-01-01T01:00:00Z', 60),
      trade('c', -10, '2024-01-01T02:00:00Z', 60),
      trade('d', -20, '2024-01-01T03:00:00Z', 60),
      trade('e', 5, '2024-01-01T04:00:00Z', 60),
    ];
    const dd = computePerformance(trades, { startingEquity: new D(100) }).maxDrawdown;
    expect(str(dd.absolute)).toBe('30'); // 120 → 90
    expect(dd.relative).toBe(0.25); // 30 / 120
    expect(dd.peakAt).toBe(t('2024-01-01T01:01:00Z'));
    expect(dd.troughAt).toBe(t('2024-01-01T03:01:00Z'));
  });

  it('orders trades by exitAt, ties by tradeId (for the equity curve and best/worst ties)', () => {
    // same exit time: 'x1' (−10) sorts before 'x2' (+10) → curve 100 → 90 → 100: drawdown 10
    const at = '2024-01-01T00:00:00Z';
    const trades = [trade('x2', 10, at, 60), trade('x1', -10, at, 60), trade('x3', 10, at, 60)];
    const r = computePerformance(trades, { startingEquity: new D(100) });
    expect(str(r.maxDrawdown.absolute)).toBe('10');
    expect(r.best?.tradeId).toBe('x2'); // tie 10 = 10: first in order
  });

  it('milestone median with an even count is the mean of the two middle values (unsorted input)', () => {
    const trades = [
      trade('a', 1, '2024-01-01T00:00:00Z', 999, { '20': 301 }),
      trade('b', 1, '2024-01-01T01:00:00Z', 999, { '20': 7 }),
      trade('c', 1, '2024-01-01T02:00:00Z', 999, { '20': 120 }),
      trade('d', 1, '2024-01-01T03:00:00Z', 999, { '20': 60 }),
      trade('e', 1, '2024-01-01T04:00:00Z', 999, { '20': null }),
    ];
    const m = computePerformance(trades, {
      startingEquity: new D(100),
      milestoneThresholds: [20],
    }).milestones;
    // hits 4 of 5 → 0.8; sorted [7, 60, 120, 301] → (60 + 120) / 2 = 90
    expect(m).toEqual({ '20': { threshold: 20, hits: 4, hitRate: 0.8, medianSeconds: 90 } });
  });

  it('milestone median with an odd count is the middle value', () => {
    const trades = [
      trade('a', 1, '2024-01-01T00:00:00Z', 999, { '25': 500 }),
      trade('b', 1, '2024-01-01T01:00:00Z', 999, { '25': 3 }),
      trade('c', 1, '2024-01-01T02:00:00Z', 999, { '25': 41 }),
    ];
    const m = computePerformance(trades, {
      startingEquity: new D(100),
      milestoneThresholds: [25],
    }).milestones;
    expect(m['25']).toEqual({ threshold: 25, hits: 3, hitRate: 1, medianSeconds: 41 });
  });
});

describe('computePerformance: bad input', () => {
  const ok = trade('ok', 1, '2024-01-01T00:00:00Z', 60);
  const opts = { startingEquity: new D(100) };

  it('rejects exitAt before entryFilledAt', () => {
    const bad = { ...ok, tradeId: 'bad', exitAt: ok.entryFilledAt - 1 };
    expect(() => computePerformance([bad], opts)).toThrow(RangeError);
    expect(() => computePerformance([bad], opts)).toThrow(/trade bad: exitAt .* is before entryFilledAt/);
  });

  it('rejects a non-finite realizedPnl', () => {
    expect(() => computePerformance([{ ...ok, realizedPnl: new D(NaN) }], opts)).toThrow(
      /trade ok: realizedPnl must be finite/,
    );
    expect(() => computePerformance([{ ...ok, realizedPnl: new D(Infinity) }], opts)).toThrow(RangeError);
  });

  it('rejects startingEquity ≤ 0', () => {
    expect(() => computePerformance([ok], { startingEquity: new D(0) })).toThrow(
      new RangeError('startingEquity must be > 0, got 0'),
    );
    expect(() => computePerformance([ok], { startingEquity: new D(-5) })).toThrow(RangeError);
    expect(() => computePerformance([ok], { startingEquity: new D(NaN) })).toThrow(
      /startingEquity must be finite/,
    );
  });

  it('rejects non-finite times', () => {
    expect(() => computePerformance([{ ...ok, exitAt: NaN }], opts)).toThrow(
      /trade ok: exitAt must be a finite epoch-ms time/,
    );
  });

  it('rejects duplicate trade ids', () => {
    expect(() => computePerformance([ok, ok], opts)).toThrow(new RangeError('duplicate tradeId ok'));
  });

  it('rejects milestone values that are not whole non-negative seconds', () => {
    expect(() => computePerformance([{ ...ok, milestones: { '10': 1.5 } }], opts)).toThrow(
      /trade ok: milestone 10 must be null or whole seconds/,
    );
    expect(() => computePerformance([{ ...ok, milestones: { '10': -1 } }], opts)).toThrow(RangeError);
  });

  it('rejects bad milestone thresholds', () => {
    expect(() => computePerformance([ok], { ...opts, milestoneThresholds: [10, 0] })).toThrow(
      /milestone threshold must be a finite number > 0, got 0/,
    );
    expect(() => computePerformance([ok], { ...opts, milestoneThresholds: [10, 10] })).toThrow(
      /duplicate milestone threshold 10/,
    );
  });

  it('rejects a bad side or a missing trade id', () => {
    expect(() => computePerformance([{ ...ok, side: 'up' as 'long' }], opts)).toThrow(TypeError);
    expect(() => computePerformance([{ ...ok, tradeId: '' }], opts)).toThrow(TypeError);
  });
});

describe('periods (UTC)', () => {
  const now = t('2024-03-15T13:45:10.123Z'); // a Friday

  it('TODAY starts at 00:00 UTC of the current day', () => {
    expect(periodStart('TODAY', now)).toBe(t('2024-03-15T00:00:00Z'));
    expect(periodStart('TODAY', t('2024-03-15T00:00:00Z'))).toBe(t('2024-03-15T00:00:00Z'));
    expect(periodStart('TODAY', t('2024-03-14T23:59:59.999Z'))).toBe(t('2024-03-14T00:00:00Z'));
  });

  it('WEEK starts on Monday 00:00 UTC', () => {
    expect(periodStart('WEEK', now)).toBe(t('2024-03-11T00:00:00Z'));
    expect(periodStart('WEEK', t('2024-03-11T00:00:00Z'))).toBe(t('2024-03-11T00:00:00Z'));
  });

  it('WEEK: the last millisecond of Sunday still belongs to the week that began the previous Monday', () => {
    expect(periodStart('WEEK', t('2024-03-17T23:59:59.999Z'))).toBe(t('2024-03-11T00:00:00Z'));
    expect(periodStart('WEEK', t('2024-03-18T00:00:00Z'))).toBe(t('2024-03-18T00:00:00Z'));
  });

  it('WEEK can start in the previous month', () => {
    expect(periodStart('WEEK', t('2024-03-02T12:00:00Z'))).toBe(t('2024-02-26T00:00:00Z'));
  });

  it('MONTH starts on the 1st 00:00 UTC; ALL has no start', () => {
    expect(periodStart('MONTH', now)).toBe(t('2024-03-01T00:00:00Z'));
    expect(periodStart('MONTH', t('2024-02-29T23:59:59.999Z'))).toBe(t('2024-02-01T00:00:00Z'));
    expect(periodStart('MONTH', t('2024-03-01T00:00:00Z'))).toBe(t('2024-03-01T00:00:00Z'));
    expect(periodStart('ALL', now)).toBeNull();
  });

  it('rejects a non-finite now and an unknown period', () => {
    expect(() => periodStart('TODAY', NaN)).toThrow(/now must be a finite epoch-ms time/);
    expect(() => periodStart('YEAR' as 'ALL', now)).toThrow(/unknown analytics period: YEAR/);
  });

  function exitingAt(tradeId: string, exitIso: string, accountId = 'acc-1'): ClosedTradeRecord {
    const exitAt = t(exitIso);
    return {
      ...trade(tradeId, 1, exitIso, 0, undefined, accountId),
      exitAt,
      entryFilledAt: exitAt - 60 * SEC,
    };
  }

  it('filterPeriod keeps exitAt within [start, now], inclusive at both ends', () => {
    const sundayNight = t('2024-03-17T23:59:59.999Z');
    const trades = [
      exitingAt('prev-week', '2024-03-10T23:59:59.999Z'),
      exitingAt('monday-start', '2024-03-11T00:00:00Z'),
      exitingAt('sunday-late', '2024-03-17T23:59:59.999Z'),
      exitingAt('next-monday', '2024-03-18T00:00:00Z'),
    ];
    const ids = (xs: ClosedTradeRecord[]) => xs.map((x) => x.tradeId);
    expect(ids(filterPeriod(trades, 'WEEK', sundayNight))).toEqual(['monday-start', 'sunday-late']);
    expect(ids(filterPeriod(trades, 'TODAY', sundayNight))).toEqual(['sunday-late']);
    expect(ids(filterPeriod(trades, 'ALL', sundayNight))).toEqual([
      'prev-week',
      'monday-start',
      'sunday-late',
    ]);
    const mondayMidnight = t('2024-03-18T00:00:00Z');
    expect(ids(filterPeriod(trades, 'WEEK', mondayMidnight))).toEqual(['next-monday']);
    expect(ids(filterPeriod(trades, 'TODAY', mondayMidnight))).toEqual(['next-monday']);
    expect(ids(filterPeriod(trades, 'MONTH', mondayMidnight))).toEqual(ids(trades));
  });

  it('filterPeriod filters by account when one is given', () => {
    const trades = [
      exitingAt('a1', '2024-03-15T10:00:00Z', 'acc-1'),
      exitingAt('b1', '2024-03-15T11:00:00Z', 'acc-2'),
    ];
    expect(filterPeriod(trades, 'TODAY', now, 'acc-2').map((x) => x.tradeId)).toEqual(['b1']);
    expect(filterPeriod(trades, 'TODAY', now).map((x) => x.tradeId)).toEqual(['a1', 'b1']);
  });

  it('performanceForPeriod reports one account over one window', () => {
    const trades = [
      exitingAt('old', '2024-03-14T10:00:00Z'),
      exitingAt('today', '2024-03-15T10:00:00Z'),
      exitingAt('other', '2024-03-15T10:00:00Z', 'acc-2'),
    ];
    const p = performanceForPeriod(trades, 'acc-1', 'TODAY', now, { startingEquity: new D(50) });
    expect([p.accountId, p.period, p.from, p.to]).toEqual(['acc-1', 'TODAY', t('2024-03-15T00:00:00Z'), now]);
    expect(p.report.trades).toBe(1);
    expect(p.report.best?.tradeId).toBe('today');
  });
});

describe('reference vectors from freqtrade (tests/data/test_metrics.py)', () => {
  it('expectancy of profits [100, 200, 50, −150, 300, −100, 80, −30] is 56.25 (test_calculate_expectancy)', () => {
    const pnls = [100, 200, 50, -150, 300, -100, 80, -30];
    const trades = pnls.map((p, i) => trade(`t${i}`, p, `2024-01-01T0${i}:00:00Z`, 60));
    // 450 / 8 = 56.25
    expect(str(computePerformance(trades, { startingEquity: new D(1000) }).expectancy)).toBe('56.25');
  });

  it('balance 100 → 120 → 80 → 110: max drawdown 40 and 1/3 (test_calculate_max_drawdown_from_balance)', () => {
    const exits = ['2025-01-01T12:00:00Z', '2025-01-01T18:00:00Z', '2025-01-04T00:00:00Z'];
    const trades = [20, -40, 30].map((p, i) => {
      const exitAt = t(exits[i] as string);
      return { ...trade(`t${i}`, p, exits[i] as string, 0), entryFilledAt: exitAt - 3600 * SEC, exitAt };
    });
    const dd = computePerformance(trades, { startingEquity: new D(100) }).maxDrawdown;
    expect(str(dd.absolute)).toBe('40');
    expect(dd.relative.toFixed(12)).toBe('0.333333333333');
    expect(dd.peakAt).toBe(t('2025-01-01T12:00:00Z'));
    expect(dd.troughAt).toBe(t('2025-01-01T18:00:00Z'));
  });

  it('balance 100, 110, 104.5, 125.4 on consecutive days gives daily returns 0.1, −0.05, 0.2 (test_calculate_sharpe_from_balance)', () => {
    // freqtrade divides by the population stdev; this engine by the sample stdev (n − 1):
    // mean = 0.25/3; Σ(r − mean)² = 0.031666…; sample stdev = √(0.031666…/2) = 0.125830…
    // Sharpe = 0.083333… / 0.125830… × √365 = 12.6525775752708… (= freqtrade's value × √(2/3))
    const trades = [
      trade('d1', 10, '2025-01-01T10:00:00Z', 60),
      trade('d2', '-5.5', '2025-01-02T10:00:00Z', 60),
      trade('d3', '20.9', '2025-01-03T10:00:00Z', 60),
    ];
    const r = computePerformance(trades, { startingEquity: new D(100) });
    expect(r.dailyReturns.map((d) => d.return)).toEqual([0.1, -0.05, 0.2]);
    expect(r.sharpe?.toFixed(10)).toBe('12.6525775753');
  });
});

describe('properties', () => {
  const tradeArb = fc.record({
    slot: fc.integer({ min: 0, max: 40 }), // exit in 6-hour slots → ties and empty days occur
    holdSeconds: fc.integer({ min: 0, max: 86_400 }),
    pnlCents: fc.integer({ min: -50_000, max: 50_000 }),
    m10: fc.option(fc.integer({ min: 0, max: 3600 })),
  });
  const base = t('2024-01-01T00:00:00Z');
  const build = (raw: { slot: number; holdSeconds: number; pnlCents: number; m10: number | null }[]) =>
    raw.map((r, i): ClosedTradeRecord => {
      const exitAt = base + r.slot * (DAY / 4);
      return {
        tradeId: `t${i}`,
        accountId: 'acc',
        symbol: 'ETH/USDT:USDT',
        side: i % 2 === 0 ? 'long' : 'short',
        entryFilledAt: exitAt - r.holdSeconds * SEC,
        exitAt,
        realizedPnl: new D(r.pnlCents).div(100),
        milestones: { '10': r.m10 },
      };
    });
  const equityArb = fc.integer({ min: 1, max: 10_000_000 }).map((c) => new D(c).div(100));

  const curve = (trades: ClosedTradeRecord[], start: Decimal): Decimal[] => {
    const sorted = [...trades].sort((a, b) =>
      a.exitAt !== b.exitAt ? a.exitAt - b.exitAt : a.tradeId < b.tradeId ? -1 : 1,
    );
    const out = [start];
    let e = start;
    for (const x of sorted) {
      e = e.plus(x.realizedPnl);
      out.push(e);
    }
    return out;
  };

  it('winRate ∈ [0, 1] (null only without trades) and wins + losses + breakeven = trades', () => {
    fc.assert(
      fc.property(fc.array(tradeArb, { maxLength: 30 }), equityArb, (raw, eq) => {
        const r = computePerformance(build(raw), { startingEquity: eq });
        expect(r.wins + r.losses + r.breakeven).toBe(r.trades);
        if (r.trades === 0) expect(r.winRate).toBeNull();
        else {
          expect(r.winRate).toBeGreaterThanOrEqual(0);
          expect(r.winRate).toBeLessThanOrEqual(1);
        }
      }),
    );
  });

  it('netPnl = grossProfit − grossLoss = Σ realizedPnl', () => {
    fc.assert(
      fc.property(fc.array(tradeArb, { maxLength: 30 }), equityArb, (raw, eq) => {
        const trades = build(raw);
        const r = computePerformance(trades, { startingEquity: eq });
        expect(r.netPnl.eq(r.grossProfit.minus(r.grossLoss))).toBe(true);
        const sum = trades.reduce((s, x) => s.plus(x.realizedPnl), new D(0));
        expect(r.netPnl.eq(sum)).toBe(true);
        expect(r.grossLoss.gte(0)).toBe(true);
      }),
    );
  });

  it('0 ≤ maxDrawdown.absolute ≤ max(equity curve) − min(equity curve)', () => {
    fc.assert(
      fc.property(fc.array(tradeArb, { maxLength: 30 }), equityArb, (raw, eq) => {
        const trades = build(raw);
        const c = curve(trades, eq);
        const span = c.reduce((m, v) => (v.gt(m) ? v : m)).minus(c.reduce((m, v) => (v.lt(m) ? v : m)));
        const dd = computePerformance(trades, { startingEquity: eq }).maxDrawdown;
        expect(dd.absolute.gte(0)).toBe(true);
        expect(dd.absolute.lte(span)).toBe(true);
      }),
    );
  });

  it('maxDrawdown.relative ∈ [0, 1) while equity stays positive', () => {
    fc.assert(
      fc.property(
        fc.array(tradeArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 1000 }),
        (raw, extra) => {
          const trades = build(raw);
          // starting equity above the total of all losses keeps every point of the curve > 0
          const losses = trades.reduce(
            (s, x) => (x.realizedPnl.lt(0) ? s.minus(x.realizedPnl) : s),
            new D(0),
          );
          const eq = losses.plus(new D(extra).div(100));
          expect(curve(trades, eq).every((v) => v.gt(0))).toBe(true);
          const dd = computePerformance(trades, { startingEquity: eq }).maxDrawdown;
          expect(dd.relative).toBeGreaterThanOrEqual(0);
          expect(dd.relative).toBeLessThan(1);
        },
      ),
    );
  });

  it('the report does not depend on input order', () => {
    const arb = fc
      .array(tradeArb, { maxLength: 20 })
      .map(build)
      .chain((trades) =>
        fc.tuple(
          fc.constant(trades),
          fc.shuffledSubarray(trades, { minLength: trades.length, maxLength: trades.length }),
        ),
      );
    fc.assert(
      fc.property(arb, equityArb, ([trades, shuffled], eq) => {
        const a = computePerformance(trades, { startingEquity: eq });
        const b = computePerformance(shuffled, { startingEquity: eq });
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
    );
  });
});
