/**
 * Classification of ccxt errors into the exchange port's {@link ExchangeFailure}.
 *
 * The rule for transport failures depends on whether the call was a write (create / cancel / leverage):
 * a write whose response was lost (timeout, network error, 5xx) may have been executed, so its outcome is
 * `unknown-outcome` — the caller looks the order up by client order id before anything else. The same
 * failure on a read is `retryable`. Refusals by the exchange are `never-retry`. Error classes come from
 * ccxt's own module (`ccxt/js/src/base/errors.js`), so the check is `instanceof` against the classes ccxt
 * throws; the class name is the fallback for errors that crossed a module boundary.
 */
import {
  ArgumentsRequired,
  AuthenticationError,
  BadRequest,
  BaseError,
  DDoSProtection,
  DuplicateOrderId,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidOrder,
  NetworkError,
  NotSupported,
  OrderImmediatelyFillable,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
} from 'ccxt/js/src/base/errors.js';
import { ExchangeFailure } from '../../ports/exchange.js';
import type { FailureCode, FailureOutcome } from '../../ports/exchange.js';

/** What the failed call was: `write` calls change exchange state (orders, leverage). */
export interface CallContext {
  /** The port method, e.g. `createOrder`; used in the failure message. */
  operation: string;
  write: boolean;
}

/**
 * Exchange error codes that mean "this client order id was already used" but that ccxt maps to the generic
 * `InvalidOrder`: Binance -4116 (`ClientOrderId is duplicated`), OKX 51016 (`Duplicated clOrdId`), Bybit
 * 110072 (`OrderLinkedID is duplicate`).
 */
export const DUPLICATE_CLIENT_ID_CODES: readonly string[] = ['-4116', '51016', '110072'];

const DUPLICATE_CODE_PATTERN = new RegExp(
  `"(?:code|retCode|sCode)"\\s*:\\s*"?(?:${DUPLICATE_CLIENT_ID_CODES.join('|')})\\b`,
);
const DUPLICATE_TEXT_PATTERN =
  /clientOrderId is duplicated|duplicated? (?:client|clOrdId|order ?link)|OrderLinkedID is duplicate/i;

/** True when an `InvalidOrder` message says the client order id was already used. */
export function isDuplicateClientOrderIdMessage(message: string): boolean {
  return DUPLICATE_CODE_PATTERN.test(message) || DUPLICATE_TEXT_PATTERN.test(message);
}

/** Is `e` an instance of the ccxt error class `cls` (by prototype, or by name along the chain)? */
function isA(e: unknown, cls: abstract new (...args: never[]) => Error): boolean {
  if (e instanceof cls) return true;
  if (!(e instanceof Error)) return false;
  // Same class from another copy of the module: compare names along the prototype chain.
  for (
    let p: unknown = Object.getPrototypeOf(e);
    p !== null && p !== undefined;
    p = Object.getPrototypeOf(p)
  ) {
    const ctor = (p as { constructor?: { name?: string } }).constructor;
    if (ctor?.name === cls.name) return true;
  }
  return false;
}

/** For transport failures: unknown-outcome on writes, retryable on reads. */
function transportOutcome(ctx: CallContext): FailureOutcome {
  return ctx.write ? 'unknown-outcome' : 'retryable';
}

/** The code and outcome for a ccxt (or any) error, without building the failure. */
export function classifyError(e: unknown, ctx: CallContext): { code: FailureCode; outcome: FailureOutcome } {
  if (e instanceof ExchangeFailure) return { code: e.code, outcome: e.outcome };
  // Order matters: subclasses before their parents (RequestTimeout, DDoSProtection, RateLimitExceeded and
  // ExchangeNotAvailable are NetworkErrors; OrderNotFound, OrderImmediatelyFillable and DuplicateOrderId
  // are InvalidOrders).
  if (isA(e, RequestTimeout)) return { code: 'TIMEOUT', outcome: transportOutcome(ctx) };
  if (isA(e, RateLimitExceeded) || isA(e, DDoSProtection))
    return { code: 'RATE_LIMITED', outcome: 'retryable' };
  if (isA(e, ExchangeNotAvailable)) return { code: 'UNAVAILABLE', outcome: transportOutcome(ctx) };
  if (isA(e, NetworkError)) return { code: 'NETWORK', outcome: transportOutcome(ctx) };
  if (isA(e, InsufficientFunds)) return { code: 'INSUFFICIENT_FUNDS', outcome: 'never-retry' };
  if (isA(e, OrderImmediatelyFillable)) return { code: 'WOULD_TRIGGER_IMMEDIATELY', outcome: 'never-retry' };
  if (isA(e, OrderNotFound)) return { code: 'ORDER_NOT_FOUND', outcome: 'never-retry' };
  if (isA(e, DuplicateOrderId)) return { code: 'DUPLICATE_CLIENT_ORDER_ID', outcome: 'never-retry' };
  if (isA(e, InvalidOrder)) {
    const message = e instanceof Error ? e.message : '';
    return isDuplicateClientOrderIdMessage(message)
      ? { code: 'DUPLICATE_CLIENT_ORDER_ID', outcome: 'never-retry' }
      : { code: 'INVALID_ORDER', outcome: 'never-retry' };
  }
  if (isA(e, AuthenticationError)) return { code: 'AUTHENTICATION', outcome: 'never-retry' };
  // Bad requests and client-side argument errors: nothing reached the matching engine, a retry is the same.
  if (isA(e, BadRequest) || isA(e, ArgumentsRequired) || isA(e, NotSupported)) {
    return { code: 'INVALID_ORDER', outcome: 'never-retry' };
  }
  return { code: 'UNKNOWN', outcome: ctx.write ? 'unknown-outcome' : 'retryable' };
}

/** The secrets to remove from messages; empty strings and very short values are ignored. */
export type SecretList = readonly (string | undefined)[];

/**
 * Removes every secret (API key, secret, passphrase) and every request signature from a text.
 * Signatures appear in URLs of timeouts (`signature=…`, `sign=…`) and in some exchanges' error bodies.
 */
export function redact(text: string, secrets: SecretList = []): string {
  let out = text;
  for (const s of secrets) {
    if (s !== undefined && s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out.replace(/\b(signature|sign|apiKey|api_key|X-MBX-APIKEY)=([^&\s"']+)/gi, '$1=[REDACTED]');
}

/** Redacts an error's message and stack in place (keeping its class), and returns it. */
function redactError(e: unknown, secrets: SecretList): unknown {
  if (e instanceof Error) {
    try {
      e.message = redact(e.message, secrets);
      if (e.stack !== undefined) e.stack = redact(e.stack, secrets);
    } catch {
      // frozen error objects keep their text; the failure's own message is redacted regardless
    }
  }
  return e;
}

/** The ccxt class name of an error (`RequestTimeout`, `InvalidOrder`, …), or its type for non-errors. */
function errorName(e: unknown): string {
  if (e instanceof BaseError || e instanceof Error) return e.constructor.name;
  return typeof e;
}

/**
 * Converts anything thrown by a ccxt call into an {@link ExchangeFailure}: code and outcome from
 * {@link classifyError}; the message names the exchange, the operation and the ccxt class, with
 * `secrets` and signatures redacted. The original error is kept as `cause` (its text redacted in place).
 */
export function toExchangeFailure(
  e: unknown,
  exchangeId: string,
  ctx: CallContext,
  secrets: SecretList = [],
): ExchangeFailure {
  if (e instanceof ExchangeFailure) return e;
  const { code, outcome } = classifyError(e, ctx);
  const detail = e instanceof Error ? e.message : String(e);
  const message = redact(`${exchangeId} ${ctx.operation}: ${code} (${errorName(e)}): ${detail}`, secrets);
  return new ExchangeFailure(code, outcome, message, redactError(e, secrets));
}
