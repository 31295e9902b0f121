/**
 * The reconciler handler with its console test events and the schedule's event, on the whole local engine
 * (dynalite, the paper exchange, the real ASL on the local Step Functions harness): a dry run reports the
 * untracked position and changes nothing but its report; an applied run adopts it and starts its execution;
 * the next dry run finds nothing; the scheduled run settles a position closed by hand; bad events are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as reconciler, parseReconcileEvent } from '../../functions/handlers/reconciler.js';
import { BTC, startLifecycle } from '../support/local-sfn.js';
import type { LifecycleEnv } from '../support/local-sfn.js';
import { call } from './support.js';

let env: LifecycleEnv;
beforeAll(async () => {
  env = await startLifecycle();
}, 30_000);
afterAll(async () => {
  await env.stop();
});

const SCHEDULED = {
  version: '0',
  id: 'e1',
  'detail-type': 'Scheduled Event',
  source: 'aws.scheduler',
  time: '2023-11-14T22:15:00Z',
  resources: ['arn:aws:scheduler:us-east-1:123456789012:schedule/default/reconciler'],
  detail: { worker: 'reconciler', attempt: 1 },
};

type Run = {
  accountId: string;
  report: {
    findings: { kind: string }[];
    actions: { action: { type: string }; status: string }[];
    dryRun: boolean;
  };
};

describe('reconciler events', () => {
  it('parses the console test events and the scheduled event', () => {
    expect(parseReconcileEvent({ dryRun: true })).toEqual({ dryRun: true, source: 'manual' });
    expect(parseReconcileEvent({ accountId: 'demo', apply: true })).toEqual({
      accountId: 'demo',
      dryRun: false,
      source: 'manual',
    });
    expect(parseReconcileEvent({ accountId: 'demo' })).toEqual({
      accountId: 'demo',
      dryRun: true,
      source: 'manual',
    });
    expect(parseReconcileEvent({})).toEqual({ dryRun: true, source: 'manual' });
    expect(parseReconcileEvent({ dryRun: false })).toEqual({ dryRun: false, source: 'manual' });
    expect(parseReconcileEvent(SCHEDULED)).toEqual({ dryRun: false, source: 'schedule' });
  });

  it.each([
    [{ dryRun: true, apply: true }, /dryRun and apply contradict each other/],
    [{ dryRun: 'yes' }, /dryRun: .*boolean/],
    [{ account: 'demo' }, /Unrecognized key.*account/],
    [{ accountId: '' }, /accountId: /],
    ['run', /expected \{"dryRun": true\}/],
  ])('refuses %j with InvalidInput naming the problem', async (event, reason) => {
    await expect(reconciler(event)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(reason) as unknown,
    });
  });

  it('refuses an unknown account before anything runs', async () => {
    await expect(reconciler({ accountId: 'ghost', apply: true })).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/unknown account "ghost"; configured: demo/) as unknown,
    });
    expect(await env.store.listReconReports('ghost')).toEqual([]);
  });
});

describe('runs', () => {
  it('{"dryRun": true}: reports the untracked position and the planned adoption, changes nothing else', async () => {
    env.paper.openPositionExternally(BTC, 'long', '0.002', '50000');
    const before = env.paper.snapshot();
    const r = await reconciler({ dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.mismatches).toBeGreaterThan(0);
    const [run] = r.runs as Run[];
    expect(run?.report.findings.map((f) => f.kind)).toContain('UNTRACKED_POSITION');
    expect(run?.report.actions.map((a) => [a.action.type, a.status])).toContainEqual([
      'ADOPT_POSITION',
      'planned',
    ]);
    expect(env.paper.snapshot()).toEqual(before);
    expect(await env.store.listOpenTrades({ accountId: 'demo' })).toEqual([]);
    expect(await env.store.listReconReports('demo')).toHaveLength(1);
    expect(env.metrics.values('ReconciliationMismatches').at(-1)).toBe(r.mismatches);
  });

  it('{"accountId": "demo", "apply": true}: adopts the position with a stop and starts its execution; a dry run then finds nothing', async () => {
    const r = await reconciler({ accountId: 'demo', apply: true });
    const [run] = r.runs as Run[];
    expect(run?.report.actions.map((a) => [a.action.type, a.status])).toContainEqual([
      'ADOPT_POSITION',
      'applied',
    ]);
    const open = await env.store.listOpenTrades({ accountId: 'demo' });
    expect(open).toHaveLength(1);
    const tradeId = open[0]!.tradeId;
    expect(env.paper.snapshot().openOrders.filter((o) => o.kind === 'stop')).toHaveLength(1);
    expect(env.sfn.execution(tradeId)).toBeDefined();
    await env.sfn.waitForTask(tradeId, 'AwaitExit');

    env.clock.advance(1000);
    const again = await reconciler({ dryRun: true });
    expect(again.mismatches).toBe(0);
    expect(env.metrics.values('ReconciliationMismatches').at(-1)).toBe(0);
    const reports = await call('GET', '/reconciliation/reports', { query: { accountId: 'demo' } });
    expect((reports.body.reports as unknown[]).length).toBe(3);
  });

  it('the scheduled event applies: a position closed by hand is settled and its execution ends', async () => {
    const [open] = await env.store.listOpenTrades({ accountId: 'demo' });
    const tradeId = open!.tradeId;
    env.paper.setPrice(BTC, '50100');
    env.paper.closePositionExternally(BTC);
    env.clock.advance(1000);
    const r = await reconciler(SCHEDULED);
    expect(r.dryRun).toBe(false);
    const [run] = r.runs as Run[];
    expect(run?.report.findings.map((f) => f.kind)).toContain('POSITION_GONE');
    expect(run?.report.actions.map((a) => [a.action.type, a.status])).toContainEqual([
      'SETTLE_TRADE',
      'applied',
    ]);
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect((await env.store.getTrade(tradeId))?.status).toBe('FINALIZED');
    const ticks = await env.store.listWorkerTicks();
    expect(ticks.find((t) => t.worker === 'reconciler')).toMatchObject({ lastTickAt: env.clock.now() });
  });
});
