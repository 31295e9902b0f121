/**
 * OKX perpetual swaps through ccxt's `okx` class, imported by its own module. OKX needs the API
 * passphrase (`password` in the credentials); amounts are in contracts (e.g. 0.01 BTC each), which the
 * adapter converts from and to base-asset quantities.
 */
import okx from 'ccxt/js/src/okx.js';
import { CcxtExchange } from './ccxt-exchange.js';
import type { CcxtExchangeOptions, CcxtExchangeProfile } from './ccxt-exchange.js';

/** ccxt settings for OKX: swap markets only. */
export const OKX_PROFILE: CcxtExchangeProfile = {
  ccxtOptions: {
    defaultType: 'swap',
    fetchMarkets: { types: ['swap'] },
  },
  settleCurrency: 'USDT',
};

/** An ExchangePort for one OKX account. */
export function createOkxExchange(options: CcxtExchangeOptions): CcxtExchange {
  return new CcxtExchange(okx, OKX_PROFILE, options);
}
