/**
 * Error classification for the handlers. A Lambda task's error name is what the state machine's Retry and
 * Catch match, and a callback's error is what `SendTaskFailure` reports, so the names are fixed:
 *
 * | name | meaning | state machine |
 * |---|---|---|
 * | `TransientError` | a retry may succeed (storage race, throttling, exchange unavailable, config unreadable) | Retry with backoff and jitter, then Catch |
 * | `ExchangeRejected` | the exchange refused for a reason a retry will not change (insufficient funds, invalid order, auth) | Catch → EnsureFlat → MarkFailed |
 * | `ExchangeUnavailable` | the exchange failed after the executor's own retries (outcome may be unknown) | Catch → EnsureFlat → MarkFailed |
 * | `PositionUnprotected` | a stop could not be placed and the market exit failed | Catch → EnsureFlat → MarkFailed |
 * | `InvalidInput` | the task's input or the stored trade is malformed | Catch → EnsureFlat → MarkFailed |
 * | `IllegalState` | the trade is in a status the task cannot act on | Catch → EnsureFlat → MarkFailed |
 */
import { IllegalTransitionError } from '../../core/lifecycle.js';
import { ValidationError } from '../../core/schema-util.js';
import { ConfigUnavailableError } from '../../ports/config.js';
import { LeaseLostError, VersionConflictError } from '../../ports/errors.js';
import { isExchangeFailure } from '../../ports/exchange.js';

/** The error names of the table above. */
export type TaskErrorName =
  | 'TransientError'
  | 'ExchangeRejected'
  | 'ExchangeUnavailable'
  | 'PositionUnprotected'
  | 'InvalidInput'
  | 'IllegalState';

/** An error carrying one of the fixed names (thrown by Lambda tasks, sent by callbacks). */
export class TaskError extends Error {
  constructor(
    override readonly name: TaskErrorName,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

const SDK_TRANSIENT = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
]);

/** Maps any error to a {@link TaskError} (a TaskError is returned as it is). */
export function classifyError(e: unknown): TaskError {
  if (e instanceof TaskError) return e;
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  if (isExchangeFailure(e)) {
    if (e.outcome === 'never-retry') return new TaskError('ExchangeRejected', message, e);
    return new TaskError('ExchangeUnavailable', message, e);
  }
  if (e instanceof VersionConflictError || e instanceof LeaseLostError)
    return new TaskError('TransientError', message, e);
  if (e instanceof ConfigUnavailableError) return new TaskError('TransientError', message, e);
  if (e instanceof IllegalTransitionError) return new TaskError('IllegalState', message, e);
  if (e instanceof ValidationError || e instanceof TypeError || e instanceof RangeError)
    return new TaskError('InvalidInput', message, e);
  if (e instanceof Error && SDK_TRANSIENT.has(e.name)) return new TaskError('TransientError', message, e);
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return new TaskError('TransientError', message, e);
  return new TaskError('TransientError', message, e);
}

/** A short, log-safe description of an error. */
export function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
