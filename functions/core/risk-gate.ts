/**
 * The risk gate: the checks every signal passes before any order. A rejection carries a code and a
 * sentence; the signal is then recorded as SKIPPED with that reason (and still shadow-monitored).
 * Checks run in a fixed order and the first failure is reported:
 *
 *   1. global trading state, 2. account trading state (REDUCING and HALTED both refuse new entries),
 *   3. the account's circuit breaker (OPEN refuses; HALF_OPEN lets the probe through),
 *   4. max open trades, 5. daily realized loss limit, 6. per-symbol cooldown after a stop-out,
 *   7. room left under the account's max notional.
 *
 * Per-trade notional and margin caps are applied by sizing, which rejects when the capped quantity falls
 * below the exchange minimum.
 */
import type { Decimal } from './decimal.js';
import type { TradingOptions, TradingState } from './config.js';

export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

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
}

export type RiskRejectCode =
  | 'TRADING_HALTED'
  | 'TRADING_REDUCING'
  | 'BREAKER_OPEN'
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
