import { describe, expect, it } from 'vitest';
import { parseTradingOptions } from '../../functions/core/config.js';
import { D } from '../../functions/core/decimal.js';
import { checkRiskGate } from '../../functions/core/risk-gate.js';
import type { RiskDecision, RiskSnapshot } from '../../functions/core/risk-gate.js';
import { TRADE_STATUSES } from '../../functions/core/lifecycle.js';

/** Default risk options: 5 open trades, account notional 20000, daily loss 30, cooldown 15 min. */
const RISK = parseTradingOptions({}).risk;
const NOW = Date.UTC(2023, 3, 1, 12, 0); // 2023-04-01 12:00 UTC
const MIN = 60_000;
const SYMBOL = 'BTC/USDT:USDT';

/** An ACTIVE account with nothing open, no loss today and no stop-out: passes every check. */
function snap(over: Partial<RiskSnapshot> = {}): RiskSnapshot {
  return {
    globalTradingState: 'ACTIVE',
    accountTradingState: 'ACTIVE',
    breaker: 'CLOSED',
    openTrades: 0,
    openNotional: new D(0),
    realizedPnlToday: new D(0),
    ...over,
  };
}
const gate = (over: Partial<RiskSnapshot> = {}, now = NOW): RiskDecision =>
  checkRiskGate(SYMBOL, snap(over), RISK, now);
const code = (d: RiskDecision) => (d.ok ? 'OK' : d.code);

describe('a clean snapshot passes', () => {
  it('ACTIVE, CLOSED breaker, nothing open', () => {
    expect(gate()).toEqual({ ok: true });
  });
});

describe('trading state', () => {
  it('global HALTED rejects with TRADING_HALTED', () => {
    expect(gate({ globalTradingState: 'HALTED' })).toEqual({
      ok: false,
      code: 'TRADING_HALTED',
      reason: 'global trading state is HALTED: no new orders',
    });
  });

  it('account HALTED rejects with TRADING_HALTED', () => {
    expect(gate({ accountTradingState: 'HALTED' })).toEqual({
      ok: false,
      code: 'TRADING_HALTED',
      reason: 'account trading state is HALTED: no new orders',
    });
  });

  it('global REDUCING rejects with TRADING_REDUCING', () => {
    expect(gate({ globalTradingState: 'REDUCING' })).toEqual({
      ok: false,
      code: 'TRADING_REDUCING',
      reason: 'global trading state is REDUCING: no new entries',
    });
  });

  it('account REDUCING rejects with TRADING_REDUCING', () => {
    expect(gate({ accountTradingState: 'REDUCING' })).toEqual({
      ok: false,
      code: 'TRADING_REDUCING',
      reason: 'account trading state is REDUCING: no new entries',
    });
  });
});

describe('circuit breaker', () => {
  it('OPEN rejects with BREAKER_OPEN', () => {
    expect(gate({ breaker: 'OPEN' })).toEqual({
      ok: false,
      code: 'BREAKER_OPEN',
      reason: 'the exchange circuit breaker is OPEN after repeated failures',
    });
  });

  it('HALF_OPEN lets the probe through', () => {
    expect(gate({ breaker: 'HALF_OPEN' })).toEqual({ ok: true });
  });
});

describe('one open trade per account and symbol', () => {
  const busyStatuses = ['ENTERING', 'LIVE', 'WARNING', 'CRITICAL', 'CLOSING'] as const;

  it('an open trade on the symbol rejects with SYMBOL_BUSY, naming the symbol and the trade', () => {
    expect(gate({ openTradeOnSymbol: { tradeId: 'demo.x', status: 'LIVE' } })).toEqual({
      ok: false,
      code: 'SYMBOL_BUSY',
      reason: 'BTC/USDT:USDT already has open trade demo.x (LIVE): one trade per account and symbol',
    });
  });

  it.each(busyStatuses)('a trade %s on the symbol blocks', (status) => {
    const d = gate({ openTradeOnSymbol: { tradeId: 'demo.x', status } });
    expect(code(d)).toBe('SYMBOL_BUSY');
    expect(!d.ok && d.reason).toContain(`demo.x (${status})`);
  });

  it.each(TRADE_STATUSES.filter((s) => !(busyStatuses as readonly string[]).includes(s)))(
    'a trade %s on the symbol holds nothing: passes',
    (status) => {
      expect(gate({ openTradeOnSymbol: { tradeId: 'demo.x', status } })).toEqual({ ok: true });
    },
  );

  it('no trade on the symbol passes, even with trades open on other symbols', () => {
    expect(gate({ openTrades: 4, openNotional: new D('5000') })).toEqual({ ok: true });
  });

  it('the reason names the signal symbol', () => {
    const d = checkRiskGate(
      'ETH/USDT:USDT',
      snap({ openTradeOnSymbol: { tradeId: 'demo.eth-1', status: 'ENTERING' } }),
      RISK,
      NOW,
    );
    expect(!d.ok && d.reason).toBe(
      'ETH/USDT:USDT already has open trade demo.eth-1 (ENTERING): one trade per account and symbol',
    );
  });

  it('comes after the breaker and before the trade limits', () => {
    const busy = { openTradeOnSymbol: { tradeId: 'demo.x', status: 'LIVE' as const } };
    expect(code(gate({ ...busy, breaker: 'OPEN' }))).toBe('BREAKER_OPEN');
    expect(code(gate({ ...busy, accountTradingState: 'REDUCING' }))).toBe('TRADING_REDUCING');
    expect(code(gate({ ...busy, openTrades: 5 }))).toBe('SYMBOL_BUSY');
  });
});

describe('max open trades (limit 5)', () => {
  it('4 open passes', () => {
    expect(gate({ openTrades: 4 }).ok).toBe(true);
  });

  it('exactly 5 open rejects', () => {
    expect(gate({ openTrades: 5 })).toEqual({
      ok: false,
      code: 'MAX_OPEN_TRADES',
      reason: '5 open trades, the limit is 5',
    });
  });

  it('more than the limit rejects', () => {
    expect(code(gate({ openTrades: 9 }))).toBe('MAX_OPEN_TRADES');
  });

  it('follows the configured limit', () => {
    const risk = parseTradingOptions({ risk: { maxOpenTrades: 1 } }).risk;
    expect(checkRiskGate(SYMBOL, snap({ openTrades: 0 }), risk, NOW).ok).toBe(true);
    expect(code(checkRiskGate(SYMBOL, snap({ openTrades: 1 }), risk, NOW))).toBe('MAX_OPEN_TRADES');
  });
});

describe('daily loss limit (30)', () => {
  it('a loss of 29.99 passes', () => {
    expect(gate({ realizedPnlToday: new D('-29.99') }).ok).toBe(true);
  });

  it('a loss of exactly 30 rejects', () => {
    expect(gate({ realizedPnlToday: new D('-30') })).toEqual({
      ok: false,
      code: 'DAILY_LOSS_LIMIT',
      reason: "today's realized loss 30 reached the daily limit 30",
    });
  });

  it('a loss beyond the limit rejects', () => {
    expect(code(gate({ realizedPnlToday: new D('-45.5') }))).toBe('DAILY_LOSS_LIMIT');
  });

  it('a profit today passes', () => {
    expect(gate({ realizedPnlToday: new D('100') }).ok).toBe(true);
  });
});

describe('per-symbol cooldown after a stop-out (15 min)', () => {
  const stoppedAt = NOW - 15 * MIN;

  it('one millisecond before the end rejects', () => {
    expect(gate({ lastStopOutAt: stoppedAt }, NOW - 1)).toEqual({
      ok: false,
      code: 'SYMBOL_COOLDOWN',
      reason: 'BTC/USDT:USDT is cooling down after a stop-out until 2023-04-01T12:00:00.000Z',
    });
  });

  it('ends exactly at lastStopOutAt + 15 min', () => {
    expect(gate({ lastStopOutAt: stoppedAt }, NOW).ok).toBe(true);
  });

  it('right after the stop-out rejects', () => {
    expect(code(gate({ lastStopOutAt: NOW }, NOW))).toBe('SYMBOL_COOLDOWN');
  });

  it('no stop-out ever: no cooldown', () => {
    expect(gate({ lastStopOutAt: undefined }).ok).toBe(true);
  });

  it('a zero cooldown never blocks', () => {
    const risk = parseTradingOptions({ risk: { cooldownAfterStopOutMinutes: 0 } }).risk;
    expect(checkRiskGate(SYMBOL, snap({ lastStopOutAt: NOW }), risk, NOW).ok).toBe(true);
  });
});

describe('account notional (limit 20000)', () => {
  it('19999.99 open passes', () => {
    expect(gate({ openNotional: new D('19999.99') }).ok).toBe(true);
  });

  it('exactly 20000 open rejects', () => {
    expect(gate({ openNotional: new D('20000') })).toEqual({
      ok: false,
      code: 'ACCOUNT_NOTIONAL_FULL',
      reason: 'open notional 20000 reached the account limit 20000',
    });
  });
});

describe('fixed order of checks: the first failure is reported', () => {
  /** Everything fails at once. */
  const all: Partial<RiskSnapshot> = {
    globalTradingState: 'HALTED',
    accountTradingState: 'HALTED',
    breaker: 'OPEN',
    openTradeOnSymbol: { tradeId: 'demo.x', status: 'LIVE' },
    openTrades: 5,
    realizedPnlToday: new D('-30'),
    lastStopOutAt: NOW,
    openNotional: new D('20000'),
  };

  it('a HALTED account that is also at max trades reports TRADING_HALTED', () => {
    expect(code(gate({ accountTradingState: 'HALTED', openTrades: 5 }))).toBe('TRADING_HALTED');
  });

  it('global state is checked before account state (global REDUCING, account HALTED → REDUCING)', () => {
    const d = gate({ globalTradingState: 'REDUCING', accountTradingState: 'HALTED' });
    expect(d).toEqual({
      ok: false,
      code: 'TRADING_REDUCING',
      reason: 'global trading state is REDUCING: no new entries',
    });
  });

  it('peeling the failures off one by one yields the documented order', () => {
    const order: string[] = [];
    const s: Partial<RiskSnapshot> = { ...all };
    const fixes: Array<(x: Partial<RiskSnapshot>) => void> = [
      (x) => (x.globalTradingState = 'ACTIVE'),
      (x) => (x.accountTradingState = 'ACTIVE'),
      (x) => (x.breaker = 'CLOSED'),
      (x) => (x.openTradeOnSymbol = undefined),
      (x) => (x.openTrades = 0),
      (x) => (x.realizedPnlToday = new D(0)),
      (x) => (x.lastStopOutAt = undefined),
      (x) => (x.openNotional = new D(0)),
    ];
    for (const fix of fixes) {
      order.push(code(gate(s)));
      fix(s);
    }
    order.push(code(gate(s)));
    expect(order).toEqual([
      'TRADING_HALTED',
      'TRADING_HALTED',
      'BREAKER_OPEN',
      'SYMBOL_BUSY',
      'MAX_OPEN_TRADES',
      'DAILY_LOSS_LIMIT',
      'SYMBOL_COOLDOWN',
      'ACCOUNT_NOTIONAL_FULL',
      'OK',
    ]);
  });

  it('the breaker is checked before the trade limits', () => {
    expect(code(gate({ breaker: 'OPEN', openTrades: 5, openNotional: new D('20000') }))).toBe('BREAKER_OPEN');
  });
});
