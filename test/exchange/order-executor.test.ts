import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { parseTradingOptions } from '../../functions/core/config.js';
import { D } from '../../functions/core/decimal.js';
import { clientOrderId } from '../../functions/core/reconciliation.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import { CircuitBreaker } from '../../functions/services/circuit-breaker.js';
import { OrderExecutor, executorSettingsFromConfig } from '../../functions/services/order-executor.js';
import type { ExecutorSettings } from '../../functions/services/order-executor.js';
import type { PaperExchangeOptions } from '../../functions/adapters/paper/paper-exchange.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { BTC, T0, paper } from './paper-support.js';

let emu: Emulators;
let store: DynamoTradeStore;
const storeClock = new ManualClock(T0);
let n = 0;

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock: storeClock });
});
afterAll(async () => {
  await emu.stop();
});

function setup(
  opts: {
    settings?: Partial<ExecutorSettings>;
    breaker?: boolean;
    onSleep?: (ms: number) => void;
    paper?: Partial<PaperExchangeOptions>;
  } = {},
) {
  const { ex, clock } = paper(opts.paper);
  const sleeps: number[] = [];
  const tradeId = `exec-${++n}`;
  const breaker = opts.breaker
    ? new CircuitBreaker({ store, clock, scope: `acct-exec-${n}`, settings: { failureThreshold: 2 } })
    : undefined;
  const executor = new OrderExecutor({
    exchange: ex,
    store,
    clock,
    ...(breaker ? { breaker } : {}),
    settings: opts.settings ?? {},
    sleep: (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
      opts.onSleep?.(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
  });
  return { ex, clock, executor, sleeps, tradeId, breaker };
}

const qty = new D('0.01');
const ref = new D('50000');

describe('order executor: entries', () => {
  it('records the intent before sending, with a deterministic client order id, and ACKs it', async () => {
    const { ex, executor, tradeId } = setup();
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    if (r.status !== 'filled') throw new Error(`expected filled, got ${r.status}`);
    expect(r.clientOrderId).toBe(clientOrderId(tradeId, 'entry'));
    const intent = await store.getOrderIntent(tradeId, r.clientOrderId);
    expect(intent).toMatchObject({ purpose: 'ENTRY', status: 'ACKED', exchangeOrderId: r.order.id });
    expect(intent?.request).toMatchObject({ side: 'buy', kind: 'market', qty: '0.01', reduceOnly: false });
    expect(intent?.outcome).toMatchObject({ avgPrice: '50000', slippage: { perUnit: '0', bps: '0' } });
    expect(ex.ordersWithClientId(r.clientOrderId)).toHaveLength(1);
  });

  it('rounds the quantity down to the lot step and refuses below the minimum before sending', async () => {
    const { ex, executor, tradeId } = setup();
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty: new D('0.0109'),
      type: 'market',
      referencePrice: ref,
    });
    expect(r.status === 'filled' && r.filledQty.toFixed()).toBe('0.01');
    const small = await executor.enter({
      tradeId: `${tradeId}b`,
      symbol: BTC,
      side: 'long',
      qty: new D('0.0009'),
      type: 'market',
      referencePrice: ref,
    });
    expect(small).toMatchObject({ status: 'refused', reason: 'BELOW_MINIMUM' });
    const notional = await executor.enter({
      tradeId: `${tradeId}c`,
      symbol: BTC,
      side: 'long',
      qty: new D('0.001'),
      type: 'market',
      referencePrice: ref,
    });
    expect(notional).toMatchObject({ status: 'refused', reason: 'BELOW_MINIMUM' });
    expect(ex.snapshot().orders).toHaveLength(1);
  });

  it('slippage guard: refuses when the price moved more than 0.5 % from the signal (either way)', async () => {
    const { ex, executor, tradeId } = setup();
    ex.setPrice(BTC, '50250'); // exactly 0.5 %: allowed
    expect(
      (await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref }))
        .status,
    ).toBe('filled');
    ex.setPrice(BTC, '49749.9'); // 0.5002 % below
    const r = await executor.enter({
      tradeId: `${tradeId}b`,
      symbol: BTC,
      side: 'short',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r).toMatchObject({ status: 'refused', reason: 'SLIPPAGE' });
    expect(ex.snapshot().orders).toHaveLength(1);
  });

  it('records realized slippage of the fill against the signal price (adverse positive)', async () => {
    const { ex, executor, tradeId } = setup();
    ex.setPrice(BTC, '50100');
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    if (r.status !== 'filled' || !r.slippage) throw new Error('expected a fill with slippage');
    expect(r.slippage.perUnit.toFixed()).toBe('100');
    expect(r.slippage.bps.toFixed()).toBe('20');
  });

  it('a limit entry rounds its price down (buy), times out, cancels the rest and keeps the partial fill', async () => {
    let step = 0;
    const ctx = setup({
      settings: { orderTimeoutMs: 3000, pollIntervalMs: 1000 },
      paper: { fill: { maxParticipation: new D('0.1') } },
      onSleep: () => {
        step += 1;
        if (step === 1) {
          const c = {
            openTime: T0 + 1000,
            intervalMs: 1000,
            open: new D(50000),
            high: new D(50000),
            low: new D(49800),
            close: new D(49950),
            volume: new D('0.1'),
          };
          ctx.ex.advance(BTC, c);
        }
      },
    });
    const { executor, tradeId } = ctx;
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty: new D('0.02'),
      type: 'limit',
      price: new D('49900.07'),
      referencePrice: ref,
    });
    if (r.status === 'refused' || r.status === 'rejected') throw new Error(r.status);
    expect(r.order.price?.toFixed()).toBe('49900');
    expect(r.status).toBe('partial');
    expect(r.filledQty.toFixed()).toBe('0.01'); // 0.1 × volume 0.1
    expect(r.order.status).toBe('canceled');
    expect(r.slippage?.perUnit.toFixed()).toBe('-100'); // filled 100 better than the signal
    expect(ctx.ex.snapshot().positions[0]?.qty.toFixed()).toBe('0.01');
  });

  it('a limit entry not filled in time is cancelled (unfilled)', async () => {
    const { ex, executor, tradeId, clock } = setup({ settings: { orderTimeoutMs: 3000 } });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'short',
      qty,
      type: 'limit',
      price: new D('50100.01'),
      referencePrice: ref,
    });
    expect(r.status).toBe('unfilled');
    if (r.status !== 'unfilled') return;
    expect(r.order.price?.toFixed()).toBe('50100.1'); // sell limit rounds up
    expect(r.order.status).toBe('canceled');
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 3000);
    expect(ex.snapshot().openOrders).toHaveLength(0);
  });

  it('never retries a never-retry failure (insufficient funds → REJECTED, one attempt)', async () => {
    const { ex, executor, tradeId, sleeps } = setup();
    ex.faults.add({ kind: 'insufficient-funds' });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r).toMatchObject({ status: 'rejected' });
    expect(sleeps).toEqual([]);
    const intent = await store.getOrderIntent(tradeId, clientOrderId(tradeId, 'entry'));
    expect(intent).toMatchObject({ status: 'REJECTED', outcome: { code: 'INSUFFICIENT_FUNDS' } });
  });
});

describe('order executor: retries and unknown outcomes', () => {
  it('reads retry with 1 s → 2 s → 4 s backoff plus jitter, then give up', async () => {
    const { ex, executor, tradeId, sleeps } = setup();
    ex.faults.add({ kind: '429', method: 'fetchTicker', times: Infinity });
    await expect(
      executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref }),
    ).rejects.toMatchObject({
      code: 'RATE_LIMITED',
    });
    expect(sleeps).toEqual([1100, 2200, 4400]); // base × (1 + 0.2 × 0.5)
    expect(executor.backoffDelay(1)).toBe(1100);
  });

  it('a lost response is looked up by client id, never blindly re-sent', async () => {
    const { ex, executor, tradeId } = setup();
    ex.faults.add({ kind: 'lost-response', method: 'createOrder' });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r.status).toBe('filled');
    expect(ex.snapshot().orders).toHaveLength(1);
    expect(ex.snapshot().faults.map((f) => f.kind)).toEqual(['lost-response']);
  });

  it('an order absent after the look-ups is re-sent with the SAME client order id', async () => {
    const { ex, executor, tradeId } = setup();
    ex.faults.add({ kind: '5xx', method: 'createOrder' });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r.status).toBe('filled');
    const cid = clientOrderId(tradeId, 'entry');
    expect(ex.ordersWithClientId(cid)).toHaveLength(1);
    expect(ex.snapshot().orders).toHaveLength(1);
  });

  it('a duplicate client id on the re-send means the order exists: it is looked up, not re-sent', async () => {
    const { ex, executor, tradeId } = setup();
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    // The stop is accepted, its answer lost, and the look-ups miss it 3 times (more than lookupAttempts).
    ex.faults
      .add({ kind: 'lost-response', method: 'createOrder' })
      .add({ kind: 'not-found-after-create', lookups: 3 });
    const r = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49000'),
      seq: 0,
    });
    expect(r.status).toBe('placed');
    expect(ex.ordersWithClientId(clientOrderId(tradeId, 'stop', 0))).toHaveLength(1);
  });

  it('running the same operation again (a redelivered command) sends nothing new', async () => {
    const { ex, executor, tradeId } = setup();
    const a = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    const b = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(a.status === 'filled' && b.status === 'filled' && a.order.id === b.order.id).toBe(true);
    expect(ex.snapshot().orders).toHaveLength(1);
  });

  it('an intent left SENT by a crashed run is looked up first and adopted', async () => {
    const { ex, executor, tradeId } = setup();
    const cid = clientOrderId(tradeId, 'entry');
    await store.putOrderIntent({ tradeId, clientOrderId: cid, purpose: 'ENTRY', request: {}, at: T0 });
    await store.updateOrderIntent(tradeId, cid, { to: 'SENT', at: T0 });
    const sent = await ex.createOrder({
      symbol: BTC,
      side: 'buy',
      kind: 'market',
      qty,
      reduceOnly: false,
      clientOrderId: cid,
    });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r.status === 'filled' && r.order.id).toBe(sent.id);
    expect(ex.snapshot().orders).toHaveLength(1);
    expect(await store.getOrderIntent(tradeId, cid)).toMatchObject({
      status: 'ACKED',
      exchangeOrderId: sent.id,
    });
  });

  it('a call slower than callTimeoutMs times out (TIMEOUT, unknown-outcome) and is resolved by look-up', async () => {
    const { ex, executor, tradeId } = setup({ settings: { callTimeoutMs: 20 } });
    ex.faults.add({ kind: 'latency', ms: 100, real: true, method: 'createOrder' });
    const r = await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    expect(r.status).toBe('filled');
    const intent = await store.getOrderIntent(tradeId, clientOrderId(tradeId, 'entry'));
    expect(intent?.status).toBe('ACKED');
    expect(ex.snapshot().orders).toHaveLength(1);
  });
});

describe('order executor: stops and exits', () => {
  it('rounds a long stop up and a short stop down to the tick', async () => {
    const { executor, tradeId, ex } = setup();
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    const s = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49000.01'),
      seq: 0,
    });
    expect(s.status === 'placed' && s.triggerPrice.toFixed()).toBe('49000.1');
    ex.closePositionExternally(BTC);
    const t2 = `${tradeId}s`;
    await executor.enter({
      tradeId: t2,
      symbol: BTC,
      side: 'short',
      qty,
      type: 'market',
      referencePrice: ref,
    });
    const s2 = await executor.placeStop({
      tradeId: t2,
      symbol: BTC,
      positionSide: 'short',
      qty,
      stopPrice: new D('51000.09'),
      seq: 0,
    });
    expect(s2.status === 'placed' && s2.triggerPrice.toFixed()).toBe('51000');
  });

  it('a stop that would trigger immediately tells the caller to exit; protectOrExit exits at market', async () => {
    const { ex, executor, tradeId } = setup();
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    const s = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('50500'),
      seq: 0,
    });
    expect(s).toMatchObject({ status: 'would-trigger', exitAtMarket: true });
    const p = await executor.protectOrExit({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('50500'),
      seq: 1,
    });
    expect(p).toMatchObject({ action: 'exited', reason: 'WOULD_TRIGGER', exit: { status: 'exited' } });
    expect(ex.snapshot().positions).toHaveLength(0);
  });

  it('replaceStop creates the new stop before cancelling the old one', async () => {
    const { ex, executor, tradeId } = setup();
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    const old = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49000'),
      seq: 0,
    });
    if (old.status !== 'placed') throw new Error('stop not placed');
    const r = await executor.replaceStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49500'),
      seq: 1,
      oldOrderId: old.order.id,
    });
    expect(r).toMatchObject({ status: 'replaced', oldStopCancelled: true, cleanup: [] });
    const orders = ex.snapshot().orders.filter((o) => o.kind === 'stop');
    // new stop (id 3) created while the old (id 2) was still open; then the old was cancelled
    expect(orders.map((o) => [o.id, o.status])).toEqual([
      ['2', 'canceled'],
      ['3', 'open'],
    ]);
  });

  it('when the cancel of the old stop keeps failing, the old stop is reported for clean-up', async () => {
    const { ex, executor, tradeId } = setup();
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    const old = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49000'),
      seq: 0,
    });
    if (old.status !== 'placed') throw new Error('stop not placed');
    ex.faults.add({ kind: '5xx', method: 'cancelOrder', times: Infinity });
    const r = await executor.replaceStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49500'),
      seq: 1,
      oldOrderId: old.order.id,
    });
    expect(r).toMatchObject({ status: 'replaced', oldStopCancelled: false, cleanup: [old.order.id] });
    expect(ex.snapshot().openOrders.filter((o) => o.kind === 'stop')).toHaveLength(2);
  });

  it('exit closes the whole position reduce-only; with nothing left it reports nothing-to-exit', async () => {
    const { ex, executor, tradeId } = setup();
    await executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty: new D('0.02'),
      type: 'market',
      referencePrice: ref,
    });
    const part = await executor.partialExit({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty: new D('0.005'),
    });
    expect(part.status === 'exited' && part.filledQty.toFixed()).toBe('0.005');
    const all = await executor.exit({ tradeId, symbol: BTC, positionSide: 'long' });
    expect(all.status === 'exited' && all.filledQty.toFixed()).toBe('0.015');
    expect(all.status === 'exited' && all.order.reduceOnly).toBe(true);
    expect(ex.snapshot().positions).toHaveLength(0);
    expect(await executor.exit({ tradeId, symbol: BTC, positionSide: 'long', seq: 2 })).toEqual({
      status: 'nothing-to-exit',
    });
  });
});

describe('order executor: the account breaker', () => {
  it('opens after repeated failures; entries then fail fast with CIRCUIT_OPEN but stops and exits are still sent', async () => {
    const { ex, executor, tradeId, breaker } = setup({ breaker: true, settings: { maxRetries: 0 } });
    await executor.enter({ tradeId, symbol: BTC, side: 'long', qty, type: 'market', referencePrice: ref });
    ex.faults.add({ kind: '5xx', method: 'fetchTicker', times: 2 });
    for (const t of ['x1', 'x2']) {
      await expect(
        executor.enter({
          tradeId: `${tradeId}${t}`,
          symbol: BTC,
          side: 'long',
          qty,
          type: 'market',
          referencePrice: ref,
        }),
      ).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
    }
    expect((await breaker?.read())?.state).toBe('OPEN');
    const before = ex.snapshot().orders.length;
    await expect(
      executor.enter({
        tradeId: `${tradeId}x3`,
        symbol: BTC,
        side: 'long',
        qty,
        type: 'market',
        referencePrice: ref,
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof ExchangeFailure && e.code === 'CIRCUIT_OPEN');
    expect(ex.snapshot().orders).toHaveLength(before);
    const stop = await executor.placeStop({
      tradeId,
      symbol: BTC,
      positionSide: 'long',
      qty,
      stopPrice: new D('49000'),
      seq: 0,
    });
    expect(stop.status).toBe('placed');
    const exit = await executor.exit({ tradeId, symbol: BTC, positionSide: 'long' });
    expect(exit.status).toBe('exited');
  });
});

describe('order executor: settings', () => {
  it('reads orderExecution from the config (defaults 5000 ms, 3 retries, 1 s, 30 s, 0.5 %)', () => {
    const s = executorSettingsFromConfig(parseTradingOptions({}).orderExecution);
    expect(s.callTimeoutMs).toBe(5000);
    expect(s.maxRetries).toBe(3);
    expect(s.retryDelayMs).toBe(1000);
    expect(s.orderTimeoutMs).toBe(30_000);
    expect(s.maxSlippagePercent?.toFixed()).toBe('0.5');
  });

  it('rejects bad settings with a clear message', () => {
    const { ex, clock } = paper();
    expect(() => new OrderExecutor({ exchange: ex, store, clock, settings: { lookupAttempts: 0 } })).toThrow(
      /lookupAttempts/,
    );
    expect(() => new OrderExecutor({ exchange: ex, store, clock, settings: { callTimeoutMs: 0 } })).toThrow(
      /callTimeoutMs/,
    );
  });
});
