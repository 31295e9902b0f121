/**
 * The operator HTTP API on the whole local engine: dynalite, local-aws-sqs, the paper exchange, the real ASL
 * on the local Step Functions harness and the real handlers. Every route, force exit and flatten through the
 * trade's execution, the kill switch blocking entries, the audit log, and every kind of bad request (4xx with
 * the reason, the table unchanged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigUnavailableError } from '../../functions/ports/config.js';
import { btcSignal, startLifecycle } from '../support/local-sfn.js';
import type { LifecycleEnv } from '../support/local-sfn.js';
import { eventTypes, tickWorkers } from '../workflow/support.js';
import { call, fingerprint } from './support.js';

let env: LifecycleEnv;
beforeAll(async () => {
  env = await startLifecycle();
}, 30_000);
afterAll(async () => {
  await env.stop();
});

const ALICE = 'arn:aws:iam::123456789012:user/alice';

/** Submits a signal through the API and waits until its trade is LIVE with the wait armed. */
async function liveTrade(id: string, over: Record<string, unknown> = {}): Promise<string> {
  const r = await call('POST', '/signals', { body: btcSignal(id, over) });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const tradeId = r.body.tradeId as string;
  await env.sfn.waitForTask(tradeId, 'AwaitExit');
  for (let i = 0; i < 50 && typeof (await env.store.getTrade(tradeId))?.data.liveTaskToken !== 'string'; i++)
    await new Promise((res) => setTimeout(res, 10));
  return tradeId;
}

/** Submits a signal and waits for its execution to end; returns the trade. */
async function decidedTrade(id: string) {
  const r = await call('POST', '/signals', { body: btcSignal(id) });
  expect(r.status).toBe(202);
  const tradeId = r.body.tradeId as string;
  await env.sfn.finished(tradeId);
  return (await env.store.getTrade(tradeId))!;
}

describe('status routes', () => {
  it('GET /health: last tick per worker, breaker and trading states; degraded until every worker ticked', async () => {
    const before = await call('GET', '/health');
    expect(before.status).toBe(200);
    expect(before.body.status).toBe('degraded');
    expect(before.body.problems).toContain('worker stop-manager never recorded a tick');

    await tickWorkers();
    const now = env.clock.now();
    const h = await call('GET', '/health');
    const workers = h.body.workers as { worker: string; lastTickAt: number | null; stale: boolean }[];
    for (const w of ['stop-manager', 'milestone-checker', 'lifecycle-watch'])
      expect(workers.find((x) => x.worker === w)).toMatchObject({ lastTickAt: now, stale: false });
    expect(workers.find((x) => x.worker === 'reconciler')).toMatchObject({ lastTickAt: null, stale: true });
    expect(h.body.breakers).toEqual([{ scope: 'demo', state: 'CLOSED', failures: 0, openedAt: null }]);
    const ts = h.body.tradingState as { global: { value: string }; accounts: { value: string }[] };
    expect(ts.global.value).toBe('ACTIVE');
    expect(ts.accounts.map((a) => a.value)).toEqual(['ACTIVE']);
  });

  it('POST /signals (the intake), GET /trades, GET /trades/{id}, /positions/health, /lifecycle/timeouts', async () => {
    const tradeId = await liveTrade('view');
    const list = await call('GET', '/trades', { query: { accountId: 'demo' } });
    expect(list.status).toBe(200);
    const open = list.body.open as { tradeId: string; status: string; side: string; stop: string | null }[];
    expect(open.map((t) => [t.tradeId, t.status, t.side])).toContainEqual([tradeId, 'LIVE', 'long']);
    expect(open.find((t) => t.tradeId === tradeId)?.stop).not.toBeNull();
    const live = await call('GET', '/trades', { query: { status: 'LIVE' } });
    expect((live.body.open as { tradeId: string }[]).map((t) => t.tradeId)).toContain(tradeId);
    expect(live.body.recent).toEqual([]);

    const detail = await call('GET', `/trades/${tradeId}`);
    expect(detail.status).toBe(200);
    const events = detail.body.events as { type: string; version: number }[];
    expect(events[0]?.type).toBe('CREATED');
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toContain('LIVE_ARMED');
    const trade = detail.body.trade as { status: string; data: { liveTaskToken: string } };
    expect(trade.status).toBe('LIVE');
    expect(trade.data.liveTaskToken).toBe('(set)'); // the task token is never shown
    expect(JSON.stringify(detail.body)).not.toContain(
      (await env.store.getTrade(tradeId))!.data.liveTaskToken,
    );
    expect((detail.body.orderIntents as unknown[]).length).toBeGreaterThanOrEqual(2); // entry and stop

    env.clock.advance(60_000);
    await tickWorkers();
    const health = await call('GET', '/positions/health');
    expect(health.status).toBe(200);
    expect(health.body.evaluatedAt).toBe(env.clock.now());
    const pos = (health.body.positions as { tradeId: string; score: number; level: string }[]).find(
      (p) => p.tradeId === tradeId,
    );
    expect(pos?.score).toBeGreaterThanOrEqual(0);
    expect(pos?.score).toBeLessThanOrEqual(100);
    expect(['SAFE', 'WARNING', 'CRITICAL']).toContain(pos?.level);

    const stored = await env.store.getTrade(tradeId);
    const filledAt = (stored!.data.position as { entryFilledAt: number }).entryFilledAt;
    const timeouts = await call('GET', '/lifecycle/timeouts', { query: { accountId: 'demo' } });
    const t = (timeouts.body.positions as Record<string, unknown>[]).find((p) => p.tradeId === tradeId);
    expect(t).toMatchObject({
      status: 'LIVE',
      entryFilledAt: filledAt,
      warningAt: filledAt + 180 * 60_000,
      criticalAt: filledAt + 240 * 60_000,
      automaticTimeout: true,
      next: 'none',
      minutesOpen: (env.clock.now() - filledAt) / 60_000,
    });
    expect((await call('POST', `/trades/${tradeId}/exit`)).status).toBe(202);
    expect((await env.sfn.finished(tradeId)).status).toBe('SUCCEEDED');
  });
});

describe('operator controls', () => {
  it('POST /trades/{id}/exit: the LIVE wait ends with OPERATOR, the execution exits, the action is audited', async () => {
    const tradeId = await liveTrade('force');
    const r = await call('POST', `/trades/${tradeId}/exit`, { body: { reason: 'manual close' } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ tradeId, outcome: 'requested' });
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FINALIZED');
    expect((t?.data.exit as { reason: string }).reason).toBe('OPERATOR');
    expect(t?.data.operatorExit).toMatchObject({ reason: 'OPERATOR', actor: ALICE, note: 'manual close' });
    const types = await eventTypes(env, tradeId);
    expect(types.indexOf('OPERATOR_EXIT_REQUESTED')).toBeGreaterThan(types.indexOf('LIVE_ARMED'));
    expect(types).toContain('EXIT_STARTED');
    expect(env.paper.snapshot().positions).toEqual([]);

    const audit = await call('GET', '/audit');
    expect((audit.body.entries as Record<string, unknown>[]).find((e) => e.target === tradeId)).toMatchObject(
      {
        action: 'FORCE_EXIT',
        target: tradeId,
        actor: ALICE,
        detail: { reason: 'manual close' },
      },
    );

    // a second force exit of the finalized trade is a conflict and writes nothing
    const before = await fingerprint(env.emu);
    const again = await call('POST', `/trades/${tradeId}/exit`);
    expect(again.status).toBe(409);
    expect((again.body.errors as string[])[0]).toMatch(/is FINALIZED; a force exit needs LIVE/);
    expect(await fingerprint(env.emu)).toBe(before);
  });

  it('POST /trading-state HALTED + flatten: every live trade exits with KILL_SWITCH; new signals are skipped', async () => {
    env.clock.advance(1000);
    // One trade per account and symbol: the second live trade is on ETH.
    env.paper.setPrice('ETH/USDT:USDT', '2000');
    const a = await liveTrade('flat-a');
    const b = await liveTrade('flat-b', { symbol: 'ETH/USDT:USDT', price: '2000' });
    const r = await call('POST', '/trading-state', {
      body: { scope: 'global', state: 'HALTED', flatten: true, reason: 'exchange incident' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.previous).toMatchObject({ value: 'ACTIVE', version: 0 });
    expect(r.body.current).toMatchObject({
      value: 'HALTED',
      version: 1,
      reason: 'exchange incident',
      updatedBy: ALICE,
    });
    const outcomes = r.body.flatten as { tradeId: string; outcome: string }[];
    expect(outcomes.map((o) => [o.tradeId, o.outcome]).sort()).toEqual([
      [a, 'requested'],
      [b, 'requested'],
    ]);
    for (const id of [a, b]) {
      expect((await env.sfn.finished(id)).status).toBe('SUCCEEDED');
      const t = await env.store.getTrade(id);
      expect((t?.data.exit as { reason: string }).reason).toBe('KILL_SWITCH');
      expect(await eventTypes(env, id)).toContain('OPERATOR_EXIT_REQUESTED');
    }
    expect(env.paper.snapshot().positions).toEqual([]);
    const audit = await call('GET', '/audit', { query: { limit: '1' } });
    expect(audit.body.entries).toHaveLength(1);
    expect((audit.body.entries as Record<string, unknown>[])[0]).toMatchObject({
      action: 'SET_TRADING_STATE',
      target: 'global',
      detail: { from: 'ACTIVE', to: 'HALTED', flatten: true },
    });

    // the kill switch blocks entries: the risk gate skips the next signal
    const skipped = await decidedTrade('while-halted');
    expect(skipped.status).toBe('FINALIZED');
    expect(skipped.data.skip).toMatchObject({ code: 'TRADING_HALTED' });
    expect(env.paper.snapshot().positions).toEqual([]);
    const health = await call('GET', '/health');
    expect(health.body.problems).toContain('trading state global is HALTED');
  });

  it('REDUCING on the account blocks entries; ACTIVE again lets them in', async () => {
    expect(
      (
        await call('POST', '/trading-state', {
          body: { scope: 'global', state: 'ACTIVE', reason: 'resolved' },
        })
      ).status,
    ).toBe(200);
    const red = await call('POST', '/trading-state', {
      body: { scope: 'demo', state: 'REDUCING', reason: 'drawdown review' },
    });
    expect(red.status).toBe(200);
    const skipped = await decidedTrade('while-reducing');
    expect(skipped.data.skip).toMatchObject({ code: 'TRADING_REDUCING' });

    await call('POST', '/trading-state', { body: { scope: 'demo', state: 'ACTIVE', reason: 'review done' } });
    const tradeId = await liveTrade('after-resume');
    expect((await env.store.getTrade(tradeId))?.status).toBe('LIVE');
    await call('POST', `/trades/${tradeId}/exit`);
    await env.sfn.finished(tradeId);
  });

  it('POST /config/reload reads the configuration again and is audited; an invalid one is 422 and stays out', async () => {
    env.clock.advance(1000);
    const ok = await call('POST', '/config/reload');
    expect(ok.status).toBe(200);
    expect(ok.body.accounts).toEqual(['demo']);
    const audit = await call('GET', '/audit', { query: { limit: '1' } });
    expect((audit.body.entries as Record<string, unknown>[])[0]).toMatchObject({ action: 'CONFIG_RELOAD' });

    const original = env.ctx.config;
    env.ctx.config = {
      getConfig: () => original.getConfig(),
      reload: () =>
        Promise.reject(new ConfigUnavailableError('SSM parameter /tradewarden/config', 'not JSON')),
    };
    try {
      const before = await fingerprint(env.emu);
      const bad = await call('POST', '/config/reload');
      expect(bad.status).toBe(422);
      expect((bad.body.errors as string[])[0]).toMatch(/not JSON/);
      expect(await fingerprint(env.emu)).toBe(before);
    } finally {
      env.ctx.config = original;
    }
  });
});

describe('reconciliation over HTTP', () => {
  it('POST /reconcile is a dry run by default: the report per account, nothing changed', async () => {
    await liveTrade('recon-dry');
    type OpenRow = { tradeId: string; status: string; stop: string | null };
    const versions = async () =>
      ((await call('GET', '/trades', { query: { accountId: 'demo' } })).body.open as OpenRow[])
        .map((t) => `${t.tradeId}@${t.status}@${t.stop}`)
        .sort();
    const before = await versions();
    expect(before.length).toBeGreaterThan(0);
    const r = await call('POST', '/reconcile', { body: {} });
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(true);
    expect((r.body.runs as { accountId: string }[]).map((x) => x.accountId)).toEqual(['demo']);
    // A dry run writes no trade (it stores only its report).
    expect(await versions()).toEqual(before);
  });

  it('POST /reconcile {"apply": true} applies and is audited', async () => {
    const r = await call('POST', '/reconcile', { body: { accountId: 'demo', apply: true } });
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(false);
    const audit = await call('GET', '/audit');
    const entry = (audit.body.entries as { action: string; target: string }[]).find(
      (e) => e.action === 'RECONCILE_APPLY',
    );
    expect(entry?.target).toBe('demo');
  });
});

describe('bad requests', () => {
  const cases: [
    string,
    'GET' | 'POST' | 'PUT' | 'DELETE',
    string,
    Parameters<typeof call>[2],
    number,
    RegExp,
  ][] = [
    ['unknown route', 'GET', '/nope', {}, 404, /no route \/nope/],
    ['wrong method', 'DELETE', '/trades', {}, 405, /method DELETE is not allowed on \/trades; use GET/],
    [
      'unknown query parameter',
      'GET',
      '/trades',
      { query: { foo: '1' } },
      400,
      /foo: unknown query parameter/,
    ],
    ['unknown account', 'GET', '/trades', { query: { accountId: 'ghost' } }, 400, /unknown account "ghost"/],
    ['bad status', 'GET', '/trades', { query: { status: 'BOGUS' } }, 400, /status: "BOGUS" is not one of/],
    [
      'unindexed status',
      'GET',
      '/trades',
      { query: { status: 'FAILED' } },
      400,
      /FAILED trades are not indexed/,
    ],
    [
      'bad limit',
      'GET',
      '/trades',
      { query: { limit: '0' } },
      400,
      /limit: must be an integer from 1 to 200/,
    ],
    ['unknown trade', 'GET', '/trades/ghost-trade', {}, 404, /trade ghost-trade does not exist/],
    ['GET with a body', 'GET', '/health', { rawBody: '{}' }, 400, /GET takes no body/],
    ['exit of an unknown trade', 'POST', '/trades/ghost-trade/exit', {}, 404, /does not exist/],
    ['exit with a body that is not JSON', 'POST', '/trades/x/exit', { rawBody: '{' }, 400, /not JSON/],
    ['exit with an unknown field', 'POST', '/trades/x/exit', { body: { why: 'x' } }, 400, /Unrecognized key/],
    [
      'bad period',
      'GET',
      '/analytics/performance',
      { query: { period: 'YEAR' } },
      400,
      /period: "YEAR" is not one of ALL, TODAY, WEEK, MONTH/,
    ],
    [
      'bad starting equity',
      'GET',
      '/analytics/performance',
      { query: { startingEquity: '-5' } },
      400,
      /startingEquity: must be a positive decimal/,
    ],
    [
      'trading state without fields',
      'POST',
      '/trading-state',
      { body: {} },
      400,
      /scope: .*|state: .*|reason: /,
    ],
    [
      'trading state of an unknown account',
      'POST',
      '/trading-state',
      { body: { scope: 'ghost', state: 'HALTED', reason: 'x' } },
      400,
      /unknown account "ghost"/,
    ],
    [
      'flatten while ACTIVE',
      'POST',
      '/trading-state',
      { body: { scope: 'global', state: 'ACTIVE', flatten: true, reason: 'x' } },
      400,
      /flatten: needs state REDUCING or HALTED/,
    ],
    [
      'unknown trading state',
      'POST',
      '/trading-state',
      { body: { scope: 'global', state: 'STOPPED', reason: 'x' } },
      400,
      /state: /,
    ],
    [
      'trading state without a reason',
      'POST',
      '/trading-state',
      { body: { scope: 'global', state: 'HALTED', reason: ' ' } },
      400,
      /reason: a reason is required/,
    ],
    ['invalid signal', 'POST', '/signals', { body: { signalId: 'x' } }, 400, /accountId/],
    [
      'reconcile: contradictory flags',
      'POST',
      '/reconcile',
      { body: { apply: true, dryRun: true } },
      400,
      /apply and dryRun contradict each other/,
    ],
    ['reconcile: unknown key', 'POST', '/reconcile', { body: { force: true } }, 400, /Unrecognized key/],
    [
      'reconcile: unknown account',
      'POST',
      '/reconcile',
      { body: { accountId: 'ghost' } },
      400,
      /unknown account "ghost"/,
    ],
  ];
  it('each gets its 4xx with the reason, and the table is unchanged', async () => {
    const before = await fingerprint(env.emu);
    for (const [name, method, path, opts, status, reason] of cases) {
      const r = await call(method, path, opts);
      expect(r.status, name).toBe(status);
      const errors = r.body.errors as string[];
      expect(errors.length, name).toBeGreaterThan(0);
      expect(errors.join('\n'), name).toMatch(reason);
    }
    const missing = await call('POST', '/trading-state', { body: {} });
    expect((missing.body.errors as string[]).map((e) => e.split(':')[0]).sort()).toEqual([
      'reason',
      'scope',
      'state',
    ]);
    expect(await fingerprint(env.emu)).toBe(before);
  });
});
