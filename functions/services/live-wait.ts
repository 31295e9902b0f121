/**
 * Ending a trade's LIVE wait: the `AwaitExit` state of the trade's execution waits on a task token that
 * the lifecycle task `armLive` stored at `data.liveTaskToken`. Whoever decides the exit (the stop manager,
 * the milestone or lifecycle watch, an operator, the kill switch) calls {@link LiveWait.endLiveWait}; the
 * state machine then closes the position (or settles at once when the position is already gone).
 */
import type { Clock } from '../ports/clock.js';
import type { TradeStore } from '../ports/trade-store.js';
import { LIVE_EXIT_REASONS, exitLeavesNoPosition } from '../ports/workflow.js';
import type { LiveExit, LiveExitReason, WorkflowPort } from '../ports/workflow.js';
import { liveTaskToken } from './trade-data.js';

/**
 * The exit decision as a worker gives it; `positionOpen` defaults from the reason, `decidedAt` from the
 * clock, `decidedBy` to `worker`. (Structurally a superset of the workers' `LiveExit`, so a
 * {@link LiveWait} is their `LiveWaitEnder`.)
 */
export interface ExitDecision {
  reason: LiveExitReason;
  decidedBy?: string;
  detail?: string;
  positionOpen?: boolean;
}

/** Result of {@link LiveWait.endLiveWait}. */
export type EndLiveWaitResult =
  { ended: true; exit: LiveExit } | { ended: false; reason: 'NOT_FOUND' | 'NOT_ARMED' | 'ALREADY_ENDED' };

/** Ends LIVE waits through the workflow port. */
export class LiveWait {
  constructor(private readonly deps: { store: TradeStore; workflow: WorkflowPort; clock: Clock }) {}

  /** Sends the exit decision to the trade's waiting `AwaitExit` state. */
  async endLiveWait(tradeId: string, decision: ExitDecision): Promise<EndLiveWaitResult> {
    if (!LIVE_EXIT_REASONS.includes(decision.reason))
      throw new RangeError(`unknown exit reason ${String(decision.reason)}`);
    const decidedBy = decision.decidedBy ?? 'worker';
    if (typeof decidedBy !== 'string' || decidedBy === '')
      throw new TypeError('decidedBy must be a non-empty string');
    const trade = await this.deps.store.getTrade(tradeId);
    if (trade === null) return { ended: false, reason: 'NOT_FOUND' };
    const token = liveTaskToken(trade);
    if (token === null) return { ended: false, reason: 'NOT_ARMED' };
    const exit: LiveExit = {
      reason: decision.reason,
      positionOpen: decision.positionOpen ?? !exitLeavesNoPosition(decision.reason),
      decidedBy,
      decidedAt: this.deps.clock.now(),
      ...(decision.detail !== undefined ? { detail: decision.detail } : {}),
    };
    const sent = await this.deps.workflow.sendTaskSuccess(token, { ...exit });
    return sent.delivered ? { ended: true, exit } : { ended: false, reason: 'ALREADY_ENDED' };
  }
}
