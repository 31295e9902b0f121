/**
 * The trade lifecycle: statuses, the transition table, and the time-based escalation.
 *
 *   PENDING → ENTERING → LIVE → WARNING (180 min) → CRITICAL (240 min) → CLOSING → CLOSED
 *           → POST_TRADE_MONITOR → FINALIZED
 *   and the side exits SKIPPED (risk gate said no; still shadow-monitored), CANCELLED, FAILED.
 *
 * Every transition that is not in {@link TRANSITIONS} is illegal; {@link checkTransition} says why.
 * Persistence layers condition their writes on this table, so the table is the single authority.
 */

export const TRADE_STATUSES = [
  'PENDING',
  'ENTERING',
  'LIVE',
  'WARNING',
  'CRITICAL',
  'CLOSING',
  'CLOSED',
  'POST_TRADE_MONITOR',
  'FINALIZED',
  'SKIPPED',
  'CANCELLED',
  'FAILED',
] as const;
export type TradeStatus = (typeof TRADE_STATUSES)[number];

/** Statuses in which the trade holds (or may hold) an open position that must carry a stop. */
export const OPEN_POSITION_STATUSES: readonly TradeStatus[] = ['LIVE', 'WARNING', 'CRITICAL', 'CLOSING'];
/** Statuses from which nothing can follow. */
export const TERMINAL_STATUSES: readonly TradeStatus[] = ['FINALIZED', 'CANCELLED', 'FAILED'];
/** Statuses in which milestones are measured for the live position. */
export const LIVE_STATUSES: readonly TradeStatus[] = ['LIVE', 'WARNING', 'CRITICAL'];

/**
 * The transition table. Reasons for each edge:
 * - PENDING → SKIPPED: the risk gate rejected the signal (recorded with its reason, shadow-monitored).
 * - PENDING → CANCELLED: an operator or kill switch withdrew it before any order.
 * - PENDING → FAILED: sizing or validation failed after acceptance (e.g. below exchange minimum).
 * - ENTERING → LIVE: the entry filled (fully, or partially and the rest was cancelled).
 * - ENTERING → CANCELLED: a limit entry timed out with nothing filled, or the slippage guard refused it.
 * - ENTERING → FAILED: the exchange rejected the entry (insufficient funds, invalid order).
 * - LIVE/WARNING/CRITICAL → CLOSING: the engine decided to exit (target, trailing, timeout, operator).
 * - LIVE/WARNING/CRITICAL → CLOSED: the position ended on the exchange (stop hit) or by reconciliation.
 * - LIVE → WARNING → CRITICAL: time at risk passed the warning / critical thresholds.
 * - CLOSING → CLOSED: the exit filled.
 * - CLOSED → POST_TRADE_MONITOR → FINALIZED: the shadow window after exit, then the final record.
 * - CLOSED → FINALIZED: when post-trade monitoring is disabled.
 * - SKIPPED → FINALIZED: a skipped signal is shadow-monitored from the signal's price while SKIPPED (so its
 *   status keeps saying what happened), then finalized with its milestones flattened.
 */
export const TRANSITIONS: Readonly<Record<TradeStatus, readonly TradeStatus[]>> = {
  PENDING: ['ENTERING', 'SKIPPED', 'CANCELLED', 'FAILED'],
  ENTERING: ['LIVE', 'CANCELLED', 'FAILED'],
  LIVE: ['WARNING', 'CLOSING', 'CLOSED'],
  WARNING: ['CRITICAL', 'CLOSING', 'CLOSED'],
  CRITICAL: ['CLOSING', 'CLOSED'],
  CLOSING: ['CLOSED'],
  CLOSED: ['POST_TRADE_MONITOR', 'FINALIZED'],
  POST_TRADE_MONITOR: ['FINALIZED'],
  SKIPPED: ['FINALIZED'],
  FINALIZED: [],
  CANCELLED: [],
  FAILED: [],
};

export type TransitionCheck = { ok: true } | { ok: false; reason: string };

export function isTradeStatus(value: unknown): value is TradeStatus {
  return typeof value === 'string' && (TRADE_STATUSES as readonly string[]).includes(value);
}

/** Whether `from → to` is in the table; if not, a reason naming what is allowed instead. */
export function checkTransition(from: TradeStatus, to: TradeStatus): TransitionCheck {
  if (TRANSITIONS[from].includes(to)) return { ok: true };
  if (from === to) return { ok: false, reason: `trade is already ${from}` };
  const allowed = TRANSITIONS[from];
  return {
    ok: false,
    reason:
      allowed.length === 0
        ? `illegal transition ${from} → ${to}: ${from} is terminal`
        : `illegal transition ${from} → ${to}: from ${from} only ${allowed.join(', ')} may follow`,
  };
}

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: TradeStatus,
    readonly to: TradeStatus,
    reason: string,
  ) {
    super(reason);
    this.name = 'IllegalTransitionError';
  }
}

/** Throws {@link IllegalTransitionError} unless `from → to` is allowed. */
export function assertTransition(from: TradeStatus, to: TradeStatus): void {
  const check = checkTransition(from, to);
  if (!check.ok) throw new IllegalTransitionError(from, to, check.reason);
}

export function isTerminal(status: TradeStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Lifecycle timing options (defaults from the live-trading configuration). */
export interface LifecycleTimingOptions {
  warningMinutes: number;
  criticalMinutes: number;
  /** When true, a position reaching CRITICAL is closed at market (emergency close). */
  enableAutomaticTimeout: boolean;
}

export type TimeoutDecision =
  | { kind: 'none' }
  | { kind: 'escalate'; to: 'WARNING' | 'CRITICAL'; minutesOpen: number }
  | { kind: 'emergency-close'; minutesOpen: number };

/**
 * The time-based escalation for an open position. Given the current status and how long the position
 * has been open, returns the next single step: LIVE escalates to WARNING at `warningMinutes`, WARNING
 * to CRITICAL at `criticalMinutes`, and a CRITICAL position is closed at market (emergency close) when
 * automatic timeout is enabled. Each step is one legal transition; a caller that finds both thresholds
 * passed applies the step and asks again. Other statuses never time out here.
 */
export function timeoutDecision(
  status: TradeStatus,
  entryFilledAt: number,
  now: number,
  opts: LifecycleTimingOptions,
): TimeoutDecision {
  if (status !== 'LIVE' && status !== 'WARNING' && status !== 'CRITICAL') return { kind: 'none' };
  const minutesOpen = Math.max(0, now - entryFilledAt) / 60_000;
  if (status === 'CRITICAL') {
    return opts.enableAutomaticTimeout ? { kind: 'emergency-close', minutesOpen } : { kind: 'none' };
  }
  if (status === 'LIVE') {
    return minutesOpen >= opts.warningMinutes || minutesOpen >= opts.criticalMinutes
      ? { kind: 'escalate', to: 'WARNING', minutesOpen }
      : { kind: 'none' };
  }
  return minutesOpen >= opts.criticalMinutes
    ? { kind: 'escalate', to: 'CRITICAL', minutesOpen }
    : { kind: 'none' };
}
