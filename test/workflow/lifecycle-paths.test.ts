/**
 * Every path of the trade lifecycle on the real ASL (local Step Functions), the real handlers, dynalite,
 * local-aws-sqs and the paper exchange. The LIVE phase is driven by the real scheduled worker handlers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import { clientOrderId } from '../../functions/core/reconciliation.js';
import { handler as intakeHttp } from '../../functions/handlers/intake-http.js';
import { BTC, btcSignal, startLifecycle } from '../support/local-sfn.js';
import type { LifecycleEnv } from '../support/local-sfn.js';
import { eventTypes, move, post, tickWorkers } from './support.js';

let env: LifecycleEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

async function submit(e: LifecycleEnv, id: string, over: Record<string, unknown> = {}): Promise<string> {
  const res = await intakeHttp(post(btcSignal(id, over)));
  expect(res.statusCode).toBe(202);
  return `demo.${id}`;
}

function openBtc(e: LifecycleEnv) {
  const s = e.paper.snapshot();
  return {
    positions: s.positions.filter((p) => p.symbol === BTC),
    stops: s.openOrders.filter((o) => o.kind === 'stop'),
  };
}

describe('trade lifecycle paths', () => {
  it('happy path: fill, stop within the same invocation, trailing stop ratchets up, exit by the trailing stop', async () => {
    env = await startLifecycle();
    const tradeId = await submit(env, 'happy');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    const live = await env.store.getTrade(tradeId);
    expect(live?.status).toBe('LIVE');
    expect(openBtc(env).stops).toHaveLength(1);
    const latency = env.metrics.values('FillToStopLatencyMs');
    expect(latency).toHaveLength(1);
    expect(latency[0]).toBeLessThanOrEqual(1000);
    const firstStop = new D((live?.data.position as { stop: string }).stop);

    move(env, '50300', 120_000); // past the minimum holding time, +0.6 %: trailing armed
    await tickWorkers();
    move(env, '50400');
    await tickWorkers();
    const moved = await env.store.getTrade(tradeId);
    const movedStop = new D((moved?.data.position as { stop: string }).stop);
    expect(movedStop.gt(firstStop)).toBe(true);
    expect(await eventTypes(env, tradeId)).toContain('STOP_MOVED');

    move(env, movedStop.minus(5).toFixed()); // through the trailing stop: the exchange stop fills
    expect(openBtc(env).positions).toHaveLength(0);
    await tickWorkers(); // lifecycle watch: position gone, stop filled → STOP_HIT
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect(done.statesEntered).not.toContain('SubmitExit');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FINALIZED');
    const settlement = t?.data.settlement as { realizedPnl: string };
    expect(new D(settlement.realizedPnl).gt(0)).toBe(true);
    expect(t?.data.final).toHaveProperty('seconds_to_10_pct');
  });

  it('limit entry times out with a partial fill: the filled part goes LIVE with a stop for that quantity', async () => {
    env = await startLifecycle({}, { fill: { maxParticipation: new D('0.5') } });
    const e = env;
    let touched = false;
    e.onSleep.fn = () => {
      if (!touched) {
        touched = true;
        e.paper.setPrice(BTC, '49900', undefined, '0.01'); // 0.5 × 0.01 = 0.005 fills
      }
    };
    const tradeId = await submit(e, 'partial', { entry: { type: 'limit', price: '49900' }, price: '50000' });
    await e.sfn.waitForTask(tradeId, 'AwaitExit');
    const t = await e.store.getTrade(tradeId);
    const entry = t?.data.entry as { partial: boolean; filledQty: string; requestedQty: string };
    expect(entry.partial).toBe(true);
    expect(entry.filledQty).toBe('0.005');
    expect(new D(entry.requestedQty).gt('0.005')).toBe(true);
    expect(openBtc(e).stops[0]?.qty.toFixed()).toBe('0.005');
    expect(e.paper.snapshot().openOrders.filter((o) => o.kind === 'limit')).toHaveLength(0);
    await e.ctx.liveWait.endLiveWait(tradeId, { reason: 'OPERATOR', decidedBy: 'operator:test' });
    const done = await e.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect(openBtc(e).positions).toHaveLength(0);
  });

  it('a limit entry that fills nothing is CANCELLED', async () => {
    env = await startLifecycle();
    const tradeId = await submit(env, 'nofill', { entry: { type: 'limit', price: '49900' }, price: '50000' });
    const done = await env.sfn.finished(tradeId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.statesEntered).toContain('MarkCancelled');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('CANCELLED');
    expect((t?.data.cancel as { reason: string }).reason).toMatch(/^ENTRY_TIMEOUT/);
    expect(env.paper.snapshot().openOrders).toHaveLength(0);
  });

  it('stop hit on the exchange: settles without an exit order, loss within the max loss', async () => {
    env = await startLifecycle();
    const tradeId = await submit(env, 'stophit');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    const stop = new D(((await env.store.getTrade(tradeId))?.data.position as { stop: string }).stop);
    move(env, stop.minus('0.1').toFixed()); // one tick through the stop
    await tickWorkers();
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect(done.statesEntered).not.toContain('SubmitExit');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FINALIZED');
    expect((t?.data.exit as { reason: string }).reason).toBe('STOP_HIT');
    const pnl = new D((t?.data.settlement as { realizedPnl: string }).realizedPnl);
    expect(pnl.lt(0)).toBe(true);
    expect(pnl.abs().lte(20)).toBe(true);
  });

  it('both partial take-profits, then the target: partial exits, break-even stop, TAKE_PROFIT', async () => {
    env = await startLifecycle();
    const tradeId = await submit(env, 'partials');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    const t0 = await env.store.getTrade(tradeId);
    const plan = t0?.data.plan as { takeProfit: string };
    const pos = t0?.data.position as { levels: { price: string }[]; initialQty: string };
    const first = pos.levels[0]!.price;
    move(env, first, 120_000);
    await tickWorkers();
    const afterFirst = await env.store.getTrade(tradeId);
    expect(await eventTypes(env, tradeId)).toContain('PARTIAL_EXIT');
    const remaining = new D((afterFirst?.data.position as { remainingQty: string }).remainingQty);
    expect(remaining.lt(pos.initialQty)).toBe(true);
    move(env, new D(plan.takeProfit).plus(10).toFixed());
    await tickWorkers();
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FINALIZED');
    expect(openBtc(env).positions).toHaveLength(0);
    expect(new D((t?.data.settlement as { realizedPnl: string }).realizedPnl).gt(0)).toBe(true);
  });

  it('240-minute timeout: WARNING at 180, CRITICAL at 240, emergency close with TIMEOUT', async () => {
    env = await startLifecycle({ riskMonitoring: { emergencyCloseOnCritical: false } });
    const tradeId = await submit(env, 'timeout');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    move(env, '50010', 181 * 60_000);
    await tickWorkers();
    expect((await env.store.getTrade(tradeId))?.status).toBe('WARNING');
    move(env, '50010', 60 * 60_000);
    await tickWorkers();
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect(done.statesEntered).toContain('SubmitExit');
    const reached = (await env.store.listEvents(tradeId)).map((ev) => ev.toStatus);
    expect(reached).toContain('WARNING');
    expect(reached).toContain('CRITICAL');
    const t = await env.store.getTrade(tradeId);
    expect((t?.data.exit as { reason: string }).reason).toBe('TIMEOUT');
    expect(openBtc(env).positions).toHaveLength(0);
  });

  it('emergency close on health CRITICAL', async () => {
    env = await startLifecycle({ riskMonitoring: { safeAt: 100, healthScoreThreshold: 100 } });
    const tradeId = await submit(env, 'health');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    move(env, '49900', 60_000);
    await tickWorkers();
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    const t = await env.store.getTrade(tradeId);
    expect((t?.data.exit as { reason: string }).reason).toBe('HEALTH_CRITICAL');
    expect(openBtc(env).positions).toHaveLength(0);
  });

  it('exchange refuses the entry: FAILED, nothing left open', async () => {
    env = await startLifecycle();
    env.paper.faults.add({ kind: 'insufficient-funds', method: 'createOrder' });
    const tradeId = await submit(env, 'refused');
    const done = await env.sfn.finished(tradeId);
    expect(done.status).toBe('FAILED');
    expect(done.statesEntered.slice(-3)).toEqual(['EnsureFlat', 'MarkFailed', 'Failed']);
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FAILED');
    expect((t?.data.failure as { error: string }).error).toBe('ExchangeRejected');
    expect(openBtc(env).positions).toHaveLength(0);
    expect(env.paper.snapshot().openOrders).toHaveLength(0);
  });

  it('exchange unavailable after the entry was accepted (unknown outcome): the fill is flattened, FAILED', async () => {
    env = await startLifecycle();
    // The entry order is processed (it fills) and answers 503; the executor's look-ups by client id all
    // fail (4 reads), so it gives up with the outcome unknown. EnsureFlat then finds the fill and exits it.
    env.paper.faults.add({ kind: '5xx', method: 'fetchOrderByClientId', times: 4 });
    env.paper.faults.add({ kind: '5xx', method: 'createOrder', accepted: true, times: 1 });
    const tradeId = await submit(env, 'unknown');
    const done = await env.sfn.finished(tradeId);
    env.paper.faults.clear();
    expect(done.status).toBe('FAILED');
    expect(done.statesEntered).toContain('EnsureFlat');
    const t = await env.store.getTrade(tradeId);
    expect(t?.status).toBe('FAILED');
    expect((t?.data.failure as { error: string }).error).toBe('ExchangeUnavailable');
    expect((t?.data.flattened as { exitedQty: string }).exitedQty).not.toBe('0');
    expect(openBtc(env).positions).toHaveLength(0);
    expect(env.paper.snapshot().openOrders).toHaveLength(0);
  });

  it('kill switch mid-trade: HALTED + flatten closes the live trade; a new signal is SKIPPED', async () => {
    env = await startLifecycle();
    const tradeId = await submit(env, 'kill');
    await env.sfn.waitForTask(tradeId, 'AwaitExit');
    await env.store.setTradingState(
      { global: true },
      { value: 'HALTED', reason: 'test', updatedBy: 'operator:test', expectedVersion: 0 },
    );
    const ended = await env.ctx.liveWait.endLiveWait(tradeId, {
      reason: 'KILL_SWITCH',
      decidedBy: 'operator:test',
    });
    expect(ended.ended).toBe(true);
    const done = await env.sfn.finished(tradeId);
    expect(done.status, done.error ?? '').toBe('SUCCEEDED');
    expect(((await env.store.getTrade(tradeId))?.data.exit as { reason: string }).reason).toBe('KILL_SWITCH');
    expect(openBtc(env).positions).toHaveLength(0);

    const next = await submit(env, 'after-kill');
    const skipped = await env.sfn.finished(next);
    expect(skipped.statesEntered).toContain('ShadowWindow');
    const t = await env.store.getTrade(next);
    expect(t?.status).toBe('FINALIZED');
    expect((t?.data.skip as { code: string }).code).toBe('TRADING_HALTED');
    expect(env.paper.ordersWithClientId(clientOrderId(next, 'entry'))).toHaveLength(0);
  });

  it('duplicate signal: one trade, one execution, one entry order', async () => {
    env = await startLifecycle();
    const a = await intakeHttp(post(btcSignal('dup')));
    const b = await intakeHttp(post(btcSignal('dup')));
    expect(JSON.parse(a.body ?? '{}')).toMatchObject({ tradeId: 'demo.dup', created: true, started: true });
    expect(JSON.parse(b.body ?? '{}')).toMatchObject({ tradeId: 'demo.dup', created: false, started: false });
    await env.sfn.waitForTask('demo.dup', 'AwaitExit');
    expect(env.sfn.list().filter((x) => x.name === 'demo.dup')).toHaveLength(1);
    expect(env.paper.snapshot().orders.filter((o) => o.kind === 'market' && !o.reduceOnly)).toHaveLength(1);
    await env.ctx.liveWait.endLiveWait('demo.dup', { reason: 'OPERATOR' });
    expect((await env.sfn.finished('demo.dup')).status).toBe('SUCCEEDED');
  });
});
