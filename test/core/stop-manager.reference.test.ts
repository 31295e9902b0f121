/**
 * Differential test: the optimized `adjustStop` (fast no-op path, precomputed trail factor, quiet band)
 * against a plain, shortcut-free statement of the same rules, over random price paths and options.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Decimal, HUNDRED, ONE, roundToStep } from '../../functions/core/decimal.js';
import {
  adjustStop,
  breakEvenStop,
  roundStop,
  type PositionState,
} from '../../functions/core/stop-manager.js';
import { checkFailSafe } from '../../functions/core/fail-safe.js';
import { observation } from '../../functions/core/types.js';
import { d, open } from './helpers.js';

interface Ref {
  stop: Decimal;
  best: Decimal;
  remaining: Decimal;
  nextLevel: number;
  nextLock: number;
  be: Decimal | null;
  active: boolean;
}

/** The rules exactly as docs/domain/stop-management.md states them, evaluated from scratch every step. */
function referenceStep(
  p0: PositionState,
  r: Ref,
  price: Decimal,
  at: number,
): { r: Ref; moved: Decimal | null; exit: boolean } {
  const long = p0.side === 'long';
  const tighter = (a: Decimal, b: Decimal) => (long ? a.gt(b) : a.lt(b));
  if (r.remaining.isZero() || !tighter(price, r.stop)) return { r, moved: null, exit: false };
  const n = { ...r };
  if (tighter(price, n.best)) n.best = price;
  while (n.nextLevel < p0.levels.length && !tighter(p0.levels[n.nextLevel]!.price, price)) {
    const level = p0.levels[n.nextLevel]!;
    const last = n.nextLevel === p0.levels.length - 1;
    const share = roundToStep(p0.initialQty.mul(level.fraction), p0.rules.lotStep, 'down');
    const qty = last ? n.remaining : share.lt(n.remaining) ? share : n.remaining;
    if (last || qty.gte(n.remaining)) return { r: { ...n, remaining: d(0) }, moved: null, exit: true };
    const first = n.be === null;
    n.nextLevel++;
    if (qty.gt(0)) {
      n.remaining = n.remaining.minus(qty);
      if (first && p0.rules.breakEvenAfterFirstPartial) n.be = breakEvenStop(p0);
    }
  }
  let cand: Decimal | null = n.be !== null && tighter(n.be, n.stop) ? n.be : null;
  while (n.nextLock < p0.locks.length && !tighter(p0.locks[n.nextLock]!.trigger, n.best)) {
    const s = p0.locks[n.nextLock]!.stop;
    if (tighter(s, cand ?? n.stop)) cand = s;
    n.nextLock++;
  }
  const t = p0.rules.trailing;
  if (
    t.enabled &&
    at - p0.entryFilledAt >= p0.rules.minHoldingMs &&
    !tighter(p0.trailActivationPrice, n.best)
  )
    n.active = true;
  if (n.active) {
    const factor = ONE.minus(t.trailPct.mul(long ? 1 : -1).div(HUNDRED));
    const trail = roundStop(p0.side, n.best.mul(factor), p0.rules.tickSize);
    const base = cand ?? n.stop;
    if (tighter(trail, base) && !trail.minus(base).abs().lt(p0.minStep)) cand = trail;
  }
  if (cand === null) return { r: n, moved: null, exit: false };
  if (!tighter(price, cand)) return { r: { ...n, remaining: d(0) }, moved: null, exit: true };
  const fs = checkFailSafe(
    {
      side: p0.side,
      entryPrice: p0.entryPrice,
      qty: n.remaining,
      feeRate: p0.rules.feeRate,
      maxLoss: p0.maxLoss,
      fraction: p0.rules.failSafeFraction,
      stopSlippage: p0.rules.stopSlippage,
    },
    cand,
  );
  if (!fs.ok) return { r: n, moved: null, exit: false };
  return { r: { ...n, stop: cand }, moved: cand, exit: false };
}

describe('adjustStop matches the plain statement of the rules', () => {
  it('property: same stop, same remaining quantity, same moves and exits on every step', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'long' | 'short'>('long', 'short'),
        fc.constantFrom('0.05', '0.1', '0.3'),
        fc.constantFrom('0', '0.02', '0.1'),
        fc.constantFrom(0, 60),
        fc.array(fc.integer({ min: -40, max: 40 }), { minLength: 1, maxLength: 120 }),
        fc.boolean(),
        (side, trailPct, minStopStepPct, minHoldingSeconds, moves, withNumber) => {
          const overrides = { exits: { trailing: { trailPct }, minStopStepPct, minHoldingSeconds } };
          let p = open({ side, rr: '3', overrides }).position;
          let r: Ref = {
            stop: p.stop,
            best: p.bestPrice,
            remaining: p.remainingQty,
            nextLevel: 0,
            nextLock: 0,
            be: null,
            active: false,
          };
          let price = d(27000);
          let t = 0;
          for (const m of moves) {
            // Steps of 0.1 (one tick) to 100 keep prices landing exactly on stops, levels and best prices.
            price = price.plus(d(m).mul(m % 3 === 0 ? '0.1' : '2.5'));
            t += 10_000;
            // With the number form the pre-filter runs; without it every step takes the Decimal path.
            const fast = adjustStop(p, withNumber ? observation(price, t) : { price, at: t });
            const ref = referenceStep(p, r, price, t);
            p = fast.position;
            r = ref.r;
            expect(p.stop.toFixed()).toBe(r.stop.toFixed());
            expect(p.remainingQty.toFixed()).toBe(r.remaining.toFixed());
            const move = fast.actions.find((a) => a.type === 'MOVE_STOP');
            expect(move && move.type === 'MOVE_STOP' ? move.to.toFixed() : null).toBe(
              ref.moved?.toFixed() ?? null,
            );
            expect(fast.actions.some((a) => a.type === 'EXIT')).toBe(ref.exit);
            if (p.remainingQty.isZero()) break;
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
