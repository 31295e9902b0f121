import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { parseTradingOptions } from '../../functions/core/config.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import {
  CircuitBreaker,
  PositionBreaker,
  breakerSettingsFromConfig,
  countsAsFailure,
} from '../../functions/services/circuit-breaker.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';

let emu: Emulators;
let store: DynamoTradeStore;
const clock = new ManualClock(1_700_000_000_000);
let n = 0;
const scope = () => `acct-breaker-${++n}`;

const timeoutErr = new ExchangeFailure('TIMEOUT', 'unknown-outcome', 'timed out');
const rateLimited = new ExchangeFailure('RATE_LIMITED', 'retryable', '429');
const funds = new ExchangeFailure('INSUFFICIENT_FUNDS', 'never-retry', 'no margin');

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
});
afterAll(async () => {
  await emu.stop();
});

const breaker = (s: string, settings = { failureThreshold: 3, resetTimeoutMs: 60_000 }) =>
  new CircuitBreaker({ store, clock, scope: s, settings });

async function failsFast(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => false,
    (e: unknown) => e instanceof ExchangeFailure && e.code === 'CIRCUIT_OPEN',
  );
}

describe('circuit breaker', () => {
  it('counts only retryable and unknown-outcome failures (not never-retry, not CIRCUIT_OPEN)', () => {
    expect(countsAsFailure(timeoutErr)).toBe(true);
    expect(countsAsFailure(rateLimited)).toBe(true);
    expect(countsAsFailure(funds)).toBe(false);
    expect(countsAsFailure(new ExchangeFailure('CIRCUIT_OPEN', 'retryable', 'open'))).toBe(false);
    expect(countsAsFailure(new Error('x'))).toBe(false);
  });

  it('defaults come from the config schema: 5 failures, 60 s', () => {
    const cfg = parseTradingOptions({});
    expect(breakerSettingsFromConfig(cfg.circuitBreaker)).toEqual({
      failureThreshold: 5,
      resetTimeoutMs: 60_000,
    });
    const b = new CircuitBreaker({ store, clock, scope: scope() });
    expect(b.settings).toEqual({ failureThreshold: 5, resetTimeoutMs: 60_000 });
  });

  it('CLOSED → OPEN after N consecutive failures; never-retry failures do not count', async () => {
    const b = breaker(scope());
    await b.onFailure(timeoutErr);
    await b.onFailure(funds);
    await b.onFailure(rateLimited);
    expect(await b.read()).toMatchObject({ state: 'CLOSED', failures: 2 });
    const r = await b.onFailure(timeoutErr);
    expect(r).toMatchObject({ state: 'OPEN', failures: 3, openedAt: clock.now() });
    expect(await failsFast(b.acquire())).toBe(true);
  });

  it('a success resets the consecutive count', async () => {
    const b = breaker(scope());
    await b.onFailure(timeoutErr);
    await b.onFailure(timeoutErr);
    await b.onSuccess();
    await b.onFailure(timeoutErr);
    expect(await b.read()).toMatchObject({ state: 'CLOSED', failures: 1 });
  });

  it('OPEN → HALF_OPEN after the cool-down; one probe; success → CLOSED', async () => {
    const b = breaker(scope());
    await b.trip();
    clock.advance(59_999);
    expect(await failsFast(b.acquire())).toBe(true);
    clock.advance(1);
    const permit = await b.acquire();
    expect(permit.probe).toBe(true);
    expect(await b.read()).toMatchObject({ state: 'HALF_OPEN' });
    expect(await failsFast(b.acquire())).toBe(true); // only one probe
    await b.onSuccess(permit);
    expect(await b.read()).toMatchObject({ state: 'CLOSED', failures: 0, openedAt: null });
  });

  it('a failed probe re-opens the breaker for another cool-down', async () => {
    const b = breaker(scope());
    await b.trip();
    clock.advance(60_000);
    const permit = await b.acquire();
    await b.onFailure(timeoutErr, permit);
    expect(await b.read()).toMatchObject({ state: 'OPEN', openedAt: clock.now() });
    expect(await failsFast(b.acquire())).toBe(true);
  });

  it('a probe that never reports is abandoned after a cool-down and a new probe is granted', async () => {
    const b = breaker(scope());
    await b.trip();
    clock.advance(60_000);
    await b.acquire(); // this Lambda dies
    clock.advance(60_000);
    expect((await b.acquire()).probe).toBe(true);
  });

  it('execute: protective calls are attempted while OPEN; others fail fast', async () => {
    const b = breaker(scope());
    await b.trip();
    let calls = 0;
    const fn = () => {
      calls += 1;
      return Promise.resolve('ok');
    };
    expect(await failsFast(b.execute(fn))).toBe(true);
    expect(await b.execute(fn, { protective: true })).toBe('ok');
    expect(calls).toBe(1);
    expect(await b.read()).toMatchObject({ state: 'OPEN' }); // only a probe closes it
  });

  it('two concurrent Lambdas share one breaker through the table', async () => {
    const s = scope();
    const lambdaA = breaker(s, { failureThreshold: 5, resetTimeoutMs: 60_000 });
    const lambdaB = breaker(s, { failureThreshold: 5, resetTimeoutMs: 60_000 });
    // 3 + 3 failures at once: every increment lands (compare-and-set), the breaker opens at the 5th.
    await Promise.all([
      lambdaA.onFailure(timeoutErr),
      lambdaB.onFailure(timeoutErr),
      lambdaA.onFailure(rateLimited),
      lambdaB.onFailure(rateLimited),
    ]);
    expect(await lambdaA.read()).toMatchObject({ state: 'CLOSED', failures: 4 });
    await Promise.all([lambdaA.onFailure(timeoutErr), lambdaB.onFailure(timeoutErr)]);
    const r = await lambdaB.read();
    expect(r.state).toBe('OPEN');
    expect(r.failures).toBe(5); // the 6th failure arrived while OPEN and changed nothing
    expect(await failsFast(lambdaA.acquire())).toBe(true);
    expect(await failsFast(lambdaB.acquire())).toBe(true);
    clock.advance(60_000);
    // Both try at once after the cool-down: exactly one gets the probe.
    const results = await Promise.allSettled([lambdaA.acquire(), lambdaB.acquire()]);
    const probes = results.filter((x) => x.status === 'fulfilled' && x.value.probe);
    const open = results.filter(
      (x) => x.status === 'rejected' && (x.reason as ExchangeFailure).code === 'CIRCUIT_OPEN',
    );
    expect(probes).toHaveLength(1);
    expect(open).toHaveLength(1);
  });

  it('rejects bad settings', () => {
    expect(() => breaker(scope(), { failureThreshold: 0, resetTimeoutMs: 1 })).toThrow(/failureThreshold/);
    expect(() => breaker(scope(), { failureThreshold: 1, resetTimeoutMs: 0 })).toThrow(/resetTimeoutMs/);
  });
});

describe('per-position breaker (stop manager)', () => {
  it('a timeout opens it at once; the position is skipped until the cool-down, then probed', async () => {
    const tradeId = `trade-pb-${++n}`;
    const pb = () => new PositionBreaker({ store, clock, tradeId, settings: { resetTimeoutMs: 30_000 } });
    const tick1 = pb();
    expect(await tick1.shouldSkip()).toBe(false);
    const r = await tick1.record(timeoutErr);
    expect(r).toMatchObject({ scope: `POSITION#${tradeId}`, state: 'OPEN' });
    clock.advance(10_000);
    expect(await pb().shouldSkip()).toBe(true);
    clock.advance(20_000);
    const probe = pb();
    expect(await probe.shouldSkip()).toBe(false);
    expect(await pb().shouldSkip()).toBe(true); // another tick while the probe runs
    expect(await probe.record(null)).toMatchObject({ state: 'CLOSED', failures: 0 });
    expect(await pb().shouldSkip()).toBe(false);
  });

  it('other failures count toward the threshold instead of opening at once', async () => {
    const tradeId = `trade-pb-${++n}`;
    const p = new PositionBreaker({ store, clock, tradeId });
    expect(await p.shouldSkip()).toBe(false);
    expect(await p.record(rateLimited)).toMatchObject({ state: 'CLOSED', failures: 1 });
  });
});
