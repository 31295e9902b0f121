import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import type { DynamoSender } from '../../functions/adapters/dynamodb/trade-store.js';
import { LeaseLostError, TradeNotFoundError, VersionConflictError } from '../../functions/ports/errors.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { expectConsistent } from '../support/replay.js';

let emu: Emulators;
let store: DynamoTradeStore;
const clock = new ManualClock(1_700_000_000_000);

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock, maxAttempts: 20 });
});
afterAll(async () => {
  await emu.stop();
});

const create = (tradeId: string) =>
  store.createTrade({ tradeId, accountId: 'acct-c', symbol: 'SOL/USDT:USDT', data: { moves: 0 }, at: 1 });

const NEXT: Partial<Record<TradeStatus, TradeStatus>> = {
  PENDING: 'ENTERING',
  ENTERING: 'LIVE',
  CLOSING: 'CLOSED',
  CLOSED: 'POST_TRADE_MONITOR',
  POST_TRADE_MONITOR: 'FINALIZED',
};

describe('50 concurrent workers on one trade', () => {
  it('exactly one wins per version and the state equals the replayed log', async () => {
    const id = 'race-1';
    await create(id);
    const wins: { version: number; commandId: string }[] = [];
    let conflicts = 0;
    const worker = async (w: number) => {
      for (let attempt = 0; attempt < 400; attempt++) {
        const t = await store.getTrade(id);
        if (t === null) throw new Error('trade vanished');
        if (t.status === 'FINALIZED') return;
        const commandId = `w${w}-a${attempt}`;
        const moves = t.data.moves as number;
        try {
          let r;
          if (t.status === 'LIVE' && moves < 30) {
            r = await store.recordEvent(id, {
              expectedVersion: t.version,
              type: 'STOP_MOVED',
              patch: { moves: moves + 1, stop: `${100 + moves}.5`, by: w },
              at: 10 + t.version,
              commandId,
            });
          } else {
            const to = t.status === 'LIVE' ? 'CLOSING' : NEXT[t.status];
            if (!to) throw new Error(`no next status from ${t.status}`);
            r = await store.transition(id, {
              expectedVersion: t.version,
              to,
              type: `TO_${to}`,
              at: 10 + t.version,
              commandId,
            });
          }
          // the returned trade may already be newer (another reader rolled the event forward and others moved on)
          const version = r.trade.commands[commandId];
          if (r.applied && version !== undefined) wins.push({ version, commandId });
          else if (r.applied) throw new Error(`applied ${commandId} but the trade does not list it`);
        } catch (e) {
          if (!(e instanceof VersionConflictError)) throw e;
          conflicts++;
        }
      }
      throw new Error(`worker ${w} did not finish`);
    };
    await Promise.all(Array.from({ length: 50 }, (_, w) => worker(w)));

    const trade = await store.getTrade(id);
    const events = await store.listEvents(id);
    expectConsistent(trade, events);
    // CREATED, ENTERING, LIVE, 30 × STOP_MOVED, CLOSING, CLOSED, POST_TRADE_MONITOR, FINALIZED = 37 events
    expect(trade?.version).toBe(37);
    expect(trade?.status).toBe('FINALIZED');
    expect(trade?.data.moves).toBe(30); // no lost update
    // exactly one winner per version 2..37, and each winner is the event at that version
    expect(wins.map((w) => w.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 36 }, (_, i) => i + 2),
    );
    for (const w of wins) expect(events[w.version - 1]?.commandId).toBe(w.commandId);
    expect(conflicts).toBeGreaterThan(0);
  });
});

/** A client that runs `hook` once, just before its first write whose command name matches. */
function hookedClient(
  client: DynamoDBClient,
  match: (c: unknown) => boolean,
  hook: () => Promise<void>,
): DynamoSender {
  let fired = false;
  return {
    send: (async (command: unknown) => {
      if (!fired && match(command)) {
        fired = true;
        await hook();
      }
      return (client.send as (c: unknown) => Promise<unknown>)(command);
    }) as DynamoDBClient['send'],
  };
}

const isEventPut = (c: unknown) =>
  (c as { constructor: { name: string } }).constructor.name === 'PutItemCommand' &&
  ((c as { input: { Item?: { sk?: { S?: string } } } }).input.Item?.sk?.S ?? '').startsWith('EVENT#');

describe('leases on a trade (fencing token on the state item)', () => {
  it('a live lease blocks others; after expiry it is taken over with a higher token; the stale holder is fenced', async () => {
    const id = 'lease-1';
    await create(id);
    const a = await store.acquireLease({ tradeId: id }, 'worker-a', 30_000);
    if (!a.acquired) throw new Error('a should acquire');
    expect(a.lease.token).toBe(1);
    const blocked = await store.acquireLease({ tradeId: id }, 'worker-b', 30_000);
    expect(blocked).toEqual({ acquired: false, holder: 'worker-a', expiresAt: a.lease.expiresAt });

    clock.advance(30_001);
    const b = await store.acquireLease({ tradeId: id }, 'worker-b', 30_000);
    if (!b.acquired) throw new Error('b should take over');
    expect(b.lease.token).toBe(2);

    // the stale holder's late write, renew and release all fail
    const stale = await store
      .transition(id, {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'E',
        at: 5,
        commandId: 'a-1',
        leaseToken: 1,
      })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(LeaseLostError);
    expect((stale as LeaseLostError).currentToken).toBe(2);
    await expect(store.renewLease(a.lease, 1_000)).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.releaseLease(a.lease)).toEqual({ released: false });

    // the new holder's write succeeds
    const ok = await store.transition(id, {
      expectedVersion: 1,
      to: 'ENTERING',
      type: 'E',
      at: 6,
      commandId: 'b-1',
      leaseToken: 2,
    });
    expect(ok.trade).toMatchObject({ status: 'ENTERING', version: 2 });
    expect(await store.releaseLease(b.lease)).toEqual({ released: true });
    expect((await store.getTrade(id))?.lease).toEqual({ owner: null, expiresAt: 0, token: 2 });
    expectConsistent(await store.getTrade(id), await store.listEvents(id));
  });

  it('a stale holder whose event lands after the takeover: its event is dead, never applied, and replaced', async () => {
    const id = 'lease-2';
    await create(id);
    const a = await store.acquireLease({ tradeId: id }, 'worker-a', 1_000);
    if (!a.acquired) throw new Error('a should acquire');
    let bToken = 0;
    // A reads the state (token 1); just before A's event write, A's lease expires and B takes over.
    const storeA = new DynamoTradeStore({
      client: hookedClient(emu.ddb, isEventPut, async () => {
        clock.advance(1_001);
        const b = await store.acquireLease({ tradeId: id }, 'worker-b', 60_000);
        if (!b.acquired) throw new Error('b should take over');
        bToken = b.lease.token;
      }),
      tableName: emu.tableName,
      clock,
    });
    await expect(
      storeA.transition(id, {
        expectedVersion: 1,
        to: 'ENTERING',
        type: 'A_ENTER',
        at: 5,
        commandId: 'a-1',
        leaseToken: a.lease.token,
      }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // The dead event is not rolled forward by readers.
    const read = await store.getTrade(id);
    expect(read).toMatchObject({ status: 'PENDING', version: 1 });
    expect(await store.listEvents(id)).toHaveLength(1);
    // B's transition replaces the dead event and applies.
    const r = await store.transition(id, {
      expectedVersion: 1,
      to: 'CANCELLED',
      type: 'B_CANCEL',
      at: 6,
      commandId: 'b-1',
      leaseToken: bToken,
    });
    expect(r.trade).toMatchObject({ status: 'CANCELLED', version: 2 });
    const events = await store.listEvents(id);
    expect(events[1]).toMatchObject({ type: 'B_CANCEL', commandId: 'b-1', leaseToken: bToken });
    expectConsistent(await store.getTrade(id), events);
  });

  it('re-acquiring by the same owner issues a new token; renew extends; unknown trade → TradeNotFoundError', async () => {
    const id = 'lease-3';
    await create(id);
    const first = await store.acquireLease({ tradeId: id }, 'w', 1_000);
    const second = await store.acquireLease({ tradeId: id }, 'w', 1_000);
    if (!first.acquired || !second.acquired) throw new Error('both should acquire');
    expect(second.lease.token).toBe(first.lease.token + 1);
    clock.advance(500);
    const renewed = await store.renewLease(second.lease, 5_000);
    expect(renewed.expiresAt).toBe(clock.now() + 5_000);
    await expect(store.acquireLease({ tradeId: 'no-such-trade' }, 'w', 1_000)).rejects.toBeInstanceOf(
      TradeNotFoundError,
    );
  });

  it('lease acquisition never bumps the trade version (no conflicts with transitions)', async () => {
    const id = 'lease-4';
    await create(id);
    await store.acquireLease({ tradeId: id }, 'w', 1_000);
    expect((await store.getTrade(id))?.version).toBe(1);
  });
});

describe('named leases (separate item)', () => {
  it('20 racers: exactly one acquires; takeover after expiry increments the token', async () => {
    const res = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.acquireLease({ name: 'RECON#acct-c' }, `r${i}`, 10_000)),
    );
    const winners = res.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const w = winners[0];
    if (!w?.acquired) throw new Error('unreachable');
    expect(w.lease.token).toBe(1);
    clock.advance(10_001);
    const next = await store.acquireLease({ name: 'RECON#acct-c' }, 'other', 10_000);
    expect(next.acquired && next.lease.token).toBe(2);
    await expect(store.renewLease(w.lease, 1_000)).rejects.toBeInstanceOf(LeaseLostError);
  });
});
