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
import { type Decimal, dcmp, HUNDRED, ONE, roundToStep, ZERO, dmin } from './decimal.js';
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
  /** Trailing is armed: activated (best price reached the activation price) and the minimum holding time passed. */
  readonly trailArmed: boolean;
  /** Price at which trailing activates. */
  readonly trailActivationPrice: Decimal;
  /** 1 − side × trailPct / 100: the trailing stop is best price × this factor. */
  readonly trailFactor: Decimal;
  /** 1 / trailFactor, so the trailing bounds are multiplications. */
  readonly trailFactorInverse: Decimal;
  /**
   * Pre-filter for trailing (pure speed, no change of result): while the best price is at or below this bound
   * (long; at or above for a short), the trailing candidate cannot clear the current stop by the minimum step.
   */
  readonly trailQuietUntil: Decimal;
  /** Above this best price (long; below for a short) a trailing candidate is tighter than the current stop. */
  readonly trailTighterFrom: Decimal;
  /** Lock trigger prices and the stop each demands, in trigger order. */
  readonly locks: readonly { trigger: Decimal; stop: Decimal }[];
  readonly nextLock: number;
  /** Break-even stop once the first partial is done, else null. */
  readonly breakEvenStop: Decimal | null;
  /** Smallest trailing move worth sending, in price units. */
  readonly minStep: Decimal;
  /**
   * Number copies for the pre-filter of {@link adjustStop} (never used for a decision): the stop, the best
   * price, the next level's price, and the trailing activation price.
   */
  readonly filter: { stop: number; best: number; level: number; activation: number };
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
  return dcmp(a, b) === (side === 'long' ? 1 : -1);
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
    trailArmed: false,
    trailActivationPrice: pct(rules.trailing.activationPct),
    trailFactor: ONE.minus(rules.trailing.trailPct.mul(s).div(HUNDRED)),
    trailFactorInverse: ONE.div(ONE.minus(rules.trailing.trailPct.mul(s).div(HUNDRED))),
    trailQuietUntil: entryPrice,
    trailTighterFrom: entryPrice,
    locks,
    nextLock: 0,
    breakEvenStop: null,
    minStep: entryPrice.mul(rules.minStopStepPct).div(HUNDRED),
    filter: { stop: 0, best: 0, level: 0, activation: 0 },
    rules,
    counters: { stopMoves: 0, failSafeRejections: 0, skippedMinStep: 0 },
  };
  position = refreshFilter(withStop(position, exits.stop, 'INITIAL'));
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
  position = refreshFilter(withStop({ ...position, initialStop: limitStop }, limitStop, 'FAILSAFE_TIGHTEN'));
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
 * empty action list when nothing changes — the common case, decided with at most three comparisons.
 * The caller applies exchange fills (a stop hit) before calling; a price at or through the stop changes nothing
 * here because the exchange's stop is expected to fill.
 */
export function adjustStop(pos: PositionState, obs: PriceObservation): StepResult {
  if (pos.remainingQty.isZero()) return { position: pos, actions: NO_ACTIONS };
  const { side } = pos;
  const long = side === 'long';
  const { price, at } = obs;
  const pn = obs.priceNum;
  if (pn !== undefined) {
    // Pre-filter: a price clearly (1e-9 relative, far above double rounding) between the stop and both the
    // best price and the next level cannot change anything, so no Decimal needs to be touched.
    const f = pos.filter;
    const quietTime =
      pos.trailArmed || !pos.rules.trailing.enabled || at - pos.entryFilledAt < pos.rules.minHoldingMs;
    if (
      long
        ? pn > f.stop * (1 + FILTER_MARGIN) &&
          pn < f.best * (1 - FILTER_MARGIN) &&
          pn < f.level * (1 - FILTER_MARGIN) &&
          (quietTime || f.best < f.activation * (1 - FILTER_MARGIN))
        : pn < f.stop * (1 - FILTER_MARGIN) &&
          pn > f.best * (1 + FILTER_MARGIN) &&
          pn > f.level * (1 + FILTER_MARGIN) &&
          (quietTime || f.best > f.activation * (1 + FILTER_MARGIN))
    ) {
      return { position: pos, actions: NO_ACTIONS };
    }
  }
  const dir = long ? 1 : -1;
  if (dcmp(price, pos.stop) !== dir) return { position: pos, actions: NO_ACTIONS };
  const better = dcmp(price, pos.bestPrice) === dir;
  const level = pos.levels[pos.nextLevel];
  const levelHit = level !== undefined && dcmp(price, level.price) !== -dir;
  const best = better ? price : pos.bestPrice;
  const armNow =
    !pos.trailArmed &&
    pos.rules.trailing.enabled &&
    at - pos.entryFilledAt >= pos.rules.minHoldingMs &&
    !tighter(side, pos.trailActivationPrice, best);
  if (!better && !levelHit && !armNow) return { position: pos, actions: NO_ACTIONS };
  const result = slowStep(
    { ...pos, bestPrice: best, trailArmed: pos.trailArmed || armNow },
    price,
    better || armNow,
  );
  const next = result.position;
  const f = pos.filter;
  const nextLevel = next.levels[next.nextLevel];
  const filter = {
    stop: next.stop === pos.stop ? f.stop : next.stop.toNumber(),
    best: !better ? f.best : pn !== undefined ? pn : best.toNumber(),
    level: next.nextLevel === pos.nextLevel ? f.level : levelNumber(long, nextLevel),
    activation: f.activation,
  };
  return { position: { ...next, filter }, actions: result.actions };
}

function levelNumber(long: boolean, level: ProfitLevel | undefined): number {
  return level ? level.price.toNumber() : long ? Number.POSITIVE_INFINITY : 0;
}

const FILTER_MARGIN = 1e-9;

/** Recomputes the number copies of the pre-filter after a change (slow path only). */
export function refreshFilter(p: PositionState): PositionState {
  return {
    ...p,
    filter: {
      stop: p.stop.toNumber(),
      best: p.bestPrice.toNumber(),
      level: levelNumber(p.side === 'long', p.levels[p.nextLevel]),
      activation: p.trailActivationPrice.toNumber(),
    },
  };
}

type Draft = { -readonly [K in keyof PositionState]: PositionState[K] };

/** The part of the step that runs only when something may change; `p` is a private copy it may mutate. */
function slowStep(p: Draft, price: Decimal, trailMayMove: boolean): StepResult {
  const { side } = p;
  const actions: StopAction[] = [];

  // Take-profit levels.
  while (p.nextLevel < p.levels.length && !tighter(side, p.levels[p.nextLevel]!.price, price)) {
    const level = p.levels[p.nextLevel]!;
    const last = p.nextLevel === p.levels.length - 1;
    const share = roundToStep(p.initialQty.mul(level.fraction), p.rules.lotStep, 'down');
    const qty = last ? p.remainingQty : dmin(share, p.remainingQty);
    if (last || qty.gte(p.remainingQty)) {
      actions.push({ type: 'EXIT', reason: 'TAKE_PROFIT', qty: p.remainingQty, price: level.price });
      p.remainingQty = ZERO;
      p.nextLevel = p.levels.length;
      return { position: p, actions };
    }
    const firstPartial = p.breakEvenStop === null;
    p.nextLevel += 1;
    if (qty.gt(0)) {
      p.remainingQty = p.remainingQty.minus(qty);
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

  // Candidates: break-even and locks are mandatory, trailing is subject to the minimum step.
  let candidate: Decimal | null = null;
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
  // Exact shortcut: with no mandatory candidate and the best price inside the quiet band, the trail is a no-op.
  const quiet = candidate === null && !tighter(side, p.bestPrice, p.trailQuietUntil);
  if (p.trailArmed && trailMayMove && quiet && tighter(side, p.bestPrice, p.trailTighterFrom)) {
    p.counters = { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 };
  } else if (p.trailArmed && trailMayMove && !quiet) {
    const trail = roundStop(side, p.bestPrice.mul(p.trailFactor), p.rules.tickSize);
    const base = candidate ?? p.stop;
    if (tighter(side, trail, base)) {
      if (trail.minus(base).abs().lt(p.minStep)) {
        p.counters = { ...p.counters, skippedMinStep: p.counters.skippedMinStep + 1 };
      } else {
        candidate = trail;
        reason = 'TRAILING';
      }
    }
  }
  if (candidate === null) return { position: p, actions };

  // A stop that cannot rest below the price (long) means the exit condition is already met.
  if (!tighter(side, price, candidate)) {
    actions.push({
      type: 'EXIT',
      reason: 'STOP_WOULD_TRIGGER',
      qty: p.remainingQty,
      price,
      detail: `${reason} stop ${candidate.toFixed()} at price ${price.toFixed()}`,
    });
    p.remainingQty = ZERO;
    return { position: p, actions };
  }
  const check = checkFailSafe(failSafeInput(p), candidate);
  if (!check.ok) {
    actions.push({
      type: 'STOP_REJECTED',
      reason: 'FAILSAFE',
      stop: candidate,
      loss: check.loss,
      limit: check.limit,
    });
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

/**
 * Sets the stop and recomputes the trailing quiet band: the trail cannot clear `stop` by the minimum step
 * while best × factor ≤ stop + minStep − tick (long), because rounding up adds less than one tick. The bound
 * is divided with rounding towards the stop, so the shortcut can only skip trails that would be skipped anyway.
 */
function withStop(p: PositionState, stop: Decimal, reason: StopMoveReason): PositionState {
  const { side, rules } = p;
  const edge =
    side === 'long' ? stop.plus(p.minStep).minus(rules.tickSize) : stop.minus(p.minStep).plus(rules.tickSize);
  const tick = rules.tickSize;
  // One extra tick towards the stop absorbs the 40-digit rounding of 1 / factor; with no tick size the shortcut is off.
  const trailQuietUntil = tick.isZero()
    ? stop
    : edge.mul(p.trailFactorInverse).minus(side === 'long' ? tick : tick.negated());
  // A trail is tighter than the stop when best × factor is beyond it (the stop sits on the tick grid).
  const trailTighterFrom = stop.mul(p.trailFactorInverse);
  return { ...p, stop, stopReason: reason, trailQuietUntil, trailTighterFrom };
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
