/**
 * The fault matrix: each injected fault × each operation (entry, stop placement, stop replacement, exit),
 * on the paper exchange and the real trade store (dynalite). Every cell asserts the three capital-safety
 * invariants after the operation completes or fails:
 * - no double order: at most one order ever carries a given client order id;
 * - no position without a stop: every open position has a live reduce-only stop covering it (or was exited);
 * - no lost intent: every order on the exchange has an ACKED intent with its exchange id, every REJECTED
 *   intent has no order, and no intent is left unsettled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import type { FaultRule, PaperExchange } from '../../functions/adapters/paper/paper-exchange.js';
import { D } from '../../functions/core/decimal.js';
import { CircuitBreaker } from '../../functions/services/circuit-breaker.js';
import { OrderExecutor } from '../../functions/services/order-executor.js';
import { ManualClock, startEmulators } from '../support/emulators.js';
import type { Emulators } from '../support/emulators.js';
import { BTC, paper } from './paper-support.js';

let emu: Emulators;
let store: DynamoTradeStore;
const storeClock = new ManualClock(1_700_000_000_000);

beforeAll(async () => {
  emu = await startEmulators();
  store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock: storeClock });
});
afterAll(async () => {
  await emu.stop();
});

type Op = 'entry' | 'stop placement' | 'stop replacement' | 'exit';
type Expect = 'protected' | 'flat';

interface FaultCase {
  name: string;
  rules: FaultRule[];
  /** Faults the exchange refuses for good (never-retry): the operation cannot succeed. */
  refused?: boolean;
}

const onCreate = (r: FaultRule): FaultRule => ({ method: 'createOrder', ...r });

const FAULTS: FaultCase[] = [
  { name: 'latency 2 s (simulated clock)', rules: [onCreate({ kind: 'latency', ms: 2000 })] },
  { name: 'latency beyond the call timeout', rules: [onCreate({ kind: 'latency', ms: 150, real: true })] },
  { name: 'response lost after acceptance', rules: [onCreate({ kind: 'lost-response' })] },
  { name: '5xx before acceptance', rules: [onCreate({ kind: '5xx' })] },
  { name: '5xx after acceptance', rules: [onCreate({ kind: '5xx', accepted: true })] },
  { name: '429 rate limited', rules: [onCreate({ kind: '429' })] },
  {
    name: 'not found after create (response lost)',
    rules: [onCreate({ kind: 'lost-response' }), { kind: 'not-found-after-create', lookups: 2 }],
  },
  { name: 'would trigger immediately', rules: [{ kind: 'would-trigger-immediately' }], refused: true },
  { name: 'insufficient funds', rules: [{ kind: 'insufficient-funds' }], refused: true },
];

const OPS: Op[] = ['entry', 'stop placement', 'stop replacement', 'exit'];

/** What the account must look like after the operation. */
function expected(op: Op, fault: FaultCase): Expect {
  if (!fault.refused) return op === 'exit' ? 'flat' : 'protected';
  switch (op) {
    case 'entry':
      return 'flat'; // entry refused: nothing opened
    case 'stop placement':
      return 'flat'; // the stop cannot be placed → exit at market
    case 'stop replacement':
      // price is through the new stop → exit at market; otherwise the old stop stays
      return fault.rules.some((r) => r.kind === 'would-trigger-immediately') ? 'flat' : 'protected';
    case 'exit':
      return 'protected'; // the exit is refused, the stop stays
  }
}

let cell = 0;

async function runCell(op: Op, fault: FaultCase) {
  const { ex, clock } = paper();
  const tradeId = `matrix-${++cell}-${op.replace(/\s/g, '')}`;
  const executor = new OrderExecutor({
    exchange: ex,
    store,
    clock,
    breaker: new CircuitBreaker({ store, clock, scope: `acct-matrix-${cell}` }),
    settings: { callTimeoutMs: 50 },
    sleep: (ms) => {
      clock.advance(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
  });
  const qty = new D('0.01');
  const base = { tradeId, symbol: BTC, positionSide: 'long' as const, qty };
  const enter = () =>
    executor.enter({
      tradeId,
      symbol: BTC,
      side: 'long',
      qty,
      type: 'market',
      referencePrice: new D('50000'),
    });

  let outcome: unknown;
  const arm = () => fault.rules.forEach((r) => ex.faults.add(r));
  try {
    if (op === 'entry') {
      arm();
      const entry = await enter();
      if (entry.status === 'filled' || entry.status === 'partial') {
        outcome = await executor.protectOrExit({
          ...base,
          qty: entry.filledQty,
          stopPrice: new D('49000'),
          seq: 0,
        });
      } else outcome = entry;
    } else {
      const entry = await enter();
      expect(entry.status).toBe('filled');
      if (op === 'stop placement') {
        arm();
        outcome = await executor.protectOrExit({ ...base, stopPrice: new D('49000'), seq: 0 });
      } else {
        const stop = await executor.placeStop({ ...base, stopPrice: new D('49000'), seq: 0 });
        if (stop.status !== 'placed') throw new Error('set-up stop not placed');
        arm();
        if (op === 'stop replacement') {
          outcome = await executor.protectOrExit({
            ...base,
            stopPrice: new D('49500'),
            seq: 1,
            oldOrderId: stop.order.id,
          });
        } else {
          outcome = await executor.exit({ tradeId, symbol: BTC, positionSide: 'long' });
        }
      }
    }
  } catch (e) {
    outcome = e; // an operation may fail; the invariants must hold anyway
  }
  return { ex, tradeId, outcome };
}

async function assertInvariants(ex: PaperExchange, tradeId: string) {
  const snap = ex.snapshot();
  // 1. No double order.
  const byCid = new Map<string, number>();
  for (const o of snap.orders)
    if (o.clientOrderId) byCid.set(o.clientOrderId, (byCid.get(o.clientOrderId) ?? 0) + 1);
  for (const [cid, count] of byCid) expect(count, `orders with client id ${cid}`).toBeLessThanOrEqual(1);
  // 2. No position without a stop.
  for (const pos of snap.positions) {
    const closing = pos.side === 'long' ? 'sell' : 'buy';
    const stops = snap.openOrders.filter(
      (o) =>
        o.symbol === pos.symbol &&
        o.kind === 'stop' &&
        o.reduceOnly &&
        o.side === closing &&
        o.qty.gte(pos.qty),
    );
    expect(stops.length, `live stops covering ${pos.symbol}`).toBeGreaterThanOrEqual(1);
  }
  // 3. No lost intent.
  const intents = await store.listOrderIntents(tradeId);
  const byIntent = new Map(intents.map((i) => [i.clientOrderId, i]));
  for (const o of snap.orders) {
    const intent = byIntent.get(o.clientOrderId ?? '');
    expect(intent, `intent of order ${o.id} (${o.clientOrderId})`).toBeDefined();
    expect(intent?.status).toBe('ACKED');
    expect(intent?.exchangeOrderId).toBe(o.id);
  }
  for (const i of intents) {
    expect(['ACKED', 'REJECTED'], `intent ${i.clientOrderId} settled`).toContain(i.status);
    if (i.status === 'REJECTED') expect(byCid.get(i.clientOrderId) ?? 0).toBe(0);
  }
  return snap;
}

describe('fault matrix', () => {
  for (const op of OPS) {
    for (const fault of FAULTS) {
      it(`${op} × ${fault.name}`, async () => {
        const { ex, tradeId, outcome } = await runCell(op, fault);
        const snap = await assertInvariants(ex, tradeId);
        expect(snap.faults.length, 'the fault fired').toBeGreaterThanOrEqual(1);
        const want = expected(op, fault);
        if (want === 'flat') {
          expect(snap.positions, JSON.stringify(outcome)).toHaveLength(0);
        } else {
          expect(snap.positions).toHaveLength(1);
          expect(snap.positions[0]?.qty.toFixed()).toBe('0.01');
        }
        if (op === 'stop replacement') {
          const live = snap.openOrders.filter((o) => o.kind === 'stop').map((o) => o.triggerPrice?.toFixed());
          expect(live).toEqual(fault.refused ? ['49000'] : ['49500']);
        }
      });
    }
  }
});
