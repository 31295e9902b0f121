/**
 * The shared circuit breaker: a small state machine whose state lives in the trade store
 * (`TradeStore.getBreaker` / `compareAndSetBreaker`), so every Lambda of an account sees and moves the same
 * breaker. Every change is a compare-and-set on the record's version; a writer that loses the race re-reads
 * and re-applies its event to the newer state.
 *
 * States (scope = an account id, or `POSITION#<tradeId>` for the stop manager's per-position breaker):
 * - CLOSED: calls pass. Each counted failure adds 1 to `failures`; a success resets it to 0; at
 *   `failureThreshold` (default 5) consecutive failures → OPEN with `openedAt` = now.
 * - OPEN: calls fail fast with CIRCUIT_OPEN until `resetTimeoutMs` (default 60 000) has passed since
 *   `openedAt`; then the first caller to win the compare-and-set moves it to HALF_OPEN (openedAt = now) and
 *   makes the one probe call.
 * - HALF_OPEN: only the probe runs; everyone else fails fast. Probe success → CLOSED (0 failures); probe
 *   failure → OPEN (openedAt = now). A probe that never reports (its Lambda died) is abandoned after another
 *   `resetTimeoutMs`, and the next caller takes a new probe.
 *
 * Only failures whose outcome is `retryable` or `unknown-outcome` count; `never-retry` failures are the
 * caller's (bad order, insufficient funds) and say nothing about the exchange's health. CIRCUIT_OPEN itself
 * never counts.
 */
import type { Clock } from '../ports/clock.js';
import { ExchangeFailure, isExchangeFailure } from '../ports/exchange.js';
import type { BreakerRecord, BreakerUpdate, TradeStore } from '../ports/trade-store.js';

/** Thresholds of a breaker. */
export interface BreakerSettings {
  /** Consecutive counted failures that open the breaker (integer ≥ 1); default 5. */
  failureThreshold: number;
  /** Cool-down before a probe is allowed, ms (> 0); default 60 000. */
  resetTimeoutMs: number;
}

/** The defaults: open after 5 consecutive failures, probe after 60 s. */
export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = { failureThreshold: 5, resetTimeoutMs: 60_000 };

/** Breaker settings from the config block `circuitBreaker` (`failureThreshold`, `resetTimeoutSeconds`). */
export function breakerSettingsFromConfig(cfg: {
  failureThreshold: number;
  resetTimeoutSeconds: number;
}): BreakerSettings {
  return validateSettings({
    failureThreshold: cfg.failureThreshold,
    resetTimeoutMs: Math.round(cfg.resetTimeoutSeconds * 1000),
  });
}

function validateSettings(s: BreakerSettings): BreakerSettings {
  if (!Number.isInteger(s.failureThreshold) || s.failureThreshold < 1)
    throw new RangeError(`failureThreshold must be an integer ≥ 1, got ${String(s.failureThreshold)}`);
  if (!Number.isFinite(s.resetTimeoutMs) || s.resetTimeoutMs <= 0)
    throw new RangeError(`resetTimeoutMs must be > 0, got ${String(s.resetTimeoutMs)}`);
  return s;
}

/** The scope of the per-position breaker of a trade. */
export function positionScope(tradeId: string): string {
  if (typeof tradeId !== 'string' || tradeId.length === 0)
    throw new TypeError('tradeId must be a non-empty string');
  return `POSITION#${tradeId}`;
}

/** Whether a failure counts against the breaker: a retryable or unknown-outcome ExchangeFailure other than CIRCUIT_OPEN. */
export function countsAsFailure(e: unknown): boolean {
  if (!isExchangeFailure(e)) return false;
  if (e.code === 'CIRCUIT_OPEN') return false;
  return e.outcome === 'retryable' || e.outcome === 'unknown-outcome';
}

/** What {@link CircuitBreaker.acquire} grants: a normal pass, or the single probe of a HALF_OPEN breaker. */
export interface BreakerPermit {
  probe: boolean;
  /** The record version the permit was granted at. */
  version: number;
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  store: TradeStore;
  clock: Clock;
  /** An account id, or {@link positionScope}(tradeId). */
  scope: string;
  settings?: Partial<BreakerSettings>;
  /** Compare-and-set attempts per event before giving up (default 20). */
  maxCasAttempts?: number;
}

/** The CIRCUIT_OPEN failure (retryable later; nothing was sent). */
export function circuitOpenFailure(scope: string, record: BreakerRecord): ExchangeFailure {
  return new ExchangeFailure(
    'CIRCUIT_OPEN',
    'retryable',
    `circuit breaker ${scope} is ${record.state} (${record.failures} failures, opened at ${String(record.openedAt)}); call not sent`,
  );
}

/** A circuit breaker whose state is shared through the trade store. */
export class CircuitBreaker {
  readonly scope: string;
  readonly settings: BreakerSettings;
  private readonly store: TradeStore;
  private readonly clock: Clock;
  private readonly maxCas: number;

  constructor(opts: CircuitBreakerOptions) {
    if (typeof opts.scope !== 'string' || opts.scope.length === 0)
      throw new TypeError('scope must be a non-empty string');
    this.scope = opts.scope;
    this.store = opts.store;
    this.clock = opts.clock;
    this.settings = validateSettings({ ...DEFAULT_BREAKER_SETTINGS, ...opts.settings });
    this.maxCas = opts.maxCasAttempts ?? 20;
  }

  /** The stored record. */
  read(): Promise<BreakerRecord> {
    return this.store.getBreaker(this.scope);
  }

  /**
   * Asks to make a call. CLOSED → a pass. OPEN before the cool-down, or HALF_OPEN with a live probe →
   * throws CIRCUIT_OPEN. OPEN after the cool-down (or a HALF_OPEN probe abandoned for a cool-down) → this
   * caller wins the compare-and-set to HALF_OPEN and gets the probe, or loses it and gets CIRCUIT_OPEN.
   */
  async acquire(): Promise<BreakerPermit> {
    let record = await this.read();
    for (let i = 0; i < this.maxCas; i++) {
      if (record.state === 'CLOSED') return { probe: false, version: record.version };
      const now = this.clock.now();
      if (!this.coolDownPassed(record, now)) throw circuitOpenFailure(this.scope, record);
      const res = await this.store.compareAndSetBreaker(this.scope, record.version, {
        state: 'HALF_OPEN',
        failures: record.failures,
        openedAt: now,
      });
      if (res.ok) return { probe: true, version: res.breaker.version };
      record = res.current; // another caller moved it first: re-decide on its state
    }
    throw circuitOpenFailure(this.scope, record);
  }

  /** Whether a call would be allowed now (no write; a cooled-down OPEN breaker reads as allowed for a probe). */
  async allows(): Promise<boolean> {
    const record = await this.read();
    return record.state === 'CLOSED' || this.coolDownPassed(record, this.clock.now());
  }

  /** Records a successful call: resets the failure count; a probe's success closes the breaker. */
  async onSuccess(permit?: BreakerPermit): Promise<BreakerRecord> {
    return this.update((r) => {
      if (r.state === 'CLOSED')
        return r.failures === 0 ? null : { state: 'CLOSED', failures: 0, openedAt: null };
      if (r.state === 'HALF_OPEN' && permit?.probe === true)
        return { state: 'CLOSED', failures: 0, openedAt: null };
      return null; // an OPEN breaker is closed only by a probe
    });
  }

  /** Records a failed call; a failure that does not count (see {@link countsAsFailure}) changes nothing. */
  async onFailure(error: unknown, permit?: BreakerPermit): Promise<BreakerRecord> {
    if (!countsAsFailure(error)) return this.read();
    const now = this.clock.now();
    return this.update((r) => {
      if (r.state === 'CLOSED') {
        const failures = r.failures + 1;
        return failures >= this.settings.failureThreshold
          ? { state: 'OPEN', failures, openedAt: now }
          : { state: 'CLOSED', failures, openedAt: null };
      }
      if (r.state === 'HALF_OPEN' && permit?.probe === true)
        return { state: 'OPEN', failures: r.failures + 1, openedAt: now };
      return null; // already OPEN, or someone else's probe is running
    });
  }

  /** Opens the breaker at once (the stop manager on a timeout), whatever its state. */
  async trip(): Promise<BreakerRecord> {
    const now = this.clock.now();
    return this.update((r) => ({ state: 'OPEN', failures: r.failures + 1, openedAt: now }));
  }

  /** Closes the breaker and clears the count (operator reset). */
  async reset(): Promise<BreakerRecord> {
    return this.update((r) =>
      r.state === 'CLOSED' && r.failures === 0 ? null : { state: 'CLOSED', failures: 0, openedAt: null },
    );
  }

  /**
   * Runs `fn` under the breaker: acquire (unless `protective`), then record the outcome. Protective calls
   * (stops, reduce-only exits) are attempted even when the breaker is open; their outcome is still recorded.
   */
  async execute<T>(fn: () => Promise<T>, opts: { protective?: boolean } = {}): Promise<T> {
    let permit: BreakerPermit | undefined;
    if (opts.protective !== true) permit = await this.acquire();
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      await this.onFailure(e, permit);
      throw e;
    }
    await this.onSuccess(permit);
    return result;
  }

  private coolDownPassed(r: BreakerRecord, now: number): boolean {
    return r.openedAt === null || now - r.openedAt >= this.settings.resetTimeoutMs;
  }

  /** Read-modify-compare-and-set until it sticks; `next` returns null for "no change". */
  private async update(next: (r: BreakerRecord) => BreakerUpdate | null): Promise<BreakerRecord> {
    let record = await this.read();
    for (let i = 0; i < this.maxCas; i++) {
      const change = next(record);
      if (change === null) return record;
      const res = await this.store.compareAndSetBreaker(this.scope, record.version, change);
      if (res.ok) return res.breaker;
      record = res.current;
    }
    throw new Error(`circuit breaker ${this.scope}: gave up after ${this.maxCas} compare-and-set conflicts`);
  }
}

/**
 * The stop manager's per-position breaker (scope `POSITION#<tradeId>`): opened at once by a timeout
 * (TIMEOUT failure) on that position's orders, so the next ticks skip the position until the cool-down
 * has passed; then one tick probes it again. Use one instance per tick and position:
 * `if (await pb.shouldSkip()) continue; … await pb.record(errorOrNull)`.
 */
export class PositionBreaker {
  readonly breaker: CircuitBreaker;
  private permit: BreakerPermit | undefined;

  constructor(opts: {
    store: TradeStore;
    clock: Clock;
    tradeId: string;
    settings?: Partial<BreakerSettings>;
  }) {
    this.breaker = new CircuitBreaker({
      store: opts.store,
      clock: opts.clock,
      scope: positionScope(opts.tradeId),
      ...(opts.settings ? { settings: opts.settings } : {}),
    });
  }

  /**
   * True while the position's breaker is open and cooling down, or another tick holds its probe: skip the
   * position. False when it may be acted on (after a cool-down this caller holds the probe).
   */
  async shouldSkip(): Promise<boolean> {
    try {
      this.permit = await this.breaker.acquire();
      return false;
    } catch (e) {
      if (isExchangeFailure(e) && e.code === 'CIRCUIT_OPEN') return true;
      throw e;
    }
  }

  /** Records the outcome of the action on the position (null = success); a TIMEOUT opens the breaker at once. */
  async record(error: unknown): Promise<BreakerRecord> {
    const permit = this.permit;
    this.permit = undefined;
    if (error === null) return this.breaker.onSuccess(permit);
    if (isExchangeFailure(error) && error.code === 'TIMEOUT') return this.breaker.trip();
    return this.breaker.onFailure(error, permit);
  }
}
