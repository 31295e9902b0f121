/**
 * Engine configuration: accounts with their exchange and limits, and the live-trading options with the
 * defaults taken from the source write-ups. Options are set once under `defaults` and may be overridden
 * per account (`accounts[].overrides`, any subset, merged field by field). Unknown keys are rejected so a
 * misspelt option can never be silently ignored.
 *
 * Percentages named `...Pct` are percent of price (0.5 means 0.5 %), not of margin, except the milestone
 * thresholds which are percent return on margin (price move × leverage).
 */
import { z } from 'zod';
import type { Decimal } from './decimal.js';
import { decimalField, formatIssues, ValidationError } from './schema-util.js';

const pct = (def: string, opts: { max?: string } = {}) =>
  decimalField({ nonNegative: true, ...opts }).prefault(def);
const posInt = (def: number) => z.int().positive().prefault(def);

export const TRADING_STATES = ['ACTIVE', 'REDUCING', 'HALTED'] as const;
/** ACTIVE: trade normally. REDUCING: no new entries, exits and protection continue. HALTED: no new orders except protective ones. */
export type TradingState = (typeof TRADING_STATES)[number];

export const EXCHANGES = ['binanceusdm', 'bybit', 'okx', 'paper'] as const;
export type ExchangeId = (typeof EXCHANGES)[number];

const riskSchema = z.strictObject({
  /** Open trades allowed per account at once. */
  maxOpenTrades: posInt(5),
  /** Largest notional (qty × entry) of one trade, in quote currency. */
  maxNotionalPerTrade: decimalField({ positive: true }).prefault('5000'),
  /** Largest total notional of an account's open trades. */
  maxNotionalPerAccount: decimalField({ positive: true }).prefault('20000'),
  /** Realized loss in the current UTC day at which new entries stop (positive amount). */
  dailyLossLimit: decimalField({ positive: true }).prefault('30'),
  /** After a stop-out on a symbol, no new entry on that symbol for this long. */
  cooldownAfterStopOutMinutes: z.number().nonnegative().prefault(15),
  /** Hard cap on any one trade's loss (e.g. 3.00); the trade's max loss is min(signal risk, this). */
  maxLossPerTrade: decimalField({ positive: true }).optional(),
  /** Largest riskPct a signal may ask for. */
  maxRiskPct: pct('2', { max: '100' }),
});

const feesSchema = z.strictObject({
  /** Fee rate for market orders and triggered stops (0.0005 = 0.05 %). */
  takerRate: decimalField({ nonNegative: true, max: '0.01' }).prefault('0.0005'),
  /** Fee rate for resting limit and take-profit orders. */
  makerRate: decimalField({ nonNegative: true, max: '0.01' }).prefault('0.0002'),
});

const profitLockSchema = z.strictObject({
  /** Once price is this far in profit (percent of entry)... */
  atPct: decimalField({ positive: true }),
  /** ...the stop is at least this far in profit (percent of entry). Must be below atPct. */
  lockPct: decimalField({ nonNegative: true }),
});

const exitsSchema = z.strictObject({
  /** Extra room added to the initial stop, away from entry, for the bid/ask spread (percent of entry). */
  spreadBufferPct: pct('0.05', { max: '10' }),
  /** ATR period for `stop.atrMultiple` signals and the health score's volatility component. */
  atrPeriod: posInt(14),
  partialTakeProfit: z
    .strictObject({
      enabled: z.boolean().prefault(true),
      /** The first partial sits at this fraction of the distance from entry to the target. */
      firstAtFractionOfTarget: decimalField({ positive: true, max: '1' }).prefault('0.5'),
      /** Fraction of the initial quantity closed at the first partial; the rest closes at the target. */
      firstCloseFraction: decimalField({ positive: true, max: '1' }).prefault('0.5'),
    })
    .prefault({}),
  /** After the first partial, move the stop to break-even (entry plus the fees of the round trip). */
  breakEvenAfterFirstPartial: z.boolean().prefault(true),
  trailing: z
    .strictObject({
      enabled: z.boolean().prefault(true),
      /** Trailing starts once unrealized profit reaches this (percent of entry, price move). */
      activationPct: pct('0.5', { max: '100' }),
      /** The stop trails this far behind the best price (percent). */
      trailPct: decimalField({ positive: true, max: '50' }).prefault('0.1'),
    })
    .prefault({}),
  profitLocks: z
    .array(profitLockSchema)
    .max(20)
    .prefault([
      { atPct: '1', lockPct: '0.3' },
      { atPct: '2', lockPct: '1' },
    ]),
  /** Trailing may not tighten the stop before the position is this old (premature-closure guard). */
  minHoldingSeconds: z.number().nonnegative().prefault(60),
  /** A stop replacement smaller than this (percent of entry) is skipped to limit churn. */
  minStopStepPct: pct('0.02', { max: '10' }),
});

const failSafeSchema = z.strictObject({
  /** Every stop sent must keep the loss if stopped at or below this fraction of the trade's max loss. */
  maxLossFraction: decimalField({ positive: true, max: '1' }).prefault('0.95'),
  /** Adverse slippage a stop's fill is assumed to suffer, in basis points (priced into sizing and the check). */
  stopSlippageBps: decimalField({ nonNegative: true, max: '500' }).prefault('2'),
});

const lifecycleSchema = z.strictObject({
  warningMinutes: z.number().positive().prefault(180),
  criticalMinutes: z.number().positive().prefault(240),
  /** Close the position at market when it reaches CRITICAL. */
  enableAutomaticTimeout: z.boolean().prefault(true),
  /** Length of the post-trade ("shadow") milestone window after exit, and for skipped signals. */
  postTradeMonitorMinutes: z.number().nonnegative().prefault(30),
});

const riskMonitoringSchema = z.strictObject({
  enabled: z.boolean().prefault(true),
  /** Health at or above this is SAFE. */
  safeAt: z.number().min(0).max(100).prefault(60),
  /** Health at or above this (and below safeAt) is WARNING; below it, CRITICAL. */
  healthScoreThreshold: z.number().min(0).max(100).prefault(30),
  /** Close the position at market when its health is CRITICAL. */
  emergencyCloseOnCritical: z.boolean().prefault(true),
});

const orderExecutionSchema = z.strictObject({
  maxRetries: z.int().nonnegative().max(10).prefault(3),
  /** First backoff delay; doubles each retry (1 s → 2 s → 4 s) plus jitter. */
  retryDelayMs: z.int().nonnegative().prefault(1000),
  /** A limit entry not filled within this is cancelled (a partial fill keeps the filled part). */
  orderTimeoutSeconds: z.number().positive().prefault(30),
  /** Refuse an entry when price moved more than this from the signal (percent). */
  maxSlippagePercent: pct('0.5', { max: '100' }),
  /** Timeout of each exchange call. */
  callTimeoutMs: z.int().positive().prefault(5000),
});

const milestonesSchema = z.strictObject({
  /** Profit thresholds in percent return on margin, ascending. */
  thresholds: z
    .array(z.number().positive())
    .min(1)
    .max(20)
    .prefault([10, 15, 20, 25, 30])
    .refine(
      (t) => t.every((v, i) => i === 0 || v > (t[i - 1] ?? 0)),
      'thresholds must be strictly ascending',
    ),
});

const circuitBreakerSchema = z.strictObject({
  failureThreshold: posInt(5),
  resetTimeoutSeconds: z.number().positive().prefault(60),
});

const ticksSchema = z.strictObject({
  /** Interval of the stop-manager, milestone and lifecycle ticks. */
  intervalSeconds: z.number().positive().max(60).prefault(10),
  /** Time budget of one stop-manager tick. */
  budgetMs: z.int().positive().prefault(1000),
});

export const tradingOptionsSchema = z
  .strictObject({
    risk: riskSchema.prefault({}),
    fees: feesSchema.prefault({}),
    exits: exitsSchema.prefault({}),
    failSafe: failSafeSchema.prefault({}),
    lifecycle: lifecycleSchema.prefault({}),
    riskMonitoring: riskMonitoringSchema.prefault({}),
    orderExecution: orderExecutionSchema.prefault({}),
    milestones: milestonesSchema.prefault({}),
    circuitBreaker: circuitBreakerSchema.prefault({}),
    ticks: ticksSchema.prefault({}),
  })
  .superRefine((o, ctx) => {
    o.exits.profitLocks.forEach((lock, i) => {
      if (!lock.lockPct.lt(lock.atPct)) {
        ctx.addIssue({
          code: 'custom',
          path: ['exits', 'profitLocks', i, 'lockPct'],
          message: `lockPct (${lock.lockPct.toFixed()}) must be below atPct (${lock.atPct.toFixed()})`,
        });
      }
    });
    if (o.lifecycle.warningMinutes >= o.lifecycle.criticalMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['lifecycle', 'warningMinutes'],
        message: 'warningMinutes must be below criticalMinutes',
      });
    }
    if (o.riskMonitoring.healthScoreThreshold > o.riskMonitoring.safeAt) {
      ctx.addIssue({
        code: 'custom',
        path: ['riskMonitoring', 'healthScoreThreshold'],
        message: 'healthScoreThreshold must not exceed safeAt',
      });
    }
  });

/** The fully resolved live-trading options of one account (every field present). */
export type TradingOptions = z.output<typeof tradingOptionsSchema>;

const ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

const accountSchema = z.strictObject({
  /** Lowercase letters, digits and dashes, at most 32 characters; part of every trade id. */
  accountId: z.string().regex(ID_RE, 'accountId must be 1–32 lowercase letters, digits or dashes'),
  exchange: z.enum(EXCHANGES),
  /** Equity used for `riskPct` sizing when the exchange balance is not known (paper runs, tests). */
  equity: decimalField({ positive: true }).optional(),
  /** Leverage applied when a signal gives none. */
  defaultLeverage: z.int().min(1).max(125).prefault(1),
  /** Name of the Secrets Manager secret holding this account's API keys (never the keys themselves). */
  secretName: z.string().min(1).max(512).optional(),
  /** Any subset of the options, merged over `defaults` for this account only. */
  overrides: z.record(z.string(), z.unknown()).optional(),
});

const rawConfigSchema = z.strictObject({
  defaults: z.record(z.string(), z.unknown()).optional(),
  accounts: z.array(accountSchema).min(1, 'at least one account is required'),
});

export interface AccountConfig {
  accountId: string;
  exchange: ExchangeId;
  equity?: Decimal;
  defaultLeverage: number;
  secretName?: string;
  /** This account's resolved options (defaults merged with its overrides). */
  options: TradingOptions;
}

export interface EngineConfig {
  /** The resolved defaults, for accounts added later and for display. */
  defaults: TradingOptions;
  accounts: ReadonlyMap<string, AccountConfig>;
}

type Json = unknown;
function isPlainObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/** Field-by-field merge of plain objects; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: Json, over: Json): Json {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, Json> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** Resolves live-trading options from raw JSON (defaults merged with an optional override). */
export function parseTradingOptions(raw: Json = {}, override?: Json, what = 'options'): TradingOptions {
  const result = tradingOptionsSchema.safeParse(deepMerge(raw ?? {}, override ?? {}));
  if (!result.success) throw new ValidationError(what, formatIssues(result.error));
  return result.data;
}

/**
 * Parses and validates the engine configuration. Throws {@link ValidationError} listing every problem
 * with its path (e.g. `accounts.1.overrides.exits.trailing.trailPct: must be greater than 0, got 0`).
 */
export function parseConfig(raw: Json): EngineConfig {
  const top = rawConfigSchema.safeParse(raw);
  if (!top.success) throw new ValidationError('configuration', formatIssues(top.error));
  const defaults = parseTradingOptions(top.data.defaults, undefined, 'configuration defaults');
  const accounts = new Map<string, AccountConfig>();
  const problems: string[] = [];
  const seen = new Set<string>();
  top.data.accounts.forEach((a, i) => {
    if (seen.has(a.accountId)) {
      problems.push(`accounts.${i}.accountId: duplicate account "${a.accountId}"`);
      return;
    }
    seen.add(a.accountId);
    try {
      const options = parseTradingOptions(top.data.defaults, a.overrides, `accounts.${i}.overrides`);
      const { overrides: _ignored, ...rest } = a;
      accounts.set(a.accountId, { ...rest, options });
    } catch (e) {
      if (e instanceof ValidationError)
        problems.push(...e.problems.map((p) => `accounts.${i}.overrides.${p}`));
      else throw e;
    }
  });
  if (problems.length > 0) throw new ValidationError('configuration', problems);
  return { defaults, accounts };
}

/** The resolved options of one account; throws a specific error for an unknown account. */
export function accountConfig(config: EngineConfig, accountId: string): AccountConfig {
  const account = config.accounts.get(accountId);
  if (!account) {
    throw new ValidationError('account', [
      `unknown account "${accountId}"; configured: ${[...config.accounts.keys()].join(', ')}`,
    ]);
  }
  return account;
}
