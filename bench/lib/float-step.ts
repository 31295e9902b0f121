/**
 * The stop-management step and the milestone check re-written on plain JS numbers: the baseline the core
 * benchmark compares the Decimal implementation against. It follows functions/core/stop-manager.ts
 * (`adjustStop`) and functions/core/milestones.ts (`observeMilestones`) rule for rule and keeps their
 * immutable-state style (a new object per change, the same object when nothing changes), so the measured
 * difference is the arithmetic, not the design. Tick and lot rounding use a 1e-9 relative tolerance, as
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
  trailing: { enabled: boolean; activationPct: number; trailPct: number };
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
  readonly trailActive: boolean;
  readonly trailActivationPrice: number;
  readonly trailEvaluatedAt: number | null;
  readonly locks: readonly { trigger: number; stop: number }[];
  readonly nextLock: number;
  readonly breakEvenStop: number | null;
  readonly minStep: number;
  readonly rules: FloatRules;
  readonly counters: { readonly stopMoves: number; readonly failSafeRejections: number; readonly skippedMinStep: number };
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
    trailActive: p.trailActive,
    trailActivationPrice: p.trailActivationPrice.toNumber(),
    trailEvaluatedAt: p.trailEvaluatedAt === null ? null : p.trailEvaluatedAt.toNumber(),
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
      trailing: {
        enabled: r.trailing.enabled,
        activationPct: r.trailing.activationPct.toNumber(),
        trailPct: r.trailing.trailPct.toNumber(),
      },
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

/** `adjustStop` on numbers: the same rules in the same order (see functions/core/stop-manager.ts). */
export function adjustStopFloat(pos: FloatPosition, price: number, at: number): { position: FloatPosition; actions: FloatAction[] } {
  if (pos.remainingQty === 0) return { position: pos, actions: NO_ACTIONS };
  const side = pos.side;
  if (!tighter(side, price, pos.stop)) return { position: pos, actions: NO_ACTIONS };

  let p = pos;
  let actions = NO_ACTIONS;
  const push = (a: FloatAction) => {
    if (actions === NO_ACTIONS) actions = [];
    actions.push(a);
  };
  if (tighter(side, price, p.bestPrice)) p = { ...p, bestPrice: price };

  while (p.nextLevel < p.levels.length && !tighter(side, p.levels[p.nextLevel]!.price, price)) {
    const level = p.levels[p.nextLevel]!;
    const last = p.nextLevel === p.levels.length - 1;
    const share = roundToStep(p.initialQty * level.fraction, p.rules.lotStep, 'down');
    const qty = last ? p.remainingQty : Math.min(share, p.remainingQty);
    if (last || qty >= p.remainingQty) {
      push({ type: 'EXIT', reason: 'TAKE_PROFIT', qty: p.remainingQty, price: level.price });
      return { position: { ...p, remainingQty: 0, nextLevel: p.levels.length }, actions };
    }
    const firstPartial = p.breakEvenStop === null;
    p = { ...p, nextLevel: p.nextLevel + 1 };
    if (qty > 0) {
      const remainingQty = p.remainingQty - qty;
      push({ type: 'PARTIAL_EXIT', level: p.nextLevel - 1, price: level.price, qty, remainingQty });
      p = { ...p, remainingQty };
      if (firstPartial && p.rules.breakEvenAfterFirstPartial) p = { ...p, breakEvenStop: breakEvenStop(p) };
    }
  }

  let pick: number | null = null;
  let reason: StopMoveReason = 'TRAILING';
  const consider = (stop: number, why: StopMoveReason) => {
    if (tighter(side, stop, p.stop) && (pick === null || tighter(side, stop, pick))) {
      pick = stop;
      reason = why;
    }
  };
  if (p.breakEvenStop !== null) consider(p.breakEvenStop, 'BREAK_EVEN');
  while (p.nextLock < p.locks.length && !tighter(side, p.locks[p.nextLock]!.trigger, p.bestPrice)) {
    consider(p.locks[p.nextLock]!.stop, 'PROFIT_LOCK');
    p = { ...p, nextLock: p.nextLock + 1 };
  }
  const trailing = p.rules.trailing;
  if (trailing.enabled && at - p.entryFilledAt >= p.rules.minHoldingMs) {
    if (!p.trailActive && !tighter(side, p.trailActivationPrice, p.bestPrice)) p = { ...p, trailActive: true };
    if (p.trailActive && (p.trailEvaluatedAt === null || p.trailEvaluatedAt !== p.bestPrice)) {
      const factor = 1 - (trailing.trailPct * (side === 'long' ? 1 : -1)) / 100;
      const trail = roundStop(side, p.bestPrice * factor, p.rules.tickSize);
      p = { ...p, trailEvaluatedAt: p.bestPrice };
      const base: number = pick ?? p.stop;
      if (tighter(side, trail, base)) {
        if (Math.abs(trail - base) < p.minStep) {
          p = { ...p, counters: { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 } };
        } else consider(trail, 'TRAILING');
      }
    }
  }
  if (pick === null) return { position: p, actions };
  const to: number = pick;

  if (!tighter(side, price, to)) {
    push({ type: 'EXIT', reason: 'STOP_WOULD_TRIGGER', qty: p.remainingQty, price });
    return { position: { ...p, remainingQty: 0 }, actions };
  }
  const loss = lossIfStopped(p, to);
  const limit = p.maxLoss * p.rules.failSafeFraction;
  if (!(loss <= limit)) {
    push({ type: 'STOP_REJECTED', stop: to, loss, limit });
    return { position: { ...p, counters: { ...p.counters, failSafeRejections: p.counters.failSafeRejections + 1 } }, actions };
  }
  push({ type: 'MOVE_STOP', from: p.stop, to, qty: p.remainingQty, reason });
  return {
    position: { ...p, stop: to, stopReason: reason, counters: { ...p.counters, stopMoves: p.counters.stopMoves + 1 } },
    actions,
  };
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
