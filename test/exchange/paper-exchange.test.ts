import { describe, expect, it } from 'vitest';
import { D } from '../../functions/core/decimal.js';
import type { Candle } from '../../functions/core/types.js';
import { ExchangeFailure } from '../../functions/ports/exchange.js';
import type { OrderRequest } from '../../functions/ports/exchange.js';
import { BTC, T0, paper } from './paper-support.js';

let n = 0;
const req = (o: Partial<OrderRequest> & Pick<OrderRequest, 'side' | 'qty'>): OrderRequest => ({
  symbol: BTC,
  kind: 'market',
  reduceOnly: false,
  clientOrderId: `c${++n}`,
  ...o,
});
const candle = (o: string, h: string, l: string, c: string, v = '100', t = T0 + 60_000): Candle => ({
  openTime: t,
  intervalMs: 60_000,
  open: new D(o),
  high: new D(h),
  low: new D(l),
  close: new D(c),
  volume: new D(v),
});

async function failure(p: Promise<unknown>): Promise<ExchangeFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ExchangeFailure) return e;
    throw e;
  }
  throw new Error('expected an ExchangeFailure');
}

describe('paper exchange: market orders, positions, fees', () => {
  it('a market buy fills at the last price with the taker fee and opens a long', async () => {
    const { ex } = paper();
    const o = await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    expect(o.status).toBe('closed');
    expect(o.filledQty.toFixed()).toBe('0.01');
    expect(o.avgPrice?.toFixed()).toBe('50000');
    expect(o.fee?.toFixed()).toBe('0.25');
    const [pos] = await ex.fetchPositions();
    expect(pos?.side).toBe('long');
    expect(pos?.qty.toFixed()).toBe('0.01');
    const bal = await ex.fetchBalance();
    expect(bal.total.toFixed()).toBe('9999.75');
    expect(bal.used.toFixed()).toBe('50'); // 0.01 × 50000 / leverage 10
    expect(bal.free.toFixed()).toBe('9949.75');
  });

  it('slippage moves a market fill against the trader and rounds to the tick', async () => {
    const { ex } = paper({ fill: { slippageBps: new D(10) } });
    ex.setPrice(BTC, '50000.05');
    const buy = await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    expect(buy.avgPrice?.toFixed()).toBe('50050.1'); // 50000.05 × 1.001 = 50050.10005 → up to 50050.1
    const sell = await ex.createOrder(req({ side: 'sell', qty: new D('0.01') }));
    expect(sell.avgPrice?.toFixed()).toBe('49950'); // 50000.05 × 0.999 = 49950.00 (down)
  });

  it('adding averages the entry price; reducing realizes PnL into the wallet', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    ex.setPrice(BTC, '51000');
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    let [pos] = await ex.fetchPositions([BTC]);
    expect(pos?.entryPrice.toFixed()).toBe('50500');
    ex.setPrice(BTC, '52000');
    await ex.createOrder(req({ side: 'sell', qty: new D('0.005'), reduceOnly: true }));
    [pos] = await ex.fetchPositions([BTC]);
    expect(pos?.qty.toFixed()).toBe('0.015');
    expect(pos?.entryPrice.toFixed()).toBe('50500');
    const snap = ex.snapshot();
    expect(snap.realizedPnl.toFixed()).toBe('7.5'); // (52000 − 50500) × 0.005
    expect(snap.feesPaid.toFixed()).toBe('0.635'); // 0.25 + 0.255 + 0.13
    expect(snap.wallet.toFixed()).toBe('10006.865');
    expect(pos?.unrealizedPnl?.toFixed()).toBe('22.5'); // (52000 − 50500) × 0.015
  });

  it('a non-reduce-only order larger than the position flips it at the fill price', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    ex.setPrice(BTC, '49000');
    await ex.createOrder(req({ side: 'sell', qty: new D('0.03') }));
    const [pos] = await ex.fetchPositions();
    expect(pos?.side).toBe('short');
    expect(pos?.qty.toFixed()).toBe('0.02');
    expect(pos?.entryPrice.toFixed()).toBe('49000');
    expect(ex.snapshot().realizedPnl.toFixed()).toBe('-10');
  });

  it('a reduce-only market order is capped by the position and never flips it', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const o = await ex.createOrder(req({ side: 'sell', qty: new D('0.05'), reduceOnly: true }));
    expect(o.filledQty.toFixed()).toBe('0.01');
    expect(await ex.fetchPositions()).toHaveLength(0);
  });

  it('a reduce-only market order with nothing to reduce is refused (INVALID_ORDER)', async () => {
    const { ex } = paper();
    const f = await failure(ex.createOrder(req({ side: 'sell', qty: new D('0.01'), reduceOnly: true })));
    expect(f.code).toBe('INVALID_ORDER');
    expect(f.outcome).toBe('never-retry');
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const g = await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), reduceOnly: true })));
    expect(g.code).toBe('INVALID_ORDER');
  });

  it('refuses an opening order without margin (INSUFFICIENT_FUNDS, never-retry)', async () => {
    const { ex } = paper({ initialBalance: '100' });
    // 0.03 × 50000 / 10 = 150 margin + 0.75 fee > 100 free
    const f = await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.03') })));
    expect(f.code).toBe('INSUFFICIENT_FUNDS');
    expect(f.outcome).toBe('never-retry');
    expect(ex.snapshot().orders).toHaveLength(0);
    // 0.019: 95 margin + 0.475 fee ≤ 100
    await ex.createOrder(req({ side: 'buy', qty: new D('0.019') }));
    expect((await ex.fetchPositions())[0]?.qty.toFixed()).toBe('0.019');
  });

  it('leverage changes the margin needed, within the market maximum', async () => {
    const { ex } = paper({ initialBalance: '100' });
    await ex.setLeverage(BTC, 20);
    await ex.createOrder(req({ side: 'buy', qty: new D('0.03') })); // 75 margin + 0.75 fee
    expect((await ex.fetchBalance()).used.toFixed()).toBe('75');
    expect((await failure(ex.setLeverage(BTC, 126))).code).toBe('INVALID_ORDER');
  });

  it('validates lot step, tick, minimum notional and client id like the exchange', async () => {
    const { ex } = paper();
    expect((await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.0105') })))).message).toMatch(
      /lot step/,
    );
    expect((await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.001') })))).message).toMatch(
      /notional 50 is below/,
    );
    expect(
      (
        await failure(
          ex.createOrder(req({ side: 'buy', kind: 'limit', qty: new D('0.01'), price: new D('49000.05') })),
        )
      ).message,
    ).toMatch(/tick/);
    expect(
      (await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'x'.repeat(37) }))))
        .message,
    ).toMatch(/clientOrderId/);
  });
});

describe('paper exchange: resting orders and triggers', () => {
  it('a sell stop fills at its trigger inside a candle (taker fee) and closes the long', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const stop = await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49000'), reduceOnly: true }),
    );
    expect((await ex.fetchOpenOrders(BTC)).map((o) => o.id)).toEqual([stop.id]);
    const fills = ex.advance(BTC, candle('49500', '49600', '48900', '49200'));
    expect(fills).toHaveLength(1);
    expect(fills[0]?.price.toFixed()).toBe('49000');
    expect(fills[0]?.fee.toFixed()).toBe('0.245');
    expect(fills[0]?.at).toBe(T0 + 60_000 + 20_000); // the low, first third of the candle
    expect(await ex.fetchPositions()).toHaveLength(0);
    expect((await ex.fetchOrder(stop.id, { symbol: BTC, trigger: true })).status).toBe('closed');
    expect(ex.snapshot().realizedPnl.toFixed()).toBe('-10');
    expect((await ex.fetchTicker(BTC)).last.toFixed()).toBe('49200');
  });

  it('setPrice through a stop fills it at the new price (a gap)', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49000'), reduceOnly: true }),
    );
    expect(ex.setPrice(BTC, '49500')).toHaveLength(0);
    const [f] = ex.setPrice(BTC, '48800', T0 + 5);
    expect(f?.price.toFixed()).toBe('48800');
    expect(f?.fee.toFixed()).toBe('0.244');
    expect(f?.at).toBe(T0 + 5);
  });

  it('a take-profit fills at its price with the maker fee', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    await ex.createOrder(
      req({
        side: 'sell',
        kind: 'take-profit',
        qty: new D('0.01'),
        triggerPrice: new D('51000'),
        reduceOnly: true,
      }),
    );
    const [f] = ex.advance(BTC, candle('50100', '51200', '50000', '51100'));
    expect(f?.price.toFixed()).toBe('51000');
    expect(f?.fee.toFixed()).toBe('0.102');
  });

  it('when stop and take-profit both trigger in one candle, the stop (adverse first) closes and the TP does not fill', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const stop = await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49000'), reduceOnly: true }),
    );
    const tp = await ex.createOrder(
      req({
        side: 'sell',
        kind: 'take-profit',
        qty: new D('0.01'),
        triggerPrice: new D('51000'),
        reduceOnly: true,
      }),
    );
    const fills = ex.advance(BTC, candle('50000', '51500', '48500', '50000'));
    expect(fills.map((f) => f.orderId)).toEqual([stop.id]);
    expect((await ex.fetchOrder(tp.id, { symbol: BTC, trigger: true })).status).toBe('open');
  });

  it('two reduce-only stops together never close more than the position', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49000'), reduceOnly: true }),
    );
    await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49500'), reduceOnly: true }),
    );
    const fills = ex.advance(BTC, candle('50000', '50000', '48000', '48500'));
    expect(fills.reduce((s, f) => s.plus(f.qty), new D(0)).toFixed()).toBe('0.01');
    expect(await ex.fetchPositions()).toHaveLength(0);
  });

  it('a limit order fills partially by maxParticipation and keeps resting for the rest', async () => {
    const { ex } = paper({ fill: { maxParticipation: new D('0.1') } });
    const o = await ex.createOrder(
      req({ side: 'buy', kind: 'limit', qty: new D('0.05'), price: new D('49900') }),
    );
    const [f1] = ex.advance(BTC, candle('50000', '50100', '49800', '50000', '0.2'));
    expect(f1?.qty.toFixed()).toBe('0.02');
    expect(f1?.fee.toFixed()).toBe('0.1996'); // 0.02 × 49900 × 0.0002
    let cur = await ex.fetchOrder(o.id, { symbol: BTC, trigger: false });
    expect(cur.status).toBe('open');
    expect(cur.filledQty.toFixed()).toBe('0.02');
    ex.advance(BTC, candle('50000', '50100', '49800', '50000', '10', T0 + 120_000));
    cur = await ex.fetchOrder(o.id, { symbol: BTC, trigger: false });
    expect(cur.status).toBe('closed');
    expect(cur.avgPrice?.toFixed()).toBe('49900');
  });

  it('a marketable limit buy fills at once at the last price', async () => {
    const { ex } = paper();
    const o = await ex.createOrder(
      req({ side: 'buy', kind: 'limit', qty: new D('0.01'), price: new D('50500') }),
    );
    expect(o.status).toBe('closed');
    expect(o.avgPrice?.toFixed()).toBe('50000');
  });

  it.each([
    ['sell stop at the last price', 'sell', 'stop', '50000'],
    ['sell stop above the last price', 'sell', 'stop', '50000.1'],
    ['buy stop below the last price', 'buy', 'stop', '49999.9'],
    ['sell take-profit below the last price', 'sell', 'take-profit', '49000'],
  ] as const)('%s would trigger immediately (never-retry)', async (_name, side, kind, trigger) => {
    const { ex } = paper();
    const f = await failure(
      ex.createOrder(req({ side, kind, qty: new D('0.01'), triggerPrice: new D(trigger), reduceOnly: true })),
    );
    expect(f.code).toBe('WOULD_TRIGGER_IMMEDIATELY');
    expect(f.outcome).toBe('never-retry');
    expect(ex.snapshot().orders).toHaveLength(0);
  });
});

describe('paper exchange: order book keeping', () => {
  it('a client id used by an open order is refused; after it closes the id may be reused', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const a = await ex.createOrder(
      req({
        side: 'sell',
        kind: 'stop',
        qty: new D('0.01'),
        triggerPrice: new D('49000'),
        reduceOnly: true,
        clientOrderId: 'dup',
      }),
    );
    const f = await failure(
      ex.createOrder(
        req({
          side: 'sell',
          kind: 'stop',
          qty: new D('0.01'),
          triggerPrice: new D('48000'),
          reduceOnly: true,
          clientOrderId: 'dup',
        }),
      ),
    );
    expect(f.code).toBe('DUPLICATE_CLIENT_ORDER_ID');
    expect(f.outcome).toBe('never-retry');
    await ex.cancelOrder(a.id, { symbol: BTC, trigger: true });
    await ex.createOrder(
      req({
        side: 'sell',
        kind: 'stop',
        qty: new D('0.01'),
        triggerPrice: new D('48000'),
        reduceOnly: true,
        clientOrderId: 'dup',
      }),
    );
    expect(ex.ordersWithClientId('dup').map((o) => o.status)).toEqual(['canceled', 'open']);
    expect(
      (await ex.fetchOrderByClientId('dup', { symbol: BTC, trigger: true }))?.triggerPrice?.toFixed(),
    ).toBe('48000');
  });

  it('ids are monotonic; closed orders stay fetchable by id and client id; cancel twice → ORDER_NOT_FOUND', async () => {
    const { ex } = paper();
    const a = await ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'a1' }));
    const b = await ex.createOrder(
      req({ side: 'sell', kind: 'stop', qty: new D('0.01'), triggerPrice: new D('49000'), reduceOnly: true }),
    );
    expect([a.id, b.id]).toEqual(['1', '2']);
    expect((await ex.fetchOrderByClientId('a1', { symbol: BTC, trigger: false }))?.status).toBe('closed');
    expect(await ex.fetchOrderByClientId('nope', { symbol: BTC, trigger: false })).toBeNull();
    expect((await ex.cancelOrder(b.id, { symbol: BTC, trigger: true })).status).toBe('canceled');
    expect((await failure(ex.cancelOrder(b.id, { symbol: BTC, trigger: true }))).code).toBe(
      'ORDER_NOT_FOUND',
    );
    expect((await failure(ex.fetchOrder('99', { symbol: BTC, trigger: false }))).code).toBe(
      'ORDER_NOT_FOUND',
    );
  });

  it('records my trades with client ids and the reduce-only flag', async () => {
    const { ex } = paper();
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'e1' }));
    await ex.createOrder(req({ side: 'sell', qty: new D('0.01'), reduceOnly: true, clientOrderId: 'x1' }));
    const fills = await ex.fetchMyTrades(BTC);
    expect(fills.map((f) => [f.clientOrderId, f.side, f.reduceOnly])).toEqual([
      ['e1', 'buy', false],
      ['x1', 'sell', true],
    ]);
  });

  it('drift helpers change the account behind the engine’s back', async () => {
    const { ex } = paper();
    ex.openPositionExternally(BTC, 'short', '0.02', '50100');
    let [pos] = await ex.fetchPositions();
    expect([pos?.side, pos?.qty.toFixed(), pos?.entryPrice.toFixed()]).toEqual(['short', '0.02', '50100']);
    ex.closePositionExternally(BTC, '0.005');
    [pos] = await ex.fetchPositions();
    expect(pos?.qty.toFixed()).toBe('0.015');
    const stop = await ex.createOrder(
      req({ side: 'buy', kind: 'stop', qty: new D('0.015'), triggerPrice: new D('51000'), reduceOnly: true }),
    );
    expect(ex.cancelOrderExternally(stop.id).status).toBe('canceled');
    ex.closePositionExternally(BTC);
    expect(await ex.fetchPositions()).toHaveLength(0);
    expect(() => ex.closePositionExternally(BTC)).toThrow(/no position/);
  });
});

describe('paper exchange: fault injection', () => {
  it('lost-response: the order IS accepted, the call throws TIMEOUT unknown-outcome', async () => {
    const { ex } = paper();
    ex.faults.add({ kind: 'lost-response', method: 'createOrder' });
    const f = await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'lost' })));
    expect([f.code, f.outcome]).toEqual(['TIMEOUT', 'unknown-outcome']);
    expect(ex.ordersWithClientId('lost')).toHaveLength(1);
    expect(ex.snapshot().faults).toEqual([
      { kind: 'lost-response', method: 'createOrder', at: T0, clientOrderId: 'lost' },
    ]);
  });

  it('5xx on a write: unknown-outcome, accepted only when asked', async () => {
    const { ex } = paper();
    ex.faults.add({ kind: '5xx', method: 'createOrder' });
    const f = await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'u1' })));
    expect([f.code, f.outcome]).toEqual(['UNAVAILABLE', 'unknown-outcome']);
    expect(ex.ordersWithClientId('u1')).toHaveLength(0);
    ex.faults.add({ kind: '5xx', method: 'createOrder', accepted: true });
    await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'u2' })));
    expect(ex.ordersWithClientId('u2')).toHaveLength(1);
  });

  it('5xx on a read is retryable; 429 is retryable and does nothing', async () => {
    const { ex } = paper();
    ex.faults.add({ kind: '5xx', method: 'read' });
    expect((await failure(ex.fetchBalance())).outcome).toBe('retryable');
    ex.faults.add({ kind: '429', method: 'createOrder' });
    const f = await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'r1' })));
    expect([f.code, f.outcome]).toEqual(['RATE_LIMITED', 'retryable']);
    expect(ex.ordersWithClientId('r1')).toHaveLength(0);
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'r1' })); // the rule fired once
  });

  it('not-found-after-create: the next N look-ups miss the new order', async () => {
    const { ex } = paper();
    ex.faults.add({ kind: 'not-found-after-create', lookups: 2 });
    const o = await ex.createOrder(req({ side: 'buy', qty: new D('0.01'), clientOrderId: 'nf' }));
    const lk = { symbol: BTC, trigger: false };
    expect(await ex.fetchOrderByClientId('nf', lk)).toBeNull();
    expect((await failure(ex.fetchOrder(o.id, lk))).code).toBe('ORDER_NOT_FOUND');
    expect((await ex.fetchOrderByClientId('nf', lk))?.id).toBe(o.id);
  });

  it('would-trigger-immediately and insufficient-funds refuse the create (never-retry)', async () => {
    const { ex } = paper();
    ex.faults.add({ kind: 'would-trigger-immediately' }).add({ kind: 'insufficient-funds', skip: 1 });
    expect((await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01') })))).code).toBe(
      'WOULD_TRIGGER_IMMEDIATELY',
    );
    expect((await failure(ex.createOrder(req({ side: 'buy', qty: new D('0.01') })))).code).toBe(
      'INSUFFICIENT_FUNDS',
    );
    expect(ex.snapshot().orders).toHaveLength(0);
  });

  it('latency passes on the manual clock', async () => {
    const { ex, clock } = paper();
    ex.faults.add({ kind: 'latency', ms: 2500, method: 'fetchTicker' });
    await ex.fetchTicker(BTC);
    expect(clock.now()).toBe(T0 + 2500);
  });

  it('a match predicate targets only some orders (here: stops)', async () => {
    const { ex } = paper();
    ex.faults.add({
      kind: '429',
      match: (c) => c.request?.kind === 'stop',
      times: Infinity,
      method: 'createOrder',
    });
    await ex.createOrder(req({ side: 'buy', qty: new D('0.01') }));
    const stop = req({
      side: 'sell',
      kind: 'stop',
      qty: new D('0.01'),
      triggerPrice: new D('49000'),
      reduceOnly: true,
    });
    expect((await failure(ex.createOrder(stop))).code).toBe('RATE_LIMITED');
    expect((await failure(ex.createOrder(stop))).code).toBe('RATE_LIMITED');
  });

  it('probabilistic rules are deterministic for a seed', async () => {
    const run = async (seed: number) => {
      const { ex } = paper({ seed });
      ex.faults.add({ kind: '429', method: 'fetchTicker', probability: 0.5, times: Infinity });
      const out: boolean[] = [];
      for (let i = 0; i < 20; i++)
        out.push(
          await ex.fetchTicker(BTC).then(
            () => true,
            () => false,
          ),
        );
      return out;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(a.filter((x) => !x).length).toBeGreaterThan(0);
    expect(a.filter((x) => x).length).toBeGreaterThan(0);
  });

  it('rejects malformed rules', () => {
    const { ex } = paper();
    expect(() => ex.faults.add({ kind: 'latency' })).toThrow(/ms/);
    expect(() => ex.faults.add({ kind: '429', times: 0 })).toThrow(/times/);
  });
});
