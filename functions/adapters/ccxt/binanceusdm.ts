/**
 * Binance USDⓈ-M futures through ccxt's `binanceusdm` class, imported by its own module so a bundle
 * holds Binance's code only. Stops and take-profits are algo orders (`/fapi/v1/algoOrder`); ccxt routes
 * them there when `createOrder` gets `stopLossPrice` / `takeProfitPrice` and when fetch/cancel get
 * `{ trigger: true }`.
 */
import binanceusdm from 'ccxt/js/src/binanceusdm.js';
import { CcxtExchange } from './ccxt-exchange.js';
import type { CcxtExchangeOptions, CcxtExchangeProfile } from './ccxt-exchange.js';

/** ccxt settings for Binance USDⓈ-M: linear markets only, open orders may be listed without a symbol. */
export const BINANCEUSDM_PROFILE: CcxtExchangeProfile = {
  ccxtOptions: {
    defaultType: 'swap',
    fetchMarkets: { types: ['linear'] },
    fetchOpenOrders: { warnWithoutSymbol: false },
    warnOnFetchOpenOrdersWithoutSymbol: false,
  },
  settleCurrency: 'USDT',
};

/** An ExchangePort for one Binance USDⓈ-M account. */
export function createBinanceUsdmExchange(options: CcxtExchangeOptions): CcxtExchange {
  return new CcxtExchange(binanceusdm, BINANCEUSDM_PROFILE, options);
}
