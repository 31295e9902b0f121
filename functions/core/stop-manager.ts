/**
 * Stop management: the one place where a position's stop and take-profit exits are decided.
 *
 * {@link openPosition} turns an entry fill and its planned exits into a {@link PositionState}, checking the
 * initial stop against the fail-safe. {@link adjustStop} is the step run on every price observation (a tick,
 * or each point of a candle's path): trade state + price + time → new state + actions. Rules, for a long
 * (a short mirrors every comparison):
 *
 * 1. The stop only ratchets in the trade's favour: a candidate is used only if it is above the current stop.
 * 2. Take-profit levels: when price reaches a level, close its fraction of the initial quantity (rounded
 *    down to the lot step); the last level (the target) closes the rest.
 * 3. Break-even: after the first partial, the stop moves to entry × (1 + f) / (1 − f) (the price at which the
 *    remaining quantity closes with zero net PnL after entry and exit fees), rounded up to the tick.
 * 4. Profit locks: once the best price is `atPct` above entry, the stop is at least `lockPct` above entry.
 * 5. Trailing: once the best price is `activationPct` above entry (unrealized PnL ≥ +0.5 %), and the position
 *    is at least `minHoldingSeconds` old, the stop trails `trailPct` behind the best price, rounded up to the
 *    tick. A trailing move smaller than `minStopStepPct` of entry is skipped to limit churn; break-even and
 *    lock moves are mandatory and never skipped.
 * 6. A stop candidate at or above the current price cannot rest on the exchange ("would trigger
 *    immediately"): the position is exited at market instead.
 * 7. Every candidate is checked by the fail-safe before it is sent; a violating one is rejected and counted.
 *
 * Replacement on the exchange is create-new-then-cancel-old (both reduce-only); that is the executor's job,
 * driven by the MOVE_STOP action.
 */
import { type Decimal, HUNDRED, ONE, roundToStep, ZERO, dmin } from './decimal.js';
import type { TradingOptions } from './config.js';
import type { InitialExits, ProfitLevel } from './exits.js';
import { checkFailSafe, failSafeLimitStop, type FailSafeInput } from './fail-safe.js';
import { type MarketRules, type PriceObservation, type Side, sideSign } from './types.js';

/** Rules of one account and symbol, resolved once and shared by all its positions. */
export interface StopRules {
  feeRate: Decimal;
  failSafeFraction: Decimal;
  /** Expected adverse slippage of a stop fill, as a fraction of the stop price. */
  stopSlippage: Decimal;
  tickSize: Decimal;
  lotStep: Decimal;
  breakEvenAfterFirstPartial: boolean;
  trailing: { enabled: boolean; activationPct: Decimal; trailPct: Decimal };
  profitLocks: readonly { atPct: Decimal; lockPct: Decimal }[];
  minHoldingMs: number;
  minStopStepPct: Decimal;
}

export function stopRulesFor(
  options: TradingOptions,
  market: Pick<MarketRules, 'tickSize' | 'lotStep'>,
): StopRules {
  const e = options.exits;
  return {
    feeRate: options.fees.takerRate,
    failSafeFraction: options.failSafe.maxLossFraction,
    stopSlippage: options.failSafe.stopSlippageBps.div(10_000),
    tickSize: market.tickSize,
    lotStep: market.lotStep,
    breakEvenAfterFirstPartial: e.breakEvenAfterFirstPartial,
    trailing: e.trailing,
    profitLocks: [...e.profitLocks].sort((a, b) => a.atPct.cmp(b.atPct)),
    minHoldingMs: e.minHoldingSeconds * 1000,
    minStopStepPct: e.minStopStepPct,
  };
}

export type StopMoveReason = 'INITIAL' | 'TRAILING' | 'BREAK_EVEN' | 'PROFIT_LOCK' | 'FAILSAFE_TIGHTEN';
export type ExitReason =
  | 'TAKE_PROFIT'
  | 'STOP_WOULD_TRIGGER'
  | 'FAILSAFE_UNPROTECTABLE'
  | 'TIMEOUT'
  | 'HEALTH_CRITICAL'
  | 'OPERATOR'
  | 'KILL_SWITCH';

export type StopAction =
  | { type: 'PLACE_STOP'; price: Decimal; qty: Decimal; reason: 'INITIAL' | 'FAILSAFE_TIGHTEN' }
  | { type: 'MOVE_STOP'; from: Decimal; to: Decimal; qty: Decimal; reason: StopMoveReason }
  | { type: 'PARTIAL_EXIT'; level: number; price: Decimal; qty: Decimal; remainingQty: Decimal }
  | { type: 'EXIT'; reason: ExitReason; qty: Decimal; price: Decimal; detail?: string }
  | { type: 'STOP_REJECTED'; reason: 'FAILSAFE'; stop: Decimal; loss: Decimal; limit: Decimal }
  | { type: 'ALARM'; code: 'FAILSAFE_VIOLATION' | 'UNPROTECTABLE_POSITION'; message: string };

/** One open position as the stop manager sees it. Immutable: every change returns a new object. */
export interface PositionState {
  readonly side: Side;
  readonly entryPrice: Decimal;
  readonly entryFilledAt: number;
  readonly initialQty: Decimal;
  readonly remainingQty: Decimal;
  /** The stop resting on the exchange. */
  readonly stop: Decimal;
  readonly initialStop: Decimal;
  /** Why the stop is where it is (for exit classification when it fills). */
  readonly stopReason: StopMoveReason;
  readonly levels: readonly ProfitLevel[];
  /** Index of the next take-profit level not yet executed. */
  readonly nextLevel: number;
  readonly bestPrice: Decimal;
  readonly maxLoss: Decimal;
  readonly trailActive: boolean;
  /** Price at which trailing activates. */
  readonly trailActivationPrice: Decimal;
  /** Best price for which the trailing candidate was last evaluated. */
  readonly trailEvaluatedAt: Decimal | null;
  /** Lock trigger prices and the stop each demands, in trigger order. */
  readonly locks: readonly { trigger: Decimal; stop: Decimal }[];
  readonly nextLock: number;
  /** Break-even stop once the first partial is done, else null. */
  readonly breakEvenStop: Decimal | null;
  /** Smallest trailing move worth sending, in price units. */
  readonly minStep: Decimal;
  readonly rules: StopRules;
  readonly counters: {
    readonly stopMoves: number;
    readonly failSafeRejections: number;
    readonly skippedMinStep: number;
  };
}

export interface StepResult {
  position: PositionState;
  actions: StopAction[];
}

const NO_ACTIONS: StopAction[] = [];

function failSafeInput(
  p: Pick<PositionState, 'side' | 'entryPrice' | 'remainingQty' | 'maxLoss' | 'rules'>,
): FailSafeInput {
  return {
    side: p.side,
    entryPrice: p.entryPrice,
    qty: p.remainingQty,
    feeRate: p.rules.feeRate,
    maxLoss: p.maxLoss,
    fraction: p.rules.failSafeFraction,
    stopSlippage: p.rules.stopSlippage,
  };
}

/** `a` is more favourable than `b` for a stop of `side` (higher for a long, lower for a short). */
function tighter(side: Side, a: Decimal, b: Decimal): boolean {
  return side === 'long' ? a.gt(b) : a.lt(b);
}

/** Round a stop price to the tick in the safe direction (long up, short down). */
export function roundStop(side: Side, price: Decimal, tickSize: Decimal): Decimal {
  return roundToStep(price, tickSize, side === 'long' ? 'up' : 'down');
}

export interface OpenPositionInput {
  side: Side;
  entryPrice: Decimal;
  qty: Decimal;
  filledAt: number;
  exits: InitialExits;
  maxLoss: Decimal;
  rules: StopRules;
  /** The current market price (to know whether a tightened stop could still rest); defaults to entry. */
  price?: Decimal;
  /** True for a position found on the exchange and adopted by reconciliation. */
  adopted?: boolean;
}

/**
 * Builds the position state after an entry fill and decides the initial stop: the planned stop when it
 * passes the fail-safe, else the loosest stop that passes (with an alarm), else — when even that stop would
 * trigger at the current price — an immediate exit at market.
 */
export function openPosition(input: OpenPositionInput): StepResult {
  const { side, entryPrice, qty, rules, exits } = input;
  if (!qty.gt(0)) throw new RangeError(`position quantity must be positive, got ${qty.toFixed()}`);
  if (!entryPrice.gt(0)) throw new RangeError(`entry price must be positive, got ${entryPrice.toFixed()}`);
  if (!input.maxLoss.gt(0)) throw new RangeError(`max loss must be positive, got ${input.maxLoss.toFixed()}`);
  const s = sideSign(side);
  const pct = (p: Decimal) => entryPrice.mul(HUNDRED.plus(p.mul(s))).div(HUNDRED);
  const locks = rules.profitLocks.map((l) => ({
    trigger: pct(l.atPct),
    stop: roundStop(side, pct(l.lockPct), rules.tickSize),
  }));
  let position: PositionState = {
    side,
    entryPrice,
    entryFilledAt: input.filledAt,
    initialQty: qty,
    remainingQty: qty,
    stop: exits.stop,
    initialStop: exits.stop,
    stopReason: 'INITIAL',
    levels: exits.levels,
    nextLevel: 0,
    bestPrice: entryPrice,
    maxLoss: input.maxLoss,
    trailActive: false,
    trailActivationPrice: pct(rules.trailing.activationPct),
    trailEvaluatedAt: null,
    locks,
    nextLock: 0,
    breakEvenStop: null,
    minStep: entryPrice.mul(rules.minStopStepPct).div(HUNDRED),
    rules,
    counters: { stopMoves: 0, failSafeRejections: 0, skippedMinStep: 0 },
  };
  const check = checkFailSafe(failSafeInput(position), exits.stop);
  if (check.ok) {
    return { position, actions: [{ type: 'PLACE_STOP', price: exits.stop, qty, reason: 'INITIAL' }] };
  }
  const limitStop = failSafeLimitStop(failSafeInput(position), rules.tickSize)!;
  const price = input.price ?? entryPrice;
  const what = input.adopted ? 'adopted position' : 'initial stop';
  const message = `${what}: stop ${exits.stop.toFixed()} risks ${check.loss.toFixed()} > limit ${check.limit.toFixed()}`;
  if (!tighter(side, price, limitStop)) {
    position = { ...position, remainingQty: ZERO };
    return {
      position,
      actions: [
        {
          type: 'ALARM',
          code: 'UNPROTECTABLE_POSITION',
          message: `${message}; the fail-safe stop ${limitStop.toFixed()} would trigger at ${price.toFixed()}`,
        },
        { type: 'EXIT', reason: 'FAILSAFE_UNPROTECTABLE', qty, price },
      ],
    };
  }
  position = { ...position, stop: limitStop, initialStop: limitStop, stopReason: 'FAILSAFE_TIGHTEN' };
  return {
    position,
    actions: [
      {
        type: 'ALARM',
        code: 'FAILSAFE_VIOLATION',
        message: `${message}; tightened to ${limitStop.toFixed()}`,
      },
      { type: 'PLACE_STOP', price: limitStop, qty, reason: 'FAILSAFE_TIGHTEN' },
    ],
  };
}

/**
 * The stop-management step (see the module comment for the rules). Returns the same position object and an
 * empty action list when nothing changes, which is the common case and allocation-free apart from the result.
 * The caller applies exchange fills (a stop hit) before calling; a price at or through the stop changes nothing
 * here because the exchange's stop is expected to fill.
 */
export function adjustStop(pos: PositionState, obs: PriceObservation): StepResult {
  if (pos.remainingQty.isZero()) return { position: pos, actions: NO_ACTIONS };
  const { side } = pos;
  const { price, at } = obs;
  if (!tighter(side, price, pos.stop)) return { position: pos, actions: NO_ACTIONS };

  let p = pos;
  let actions = NO_ACTIONS;
  const push = (a: StopAction) => {
    if (actions === NO_ACTIONS) actions = [];
    actions.push(a);
  };

  if (tighter(side, price, p.bestPrice)) p = { ...p, bestPrice: price };

  // Take-profit levels.
  while (p.nextLevel < p.levels.length && !tighter(side, p.levels[p.nextLevel]!.price, price)) {
    const level = p.levels[p.nextLevel]!;
    const last = p.nextLevel === p.levels.length - 1;
    const share = roundToStep(p.initialQty.mul(level.fraction), p.rules.lotStep, 'down');
    const qty = last ? p.remainingQty : dmin(share, p.remainingQty);
    if (last || qty.gte(p.remainingQty)) {
      push({ type: 'EXIT', reason: 'TAKE_PROFIT', qty: p.remainingQty, price: level.price });
      return { position: { ...p, remainingQty: ZERO, nextLevel: p.levels.length }, actions };
    }
    const firstPartial = p.breakEvenStop === null;
    p = { ...p, nextLevel: p.nextLevel + 1 };
    if (qty.gt(0)) {
      const remainingQty = p.remainingQty.minus(qty);
      push({ type: 'PARTIAL_EXIT', level: p.nextLevel - 1, price: level.price, qty, remainingQty });
      p = { ...p, remainingQty };
      if (firstPartial && p.rules.breakEvenAfterFirstPartial) p = { ...p, breakEvenStop: breakEvenStop(p) };
    }
  }

  // Candidates: break-even and locks are mandatory, trailing is subject to the minimum step.
  const pick: { stop: Decimal | null; reason: StopMoveReason } = { stop: null, reason: 'TRAILING' };
  const consider = (stop: Decimal, why: StopMoveReason) => {
    if (tighter(side, stop, p.stop) && (pick.stop === null || tighter(side, stop, pick.stop))) {
      pick.stop = stop;
      pick.reason = why;
    }
  };
  if (p.breakEvenStop !== null) consider(p.breakEvenStop, 'BREAK_EVEN');
  while (p.nextLock < p.locks.length && !tighter(side, p.locks[p.nextLock]!.trigger, p.bestPrice)) {
    consider(p.locks[p.nextLock]!.stop, 'PROFIT_LOCK');
    p = { ...p, nextLock: p.nextLock + 1 };
  }
  const trailing = p.rules.trailing;
  if (trailing.enabled && at - p.entryFilledAt >= p.rules.minHoldingMs) {
    if (!p.trailActive && !tighter(side, p.trailActivationPrice, p.bestPrice))
      p = { ...p, trailActive: true };
    if (p.trailActive && (p.trailEvaluatedAt === null || !p.trailEvaluatedAt.eq(p.bestPrice))) {
      const factor = ONE.minus(trailing.trailPct.mul(sideSign(side)).div(HUNDRED));
      const trail = roundStop(side, p.bestPrice.mul(factor), p.rules.tickSize);
      p = { ...p, trailEvaluatedAt: p.bestPrice };
      const base = pick.stop ?? p.stop;
      if (tighter(side, trail, base)) {
        if (trail.minus(base).abs().lt(p.minStep)) {
          p = { ...p, counters: { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 } };
        } else consider(trail, 'TRAILING');
      }
    }
  }
  if (pick.stop === null) return { position: p, actions };
  const to = pick.stop;
  const reason = pick.reason;

  // A stop that cannot rest below the price (long) means the exit condition is already met.
  if (!tighter(side, price, to)) {
    push({
      type: 'EXIT',
      reason: 'STOP_WOULD_TRIGGER',
      qty: p.remainingQty,
      price,
      detail: `${reason} stop ${to.toFixed()} at price ${price.toFixed()}`,
    });
    return { position: { ...p, remainingQty: ZERO }, actions };
  }
  const check = checkFailSafe(failSafeInput(p), to);
  if (!check.ok) {
    push({ type: 'STOP_REJECTED', reason: 'FAILSAFE', stop: to, loss: check.loss, limit: check.limit });
    return {
      position: { ...p, counters: { ...p.counters, failSafeRejections: p.counters.failSafeRejections + 1 } },
      actions,
    };
  }
  push({ type: 'MOVE_STOP', from: p.stop, to, qty: p.remainingQty, reason });
  return {
    position: {
      ...p,
      stop: to,
      stopReason: reason,
      counters: { ...p.counters, stopMoves: p.counters.stopMoves + 1 },
    },
    actions,
  };
}

/** Stop price at which the remaining quantity closes with zero net PnL after entry and exit fees. */
export function breakEvenStop(p: Pick<PositionState, 'side' | 'entryPrice' | 'rules'>): Decimal {
  const f = p.rules.feeRate;
  const raw =
    p.side === 'long'
      ? p.entryPrice.mul(ONE.plus(f)).div(ONE.minus(f))
      : p.entryPrice.mul(ONE.minus(f)).div(ONE.plus(f));
  return roundStop(p.side, raw, p.rules.tickSize);
}

/** Records that part of the position was closed outside the level logic (reconciliation, operator). */
export function reducePosition(pos: PositionState, closedQty: Decimal): PositionState {
  if (closedQty.lt(0) || closedQty.gt(pos.remainingQty)) {
    throw new RangeError(`cannot close ${closedQty.toFixed()} of a remaining ${pos.remainingQty.toFixed()}`);
  }
  return { ...pos, remainingQty: pos.remainingQty.minus(closedQty) };
}
