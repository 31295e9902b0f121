/**
 * The risk gate: the checks every signal passes before any order. A rejection carries a code and a
 * sentence; the signal is then recorded as SKIPPED with that reason (and still shadow-monitored).
 * Checks run in a fixed order and the first failure is reported:
 *
 *   1. global trading state, 2. account trading state (REDUCING and HALTED both refuse new entries),
 *   3. the account's circuit breaker (OPEN refuses; HALF_OPEN lets the probe through),
 *   4. an open trade of the account on the symbol (one trade per account and symbol: the exchanges run in
 *      one-way position mode, one net position per symbol), 5. max open trades,
 *   6. daily realized loss limit, 7. per-symbol cooldown after a stop-out,
 *   8. room left under the account's max notional.
 *
 * Per-trade notional and margin caps are applied by sizing, which rejects when the capped quantity falls
 * below the exchange minimum.
 */
import type { Decimal } from './decimal.js';
import type { TradingOptions, TradingState } from './config.js';
import { OPEN_POSITION_STATUSES } from './lifecycle.js';
import type { TradeStatus } from './lifecycle.js';

export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** An open trade of the account on the signal's symbol. */
export interface OpenTradeOnSymbol {
  tradeId: string;
  status: TradeStatus;
}

/**
 * Statuses of a trade that holds or is acquiring a position: such a trade on the symbol blocks a new one
 * (SYMBOL_BUSY). A trade in any other status (PENDING, SKIPPED, CLOSED, POST_TRADE_MONITOR, terminal)
 * holds nothing on the exchange.
 */
export const SYMBOL_BUSY_STATUSES: readonly TradeStatus[] = ['ENTERING', ...OPEN_POSITION_STATUSES];

/** What the gate needs to know about the account at the moment of the signal. */
export interface RiskSnapshot {
  globalTradingState: TradingState;
  accountTradingState: TradingState;
  breaker: BreakerState;
  openTrades: number;
  /** Sum of the notional of the account's open trades. */
  openNotional: Decimal;
  /** Realized PnL of the account in the current UTC day (negative = loss). */
  realizedPnlToday: Decimal;
  /** When the account was last stopped out on this symbol, if ever. */
  lastStopOutAt?: number;
  /** The account's open trade on this symbol (other than the one being evaluated), if any. */
  openTradeOnSymbol?: OpenTradeOnSymbol;
}

export type RiskRejectCode =
  | 'TRADING_HALTED'
  | 'TRADING_REDUCING'
  | 'BREAKER_OPEN'
  | 'SYMBOL_BUSY'
  | 'MAX_OPEN_TRADES'
  | 'DAILY_LOSS_LIMIT'
  | 'SYMBOL_COOLDOWN'
  | 'ACCOUNT_NOTIONAL_FULL';

export type RiskDecision = { ok: true } | { ok: false; code: RiskRejectCode; reason: string };

export function checkRiskGate(
  symbol: string,
  snapshot: RiskSnapshot,
  risk: TradingOptions['risk'],
  now: number,
): RiskDecision {
  for (const [scope, state] of [
    ['global', snapshot.globalTradingState],
    ['account', snapshot.accountTradingState],
  ] as const) {
    if (state === 'HALTED')
      return reject('TRADING_HALTED', `${scope} trading state is HALTED: no new orders`);
    if (state === 'REDUCING') {
      return reject('TRADING_REDUCING', `${scope} trading state is REDUCING: no new entries`);
    }
  }
  if (snapshot.breaker === 'OPEN') {
    return reject('BREAKER_OPEN', 'the exchange circuit breaker is OPEN after repeated failures');
  }
  const busy = snapshot.openTradeOnSymbol;
  if (busy !== undefined && SYMBOL_BUSY_STATUSES.includes(busy.status)) {
    const { tradeId, status } = busy;
    return reject(
      'SYMBOL_BUSY',
      `${symbol} already has open trade ${tradeId} (${status}): one trade per account and symbol`,
    );
  }
  if (snapshot.openTrades >= risk.maxOpenTrades) {
    return reject(
      'MAX_OPEN_TRADES',
      `${snapshot.openTrades} open trades, the limit is ${risk.maxOpenTrades}`,
    );
  }
  if (snapshot.realizedPnlToday.negated().gte(risk.dailyLossLimit)) {
    return reject(
      'DAILY_LOSS_LIMIT',
      `today's realized loss ${snapshot.realizedPnlToday.negated().toFixed()} reached the daily limit ${risk.dailyLossLimit.toFixed()}`,
    );
  }
  if (snapshot.lastStopOutAt !== undefined) {
    const until = snapshot.lastStopOutAt + risk.cooldownAfterStopOutMinutes * 60_000;
    if (now < until) {
      return reject(
        'SYMBOL_COOLDOWN',
        `${symbol} is cooling down after a stop-out until ${new Date(until).toISOString()}`,
      );
    }
  }
  if (snapshot.openNotional.gte(risk.maxNotionalPerAccount)) {
    return reject(
      'ACCOUNT_NOTIONAL_FULL',
      `open notional ${snapshot.openNotional.toFixed()} reached the account limit ${risk.maxNotionalPerAccount.toFixed()}`,
    );
  }
  return { ok: true };
}

function reject(code: RiskRejectCode, reason: string): RiskDecision {
  return { ok: false, code, reason };
}
