/**
 * API credentials for an exchange account. They come from a {@link CredentialsProvider} (the Secrets
 * Manager adapter in production, a fixed value in tests) — never from environment variables — and are
 * never logged: the ccxt adapter redacts them from every error message it builds.
 */

/** The secrets ccxt needs to sign private requests. */
export interface ExchangeCredentials {
  apiKey: string;
  secret: string;
  /** OKX's API passphrase (ccxt calls it `password`); absent for Binance and Bybit. */
  password?: string;
}

/** Where the adapter gets an account's credentials. Called lazily, before the first private request. */
export interface CredentialsProvider {
  /**
   * The credentials of `accountId` on `exchangeId`. Rejects with an Error whose message names the account
   * but contains no secret when they are missing.
   */
  getCredentials(exchangeId: string, accountId: string): Promise<ExchangeCredentials>;
}

/** A provider holding one fixed set of credentials (tests, local runs against a stub). */
export class StaticCredentialsProvider implements CredentialsProvider {
  constructor(private readonly credentials: ExchangeCredentials) {
    if (credentials.apiKey.length === 0 || credentials.secret.length === 0) {
      throw new TypeError('StaticCredentialsProvider: apiKey and secret must be non-empty strings');
    }
  }

  /** Returns a copy of the fixed credentials, whatever the exchange and account. */
  getCredentials(): Promise<ExchangeCredentials> {
    return Promise.resolve({ ...this.credentials });
  }
}
