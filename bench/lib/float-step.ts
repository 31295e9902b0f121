/**
 * The stop-management step and the milestone check re-written on plain JS numbers: the baseline the core
 * benchmark compares the Decimal implementation against. It follows functions/core/stop-manager.ts
 * (`adjustStop`: its fast path, its slow step on a private draft, its trailing shortcuts) and
 * functions/core/milestones.ts (`observeMilestones`) rule for rule and keeps their state handling (a new
 * object per change, the same object when nothing changes), so the measured difference is the arithmetic,
 * not the design. When the stop manager's structure changes, this file must follow; the benchmark test
 * checks that both make the same decisions. Tick and lot rounding use a 1e-9 relative tolerance, as
 * float code must (27000.1 / 0.1 is 270001.00000000006).
 *
 * Benchmark code only: never use it for decisions.
 */
import type { PositionState, StopMoveReason } from '../../functions/core/stop-manager.js';
import type { MilestoneTracker, MilestonePhase } from '../../functions/core/milestones.js';
import type { Side } from '../../functions/core/types.js';

/** Stop rules on numbers (see `StopRules`). */
export interface FloatRules {
  feeRate: number;
  failSafeFraction: number;
  stopSlippage: number;
  tickSize: number;
  lotStep: number;
  breakEvenAfterFirstPartial: boolean;
  trailing: { enabled: boolean };
  minHoldingMs: number;
}

/** A position on numbers (see `PositionState`). */
export interface FloatPosition {
  readonly side: Side;
  readonly entryPrice: number;
  readonly entryFilledAt: number;
  readonly initialQty: number;
  readonly remainingQty: number;
  readonly stop: number;
  readonly initialStop: number;
  readonly stopReason: StopMoveReason;
  readonly levels: readonly { price: number; fraction: number }[];
  readonly nextLevel: number;
  readonly bestPrice: number;
  readonly maxLoss: number;
  readonly trailArmed: boolean;
  readonly trailActivationPrice: number;
  readonly trailFactor: number;
  readonly trailQuietUntil: number;
  readonly trailTighterFrom: number;
  readonly locks: readonly { trigger: number; stop: number }[];
  readonly nextLock: number;
  readonly breakEvenStop: number | null;
  readonly minStep: number;
  readonly rules: FloatRules;
  readonly counters: {
    readonly stopMoves: number;
    readonly failSafeRejections: number;
    readonly skippedMinStep: number;
  };
}

/** Actions of the float step (same kinds as `StopAction`, fewer fields). */
export type FloatAction =
  | { type: 'MOVE_STOP'; from: number; to: number; qty: number; reason: StopMoveReason }
  | { type: 'PARTIAL_EXIT'; level: number; price: number; qty: number; remainingQty: number }
  | { type: 'EXIT'; reason: 'TAKE_PROFIT' | 'STOP_WOULD_TRIGGER'; qty: number; price: number }
  | { type: 'STOP_REJECTED'; stop: number; loss: number; limit: number };

const EPS = 1e-9;
const NO_ACTIONS: FloatAction[] = [];

function roundToStep(value: number, step: number, direction: 'up' | 'down'): number {
  if (step === 0) return value;
  const units = value / step;
  const whole = direction === 'up' ? Math.ceil(units - EPS) : Math.floor(units + EPS);
  return whole * step;
}

function tighter(side: Side, a: number, b: number): boolean {
  return side === 'long' ? a > b : a < b;
}

function roundStop(side: Side, price: number, tick: number): number {
  return roundToStep(price, tick, side === 'long' ? 'up' : 'down');
}

/** Converts a Decimal position (after `openPosition`) to the float representation, field by field. */
export function toFloatPosition(p: PositionState): FloatPosition {
  const r = p.rules;
  return {
    side: p.side,
    entryPrice: p.entryPrice.toNumber(),
    entryFilledAt: p.entryFilledAt,
    initialQty: p.initialQty.toNumber(),
    remainingQty: p.remainingQty.toNumber(),
    stop: p.stop.toNumber(),
    initialStop: p.initialStop.toNumber(),
    stopReason: p.stopReason,
    levels: p.levels.map((l) => ({ price: l.price.toNumber(), fraction: l.fraction.toNumber() })),
    nextLevel: p.nextLevel,
    bestPrice: p.bestPrice.toNumber(),
    maxLoss: p.maxLoss.toNumber(),
    trailArmed: p.trailArmed,
    trailActivationPrice: p.trailActivationPrice.toNumber(),
    trailFactor: p.trailFactor.toNumber(),
    trailQuietUntil: p.trailQuietUntil.toNumber(),
    trailTighterFrom: p.trailTighterFrom.toNumber(),
    locks: p.locks.map((l) => ({ trigger: l.trigger.toNumber(), stop: l.stop.toNumber() })),
    nextLock: p.nextLock,
    breakEvenStop: p.breakEvenStop === null ? null : p.breakEvenStop.toNumber(),
    minStep: p.minStep.toNumber(),
    rules: {
      feeRate: r.feeRate.toNumber(),
      failSafeFraction: r.failSafeFraction.toNumber(),
      stopSlippage: r.stopSlippage.toNumber(),
      tickSize: r.tickSize.toNumber(),
      lotStep: r.lotStep.toNumber(),
      breakEvenAfterFirstPartial: r.breakEvenAfterFirstPartial,
      trailing: { enabled: r.trailing.enabled },
      minHoldingMs: r.minHoldingMs,
    },
    counters: { ...p.counters },
  };
}

function breakEvenStop(p: FloatPosition): number {
  const f = p.rules.feeRate;
  const raw = p.side === 'long' ? (p.entryPrice * (1 + f)) / (1 - f) : (p.entryPrice * (1 - f)) / (1 + f);
  return roundStop(p.side, raw, p.rules.tickSize);
}

function lossIfStopped(p: FloatPosition, stop: number): number {
  const sign = p.side === 'long' ? 1 : -1;
  const fill = stop * (1 - p.rules.stopSlippage * sign);
  const distance = (p.entryPrice - fill) * sign;
  return p.remainingQty * (distance + p.rules.feeRate * (p.entryPrice + fill));
}

type Draft = { -readonly [K in keyof FloatPosition]: FloatPosition[K] };

/** `adjustStop` on numbers: the same rules, fast path and shortcuts (see functions/core/stop-manager.ts). */
export function adjustStopFloat(
  pos: FloatPosition,
  price: number,
  at: number,
): { position: FloatPosition; actions: FloatAction[] } {
  if (pos.remainingQty === 0) return { position: pos, actions: NO_ACTIONS };
  const { side } = pos;
  const long = side === 'long';
  if (long ? !(price > pos.stop) : !(price < pos.stop)) return { position: pos, actions: NO_ACTIONS };
  const better = long ? price > pos.bestPrice : price < pos.bestPrice;
  const level = pos.levels[pos.nextLevel];
  const levelHit = level !== undefined && (long ? price >= level.price : price <= level.price);
  const best = better ? price : pos.bestPrice;
  const armNow =
    !pos.trailArmed &&
    pos.rules.trailing.enabled &&
    at - pos.entryFilledAt >= pos.rules.minHoldingMs &&
    !tighter(side, pos.trailActivationPrice, best);
  if (!better && !levelHit && !armNow) return { position: pos, actions: NO_ACTIONS };
  return slowStep({ ...pos, bestPrice: best, trailArmed: pos.trailArmed || armNow }, price, better || armNow);
}

function slowStep(
  p: Draft,
  price: number,
  trailMayMove: boolean,
): { position: FloatPosition; actions: FloatAction[] } {
  const { side } = p;
  const actions: FloatAction[] = [];

  while (p.nextLevel < p.levels.length && !tighter(side, p.levels[p.nextLevel]!.price, price)) {
    const level = p.levels[p.nextLevel]!;
    const last = p.nextLevel === p.levels.length - 1;
    const share = roundToStep(p.initialQty * level.fraction, p.rules.lotStep, 'down');
    const qty = last ? p.remainingQty : Math.min(share, p.remainingQty);
    if (last || qty >= p.remainingQty) {
      actions.push({ type: 'EXIT', reason: 'TAKE_PROFIT', qty: p.remainingQty, price: level.price });
      p.remainingQty = 0;
      p.nextLevel = p.levels.length;
      return { position: p, actions };
    }
    const firstPartial = p.breakEvenStop === null;
    p.nextLevel += 1;
    if (qty > 0) {
      p.remainingQty = p.remainingQty - qty;
      actions.push({
        type: 'PARTIAL_EXIT',
        level: p.nextLevel - 1,
        price: level.price,
        qty,
        remainingQty: p.remainingQty,
      });
      if (firstPartial && p.rules.breakEvenAfterFirstPartial) p.breakEvenStop = breakEvenStop(p);
    }
  }

  let candidate: number | null = null;
  let reason: StopMoveReason = 'TRAILING';
  if (p.breakEvenStop !== null && tighter(side, p.breakEvenStop, p.stop)) {
    candidate = p.breakEvenStop;
    reason = 'BREAK_EVEN';
  }
  while (p.nextLock < p.locks.length && !tighter(side, p.locks[p.nextLock]!.trigger, p.bestPrice)) {
    const lockStop = p.locks[p.nextLock]!.stop;
    if (tighter(side, lockStop, candidate ?? p.stop)) {
      candidate = lockStop;
      reason = 'PROFIT_LOCK';
    }
    p.nextLock += 1;
  }
  const quiet = candidate === null && !tighter(side, p.bestPrice, p.trailQuietUntil);
  if (p.trailArmed && trailMayMove && quiet && tighter(side, p.bestPrice, p.trailTighterFrom)) {
    p.counters = { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 };
  } else if (p.trailArmed && trailMayMove && !quiet) {
    const trail = roundStop(side, p.bestPrice * p.trailFactor, p.rules.tickSize);
    const base = candidate ?? p.stop;
    if (tighter(side, trail, base)) {
      if (Math.abs(trail - base) < p.minStep) {
        p.counters = { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 };
      } else {
        candidate = trail;
        reason = 'TRAILING';
      }
    }
  }
  if (candidate === null) return { position: p, actions };

  if (!tighter(side, price, candidate)) {
    actions.push({ type: 'EXIT', reason: 'STOP_WOULD_TRIGGER', qty: p.remainingQty, price });
    p.remainingQty = 0;
    return { position: p, actions };
  }
  const loss = lossIfStopped(p, candidate);
  const limit = p.maxLoss * p.rules.failSafeFraction;
  if (!(loss <= limit)) {
    actions.push({ type: 'STOP_REJECTED', stop: candidate, loss, limit });
    p.counters = { ...p.counters, failSafeRejections: p.counters.failSafeRejections + 1 };
    return { position: p, actions };
  }
  actions.push({ type: 'MOVE_STOP', from: p.stop, to: candidate, qty: p.remainingQty, reason });
  const moved = withStop(p, candidate, reason);
  return {
    position: { ...moved, counters: { ...p.counters, stopMoves: p.counters.stopMoves + 1 } },
    actions,
  };
}

/** Sets the stop and recomputes the trailing quiet band (see `withStop` in the stop manager). */
function withStop(p: FloatPosition, stop: number, reason: StopMoveReason): FloatPosition {
  const tick = p.rules.tickSize;
  const long = p.side === 'long';
  const edge = long ? stop + p.minStep - tick : stop - p.minStep + tick;
  const trailQuietUntil = tick === 0 ? stop : edge / p.trailFactor - (long ? tick : -tick);
  return { ...p, stop, stopReason: reason, trailQuietUntil, trailTighterFrom: stop / p.trailFactor };
}

/** A milestone tracker on numbers (see `MilestoneTracker`). */
export interface FloatTracker {
  readonly side: Side;
  readonly entryAt: number;
  readonly thresholds: readonly number[];
  readonly bounds: readonly number[];
  readonly seconds: readonly (number | null)[];
  readonly phases: readonly (MilestonePhase | null)[];
  readonly next: number;
}

/** Converts a Decimal milestone tracker to numbers (bounds as the nearest doubles). */
export function toFloatTracker(t: MilestoneTracker): FloatTracker {
  return {
    side: t.side,
    entryAt: t.entryAt,
    thresholds: [...t.thresholds],
    bounds: t.bounds.map((b) => b.toNumber()),
    seconds: [...t.seconds],
    phases: [...t.phases],
    next: t.next,
  };
}

const NO_HITS: { threshold: number; seconds: number }[] = [];

/** `observeMilestones` on numbers. */
export function observeMilestonesFloat(
  tracker: FloatTracker,
  price: number,
  at: number,
  phase: MilestonePhase,
): { tracker: FloatTracker; hits: { threshold: number; seconds: number }[] } {
  const { next, bounds, side } = tracker;
  const reached = (bound: number) => (side === 'long' ? price >= bound : price <= bound);
  if (next >= bounds.length || !reached(bounds[next]!)) return { tracker, hits: NO_HITS };
  const seconds = [...tracker.seconds];
  const phases = [...tracker.phases];
  const hits: { threshold: number; seconds: number }[] = [];
  const elapsed = Math.max(0, Math.floor((at - tracker.entryAt) / 1000));
  let i = next;
  while (i < bounds.length && reached(bounds[i]!)) {
    seconds[i] = elapsed;
    phases[i] = phase;
    hits.push({ threshold: tracker.thresholds[i]!, seconds: elapsed });
    i++;
  }
  return { tracker: { ...tracker, seconds, phases, next: i }, hits };
}
