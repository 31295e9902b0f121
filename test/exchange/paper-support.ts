/** Shared set-up of the exchange tests: the bundled markets and a paper exchange on a manual clock. */
import { readFileSync } from 'node:fs';
import { PaperExchange, paperMarkets } from '../../functions/adapters/paper/paper-exchange.js';
import type {
  PaperExchangeOptions,
  PaperMarketConfig,
} from '../../functions/adapters/paper/paper-exchange.js';
import { ManualClock } from '../support/emulators.js';

/** `data/markets.json`, parsed. */
export const MARKETS = paperMarkets(
  JSON.parse(readFileSync(new URL('../../data/markets.json', import.meta.url), 'utf8')) as Record<
    string,
    PaperMarketConfig
  >,
);
export const BTC = 'BTC/USDT:USDT';
export const T0 = 1_700_000_000_000;

/** A paper exchange with BTC at 50000 on a fresh manual clock. */
export function paper(opts: Partial<PaperExchangeOptions> = {}): { ex: PaperExchange; clock: ManualClock } {
  const clock = new ManualClock(T0);
  const ex = new PaperExchange({ markets: MARKETS, clock, ...opts });
  ex.setPrice(BTC, '50000');
  return { ex, clock };
}
