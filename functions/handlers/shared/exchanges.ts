/**
 * The exchange factory in AWS: each configured account gets a ccxt adapter for its exchange, with API keys
 * from the Secrets Manager secret named by the account's `secretName` (cached; never logged, never in env).
 */
import { createBinanceUsdmExchange } from '../../adapters/ccxt/binanceusdm.js';
import { createBybitExchange } from '../../adapters/ccxt/bybit.js';
import { createOkxExchange } from '../../adapters/ccxt/okx.js';
import { SecretsManagerCredentialsProvider } from '../../adapters/secrets/credentials.js';
import type { ExchangeFactory } from './accounts.js';

/** The factory of ccxt exchanges; `paper` accounts are refused (the paper exchange runs only locally). */
export function awsExchangeFactory(): ExchangeFactory {
  const secretNames = new Map<string, string | undefined>();
  const credentials = new SecretsManagerCredentialsProvider({
    secretNameOf: (accountId) => secretNames.get(accountId),
  });
  return (account) => {
    secretNames.set(account.accountId, account.secretName);
    const opts = { accountId: account.accountId, credentials };
    switch (account.exchange) {
      case 'binanceusdm':
        return createBinanceUsdmExchange(opts);
      case 'bybit':
        return createBybitExchange(opts);
      case 'okx':
        return createOkxExchange(opts);
      case 'paper':
        throw new TypeError(
          `account ${account.accountId} uses the paper exchange, which runs only in the local runtime`,
        );
    }
  };
}
