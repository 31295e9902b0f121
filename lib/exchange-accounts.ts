/**
 * The exchange accounts the stack is deployed for (from the CDK context `accounts`), one Secrets Manager
 * secret per non-paper account, and the engine configuration parameter in SSM.
 *
 * Secrets are created with a random placeholder value: the template never contains key material, and
 * handlers receive only the secret's NAME (through the configuration's `secretName`), never its value.
 */
import { CfnOutput, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { ExchangeId } from '../functions/core/config.js';
import { EXCHANGES, parseConfig } from '../functions/core/config.js';

/** One exchange account of the deployment. */
export interface AccountSpec {
  readonly accountId: string;
  readonly exchange: ExchangeId;
}

/** The CDK context key holding the account list. */
export const ACCOUNTS_CONTEXT = 'accounts';

/** The account used when the context names none: a paper account, so a first deploy trades nothing real. */
export const DEFAULT_ACCOUNTS: readonly AccountSpec[] = [{ accountId: 'demo', exchange: 'paper' }];

const ACCOUNT_ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Parses the `accounts` context value: a JSON array of `{accountId, exchange}` (as a string or already
 * parsed) or the shorthand `id:exchange,id:exchange`. `undefined` gives {@link DEFAULT_ACCOUNTS}.
 * Throws a RangeError naming every problem (bad id, unknown exchange, duplicate id, bad format).
 */
export function parseAccountsContext(raw: unknown): AccountSpec[] {
  if (raw === undefined || raw === null || raw === '') return [...DEFAULT_ACCOUNTS];
  let items: unknown = raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    if (text.startsWith('[')) {
      try {
        items = JSON.parse(text);
      } catch (e) {
        throw new RangeError(`context "accounts" is not valid JSON: ${(e as Error).message}`);
      }
    } else {
      items = text.split(',').map((part) => {
        const [accountId, exchange, ...rest] = part.trim().split(':');
        if (rest.length > 0 || accountId === undefined || exchange === undefined) {
          throw new RangeError(`context "accounts": "${part.trim()}" is not "<accountId>:<exchange>"`);
        }
        return { accountId, exchange };
      });
    }
  }
  if (!Array.isArray(items) || items.length === 0) {
    throw new RangeError('context "accounts" must be a non-empty list of {accountId, exchange}');
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  const out: AccountSpec[] = [];
  items.forEach((item: unknown, i) => {
    const rec = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const { accountId, exchange } = rec;
    if (typeof accountId !== 'string' || !ACCOUNT_ID_RE.test(accountId)) {
      problems.push(
        `accounts[${i}].accountId must be 1–32 lowercase letters, digits or dashes, got ${JSON.stringify(accountId)}`,
      );
      return;
    }
    if (typeof exchange !== 'string' || !(EXCHANGES as readonly string[]).includes(exchange)) {
      problems.push(
        `accounts[${i}].exchange must be one of ${EXCHANGES.join(', ')}, got ${JSON.stringify(exchange)}`,
      );
      return;
    }
    if (seen.has(accountId)) {
      problems.push(`accounts[${i}]: duplicate accountId "${accountId}"`);
      return;
    }
    seen.add(accountId);
    out.push({ accountId, exchange: exchange as ExchangeId });
  });
  if (problems.length > 0) throw new RangeError(`context "accounts": ${problems.join('; ')}`);
  return out;
}

/** The Secrets Manager name of an account's API keys. */
export function secretNameFor(accountId: string): string {
  return `tradewarden/exchange/${accountId}`;
}

/** The SSM parameter holding the engine configuration JSON. */
export const CONFIG_PARAMETER_NAME = '/tradewarden/config';

/**
 * The configuration written at deploy time: the default risk limits and the accounts, each non-paper
 * account pointing at its secret by name. Validated with the engine's own schema.
 */
export function initialConfig(accounts: readonly AccountSpec[]): Record<string, unknown> {
  const config = {
    defaults: { risk: { maxLossPerTrade: '3.00' } },
    accounts: accounts.map((a) =>
      a.exchange === 'paper'
        ? { accountId: a.accountId, exchange: a.exchange, equity: '10000' }
        : { accountId: a.accountId, exchange: a.exchange, secretName: secretNameFor(a.accountId) },
    ),
  };
  parseConfig(config);
  return config;
}

/** One secret per non-paper account, and the configuration parameter. */
export class ExchangeAccounts extends Construct {
  readonly accounts: readonly AccountSpec[];
  /** accountId → its secret (paper accounts have none). */
  readonly secrets = new Map<string, secretsmanager.Secret>();
  readonly configParameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, accounts: readonly AccountSpec[]) {
    super(scope, id);
    this.accounts = accounts;
    for (const a of accounts) {
      if (a.exchange === 'paper') continue;
      const secret = new secretsmanager.Secret(this, `Secret-${a.accountId}`, {
        secretName: secretNameFor(a.accountId),
        description:
          `API keys of exchange account ${a.accountId} (${a.exchange}): JSON {"apiKey","secret"` +
          `${a.exchange === 'okx' ? ',"password"' : ''}}. Created with a random placeholder; put the keys in after deploy.`,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason:
          'Exchange API keys are issued by the exchange, not by AWS: no rotation Lambda can create them. ' +
          'The operator rotates them on the exchange and updates the secret (docs/architecture.md).',
      });
      this.secrets.set(a.accountId, secret);
      new CfnOutput(this, `SecretName-${a.accountId}`, {
        value: secret.secretName,
        description: `Secret for the API keys of account ${a.accountId}`,
      });
    }
    this.configParameter = new ssm.StringParameter(this, 'Config', {
      parameterName: CONFIG_PARAMETER_NAME,
      description: 'Tradewarden engine configuration (JSON, schema functions/core/config.ts)',
      stringValue: JSON.stringify(initialConfig(accounts)),
      tier: ssm.ParameterTier.STANDARD,
    });
    new CfnOutput(this, 'ConfigParameterName', { value: CONFIG_PARAMETER_NAME });
  }

  /** Lets `role` read the configuration parameter (ssm:GetParameter on it only). */
  grantReadConfig(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [this.configParameter.parameterArn],
      }),
    );
  }

  /** Lets `role` read every account's secret value (secretsmanager:GetSecretValue on those secrets only). */
  grantReadSecrets(role: iam.IRole): void {
    const arns = [...this.secrets.values()].map((s) => s.secretArn);
    if (arns.length === 0) return;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: arns }),
    );
  }
}
