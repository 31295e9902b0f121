import { D, type Decimal } from '../../functions/core/decimal.js';
import { parseTradingOptions } from '../../functions/core/config.js';
import { planInitialExits } from '../../functions/core/exits.js';
import { openPosition, stopRulesFor, type StopRules } from '../../functions/core/stop-manager.js';
import type { MarketRules, Side } from '../../functions/core/types.js';

export const d = (v: string | number): Decimal => new D(v);

export const BTC: MarketRules = {
  symbol: 'BTC/USDT:USDT',
  tickSize: d('0.1'),
  lotStep: d('0.001'),
  minQty: d('0.001'),
  minNotional: d('100'),
};

/** Rules from the default options with overrides (raw JSON as in a config file). */
export function rules(
  overrides: unknown = {},
  market: Pick<MarketRules, 'tickSize' | 'lotStep'> = BTC,
): StopRules {
  return stopRulesFor(parseTradingOptions({}, overrides), market);
}

/** Opens a position with planned exits from a pct stop. */
export function open(args: {
  side?: Side;
  entry?: string;
  qty?: string;
  stopPct?: string;
  rr?: string;
  maxLoss?: string;
  overrides?: unknown;
  market?: MarketRules;
  filledAt?: number;
}) {
  const side = args.side ?? 'long';
  const market = args.market ?? BTC;
  const options = parseTradingOptions({}, args.overrides ?? {});
  const exits = planInitialExits({
    side,
    entryPrice: d(args.entry ?? '27000'),
    stop: { pct: d(args.stopPct ?? '1') },
    rr: d(args.rr ?? '2'),
    market,
    options: options.exits,
  });
  return openPosition({
    side,
    entryPrice: d(args.entry ?? '27000'),
    qty: d(args.qty ?? '0.009'),
    filledAt: args.filledAt ?? 0,
    exits,
    maxLoss: d(args.maxLoss ?? '3'),
    rules: stopRulesFor(options, market),
  });
}
