import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { D, type Decimal, roundToStep, ZERO } from '../../functions/core/decimal.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import {
  adoptedTradeId,
  clientOrderId,
  fnv1a32,
  fnv1a64,
  reconcile,
  type ExchangeFillView,
  type ExchangeOrderView,
  type ExchangePositionView,
  type PlannedAction,
  type ReconcileInput,
  type ReconcileOptions,
  type ReconcileResult,
  type TableTradeView,
} from '../../functions/core/reconciliation.js';
import { sideSign, type MarketRules, type Side } from '../../functions/core/types.js';

const d = (x: string | number): Decimal => new D(x);
const ACC = 'acc-1';
const NOW = 1_700_000_000_000;
const BTC = 'BTC/USDT:USDT';
const ETH = 'ETH/USDT:USDT';
const SOL = 'SOL/USDT:USDT';
const DOGE = 'DOGE/USDT:USDT';
const XRP = 'XRP/USDT:USDT';
const ADA = 'ADA/USDT:USDT';

function market(symbol: string, tick = '0.1', lot = '0.001'): MarketRules {
  return { symbol, tickSize: d(tick), lotStep: d(lot), minQty: d(lot), minNotional: d(5) };
}
const MARKETS: Record<string, MarketRules> = {
  ...Object.fromEntries([BTC, ETH, SOL, XRP, ADA].map((s) => [s, market(s)])),
  [DOGE]: market(DOGE, '0.00001', '1'),
};
const OPTIONS: ReconcileOptions = {
  staleEntryAfterMs: 60_000,
  qtyTolerance: d('0.000001'),
  adoptStopPct: d(2),
  feeRate: d('0.0004'),
  failSafeFraction: d('0.95'),
  adoptMaxLoss: d(3),
};

function trade(over: Partial<TableTradeView> & { tradeId: string }): TableTradeView {
  return {
    accountId: ACC,
    symbol: BTC,
    side: 'long',
    status: 'LIVE',
    qty: d('0.01'),
    entryPrice: d(30000),
    stop: null,
    entryOrder: null,
    maxLoss: d(3),
    ...over,
  };
}
function position(
  symbol: string,
  side: Side,
  qty: string,
  entry: string,
  mark?: string,
): ExchangePositionView {
  return {
    symbol,
    side,
    qty: d(qty),
    entryPrice: d(entry),
    ...(mark !== undefined ? { markPrice: d(mark) } : {}),
  };
}
/** Defaults: a live reduce-only sell stop on BTC placed a second ago. */
function order(over: Partial<ExchangeOrderView> & { id: string }): ExchangeOrderView {
  return {
    symbol: BTC,
    side: 'sell',
    kind: 'stop',
    reduceOnly: true,
    qty: d('0.01'),
    filledQty: ZERO,
    placedAt: NOW - 1_000,
    ...over,
  };
}
function fill(
  over: Partial<ExchangeFillView> & { orderId: string; qty: Decimal; price: Decimal },
): ExchangeFillView {
  return { symbol: BTC, side: 'sell', fee: ZERO, at: NOW - 5_000, ...over };
}

interface Parts {
  table?: TableTradeView[];
  positions?: ExchangePositionView[];
  orders?: ExchangeOrderView[];
  fills?: ExchangeFillView[];
  options?: Partial<ReconcileOptions>;
  now?: number;
}
function input(p: Parts): ReconcileInput {
  return {
    accountId: ACC,
    now: p.now ?? NOW,
    table: p.table ?? [],
    exchange: { positions: p.positions ?? [], openOrders: p.orders ?? [], fills: p.fills ?? [] },
    markets: MARKETS,
    options: { ...OPTIONS, ...p.options },
  };
}

const kinds = (r: ReconcileResult): string[] => r.findings.map((f) => f.kind);
const types = (r: ReconcileResult): string[] => r.actions.map((a) => a.type);
function one<T extends PlannedAction['type']>(
  r: ReconcileResult,
  type: T,
): Extract<PlannedAction, { type: T }> {
  const found = r.actions.filter((a): a is Extract<PlannedAction, { type: T }> => a.type === type);
  expect(found).toHaveLength(1);
  return found[0] as Extract<PlannedAction, { type: T }>;
}

/** Independent oracle of the fail-safe: qty × side × (entry − stop) + feeRate × qty × (entry + stop). */
function oracleLoss(side: Side, entry: Decimal, qty: Decimal, stop: Decimal, feeRate: Decimal): Decimal {
  return qty
    .mul(entry.minus(stop))
    .mul(sideSign(side))
    .plus(feeRate.mul(qty).mul(entry.plus(stop)));
}

const STOP_TYPES = new Set(['PLACE_STOP', 'REPLACE_STOP', 'ADOPT_POSITION', 'CLOSE_POSITION']);

/**
 * Applies a plan the way the executor and the exchange would: orders appear/disappear, positions close at
 * the mark, and the table records what apply writes (stops, adopted trades, settlements, fixed qty).
 */
function applyPlan(inp: ReconcileInput, actions: readonly PlannedAction[]): ReconcileInput {
  let table = [...inp.table];
  let positions = [...inp.exchange.positions];
  let orders = [...inp.exchange.openOrders];
  const fills = [...inp.exchange.fills];
  let n = 0;
  const stopOrder = (
    symbol: string,
    s: { clientOrderId: string; orderSide: 'buy' | 'sell'; qty: Decimal; price: Decimal },
  ) => {
    n += 1;
    const o: ExchangeOrderView = {
      id: `sim-${n}`,
      clientOrderId: s.clientOrderId,
      symbol,
      side: s.orderSide,
      kind: 'stop',
      reduceOnly: true,
      qty: s.qty,
      filledQty: ZERO,
      triggerPrice: s.price,
      placedAt: inp.now,
    };
    orders.push(o);
    return { price: s.price, clientOrderId: s.clientOrderId, exchangeOrderId: o.id, qty: s.qty };
  };
  for (const a of actions) {
    switch (a.type) {
      case 'PLACE_STOP':
      case 'REPLACE_STOP': {
        const record = stopOrder(a.symbol, a);
        if (a.type === 'REPLACE_STOP') orders = orders.filter((o) => o.id !== a.cancelOrderId);
        table = table.map((t) => (t.tradeId === a.tradeId ? { ...t, stop: record } : t));
        break;
      }
      case 'ADOPT_POSITION': {
        const record = stopOrder(a.symbol, a.stop);
        table.push({
          tradeId: a.tradeId,
          accountId: a.accountId,
          symbol: a.symbol,
          side: a.side,
          status: 'LIVE',
          qty: a.qty,
          entryPrice: a.entryPrice,
          stop: record,
          entryOrder: null,
          maxLoss: a.maxLoss,
        });
        break;
      }
      case 'CLOSE_POSITION': {
        const pos = positions.find((p) => p.symbol === a.symbol);
        if (pos === undefined) throw new Error(`close of ${a.symbol} without a position`);
        positions = positions.filter((p) => p.symbol !== a.symbol);
        const rest = pos.qty.minus(a.qty);
        if (rest.gt(0)) positions.push({ ...pos, qty: rest });
        n += 1;
        fills.push({
          orderId: `sim-${n}`,
          clientOrderId: a.clientOrderId,
          symbol: a.symbol,
          side: a.orderSide,
          qty: a.qty,
          price: pos.markPrice ?? pos.entryPrice,
          fee: ZERO,
          at: inp.now,
        });
        table = table.filter((t) => t.tradeId !== a.tradeId); // settled from the close fill
        orders = orders.filter((o) => !a.thenCancel.some((c) => c.orderId === o.id));
        break;
      }
      case 'SETTLE_TRADE':
        table = table.filter((t) => t.tradeId !== a.tradeId);
        break;
      case 'FIX_QUANTITY':
        table = table.map((t) =>
          t.tradeId === a.tradeId
            ? {
                ...t,
                qty: a.to,
                entryPrice: a.entryPrice,
                attributedFills: [...(t.attributedFills ?? []), ...a.externalFills],
              }
            : t,
        );
        break;
      case 'CANCEL_ORDER':
        orders = orders.filter((o) => o.id !== a.orderId);
        break;
      case 'MANUAL_REVIEW':
        break;
    }
  }
  return { ...inp, table, exchange: { positions, openOrders: orders, fills } };
}

// ---------------------------------------------------------------------------------------------------------

describe('client order ids', () => {
  it('FNV-1a matches the reference test vectors (Fowler/Noll/Vo, isthe.com/chongo/tech/comp/fnv)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64('foobar')).toBe(0x85944171f73967e8n);
  });

  it('is <frag>-<purpose>[_<seq>]-<13-char hash>, the same for the same arguments', () => {
    expect(clientOrderId('trade-42', 'stop', 3)).toBe('trade42-stop_3-0rb0ux8aqq82j');
    expect(clientOrderId('trade-42', 'stop')).toBe('trade42-stop-05vlag8sg6yv1');
    expect(clientOrderId('trade-42', 'stop', 3)).toBe(clientOrderId('trade-42', 'stop', 3));
  });

  it('fits 36 characters with the longest purpose and seq by cutting the readable fragment', () => {
    const id = clientOrderId('7f3a9c2e-1b2c-4d5e-8f90-123456789abc', 'rcstop', 4294967295);
    expect(id).toBe('7f3a-rcstop_4294967295-3fwqcvrjq8zqj');
    expect(id).toHaveLength(36);
    const noRoom = clientOrderId('7f3a9c2e', 'abcdefghij', 4294967295);
    expect(noRoom.length).toBeLessThanOrEqual(36);
    expect(noRoom.startsWith('abcdefghij_4294967295-')).toBe(true);
  });

  it('differs when the trade, the purpose or the seq differs, even if the readable fragment is equal', () => {
    const ids = [
      clientOrderId('t-1', 'stop', 1),
      clientOrderId('t1', 'stop', 1),
      clientOrderId('t-1', 'stop', 2),
      clientOrderId('t-1', 'stop'),
      clientOrderId('t-1', 'tp', 1),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects an empty tradeId, a bad purpose and a bad seq', () => {
    expect(() => clientOrderId('', 'stop')).toThrow(/tradeId must be a non-empty string/);
    expect(() => clientOrderId('t', 'Stop')).toThrow(/purpose must be 1–10 lowercase/);
    expect(() => clientOrderId('t', 'take-profit')).toThrow(RangeError);
    expect(() => clientOrderId('t', 'stop', -1)).toThrow(/seq must be an integer from 0 to 4294967295/);
    expect(() => clientOrderId('t', 'stop', 1.5)).toThrow(RangeError);
    expect(() => clientOrderId('t', 'stop', 2 ** 32)).toThrow(RangeError);
  });

  it('property: any trade id, purpose and seq give at most 36 characters of [A-Za-z0-9_-]', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }),
        fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/),
        fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
        (tradeId, purpose, seq) => {
          const id = clientOrderId(tradeId, purpose, seq);
          expect(id.length).toBeLessThanOrEqual(36);
          expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
        },
      ),
    );
  });

  it('gives adopted positions a deterministic trade id from account, symbol, side and entry', () => {
    const id = adoptedTradeId(ACC, BTC, 'long', d(30000));
    expect(id).toBe('adopt-BTCUSDTUSDT-long-25qs6bz27rugd');
    expect(adoptedTradeId(ACC, BTC, 'long', d('30000.0'))).toBe(id);
    expect(adoptedTradeId(ACC, BTC, 'short', d(30000))).not.toBe(id);
    expect(adoptedTradeId('acc-2', BTC, 'long', d(30000))).not.toBe(id);
    expect(adoptedTradeId(ACC, BTC, 'long', d('30000.1'))).not.toBe(id);
  });
});

describe('UNTRACKED_POSITION → ADOPT_POSITION', () => {
  it('adopts a long with a stop at adoptStopPct below entry when that passes the fail-safe', () => {
    const r = reconcile(input({ positions: [position(BTC, 'long', '0.001', '30000', '30100')] }));
    expect(kinds(r)).toEqual(['UNTRACKED_POSITION', 'MISSING_STOP']);
    const a = one(r, 'ADOPT_POSITION');
    expect(a.tradeId).toBe('adopt-BTCUSDTUSDT-long-25qs6bz27rugd');
    expect(a.accountId).toBe(ACC);
    expect(a.qty.toFixed()).toBe('0.001');
    expect(a.entryPrice.toFixed()).toBe('30000');
    expect(a.maxLoss.toFixed()).toBe('3');
    expect(a.stop.price.toFixed()).toBe('29400'); // 30000 × (1 − 2 %)
    expect(a.stop.qty.toFixed()).toBe('0.001');
    expect(a.stop.orderSide).toBe('sell');
    expect(a.stop.tightened).toBe(false);
    // 0.001 × 600 + 0.0004 × 0.001 × (30000 + 29400)
    expect(a.stop.lossIfStopped.toFixed()).toBe('0.62376');
    expect(a.stop.lossLimit.toFixed()).toBe('2.85');
    expect(a.stop.clientOrderId).toMatch(/^adop-rcstop_\d+-[0-9a-z]{13}$/);
    expect(types(r)).toEqual(['ADOPT_POSITION']);
  });

  it('adopts a short with its stop adoptStopPct above entry', () => {
    const r = reconcile(input({ positions: [position(BTC, 'short', '0.001', '30000', '29900')] }));
    const a = one(r, 'ADOPT_POSITION');
    expect(a.stop.price.toFixed()).toBe('30600');
    expect(a.stop.orderSide).toBe('buy');
    expect(a.stop.lossIfStopped.toFixed()).toBe('0.62424'); // 0.6 + 0.0004 × 0.001 × 60600
    expect(a.stop.tightened).toBe(false);
  });

  it('rounds the adopted stop to the tick in the safe direction and the qty down to the lot', () => {
    const long = one(
      reconcile(input({ positions: [position(BTC, 'long', '0.0019', '30000.05')] })),
      'ADOPT_POSITION',
    );
    expect(long.stop.price.toFixed()).toBe('29400.1'); // 29400.049 rounded up
    expect(long.stop.qty.toFixed()).toBe('0.001'); // 0.0019 rounded down
    expect(long.qty.toFixed()).toBe('0.0019'); // the trade records the exchange qty
    const short = one(
      reconcile(input({ positions: [position(BTC, 'short', '0.001', '30000.05')] })),
      'ADOPT_POSITION',
    );
    expect(short.stop.price.toFixed()).toBe('30600'); // 30600.051 rounded down
  });

  it('tightens the adopted long stop to the loosest price the fail-safe allows, with exact prices', () => {
    // 2 % stop: 0.01 × 600 + 0.0004 × 0.01 × 59400 = 6.2376 > 2.85.
    // Limit: (0.01 × 30000 × 1.0004 − 2.85) / (0.01 × 0.9996) = 29738.8955… → up to the tick: 29738.9.
    const r = reconcile(input({ positions: [position(BTC, 'long', '0.01', '30000', '30100')] }));
    const a = one(r, 'ADOPT_POSITION');
    expect(a.stop.tightened).toBe(true);
    expect(a.stop.price.toFixed()).toBe('29738.9');
    expect(a.stop.lossIfStopped.toFixed()).toBe('2.8499556');
    expect(oracleLoss('long', d(30000), d('0.01'), d('29738.8'), OPTIONS.feeRate).toFixed()).toBe(
      '2.8509552',
    );
  });

  it('tightens the adopted short stop downwards, with exact prices', () => {
    // Limit: (0.01 × 30000 × 0.9996 + 2.85) / (0.01 × 1.0004) = 30260.8956… → down to the tick: 30260.8.
    const a = one(
      reconcile(input({ positions: [position(BTC, 'short', '0.01', '30000', '29900')] })),
      'ADOPT_POSITION',
    );
    expect(a.stop.tightened).toBe(true);
    expect(a.stop.price.toFixed()).toBe('30260.8');
    expect(a.stop.lossIfStopped.toFixed()).toBe('2.8490432');
    expect(oracleLoss('short', d(30000), d('0.01'), d('30260.9'), OPTIONS.feeRate).toFixed()).toBe(
      '2.8500436',
    );
  });

  it('counts assumed stop slippage in the fail-safe when the option is given', () => {
    // Limit: 29727 / (0.01 × 0.9998 × 0.9996) / 0.01 = 29744.8445… → 29744.9; fill 29744.9 × 0.9998.
    const a = one(
      reconcile(
        input({
          positions: [position(BTC, 'long', '0.01', '30000', '30100')],
          options: { stopSlippage: d('0.0002') },
        }),
      ),
      'ADOPT_POSITION',
    );
    expect(a.stop.price.toFixed()).toBe('29744.9');
    expect(a.stop.lossIfStopped.toFixed()).toBe('2.84944560408');
  });

  it('closes at market instead when even a stop at the mark would break the fail-safe', () => {
    const tp = order({ id: 'user-tp', kind: 'take-profit', triggerPrice: d(31000) });
    const r = reconcile(
      input({ positions: [position(BTC, 'long', '0.01', '30000', '29700')], orders: [tp] }),
    );
    expect(types(r)).toEqual(['CLOSE_POSITION']);
    const c = one(r, 'CLOSE_POSITION');
    expect(c.tradeId).toBeUndefined();
    expect(c.qty.toFixed()).toBe('0.01');
    expect(c.orderSide).toBe('sell');
    expect(c.reason).toBe(
      'the fail-safe (loss ≤ 2.85) needs a stop at or above 29738.9, which would trigger immediately (mark 29700)',
    );
    expect(c.clientOrderId).toMatch(/^ado-rcclose_\d{10}-[0-9a-z]{13}$/); // 3 characters left for the fragment
    expect(c.thenCancel).toEqual([{ orderId: 'user-tp' }]);
  });

  it('closes at market when the tightened stop lands exactly on the mark (it would trigger at once)', () => {
    const r = reconcile(input({ positions: [position(BTC, 'long', '0.01', '30000', '29738.9')] }));
    expect(types(r)).toEqual(['CLOSE_POSITION']);
  });
});

describe('MISSING_STOP → PLACE_STOP', () => {
  const t1 = trade({
    tradeId: 't1',
    stop: { price: d(29800), clientOrderId: 'old-stop', exchangeOrderId: 'ex-old', qty: d('0.01') },
  });

  it("re-places the stop at the table's price for the exchange qty, with a new deterministic id", () => {
    const r = reconcile(input({ table: [t1], positions: [position(BTC, 'long', '0.01', '30000', '30050')] }));
    expect(kinds(r)).toEqual(['MISSING_STOP']);
    expect(r.findings[0]?.tradeId).toBe('t1');
    const p = one(r, 'PLACE_STOP');
    expect(p.tradeId).toBe('t1');
    expect(p.price.toFixed()).toBe('29800');
    expect(p.qty.toFixed()).toBe('0.01');
    expect(p.orderSide).toBe('sell');
    expect(p.tightened).toBe(false);
    expect(p.lossIfStopped.toFixed()).toBe('2.2392'); // 0.01 × 200 + 0.0004 × 0.01 × 59800
    expect(p.clientOrderId).toMatch(/^t1-rcstop_\d+-[0-9a-z]{13}$/);
    expect(p.clientOrderId).not.toBe('old-stop');
  });

  it('uses adoptStopPct from the exchange entry when the table has no stop', () => {
    const r = reconcile(
      input({
        table: [trade({ tradeId: 't1', maxLoss: d(10) })],
        positions: [position(BTC, 'long', '0.01', '30000')],
      }),
    );
    const p = one(r, 'PLACE_STOP');
    expect(p.price.toFixed()).toBe('29400');
    expect(p.lossIfStopped.toFixed()).toBe('6.2376');
    expect(p.lossLimit.toFixed()).toBe('9.5');
  });

  it("tightens the table's stop when it breaks the fail-safe for the exchange qty", () => {
    const wide = trade({
      tradeId: 't1',
      stop: { price: d(29000), clientOrderId: 'old-stop', qty: d('0.01') },
    });
    const p = one(
      reconcile(input({ table: [wide], positions: [position(BTC, 'long', '0.01', '30000')] })),
      'PLACE_STOP',
    );
    expect(p.tightened).toBe(true);
    expect(p.price.toFixed()).toBe('29738.9');
  });

  it("closes at market when the table's stop is already through the mark", () => {
    const r = reconcile(input({ table: [t1], positions: [position(BTC, 'long', '0.01', '30000', '29750')] }));
    expect(types(r)).toEqual(['CLOSE_POSITION']);
    const c = one(r, 'CLOSE_POSITION');
    expect(c.tradeId).toBe('t1');
    expect(c.reason).toBe('stop 29800 would trigger immediately (mark 29750)');
  });

  it('plans a manual review when the position is below the minimum order qty', () => {
    const r = reconcile(
      input({
        table: [trade({ tradeId: 't1', qty: d('0.0005') })],
        positions: [position(BTC, 'long', '0.0005', '30000')],
      }),
    );
    expect(kinds(r)).toEqual(['MISSING_STOP']);
    expect(types(r)).toEqual(['MANUAL_REVIEW']);
    expect(one(r, 'MANUAL_REVIEW').reason).toContain('below the minimum order qty 0.001');
  });

  it('does not count a non-reduce-only stop, a take-profit or a wrong-side stop as protection', () => {
    const orders = [
      order({ id: 'o1', reduceOnly: false }),
      order({ id: 'o2', kind: 'take-profit' }),
      order({ id: 'o3', side: 'buy' }),
    ];
    const r = reconcile(input({ table: [t1], positions: [position(BTC, 'long', '0.01', '30000')], orders }));
    expect(kinds(r)).toEqual(['MISSING_STOP', 'ORPHANED_STOP']);
    expect(types(r)).toEqual(['PLACE_STOP', 'CANCEL_ORDER']);
    expect(one(r, 'CANCEL_ORDER').orderId).toBe('o3');
  });
});

describe('QTY_MISMATCH and STOP_QTY_MISMATCH', () => {
  const stopA = (qty: string, trigger = '29800') =>
    order({ id: 'ex-1', clientOrderId: 'stopA', qty: d(qty), triggerPrice: d(trigger) });
  const tracked = (qty: string, stopPrice = '29800') =>
    trade({ tradeId: 't1', qty: d(qty), stop: { price: d(stopPrice), clientOrderId: 'stopA', qty: d(qty) } });

  it('after a partial fill: fixes the qty and replaces the stop (create before cancel) for the full qty', () => {
    const r = reconcile(
      input({
        table: [tracked('0.006')],
        positions: [position(BTC, 'long', '0.01', '30000')],
        orders: [stopA('0.006')],
      }),
    );
    expect(kinds(r)).toEqual(['QTY_MISMATCH', 'STOP_QTY_MISMATCH']);
    expect(types(r)).toEqual(['REPLACE_STOP', 'FIX_QUANTITY']);
    const rep = one(r, 'REPLACE_STOP');
    expect(rep.qty.toFixed()).toBe('0.01');
    expect(rep.price.toFixed()).toBe('29800');
    expect(rep.cancelOrderId).toBe('ex-1');
    expect(rep.cancelClientOrderId).toBe('stopA');
    expect(rep.lossIfStopped.toFixed()).toBe('2.2392');
    expect(rep.clientOrderId).toMatch(/^t1-rcstop_\d+-[0-9a-z]{13}$/);
    const fix = one(r, 'FIX_QUANTITY');
    expect([fix.from.toFixed(), fix.to.toFixed(), fix.entryPrice.toFixed()]).toEqual([
      '0.006',
      '0.01',
      '30000',
    ]);
    const mismatch = r.findings.find((f) => f.kind === 'STOP_QTY_MISMATCH');
    expect(mismatch?.detail).toBe('stop ex-1 covers 0.006, the position is 0.01 (0.01 on the lot step)');
  });

  it('after a partial close: shrinks the stop to the remaining qty', () => {
    const r = reconcile(
      input({
        table: [tracked('0.01')],
        positions: [position(BTC, 'long', '0.004', '30000')],
        orders: [stopA('0.01')],
      }),
    );
    const rep = one(r, 'REPLACE_STOP');
    expect(rep.qty.toFixed()).toBe('0.004');
    expect(rep.lossIfStopped.toFixed()).toBe('0.89568'); // 0.004 × 200 + 0.0004 × 0.004 × 59800
    expect(r.findings[0]?.detail).toContain('partly closed');
  });

  it('tightens the replacement when the larger qty makes the old stop price break the fail-safe', () => {
    // At 29600: 0.006 × 400 + … = 2.54304 passes; for 0.01 it is 4.2384 > 2.85 → 29738.9.
    const r = reconcile(
      input({
        table: [tracked('0.006', '29600')],
        positions: [position(BTC, 'long', '0.01', '30000')],
        orders: [stopA('0.006', '29600')],
      }),
    );
    const rep = one(r, 'REPLACE_STOP');
    expect(rep.tightened).toBe(true);
    expect(rep.price.toFixed()).toBe('29738.9');
    expect(rep.qty.toFixed()).toBe('0.01');
  });

  it('ignores a qty difference within the relative tolerance and reports one beyond it', () => {
    const same = reconcile(
      input({
        table: [tracked('0.01')],
        positions: [position(BTC, 'long', '0.0100000001', '30000')],
        orders: [stopA('0.01')],
      }),
    );
    expect(same.findings).toEqual([]);
    const off = reconcile(
      input({
        table: [tracked('0.01')],
        positions: [position(BTC, 'long', '0.01001', '30000')],
        orders: [stopA('0.01')],
      }),
    );
    expect(kinds(off)).toEqual(['QTY_MISMATCH']);
    expect(types(off)).toEqual(['FIX_QUANTITY']);
  });

  it('accepts any live stop that covers the exact qty (e.g. one placed by a crashed apply) over the recorded one', () => {
    const placedButNotRecorded = order({
      id: 'ex-2',
      clientOrderId: 'new-stop',
      qty: d('0.01'),
      triggerPrice: d(29800),
    });
    const r = reconcile(
      input({
        table: [tracked('0.01')],
        positions: [position(BTC, 'long', '0.01', '30000')],
        orders: [stopA('0.006'), placedButNotRecorded],
      }),
    );
    expect(r.findings).toEqual([]);
    expect(r.actions).toEqual([]);
  });
});

describe('SIDE_MISMATCH', () => {
  it('is never fixed automatically: one MANUAL_REVIEW, no stop placed, no stop cancelled', () => {
    const t1 = trade({ tradeId: 't1', stop: { price: d(29800), clientOrderId: 'stopA', qty: d('0.01') } });
    const r = reconcile(
      input({
        table: [t1],
        positions: [position(BTC, 'short', '0.01', '30000')],
        orders: [order({ id: 'ex-1', clientOrderId: 'stopA' })],
      }),
    );
    expect(kinds(r)).toEqual(['SIDE_MISMATCH']);
    expect(types(r)).toEqual(['MANUAL_REVIEW']);
    expect(one(r, 'MANUAL_REVIEW').tradeId).toBe('t1');
    expect(r.findings[0]?.detail).toBe('trade t1 is long 0.01, the exchange position is short 0.01');
    expect(r.summary.tracked).toBe(0);
  });
});

describe('POSITION_GONE → SETTLE_TRADE', () => {
  const withStop = (side: Side, price: string) =>
    trade({
      tradeId: 't1',
      side,
      stop: { price: d(price), clientOrderId: 'stopA', exchangeOrderId: 'ex-stop', qty: d('0.01') },
    });

  it("settles a long as 'stop-hit' from its stop's fill: (29800 − 30000) × 0.01 − 0.1192", () => {
    const fills = [
      fill({ orderId: 'ex-stop', clientOrderId: 'stopA', qty: d('0.01'), price: d(29800), fee: d('0.1192') }),
    ];
    const r = reconcile(input({ table: [withStop('long', '29800')], fills }));
    expect(kinds(r)).toEqual(['POSITION_GONE']);
    expect(types(r)).toEqual(['SETTLE_TRADE']);
    const s = one(r, 'SETTLE_TRADE');
    expect(s.reason).toBe('stop-hit');
    expect(s.exitPrice?.toFixed()).toBe('29800');
    expect(s.realizedPnl?.toFixed()).toBe('-2.1192');
    expect(s.closedQty.toFixed()).toBe('0.01');
  });

  it("recognises the stop's fill by exchange order id too, and mirrors the PnL for a short", () => {
    const fills = [
      fill({ orderId: 'ex-stop', side: 'buy', qty: d('0.01'), price: d(30200), fee: d('0.1208') }),
    ];
    const s = one(reconcile(input({ table: [withStop('short', '30200')], fills })), 'SETTLE_TRADE');
    expect(s.reason).toBe('stop-hit');
    expect(s.realizedPnl?.toFixed()).toBe('-2.1208'); // −(30200 − 30000) × 0.01 − 0.1208
  });

  it("settles 'closed-externally' from hand-made fills: 500 × 0.004 + 600 × 0.006 − fees", () => {
    const fills = [
      fill({ orderId: 'm1', qty: d('0.004'), price: d(30500), fee: d('0.0488'), at: NOW - 9_000 }),
      fill({ orderId: 'm2', qty: d('0.006'), price: d(30600), fee: d('0.07344'), at: NOW - 8_000 }),
      fill({
        orderId: 'entry',
        side: 'buy',
        qty: d('0.01'),
        price: d(30000),
        fee: d('0.12'),
        at: NOW - 99_000,
      }),
    ];
    const s = one(reconcile(input({ table: [withStop('long', '29800')], fills })), 'SETTLE_TRADE');
    expect(s.reason).toBe('closed-externally');
    expect(s.exitPrice?.toFixed()).toBe('30560');
    expect(s.realizedPnl?.toFixed()).toBe('5.47776');
  });

  it('uses only the part of a larger closing fill that the trade held (fee pro rata)', () => {
    const fills = [fill({ orderId: 'm1', qty: d('0.02'), price: d(30100), fee: d('0.2408') })];
    const s = one(reconcile(input({ table: [trade({ tradeId: 't1' })], fills })), 'SETTLE_TRADE');
    expect(s.closedQty.toFixed()).toBe('0.01');
    expect(s.realizedPnl?.toFixed()).toBe('0.8796'); // 100 × 0.01 − 0.2408 / 2
  });

  it("ignores fills before the trade's entry order was placed", () => {
    const t = trade({
      tradeId: 't1',
      status: 'ENTERING',
      qty: d('0.004'),
      entryOrder: { clientOrderId: 'entry-1', placedAt: NOW - 50_000 },
    });
    const fills = [
      fill({ orderId: 'old', qty: d('0.004'), price: d(31000), at: NOW - 60_000 }),
      fill({ orderId: 'new', qty: d('0.004'), price: d(29900), fee: d('0.04784'), at: NOW - 40_000 }),
    ];
    const s = one(reconcile(input({ table: [t], fills })), 'SETTLE_TRADE');
    expect(s.exitPrice?.toFixed()).toBe('29900');
    expect(s.realizedPnl?.toFixed()).toBe('-0.44784'); // −100 × 0.004 − 0.04784
  });

  it('says so and settles at PnL unknown, flagged for manual review, when no closing fill is found', () => {
    const r = reconcile(input({ table: [trade({ tradeId: 't1' })] }));
    expect(types(r)).toEqual(['SETTLE_TRADE', 'MANUAL_REVIEW']);
    const s = one(r, 'SETTLE_TRADE');
    expect(s.realizedPnl).toBeNull();
    expect(s.exitPrice).toBeNull();
    expect(s.reason).toBe('closed-externally');
    expect(r.findings[0]?.detail).toBe(
      'trade t1 (LIVE, long 0.01) has no exchange position; no closing fill was found: PnL unknown',
    );
    expect(one(r, 'MANUAL_REVIEW').reason).toBe('settled with PnL unknown: no closing fill was found');
  });

  it('settles at PnL unknown when the closing fills cover only part of the qty', () => {
    const fills = [fill({ orderId: 'm1', qty: d('0.004'), price: d(30500) })];
    const r = reconcile(input({ table: [trade({ tradeId: 't1' })], fills }));
    const s = one(r, 'SETTLE_TRADE');
    expect(s.realizedPnl).toBeNull();
    expect(s.closedQty.toFixed()).toBe('0.004');
    expect(s.exitPrice?.toFixed()).toBe('30500');
    expect(one(r, 'MANUAL_REVIEW').reason).toBe(
      'settled with PnL unknown: closing fills account for only 0.004 of 0.01',
    );
  });

  it('never plans a stop for a gone position: after a limit exit filled, the leftover stop is cancelled', () => {
    const t1 = withStop('long', '29800');
    const r = reconcile(
      input({
        table: [t1],
        orders: [
          order({ id: 'ex-stop', clientOrderId: 'stopA' }),
          order({ id: 'ex-tp', kind: 'take-profit', triggerPrice: d(31000) }),
        ],
        fills: [
          fill({
            orderId: 'ex-limit',
            clientOrderId: 'tp-1',
            qty: d('0.01'),
            price: d(30600),
            fee: d('0.1224'),
          }),
        ],
      }),
    );
    expect(kinds(r)).toEqual(['POSITION_GONE', 'ORPHANED_STOP', 'ORPHANED_STOP']);
    expect(types(r)).toEqual(['SETTLE_TRADE', 'CANCEL_ORDER', 'CANCEL_ORDER']);
    expect(r.actions.some((a) => STOP_TYPES.has(a.type))).toBe(false);
    expect(one(r, 'SETTLE_TRADE').realizedPnl?.toFixed()).toBe('5.8776');
    const cancels = r.actions.filter((a) => a.type === 'CANCEL_ORDER');
    expect(cancels.map((c) => [c.orderId, c.reason, c.tradeId])).toEqual([
      ['ex-stop', 'orphaned-stop', 't1'],
      ['ex-tp', 'orphaned-stop', undefined],
    ]);
  });
});

describe('external fills: closing fills attributed to a trade that are not its own orders', () => {
  const STOP = { price: d(29800), clientOrderId: 'stopA', exchangeOrderId: 'ex-stop', qty: d('0.01') };
  /** The trade's recorded orders: one known by client id only, one by exchange id. */
  const OWN = [{ clientOrderId: 'exit-cid' }, { clientOrderId: 'tp-cid', exchangeOrderId: 'ex-tp' }];
  const ext = (f: {
    orderId: string;
    clientOrderId?: string;
    side: string;
    qty: Decimal;
    price: Decimal;
    fee: Decimal;
    at: number;
  }) => [
    f.orderId,
    f.clientOrderId ?? null,
    f.side,
    f.qty.toFixed(),
    f.price.toFixed(),
    f.fee.toFixed(),
    f.at,
  ];

  it("SETTLE_TRADE lists the fills it used that are not the trade's: not its stop fill, not its recorded orders", () => {
    const t1 = trade({ tradeId: 't1', stop: STOP, ownOrders: OWN });
    const fills = [
      // the trade's stop (by exchange id): used first
      fill({ orderId: 'ex-stop', qty: d('0.004'), price: d(29800), fee: d('0.04768'), at: NOW - 6_000 }),
      // a recorded exit of the trade (by client id): newest of the others
      fill({
        orderId: 'ex-9',
        clientOrderId: 'exit-cid',
        qty: d('0.002'),
        price: d(30700),
        fee: d('0.02456'),
        at: NOW - 4_000,
      }),
      // by hand
      fill({
        orderId: 'm2',
        clientOrderId: 'web-2',
        qty: d('0.002'),
        price: d(30600),
        fee: d('0.02448'),
        at: NOW - 8_000,
      }),
      fill({ orderId: 'm1', qty: d('0.006'), price: d(30500), fee: d('0.0732'), at: NOW - 9_000 }),
    ];
    const r = reconcile(input({ table: [t1], fills }));
    const s = one(r, 'SETTLE_TRADE');
    expect(s.reason).toBe('stop-hit');
    expect(s.closedQty.toFixed()).toBe('0.01');
    // stop 0.004, exit 0.002, m2 0.002, then 0.002 of m1's 0.006 (a third of its fee)
    const expected = d(-200)
      .mul('0.004')
      .plus(d(700).mul('0.002'))
      .plus(d(600).mul('0.002'))
      .plus(d(500).mul('0.002'))
      .minus(d('0.04768').plus('0.02456').plus('0.02448').plus(d('0.0732').div(3)));
    expect(expected.toFixed()).toBe('2.67888'); // 2.8 − 0.12112
    expect(s.realizedPnl?.toFixed()).toBe(expected.toFixed());
    expect(s.externalFills.map(ext)).toEqual([
      ['m2', 'web-2', 'sell', '0.002', '30600', '0.02448', NOW - 8_000],
      ['m1', null, 'sell', '0.002', '30500', '0.0244', NOW - 9_000],
    ]);
  });

  it('SETTLE_TRADE after a stop hit alone lists no external fill; a recorded order known by exchange id is own too', () => {
    const t1 = trade({ tradeId: 't1', stop: STOP, ownOrders: OWN });
    const fills = [
      fill({ orderId: 'ex-stop', qty: d('0.006'), price: d(29800), at: NOW - 6_000 }),
      fill({ orderId: 'ex-tp', qty: d('0.004'), price: d(30900), at: NOW - 5_000 }),
    ];
    const s = one(reconcile(input({ table: [t1], fills })), 'SETTLE_TRADE');
    expect(s.closedQty.toFixed()).toBe('0.01');
    expect(s.externalFills).toEqual([]);
  });

  it('SETTLE_TRADE never re-uses a fill already attributed to the trade, even the newest', () => {
    const t1 = trade({
      tradeId: 't1',
      qty: d('0.006'),
      attributedFills: [{ orderId: 'h1', at: NOW - 1_000, price: d(30500) }],
    });
    const fills = [
      fill({ orderId: 'h1', qty: d('0.004'), price: d(30500), fee: d('0.0488'), at: NOW - 1_000 }),
      fill({ orderId: 'c1', qty: d('0.006'), price: d(30100), fee: d('0.07224'), at: NOW - 2_000 }),
    ];
    const s = one(reconcile(input({ table: [t1], fills })), 'SETTLE_TRADE');
    expect(s.externalFills.map((f) => f.orderId)).toEqual(['c1']);
    expect(s.exitPrice?.toFixed()).toBe('30100');
    expect(s.realizedPnl?.toFixed()).toBe(d(100).mul('0.006').minus('0.07224').toFixed()); // 0.52776
  });

  it("SETTLE_TRADE ignores fills older than the trade's fillsSince", () => {
    const t1 = trade({ tradeId: 't1', fillsSince: NOW - 10_000 });
    const fills = [
      fill({ orderId: 'old', qty: d('0.01'), price: d(31000), at: NOW - 10_001 }),
      fill({ orderId: 'new', qty: d('0.01'), price: d(29900), at: NOW - 10_000 }),
    ];
    const s = one(reconcile(input({ table: [t1], fills })), 'SETTLE_TRADE');
    expect(s.externalFills.map((f) => f.orderId)).toEqual(['new']);
  });

  describe('FIX_QUANTITY after a partial close outside the engine', () => {
    const stopOrder = (qty: string) =>
      order({ id: 'ex-stop', clientOrderId: 'stopA', qty: d(qty), triggerPrice: d(29800) });
    const partlyClosed = (over: Partial<TableTradeView> = {}) =>
      trade({ tradeId: 't1', stop: STOP, ownOrders: OWN, fillsSince: NOW - 60_000, ...over });

    it("carries the newest non-own closing fills up to the closed qty, the last pro rata, never the trade's own", () => {
      const fills = [
        fill({ orderId: 'ex-tp', qty: d('0.002'), price: d(30900), at: NOW - 1_000 }), // own (recorded)
        fill({ orderId: 'ex-stop', qty: d('0.001'), price: d(29800), at: NOW - 1_500 }), // own (its stop)
        fill({
          orderId: 'h1',
          clientOrderId: 'web-1',
          qty: d('0.003'),
          price: d(30500),
          fee: d('0.0366'),
          at: NOW - 7_000,
        }),
        fill({ orderId: 'h2', qty: d('0.002'), price: d(30400), fee: d('0.02432'), at: NOW - 8_000 }),
        fill({ orderId: 'h0', qty: d('0.004'), price: d(30300), at: NOW - 61_000 }), // before the trade
        fill({ orderId: 'b1', side: 'buy', qty: d('0.004'), price: d(30000), at: NOW - 500 }), // opening side
      ];
      const r = reconcile(
        input({
          table: [partlyClosed()],
          positions: [position(BTC, 'long', '0.006', '30000')],
          orders: [stopOrder('0.01')],
          fills,
        }),
      );
      expect(types(r)).toEqual(['REPLACE_STOP', 'FIX_QUANTITY']);
      const fix = one(r, 'FIX_QUANTITY');
      expect([fix.from.toFixed(), fix.to.toFixed()]).toEqual(['0.01', '0.006']);
      // 0.004 closed: all of h1 (0.003), then 0.001 of h2's 0.002 with half its fee
      expect(fix.externalFills.map(ext)).toEqual([
        ['h1', 'web-1', 'sell', '0.003', '30500', '0.0366', NOW - 7_000],
        ['h2', null, 'sell', '0.001', '30400', '0.01216', NOW - 8_000],
      ]);
      expect(fix.unattributedQty.toFixed()).toBe('0');
    });

    it('does not re-use fills attributed by an earlier fix: a second partial close takes the new fill', () => {
      const fills = [
        fill({ orderId: 'h1', qty: d('0.004'), price: d(30500), at: NOW - 2_000 }),
        fill({ orderId: 'h3', qty: d('0.003'), price: d(30200), fee: d('0.03624'), at: NOW - 3_000 }),
      ];
      const r = reconcile(
        input({
          table: [
            partlyClosed({
              qty: d('0.006'),
              attributedFills: [{ orderId: 'h1', at: NOW - 2_000, price: d(30500) }],
            }),
          ],
          positions: [position(BTC, 'long', '0.003', '30000')],
          orders: [stopOrder('0.003')],
          fills,
        }),
      );
      const fix = one(r, 'FIX_QUANTITY');
      expect(fix.externalFills.map(ext)).toEqual([
        ['h3', null, 'sell', '0.003', '30200', '0.03624', NOW - 3_000],
      ]);
      expect(fix.unattributedQty.toFixed()).toBe('0');
    });

    it('carries nothing and the whole difference as unattributed when no fill explains it; part when few do', () => {
      const base = {
        positions: [position(BTC, 'long', '0.006', '30000')],
        orders: [stopOrder('0.006')],
      };
      const none = one(reconcile(input({ ...base, table: [partlyClosed()] })), 'FIX_QUANTITY');
      expect(none.externalFills).toEqual([]);
      expect(none.unattributedQty.toFixed()).toBe('0.004');
      const few = one(
        reconcile(
          input({
            ...base,
            table: [partlyClosed()],
            fills: [fill({ orderId: 'h1', qty: d('0.001'), price: d(30500), at: NOW - 7_000 })],
          }),
        ),
        'FIX_QUANTITY',
      );
      expect(few.externalFills.map((f) => [f.orderId, f.qty.toFixed()])).toEqual([['h1', '0.001']]);
      expect(few.unattributedQty.toFixed()).toBe('0.003');
    });

    it('carries nothing when the exchange holds more than the table (more filled)', () => {
      const fix = one(
        reconcile(
          input({
            table: [partlyClosed({ qty: d('0.006') })],
            positions: [position(BTC, 'long', '0.01', '30000')],
            orders: [stopOrder('0.01')],
            fills: [fill({ orderId: 'h1', qty: d('0.004'), price: d(30500), at: NOW - 7_000 })],
          }),
        ),
        'FIX_QUANTITY',
      );
      expect(fix.externalFills).toEqual([]);
      expect(fix.unattributedQty.toFixed()).toBe('0');
    });
  });
});

describe('STALE_ENTRY_ORDER → CANCEL_ORDER', () => {
  const entering = trade({
    tradeId: 't1',
    status: 'ENTERING',
    qty: ZERO,
    entryPrice: null,
    entryOrder: { clientOrderId: 'entry-1', placedAt: NOW - 120_000 },
  });
  const entryOrder = (placedAt: number, over: Partial<ExchangeOrderView> = {}) =>
    order({
      id: 'ex-e1',
      clientOrderId: 'entry-1',
      side: 'buy',
      kind: 'limit',
      reduceOnly: false,
      price: d(29900),
      placedAt,
      ...over,
    });

  it('cancels a tracked entry order open longer than staleEntryAfterMs, naming the trade', () => {
    const r = reconcile(input({ table: [entering], orders: [entryOrder(NOW - 120_000)] }));
    expect(kinds(r)).toEqual(['STALE_ENTRY_ORDER']);
    const f = r.findings[0];
    expect(f?.kind === 'STALE_ENTRY_ORDER' && f.ageMs).toBe(120_000);
    expect(f?.tradeId).toBe('t1');
    const c = one(r, 'CANCEL_ORDER');
    expect([c.orderId, c.clientOrderId, c.reason, c.tradeId]).toEqual([
      'ex-e1',
      'entry-1',
      'stale-entry',
      't1',
    ]);
  });

  it('cancels an untracked stale entry order too', () => {
    const r = reconcile(
      input({ orders: [entryOrder(NOW - 60_001, { symbol: ETH, clientOrderId: 'manual' })] }),
    );
    const c = one(r, 'CANCEL_ORDER');
    expect(c.tradeId).toBeUndefined();
    expect(c.symbol).toBe(ETH);
  });

  it('keeps an entry order exactly staleEntryAfterMs old, and an ENTERING trade with nothing filled', () => {
    const r = reconcile(input({ table: [entering], orders: [entryOrder(NOW - 60_000)] }));
    expect(r.findings).toEqual([]);
    expect(r.actions).toEqual([]);
  });

  it('does not treat a non-reduce-only order on the closing side of a position as an entry', () => {
    const exit = order({
      id: 'exit',
      side: 'sell',
      kind: 'limit',
      reduceOnly: false,
      placedAt: NOW - 999_999,
    });
    const t1 = trade({ tradeId: 't1' });
    const stop = order({ id: 'ex-1', qty: d('0.01') });
    const r = reconcile(
      input({ table: [t1], positions: [position(BTC, 'long', '0.01', '30000')], orders: [exit, stop] }),
    );
    expect(r.findings).toEqual([]);
  });

  it('protects the filled part of an ENTERING trade: fixes the qty and places its stop', () => {
    const partly = { ...entering, stop: { price: d(29800), clientOrderId: 'stop-planned', qty: d('0.01') } };
    const r = reconcile(
      input({
        table: [partly],
        positions: [position(BTC, 'long', '0.004', '29950')],
        orders: [entryOrder(NOW - 10_000)],
      }),
    );
    expect(kinds(r)).toEqual(['QTY_MISMATCH', 'MISSING_STOP']);
    expect(types(r)).toEqual(['PLACE_STOP', 'FIX_QUANTITY']);
    expect(one(r, 'PLACE_STOP').qty.toFixed()).toBe('0.004');
    const fix = one(r, 'FIX_QUANTITY');
    expect([fix.from.toFixed(), fix.to.toFixed(), fix.entryPrice.toFixed()]).toEqual(['0', '0.004', '29950']);
  });
});

describe('ORPHANED_STOP → CANCEL_ORDER', () => {
  it('cancels reduce-only stops and take-profits of a symbol without a position, not reduce-only limits', () => {
    const r = reconcile(
      input({
        orders: [
          order({ id: 'a', symbol: ETH }),
          order({ id: 'b', symbol: ETH, kind: 'take-profit', side: 'buy' }),
          order({ id: 'c', symbol: ETH, kind: 'limit' }),
        ],
      }),
    );
    expect(kinds(r)).toEqual(['ORPHANED_STOP', 'ORPHANED_STOP']);
    expect(r.actions.map((a) => (a.type === 'CANCEL_ORDER' ? [a.orderId, a.reason] : a.type))).toEqual([
      ['a', 'orphaned-stop'],
      ['b', 'orphaned-stop'],
    ]);
  });
});

describe('input validation', () => {
  const pos = [position(BTC, 'long', '0.01', '30000')];
  it('rejects a trade of another account, naming the trade', () => {
    expect(() => reconcile(input({ table: [trade({ tradeId: 't9', accountId: 'acc-2' })] }))).toThrow(
      new RangeError('trade t9: accountId "acc-2" differs from the reconciled account "acc-1"'),
    );
  });
  it('rejects a negative qty in the table and on the exchange', () => {
    expect(() => reconcile(input({ table: [trade({ tradeId: 't9', qty: d('-0.01') })] }))).toThrow(
      new RangeError('trade t9: qty must not be negative, got -0.01'),
    );
    expect(() => reconcile(input({ positions: [position(BTC, 'long', '-1', '30000')] }))).toThrow(
      new RangeError(`exchange position ${BTC}: qty must not be negative, got -1`),
    );
    expect(() => reconcile(input({ orders: [order({ id: 'x', qty: d(-1) })] }))).toThrow(
      /exchange order x: qty/,
    );
  });
  it('rejects a position whose symbol has no market rules', () => {
    expect(() => reconcile({ ...input({ positions: pos }), markets: {} })).toThrow(
      new RangeError(`no market rules for ${BTC}: it has an exchange position that needs a stop`),
    );
  });
  it('rejects two trades on one symbol, two positions on one symbol, a duplicate trade id, a closed status', () => {
    expect(() => reconcile(input({ table: [trade({ tradeId: 'a' }), trade({ tradeId: 'b' })] }))).toThrow(
      /trades a and b are both open on BTC\/USDT:USDT/,
    );
    expect(() => reconcile(input({ positions: [...pos, position(BTC, 'short', '1', '30000')] }))).toThrow(
      /hedge mode/,
    );
    expect(() =>
      reconcile(input({ table: [trade({ tradeId: 'a' }), trade({ tradeId: 'a', symbol: ETH })] })),
    ).toThrow(/trade a appears twice/);
    expect(() => reconcile(input({ table: [trade({ tradeId: 'a', status: 'CLOSED' })] }))).toThrow(
      /trade a: status CLOSED is not reconciled/,
    );
  });
  it('rejects options out of range', () => {
    expect(() => reconcile(input({ options: { failSafeFraction: d('1.5') } }))).toThrow(
      /failSafeFraction must be at most 1/,
    );
    expect(() => reconcile(input({ options: { adoptStopPct: d(100) } }))).toThrow(
      /adoptStopPct must be below 100/,
    );
    expect(() => reconcile(input({ options: { feeRate: d(-0.1) } }))).toThrow(/feeRate must not be negative/);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Every drift at once, one symbol each. */
function combined(): ReconcileInput {
  return input({
    table: [
      // BTC: partly filled after the stop was placed.
      trade({
        tradeId: 't-btc',
        qty: d('0.006'),
        stop: { price: d(29800), clientOrderId: 'btc-stop', qty: d('0.006') },
      }),
      // SOL: stopped out, its take-profit still open.
      trade({
        tradeId: 't-sol',
        symbol: SOL,
        qty: d(2),
        entryPrice: d(20),
        stop: { price: d('19.5'), clientOrderId: 'sol-stop', exchangeOrderId: 'ex-sol-stop', qty: d(2) },
      }),
      // DOGE: its stop vanished.
      trade({
        tradeId: 't-doge',
        symbol: DOGE,
        qty: d(100),
        entryPrice: d('0.1'),
        stop: { price: d('0.098'), clientOrderId: 'doge-stop', qty: d(100) },
      }),
      // XRP: long in the table, short on the exchange.
      trade({ tradeId: 't-xrp', symbol: XRP, qty: d(10), entryPrice: d('0.5') }),
    ],
    positions: [
      position(BTC, 'long', '0.01', '30000', '30050'),
      position(ETH, 'short', '0.1', '2000', '1990'),
      position(DOGE, 'long', '100', '0.1', '0.1'),
      position(XRP, 'short', '10', '0.5'),
    ],
    orders: [
      order({ id: 'ex-btc-stop', clientOrderId: 'btc-stop', qty: d('0.006'), triggerPrice: d(29800) }),
      order({ id: 'ex-sol-tp', symbol: SOL, kind: 'take-profit', qty: d(2), triggerPrice: d(21) }),
      order({
        id: 'ex-ada',
        symbol: ADA,
        side: 'buy',
        kind: 'limit',
        reduceOnly: false,
        qty: d(50),
        price: d('0.3'),
        placedAt: NOW - 300_000,
      }),
    ],
    fills: [fill({ orderId: 'ex-sol-stop', symbol: SOL, qty: d(2), price: d('19.5'), fee: d('0.0156') })],
  });
}

describe('combined scenario', () => {
  it('finds every drift and orders the plan by safety: protect, then settle/fix, then cancel, then review', () => {
    const r = reconcile(combined());
    expect(r.findings.map((f) => `${f.symbol} ${f.kind}`)).toEqual([
      `${ADA} STALE_ENTRY_ORDER`,
      `${BTC} QTY_MISMATCH`,
      `${BTC} STOP_QTY_MISMATCH`,
      `${DOGE} MISSING_STOP`,
      `${ETH} UNTRACKED_POSITION`,
      `${ETH} MISSING_STOP`,
      `${SOL} POSITION_GONE`,
      `${SOL} ORPHANED_STOP`,
      `${XRP} SIDE_MISMATCH`,
    ]);
    expect(r.actions.map((a) => `${a.type} ${a.symbol}`)).toEqual([
      `REPLACE_STOP ${BTC}`,
      `PLACE_STOP ${DOGE}`,
      `ADOPT_POSITION ${ETH}`,
      `FIX_QUANTITY ${BTC}`,
      `SETTLE_TRADE ${SOL}`,
      `CANCEL_ORDER ${ADA}`,
      `CANCEL_ORDER ${SOL}`,
      `MANUAL_REVIEW ${XRP}`,
    ]);
    expect(r.summary).toEqual({
      positions: 4,
      tracked: 2,
      findings: 9,
      byKind: {
        SIDE_MISMATCH: 1,
        UNTRACKED_POSITION: 1,
        POSITION_GONE: 1,
        QTY_MISMATCH: 1,
        MISSING_STOP: 2,
        STOP_QTY_MISMATCH: 1,
        STALE_ENTRY_ORDER: 1,
        ORPHANED_STOP: 1,
      },
    });
    // ETH short 0.1 @ 2000: 2 % stop 2040 risks 0.1 × 40 + 0.0004 × 0.1 × 4040 = 4.1616 > 2.85 → tightened:
    // (0.1 × 2000 × 0.9996 + 2.85) / (0.1 × 1.0004) = 2026.8892… → down to 2026.8.
    const adopt = one(r, 'ADOPT_POSITION');
    expect(adopt.stop.price.toFixed()).toBe('2026.8');
    expect(adopt.stop.lossIfStopped.toFixed()).toBe('2.841072'); // 0.1 × 26.8 + 0.0004 × 0.1 × 4026.8
    // DOGE: the recorded 0.098 risks 100 × 0.002 + 0.0004 × 100 × 0.198 = 0.20792.
    const place = one(r, 'PLACE_STOP');
    expect(place.price.toFixed()).toBe('0.098');
    expect(place.qty.toFixed()).toBe('100');
    expect(place.tightened).toBe(false);
    expect(place.lossIfStopped.toFixed()).toBe('0.20792');
    expect(one(r, 'SETTLE_TRADE').realizedPnl?.toFixed()).toBe('-1.0156'); // (19.5 − 20) × 2 − 0.0156
  });

  it('is idempotent: after applying the plan a second run finds only what needs a person', () => {
    const first = combined();
    const r1 = reconcile(first);
    const r2 = reconcile(applyPlan(first, r1.actions));
    expect(kinds(r2)).toEqual(['SIDE_MISMATCH']);
    expect(types(r2)).toEqual(['MANUAL_REVIEW']);
  });

  it('is idempotent without the side mismatch: the second run finds nothing at all', () => {
    const first = combined();
    const noXrp = { ...first, table: first.table.filter((t) => t.symbol !== XRP) };
    noXrp.exchange = {
      ...noXrp.exchange,
      positions: noXrp.exchange.positions.filter((p) => p.symbol !== XRP),
    };
    const r2 = reconcile(applyPlan(noXrp, reconcile(noXrp).actions));
    expect(r2.findings).toEqual([]);
    expect(r2.actions).toEqual([]);
  });

  it('does not duplicate a stop when a restart follows a crash between placing it and recording it', () => {
    const inp = input({
      table: [trade({ tradeId: 't1', stop: { price: d(29800), clientOrderId: 'old', qty: d('0.01') } })],
      positions: [position(BTC, 'long', '0.01', '30000')],
    });
    const place = one(reconcile(inp), 'PLACE_STOP');
    // The exchange accepted the order, the table was never updated.
    const crashed = {
      ...inp,
      exchange: {
        ...inp.exchange,
        openOrders: [
          order({
            id: 'ex-9',
            clientOrderId: place.clientOrderId,
            qty: place.qty,
            triggerPrice: place.price,
          }),
        ],
      },
    };
    const again = reconcile(crashed);
    expect(again.actions).toEqual([]);
    // And while the order is not yet visible (eventual consistency) the retry re-uses the same id.
    expect(one(reconcile(inp), 'PLACE_STOP').clientOrderId).toBe(place.clientOrderId);
  });

  it('is deterministic: the same input twice, or in any array order, gives deep-equal output', () => {
    const a = reconcile(combined());
    expect(reconcile(combined())).toEqual(a);
    const c = combined();
    const shuffled: ReconcileInput = {
      ...c,
      table: [...c.table].reverse(),
      exchange: {
        positions: [...c.exchange.positions].reverse(),
        openOrders: [...c.exchange.openOrders].reverse(),
        fills: [...c.exchange.fills].reverse(),
      },
    };
    expect(reconcile(shuffled)).toEqual(a);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties over random views

const P_SYMBOLS = ['AAA/USDT:USDT', 'BBB/USDT:USDT', 'CCC/USDT:USDT', 'DDD/USDT:USDT'];
const P_MARKETS: Record<string, MarketRules> = {
  'AAA/USDT:USDT': market('AAA/USDT:USDT', '0.1', '0.001'),
  'BBB/USDT:USDT': market('BBB/USDT:USDT', '0.01', '0.01'),
  'CCC/USDT:USDT': market('CCC/USDT:USDT', '0.5', '0.001'),
  'DDD/USDT:USDT': market('DDD/USDT:USDT', '0', '0'),
};
const pSide = fc.constantFrom<Side>('long', 'short');
const pQtyUnits = fc.integer({ min: 1, max: 3000 });
const pPrice = fc.integer({ min: 2_000, max: 100_000 }).map((n) => d(n).div(2)); // 1000 … 50000, on every tick
const pPermille = fc.integer({ min: -80, max: 80 });

const symbolScenario = fc.record({
  trade: fc.option(
    fc.record({
      side: pSide,
      status: fc.constantFrom<TradeStatus>('LIVE', 'WARNING', 'CRITICAL', 'CLOSING', 'ENTERING'),
      qtyUnits: fc.oneof(pQtyUnits, fc.constant(0)),
      entry: pPrice,
      stopPermille: fc.option(fc.integer({ min: -20, max: 60 }), { nil: undefined }),
      maxLoss: fc.integer({ min: 1, max: 400 }),
      entryOrderAge: fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }),
    }),
    { nil: undefined },
  ),
  position: fc.option(
    fc.record({
      side: pSide,
      qtyUnits: pQtyUnits,
      entry: pPrice,
      markPermille: fc.option(pPermille, { nil: undefined }),
    }),
    { nil: undefined },
  ),
  orders: fc.array(
    fc.record({
      kind: fc.constantFrom<ExchangeOrderView['kind']>('stop', 'take-profit', 'limit', 'market'),
      side: fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
      reduceOnly: fc.boolean(),
      qtyUnits: pQtyUnits,
      pricePermille: pPermille,
      age: fc.integer({ min: 0, max: 200_000 }),
      link: fc.constantFrom('none', 'stop', 'entry'),
    }),
    { maxLength: 3 },
  ),
  fills: fc.array(
    fc.record({
      side: fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
      qtyUnits: pQtyUnits,
      pricePermille: pPermille,
      fromStop: fc.boolean(),
      age: fc.integer({ min: 0, max: 200_000 }),
    }),
    { maxLength: 3 },
  ),
});

type Scenario = typeof symbolScenario extends fc.Arbitrary<infer T> ? T : never;

function buildInput(scenarios: Scenario[]): ReconcileInput {
  const table: TableTradeView[] = [];
  const positions: ExchangePositionView[] = [];
  const orders: ExchangeOrderView[] = [];
  const fills: ExchangeFillView[] = [];
  scenarios.forEach((s, i) => {
    const symbol = P_SYMBOLS[i] as string;
    const m = P_MARKETS[symbol] as MarketRules;
    const lot = m.lotStep.isZero() ? d('0.001') : m.lotStep;
    const tick = m.tickSize.isZero() ? d('0.01') : m.tickSize;
    const ref = s.position?.entry ?? s.trade?.entry ?? d(30000);
    const at = (permille: number) => roundToStep(ref.mul(d(1000 + permille).div(1000)), tick, 'down');
    const stopId = `${symbol}-stop`;
    const entryId = `${symbol}-entry`;
    if (s.trade !== undefined) {
      const t = s.trade;
      const stopPrice =
        t.stopPermille === undefined
          ? null
          : roundToStep(t.entry.mul(d(1000 - sideSign(t.side) * t.stopPermille).div(1000)), tick, 'down');
      table.push({
        tradeId: `t${i}`,
        accountId: ACC,
        symbol,
        side: t.side,
        status: t.status,
        qty: lot.mul(t.qtyUnits),
        entryPrice: t.entry,
        stop:
          stopPrice === null
            ? null
            : {
                price: stopPrice,
                clientOrderId: stopId,
                exchangeOrderId: `ex-${stopId}`,
                qty: lot.mul(t.qtyUnits),
              },
        entryOrder:
          t.entryOrderAge === undefined ? null : { clientOrderId: entryId, placedAt: NOW - t.entryOrderAge },
        maxLoss: d(t.maxLoss),
      });
    }
    if (s.position !== undefined) {
      const p = s.position;
      positions.push({
        symbol,
        side: p.side,
        qty: lot.mul(p.qtyUnits),
        entryPrice: p.entry,
        ...(p.markPermille !== undefined
          ? { markPrice: roundToStep(p.entry.mul(d(1000 + p.markPermille).div(1000)), tick, 'down') }
          : {}),
      });
    }
    s.orders.forEach((o, j) => {
      orders.push({
        id: o.link === 'stop' && j === 0 ? `ex-${stopId}` : `${symbol}-o${j}`,
        ...(o.link === 'entry' ? { clientOrderId: entryId } : {}),
        symbol,
        side: o.side,
        kind: o.kind,
        reduceOnly: o.reduceOnly,
        qty: lot.mul(o.qtyUnits),
        filledQty: ZERO,
        ...(o.kind === 'stop' || o.kind === 'take-profit'
          ? { triggerPrice: at(o.pricePermille) }
          : { price: at(o.pricePermille) }),
        placedAt: NOW - o.age,
      });
    });
    s.fills.forEach((f, j) => {
      fills.push({
        orderId: f.fromStop ? `ex-${stopId}` : `${symbol}-f${j}`,
        symbol,
        side: f.side,
        qty: lot.mul(f.qtyUnits),
        price: at(f.pricePermille),
        fee: lot.mul(f.qtyUnits).mul(at(f.pricePermille)).mul('0.0004'),
        at: NOW - f.age,
      });
    });
  });
  return {
    accountId: ACC,
    now: NOW,
    table,
    exchange: { positions, openOrders: orders, fills },
    markets: P_MARKETS,
    options: OPTIONS,
  };
}

const pInput = fc.array(symbolScenario, { minLength: 1, maxLength: 4 }).map(buildInput);

describe('properties over random views', () => {
  /*
   * Stop property proven here, for every PLACE_STOP / REPLACE_STOP / ADOPT_POSITION stop:
   *  (a) qty = exchange position qty rounded down to the lot step, on the closing side;
   *  (b) loss if stopped (position qty, exchange entry, fees) ≤ failSafeFraction × max loss;
   *  (c) strictly on the protective side of the mark when the mark is known (never triggers at once);
   *  (d) an adopted stop that was not tightened lies below the entry for a long, above for a short;
   *  (e) a tightened stop is the loosest passing price on the tick: one tick looser breaks the fail-safe.
   */
  it('every planned stop passes the fail-safe and lies on the protective side', () => {
    fc.assert(
      fc.property(pInput, (inp) => {
        const r = reconcile(inp);
        for (const a of r.actions) {
          if (a.type !== 'PLACE_STOP' && a.type !== 'REPLACE_STOP' && a.type !== 'ADOPT_POSITION') continue;
          const stop = a.type === 'ADOPT_POSITION' ? a.stop : a;
          const pos = inp.exchange.positions.find((p) => p.symbol === a.symbol);
          expect(pos).toBeDefined();
          if (pos === undefined) return;
          const m = P_MARKETS[a.symbol] as MarketRules;
          const maxLoss =
            a.type === 'ADOPT_POSITION'
              ? OPTIONS.adoptMaxLoss
              : (inp.table.find((t) => t.tradeId === a.tradeId)?.maxLoss as Decimal);
          const limit = maxLoss.mul(OPTIONS.failSafeFraction);
          expect(stop.qty.eq(roundToStep(pos.qty, m.lotStep, 'down'))).toBe(true);
          expect(stop.orderSide).toBe(pos.side === 'long' ? 'sell' : 'buy');
          const loss = oracleLoss(pos.side, pos.entryPrice, pos.qty, stop.price, OPTIONS.feeRate);
          expect(loss.lte(limit)).toBe(true);
          expect(loss.eq(stop.lossIfStopped)).toBe(true);
          if (pos.markPrice !== undefined) {
            expect(pos.side === 'long' ? stop.price.lt(pos.markPrice) : stop.price.gt(pos.markPrice)).toBe(
              true,
            );
          }
          if (a.type === 'ADOPT_POSITION' && !stop.tightened) {
            expect(pos.side === 'long' ? stop.price.lt(pos.entryPrice) : stop.price.gt(pos.entryPrice)).toBe(
              true,
            );
          }
          if (stop.tightened && !m.tickSize.isZero()) {
            const looser = pos.side === 'long' ? stop.price.minus(m.tickSize) : stop.price.plus(m.tickSize);
            expect(oracleLoss(pos.side, pos.entryPrice, pos.qty, looser, OPTIONS.feeRate).gt(limit)).toBe(
              true,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  /*
   * Conflicting intent: per symbol at most one position action (PLACE_STOP, REPLACE_STOP, ADOPT_POSITION,
   * CLOSE_POSITION), and none of them where there is no position; SETTLE_TRADE never with a position action
   * or FIX_QUANTITY; no order id cancelled twice (CANCEL_ORDER, REPLACE_STOP, CLOSE_POSITION.thenCancel);
   * a side-mismatched symbol gets only MANUAL_REVIEW and stale-entry cancels.
   */
  it('no action targets a symbol twice with conflicting intent', () => {
    fc.assert(
      fc.property(pInput, (inp) => {
        const r = reconcile(inp);
        const cancelled: string[] = [];
        for (const symbol of P_SYMBOLS) {
          const acts = r.actions.filter((a) => a.symbol === symbol);
          const positional = acts.filter((a) => STOP_TYPES.has(a.type));
          const hasPosition = inp.exchange.positions.some((p) => p.symbol === symbol);
          expect(positional.length).toBeLessThanOrEqual(1);
          if (!hasPosition) expect(positional).toEqual([]);
          if (acts.some((a) => a.type === 'SETTLE_TRADE')) {
            expect(hasPosition).toBe(false);
            expect(acts.some((a) => a.type === 'FIX_QUANTITY')).toBe(false);
          }
          if (r.findings.some((f) => f.symbol === symbol && f.kind === 'SIDE_MISMATCH')) {
            for (const a of acts) {
              expect(
                a.type === 'MANUAL_REVIEW' || (a.type === 'CANCEL_ORDER' && a.reason === 'stale-entry'),
              ).toBe(true);
            }
          }
          for (const a of acts) {
            if (a.type === 'CANCEL_ORDER') cancelled.push(a.orderId);
            if (a.type === 'REPLACE_STOP') cancelled.push(a.cancelOrderId);
            if (a.type === 'CLOSE_POSITION') cancelled.push(...a.thenCancel.map((c) => c.orderId));
          }
        }
        expect(new Set(cancelled).size).toBe(cancelled.length);
      }),
      { numRuns: 300 },
    );
  });

  it('applying the plan and reconciling again leaves only what a person must review', () => {
    fc.assert(
      fc.property(pInput, (inp) => {
        const r1 = reconcile(inp);
        const r2 = reconcile(applyPlan(inp, r1.actions));
        const reviewed = new Set(r1.actions.filter((a) => a.type === 'MANUAL_REVIEW').map((a) => a.symbol));
        expect(r2.actions.filter((a) => a.type !== 'MANUAL_REVIEW')).toEqual([]);
        for (const f of r2.findings) expect(reviewed.has(f.symbol)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the output does not depend on the order of the input arrays', () => {
    fc.assert(
      fc.property(pInput, fc.integer(), (inp, seed) => {
        const shuffle = <T>(xs: readonly T[]): T[] => {
          const out = [...xs];
          let s = seed >>> 0;
          for (let i = out.length - 1; i > 0; i--) {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            const j = s % (i + 1);
            [out[i], out[j]] = [out[j] as T, out[i] as T];
          }
          return out;
        };
        const shuffled: ReconcileInput = {
          ...inp,
          table: shuffle(inp.table),
          exchange: {
            positions: shuffle(inp.exchange.positions),
            openOrders: shuffle(inp.exchange.openOrders),
            fills: shuffle(inp.exchange.fills),
          },
        };
        expect(reconcile(shuffled)).toEqual(reconcile(inp));
      }),
      { numRuns: 200 },
    );
  });
});
