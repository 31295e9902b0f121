/**
 * One trade per account and symbol, as the order executor enforces it: ENTER commands of one account and
 * symbol run one at a time (one FIFO message group), and each re-checks, before its entry is sent, that no
 * other trade of the account holds the symbol or has sent its entry. Two trades that both passed the risk
 * gate (evaluated at the same time) cannot both open a position on the one-way-mode exchange.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { InMemoryConfigSource } from '../../functions/adapters/memory/config-source.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import { clientOrderId } from '../../functions/core/reconciliation.js';
import type { OrderCommand } from '../../functions/ports/order-queue.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import { executeOrderCommand } from '../../functions/services/order-commands.js';
import type { OrderCommandDeps } from '../../functions/services/order-commands.js';
import { OrderExecutor } from '../../functions/services/order-executor.js';
import type { PlanData } from '../../functions/services/trade-data.js';
import { startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { BTC, paper } from '../exchange/paper-support.js';

const ETH = 'ETH/USDT:USDT';
let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

/** A plan as the Evaluate step writes it: a market long of 0.002 BTC at 50000 (or 0.05 ETH at 2000). */
function planFor(symbol: string): PlanData {
  const btc = symbol === BTC;
  return {
    qty: btc ? '0.002' : '0.05',
    expectedEntry: btc ? '50000' : '2000',
    referencePrice: btc ? '50000' : '2000',
    entryType: 'market',
    limitPrice: null,
    stop: btc ? '49500' : '1980',
    takeProfit: btc ? '51000' : '2040',
    maxLoss: '3',
    leverage: 10,
    atr: null,
  };
}

/** Accounts with a paper exchange each (BTC at 50000, ETH at 2000), on one store and one clock. */
function setup(accounts: string[]) {
  const { clock } = paper();
  const store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  const exchanges = new Map(
    accounts.map((accountId) => {
      const { ex } = paper();
      ex.setPrice(ETH, '2000');
      const executor = new OrderExecutor({
        exchange: ex,
        store,
        clock,
        settings: {},
        sleep: () => Promise.resolve(),
        random: () => 0.5,
      });
      return [accountId, { exchange: ex, executor }];
    }),
  );
  const answers = new Map<string, Record<string, unknown>>();
  const failures = new Map<string, string>();
  const deps: OrderCommandDeps = {
    store,
    clock,
    config: new InMemoryConfigSource({
      accounts: accounts.map((accountId) => ({ accountId, exchange: 'paper', equity: '10000' })),
    }),
    workflow: {
      startExecution: () => Promise.resolve({ started: true }),
      sendTaskSuccess: (token, output) => {
        answers.set(token, output);
        return Promise.resolve({ delivered: true });
      },
      sendTaskFailure: (token, error, cause) => {
        failures.set(token, `${error}: ${cause}`);
        return Promise.resolve({ delivered: true });
      },
    },
    accounts: { account: (accountId) => Promise.resolve(exchanges.get(accountId)!) },
    metrics: { count: () => undefined, timing: () => undefined },
  };

  let n = 0;
  /** A trade that passed the risk gate: ENTERING with its plan (nothing sent yet). */
  const entering = async (accountId: string, symbol: string) => {
    const signalId = `s${++n}`;
    const tradeId = `${accountId}.${signalId}`;
    const price = symbol === BTC ? '50000' : '2000';
    const signal = {
      signalId,
      accountId,
      exchange: 'paper',
      symbol,
      side: 'long',
      entry: 'market',
      price,
      stop: { pct: '1' },
      riskAmount: '3',
      rr: '2',
      leverage: 10,
    };
    await store.createTrade({
      tradeId,
      accountId,
      symbol,
      data: { signal, exchange: 'paper', side: 'long', leverage: 10 },
      at: clock.now(),
    });
    await store.transition(tradeId, {
      expectedVersion: 1,
      to: 'ENTERING',
      type: 'ENTRY_PLANNED',
      patch: { plan: planFor(symbol) as unknown as JsonMap },
      at: clock.now(),
      commandId: `${tradeId}:plan`,
    });
    return tradeId;
  };

  /** Runs the trade's ENTER under its lease, as the order-executor handler does; returns the task's answer. */
  const enter = async (tradeId: string) => {
    const trade = (await store.getTrade(tradeId))!;
    const lease = await store.acquireLease({ tradeId }, 'test-consumer', 60_000);
    if (!lease.acquired) throw new Error(`lease of ${tradeId} is held`);
    const command: OrderCommand = {
      commandId: `${tradeId}.enter`,
      tradeId,
      accountId: trade.accountId,
      symbol: trade.symbol,
      type: 'ENTER',
      payload: {},
      taskToken: `token-${tradeId}`,
      issuedAt: new Date(clock.now()).toISOString(),
    };
    await executeOrderCommand(deps, command, lease.lease.token);
    await store.releaseLease(lease.lease);
    const failure = failures.get(command.taskToken!);
    if (failure !== undefined) throw new Error(`ENTER of ${tradeId} failed: ${failure}`);
    return answers.get(command.taskToken!);
  };

  /** Orders sent on any account's exchange for the trade's entry. */
  const entryOrders = (tradeId: string) =>
    [...exchanges.values()].flatMap((a) => a.exchange.ordersWithClientId(clientOrderId(tradeId, 'entry')));
  const status = async (tradeId: string): Promise<TradeStatus> => (await store.getTrade(tradeId))!.status;
  return { store, entering, enter, entryOrders, status };
}

describe('ENTER re-checks one trade per account and symbol', () => {
  it('two ENTERING trades on one symbol: the first fills, the second answers NOT_FILLED SYMBOL_BUSY and sends nothing', async () => {
    const { store, entering, enter, entryOrders, status } = setup(['busy1']);
    const first = await entering('busy1', BTC);
    const second = await entering('busy1', BTC);

    expect(await enter(first)).toMatchObject({ result: 'FILLED', filledQty: '0.002' });
    expect(await status(first)).toBe('LIVE');

    expect(await enter(second)).toEqual({
      result: 'NOT_FILLED',
      reason: `SYMBOL_BUSY: ${BTC} already has open trade ${first} (LIVE): one trade per account and symbol`,
    });
    expect(entryOrders(second)).toEqual([]);
    expect(await store.listOrderIntents(second)).toEqual([]);
    expect(await status(second)).toBe('ENTERING'); // the state machine cancels it on NOT_FILLED
  });

  it('an ENTERING trade whose entry was already sent blocks; one that sent nothing yet does not', async () => {
    const { store, entering, enter, entryOrders } = setup(['busy2']);
    const sent = await entering('busy2', BTC);
    await store.putOrderIntent({
      tradeId: sent,
      clientOrderId: clientOrderId(sent, 'entry'),
      purpose: 'ENTRY',
      request: { symbol: BTC, side: 'buy', kind: 'market', qty: '0.002', reduceOnly: false },
      at: 0,
    });
    await store.updateOrderIntent(sent, clientOrderId(sent, 'entry'), { to: 'SENT', at: 0 });
    const blocked = await entering('busy2', BTC);
    expect(await enter(blocked)).toEqual({
      result: 'NOT_FILLED',
      reason: `SYMBOL_BUSY: ${BTC} already has open trade ${sent} (ENTERING, entry sent): one trade per account and symbol`,
    });
    expect(entryOrders(blocked)).toEqual([]);

    const { entering: entering3, enter: enter3 } = setup(['busy3']);
    const planned = await entering3('busy3', BTC); // passed the gate, its ENTER not run yet
    const next = await entering3('busy3', BTC);
    expect(await enter3(next)).toMatchObject({ result: 'FILLED' });
    expect(await enter3(planned)).toMatchObject({ result: 'NOT_FILLED' });
  });

  it('a redelivered ENTER whose own entry was already recorded is not re-checked: the executor resumes it', async () => {
    const { store, entering, enter, entryOrders } = setup(['busy5']);
    const live = await entering('busy5', BTC);
    expect(await enter(live)).toMatchObject({ result: 'FILLED' });
    // Recorded and maybe on the exchange (e.g. the consumer stopped after sending): refusing now would
    // leave an order nobody tracks.
    const resumed = await entering('busy5', BTC);
    const cid = clientOrderId(resumed, 'entry');
    await store.putOrderIntent({
      tradeId: resumed,
      clientOrderId: cid,
      purpose: 'ENTRY',
      request: { symbol: BTC, side: 'buy', kind: 'market', qty: '0.002', reduceOnly: false },
      at: 0,
    });
    await store.updateOrderIntent(resumed, cid, { to: 'SENT', at: 0 });
    expect(await enter(resumed)).toMatchObject({ result: 'FILLED' });
    expect(entryOrders(resumed)).toHaveLength(1);
  });

  it('an entry the exchange rejected does not block', async () => {
    const { store, entering, enter } = setup(['busy4']);
    const rejected = await entering('busy4', BTC);
    const cid = clientOrderId(rejected, 'entry');
    await store.putOrderIntent({
      tradeId: rejected,
      clientOrderId: cid,
      purpose: 'ENTRY',
      request: {},
      at: 0,
    });
    await store.updateOrderIntent(rejected, cid, { to: 'REJECTED', outcome: { code: 'X' }, at: 0 });
    expect(await enter(await entering('busy4', BTC))).toMatchObject({ result: 'FILLED' });
  });

  it('another symbol of the account, and the same symbol of another account, do not block', async () => {
    const { entering, enter, status } = setup(['mine', 'theirs']);
    const btc = await entering('mine', BTC);
    expect(await enter(btc)).toMatchObject({ result: 'FILLED' });
    expect(await status(btc)).toBe('LIVE');
    expect(await enter(await entering('mine', ETH))).toMatchObject({ result: 'FILLED' });
    expect(await enter(await entering('theirs', BTC))).toMatchObject({ result: 'FILLED' });
  });
});
