import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import { LifecycleWatchWorker } from '../../functions/services/lifecycle-watch-worker.js';
import { METRIC } from '../../functions/services/worker-support.js';
import { startEmulators, type Emulators } from '../support/emulators.js';
import { BTC, Harness } from './worker-fixtures.js';

let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

const MIN = 60_000;

function worker(h: Harness): LifecycleWatchWorker {
  return new LifecycleWatchWorker({
    store: h.store,
    clock: h.clock,
    config: h.configSource,
    accounts: [h.account],
    liveWait: h.liveWait,
    metrics: h.metrics,
  });
}

/** Twenty 1-minute candles before now: 15 busy (volume 100), then 5 quiet (volume 1), range 49000–49900. */
function feedCandles(h: Harness): void {
  const now = h.clock.now();
  for (let i = 20; i >= 1; i--) {
    h.paper.advance(BTC, {
      openTime: now - i * MIN,
      intervalMs: MIN,
      open: new D('49500'),
      high: new D('49900'),
      low: new D('49000'),
      close: new D('49500'),
      volume: new D(i > 5 ? '100' : '1'),
    });
  }
}

describe('lifecycle watch: time', () => {
  it('LIVE → WARNING at 180 min, → CRITICAL at 240 min with the emergency close (TIMEOUT), once', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    const w = worker(h);
    h.clock.advance(179 * MIN);
    expect((await w.tick(h.clock.now())).transitions).toEqual([]);
    h.clock.advance(1 * MIN);
    const r1 = await w.tick(h.clock.now());
    expect(r1.transitions).toEqual([{ tradeId: t.tradeId, from: 'LIVE', to: 'WARNING' }]);
    expect((await h.store.getTrade(t.tradeId))!.status).toBe('WARNING');
    h.clock.advance(60 * MIN);
    const r2 = await w.tick(h.clock.now());
    expect(r2.transitions).toEqual([{ tradeId: t.tradeId, from: 'WARNING', to: 'CRITICAL' }]);
    expect(h.liveWait.calls).toEqual([
      {
        tradeId: t.tradeId,
        exit: { reason: 'TIMEOUT', detail: 'open 240.0 min ≥ 240 min', decidedBy: 'lifecycle-watch' },
      },
    ]);
    const trade = (await h.store.getTrade(t.tradeId))!;
    expect(trade.status).toBe('CRITICAL');
    expect(trade.data.exitRequested).toMatchObject({ reason: 'TIMEOUT', by: 'lifecycle-watch' });
    expect(h.metrics.get(METRIC.EmergencyCloses)).toBe(1);
    const r3 = await w.tick(h.clock.now() + MIN);
    expect(r3.transitions).toEqual([]);
    expect(h.liveWait.calls).toHaveLength(1);
  });

  it('a trade first seen past 240 min moves LIVE → WARNING → CRITICAL in one tick, one legal step at a time', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    h.clock.advance(245 * MIN);
    const r = await worker(h).tick(h.clock.now());
    expect(r.transitions.map((x) => `${x.from}→${x.to}`)).toEqual(['LIVE→WARNING', 'WARNING→CRITICAL']);
    expect(r.exitsRequested.map((x) => x.reason)).toEqual(['TIMEOUT']);
    const types = (await h.store.listEvents(t.tradeId)).map((e) => e.type).slice(-3);
    expect(types).toEqual(['TIMEOUT_WARNING', 'TIMEOUT_CRITICAL', 'EXIT_REQUESTED']);
  });

  it('with enableAutomaticTimeout off, CRITICAL does not close the position', async () => {
    const h = new Harness(emu, { overrides: { lifecycle: { enableAutomaticTimeout: false } } });
    await h.openLive();
    h.clock.advance(241 * MIN);
    const r = await worker(h).tick(h.clock.now());
    expect(r.transitions.map((x) => x.to)).toEqual(['WARNING', 'CRITICAL']);
    expect(h.liveWait.calls).toEqual([]);
  });
});

describe('lifecycle watch: health', () => {
  it('health CRITICAL (price near the stop, volume dried up, ATR above the room) ends the LIVE wait', async () => {
    const h = new Harness(emu);
    const t = await h.openLive(); // long 50000, stop 48975
    h.clock.advance(30 * MIN);
    feedCandles(h);
    h.paper.setPrice(BTC, '49100');
    const r = await worker(h).tick(h.clock.now());
    expect(r.health).toHaveLength(1);
    const entry = r.health[0]!;
    expect(entry.level).toBe('CRITICAL');
    expect(entry.components.volume).toBeCloseTo(1, 10); // 5 against an average of 500 per 5 candles
    expect(entry.components.volatility).toBe(0); // ATR 900 ≥ 2 × room 125
    expect(entry.components.timeAtRisk).toBeCloseTo(87.5, 10);
    expect(entry.score).toBeLessThan(30);
    expect(h.liveWait.calls.map((c) => [c.tradeId, c.exit.reason])).toEqual([[t.tradeId, 'HEALTH_CRITICAL']]);
    expect(h.metrics.get(METRIC.HealthCritical)).toBe(1);
  });

  it('health WARNING raises the alert metric and closes nothing', async () => {
    const h = new Harness(emu);
    await h.openLive();
    h.clock.advance(30 * MIN);
    h.paper.setPrice(BTC, '49100'); // no candles: volume and volatility unknown (100)
    const r = await worker(h).tick(h.clock.now());
    expect(r.health.map((x) => x.level)).toEqual(['WARNING']);
    // (20·87.5 + 30·12.1951 + 20·100 + 15·100 + 15·6.0976) / 100: drawdown 1 − 900/1025, profit (1 − 900/1025)/2
    expect(r.health[0]!.score).toBeCloseTo(57.0731707317, 8);
    expect(h.metrics.get(METRIC.HealthWarnings)).toBe(1);
    expect(h.liveWait.calls).toEqual([]);
  });
});

describe('lifecycle watch: protection', () => {
  it('an open position without a live stop is counted and re-protected at once at the stored stop', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    h.paper.cancelOrderExternally(t.stopOrderId);
    h.clock.advance(MIN);
    const w = worker(h);
    const r = await w.tick(h.clock.now());
    expect(r.unprotected).toMatchObject([{ tradeId: t.tradeId, action: 'protected', qty: '0.01' }]);
    expect(h.metrics.get(METRIC.UnprotectedPositions)).toBe(1);
    const stops = await h.exchangeStops(BTC);
    expect(stops.map((o) => [o.triggerPrice?.toFixed(), o.qty.toFixed()])).toEqual([['48975', '0.01']]);
    const stored = await h.stored(t.tradeId);
    expect([stored.orderId, stored.data.stopSeq]).toEqual([stops[0]!.id, 1]);
    expect((await h.store.listEvents(t.tradeId)).at(-1)?.type).toBe('STOP_REPLACED');
    expect((await w.tick(h.clock.now() + MIN)).unprotected).toEqual([]);
    expect(h.metrics.get(METRIC.UnprotectedPositions)).toBe(1);
  });

  it('a stop that filled on the exchange ends the LIVE wait with STOP_HIT', async () => {
    const h = new Harness(emu);
    const t = await h.openLive();
    h.move(BTC, '48900', MIN); // through the stop at 48975: the paper exchange fills it
    expect(await h.paper.fetchPositions([BTC])).toEqual([]);
    const r = await worker(h).tick(h.clock.now());
    expect(r.positionsMissing).toEqual([t.tradeId]);
    expect(h.liveWait.calls.map((c) => [c.tradeId, c.exit.reason])).toEqual([[t.tradeId, 'STOP_HIT']]);
    expect(r.unprotected).toEqual([]);
  });
});
