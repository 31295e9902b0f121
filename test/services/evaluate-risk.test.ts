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
  /** A trade that traded, closed with `pnl` (by its stop when `stopHit`) and was FINALIZED. */
  const finishedTrade = async (symbol: string, pnl: string, stopHit: boolean) => {
    const tradeId = await create(signal(symbol, symbol === BTC ? '50000' : '2000'));
    const path: [TradeStatus, JsonMap][] = [
      ['ENTERING', {}],
      ['LIVE', {}],
      [
        'CLOSED',
        {
          settlement: { realizedPnl: pnl, settledAt: clock.now() },
          exit: { reason: stopHit ? 'STOP_HIT' : 'TAKE_PROFIT', at: clock.now() },
        },
      ],
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
  return { clock, deps, signal, create, finishedTrade };
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
