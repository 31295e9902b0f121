import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  adjustStop,
  breakEvenStop,
  openPosition,
  type PositionState,
  type StopAction,
} from '../../functions/core/stop-manager.js';
import { checkFailSafe } from '../../functions/core/fail-safe.js';
import { planInitialExits } from '../../functions/core/exits.js';
import { parseTradingOptions } from '../../functions/core/config.js';
import { BTC, d, open, rules } from './helpers.js';

const at = (s: number) => s * 1000;
const step = (p: PositionState, price: string, sec: number) =>
  adjustStop(p, { price: d(price), at: at(sec) });
const types = (a: StopAction[]) => a.map((x) => x.type);

/** Long 0.009 BTC at 27000, 1 % stop with 0.05 % buffer → 26716.5, target 27567, first partial 27283.5. */
const base = () => open({}).position;

describe('openPosition', () => {
  it('places the planned stop when it passes the fail-safe', () => {
    const r = open({});
    expect(r.actions).toEqual([
      { type: 'PLACE_STOP', price: d('26716.5'), qty: d('0.009'), reason: 'INITIAL' },
    ]);
    expect(r.position.levels.map((l) => l.price.toFixed())).toEqual(['27283.5', '27567']);
  });

  it('tightens a violating initial stop to the fail-safe limit and raises an alarm', () => {
    const r = open({ qty: '0.02' }); // 0.02 BTC at a 1.05 % stop risks ~6.3 > 2.85
    expect(types(r.actions)).toEqual(['ALARM', 'PLACE_STOP']);
    const place = r.actions[1] as Extract<StopAction, { type: 'PLACE_STOP' }>;
    expect(place.reason).toBe('FAILSAFE_TIGHTEN');
    // (0.02 × 27000 × 1.0005 − 2.85) / (0.02 × 0.9998 × 0.9995) = 537.42 / 0.019986002 = 26889.82… → up to 26889.9
    expect(place.price.toFixed()).toBe('26889.9');
    expect(r.position.stop.toFixed()).toBe('26889.9');
  });

  it('exits at market when even the fail-safe stop would trigger at the current price', () => {
    const r = open({ qty: '1' }); // 1 BTC with max loss 3: the limit stop sits above entry
    expect(types(r.actions)).toEqual(['ALARM', 'EXIT']);
    expect((r.actions[1] as Extract<StopAction, { type: 'EXIT' }>).reason).toBe('FAILSAFE_UNPROTECTABLE');
  });

  it('rejects impossible positions with a specific error', () => {
    expect(() => open({ qty: '0' })).toThrow('position quantity must be positive, got 0');
    expect(() => open({ maxLoss: '0' })).toThrow('max loss must be positive, got 0');
  });
});

describe('adjustStop: ratchet and trailing', () => {
  it('does nothing below the +0.5 % activation', () => {
    const r = step(base(), '27134.9', 120); // activation = 27000 × 1.005 = 27135
    expect(r.actions).toEqual([]);
    expect(r.position.stop.toFixed()).toBe('26716.5');
  });

  it('trails 0.1 % behind the best price once active, rounded up to the tick', () => {
    const r = step(base(), '27135', 120);
    // 27135 × 0.999 = 27107.865 → up to the tick: 27107.9
    expect(r.actions).toEqual([
      { type: 'MOVE_STOP', from: d('26716.5'), to: d('27107.9'), qty: d('0.009'), reason: 'TRAILING' },
    ]);
  });

  it('never loosens: a lower price leaves the stop where it is', () => {
    const p = step(base(), '27200', 120).position;
    const r = step(p, '27150', 130);
    expect(r.actions).toEqual([]);
    expect(r.position.stop.toFixed()).toBe('27172.8');
  });

  it('waits for the minimum holding time before trailing may tighten', () => {
    const early = step(base(), '27200', 59);
    expect(early.actions).toEqual([]);
    // Same best price, now old enough: the trail is evaluated from the best price seen.
    const later = step(early.position, '27190', 60);
    expect(later.position.stop.toFixed()).toBe('27172.8');
  });

  it('skips trailing moves smaller than the minimum step (0.02 % of entry = 5.4)', () => {
    const p = step(base(), '27200', 120).position; // stop 27172.8
    const r = step(p, '27205', 121); // candidate 27177.8, +5.0 < 5.4
    expect(r.actions).toEqual([]);
    expect(r.position.counters.skippedMinStep).toBe(1);
    const r2 = step(r.position, '27206', 122); // candidate 27178.8, +6.0 ≥ 5.4
    expect(r2.position.stop.toFixed()).toBe('27178.8');
  });

  it('mirrors for a short', () => {
    const p = open({ side: 'short' }).position; // stop 27283.5, activation 26865
    expect(p.stop.toFixed()).toBe('27283.5');
    const r = step(p, '26865', 120);
    // 26865 × 1.001 = 26891.865 → down to the tick: 26891.8
    expect(r.position.stop.toFixed()).toBe('26891.8');
    expect(step(r.position, '26900', 130).actions).toEqual([]);
  });

  it('reference vector (freqtrade tests/persistence/test_persistence.py::test_adjust_stop_loss): open 1, trail 10 %: 1.3 → 1.17, 1.2 keeps 1.17, 1.4 → 1.26', () => {
    const market = {
      ...BTC,
      tickSize: d('0.00000001'),
      lotStep: d('1'),
      minQty: d('1'),
      minNotional: d('0'),
    };
    const options = parseTradingOptions(
      {},
      {
        exits: {
          trailing: { trailPct: '10', activationPct: '0' },
          minHoldingSeconds: 0,
          minStopStepPct: '0',
          profitLocks: [],
          partialTakeProfit: { enabled: false },
          spreadBufferPct: '0',
        },
      },
    );
    const exits = planInitialExits({
      side: 'long',
      entryPrice: d(1),
      stop: { pct: d(5) },
      rr: d(100),
      market,
      options: options.exits,
    });
    let p = openPosition({
      side: 'long',
      entryPrice: d(1),
      qty: d(1),
      filledAt: 0,
      exits,
      maxLoss: d(10),
      rules: rules(
        {
          exits: {
            trailing: { trailPct: '10', activationPct: '0' },
            minHoldingSeconds: 0,
            minStopStepPct: '0',
            profitLocks: [],
          },
        },
        market,
      ),
    }).position;
    expect(p.stop.toFixed()).toBe('0.95');
    p = adjustStop(p, { price: d('0.96'), at: 1 }).position;
    expect(p.stop.toFixed()).toBe('0.95');
    p = adjustStop(p, { price: d('1.3'), at: 2 }).position;
    expect(p.stop.toFixed()).toBe('1.17');
    p = adjustStop(p, { price: d('1.2'), at: 3 }).position;
    expect(p.stop.toFixed()).toBe('1.17');
    p = adjustStop(p, { price: d('1.4'), at: 4 }).position;
    expect(p.stop.toFixed()).toBe('1.26');
  });
});

describe('adjustStop: partial take-profit, break-even, locks', () => {
  const noTrail = { exits: { trailing: { enabled: false } } };

  it('closes half at half the distance to target, then moves the stop to break-even incl. fees', () => {
    const p = open({ overrides: { exits: { trailing: { enabled: false }, profitLocks: [] } } }).position;
    const r = step(p, '27283.5', 120);
    expect(types(r.actions)).toEqual(['PARTIAL_EXIT', 'MOVE_STOP']);
    expect(r.actions[0]).toEqual({
      type: 'PARTIAL_EXIT',
      level: 0,
      price: d('27283.5'),
      qty: d('0.004'),
      remainingQty: d('0.005'),
    });
    // break-even = 27000 × 1.0005 / 0.9995 = 27027.01… → up to 27027.1
    expect(breakEvenStop(p).toFixed()).toBe('27027.1');
    expect(r.actions[1]).toEqual({
      type: 'MOVE_STOP',
      from: d('26716.5'),
      to: d('27027.1'),
      qty: d('0.005'),
      reason: 'BREAK_EVEN',
    });
  });

  it('closes the rest at the target', () => {
    const p = step(open({ overrides: noTrail }).position, '27283.5', 120).position;
    const r = step(p, '27600', 130);
    expect(r.actions).toEqual([{ type: 'EXIT', reason: 'TAKE_PROFIT', qty: d('0.005'), price: d('27567') }]);
    expect(r.position.remainingQty.isZero()).toBe(true);
  });

  it('with locks on, the highest mandatory stop wins: the +1 % lock (27081) beats break-even (27027.1)', () => {
    const r = step(open({ overrides: noTrail }).position, '27283.5', 120);
    const move = r.actions[1] as Extract<StopAction, { type: 'MOVE_STOP' }>;
    expect([move.to.toFixed(), move.reason]).toEqual(['27081', 'PROFIT_LOCK']);
  });

  it('a gap straight through both levels exits everything at once', () => {
    const r = step(open({ overrides: noTrail }).position, '27700', 120);
    expect(types(r.actions)).toEqual(['PARTIAL_EXIT', 'EXIT']);
    expect(r.position.remainingQty.isZero()).toBe(true);
  });

  it('profit locks: at +1 % the stop is at least +0.3 %, at +2 % at least +1 %', () => {
    const p = open({
      rr: '5',
      overrides: { exits: { trailing: { enabled: false }, partialTakeProfit: { enabled: false } } },
    }).position;
    const r1 = step(p, '27270', 120);
    expect(r1.actions).toEqual([
      { type: 'MOVE_STOP', from: d('26716.5'), to: d('27081'), qty: d('0.009'), reason: 'PROFIT_LOCK' },
    ]);
    const r2 = step(r1.position, '27540', 130);
    expect(r2.actions).toEqual([
      { type: 'MOVE_STOP', from: d('27081'), to: d('27270'), qty: d('0.009'), reason: 'PROFIT_LOCK' },
    ]);
  });

  it('a stop that would trigger immediately becomes an exit at market', () => {
    // Trailing computed from a best price the position has already fallen away from (minimum holding just passed).
    const p = step(base(), '27300', 30).position; // too young to trail; best = 27300, partial taken, BE set
    const r = step(p, '27250', 61); // trail = 27272.7 ≥ price 27250
    const exit = r.actions.at(-1) as Extract<StopAction, { type: 'EXIT' }>;
    expect([exit.type, exit.reason, exit.qty.toFixed(), exit.price.toFixed()]).toEqual([
      'EXIT',
      'STOP_WOULD_TRIGGER',
      '0.005',
      '27250',
    ]);
  });

  it('price at or through the stop changes nothing (the exchange stop fills)', () => {
    expect(step(base(), '26716.5', 120).actions).toEqual([]);
    expect(step(base(), '26000', 120).actions).toEqual([]);
  });
});

describe('adjustStop: fail-safe on every candidate', () => {
  it('rejects and counts a candidate that violates the fail-safe', () => {
    // An adopted position with a tiny max loss and a lock at entry: the lock stop still loses the fees
    // (0.009 × 0.0005 × (27000 + 26994.6) ≈ 0.243 plus slippage) > 0.95 × 0.01, so it is rejected.
    const p0 = open({
      overrides: {
        exits: {
          trailing: { enabled: false },
          partialTakeProfit: { enabled: false },
          profitLocks: [{ atPct: '1', lockPct: '0' }],
        },
      },
    }).position;
    const p: PositionState = { ...p0, maxLoss: d('0.01'), stop: d('26000') };
    const r = step(p, '27300', 120);
    const rejected = r.actions.find((a) => a.type === 'STOP_REJECTED');
    expect(rejected).toBeDefined();
    expect(rejected && rejected.type === 'STOP_REJECTED' && rejected.stop.toFixed()).toBe('27000');
    expect(r.position.counters.failSafeRejections).toBe(1);
    expect(r.position.stop.toFixed()).toBe('26000');
  });
});

describe('properties', () => {
  const prices = fc.array(fc.integer({ min: 25_000, max: 29_000 }), { minLength: 1, maxLength: 60 });

  it('the stop never loosens, and every stop sent passes the fail-safe', () => {
    fc.assert(
      fc.property(fc.constantFrom<'long' | 'short'>('long', 'short'), prices, (side, path) => {
        let p = open({ side }).position;
        let t = 0;
        for (const px of path) {
          t += 15;
          const before = p.stop;
          const r = adjustStop(p, { price: d(px), at: at(t) });
          p = r.position;
          if (side === 'long') expect(p.stop.gte(before)).toBe(true);
          else expect(p.stop.lte(before)).toBe(true);
          for (const a of r.actions) {
            if (a.type === 'MOVE_STOP') {
              const check = checkFailSafe(
                {
                  side,
                  entryPrice: p.entryPrice,
                  qty: a.qty,
                  feeRate: p.rules.feeRate,
                  maxLoss: p.maxLoss,
                  fraction: p.rules.failSafeFraction,
                  stopSlippage: p.rules.stopSlippage,
                },
                a.to,
              );
              expect(check.ok).toBe(true);
              // A stop is only ever sent on the protective side of the current price.
              expect(side === 'long' ? a.to.lt(px) : a.to.gt(px)).toBe(true);
            }
          }
          if (p.remainingQty.isZero()) break;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('exits never close more than the position', () => {
    fc.assert(
      fc.property(prices, (path) => {
        let p = open({}).position;
        let closed = d(0);
        let t = 0;
        for (const px of path) {
          t += 30;
          const r = adjustStop(p, { price: d(px), at: at(t) });
          for (const a of r.actions)
            if (a.type === 'PARTIAL_EXIT' || a.type === 'EXIT') closed = closed.plus(a.qty);
          p = r.position;
        }
        expect(closed.lte(p.initialQty)).toBe(true);
        expect(closed.plus(p.remainingQty).eq(p.initialQty)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
