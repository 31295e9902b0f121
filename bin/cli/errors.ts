/**
 * The CLI's two kinds of failure and their exit codes: bad usage (exit 2, nothing was sent) and a
 * remote failure — the stack, the credentials, the network or the API said no (exit 1).
 */

/** Exit code of a bad usage: unknown command or option, missing or invalid argument, unreadable input. */
export const EXIT_USAGE = 2;
/** Exit code of a remote failure (the API's reason is shown). */
export const EXIT_REMOTE = 1;

/** Bad usage, found before anything was sent. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure that is not the caller's usage: the stack, the credentials, the network or the API. */
export class RemoteError extends Error {
  /** HTTP status of the API's answer (undefined when there was none). */
  readonly status: number | undefined;
  /** The API's reasons, one per line (from `errors`, `error`, `reason` or `message` in its JSON body). */
  readonly reasons: readonly string[];
  constructor(message: string, status?: number, reasons: readonly string[] = []) {
    super(message);
    this.name = 'RemoteError';
    this.status = status;
    this.reasons = reasons;
  }
}
