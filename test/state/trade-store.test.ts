import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { eventSk, tradePk } from '../../functions/adapters/dynamodb/keys.js';
import {
  CorruptItemError,
  IllegalIntentTransitionError,
  InvalidInputError,
  OrderIntentNotFoundError,
  TradeNotFoundError,
  VersionConflictError,
} from '../../functions/ports/errors.js';
import { IllegalTransitionError } from '../../functions/core/lifecycle.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { crashingClient, CrashError } from '../support/fault.js';

let emu: Emulators;
let store: DynamoTradeStore;
const clock = new ManualClock(1_700_000_000_000);
let n = 0;
const newId = (p = 't') => `${p}-${++n}`;

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
});
afterAll(async () => {
  await emu.stop();
});

const base = (tradeId: string, data: JsonMap = { side: 'long', entry: '100.5' }) => ({
  tradeId,
  accountId: 'acct-1',
  symbol: 'BTC/USDT:USDT',
  data,
  at: 1_000,
});

describe('createTrade', () => {
  it('creates PENDING at version 1 with a CREATED event', async () => {
    const id = newId();
    const { trade, created } = await store.createTrade(base(id));
    expect(created).toBe(true);
    expect(trade).toMatchObject({
      tradeId: id,
      status: 'PENDING',
      version: 1,
      createdAt: 1_000,
      data: { entry: '100.5' },
    });
    const events = await store.listEvents(id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ version: 1, type: 'CREATED', fromStatus: null, toStatus: 'PENDING' });
  });

  it('a duplicate create returns the existing trade with created: false and changes nothing', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const again = await store.createTrade({ ...base(id, { entry: '999' }), at: 2_000 });
    expect(again.created).toBe(false);
    expect(again.trade.data).toEqual({ side: 'long', entry: '100.5' });
    expect(await store.listEvents(id)).toHaveLength(1);
  });

  it('a retry after a crash between the event and the state completes the create', async () => {
    const id = newId();
    const crashing = new DynamoTradeStore({
      client: crashingClient(emu.ddb, 1),
      tableName: emu.tableName,
      clock,
    });
    await expect(crashing.createTrade(base(id))).rejects.toBeInstanceOf(CrashError);
    const retry = await store.createTrade(base(id));
    expect(retry.created).toBe(true);
    expect(retry.trade).toMatchObject({ status: 'PENDING', version: 1 });
  });

  it('a reader completes a create whose writer died after the event', async () => {
    const id = newId();
    const crashing = new DynamoTradeStore({
      client: crashingClient(emu.ddb, 1),
      tableName: emu.tableName,
      clock,
    });
    await expect(crashing.createTrade(base(id))).rejects.toBeInstanceOf(CrashError);
    const read = await store.getTrade(id);
    expect(read).toMatchObject({ status: 'PENDING', version: 1 });
    const retry = await store.createTrade(base(id));
    expect(retry.created).toBe(false);
  });

  it('getTrade of an unknown id is null; transition of an unknown id throws TradeNotFoundError', async () => {
    expect(await store.getTrade('nope')).toBeNull();
    await expect(
      store.transition('nope', { expectedVersion: 1, to: 'ENTERING', type: 'X', at: 1, commandId: 'c' }),
    ).rejects.toBeInstanceOf(TradeNotFoundError);
  });
});

describe('input validation (nothing written)', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['empty tradeId', { tradeId: '' }, /tradeId: must not be empty/],
    ['tradeId with #', { tradeId: 'a#b' }, /tradeId/],
    ['tradeId too long', { tradeId: 'x'.repeat(129) }, /129 characters; the limit is 128/],
    ['NaN in data', { data: { qty: Number.NaN } }, /\$\.qty is NaN; numbers must be finite/],
    ['Infinity nested', { data: { a: [1, { b: Infinity }] } }, /\$\.a\[1\]\.b is Infinity/],
    ['a class instance', { data: { when: new Date(0) } }, /\$\.when is an instance of Date/],
    ['a function', { data: { f: () => 1 } }, /\$\.f is a function/],
    ['undefined value', { data: { u: undefined } }, /\$\.u is undefined/],
    ['negative time', { at: -1 }, /at: expected epoch milliseconds/],
  ];
  for (const [name, override, msg] of cases) {
    it(`rejects ${name}`, async () => {
      const id = newId('bad');
      const input = { ...base(id), ...override } as Parameters<DynamoTradeStore['createTrade']>[0];
      const err = await store.createTrade(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(msg);
      if (typeof override.tradeId !== 'string') expect(await store.getTrade(id)).toBeNull();
    });
  }

  it('rejects a non-finite patch before writing any event', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await expect(
      store.recordEvent(id, {
        expectedVersion: 1,
        type: 'STOP_MOVED',
        patch: { stop: -Infinity },
        at: 2,
        commandId: 'c1',
      }),
    ).rejects.toThrow(/patch: \$\.stop is -Infinity/);
    expect(await store.listEvents(id)).toHaveLength(1);
  });
});

describe('transition', () => {
  it('moves along the core table, bumps the version and logs each event', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const r1 = await store.transition(id, {
      expectedVersion: 1,
      to: 'ENTERING',
      type: 'ENTRY_SENT',
      patch: { entryOrderId: 'c-1' },
      at: 2_000,
      commandId: 'enter-1',
    });
    expect(r1.applied).toBe(true);
    expect(r1.trade).toMatchObject({
      status: 'ENTERING',
      version: 2,
      updatedAt: 2_000,
      commands: { 'enter-1': 2 },
    });
    expect(r1.trade.data).toEqual({ side: 'long', entry: '100.5', entryOrderId: 'c-1' });
    const events = await store.listEvents(id);
    expect(events.map((e) => [e.version, e.fromStatus, e.toStatus, e.type])).toEqual([
      [1, null, 'PENDING', 'CREATED'],
      [2, 'PENDING', 'ENTERING', 'ENTRY_SENT'],
    ]);
  });

  it('rejects an illegal transition with IllegalTransitionError and writes nothing', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await expect(
      store.transition(id, { expectedVersion: 1, to: 'CLOSED', type: 'X', at: 2, commandId: 'c' }),
    ).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(await store.listEvents(id)).toHaveLength(1);
  });

  it('a stale expectedVersion is a VersionConflictError carrying the actual version', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await store.transition(id, { expectedVersion: 1, to: 'ENTERING', type: 'E', at: 2, commandId: 'a' });
    const err = await store
      .transition(id, { expectedVersion: 1, to: 'CANCELLED', type: 'C', at: 3, commandId: 'b' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect((err as VersionConflictError).actualVersion).toBe(2);
  });

  it('repeating a commandId has one effect (applied: false the second time)', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const input = { expectedVersion: 1, to: 'ENTERING' as const, type: 'E', at: 2, commandId: 'once' };
    expect((await store.transition(id, input)).applied).toBe(true);
    const again = await store.transition(id, input);
    expect(again.applied).toBe(false);
    expect(again.trade.version).toBe(2);
    expect(await store.listEvents(id)).toHaveLength(2);
  });

  it('recordEvent keeps the status, bumps the version, and is refused on a terminal trade', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const r = await store.recordEvent(id, {
      expectedVersion: 1,
      type: 'NOTE',
      patch: { note: 'x' },
      at: 5,
      commandId: 'n1',
    });
    expect(r.trade).toMatchObject({ status: 'PENDING', version: 2, data: { note: 'x' } });
    await store.transition(id, {
      expectedVersion: 2,
      to: 'CANCELLED',
      type: 'CANCEL',
      at: 6,
      commandId: 'c',
    });
    await expect(
      store.recordEvent(id, { expectedVersion: 3, type: 'NOTE', at: 7, commandId: 'n2' }),
    ).rejects.toThrow(/CANCELLED \(terminal\)/);
  });

  it('CREATED is reserved', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await expect(
      store.recordEvent(id, { expectedVersion: 1, type: 'CREATED', at: 7, commandId: 'n2' }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('sparse indexes', () => {
  it('lists open trades per account (by status) and per symbol; a terminal trade disappears', async () => {
    const acct = 'acct-gsi';
    const a = newId('g');
    const b = newId('g');
    await store.createTrade({ ...base(a), accountId: acct, symbol: 'ETH/USDT:USDT' });
    await store.createTrade({ ...base(b), accountId: acct, symbol: 'ETH/USDT:USDT' });
    await store.transition(b, { expectedVersion: 1, to: 'ENTERING', type: 'E', at: 2, commandId: 'e' });
    const open = await store.listOpenTrades({ accountId: acct });
    expect(open.map((t) => t.tradeId).sort()).toEqual([a, b].sort());
    expect(
      (await store.listOpenTrades({ accountId: acct, status: 'ENTERING' })).map((t) => t.tradeId),
    ).toEqual([b]);
    const bySymbol = await store.listOpenTrades({ symbol: 'ETH/USDT:USDT' });
    expect(bySymbol.map((t) => t.tradeId).sort()).toEqual([a, b].sort());
    await store.transition(a, { expectedVersion: 1, to: 'CANCELLED', type: 'C', at: 3, commandId: 'c' });
    expect((await store.listOpenTrades({ accountId: acct })).map((t) => t.tradeId)).toEqual([b]);
    expect((await store.listOpenTrades({ symbol: 'ETH/USDT:USDT' })).map((t) => t.tradeId)).toEqual([b]);
  });

  it('CLOSED is still listed (not terminal); FINALIZED is not', async () => {
    const acct = 'acct-closed';
    const id = newId('c');
    await store.createTrade({ ...base(id), accountId: acct });
    const steps = [
      ['ENTERING', 1],
      ['LIVE', 2],
      ['CLOSED', 3],
    ] as const;
    for (const [to, v] of steps)
      await store.transition(id, { expectedVersion: v, to, type: to, at: 10 + v, commandId: to });
    expect((await store.listOpenTrades({ accountId: acct }))[0]?.status).toBe('CLOSED');
    await store.transition(id, { expectedVersion: 4, to: 'FINALIZED', type: 'F', at: 20, commandId: 'f' });
    expect(await store.listOpenTrades({ accountId: acct })).toEqual([]);
  });
});

describe('milestones', () => {
  it('are written once and never overwritten; they do not bump the version', async () => {
    const id = newId();
    await store.createTrade(base(id));
    expect(await store.recordMilestone(id, 'live', 10, 42)).toEqual({ recorded: true, seconds: 42 });
    expect(await store.recordMilestone(id, 'live', 10, 7)).toEqual({ recorded: false, seconds: 42 });
    expect(await store.recordMilestone(id, 'shadow', 10, 99)).toEqual({ recorded: true, seconds: 99 });
    const t = await store.getTrade(id);
    expect(t).toMatchObject({ version: 1, milestones: { '10': 42 }, shadowMilestones: { '10': 99 } });
  });

  it('20 concurrent writers of the same threshold: exactly one is recorded', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.recordMilestone(id, 'live', 15, 100 + i)),
    );
    const winners = results.filter((r) => r.recorded);
    expect(winners).toHaveLength(1);
    const stored = (await store.getTrade(id))?.milestones['15'];
    expect(results.every((r) => r.seconds === stored)).toBe(true);
    expect(stored).toBe(winners[0]?.seconds);
  });

  it('a milestone write does not conflict with a concurrent transition', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const [m, t] = await Promise.all([
      store.recordMilestone(id, 'shadow', 20, 5),
      store.transition(id, { expectedVersion: 1, to: 'SKIPPED', type: 'S', at: 2, commandId: 's' }),
    ]);
    expect(m.recorded).toBe(true);
    expect(t.applied).toBe(true);
    expect(await store.getTrade(id)).toMatchObject({
      status: 'SKIPPED',
      version: 2,
      shadowMilestones: { '20': 5 },
    });
  });

  it('rejects bad thresholds/seconds and unknown trades', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await expect(store.recordMilestone(id, 'live', Number.NaN, 1)).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.recordMilestone(id, 'live', 10, 1.5)).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.recordMilestone('missing', 'live', 10, 1)).rejects.toBeInstanceOf(TradeNotFoundError);
  });
});

describe('order intents', () => {
  it('are written once before sending and follow INTENDED → SENT → ACKED', async () => {
    const id = newId();
    await store.createTrade(base(id));
    const req = { side: 'buy', amount: '0.010', type: 'market' };
    const first = await store.putOrderIntent({
      tradeId: id,
      clientOrderId: 'tw-e-1',
      purpose: 'ENTRY',
      request: req,
      at: 5,
    });
    expect(first.created).toBe(true);
    const dup = await store.putOrderIntent({
      tradeId: id,
      clientOrderId: 'tw-e-1',
      purpose: 'ENTRY',
      request: {},
      at: 6,
    });
    expect(dup).toMatchObject({ created: false, intent: { request: req, status: 'INTENDED' } });
    await store.updateOrderIntent(id, 'tw-e-1', { to: 'SENT', at: 7 });
    const acked = await store.updateOrderIntent(id, 'tw-e-1', {
      to: 'ACKED',
      exchangeOrderId: '123',
      outcome: { filled: '0.010' },
      at: 8,
    });
    expect(acked).toMatchObject({
      status: 'ACKED',
      exchangeOrderId: '123',
      outcome: { filled: '0.010' },
      updatedAt: 8,
    });
    // the same update again is a no-op; an illegal one is refused
    expect((await store.updateOrderIntent(id, 'tw-e-1', { to: 'ACKED', at: 9 })).updatedAt).toBe(8);
    await expect(store.updateOrderIntent(id, 'tw-e-1', { to: 'SENT', at: 9 })).rejects.toBeInstanceOf(
      IllegalIntentTransitionError,
    );
    await expect(store.updateOrderIntent(id, 'nope', { to: 'SENT', at: 9 })).rejects.toBeInstanceOf(
      OrderIntentNotFoundError,
    );
    expect((await store.listOrderIntents(id)).map((i) => i.clientOrderId)).toEqual(['tw-e-1']);
    // intents never disturb the state/event range
    expect(await store.getTrade(id)).toMatchObject({ version: 1 });
  });
});

describe('control records', () => {
  it('trading state defaults to ACTIVE v0 and is compare-and-set', async () => {
    expect(await store.getTradingState({ global: true })).toMatchObject({ value: 'ACTIVE', version: 0 });
    const halted = await store.setTradingState(
      { accountId: 'acct-k' },
      {
        value: 'HALTED',
        reason: 'drawdown',
        updatedBy: 'ops',
        expectedVersion: 0,
      },
    );
    expect(halted.version).toBe(1);
    await expect(
      store.setTradingState(
        { accountId: 'acct-k' },
        { value: 'ACTIVE', reason: 'x', updatedBy: 'ops', expectedVersion: 0 },
      ),
    ).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store.getTradingState({ accountId: 'acct-k' })).toMatchObject({
      value: 'HALTED',
      reason: 'drawdown',
      version: 1,
    });
    expect(await store.getTradingState({ global: true })).toMatchObject({ value: 'ACTIVE', version: 0 });
  });

  it('breaker compare-and-set: exactly one of two racing writers wins', async () => {
    const [a, b] = await Promise.all([
      store.compareAndSetBreaker('acct-b', 0, { state: 'OPEN', failures: 5, openedAt: 10 }),
      store.compareAndSetBreaker('acct-b', 0, { state: 'OPEN', failures: 6, openedAt: 11 }),
    ]);
    expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
    const current = await store.getBreaker('acct-b');
    expect(current.version).toBe(1);
    const loser = a.ok ? b : a;
    expect(loser.ok ? null : loser.current).toEqual(current);
    expect(await store.getBreaker('POSITION#t-1')).toMatchObject({ state: 'CLOSED', version: 0 });
    await expect(store.getBreaker('a b')).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('recon reports are stored once and listed newest first', async () => {
    await store.putReconReport({ accountId: 'acct-r', runId: 'r1', at: 1_000, report: { mismatches: 0 } });
    await store.putReconReport({ accountId: 'acct-r', runId: 'r2', at: 2_000, report: { mismatches: 2 } });
    expect(await store.putReconReport({ accountId: 'acct-r', runId: 'r2', at: 2_000, report: {} })).toEqual({
      created: false,
    });
    const list = await store.listReconReports('acct-r');
    expect(list.map((r) => r.runId)).toEqual(['r2', 'r1']);
    expect(list[0]?.report).toEqual({ mismatches: 2 });
    expect((await store.listReconReports('acct-r', { sinceAt: 1_500 })).map((r) => r.runId)).toEqual(['r2']);
    expect((await store.listReconReports('acct-r', { limit: 1 })).map((r) => r.runId)).toEqual(['r2']);
  });
});

describe('corrupt items are reported, never skipped', () => {
  it('a state item without status raises CorruptItemError naming the key', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await emu.ddb.send(
      new UpdateItemCommand({
        TableName: emu.tableName,
        Key: { pk: { S: tradePk(id) }, sk: { S: 'STATE' } },
        UpdateExpression: 'REMOVE #s',
        ExpressionAttributeNames: { '#s': 'status' },
      }),
    );
    const err = await store.getTrade(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptItemError);
    expect((err as Error).message).toBe(
      `corrupt item pk=TRADE#${id} sk=STATE: attribute status is missing or not a string`,
    );
  });

  it('an unknown status value is reported', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await emu.ddb.send(
      new UpdateItemCommand({
        TableName: emu.tableName,
        Key: { pk: { S: tradePk(id) }, sk: { S: 'STATE' } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': { S: 'OPENED' } },
      }),
    );
    await expect(store.getTrade(id)).rejects.toThrow(/attribute status = "OPENED" is not one of PENDING/);
  });

  it('an event two versions ahead of the state is an invariant violation', async () => {
    const id = newId();
    await store.createTrade(base(id));
    await emu.ddb.send(
      new PutItemCommand({
        TableName: emu.tableName,
        Item: {
          pk: { S: tradePk(id) },
          sk: { S: eventSk(3) },
          tradeId: { S: id },
          accountId: { S: 'acct-1' },
          symbol: { S: 'X' },
          version: { N: '3' },
          type: { S: 'X' },
          fromStatus: { S: 'PENDING' },
          toStatus: { S: 'ENTERING' },
          at: { N: '1' },
          commandId: { S: 'c' },
          data: { M: {} },
        },
      }),
    );
    await expect(store.getTrade(id)).rejects.toThrow(/state version 1 but the newest event is version 3/);
  });
});
