/**
 * The workflow port: what handlers and workers ask of the trade-lifecycle state machine. One Standard
 * execution runs per trade, named by the trade id. The Step Functions adapter
 * (`functions/adapters/sfn/workflow.ts`) implements it with @aws-sdk/client-sfn; the local harness
 * (`local/runtime/sfn.ts`) implements it over aws-local-stepfunctions.
 *
 * Callbacks: a state that waits for a task token (`.waitForTaskToken`) ends when someone calls
 * {@link WorkflowPort.sendTaskSuccess} (its output becomes the state's result) or
 * {@link WorkflowPort.sendTaskFailure} (the state fails with that error name; the state machine's Retry /
 * Catch decide what follows).
 */

/** Result of {@link WorkflowPort.startExecution}. */
export interface StartExecutionResult {
  /** False when an execution with this name already exists (the start was a no-op: idempotent intake). */
  started: boolean;
}

/** Result of a callback: false when the task was already completed, timed out or never existed. */
export interface CallbackResult {
  delivered: boolean;
}

/** The state machine as the handlers see it. */
export interface WorkflowPort {
  /** Starts the execution named `name` with `input`; a second start with the same name is a no-op. */
  startExecution(name: string, input: Record<string, unknown>): Promise<StartExecutionResult>;
  /** Completes the waiting task of `token` with `output` (a JSON object). */
  sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<CallbackResult>;
  /** Fails the waiting task of `token` with the error name `error` and a human-readable `cause`. */
  sendTaskFailure(token: string, error: string, cause: string): Promise<CallbackResult>;
}

/**
 * Why a LIVE wait ended. Workers and operators end the wait with one of these; the state machine then
 * closes the position (or, when it is already gone, goes straight to settlement).
 * - `TAKE_PROFIT`, `STOP_WOULD_TRIGGER`, `FAILSAFE_UNPROTECTABLE`: decided by the stop manager (core `adjustStop`);
 * - `TIMEOUT`: the lifecycle watch's emergency close at CRITICAL (240 min), or the state machine's backstop;
 * - `HEALTH_CRITICAL`: the lifecycle watch's emergency close on a CRITICAL health score;
 * - `OPERATOR`: a force exit of one trade; `KILL_SWITCH`: flatten everything;
 * - `STOP_HIT`: the exchange stop filled (position gone); `CLOSED_EXTERNALLY`: closed outside the engine.
 */
export type LiveExitReason =
  | 'TAKE_PROFIT'
  | 'STOP_WOULD_TRIGGER'
  | 'FAILSAFE_UNPROTECTABLE'
  | 'TIMEOUT'
  | 'HEALTH_CRITICAL'
  | 'OPERATOR'
  | 'KILL_SWITCH'
  | 'STOP_HIT'
  | 'CLOSED_EXTERNALLY';

/** Every {@link LiveExitReason}, for validation. */
export const LIVE_EXIT_REASONS: readonly LiveExitReason[] = [
  'TAKE_PROFIT',
  'STOP_WOULD_TRIGGER',
  'FAILSAFE_UNPROTECTABLE',
  'TIMEOUT',
  'HEALTH_CRITICAL',
  'OPERATOR',
  'KILL_SWITCH',
  'STOP_HIT',
  'CLOSED_EXTERNALLY',
];

/** The output that ends a LIVE wait (the `AwaitExit` state's result, at `$.exit`). */
export interface LiveExit {
  reason: LiveExitReason;
  /** False when the position is already gone on the exchange (stop hit, closed by hand): no exit order. */
  positionOpen: boolean;
  /** Who decided (e.g. `stop-manager`, `lifecycle-watch`, `operator:alice`). */
  decidedBy: string;
  /** When the decision was made (epoch ms). */
  decidedAt: number;
  detail?: string;
}

/** The reasons whose position is already gone when the wait ends. */
export function exitLeavesNoPosition(reason: LiveExitReason): boolean {
  return reason === 'STOP_HIT' || reason === 'CLOSED_EXTERNALLY';
}
