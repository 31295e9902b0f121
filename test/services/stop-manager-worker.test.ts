import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOrderId } from '../../functions/core/reconciliation.js';
import {
  StopManagerWorker,
  type StopManagerWorkerOptions,
} from '../../functions/services/stop-manager-worker.js';
import { METRIC } from '../../functions/services/worker-support.js';
import { startEmulators, type Emulators } from '../support/emulators.js';
import { BTC, DOGE, ETH, Harness, OP, SOL } from './worker-fixtures.js';

let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

function worker(h: Harness, opts: Partial<StopManagerWorkerOptions> = {}): StopManagerWorker {
  return new StopManagerWorker({
    store: h.store,
    clock: h.clock,
    config: h.configSource,
    accounts: [h.account],
    liveWait: h.liveWait,
    metrics: h.metrics,
    ...opts,
  });
}

describe('stop-manager worker: actions', () => {
  it('trailing moves the exchange stop: the new stop is created before the old one is cancelled, then stored', async () => {
    const h = new Harness(emu);
    const t = await h.openLive(); // long 0.01 BTC at 50000, stop 48975
    expect(t.position.stop.toFixed()).toBe('48975');
    const w = worker(h);
    h.move(BTC, '50300', 120_000); // +0.6 % after the 60 s minimum holding: trail 0.1 % → 50249.7
    h.ex.calls.length = 0;
    const report = await w.tick(h.clock.now());
    expect(report.results).toMatchObject([{ tradeId: t.tradeId, outcome: 'STOP_MOVED', stop: '50249.7' }]);
    // create-before-cancel, as the paper exchange saw it
    expect(h.ex.calls.map((c) => [c.method, c.clientOrderId ?? c.orderId, c.triggerPrice])).toEqual([
      ['createOrder', clientOrderId(t.tradeId, 'stop', 1), '50249.7'],
      ['cancelOrder', t.stopOrderId, undefined],
    ]);
    const stops = await h.exchangeStops(BTC);
    expect(stops.map((o) => [o.triggerPrice?.toFixed(), o.qty.toFixed()])).toEqual([['50249.7', '0.01']]);
    const stored = await h.stored(t.tradeId);
    expect(stored.stop).toBe('50249.7');
    expect(stored.orderId).toBe(stops[0]!.id);
    expect(stored.data.stopSeq).toBe(1);
    const events = await h.store.listEvents(t.tradeId);
    expect(events.at(-1)).toMatchObject({ type: 'STOP_MOVED', leaseToken: expect.any(Number) as number });
    expect(h.metrics.get(METRIC.StopUpdatesApplied)).toBe(1);
    // the lease is released after the update
    expect((await h.store.getTrade(t.tradeId))?.lease?.owner ?? null).toBeNull();
  });

  it('a quiet tick changes nothing and writes nothing', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    const before = (await h.store.getTrade(t.tradeId))!.version;
    h.move(BTC, '49990');
    const report = await worker(h).tick(h.clock.now());
    expect(report.results).toMatchObject([{ outcome: 'NO_CHANGE', stop: '48975' }]);
    expect((await h.store.getTrade(t.tradeId))!.version).toBe(before);
  });

  it('partial take-profit then the target: partial exit, stop resized to the rest, then the LIVE wait ends with TAKE_PROFIT', async () => {
    const h = new Harness(emu);
    const t = await h.openLive(); // partial 50 % at 51025, target 52050
    const w = worker(h);
    h.move(BTC, '51100', 120_000);
    const r1 = await w.tick(h.clock.now());
    expect(r1.results).toMatchObject([
      { outcome: 'PARTIAL_EXIT', actions: ['PARTIAL_EXIT', 'MOVE_STOP'], stop: '51048.9' },
    ]);
    const pos = (await h.paper.fetchPositions([BTC]))[0]!;
    expect(pos.qty.toFixed()).toBe('0.005');
    const stops = await h.exchangeStops(BTC);
    expect(stops.map((o) => [o.triggerPrice?.toFixed(), o.qty.toFixed()])).toEqual([['51048.9', '0.005']]);
    const stored = await h.stored(t.tradeId);
    expect(stored.stop).toBe('51048.9');
    expect((stored.data.position as { remainingQty: string }).remainingQty).toBe('0.005');
    expect((await h.store.listEvents(t.tradeId)).at(-1)?.type).toBe('PARTIAL_EXIT');

    h.move(BTC, '52100');
    const r2 = await w.tick(h.clock.now());
    expect(r2.results).toMatchObject([{ outcome: 'EXIT_REQUESTED', actions: ['EXIT'] }]);
    expect(h.liveWait.calls).toEqual([
      {
        tradeId: t.tradeId,
        exit: { reason: 'TAKE_PROFIT', detail: 'TAKE_PROFIT at 52050', decidedBy: 'stop-manager' },
      },
    ]);
    // The stop stays on the exchange until the workflow's exit; the request is recorded once.
    expect((await h.exchangeStops(BTC)).map((o) => o.triggerPrice?.toFixed())).toEqual(['51048.9']);
    const r3 = await w.tick(h.clock.now());
    expect(r3.results).toMatchObject([{ outcome: 'EXIT_PENDING' }]);
    expect(h.liveWait.calls).toHaveLength(1);
  });

  it('a stop that would trigger at once ends the LIVE wait with STOP_WOULD_TRIGGER (decided by the core)', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    const w = worker(h);
    h.move(BTC, '50700', 30_000); // lock 1 % reached before the minimum holding: stop → 50150
    expect((await w.tick(h.clock.now())).results).toMatchObject([{ outcome: 'STOP_MOVED', stop: '50150' }]);
    h.move(BTC, '50640', 90_000); // trailing arms: 50700 × 0.999 = 50649.3 ≥ 50640
    const r = await w.tick(h.clock.now());
    expect(r.results).toMatchObject([{ outcome: 'EXIT_REQUESTED' }]);
    expect(h.liveWait.calls[0]).toEqual({
      tradeId: t.tradeId,
      exit: {
        reason: 'STOP_WOULD_TRIGGER',
        detail: 'TRAILING stop 50649.3 at price 50640',
        decidedBy: 'stop-manager',
      },
    });
    expect((await h.stored(t.tradeId)).stop).toBe('50150');
  });

  it('the exchange refusing the new stop as "would trigger" keeps the old stop and ends the LIVE wait', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    h.paper.faults.add({ kind: 'would-trigger-immediately', method: 'createOrder' });
    h.move(BTC, '50300', 120_000);
    const r = await worker(h).tick(h.clock.now());
    expect(r.results).toMatchObject([{ outcome: 'EXIT_REQUESTED', stop: '48975' }]);
    expect(h.liveWait.calls.map((c) => c.exit.reason)).toEqual(['STOP_WOULD_TRIGGER']);
    expect((await h.exchangeStops(BTC)).map((o) => o.id)).toEqual([t.stopOrderId]);
    const stored = await h.stored(t.tradeId);
    expect([stored.stop, stored.orderId]).toEqual(['48975', t.stopOrderId]);
    expect(h.metrics.get(METRIC.StopUpdatesRejected)).toBe(1);
  });

  it('a fail-safe rejection is counted and stored; the exchange stop is untouched', async () => {
    const h = new Harness(emu, {
      overrides: { exits: { trailing: { enabled: false }, profitLocks: [{ atPct: '0.2', lockPct: '0' }] } },
    });
    // Stored max loss 0.3: a lock at entry (loss = the fees, 0.5) breaks 95 % of it.
    const t = await h.openLive({ storedMaxLoss: '0.3' });
    h.move(BTC, '50150', 120_000);
    const r = await worker(h).tick(h.clock.now());
    expect(r.results).toMatchObject([
      { outcome: 'FAILSAFE_REJECTED', actions: ['STOP_REJECTED'], stop: '48975' },
    ]);
    expect(h.metrics.get(METRIC.FailSafeRejections)).toBe(1);
    const stored = await h.stored(t.tradeId);
    expect(
      (stored.data.position as { counters: { failSafeRejections: number } }).counters.failSafeRejections,
    ).toBe(1);
    expect((await h.store.listEvents(t.tradeId)).at(-1)?.type).toBe('STOP_REJECTED');
    expect((await h.exchangeStops(BTC)).map((o) => o.id)).toEqual([t.stopOrderId]);
  });
});

describe('stop-manager worker: scheduling and failure handling', () => {
  it('orders trades by distance to the stop, nearest first', async () => {
    const h = new Harness(emu);
    const far = await h.openLive({ symbol: BTC, stopPct: '3' });
    const near = await h.openLive({ symbol: ETH, stopPct: '1' });
    const mid = await h.openLive({ symbol: SOL, stopPct: '2' });
    const r = await worker(h).tick(h.clock.now());
    expect(r.order).toEqual([near.tradeId, mid.tradeId, far.tradeId]);
  });

  it('runs at most 3 trades in parallel (exchange writes in flight measured)', async () => {
    const h = new Harness(emu);
    const prices: [string, string][] = [
      [BTC, '50300'],
      [ETH, '3018'],
      [SOL, '100.6'],
      [DOGE, '0.1006'],
      [OP, '2.012'],
    ];
    const trades = [];
    for (const [s] of prices) trades.push(await h.openLive({ symbol: s }));
    h.clock.advance(120_000);
    for (const [s, p] of prices) h.paper.setPrice(s, p);
    h.ex.writeDelayMs = 15;
    h.ex.maxInFlight = 0;
    const r = await worker(h).tick(h.clock.now());
    expect(r.results.map((x) => x.outcome)).toEqual(Array(5).fill('STOP_MOVED'));
    expect(h.ex.maxInFlight).toBeLessThanOrEqual(3);
    expect(h.ex.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(trades).toHaveLength(5);
  });

  it('a timeout on one position opens its breaker: skipped next tick while the others proceed', async () => {
    const h = new Harness(emu, { executor: { callTimeoutMs: 40, maxRetries: 0, lookupAttempts: 1 } });
    const a = await h.openLive({ symbol: BTC });
    const b = await h.openLive({ symbol: ETH });
    const w = worker(h);
    const aStop1 = clientOrderId(a.tradeId, 'stop', 1);
    h.ex.hang = (req) => req.clientOrderId === aStop1;
    h.clock.advance(120_000);
    h.paper.setPrice(BTC, '50300');
    h.paper.setPrice(ETH, '3018');
    const r1 = await w.tick(h.clock.now());
    const byId = (r: typeof r1, id: string) => r.results.find((x) => x.tradeId === id);
    expect(byId(r1, a.tradeId)).toMatchObject({ outcome: 'FAILED' });
    expect(byId(r1, a.tradeId)?.detail).toContain('TIMEOUT');
    expect(byId(r1, b.tradeId)).toMatchObject({ outcome: 'STOP_MOVED' });
    expect((await h.store.getBreaker(`POSITION#${a.tradeId}`)).state).toBe('OPEN');
    expect(h.metrics.get(METRIC.BreakerOpen)).toBe(1);
    // The stored stop is still the one on the exchange.
    expect((await h.stored(a.tradeId)).stop).toBe('48975');
    expect((await h.exchangeStops(BTC)).map((o) => o.id)).toEqual([a.stopOrderId]);

    h.ex.hang = null;
    h.move(BTC, '50400');
    h.paper.setPrice(ETH, '3030');
    const r2 = await w.tick(h.clock.now());
    expect(byId(r2, a.tradeId)).toMatchObject({ outcome: 'SKIPPED_BREAKER' });
    expect(byId(r2, b.tradeId)).toMatchObject({ outcome: 'STOP_MOVED' });

    // After the cool-down (60 s) one tick probes the position again, with a fresh client order id.
    h.move(BTC, '50400', 60_000);
    const r3 = await w.tick(h.clock.now());
    expect(byId(r3, a.tradeId)).toMatchObject({ outcome: 'STOP_MOVED', stop: '50349.6' });
    expect((await h.store.getBreaker(`POSITION#${a.tradeId}`)).state).toBe('CLOSED');
    expect((await h.stored(a.tradeId)).data.stopSeq).toBe(2);
  });

  it('over budget: trades not started in time are reported as skipped and TickOverBudget counted', async () => {
    const h = new Harness(emu);
    const trades = [];
    for (const s of [BTC, ETH, SOL, DOGE]) trades.push(await h.openLive({ symbol: s }));
    h.clock.advance(120_000);
    for (const [s, p] of [
      [BTC, '50300'],
      [ETH, '3018'],
      [SOL, '100.6'],
      [DOGE, '0.1006'],
    ] as const)
      h.paper.setPrice(s, p);
    // Each stop creation takes 600 ms of (simulated) exchange time; the budget is 1000 ms, one at a time.
    h.paper.faults.add({ kind: 'latency', method: 'createOrder', ms: 600, times: Infinity });
    const r = await worker(h, { concurrency: 1, budgetMs: 1000 }).tick(h.clock.now());
    expect(r.order).toHaveLength(2);
    expect(r.skippedForBudget).toHaveLength(2);
    expect(r.overBudget).toBe(true);
    expect(r.durationMs).toBe(1200);
    expect(r.results.filter((x) => x.outcome === 'SKIPPED_BUDGET').map((x) => x.tradeId)).toEqual(
      r.skippedForBudget,
    );
    expect(h.metrics.get(METRIC.TickOverBudget)).toBe(1);
    expect(h.metrics.timings).toEqual([{ name: METRIC.TickDurationMs, ms: 1200 }]);
  });

  it('a lease held by someone else: the trade is skipped this tick, the others proceed', async () => {
    const h = new Harness(emu);
    const a = await h.openLive({ symbol: BTC });
    const b = await h.openLive({ symbol: ETH });
    h.clock.advance(120_000);
    const held = await h.store.acquireLease({ tradeId: a.tradeId }, 'order-executor', 60_000);
    expect(held.acquired).toBe(true);
    h.paper.setPrice(BTC, '50300');
    h.paper.setPrice(ETH, '3018');
    const r = await worker(h).tick(h.clock.now());
    expect(r.results.find((x) => x.tradeId === a.tradeId)).toMatchObject({
      outcome: 'SKIPPED_LEASE',
      detail: 'lease held by order-executor',
    });
    expect(r.results.find((x) => x.tradeId === b.tradeId)).toMatchObject({ outcome: 'STOP_MOVED' });
    expect((await h.exchangeStops(BTC)).map((o) => o.id)).toEqual([a.stopOrderId]);
  });
});
