/**
 * Bybit linear perpetuals through ccxt's `bybit` class, imported by its own module. Stops are Bybit
 * conditional orders; `fetchOrder` needs `acknowledged: true` (ccxt warns that Bybit's single-order
 * endpoint only sees the last 500 orders).
 */
import bybit from 'ccxt/js/src/bybit.js';
import { CcxtExchange } from './ccxt-exchange.js';
import type { CcxtExchangeOptions, CcxtExchangeProfile } from './ccxt-exchange.js';

/** ccxt settings for Bybit: linear markets only. */
export const BYBIT_PROFILE: CcxtExchangeProfile = {
  ccxtOptions: {
    defaultType: 'swap',
    defaultSubType: 'linear',
    fetchMarkets: { types: ['linear'] },
  },
  fetchOrderParams: { acknowledged: true },
  settleCurrency: 'USDT',
};

/** An ExchangePort for one Bybit account. */
export function createBybitExchange(options: CcxtExchangeOptions): CcxtExchange {
  return new CcxtExchange(bybit, BYBIT_PROFILE, options);
}
