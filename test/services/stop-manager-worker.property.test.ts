import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import { StopManagerWorker } from '../../functions/services/stop-manager-worker.js';
import { startEmulators, type Emulators } from '../support/emulators.js';
import { BTC, Harness } from './worker-fixtures.js';

let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

describe('stop-manager worker: property', () => {
  it('over random price paths the exchange stop equals the stored stop, never loosens, and the position always has one', async () => {
    let moved = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        // Steps in basis points of the previous price, one tick every 10–60 s.
        fc.array(
          fc.record({ bps: fc.integer({ min: -60, max: 90 }), secs: fc.integer({ min: 10, max: 60 }) }),
          {
            minLength: 1,
            maxLength: 14,
          },
        ),
        async (side, path) => {
          const h = new Harness(emu);
          const t = await h.openLive({ side, stopPct: '1' });
          const w = new StopManagerWorker({
            store: h.store,
            clock: h.clock,
            config: h.configSource,
            accounts: [h.account],
            liveWait: h.liveWait,
          });
          const sign = side === 'long' ? 1 : -1;
          let price = new D('50000');
          let lastStop = t.position.stop;
          for (const step of path) {
            price = price.mul(new D(10_000 + sign * step.bps).div(10_000)).toDecimalPlaces(1);
            h.move(BTC, price, step.secs * 1000);
            const positions = await h.paper.fetchPositions([BTC]);
            if (positions.length === 0) break; // the exchange stop filled: the position is gone
            await w.tick(h.clock.now());
            const stored = await h.stored(t.tradeId);
            const stops = await h.exchangeStops(BTC);
            const open = (await h.paper.fetchPositions([BTC]))[0];
            expect(open?.qty.gt(0)).toBe(true);
            // exactly one live stop, the stored one, at the stored price and the stored remaining quantity
            expect(stops.map((o) => [o.id, o.triggerPrice?.toFixed()])).toEqual([
              [stored.orderId, stored.stop],
            ]);
            expect(stops[0]!.qty.toFixed()).toBe(open!.qty.toFixed());
            // the stop only ratchets in the trade's favour
            const now = new D(stored.stop);
            expect(side === 'long' ? now.gte(lastStop) : now.lte(lastStop)).toBe(true);
            if (!now.eq(lastStop)) moved++;
            lastStop = now;
            if (stored.data.exitRequested) break; // the workflow exits from here
          }
        },
      ),
      { numRuns: 25 },
    );
    expect(moved).toBeGreaterThan(0); // the paths did exercise stop moves
  });
});
