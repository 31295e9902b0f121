/**
 * Typed errors of the storage port. Every adapter throws these (never the SDK's errors for the
 * cases below), so handlers can decide by `instanceof` whether to retry, re-read or give up.
 * `IllegalTransitionError` comes from the core lifecycle (`functions/core/lifecycle.ts`).
 */

/** The caller's expected version is not the stored version (someone else moved the item first). */
export class VersionConflictError extends Error {
  constructor(
    readonly key: string,
    readonly expectedVersion: number,
    /** The version found (after rolling forward any pending event); `undefined` when unknown. */
    readonly actualVersion: number | undefined,
  ) {
    super(
      `version conflict on ${key}: expected version ${expectedVersion}, found ${actualVersion ?? 'another'}`,
    );
    this.name = 'VersionConflictError';
  }
}

/** The caller's lease (fencing token) no longer holds: another owner acquired the resource. */
export class LeaseLostError extends Error {
  constructor(
    readonly resource: string,
    readonly token: number,
    readonly currentToken: number | undefined,
  ) {
    super(
      `lease on ${resource} with token ${token} is lost (current token ${currentToken ?? 'none'}); the write was rejected`,
    );
    this.name = 'LeaseLostError';
  }
}

/** No trade with this id exists (not even a pending creation). */
export class TradeNotFoundError extends Error {
  constructor(readonly tradeId: string) {
    super(`trade ${tradeId} not found`);
    this.name = 'TradeNotFoundError';
  }
}

/** An item read from the table violates the key design (missing or mistyped attribute, broken invariant). */
export class CorruptItemError extends Error {
  constructor(
    readonly pk: string,
    readonly sk: string,
    reason: string,
  ) {
    super(`corrupt item pk=${pk} sk=${sk}: ${reason}`);
    this.name = 'CorruptItemError';
  }
}

/** An input to the store was rejected before any write (bad id, non-JSON-safe data, bad number). */
export class InvalidInputError extends TypeError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidInputError';
  }
}

/** An order intent update that its status table does not allow (e.g. ACKED → SENT). */
export class IllegalIntentTransitionError extends Error {
  constructor(
    readonly clientOrderId: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`order intent ${clientOrderId}: illegal status change ${from} → ${to}`);
    this.name = 'IllegalIntentTransitionError';
  }
}

/** No order intent with this client order id exists for the trade. */
export class OrderIntentNotFoundError extends Error {
  constructor(
    readonly tradeId: string,
    readonly clientOrderId: string,
  ) {
    super(`order intent ${clientOrderId} of trade ${tradeId} not found`);
    this.name = 'OrderIntentNotFoundError';
  }
}
