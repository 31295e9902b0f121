/**
 * The stored form of a trade's live state: {@link PositionState} and {@link MilestoneTracker} as JSON-safe
 * objects (every Decimal a decimal string), for the trade record's `data` map. Rules are not stored: they
 * are resolved again from the account's options and the market when a position is decoded, so a config
 * reload applies to open positions. Number copies used only for speed are recomputed on decode.
 */
import { D, type Decimal } from './decimal.js';
import type { MilestonePhase, MilestoneTracker } from './milestones.js';
import { refreshFilter, type PositionState, type StopMoveReason, type StopRules } from './stop-manager.js';
import type { Side } from './types.js';

export interface EncodedPosition {
  side: Side;
  entryPrice: string;
  entryFilledAt: number;
  initialQty: string;
  remainingQty: string;
  stop: string;
  initialStop: string;
  stopReason: StopMoveReason;
  levels: { price: string; fraction: string }[];
  nextLevel: number;
  bestPrice: string;
  maxLoss: string;
  trailArmed: boolean;
  trailActivationPrice: string;
  trailFactor: string;
  trailFactorInverse: string;
  trailQuietUntil: string;
  trailTighterFrom: string;
  locks: { trigger: string; stop: string }[];
  nextLock: number;
  breakEvenStop: string | null;
  minStep: string;
  counters: { stopMoves: number; failSafeRejections: number; skippedMinStep: number };
}

export interface EncodedTracker {
  side: Side;
  entryPrice: string;
  entryAt: number;
  leverage: number;
  thresholds: number[];
  bounds: string[];
  seconds: (number | null)[];
  phases: (MilestonePhase | null)[];
  next: number;
}

const s = (d: Decimal) => d.toFixed();

export function encodePosition(p: PositionState): EncodedPosition {
  return {
    side: p.side,
    entryPrice: s(p.entryPrice),
    entryFilledAt: p.entryFilledAt,
    initialQty: s(p.initialQty),
    remainingQty: s(p.remainingQty),
    stop: s(p.stop),
    initialStop: s(p.initialStop),
    stopReason: p.stopReason,
    levels: p.levels.map((l) => ({ price: s(l.price), fraction: s(l.fraction) })),
    nextLevel: p.nextLevel,
    bestPrice: s(p.bestPrice),
    maxLoss: s(p.maxLoss),
    trailArmed: p.trailArmed,
    trailActivationPrice: s(p.trailActivationPrice),
    trailFactor: s(p.trailFactor),
    trailFactorInverse: s(p.trailFactorInverse),
    trailQuietUntil: s(p.trailQuietUntil),
    trailTighterFrom: s(p.trailTighterFrom),
    locks: p.locks.map((l) => ({ trigger: s(l.trigger), stop: s(l.stop) })),
    nextLock: p.nextLock,
    breakEvenStop: p.breakEvenStop === null ? null : s(p.breakEvenStop),
    minStep: s(p.minStep),
    counters: { ...p.counters },
  };
}

function num(text: unknown, what: string): Decimal {
  if (typeof text !== 'string' || text.trim() === '')
    throw new RangeError(`stored position: ${what} is not a decimal string`);
  const d = new D(text);
  if (!d.isFinite()) throw new RangeError(`stored position: ${what} is not finite`);
  return d;
}

/** Decodes a stored position with the rules now in force; throws a RangeError naming a corrupt field. */
export function decodePosition(e: EncodedPosition, rules: StopRules): PositionState {
  if (e.side !== 'long' && e.side !== 'short')
    throw new RangeError(`stored position: side is ${String(e.side)}`);
  return refreshFilter({
    side: e.side,
    entryPrice: num(e.entryPrice, 'entryPrice'),
    entryFilledAt: e.entryFilledAt,
    initialQty: num(e.initialQty, 'initialQty'),
    remainingQty: num(e.remainingQty, 'remainingQty'),
    stop: num(e.stop, 'stop'),
    initialStop: num(e.initialStop, 'initialStop'),
    stopReason: e.stopReason,
    levels: e.levels.map((l, i) => ({
      price: num(l.price, `levels.${i}.price`),
      fraction: num(l.fraction, `levels.${i}.fraction`),
    })),
    nextLevel: e.nextLevel,
    bestPrice: num(e.bestPrice, 'bestPrice'),
    maxLoss: num(e.maxLoss, 'maxLoss'),
    trailArmed: e.trailArmed,
    trailActivationPrice: num(e.trailActivationPrice, 'trailActivationPrice'),
    trailFactor: num(e.trailFactor, 'trailFactor'),
    trailFactorInverse: num(e.trailFactorInverse, 'trailFactorInverse'),
    trailQuietUntil: num(e.trailQuietUntil, 'trailQuietUntil'),
    trailTighterFrom: num(e.trailTighterFrom, 'trailTighterFrom'),
    locks: e.locks.map((l, i) => ({
      trigger: num(l.trigger, `locks.${i}.trigger`),
      stop: num(l.stop, `locks.${i}.stop`),
    })),
    nextLock: e.nextLock,
    breakEvenStop: e.breakEvenStop === null ? null : num(e.breakEvenStop, 'breakEvenStop'),
    minStep: num(e.minStep, 'minStep'),
    filter: { stop: 0, best: 0, level: 0, activation: 0 },
    rules,
    counters: { ...e.counters },
  });
}

export function encodeTracker(t: MilestoneTracker): EncodedTracker {
  return {
    side: t.side,
    entryPrice: s(t.entryPrice),
    entryAt: t.entryAt,
    leverage: t.leverage,
    thresholds: [...t.thresholds],
    bounds: t.bounds.map(s),
    seconds: [...t.seconds],
    phases: [...t.phases],
    next: t.next,
  };
}

export function decodeTracker(e: EncodedTracker): MilestoneTracker {
  if (e.bounds.length !== e.thresholds.length || e.seconds.length !== e.thresholds.length) {
    throw new RangeError('stored milestone tracker: thresholds, bounds and seconds differ in length');
  }
  return {
    side: e.side,
    entryPrice: num(e.entryPrice, 'tracker.entryPrice'),
    entryAt: e.entryAt,
    leverage: e.leverage,
    thresholds: [...e.thresholds],
    bounds: e.bounds.map((b, i) => num(b, `tracker.bounds.${i}`)),
    seconds: [...e.seconds],
    phases: [...e.phases],
    next: e.next,
  };
}
