/**
 * The reconciliation service on dynalite and the paper exchange: one test per finding and action, dry run
 * changing nothing, apply-then-dry-run finding nothing, two reconcilers at once, and a crash mid-apply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { PaperExchange } from '../../functions/adapters/paper/paper-exchange.js';
import { parseTradingOptions } from '../../functions/core/config.js';
import { D, type Decimal } from '../../functions/core/decimal.js';
import { adoptedTradeId, clientOrderId } from '../../functions/core/reconciliation.js';
import { openPosition, stopRulesFor } from '../../functions/core/stop-manager.js';
import { encodePosition } from '../../functions/core/trade-codec.js';
import type { Side } from '../../functions/core/types.js';
import type { ExchangePort } from '../../functions/ports/exchange.js';
import type { JsonMap, TradeStore } from '../../functions/ports/trade-store.js';
import { settle, type LifecycleDeps } from '../../functions/services/lifecycle-tasks.js';
import type { EndLiveWaitResult, ExitDecision } from '../../functions/services/live-wait.js';
import { OrderExecutor } from '../../functions/services/order-executor.js';
import {
  RECON_METRIC,
  Reconciler,
  planSeq,
  reconcileOptionsFor,
  tableViewOf,
} from '../../functions/services/reconciler.js';
import type { ReconReportData, ReconcilerSettings } from '../../functions/services/reconciler.js';
import { realizedPnlOf } from '../../functions/services/trade-data.js';
import { MARKETS, T0 } from '../exchange/paper-support.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';

const BTC = 'BTC/USDT:USDT';
const ETH = 'ETH/USDT:USDT';
const SOL = 'SOL/USDT:USDT';
const DOGE = 'DOGE/USDT:USDT';
const OP = 'OP/USDT:USDT';

/** Taker 0.0004 in the fail-safe (the paper exchange charges its own default 0.0005), no stop slippage. */
const TRADING = parseTradingOptions({ fees: { takerRate: '0.0004' }, failSafe: { stopSlippageBps: '0' } });

let emu: Emulators;
let accounts = 0;

beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

const STORE_WRITES = new Set([
  'createTrade',
  'transition',
  'recordEvent',
  'recordMilestone',
  'markCommandProcessed',
  'putOrderIntent',
  'updateOrderIntent',
  'setTradingState',
  'compareAndSetBreaker',
  'acquireLease',
  'renewLease',
  'releaseLease',
  'putReconReport',
]);
const EXCHANGE_READS = new Set([
  'loadMarkets',
  'fetchTicker',
  'fetchTickers',
  'fetchOHLCV',
  'fetchBalance',
  'fetchPositions',
  'fetchOrder',
  'fetchOrderByClientId',
  'fetchOpenOrders',
  'fetchMyTrades',
]);

/** Wraps an object so every method call is logged by name. */
function recording<T extends object>(target: T, log: string[]): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        log.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

interface LiveWaitCall {
  tradeId: string;
  decision: ExitDecision;
}

/** One account: its own paper exchange, clock, store, executor, fakes, and a reconciler factory. */
function account(settings: Partial<ReconcilerSettings> = {}) {
  const accountId = `acc-${++accounts}`;
  const clock = new ManualClock(T0);
  const store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  const ex = new PaperExchange({ markets: MARKETS, clock });
  ex.setPrice(BTC, '50000');
  ex.setPrice(ETH, '2000');
  ex.setPrice(SOL, '20');
  ex.setPrice(DOGE, '0.1');
  ex.setPrice(OP, '1.5');
  const executorFor = (exchange: ExchangePort, st: TradeStore = store) =>
    new OrderExecutor({
      exchange,
      store: st,
      clock,
      settings: { retryDelayMs: 0, lookupDelayMs: 0, lookupAttempts: 1 },
      sleep: () => Promise.resolve(),
      random: () => 0,
    });
  const executor = executorFor(ex);
  const liveWaitCalls: LiveWaitCall[] = [];
  const liveWaits = {
    async endLiveWait(tradeId: string, decision: ExitDecision): Promise<EndLiveWaitResult> {
      liveWaitCalls.push({ tradeId, decision });
      const t = await store.getTrade(tradeId);
      if (t === null) return { ended: false, reason: 'NOT_FOUND' };
      if (typeof t.data.liveTaskToken !== 'string') return { ended: false, reason: 'NOT_ARMED' };
      if (liveWaitCalls.filter((c) => c.tradeId === tradeId).length > 1)
        return { ended: false, reason: 'ALREADY_ENDED' };
      return {
        ended: true,
        exit: {
          reason: decision.reason,
          positionOpen: false,
          decidedBy: decision.decidedBy ?? '',
          decidedAt: 0,
        },
      };
    },
  };
  const started: string[] = [];
  const executions = {
    startTradeExecution(tradeId: string) {
      const first = !started.includes(tradeId);
      started.push(tradeId);
      return Promise.resolve({ started: first });
    },
  };
  const metrics: { name: string; n: number }[] = [];
  const reconciler = (
    over: { store?: TradeStore; exchange?: ExchangePort; executor?: OrderExecutor } = {},
    extra: Partial<ReconcilerSettings> = {},
  ) =>
    new Reconciler({
      store: over.store ?? store,
      exchange: over.exchange ?? ex,
      executor: over.executor ?? executor,
      clock,
      options: {
        reconcile: reconcileOptionsFor(TRADING),
        trading: TRADING,
        settings: { leasePollMs: 10, leaseWaitMs: 5000, ...settings, ...extra },
      },
      liveWaits,
      executions,
      metrics: { count: (name, n = 1) => metrics.push({ name, n }) },
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    });
  return {
    accountId,
    clock,
    store,
    ex,
    executor,
    executorFor,
    liveWaitCalls,
    started,
    metrics,
    reconciler,
  };
}
type Account = ReturnType<typeof account>;

interface TradeSpec {
  tradeId: string;
  symbol: string;
  side: Side;
  qty: string;
  entry: string;
  stop: string;
  maxLoss?: string;
  liveWait?: boolean;
}

/**
 * A LIVE trade as the engine leaves it: the position on the exchange, its stop placed through the executor
 * (seq 0), and the trade record with `position`, `stop`, `stopOrderId`, `stopSeq`, `entry`, `plan`.
 */
async function liveTrade(
  a: Account,
  spec: TradeSpec,
  entered?: { clientOrderId: string; orderId: string },
): Promise<{ stopOrderId: string; tradeId: string }> {
  const tradeId = `${a.accountId}-${spec.tradeId}`;
  // Without `entered` the position is opened on the exchange here; with it, the entry order already made it.
  if (!entered) a.ex.openPositionExternally(spec.symbol, spec.side, spec.qty, spec.entry);
  const placed = await a.executor.placeStop({
    tradeId,
    symbol: spec.symbol,
    positionSide: spec.side,
    qty: new D(spec.qty),
    stopPrice: new D(spec.stop),
    seq: 0,
  });
  if (placed.status !== 'placed') throw new Error(`set-up stop not placed: ${placed.status}`);
  const maxLoss = new D(spec.maxLoss ?? '100');
  const market = MARKETS[spec.symbol];
  if (!market) throw new Error(`no market ${spec.symbol}`);
  const position = openPosition({
    side: spec.side,
    entryPrice: new D(spec.entry),
    qty: new D(spec.qty),
    filledAt: T0,
    exits: {
      stop: new D(spec.stop),
      takeProfit: new D(spec.entry),
      levels: [],
      stopDistance: new D(spec.entry).minus(spec.stop).abs(),
    },
    maxLoss,
    rules: stopRulesFor(TRADING, market),
  }).position;
  await a.store.createTrade({
    tradeId,
    accountId: a.accountId,
    symbol: spec.symbol,
    at: T0,
    data: { side: spec.side, plan: { maxLoss: maxLoss.toFixed() } },
  });
  await a.store.transition(tradeId, {
    expectedVersion: 1,
    to: 'ENTERING',
    type: 'ENTRY_SENT',
    at: T0,
    commandId: 'c1',
  });
  await a.store.transition(tradeId, {
    expectedVersion: 2,
    to: 'LIVE',
    type: 'ENTRY_FILLED',
    at: T0,
    commandId: 'c2',
    patch: {
      position: encodePosition(position) as unknown as JsonMap,
      stopOrderId: placed.order.id,
      stopSeq: 0,
      entry: {
        clientOrderId: entered?.clientOrderId ?? clientOrderId(tradeId, 'entry'),
        orderId: entered?.orderId ?? 'external',
        requestedQty: spec.qty,
        filledQty: spec.qty,
        avgPrice: spec.entry,
        filledAt: T0,
        partial: false,
        slippageBps: null,
      },
      ...(spec.liveWait ? { liveTaskToken: `token-${tradeId}` } : {}),
    },
  });
  return { stopOrderId: placed.order.id, tradeId };
}

async function trade(a: Account, tradeId: string) {
  const t = await a.store.getTrade(tradeId);
  if (!t) throw new Error(`trade ${tradeId} missing`);
  return t;
}

function types(r: ReconReportData): string[] {
  return r.actions.map((x) => `${x.action.type}:${x.status}`);
}

function kinds(r: ReconReportData): string[] {
  return r.findings.map((f) => `${f.symbol} ${f.kind}`);
}

/** Every drift kind in one account (see the drift list in docs/operations.md). */
async function allDrift(a: Account) {
  const btc = await liveTrade(a, {
    tradeId: 'btc',
    symbol: BTC,
    side: 'long',
    qty: '0.01',
    entry: '50000',
    stop: '49500',
    liveWait: true,
  });
  const sol = await liveTrade(a, {
    tradeId: 'sol',
    symbol: SOL,
    side: 'long',
    qty: '10',
    entry: '20',
    stop: '19.5',
  });
  const doge = await liveTrade(a, {
    tradeId: 'doge',
    symbol: DOGE,
    side: 'long',
    qty: '1000',
    entry: '0.1',
    stop: '0.098',
  });
  const op = await liveTrade(a, {
    tradeId: 'op',
    symbol: OP,
    side: 'long',
    qty: '100',
    entry: '1.5',
    stop: '1.45',
  });
  a.ex.setPrice(BTC, '49500'); // the BTC stop fills
  a.ex.setPrice(BTC, '49600');
  a.ex.openPositionExternally(ETH, 'long', '0.5', '2000'); // untracked
  a.ex.closePositionExternally(SOL, '4'); // partial close
  a.ex.cancelOrderExternally(doge.stopOrderId); // cancelled stop
  a.ex.setPrice(OP, '1.6');
  a.ex.closePositionExternally(OP); // manual close, leaves its stop orphaned
  await a.ex.createOrder({
    symbol: BTC,
    side: 'buy',
    kind: 'limit',
    qty: new D('0.01'),
    price: new D('40000'),
    reduceOnly: false,
    clientOrderId: 'manual-entry-1',
  });
  a.clock.advance(120_000); // the manual limit order is stale
  return { btc, sol, doge, op };
}

/** Trades' events and the exchange state, for before/after comparisons. */
async function tableSnapshot(a: Account, tradeIds: string[]) {
  const out: unknown[] = [];
  for (const id of tradeIds) out.push(await a.store.getTrade(id), await a.store.listEvents(id));
  out.push(await a.store.listOpenTrades({ accountId: a.accountId }));
  return JSON.parse(JSON.stringify(out)) as unknown;
}

/** No client order id was used for two orders; no audit command appears twice. */
async function assertNoDuplicates(a: Account) {
  const perCid = new Map<string, number>();
  for (const o of a.ex.snapshot().orders) {
    if (o.clientOrderId) perCid.set(o.clientOrderId, (perCid.get(o.clientOrderId) ?? 0) + 1);
  }
  for (const [cid, n] of perCid) expect(n, cid).toBeLessThanOrEqual(1);
  const all = (await a.store.listOpenTrades({ accountId: a.accountId })).map((t) => t.tradeId);
  const ids = new Set([...all, ...allTradeIds(a)]);
  for (const id of ids) {
    const cmds = (await a.store.listEvents(id)).map((e) => e.commandId).filter((c) => c !== null);
    expect(new Set(cmds).size, id).toBe(cmds.length);
  }
}

function allTradeIds(a: Account): string[] {
  return ['btc', 'sol', 'doge', 'op']
    .map((x) => `${a.accountId}-${x}`)
    .concat(adoptedTradeId(a.accountId, ETH, 'long', new D('2000')));
}

describe('reconciler: reading stored trades', () => {
  const base = {
    tradeId: 'tv-1',
    accountId: 'acc-tv',
    symbol: BTC,
    status: 'LIVE' as const,
    version: 3,
    createdAt: T0,
    updatedAt: T0,
    milestones: {},
    shadowMilestones: {},
    commands: {},
    processedCommands: {},
    lease: null,
  };
  const market = MARKETS[BTC];
  if (!market) throw new Error('no BTC market');
  const position = encodePosition(
    openPosition({
      side: 'short',
      entryPrice: new D('50000'),
      qty: new D('0.02'),
      filledAt: T0,
      exits: { stop: new D('50500'), takeProfit: new D('49000'), levels: [], stopDistance: new D('500') },
      maxLoss: new D('20'),
      rules: stopRulesFor(TRADING, market),
    }).position,
  ) as unknown as JsonMap;

  it('reads the recorded stop from stopOrderId, stopSeq and position.stop', () => {
    const v = tableViewOf({ ...base, data: { position, stopOrderId: '77', stopSeq: 4 } });
    expect(v.side).toBe('short');
    expect(v.qty.toFixed()).toBe('0.02');
    expect(v.entryPrice?.toFixed()).toBe('50000');
    expect(v.maxLoss.toFixed()).toBe('20');
    expect(v.stop?.clientOrderId).toBe(clientOrderId('tv-1', 'stop', 4));
    expect(v.stop?.exchangeOrderId).toBe('77');
    expect(v.stop?.price.toFixed()).toBe('50500');
    expect(v.stop?.qty.toFixed()).toBe('0.02');
  });

  it('refuses a trade without a max loss instead of treating its position as untracked', () => {
    expect(() =>
      tableViewOf({
        ...base,
        data: { side: 'long', entry: { filledQty: '0.01', avgPrice: '50000' } },
      }),
    ).toThrow('trade tv-1: no max loss in data.position or data.plan');
  });
});

describe('reconciler: one finding at a time', () => {
  it('adopts an untracked position: trade LIVE, stop tightened to the fail-safe, execution started', async () => {
    const a = account();
    a.ex.openPositionExternally(ETH, 'long', '0.5', '2000');
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${ETH} UNTRACKED_POSITION`, `${ETH} MISSING_STOP`]);
    expect(types(r)).toEqual(['ADOPT_POSITION:applied']);
    const id = adoptedTradeId(a.accountId, ETH, 'long', new D('2000'));
    // L = 0.95 × 3 = 2.85; stop = ceil_0.01((0.5 × 2000 × 1.0004 − 2.85) / (0.5 × 0.9996)) = ceil(1995.8983…)
    const action = r.actions[0]?.action;
    if (action?.type !== 'ADOPT_POSITION') throw new Error('expected ADOPT_POSITION');
    expect(action.stop.price.toFixed()).toBe('1995.9');
    expect(action.stop.tightened).toBe(true);
    // loss at 1995.9: 0.5 × 4.1 + 0.0004 × 0.5 × 3995.9 = 2.84918 ≤ 2.85
    expect(action.stop.lossIfStopped.toFixed()).toBe('2.84918');
    expect(action.stop.lossLimit.toFixed()).toBe('2.85');
    const stops = a.ex.snapshot().openOrders.filter((o) => o.symbol === ETH);
    expect(stops).toHaveLength(1);
    expect(stops[0]).toMatchObject({ kind: 'stop', side: 'sell', reduceOnly: true });
    expect(stops[0]?.qty.toFixed()).toBe('0.5');
    expect(stops[0]?.triggerPrice?.toFixed()).toBe('1995.9');
    expect(stops[0]?.clientOrderId).toBe(
      clientOrderId(id, 'stop', planSeq(id, 'rcstop', action.stop.clientOrderId)),
    );
    const t = await trade(a, id);
    expect(t.status).toBe('LIVE');
    expect(t.data.adopted).toMatchObject({ qty: '0.5', entryPrice: '2000', maxLoss: '3' });
    expect(t.data.position).toMatchObject({
      side: 'long',
      remainingQty: '0.5',
      entryPrice: '2000',
      stop: '1995.9',
      maxLoss: '3',
    });
    expect(t.data.stopOrderId).toBe(stops[0]?.id);
    expect(t.data.executionStartedAt).toBe(T0);
    expect(a.started).toEqual([id]);
    const events = (await a.store.listEvents(id)).map((e) => `${e.type}:${e.toStatus}`);
    expect(events).toEqual([
      'CREATED:PENDING',
      'RECON_ADOPTED_ENTERING:ENTERING',
      'RECON_ADOPTED:LIVE',
      'RECON_EXECUTION_STARTED:LIVE',
    ]);
    // The stored trade reads back as the tracked position with its stop.
    expect(tableViewOf(t).stop?.price.toFixed()).toBe('1995.9');
  });

  it('settles a trade whose stop filled on the exchange, with the PnL from the fills, and ends its live wait', async () => {
    const a = account();
    const { tradeId, stopOrderId } = await liveTrade(a, {
      tradeId: 't',
      symbol: BTC,
      side: 'long',
      qty: '0.01',
      entry: '50000',
      stop: '49500',
      liveWait: true,
    });
    a.ex.setPrice(BTC, '49500');
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${BTC} POSITION_GONE`]);
    expect(types(r)).toEqual(['SETTLE_TRADE:applied']);
    const action = r.actions[0]?.action;
    if (action?.type !== 'SETTLE_TRADE') throw new Error('expected SETTLE_TRADE');
    // (49500 − 50000) × 0.01 − taker fee 0.0005 × 0.01 × 49500 = −5 − 0.2475
    expect(action.realizedPnl?.toFixed()).toBe('-5.2475');
    expect(action.reason).toBe('stop-hit');
    expect(a.liveWaitCalls).toHaveLength(1);
    expect(a.liveWaitCalls[0]?.decision).toMatchObject({
      reason: 'STOP_HIT',
      positionOpen: false,
      decidedBy: 'reconciler',
    });
    expect(a.liveWaitCalls[0]?.decision.detail).toContain('realized PnL -5.2475 at 49500');
    const t = await trade(a, tradeId);
    expect(t.status).toBe('LIVE'); // the execution settles and closes it
    expect(t.data.reconSettlement).toMatchObject({
      reason: 'STOP_HIT',
      realizedPnl: '-5.2475',
      exitPrice: '49500',
      closedQty: '0.01',
    });
    expect(t.data.exit).toMatchObject({ reason: 'STOP_HIT', filledQty: '0.01', avgPrice: '49500' });
    expect(a.ex.snapshot().orders.find((o) => o.id === stopOrderId)?.status).toBe('closed');
  });

  it('settles a trade closed by hand and cancels its orphaned stop; without a live wait the trade is CLOSED', async () => {
    const a = account();
    const { tradeId, stopOrderId } = await liveTrade(a, {
      tradeId: 't',
      symbol: BTC,
      side: 'long',
      qty: '0.01',
      entry: '50000',
      stop: '49500',
    });
    a.ex.setPrice(BTC, '50200');
    a.ex.closePositionExternally(BTC);
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${BTC} POSITION_GONE`, `${BTC} ORPHANED_STOP`]);
    expect(types(r)).toEqual(['SETTLE_TRADE:applied', 'CANCEL_ORDER:applied']);
    const settle = r.actions[0]?.action;
    if (settle?.type !== 'SETTLE_TRADE') throw new Error('expected SETTLE_TRADE');
    expect(settle.realizedPnl?.toFixed()).toBe('2'); // (50200 − 50000) × 0.01, no fee on a manual close
    expect(settle.reason).toBe('closed-externally');
    expect(a.liveWaitCalls).toHaveLength(0);
    const t = await trade(a, tradeId);
    expect(t.status).toBe('CLOSED');
    expect(t.data.reconSettlement).toMatchObject({
      reason: 'CLOSED_EXTERNALLY',
      realizedPnl: '2',
      exitPrice: '50200',
    });
    expect(a.ex.snapshot().orders.find((o) => o.id === stopOrderId)?.status).toBe('canceled');
    const events = (await a.store.listEvents(tradeId)).map((e) => e.type);
    expect(events.slice(-2)).toEqual(['RECON_SETTLED', 'RECON_ORDER_CANCELLED']);
  });

  it('after a partial close fixes the quantity and resizes the stop (create before cancel)', async () => {
    const a = account();
    const { tradeId, stopOrderId } = await liveTrade(a, {
      tradeId: 't',
      symbol: BTC,
      side: 'long',
      qty: '0.02',
      entry: '50000',
      stop: '49500',
    });
    a.ex.closePositionExternally(BTC, '0.005');
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${BTC} QTY_MISMATCH`, `${BTC} STOP_QTY_MISMATCH`]);
    expect(types(r)).toEqual(['REPLACE_STOP:applied', 'FIX_QUANTITY:applied']);
    const open = a.ex.snapshot().openOrders;
    expect(open).toHaveLength(1);
    expect(open[0]?.qty.toFixed()).toBe('0.015');
    expect(open[0]?.triggerPrice?.toFixed()).toBe('49500');
    expect(a.ex.snapshot().orders.find((o) => o.id === stopOrderId)?.status).toBe('canceled');
    const t = await trade(a, tradeId);
    expect(t.data.position).toMatchObject({
      remainingQty: '0.015',
      initialQty: '0.02',
      entryPrice: '50000',
      stop: '49500',
    });
    expect((await a.store.listEvents(tradeId)).at(-2)?.data.placedStop).toMatchObject({
      orderId: open[0]?.id,
      qty: '0.015',
      price: '49500',
    });
    expect(t.data.stopOrderId).toBe(open[0]?.id);
    const events = (await a.store.listEvents(tradeId)).map((e) => e.type);
    expect(events.slice(-2)).toEqual(['RECON_STOP_REPLACED', 'RECON_QTY_FIXED']);
  });

  it('re-places a cancelled stop at once, at the recorded price', async () => {
    const a = account();
    const { tradeId, stopOrderId } = await liveTrade(a, {
      tradeId: 't',
      symbol: SOL,
      side: 'long',
      qty: '10',
      entry: '20',
      stop: '19.5',
    });
    a.ex.cancelOrderExternally(stopOrderId);
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${SOL} MISSING_STOP`]);
    expect(types(r)).toEqual(['PLACE_STOP:applied']);
    const open = a.ex.snapshot().openOrders;
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ kind: 'stop', side: 'sell', reduceOnly: true });
    expect(open[0]?.qty.toFixed()).toBe('10');
    expect(open[0]?.triggerPrice?.toFixed()).toBe('19.5');
    const t = await trade(a, tradeId);
    expect(t.data.stopOrderId).toBe(open[0]?.id);
    expect(open[0]?.clientOrderId).toBe(clientOrderId(tradeId, 'stop', t.data.stopSeq as number));
    expect(t.data.position).toMatchObject({ stop: '19.5', remainingQty: '10' });
    const last = (await a.store.listEvents(tradeId)).at(-1);
    expect(last?.type).toBe('RECON_STOP_PLACED');
    expect(last?.data.placedStop).toMatchObject({ orderId: open[0]?.id, price: '19.5', qty: '10' });
    // The next run reads the new stop as the recorded one: nothing to do.
    expect((await a.reconciler().run({ accountId: a.accountId, dryRun: true })).findings).toEqual([]);
  });

  it('cancels a stale entry order that no trade owns, recording it in the report only', async () => {
    const a = account();
    const order = await a.ex.createOrder({
      symbol: SOL,
      side: 'buy',
      kind: 'limit',
      qty: new D('1'),
      price: new D('15'),
      reduceOnly: false,
      clientOrderId: 'manual-1',
    });
    a.clock.advance(60_001);
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${SOL} STALE_ENTRY_ORDER`]);
    expect(types(r)).toEqual(['CANCEL_ORDER:applied']);
    expect(r.actions[0]?.detail).toContain('no trade: recorded in this report');
    expect(a.ex.snapshot().orders.find((o) => o.id === order.id)?.status).toBe('canceled');
  });

  it('cancels an orphaned reduce-only stop with no position', async () => {
    const a = account();
    const order = await a.ex.createOrder({
      symbol: DOGE,
      side: 'sell',
      kind: 'stop',
      qty: new D('100'),
      triggerPrice: new D('0.09'),
      reduceOnly: true,
      clientOrderId: 'manual-stop-1',
    });
    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(kinds(r)).toEqual([`${DOGE} ORPHANED_STOP`]);
    expect(types(r)).toEqual(['CANCEL_ORDER:applied']);
    expect(a.ex.snapshot().orders.find((o) => o.id === order.id)?.status).toBe('canceled');
  });
});

describe('reconciler: runs', () => {
  it('a dry run changes nothing: only exchange reads and the stored report', async () => {
    const a = account();
    const { btc, sol, doge, op } = await allDrift(a);
    const ids = [btc.tradeId, sol.tradeId, doge.tradeId, op.tradeId];
    const exBefore = JSON.stringify(a.ex.snapshot());
    const tableBefore = await tableSnapshot(a, ids);
    const storeCalls: string[] = [];
    const exCalls: string[] = [];
    const store = recording<TradeStore>(a.store, storeCalls);
    const exchange = recording<ExchangePort>(a.ex, exCalls);
    const r = await a
      .reconciler({ store, exchange, executor: a.executorFor(exchange, store) })
      .run({ accountId: a.accountId, dryRun: true, runId: 'dry-1' });
    expect(kinds(r)).toEqual([
      `${BTC} POSITION_GONE`,
      `${BTC} STALE_ENTRY_ORDER`,
      `${DOGE} MISSING_STOP`,
      `${ETH} UNTRACKED_POSITION`,
      `${ETH} MISSING_STOP`,
      `${OP} POSITION_GONE`,
      `${OP} ORPHANED_STOP`,
      `${SOL} QTY_MISMATCH`,
      `${SOL} STOP_QTY_MISMATCH`,
    ]);
    expect(r.actions.every((x) => x.status === 'planned')).toBe(true);
    expect(r.actions.map((x) => x.action.type)).toEqual([
      'PLACE_STOP',
      'ADOPT_POSITION',
      'REPLACE_STOP',
      'SETTLE_TRADE',
      'SETTLE_TRADE',
      'FIX_QUANTITY',
      'CANCEL_ORDER',
      'CANCEL_ORDER',
    ]);
    expect(storeCalls.filter((m) => STORE_WRITES.has(m))).toEqual(['putReconReport']);
    expect(exCalls.filter((m) => !EXCHANGE_READS.has(m))).toEqual([]);
    expect(JSON.stringify(a.ex.snapshot())).toBe(exBefore);
    expect(await tableSnapshot(a, ids)).toEqual(tableBefore);
    expect(a.liveWaitCalls).toHaveLength(0);
    expect(a.started).toHaveLength(0);
    expect(r.mismatches).toBe(9);
    expect(a.metrics).toEqual([{ name: RECON_METRIC, n: 9 }]);
    const stored = await a.store.listReconReports(a.accountId);
    expect(stored.map((x) => x.runId)).toEqual(['dry-1']);
    expect(stored[0]?.report).toMatchObject({ dryRun: true, mismatches: 9, runId: 'dry-1' });
  });

  it('apply fixes every drift; a dry run afterwards finds nothing', async () => {
    const a = account();
    const { btc } = await allDrift(a);
    const applied = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(applied.actions.map((x) => x.status)).toEqual(Array(8).fill('applied'));
    expect(applied.summary).toMatchObject({ findings: 9, applied: 8, skipped: 0, failed: 0 });
    const again = await a.reconciler().run({ accountId: a.accountId, dryRun: true });
    expect(again.findings).toEqual([]);
    expect(again.actions).toEqual([]);
    // The BTC trade's live wait was ended with STOP_HIT; its execution (faked here) closes it.
    expect(again.awaitingExecution).toEqual([btc.tradeId]);
    expect(a.metrics.map((m) => m.n)).toEqual([9, 0]);
    await assertNoDuplicates(a);
  });

  it('two reconcilers at once: the second waits for the lease, re-plans, and finds nothing; each action once', async () => {
    const a = account();
    await allDrift(a);
    const [r1, r2] = await Promise.all([
      a.reconciler().run({ accountId: a.accountId, dryRun: false, runId: 'run-a' }),
      a.reconciler().run({ accountId: a.accountId, dryRun: false, runId: 'run-b' }),
    ]);
    const reports = [r1, r2].sort((x, y) => y.findings.length - x.findings.length);
    expect(reports[0]?.summary).toMatchObject({ applied: 8, failed: 0 });
    expect(reports[1]?.findings).toEqual([]);
    expect(reports[1]?.actions).toEqual([]);
    await assertNoDuplicates(a);
    expect(a.started).toHaveLength(1);
    expect((await a.reconciler().run({ accountId: a.accountId, dryRun: true })).findings).toEqual([]);
  });

  it('a reconciler that cannot get the lease within the wait applies nothing and reports busy', async () => {
    const a = account();
    await allDrift(a);
    const holder = await a.store.acquireLease({ name: `RECON#${a.accountId}` }, 'other-run', 60_000);
    expect(holder.acquired).toBe(true);
    const exCalls: string[] = [];
    const exchange = recording<ExchangePort>(a.ex, exCalls);
    const r = await a
      .reconciler({ exchange, executor: a.executorFor(exchange) }, { leaseWaitMs: 30 })
      .run({ accountId: a.accountId, dryRun: false });
    expect(r.busy).toMatchObject({ holder: 'other-run' });
    expect(r.actions.map((x) => x.status)).toEqual(Array(8).fill('skipped'));
    expect(exCalls.filter((m) => !EXCHANGE_READS.has(m))).toEqual([]);
  });

  it('a crash in the middle of apply, then a re-run, completes without duplicates', async () => {
    const a = account();
    await allDrift(a);
    // The second protective call reaches the exchange (the order is accepted), then the run "crashes".
    let calls = 0;
    const crashing = new Proxy(a.executor, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (prop !== 'protectOrExit' || typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          const result: unknown = await (v as (...x: unknown[]) => Promise<unknown>).apply(t, args);
          if (++calls === 2) throw new Error('simulated crash after the order was sent');
          return result;
        };
      },
    });
    const first = await a.reconciler({ executor: crashing }).run({ accountId: a.accountId, dryRun: false });
    expect(first.actions.map((x) => x.status)).toEqual([
      'applied',
      'failed',
      'applied',
      'applied',
      'applied',
      'applied',
      'applied',
      'applied',
    ]);
    expect(first.actions[1]?.detail).toContain('simulated crash');
    const second = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(second.summary.failed).toBe(0);
    await assertNoDuplicates(a);
    expect((await a.reconciler().run({ accountId: a.accountId, dryRun: true })).findings).toEqual([]);
    const adopted = adoptedTradeId(a.accountId, ETH, 'long', new D('2000'));
    expect((await trade(a, adopted)).status).toBe('LIVE');
    expect(a.started).toContain(adopted);
  });
});

describe('reconciler: trades closed wholly or partly outside the engine', () => {
  /** The lifecycle tasks' ports as `settle` uses them (store, clock, the account's exchange). */
  function lifecycle(a: Account): LifecycleDeps {
    const unused = () => Promise.reject(new Error('not used by settle'));
    return {
      store: a.store,
      clock: a.clock,
      workflow: { startExecution: unused, sendTaskSuccess: unused, sendTaskFailure: unused },
      config: { getConfig: unused },
      accounts: { account: () => Promise.resolve({ exchange: a.ex, executor: a.executor }) },
    };
  }

  /**
   * A LIVE trade entered by the engine: a market entry through the executor (its intent recorded, taker
   * fee), its stop through the executor, and the trade record as the order executor leaves it.
   */
  async function enteredTrade(a: Account, spec: TradeSpec): Promise<{ tradeId: string; entryFee: string }> {
    const tradeId = `${a.accountId}-${spec.tradeId}`;
    const entry = await a.executor.enter({
      tradeId,
      symbol: spec.symbol,
      side: spec.side,
      qty: new D(spec.qty),
      type: 'market',
      referencePrice: new D(spec.entry),
    });
    if (entry.status !== 'filled') throw new Error(`set-up entry not filled: ${entry.status}`);
    expect(entry.avgPrice?.toFixed()).toBe(spec.entry);
    await liveTrade(a, spec, { clientOrderId: entry.clientOrderId, orderId: entry.order.id });
    return { tradeId, entryFee: (entry.order.fee ?? new D(0)).toFixed() };
  }

  /** Realized PnL of a long from fills, computed here: Σ sells − Σ buys (qty × price) − Σ fees. */
  function longPnlOf(fills: { side: string; qty: Decimal; price: Decimal; fee: Decimal }[]): Decimal {
    let pnl = new D(0);
    for (const f of fills) {
      const value = f.qty.mul(f.price);
      pnl = (f.side === 'sell' ? pnl.plus(value) : pnl.minus(value)).minus(f.fee);
    }
    return pnl;
  }

  it('a full close by hand: the reconciler records the close fill as external, settle() realizes the exact PnL', async () => {
    const a = account();
    a.ex.setPrice(SOL, '20.13');
    const { tradeId, entryFee } = await enteredTrade(a, {
      tradeId: 'full',
      symbol: SOL,
      side: 'long',
      qty: '10',
      entry: '20.13',
      stop: '19.5',
      liveWait: true,
    });
    expect(entryFee).toBe('0.10065'); // 0.0005 × 10 × 20.13
    a.clock.advance(60_000);
    a.ex.setPrice(SOL, '20.87');
    const close = await a.ex.createOrder({
      symbol: SOL,
      side: 'sell',
      kind: 'market',
      qty: new D('10'),
      reduceOnly: true,
      clientOrderId: 'web-close-1',
    });
    const closedAt = a.clock.now();

    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(types(r)).toEqual(['SETTLE_TRADE:applied', 'CANCEL_ORDER:applied']);
    const action = r.actions[0]?.action;
    if (action?.type !== 'SETTLE_TRADE') throw new Error('expected SETTLE_TRADE');
    expect(action.externalFills.map((f) => [f.orderId, f.qty.toFixed(), f.price.toFixed()])).toEqual([
      [close.id, '10', '20.87'],
    ]);
    expect(r.actions[0]?.detail).toContain('closed outside the engine by 1 fill (10 @ 20.87)');
    const recorded = [
      {
        orderId: close.id,
        clientOrderId: 'web-close-1',
        side: 'sell',
        qty: '10',
        price: '20.87',
        fee: '0.10435', // 0.0005 × 10 × 20.87
        at: closedAt,
        action: 'SETTLE_TRADE',
      },
    ];
    expect((await trade(a, tradeId)).data.externalFills).toMatchObject(recorded);
    // Written in the settlement's own audit event.
    const settledEvent = (await a.store.listEvents(tradeId)).find((e) => e.type === 'RECON_SETTLED');
    expect(settledEvent?.data.externalFills).toMatchObject(recorded);
    expect(settledEvent?.commandId).toBe(`recon:settle:${tradeId}`);

    // A second apply (the trade awaits its execution) adds nothing.
    await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect((await trade(a, tradeId)).data.externalFills).toHaveLength(1);

    const settlement = await settle(lifecycle(a), tradeId);
    const fills = await a.ex.fetchMyTrades(SOL, 0);
    expect(fills).toHaveLength(2); // the entry and the close by hand; the stop never filled
    const expected = longPnlOf(fills);
    expect(expected.toFixed()).toBe('7.195'); // (20.87 − 20.13) × 10 − 0.10065 − 0.10435
    expect(settlement).toMatchObject({
      realizedPnl: expected.toFixed(),
      fees: '0.205',
      entryQty: '10',
      exitQty: '10',
      avgExit: '20.87',
      fills: 2,
      externalFills: 1,
    });
    const t = await trade(a, tradeId);
    expect(t.status).toBe('CLOSED');
    expect(realizedPnlOf(t)?.toFixed()).toBe('7.195');
    // settle() closed the trade (its live wait had ended) and kept the exit the reconciler recorded.
    expect((await a.store.listEvents(tradeId)).map((e) => e.type).slice(-2)).toEqual([
      'POSITION_GONE',
      'SETTLED',
    ]);
    expect(t.data.exit).toMatchObject({ reason: 'CLOSED_EXTERNALLY', filledQty: '10', avgPrice: '20.87' });

    // Settling again, and reconciling again, change nothing.
    expect(await settle(lifecycle(a), tradeId)).toEqual(settlement);
    const again = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(again.actions).toEqual([]);
    expect((await trade(a, tradeId)).data.externalFills).toHaveLength(1);
    await assertNoDuplicates(a);
  });

  it('a partial close by hand (4 of 10), then the engine closes the other 6: settle() realizes the exact PnL of all 10', async () => {
    const a = account();
    a.ex.setPrice(SOL, '20.13');
    const { tradeId } = await enteredTrade(a, {
      tradeId: 'part',
      symbol: SOL,
      side: 'long',
      qty: '10',
      entry: '20.13',
      stop: '19.5',
    });
    // By hand: 1 closed in the exchange's UI (no fee), then 3 with a market order (taker fee).
    a.clock.advance(10_000);
    a.ex.setPrice(SOL, '20.5');
    a.ex.closePositionExternally(SOL, '1');
    const oneAt = a.clock.now();
    a.clock.advance(10_000);
    a.ex.setPrice(SOL, '20.61');
    const hand = await a.ex.createOrder({
      symbol: SOL,
      side: 'sell',
      kind: 'market',
      qty: new D('3'),
      reduceOnly: true,
      clientOrderId: 'web-close-3',
    });
    const threeAt = a.clock.now();
    a.clock.advance(10_000);

    const r = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(types(r)).toEqual(['REPLACE_STOP:applied', 'FIX_QUANTITY:applied']);
    const fix = r.actions[1]?.action;
    if (fix?.type !== 'FIX_QUANTITY') throw new Error('expected FIX_QUANTITY');
    expect([fix.from.toFixed(), fix.to.toFixed(), fix.unattributedQty.toFixed()]).toEqual(['10', '6', '0']);
    expect(r.actions[1]?.detail).toContain(
      '4 of the 4 closed outside the engine recorded as external fills: 2 fills (3 @ 20.61, 1 @ 20.5)',
    );
    const recorded = [
      {
        orderId: hand.id,
        clientOrderId: 'web-close-3',
        side: 'sell',
        qty: '3',
        price: '20.61',
        fee: '0.030915',
        at: threeAt,
      },
      { side: 'sell', qty: '1', price: '20.5', fee: '0', at: oneAt, action: 'FIX_QUANTITY' },
    ];
    let t = await trade(a, tradeId);
    expect(t.data.externalFills).toMatchObject(recorded);
    expect(t.data.position).toMatchObject({ remainingQty: '6' });
    const fixEvent = (await a.store.listEvents(tradeId)).at(-1);
    expect(fixEvent?.type).toBe('RECON_QTY_FIXED');
    expect(fixEvent?.commandId).toBe(`recon:fixqty:${tradeId}:10:6`);
    expect(fixEvent?.data.externalFills).toMatchObject(recorded);

    // Reconciling again finds nothing and records nothing more.
    const again = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(again.findings).toEqual([]);
    expect((await trade(a, tradeId)).data.externalFills).toHaveLength(2);

    // The engine closes the remaining 6 (a reduce-only market exit, its intent recorded for the trade).
    a.ex.setPrice(SOL, '19.9');
    const exit = await a.executor.exit({
      tradeId,
      symbol: SOL,
      positionSide: 'long',
      qty: new D('6'),
      seq: 1,
    });
    if (exit.status !== 'exited') throw new Error(`exit ${exit.status}`);
    a.clock.advance(10_000);

    // A reconciliation before the execution settles: the exit is the trade's own, the hand fills are
    // already attributed — nothing new is recorded as external.
    const gone = await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    expect(types(gone)).toEqual(['SETTLE_TRADE:applied', 'CANCEL_ORDER:applied']);
    const st = gone.actions[0]?.action;
    if (st?.type !== 'SETTLE_TRADE') throw new Error('expected SETTLE_TRADE');
    expect(st.externalFills).toEqual([]);
    expect(st.closedQty.toFixed()).toBe('6');
    t = await trade(a, tradeId);
    expect(t.status).toBe('CLOSED');
    expect(t.data.externalFills).toHaveLength(2);

    const settlement = await settle(lifecycle(a), tradeId);
    const fills = await a.ex.fetchMyTrades(SOL, 0);
    expect(fills).toHaveLength(4); // entry 10, by hand 1 and 3, the engine's exit 6
    const expected = longPnlOf(fills);
    // 6 × 19.9 + 3 × 20.61 + 1 × 20.5 − 10 × 20.13 − (0.10065 + 0.030915 + 0 + 0.0597)
    expect(expected.toFixed()).toBe('0.238735');
    expect(settlement).toMatchObject({
      realizedPnl: expected.toFixed(),
      grossPnl: '0.43',
      fees: '0.191265',
      entryQty: '10',
      exitQty: '10',
      fills: 4,
      externalFills: 2,
    });
    expect(realizedPnlOf(await trade(a, tradeId))?.toFixed()).toBe('0.238735');
    await assertNoDuplicates(a);
  });

  it('an adopted position closed by the engine: settle() takes the adopted position as the entry', async () => {
    const a = account();
    a.ex.openPositionExternally(ETH, 'long', '0.5', '2000');
    await a.reconciler().run({ accountId: a.accountId, dryRun: false });
    const id = adoptedTradeId(a.accountId, ETH, 'long', new D('2000'));
    expect((await trade(a, id)).status).toBe('LIVE');
    a.clock.advance(60_000);
    a.ex.setPrice(ETH, '2010');
    const exit = await a.executor.exit({
      tradeId: id,
      symbol: ETH,
      positionSide: 'long',
      qty: new D('0.5'),
      seq: 1,
    });
    if (exit.status !== 'exited') throw new Error(`exit ${exit.status}`);

    const settlement = await settle(lifecycle(a), id);
    // Entry 0.5 @ 2000 (opened by hand, no fee known); the engine's exit 0.5 @ 2010, taker fee
    // 0.0005 × 0.5 × 2010 = 0.5025: 0.5 × 10 − 0.5025.
    expect(settlement).toMatchObject({
      realizedPnl: '4.4975',
      grossPnl: '5',
      fees: '0.5025',
      entryQty: '0.5',
      exitQty: '0.5',
      avgEntry: '2000',
      avgExit: '2010',
      adoptedEntry: true,
    });
    expect(realizedPnlOf(await trade(a, id))?.toFixed()).toBe('4.4975');
  });

  it('a partial close no fill explains: nothing is recorded and the detail says the PnL of that part is unknown', async () => {
    const a = account();
    a.ex.setPrice(SOL, '20');
    const { tradeId } = await enteredTrade(a, {
      tradeId: 'nofill',
      symbol: SOL,
      side: 'long',
      qty: '10',
      entry: '20',
      stop: '19.5',
    });
    a.ex.closePositionExternally(SOL, '4');
    // The exchange's fill list does not show the close (e.g. older than what it returns).
    const exchange = new Proxy(a.ex, {
      get(t, prop, receiver) {
        if (prop === 'fetchMyTrades')
          return async (symbol: string, since?: number) =>
            (await t.fetchMyTrades(symbol, since)).filter((f) => f.side === 'buy');
        return Reflect.get(t, prop, receiver) as unknown;
      },
    });
    const r = await a.reconciler({ exchange }).run({ accountId: a.accountId, dryRun: false });
    expect(types(r)).toEqual(['REPLACE_STOP:applied', 'FIX_QUANTITY:applied']);
    expect(r.actions[1]?.detail).toContain(
      'no fill explains the 4 closed outside the engine: nothing recorded, PnL of that part unknown',
    );
    const t = await trade(a, tradeId);
    expect(t.data.externalFills).toBeUndefined();
    expect(t.data.position).toMatchObject({ remainingQty: '6' });
  });
});
