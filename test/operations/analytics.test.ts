/**
 * Analytics through the API and the daily reporter, over closed trades stored on dynalite (listed by the
 * `byClosedAt` index). Expected values are worked out by hand below from the five trades, not with the core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { InMemoryConfigSource } from '../../functions/adapters/memory/config-source.js';
import { handler as reporter } from '../../functions/handlers/reporter.js';
import { buildContext, setContext } from '../../functions/handlers/shared/context.js';
import { RecordingMetrics } from '../../functions/handlers/shared/powertools.js';
import { setReportPublisher } from '../../functions/handlers/shared/publisher.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import type { WorkflowPort } from '../../functions/ports/workflow.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { call } from './support.js';

const NOW = Date.parse('2024-01-10T12:00:00Z'); // a Wednesday; the week began Monday 2024-01-08
const HOUR = 3_600_000;
const SYM = 'ETH/USDT:USDT';

let emu: Emulators;
let store: DynamoTradeStore;
const clock = new ManualClock(NOW);
const published: { subject: string; message: string }[] = [];
const noWorkflow: WorkflowPort = {
  startExecution: () => Promise.reject(new Error('no workflow in this test')),
  sendTaskSuccess: () => Promise.resolve({ delivered: false }),
  sendTaskFailure: () => Promise.resolve({ delivered: false }),
};

/** A trade walked PENDING → ENTERING → LIVE → CLOSED at `closedAt` (entry 1 h before), settled with `pnl`. */
async function closedTrade(
  id: string,
  closedAt: string,
  pnl: string | null,
  milestones: Record<string, number> = {},
  finalize = false,
) {
  const at = Date.parse(closedAt);
  const tradeId = `acc.${id}`;
  await store.createTrade({
    tradeId,
    accountId: 'acc',
    symbol: SYM,
    data: { side: 'long' },
    at: at - 2 * HOUR,
  });
  const step = async (v: number, to: 'ENTERING' | 'LIVE' | 'CLOSED', t: number, patch: JsonMap = {}) =>
    store.transition(tradeId, {
      expectedVersion: v,
      to,
      type: to,
      at: t,
      commandId: `${tradeId}:${to}`,
      patch,
    });
  await step(1, 'ENTERING', at - 2 * HOUR);
  await step(2, 'LIVE', at - HOUR, {
    entry: {
      clientOrderId: 'c',
      orderId: 'o',
      requestedQty: '1',
      filledQty: '1',
      avgPrice: '2000',
      filledAt: at - HOUR,
      partial: false,
      slippageBps: null,
    },
  });
  for (const [k, s] of Object.entries(milestones)) await store.recordMilestone(tradeId, 'live', Number(k), s);
  await step(3, 'CLOSED', at, {
    exit: { reason: 'TAKE_PROFIT', orderId: 'x', filledQty: '1', avgPrice: '2000', at },
  });
  if (pnl !== null)
    await store.recordEvent(tradeId, {
      expectedVersion: 4,
      type: 'SETTLED',
      at,
      commandId: `${tradeId}:settle`,
      patch: { settlement: { realizedPnl: pnl, settledAt: at } },
    });
  if (finalize)
    // a finalized trade leaves the open-trade indexes but stays in byClosedAt
    await store.transition(tradeId, {
      expectedVersion: 5,
      to: 'FINALIZED',
      type: 'FINALIZED',
      at: at + HOUR,
      commandId: `${tradeId}:fin`,
    });
}

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  const config = new InMemoryConfigSource({
    accounts: [
      { accountId: 'acc', exchange: 'paper', equity: '1000' },
      { accountId: 'noeq', exchange: 'paper' },
    ],
  });
  setContext(buildContext({ store, workflow: noWorkflow, config, clock, metrics: new RecordingMetrics() }));
  setReportPublisher({
    publish: (subject, message) => {
      published.push({ subject, message });
      return Promise.resolve();
    },
  });
  await closedTrade('t1', '2023-12-20T10:00:00Z', '30', {}, true);
  await closedTrade('t2', '2024-01-03T10:00:00Z', '-10');
  await closedTrade('t3', '2024-01-08T10:00:00Z', '20', { '10': 60, '15': 90 });
  await closedTrade('t4', '2024-01-10T09:00:00Z', '-5');
  await closedTrade('t5', '2024-01-10T11:00:00Z', null); // closed, not settled yet
}, 30_000);
afterAll(async () => {
  setContext(undefined);
  setReportPublisher(undefined);
  await emu.stop();
});

type Report = Record<string, unknown> & {
  maxDrawdown: Record<string, unknown>;
  milestones: Record<string, Record<string, unknown>>;
};
async function performance(period: string, query: Record<string, string> = {}) {
  const r = await call('GET', '/analytics/performance', { query: { period, accountId: 'acc', ...query } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const [a] = r.body.accounts as {
    startingEquity: string;
    unsettled: string[];
    report: Report;
    from: number | null;
  }[];
  return a!;
}

describe('GET /analytics/performance', () => {
  it('ALL: 4 settled trades (+30, −10, +20, −5) from equity 1000; the unsettled one is listed apart', async () => {
    const a = await performance('ALL');
    expect(a.from).toBeNull();
    expect(a.startingEquity).toBe('1000');
    expect(a.unsettled).toEqual(['acc.t5']);
    expect(a.report).toMatchObject({
      trades: 4,
      wins: 2,
      losses: 2,
      winRate: 0.5,
      grossProfit: '50',
      grossLoss: '15',
      netPnl: '35',
      expectancy: '8.75', // 35 / 4
      avgWin: '25',
      avgLoss: '7.5',
      avgHoldingSeconds: 3600,
    });
    expect(a.report.profitFactor).toBeCloseTo(50 / 15, 12);
    // equity 1000 → 1030 → 1020 → 1040 → 1035: the largest fall is 1030 → 1020
    expect(a.report.maxDrawdown).toMatchObject({ absolute: '10', peakEquity: '1030', troughEquity: '1020' });
    expect(a.report.maxDrawdown.relative).toBeCloseTo(10 / 1030, 12);
    expect(a.report.best).toMatchObject({ tradeId: 'acc.t1', realizedPnl: '30' });
    expect(a.report.worst).toMatchObject({ tradeId: 'acc.t2', realizedPnl: '-10' });
    expect(a.report.milestones['10']).toMatchObject({ hits: 1, hitRate: 0.25, medianSeconds: 60 });
  });

  it('MONTH starts on Jan 1 with equity 1030 (1000 + the December +30): t2, t3, t4', async () => {
    const a = await performance('MONTH');
    expect(a.from).toBe(Date.parse('2024-01-01T00:00:00Z'));
    expect(a.startingEquity).toBe('1030');
    expect(a.report).toMatchObject({
      trades: 3,
      wins: 1,
      losses: 2,
      netPnl: '5',
      grossProfit: '20',
      grossLoss: '15',
    });
    expect(a.report.profitFactor).toBeCloseTo(20 / 15, 12);
  });

  it('WEEK starts Monday Jan 8 with equity 1020: t3, t4; milestone 10 hit by one of two in 60 s', async () => {
    const a = await performance('week');
    expect(a.from).toBe(Date.parse('2024-01-08T00:00:00Z'));
    expect(a.startingEquity).toBe('1020');
    expect(a.report).toMatchObject({ trades: 2, netPnl: '15', profitFactor: 4, winRate: 0.5 });
    expect(a.report.milestones['10']).toMatchObject({ hits: 1, hitRate: 0.5, medianSeconds: 60 });
    expect(a.report.milestones['15']).toMatchObject({ hits: 1, medianSeconds: 90 });
  });

  it('TODAY: only t4 (−5) from equity 1040; profit factor 0 (no profit against a loss)', async () => {
    const a = await performance('TODAY');
    expect(a.startingEquity).toBe('1040');
    expect(a.report).toMatchObject({
      trades: 1,
      wins: 0,
      losses: 1,
      winRate: 0,
      netPnl: '-5',
      expectancy: '-5',
    });
    expect(a.report.profitFactor).toBe(0);
  });

  it('startingEquity overrides the configured equity; an account without equity needs it', async () => {
    expect((await performance('ALL', { startingEquity: '500' })).startingEquity).toBe('500');
    const none = await call('GET', '/analytics/performance', { query: { accountId: 'noeq' } });
    expect(none.status).toBe(400);
    expect((none.body.errors as string[])[0]).toMatch(/account noeq has no equity in the configuration/);
    const given = await call('GET', '/analytics/performance', {
      query: { accountId: 'noeq', startingEquity: '100' },
    });
    expect(given.status).toBe(200);
  });

  it('GET /trades lists the closed trades newest first (FINALIZED or not), with their PnL', async () => {
    const r = await call('GET', '/trades', { query: { accountId: 'acc', limit: '3' } });
    const recent = r.body.recent as { tradeId: string; closedAt: number; realizedPnl: string | null }[];
    expect(recent.map((t) => [t.tradeId, t.realizedPnl])).toEqual([
      ['acc.t5', null],
      ['acc.t4', '-5'],
      ['acc.t3', '20'],
    ]);
    expect(recent[1]?.closedAt).toBe(Date.parse('2024-01-10T09:00:00Z'));
    const finalized = await call('GET', '/trades', { query: { accountId: 'acc', status: 'FINALIZED' } });
    expect((finalized.body.recent as { tradeId: string }[]).map((t) => t.tradeId)).toEqual(['acc.t1']);
    expect(finalized.body.open).toEqual([]);
  });
});

describe('the daily reporter', () => {
  it('stores each account’s TODAY/WEEK/MONTH/ALL and publishes one message; an account without equity says why', async () => {
    const report = await reporter({}, { awsRequestId: 'run-1' });
    expect(report.runId).toBe('run-1');
    const acc = report.accounts.find((a) => a.accountId === 'acc');
    expect(acc?.ok).toBe(true);
    if (!acc?.ok) throw new Error('acc not reported');
    expect(acc.periods.map((p) => p.period)).toEqual(['ALL', 'TODAY', 'WEEK', 'MONTH']);
    expect(acc.periods.map((p) => (p.report as JsonMap).netPnl)).toEqual(['35', '-5', '15', '5']);
    const noeq = report.accounts.find((a) => a.accountId === 'noeq');
    expect(noeq).toMatchObject({ ok: false, error: expect.stringMatching(/no equity/) as unknown });

    const [stored] = await store.listPerformanceReports('acc');
    expect(stored).toMatchObject({ accountId: 'acc', runId: 'run-1', at: NOW });
    expect((stored!.report.periods as JsonMap[]).map((p) => p.period)).toEqual([
      'ALL',
      'TODAY',
      'WEEK',
      'MONTH',
    ]);

    expect(published).toHaveLength(1);
    expect(published[0]!.subject).toBe('Tradewarden daily report 2024-01-10');
    expect(published[0]!.message).toContain('ALL   trades 4, win rate 50.0 %, net PnL 35');
    expect(published[0]!.message).toContain('TODAY trades 1, win rate 0.0 %, net PnL -5');
    expect(published[0]!.message).toMatch(/Account noeq\n {2}not reported: .*no equity/);

    const reports = await call('GET', '/reports', { query: { accountId: 'acc' } });
    expect((reports.body.reports as { runId: string }[]).map((r) => r.runId)).toEqual(['run-1']);
    const ticks = await store.listWorkerTicks();
    expect(ticks.find((t) => t.worker === 'reporter')).toMatchObject({ lastTickAt: NOW });
  });
});
