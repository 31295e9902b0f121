import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMilestoneTracker } from '../../functions/core/milestones.js';
import { D } from '../../functions/core/decimal.js';
import { encodeTracker } from '../../functions/core/trade-codec.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import { MilestoneWorker } from '../../functions/services/milestone-worker.js';
import { METRIC } from '../../functions/services/worker-support.js';
import { startEmulators, type Emulators } from '../support/emulators.js';
import { BTC, ETH, Harness } from './worker-fixtures.js';

let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

function worker(h: Harness): MilestoneWorker {
  return new MilestoneWorker({ store: h.store, clock: h.clock, accounts: [h.account], metrics: h.metrics });
}

describe('milestone worker', () => {
  it('records each live milestone once across repeated ticks, and only new ones after the phase change', async () => {
    const h = new Harness(emu);
    const t = await h.openLive({ leverage: 10 }); // 10 % on margin = +1 % price = 50500
    const w = worker(h);
    h.move(BTC, '50550', 30_000);
    const r1 = await w.tick(h.clock.now());
    expect(r1.hits).toEqual([
      { tradeId: t.tradeId, threshold: 10, phase: 'live', seconds: 30, recorded: true },
    ]);
    h.move(BTC, '50560', 5_000);
    const r2 = await w.tick(h.clock.now());
    expect(r2.hits).toEqual([]);
    h.move(BTC, '50800', 10_000); // +1.6 % → 16 %: the 15 % milestone at 45 s
    expect((await w.tick(h.clock.now())).hits.map((x) => [x.threshold, x.seconds])).toEqual([[15, 45]]);

    // Exit, then the shadow window (30 min).
    let trade = (await h.store.getTrade(t.tradeId))!;
    for (const [to, type] of [
      ['CLOSING', 'EXIT_SENT'],
      ['CLOSED', 'EXIT_FILLED'],
      ['POST_TRADE_MONITOR', 'POST_TRADE_STARTED'],
    ] as const) {
      trade = (
        await h.store.transition(t.tradeId, {
          expectedVersion: trade.version,
          to,
          type,
          at: h.clock.now(),
          commandId: type,
          patch: to === 'POST_TRADE_MONITOR' ? { shadowEndsAt: h.clock.now() + 1_800_000 } : {},
        })
      ).trade;
    }
    h.move(BTC, '51050', 15_000); // +2.1 % → 21 %: only 20 is new (10 and 15 are never reached again)
    const r4 = await w.tick(h.clock.now());
    expect(r4.hits).toEqual([
      { tradeId: t.tradeId, threshold: 20, phase: 'shadow', seconds: 60, recorded: true },
    ]);
    expect((await w.tick(h.clock.now())).hits).toEqual([]);

    trade = (await h.store.getTrade(t.tradeId))!;
    expect(trade.milestones).toEqual({ '10': 30, '15': 45 });
    expect(trade.shadowMilestones).toEqual({ '20': 60 });
    const events = (await h.store.listEvents(t.tradeId)).map((e) => e.type);
    expect(events.filter((e) => e === 'LIVE_MILESTONE_REACHED')).toHaveLength(2);
    expect(events.filter((e) => e === 'SHADOW_MILESTONE_REACHED')).toHaveLength(1);
    expect((trade.data.tracker as { seconds: (number | null)[] }).seconds).toEqual([30, 45, 60, null, null]);
    expect(h.metrics.get(METRIC.MilestonesReached)).toBe(3);

    // After the window: reported as due, not observed.
    h.move(BTC, '52000', 1_800_000);
    const due = await w.tick(h.clock.now());
    expect(due.due).toEqual([
      {
        tradeId: t.tradeId,
        accountId: h.accountId,
        status: 'POST_TRADE_MONITOR',
        shadowEndsAt: trade.data.shadowEndsAt,
      },
    ]);
    expect(due.hits).toEqual([]);
  });

  it('one tick reaching several thresholds records them all, lowest first, each with its own event', async () => {
    const h = new Harness(emu);
    const t = await h.openLive({ leverage: 10 });
    h.move(BTC, '51300', 20_000); // +2.6 % → 26 %: 10, 15, 20, 25
    const r = await worker(h).tick(h.clock.now());
    expect(r.hits.map((x) => x.threshold)).toEqual([10, 15, 20, 25]);
    const trade = (await h.store.getTrade(t.tradeId))!;
    expect(trade.milestones).toEqual({ '10': 20, '15': 20, '20': 20, '25': 20 });
    const events = (await h.store.listEvents(t.tradeId)).filter((e) => e.type === 'LIVE_MILESTONE_REACHED');
    expect(events.map((e) => (e.data.lastMilestone as { threshold: number }).threshold)).toEqual([
      10, 15, 20, 25,
    ]);
  });

  it('a SKIPPED signal is shadow-monitored from the signal price, and a stored milestone is never overwritten', async () => {
    const h = new Harness(emu);
    const at = h.clock.now();
    const tradeId = `${h.accountId}-skipped`;
    const tracker = createMilestoneTracker({
      side: 'short',
      entryPrice: new D('3000'),
      entryAt: at,
      leverage: 5,
      thresholds: [10, 15, 20, 25, 30],
    });
    const created = await h.store.createTrade({ tradeId, accountId: h.accountId, symbol: ETH, data: {}, at });
    await h.store.transition(tradeId, {
      expectedVersion: created.trade.version,
      to: 'SKIPPED',
      type: 'SKIPPED',
      at,
      commandId: 'skip',
      patch: { tracker: encodeTracker(tracker) as unknown as JsonMap, shadowEndsAt: at + 1_800_000 },
    });
    // Another writer already stored the 10 % milestone at 5 s: it stays.
    await h.store.recordMilestone(tradeId, 'shadow', 10, 5);
    h.move(ETH, '2934', 90_000); // short, −2.2 % × 5 = 11 %
    const r = await worker(h).tick(h.clock.now());
    expect(r.hits).toEqual([{ tradeId, threshold: 10, phase: 'shadow', seconds: 5, recorded: false }]);
    expect((await h.store.getTrade(tradeId))!.shadowMilestones).toEqual({ '10': 5 });
    expect(h.metrics.get(METRIC.MilestonesReached)).toBe(0);
  });
});
