/**
 * The risk gate as the Evaluate step sees it on the real store: trades closed and finalized earlier in the
 * day (gone from the open-trades index) still count against the daily loss limit, and a losing stop-out
 * still starts the symbol's cooldown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTradeStore } from '../../functions/adapters/dynamodb/trade-store.js';
import { InMemoryConfigSource } from '../../functions/adapters/memory/config-source.js';
import type { TradeStatus } from '../../functions/core/lifecycle.js';
import type { JsonMap } from '../../functions/ports/trade-store.js';
import { evaluateTrade } from '../../functions/services/evaluate.js';
import { ManualClock, startEmulators, type Emulators } from '../support/emulators.js';
import { BTC, paper, T0 } from '../exchange/paper-support.js';

const ETH = 'ETH/USDT:USDT';
let emu: Emulators;
beforeAll(async () => {
  emu = await startEmulators();
});
afterAll(async () => {
  await emu.stop();
});

function setup(accountId: string) {
  const clock = new ManualClock(T0);
  const store = new DynamoTradeStore({ client: emu.ddb, tableName: emu.tableName, clock });
  const { ex } = paper();
  ex.setPrice(ETH, '2000');
  const config = new InMemoryConfigSource({
    defaults: { risk: { dailyLossLimit: '5', cooldownAfterStopOutMinutes: 15, maxLossPerTrade: '3' } },
    accounts: [{ accountId, exchange: 'paper', equity: '10000' }],
  });
  const deps = { store, config, clock, accounts: { account: () => Promise.resolve({ exchange: ex }) } };
  let n = 0;
  const signal = (symbol: string, price: string) => ({
    signalId: `s${++n}`,
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
  });
  const create = async (s: ReturnType<typeof signal>) => {
    const tradeId = `${accountId}.${s.signalId}`;
    await store.createTrade({
      tradeId,
      accountId,
      symbol: s.symbol,
      data: { signal: s, exchange: 'paper', side: 'long', leverage: 10 },
      at: clock.now(),
    });
    return tradeId;
  };
  /** Moves a trade along `path` from its current version. */
  const walk = async (tradeId: string, path: [TradeStatus, JsonMap][]) => {
    let version = (await store.getTrade(tradeId))!.version;
    for (const [to, patch] of path) {
      const r = await store.transition(tradeId, {
        expectedVersion: version,
        to,
        type: to,
        patch,
        at: clock.now(),
        commandId: `${tradeId}.${to}`,
      });
      version = r.trade.version;
    }
  };
  /**
   * A trade that traded, closed with `pnl` (by its stop when `stopHit`) and was FINALIZED. `by: 'reconciler'`
   * records the close as the reconciler's settlement (`reconSettlement`) instead of the workers' exit.
   */
  const finishedTrade = async (
    symbol: string,
    pnl: string,
    stopHit: boolean,
    by: 'workers' | 'reconciler' = 'workers',
  ) => {
    const tradeId = await create(signal(symbol, symbol === BTC ? '50000' : '2000'));
    const reason = stopHit ? 'STOP_HIT' : 'CLOSED_EXTERNALLY';
    const closed: JsonMap =
      by === 'workers'
        ? {
            settlement: { realizedPnl: pnl, settledAt: clock.now() },
            exit: { reason: stopHit ? 'STOP_HIT' : 'TAKE_PROFIT', at: clock.now() },
          }
        : { reconSettlement: { reason, realizedPnl: pnl, closedQty: '0.001', at: clock.now() } };
    const path: [TradeStatus, JsonMap][] = [
      ['ENTERING', {}],
      ['LIVE', {}],
      ['CLOSED', closed],
      ['POST_TRADE_MONITOR', {}],
      ['FINALIZED', {}],
    ];
    let version = 1;
    for (const [to, patch] of path) {
      const r = await store.transition(tradeId, {
        expectedVersion: version,
        to,
        type: to,
        patch,
        at: clock.now(),
        commandId: `${tradeId}.${to}`,
      });
      version = r.trade.version;
    }
    expect((await store.listOpenTrades({ accountId })).some((t) => t.tradeId === tradeId)).toBe(false);
  };
  return { clock, deps, store, signal, create, walk, finishedTrade };
}

describe('the risk gate counts trades that already left the open index', () => {
  it('a finalized loss earlier today still counts against the daily loss limit', async () => {
    const { clock, deps, signal, create, finishedTrade } = setup('daily');
    await finishedTrade(ETH, '-3.1', false);
    await finishedTrade(ETH, '-2.0', false); // today: −5.1 ≥ 5 → no new entries
    clock.advance(60 * 60_000);
    const r = await evaluateTrade(deps, await create(signal(BTC, '50000')));
    expect(r.decision).toBe('SKIP');
    expect(r.decision === 'SKIP' && r.code).toBe('DAILY_LOSS_LIMIT');
  });

  it('a finalized losing stop-out starts the symbol cooldown; another symbol still trades', async () => {
    const { clock, deps, signal, create, finishedTrade } = setup('cooldown');
    await finishedTrade(BTC, '-1', true);
    clock.advance(5 * 60_000);
    const blocked = await evaluateTrade(deps, await create(signal(BTC, '50000')));
    expect(blocked.decision === 'SKIP' && blocked.code).toBe('SYMBOL_COOLDOWN');
    const other = await evaluateTrade(deps, await create(signal(ETH, '2000')));
    expect(other.decision).toBe('ENTER');
    clock.advance(11 * 60_000); // 16 minutes after the stop-out: the 15-minute cooldown is over
    const later = await evaluateTrade(deps, await create(signal(BTC, '50000')));
    expect(later.decision).toBe('ENTER');
  });
});

describe('one open trade per account and symbol', () => {
  it('a second signal on a symbol with an open trade is SKIPPED with SYMBOL_BUSY; another symbol enters', async () => {
    const { deps, signal, create } = setup('busy');
    const first = await create(signal(BTC, '50000'));
    expect((await evaluateTrade(deps, first)).decision).toBe('ENTER'); // now ENTERING
    const second = await evaluateTrade(deps, await create(signal(BTC, '50000')));
    expect(second).toMatchObject({
      decision: 'SKIP',
      code: 'SYMBOL_BUSY',
      reason: `${BTC} already has open trade ${first} (ENTERING): one trade per account and symbol`,
    });
    expect((await evaluateTrade(deps, await create(signal(ETH, '2000')))).decision).toBe('ENTER');
    // Evaluating the first trade again (a retried task) still answers ENTER: it does not block itself.
    expect((await evaluateTrade(deps, first)).decision).toBe('ENTER');
  });

  it.each(['LIVE', 'WARNING', 'CRITICAL', 'CLOSING'] as const)(
    'a %s trade on the symbol blocks',
    async (status) => {
      const { deps, signal, create, walk } = setup(`busy-${status.toLowerCase()}`);
      const open = await create(signal(BTC, '50000'));
      const path: Record<typeof status, TradeStatus[]> = {
        LIVE: ['ENTERING', 'LIVE'],
        WARNING: ['ENTERING', 'LIVE', 'WARNING'],
        CRITICAL: ['ENTERING', 'LIVE', 'WARNING', 'CRITICAL'],
        CLOSING: ['ENTERING', 'LIVE', 'CLOSING'],
      };
      await walk(
        open,
        path[status].map((to) => [to, {}]),
      );
      const r = await evaluateTrade(deps, await create(signal(BTC, '50000')));
      expect(r.decision === 'SKIP' && r.reason).toBe(
        `${BTC} already has open trade ${open} (${status}): one trade per account and symbol`,
      );
    },
  );

  it('a CLOSED, a FINALIZED and a SKIPPED trade on the symbol do not block', async () => {
    const { deps, signal, create, walk, finishedTrade } = setup('free');
    await finishedTrade(BTC, '1', false); // FINALIZED
    const closed = await create(signal(BTC, '50000'));
    await walk(closed, [
      ['ENTERING', {}],
      ['LIVE', {}],
      ['CLOSED', { settlement: { realizedPnl: '1', settledAt: 0 }, exit: { reason: 'TAKE_PROFIT', at: 0 } }],
    ]);
    const skipped = await create(signal(BTC, '50000'));
    await walk(skipped, [['SKIPPED', {}]]);
    expect((await evaluateTrade(deps, await create(signal(BTC, '50000')))).decision).toBe('ENTER');
  });

  it("another account's trade on the symbol does not block", async () => {
    const a = setup('acct-a');
    const b = setup('acct-b');
    expect((await evaluateTrade(a.deps, await a.create(a.signal(BTC, '50000')))).decision).toBe('ENTER');
    expect((await evaluateTrade(b.deps, await b.create(b.signal(BTC, '50000')))).decision).toBe('ENTER');
  });
});

describe('stop-outs settled by the reconciler', () => {
  it("a losing close the reconciler settled as STOP_HIT starts the symbol's cooldown", async () => {
    const { clock, deps, signal, create, finishedTrade } = setup('recon-stop');
    await finishedTrade(BTC, '-1', true, 'reconciler');
    clock.advance(5 * 60_000);
    const r = await evaluateTrade(deps, await create(signal(BTC, '50000')));
    expect(r.decision === 'SKIP' && r.code).toBe('SYMBOL_COOLDOWN');
  });

  it('a losing close the reconciler settled as CLOSED_EXTERNALLY does not', async () => {
    const { clock, deps, signal, create, finishedTrade } = setup('recon-ext');
    await finishedTrade(BTC, '-1', false, 'reconciler');
    clock.advance(5 * 60_000);
    expect((await evaluateTrade(deps, await create(signal(BTC, '50000')))).decision).toBe('ENTER');
  });
});

describe('an adopted position', () => {
  it('evaluates to ADOPTED without a risk check or a write: its execution goes straight to the LIVE wait', async () => {
    const { clock, deps, store, walk } = setup('adopter');
    const tradeId = 'adopt-BTCUSDTUSDT-long-x';
    await store.createTrade({
      tradeId,
      accountId: 'adopter',
      symbol: BTC,
      data: { adopted: { qty: '0.01', entryPrice: '50000' }, side: 'long', plan: { maxLoss: '3' } },
      at: clock.now(),
    });
    await walk(tradeId, [
      ['ENTERING', {}],
      ['LIVE', {}],
    ]);
    const before = await store.getTrade(tradeId);
    const r = await evaluateTrade(deps, tradeId);
    // postTradeMonitorMinutes defaults to 30.
    expect(r).toEqual({ decision: 'ADOPTED', postTradeSeconds: 1800 });
    expect((await store.getTrade(tradeId))!.version).toBe(before!.version);
  });
});
