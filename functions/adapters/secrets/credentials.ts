/**
 * Exchange API credentials from AWS Secrets Manager: one secret per exchange account (its name is the
 * account's `secretName` in the configuration), holding JSON `{"apiKey": "…", "secret": "…", "password": "…"}`
 * (`password` only for OKX). Read with Powertools parameters `getSecret` semantics (a SecretsProvider,
 * cached for `maxAgeSeconds`, default 300). The values are validated and never logged: every error names
 * the account and the secret, never its contents.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import type { CredentialsProvider, ExchangeCredentials } from '../ccxt/credentials.js';

/** The part of Powertools' SecretsProvider the adapter uses (tests pass a stand-in). */
export interface SecretReader {
  get(name: string, options?: { maxAge?: number }): Promise<unknown>;
}

const credentialsSchema = z.strictObject({
  apiKey: z.string().min(1, 'apiKey must be a non-empty string'),
  secret: z.string().min(1, 'secret must be a non-empty string'),
  password: z.string().min(1, 'password must be a non-empty string').optional(),
});

/** The credentials could not be loaded. The message never contains a secret value. */
export class CredentialsUnavailableError extends Error {
  constructor(
    readonly accountId: string,
    reason: string,
  ) {
    super(`credentials of account ${accountId} are unavailable: ${reason}`);
    this.name = 'CredentialsUnavailableError';
  }
}

/** Options of {@link SecretsManagerCredentialsProvider}. */
export interface SecretsCredentialsOptions {
  /** The secret name of an account (from the configuration's `secretName`); undefined when none is configured. */
  secretNameOf: (accountId: string) => string | undefined;
  /** Cache age in seconds; default 300. */
  maxAgeSeconds?: number;
  /** Default: a Powertools SecretsProvider. */
  reader?: SecretReader;
}

/** A {@link CredentialsProvider} over Secrets Manager. */
export class SecretsManagerCredentialsProvider implements CredentialsProvider {
  private readonly reader: SecretReader;
  private readonly maxAge: number;

  constructor(private readonly opts: SecretsCredentialsOptions) {
    this.maxAge = opts.maxAgeSeconds ?? 300;
    if (!Number.isFinite(this.maxAge) || this.maxAge < 0)
      throw new RangeError(`maxAgeSeconds must be ≥ 0, got ${String(opts.maxAgeSeconds)}`);
    this.reader = opts.reader ?? new SecretsProvider();
  }

  async getCredentials(exchangeId: string, accountId: string): Promise<ExchangeCredentials> {
    const name = this.opts.secretNameOf(accountId);
    if (name === undefined || name === '')
      throw new CredentialsUnavailableError(
        accountId,
        `no secretName is configured (exchange ${exchangeId})`,
      );
    let value: unknown;
    try {
      value = await this.reader.get(name, { maxAge: this.maxAge });
    } catch (e) {
      throw new CredentialsUnavailableError(
        accountId,
        `secret ${name} could not be read (${e instanceof Error ? e.name : 'error'})`,
      );
    }
    if (typeof value !== 'string' || value === '')
      throw new CredentialsUnavailableError(accountId, `secret ${name} has no string value`);
    let raw: unknown;
    try {
      raw = JSON.parse(value);
    } catch {
      throw new CredentialsUnavailableError(accountId, `secret ${name} is not JSON`);
    }
    const parsed = credentialsSchema.safeParse(raw);
    if (!parsed.success) {
      // Only paths and messages: zod's messages here are ours and never echo the value.
      const problems = parsed.error.issues.map(
        (i) =>
          `${i.path.length ? i.path.join('.') : '(root)'}: ${i.code === 'unrecognized_keys' ? 'unknown keys' : i.message}`,
      );
      throw new CredentialsUnavailableError(accountId, `secret ${name} is invalid: ${problems.join('; ')}`);
    }
    const c: ExchangeCredentials = { apiKey: parsed.data.apiKey, secret: parsed.data.secret };
    if (parsed.data.password !== undefined) c.password = parsed.data.password;
    return c;
  }
}
