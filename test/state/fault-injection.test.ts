/**
 * The fault-injection matrix: for each write of create, transition and recordEvent, the writer is
 * killed right after that write reached the table; then the same command is retried, or a reader, or
 * another writer recovers. Afterwards the log and the state must agree: no event lost, none applied
 * twice, every event's toStatus is the status the trade really had at that version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { VersionConflictError } from '../../functions/ports/errors.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import type { TradeRecord } from '../../functions/ports/trade-store.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { CrashError, crashingClient } from '../support/fault.js';
import { expectConsistent } from '../support/replay.js';

let emu: Emulators;
let store: DynamoTradeStore;
const clock = new ManualClock(1_700_000_000_000);

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
});
afterAll(async () => {
  await emu.stop();
});

/** The scripted lifecycle: step 0 creates; the others are transitions (`to`) or data-only events (`to: null`). */
type Step = { commandId: string; to: TradeStatus | null; type: string };
const SCRIPT: Step[] = [
  { commandId: 'c0', to: 'PENDING', type: 'CREATED' },
  { commandId: 'c1', to: 'ENTERING', type: 'ENTRY_SENT' },
  { commandId: 'c2', to: 'LIVE', type: 'ENTRY_FILLED' },
  { commandId: 'c3', to: null, type: 'STOP_MOVED' },
  { commandId: 'c4', to: 'CLOSING', type: 'EXIT_SENT' },
  { commandId: 'c5', to: 'CLOSED', type: 'EXIT_FILLED' },
  { commandId: 'c6', to: 'FINALIZED', type: 'FINALIZED' },
];
const EXPECTED_STATUS: TradeStatus[] = [
  'PENDING',
  'ENTERING',
  'LIVE',
  'LIVE',
  'CLOSING',
  'CLOSED',
  'FINALIZED',
];

async function runStep(
  s: DynamoTradeStore,
  tradeId: string,
  i: number,
  expectedVersion: number,
): Promise<TradeRecord> {
  const step = SCRIPT[i];
  if (!step) throw new Error(`no step ${i}`);
  if (i === 0) {
    return (
      await s.createTrade({
        tradeId,
        accountId: 'acct-f',
        symbol: 'DOGE/USDT:USDT',
        data: { step: 0 },
        at: 100,
        commandId: step.commandId,
      })
    ).trade;
  }
  const common = {
    expectedVersion,
    type: step.type,
    patch: { step: i, [`s${i}`]: `${i}.25` },
    at: 100 + i,
    commandId: step.commandId,
  };
  return step.to === null
    ? (await s.recordEvent(tradeId, common)).trade
    : (await s.transition(tradeId, { ...common, to: step.to })).trade;
}

type Recovery = 'retry' | 'reader' | 'other-writer';

async function scenario(crashStep: number, crashAfterWrite: number, recovery: Recovery): Promise<void> {
  const tradeId = `f-${crashStep}-${crashAfterWrite}-${recovery}`;
  const seen = new Map<number, TradeStatus>(); // version → status observed by any reader
  const observe = (t: TradeRecord | null) => {
    if (t) {
      const prev = seen.get(t.version);
      if (prev !== undefined) expect(t.status).toBe(prev);
      seen.set(t.version, t.status);
    }
  };
  let version = 0;
  for (let i = 0; i < SCRIPT.length; i++) {
    if (i !== crashStep) {
      const t = await runStep(store, tradeId, i, version);
      observe(t);
      version = t.version;
      continue;
    }
    const crashing = new DynamoTradeStore({
      client: crashingClient(emu.ddb, crashAfterWrite),
      tableName: emu.tableName,
      clock,
    });
    await expect(runStep(crashing, tradeId, i, version)).rejects.toBeInstanceOf(CrashError);
    let t: TradeRecord;
    if (recovery === 'retry') {
      t = await runStep(store, tradeId, i, version);
    } else if (recovery === 'reader') {
      const read = await store.getTrade(tradeId);
      if (read === null) throw new Error('the trade was lost');
      t = read;
    } else {
      // another writer arrives with the pre-crash version: the protocol rolls the crashed event forward
      // first, so the stale writer gets a conflict, re-reads and continues from the real state.
      if (i === 0) {
        t = (
          await store.createTrade({
            tradeId,
            accountId: 'acct-f',
            symbol: 'DOGE/USDT:USDT',
            data: { other: true },
            at: 999,
            commandId: 'dup',
          })
        ).trade;
      } else {
        const err = await store
          .recordEvent(tradeId, {
            expectedVersion: version,
            type: 'NOTE',
            patch: { other: true },
            at: 999,
            commandId: `other-${i}`,
          })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VersionConflictError);
        expect((err as VersionConflictError).actualVersion).toBe(i + 1);
        t = (await store.getTrade(tradeId)) as TradeRecord;
      }
    }
    observe(t);
    // The crashed command happened exactly once: all its writes crashed *after* reaching the table,
    // and the first of them is the event.
    expect(t.version).toBe(i + 1);
    expect(t.status).toBe(EXPECTED_STATUS[i]);
    version = t.version;
  }
  const final = await store.getTrade(tradeId);
  observe(final);
  const events = await store.listEvents(tradeId);
  expectConsistent(final, events);
  expect(events.map((e) => e.commandId)).toEqual(SCRIPT.map((s) => s.commandId)); // none lost, none twice
  expect(events.map((e) => e.toStatus)).toEqual(EXPECTED_STATUS);
  for (const e of events) {
    const s = seen.get(e.version);
    if (s !== undefined) expect(e.toStatus).toBe(s); // no event claims a state that never happened
  }
  expect(final?.data).toMatchObject({ step: 6, s1: '1.25', s6: '6.25' });
}

describe('crash after each write, then recover', () => {
  for (let step = 0; step < SCRIPT.length; step++) {
    for (const write of [1, 2]) {
      for (const recovery of ['retry', 'reader', 'other-writer'] as const) {
        const what = step === 0 ? 'createTrade' : SCRIPT[step]?.to === null ? 'recordEvent' : 'transition';
        it(`${what} (step ${step}, ${SCRIPT[step]?.type}) killed after write ${write}, recovered by ${recovery}`, async () => {
          await scenario(step, write, recovery);
        });
      }
    }
  }
});

describe('crash before any write', () => {
  it('a transition whose process dies before writing leaves the trade untouched', async () => {
    const tradeId = 'f-before';
    await runStep(store, tradeId, 0, 0);
    const dead = crashingClient(emu.ddb, 1);
    dead.crashed = true;
    const crashing = new DynamoTradeStore({ client: dead, tableName: emu.tableName, clock });
    await expect(runStep(crashing, tradeId, 1, 1)).rejects.toBeInstanceOf(CrashError);
    expect(await store.listEvents(tradeId)).toHaveLength(1);
    expect(await store.getTrade(tradeId)).toMatchObject({ status: 'PENDING', version: 1 });
  });
});

describe('crash under a lease', () => {
  it('a leased writer killed after its event: the event applies while the lease holds, and is dead after a takeover', async () => {
    // (a) nobody took the lease over: the next reader applies the pending event
    await runStep(store, 'f-lease-a', 0, 0);
    const la = await store.acquireLease({ tradeId: 'f-lease-a' }, 'w1', 1_000);
    if (!la.acquired) throw new Error('acquire');
    const crashA = new DynamoTradeStore({
      client: crashingClient(emu.ddb, 1),
      tableName: emu.tableName,
      clock,
    });
    await expect(
      crashA.transition('f-lease-a', {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'E',
        at: 5,
        commandId: 'la',
        leaseToken: la.lease.token,
      }),
    ).rejects.toBeInstanceOf(CrashError);
    expect(await store.getTrade('f-lease-a')).toMatchObject({ status: 'ENTERING', version: 2 });

    // (b) the lease expired and was taken over before anyone read: the event is dead, never applied
    await runStep(store, 'f-lease-b', 0, 0);
    const lb = await store.acquireLease({ tradeId: 'f-lease-b' }, 'w1', 1_000);
    if (!lb.acquired) throw new Error('acquire');
    const crashB = new DynamoTradeStore({
      client: crashingClient(emu.ddb, 1),
      tableName: emu.tableName,
      clock,
    });
    await expect(
      crashB.transition('f-lease-b', {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'E',
        at: 5,
        commandId: 'lb',
        leaseToken: lb.lease.token,
      }),
    ).rejects.toBeInstanceOf(CrashError);
    clock.advance(1_001);
    const nb = await store.acquireLease({ tradeId: 'f-lease-b' }, 'w2', 1_000);
    if (!nb.acquired) throw new Error('takeover');
    expect(await store.getTrade('f-lease-b')).toMatchObject({ status: 'PENDING', version: 1 });
    // the stale holder's retry is fenced; the new holder's write replaces the dead event
    await expect(
      store.transition('f-lease-b', {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'E',
        at: 5,
        commandId: 'lb',
        leaseToken: lb.lease.token,
      }),
    ).rejects.toThrow(/lease on TRADE#f-lease-b with token 1 is lost \(current token 2\)/);
    await store.transition('f-lease-b', {
      expectedVersion: 1,
      to: 'FAILED',
      type: 'F',
      at: 6,
      commandId: 'nb',
      leaseToken: nb.lease.token,
    });
    const events = await store.listEvents('f-lease-b');
    expect(events.map((e) => e.commandId)).toEqual(['c0', 'nb']);
    expectConsistent(await store.getTrade('f-lease-b'), events);
  });
});
