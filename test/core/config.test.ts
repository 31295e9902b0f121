import { describe, expect, it } from 'vitest';
import {
  accountConfig,
  deepMerge,
  parseConfig,
  parseTradingOptions,
  tradingOptionsSchema,
} from '../../functions/core/config.js';
import type { EngineConfig, TradingOptions } from '../../functions/core/config.js';
import { D } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import { decimalField, formatIssues, ValidationError } from '../../functions/core/schema-util.js';

/** Runs `fn`, expects a ValidationError, and returns it so its `what`, `problems` and message can be checked. */
function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

/** The problems reported for `raw` as the options of one account (paths relative to the options). */
const optionProblems = (raw: unknown): string[] => validationError(() => parseTradingOptions(raw)).problems;

const str = (d: Decimal): string => d.toFixed();

const ONE_ACCOUNT = { accounts: [{ accountId: 'main', exchange: 'paper' }] };

describe('defaults', () => {
  const o: TradingOptions = parseTradingOptions({});

  it('risk: 5 open trades, 5000 / 20000 notional, daily loss 30, cooldown 15 min, no per-trade loss cap, max riskPct 2', () => {
    expect(o.risk.maxOpenTrades).toBe(5);
    expect(str(o.risk.maxNotionalPerTrade)).toBe('5000');
    expect(str(o.risk.maxNotionalPerAccount)).toBe('20000');
    expect(str(o.risk.dailyLossLimit)).toBe('30');
    expect(o.risk.cooldownAfterStopOutMinutes).toBe(15);
    expect(o.risk.maxLossPerTrade).toBeUndefined();
    expect(str(o.risk.maxRiskPct)).toBe('2');
  });

  it('fees: taker 0.0005, maker 0.0002', () => {
    expect(str(o.fees.takerRate)).toBe('0.0005');
    expect(str(o.fees.makerRate)).toBe('0.0002');
  });

  it('exits: spread buffer 0.05 %, ATR 14, partial 50 % at half the target, break-even, trailing 0.1 % from +0.5 %', () => {
    expect(str(o.exits.spreadBufferPct)).toBe('0.05');
    expect(o.exits.atrPeriod).toBe(14);
    expect(o.exits.partialTakeProfit.enabled).toBe(true);
    expect(str(o.exits.partialTakeProfit.firstAtFractionOfTarget)).toBe('0.5');
    expect(str(o.exits.partialTakeProfit.firstCloseFraction)).toBe('0.5');
    expect(o.exits.breakEvenAfterFirstPartial).toBe(true);
    expect(o.exits.trailing.enabled).toBe(true);
    expect(str(o.exits.trailing.activationPct)).toBe('0.5');
    expect(str(o.exits.trailing.trailPct)).toBe('0.1');
    expect(o.exits.minHoldingSeconds).toBe(60);
    expect(str(o.exits.minStopStepPct)).toBe('0.02');
  });

  it('exits: profit locks 1 % → 0.3 % and 2 % → 1 %', () => {
    expect(o.exits.profitLocks.map((l) => [str(l.atPct), str(l.lockPct)])).toEqual([
      ['1', '0.3'],
      ['2', '1'],
    ]);
  });

  it('failSafe: 95 % of the max loss, stop slippage 2 bps', () => {
    expect(str(o.failSafe.maxLossFraction)).toBe('0.95');
    expect(str(o.failSafe.stopSlippageBps)).toBe('2');
  });

  it('lifecycle: WARNING at 180 min, CRITICAL at 240 min, automatic timeout on, 30 min post-trade monitor', () => {
    expect(o.lifecycle).toEqual({
      warningMinutes: 180,
      criticalMinutes: 240,
      enableAutomaticTimeout: true,
      postTradeMonitorMinutes: 30,
    });
  });

  it('riskMonitoring: enabled, SAFE at 60, CRITICAL below 30, emergency close on CRITICAL', () => {
    expect(o.riskMonitoring).toEqual({
      enabled: true,
      safeAt: 60,
      healthScoreThreshold: 30,
      emergencyCloseOnCritical: true,
    });
  });

  it('orderExecution: 3 retries from 1000 ms, 30 s limit timeout, 0.5 % slippage guard, 5000 ms calls', () => {
    expect(o.orderExecution.maxRetries).toBe(3);
    expect(o.orderExecution.retryDelayMs).toBe(1000);
    expect(o.orderExecution.orderTimeoutSeconds).toBe(30);
    expect(str(o.orderExecution.maxSlippagePercent)).toBe('0.5');
    expect(o.orderExecution.callTimeoutMs).toBe(5000);
  });

  it('milestones: 10, 15, 20, 25, 30 % return on margin', () => {
    expect(o.milestones.thresholds).toEqual([10, 15, 20, 25, 30]);
  });

  it('circuitBreaker: opens after 5 failures, resets after 60 s', () => {
    expect(o.circuitBreaker).toEqual({ failureThreshold: 5, resetTimeoutSeconds: 60 });
  });

  it('ticks: every 10 s with a 1000 ms budget', () => {
    expect(o.ticks).toEqual({ intervalSeconds: 10, budgetMs: 1000 });
  });

  it('has exactly the ten option groups', () => {
    expect(Object.keys(o).sort()).toEqual(
      [
        'circuitBreaker',
        'exits',
        'failSafe',
        'fees',
        'lifecycle',
        'milestones',
        'orderExecution',
        'riskMonitoring',
        'risk',
        'ticks',
      ].sort(),
    );
  });

  it('is the same with no argument, undefined and an empty object', () => {
    const a = tradingOptionsSchema.parse({});
    expect(JSON.stringify(parseTradingOptions())).toBe(JSON.stringify(a));
    expect(JSON.stringify(parseTradingOptions(undefined))).toBe(JSON.stringify(a));
    expect(JSON.stringify(parseTradingOptions({}))).toBe(JSON.stringify(a));
  });

  it('a partially given group keeps the defaults of its other fields', () => {
    const p = parseTradingOptions({ exits: { trailing: { trailPct: '0.2' } } });
    expect(str(p.exits.trailing.trailPct)).toBe('0.2');
    expect(p.exits.trailing.enabled).toBe(true);
    expect(str(p.exits.trailing.activationPct)).toBe('0.5');
    expect(str(p.exits.spreadBufferPct)).toBe('0.05');
  });

  it('decimal options keep their digits and accept numbers as well as strings', () => {
    const p = parseTradingOptions({ fees: { takerRate: 0.0004, makerRate: '0.00012345678901234567890' } });
    expect(p.fees.takerRate.eq('0.0004')).toBe(true);
    expect(str(p.fees.makerRate)).toBe('0.0001234567890123456789');
  });

  it('maxLossPerTrade is parsed when given', () => {
    expect(str(parseTradingOptions({ risk: { maxLossPerTrade: '3.00' } }).risk.maxLossPerTrade!)).toBe('3');
  });
});

describe('parseConfig and per-account overrides', () => {
  it('resolves one account with the defaults and the account fields', () => {
    const c = parseConfig({
      accounts: [{ accountId: 'main', exchange: 'binanceusdm', equity: '1000.50', secretName: 'tw/main' }],
    });
    const a = accountConfig(c, 'main');
    expect(a.accountId).toBe('main');
    expect(a.exchange).toBe('binanceusdm');
    expect(str(a.equity!)).toBe('1000.5');
    expect(a.defaultLeverage).toBe(1);
    expect(a.secretName).toBe('tw/main');
    expect('overrides' in a).toBe(false);
    expect(JSON.stringify(a.options)).toBe(JSON.stringify(parseTradingOptions({})));
    expect(JSON.stringify(c.defaults)).toBe(JSON.stringify(parseTradingOptions({})));
  });

  it('applies `defaults` to every account and exposes them resolved', () => {
    const c = parseConfig({
      defaults: { risk: { maxOpenTrades: 2 } },
      accounts: [
        { accountId: 'a', exchange: 'paper' },
        { accountId: 'b', exchange: 'paper' },
      ],
    });
    expect(c.defaults.risk.maxOpenTrades).toBe(2);
    expect(str(c.defaults.risk.dailyLossLimit)).toBe('30');
    expect(accountConfig(c, 'a').options.risk.maxOpenTrades).toBe(2);
    expect(accountConfig(c, 'b').options.risk.maxOpenTrades).toBe(2);
  });

  it('merges an override field by field over the defaults, for that account only', () => {
    const c = parseConfig({
      defaults: { exits: { trailing: { activationPct: '0.8' } }, risk: { maxOpenTrades: 3 } },
      accounts: [
        { accountId: 'a', exchange: 'paper' },
        {
          accountId: 'b',
          exchange: 'bybit',
          defaultLeverage: 5,
          overrides: { exits: { trailing: { trailPct: '0.25' } }, lifecycle: { criticalMinutes: 300 } },
        },
      ],
    });
    const a = accountConfig(c, 'a').options;
    const b = accountConfig(c, 'b').options;
    // b: the overridden leaves change ...
    expect(str(b.exits.trailing.trailPct)).toBe('0.25');
    expect(b.lifecycle.criticalMinutes).toBe(300);
    // ... their siblings keep the (custom) defaults ...
    expect(str(b.exits.trailing.activationPct)).toBe('0.8');
    expect(b.exits.trailing.enabled).toBe(true);
    expect(b.lifecycle.warningMinutes).toBe(180);
    expect(b.risk.maxOpenTrades).toBe(3);
    expect(accountConfig(c, 'b').defaultLeverage).toBe(5);
    // ... and account a and the resolved defaults are untouched.
    expect(str(a.exits.trailing.trailPct)).toBe('0.1');
    expect(str(a.exits.trailing.activationPct)).toBe('0.8');
    expect(a.lifecycle.criticalMinutes).toBe(240);
    expect(str(c.defaults.exits.trailing.trailPct)).toBe('0.1');
    expect(c.defaults.lifecycle.criticalMinutes).toBe(240);
  });

  it('replaces arrays instead of merging them (profit locks, milestone thresholds)', () => {
    const c = parseConfig({
      defaults: {
        exits: {
          profitLocks: [
            { atPct: '1', lockPct: '0.3' },
            { atPct: '2', lockPct: '1' },
            { atPct: '3', lockPct: '2' },
          ],
        },
      },
      accounts: [
        { accountId: 'a', exchange: 'paper' },
        {
          accountId: 'b',
          exchange: 'paper',
          overrides: {
            exits: { profitLocks: [{ atPct: '5', lockPct: '4' }] },
            milestones: { thresholds: [50] },
          },
        },
        { accountId: 'c', exchange: 'paper', overrides: { exits: { profitLocks: [] } } },
      ],
    });
    expect(accountConfig(c, 'a').options.exits.profitLocks).toHaveLength(3);
    const b = accountConfig(c, 'b').options;
    expect(b.exits.profitLocks.map((l) => [str(l.atPct), str(l.lockPct)])).toEqual([['5', '4']]);
    expect(b.milestones.thresholds).toEqual([50]);
    expect(accountConfig(c, 'c').options.exits.profitLocks).toEqual([]);
  });

  it('an override of false or 0 is applied (not treated as missing)', () => {
    const c = parseConfig({
      accounts: [
        {
          accountId: 'a',
          exchange: 'paper',
          overrides: { exits: { trailing: { enabled: false } }, orderExecution: { maxRetries: 0 } },
        },
      ],
    });
    const a = accountConfig(c, 'a').options;
    expect(a.exits.trailing.enabled).toBe(false);
    expect(a.orderExecution.maxRetries).toBe(0);
  });

  it('deepMerge: objects merge by key, arrays and scalars replace, undefined keeps the base', () => {
    expect(deepMerge({ a: { x: 1, y: 2 }, l: [1, 2, 3] }, { a: { y: 3 }, l: [9] })).toEqual({
      a: { x: 1, y: 3 },
      l: [9],
    });
    expect(deepMerge({ a: 1 }, undefined)).toEqual({ a: 1 });
    expect(deepMerge({ a: { x: 1 } }, { a: 5 })).toEqual({ a: 5 });
    expect(deepMerge(5, { a: 1 })).toEqual({ a: 1 });
  });

  it('deepMerge does not modify its inputs', () => {
    const base = { a: { x: 1 } };
    const over = { a: { y: 2 } };
    deepMerge(base, over);
    expect(base).toEqual({ a: { x: 1 } });
    expect(over).toEqual({ a: { y: 2 } });
  });
});

describe('validation errors (path and message)', () => {
  it('rejects an unknown option key at the root and inside a group', () => {
    expect(optionProblems({ bogus: 1 })).toEqual(['(root): Unrecognized key: "bogus"']);
    expect(optionProblems({ risk: { maxOpenTrade: 3 } })).toEqual(['risk: Unrecognized key: "maxOpenTrade"']);
    expect(optionProblems({ exits: { trailing: { trail: '0.1' } } })).toEqual([
      'exits.trailing: Unrecognized key: "trail"',
    ]);
  });

  it('rejects a negative or zero amount that must be positive', () => {
    expect(optionProblems({ risk: { dailyLossLimit: '-1' } })).toEqual([
      'risk.dailyLossLimit: must be greater than 0, got -1',
    ]);
    expect(optionProblems({ exits: { trailing: { trailPct: 0 } } })).toEqual([
      'exits.trailing.trailPct: must be greater than 0, got 0',
    ]);
  });

  it('rejects a negative percentage that may be zero', () => {
    expect(optionProblems({ risk: { maxRiskPct: '-0.5' } })).toEqual([
      'risk.maxRiskPct: must not be negative, got -0.5',
    ]);
    expect(parseTradingOptions({ risk: { maxRiskPct: '0' } }).risk.maxRiskPct.isZero()).toBe(true);
  });

  it('rejects a decimal above its maximum', () => {
    expect(optionProblems({ risk: { maxRiskPct: '100.01' } })).toEqual([
      'risk.maxRiskPct: must be at most 100, got 100.01',
    ]);
    expect(optionProblems({ fees: { takerRate: '0.02' } })).toEqual([
      'fees.takerRate: must be at most 0.01, got 0.02',
    ]);
    expect(optionProblems({ failSafe: { maxLossFraction: '1.5' } })).toEqual([
      'failSafe.maxLossFraction: must be at most 1, got 1.5',
    ]);
  });

  it('rejects a string that is not a decimal, and a value that is neither string nor number', () => {
    expect(optionProblems({ risk: { dailyLossLimit: 'abc' } })).toEqual([
      'risk.dailyLossLimit: "abc" is not a decimal number',
    ]);
    expect(optionProblems({ risk: { dailyLossLimit: '1,5' } })).toEqual([
      'risk.dailyLossLimit: "1,5" is not a decimal number',
    ]);
    expect(optionProblems({ risk: { dailyLossLimit: true } })).toEqual([
      'risk.dailyLossLimit: expected a decimal number (string or number)',
    ]);
  });

  it('rejects non-integer and non-positive integer options', () => {
    expect(optionProblems({ risk: { maxOpenTrades: 0 } })).toEqual([
      'risk.maxOpenTrades: Too small: expected number to be >0',
    ]);
    expect(optionProblems({ risk: { maxOpenTrades: 1.5 } })).toEqual([
      'risk.maxOpenTrades: Invalid input: expected int, received number',
    ]);
    expect(optionProblems({ risk: { cooldownAfterStopOutMinutes: -1 } })).toEqual([
      'risk.cooldownAfterStopOutMinutes: Too small: expected number to be >=0',
    ]);
    expect(optionProblems({ orderExecution: { maxRetries: 11 } })).toEqual([
      'orderExecution.maxRetries: Too big: expected number to be <=10',
    ]);
  });

  it('rejects a profit lock whose lockPct is not below its atPct (equal and above)', () => {
    expect(optionProblems({ exits: { profitLocks: [{ atPct: '1', lockPct: '1' }] } })).toEqual([
      'exits.profitLocks.0.lockPct: lockPct (1) must be below atPct (1)',
    ]);
    expect(
      optionProblems({
        exits: {
          profitLocks: [
            { atPct: '1', lockPct: '0.3' },
            { atPct: '2', lockPct: '2.5' },
          ],
        },
      }),
    ).toEqual(['exits.profitLocks.1.lockPct: lockPct (2.5) must be below atPct (2)']);
  });

  it('rejects a profit lock with a missing field', () => {
    expect(optionProblems({ exits: { profitLocks: [{ atPct: '1' }] } })).toEqual([
      'exits.profitLocks.0.lockPct: expected a decimal number (string or number)',
    ]);
  });

  it('rejects warningMinutes at or above criticalMinutes', () => {
    const msg = 'lifecycle.warningMinutes: warningMinutes must be below criticalMinutes';
    expect(optionProblems({ lifecycle: { warningMinutes: 240 } })).toEqual([msg]);
    expect(optionProblems({ lifecycle: { warningMinutes: 100, criticalMinutes: 90 } })).toEqual([msg]);
    expect(parseTradingOptions({ lifecycle: { warningMinutes: 239 } }).lifecycle.warningMinutes).toBe(239);
  });

  it('rejects a health warning threshold above safeAt, accepts it equal', () => {
    expect(optionProblems({ riskMonitoring: { healthScoreThreshold: 61 } })).toEqual([
      'riskMonitoring.healthScoreThreshold: healthScoreThreshold must not exceed safeAt',
    ]);
    expect(parseTradingOptions({ riskMonitoring: { healthScoreThreshold: 60 } }).riskMonitoring.safeAt).toBe(
      60,
    );
  });

  it('rejects milestone thresholds that are not strictly ascending, or empty', () => {
    expect(optionProblems({ milestones: { thresholds: [10, 10] } })).toEqual([
      'milestones.thresholds: thresholds must be strictly ascending',
    ]);
    expect(optionProblems({ milestones: { thresholds: [20, 10] } })).toEqual([
      'milestones.thresholds: thresholds must be strictly ascending',
    ]);
    expect(optionProblems({ milestones: { thresholds: [] } })).toEqual([
      'milestones.thresholds: Too small: expected array to have >=1 items',
    ]);
  });

  it('reports every problem at once, each with its path', () => {
    expect(
      optionProblems({ risk: { dailyLossLimit: '0', maxOpenTrades: 0 }, ticks: { intervalSeconds: 61 } }),
    ).toEqual([
      'risk.maxOpenTrades: Too small: expected number to be >0',
      'risk.dailyLossLimit: must be greater than 0, got 0',
      'ticks.intervalSeconds: Too big: expected number to be <=60',
    ]);
  });

  it('names what was invalid in the error message', () => {
    const e = validationError(() => parseTradingOptions({ bogus: 1 }));
    expect(e.name).toBe('ValidationError');
    expect(e.what).toBe('options');
    expect(e.message).toBe('invalid options: (root): Unrecognized key: "bogus"');
  });

  it('parseConfig: rejects a duplicate accountId', () => {
    const e = validationError(() =>
      parseConfig({
        accounts: [
          { accountId: 'a', exchange: 'paper' },
          { accountId: 'a', exchange: 'okx' },
        ],
      }),
    );
    expect(e.message).toBe('invalid configuration: accounts.1.accountId: duplicate account "a"');
  });

  it('parseConfig: rejects a duplicate accountId even when the first one has invalid overrides', () => {
    // Every problem should be listed at once; the duplicate must not depend on the first account being valid.
    const e = validationError(() =>
      parseConfig({
        accounts: [
          { accountId: 'a', exchange: 'paper', overrides: { risk: { maxOpenTrades: 0 } } },
          { accountId: 'a', exchange: 'paper' },
        ],
      }),
    );
    expect(e.problems).toEqual([
      'accounts.0.overrides.risk.maxOpenTrades: Too small: expected number to be >0',
      'accounts.1.accountId: duplicate account "a"',
    ]);
  });

  it('parseConfig: rejects a bad accountId (upper case, too long, leading dash, empty)', () => {
    const msg = 'accounts.0.accountId: accountId must be 1–32 lowercase letters, digits or dashes';
    for (const accountId of ['Main', 'a'.repeat(33), '-main', '', 'a_b', 'a.b']) {
      expect(
        validationError(() => parseConfig({ accounts: [{ accountId, exchange: 'paper' }] })).problems,
      ).toEqual([msg]);
    }
    expect(
      accountConfig(
        parseConfig({ accounts: [{ accountId: 'a'.repeat(32), exchange: 'paper' }] }),
        'a'.repeat(32),
      ),
    ).toBeDefined();
  });

  it('parseConfig: rejects an unknown exchange, no accounts, a missing accounts list and unknown top-level keys', () => {
    expect(
      validationError(() => parseConfig({ accounts: [{ accountId: 'a', exchange: 'kraken' }] })).message,
    ).toBe(
      'invalid configuration: accounts.0.exchange: Invalid option: expected one of "binanceusdm"|"bybit"|"okx"|"paper"',
    );
    expect(validationError(() => parseConfig({ accounts: [] })).message).toBe(
      'invalid configuration: accounts: at least one account is required',
    );
    expect(validationError(() => parseConfig({})).problems).toEqual([
      'accounts: Invalid input: expected array, received undefined',
    ]);
    expect(validationError(() => parseConfig({ ...ONE_ACCOUNT, options: {} })).problems).toEqual([
      '(root): Unrecognized key: "options"',
    ]);
  });

  it('parseConfig: rejects bad account fields (leverage, equity, unknown key)', () => {
    const p = (a: Record<string, unknown>) =>
      validationError(() => parseConfig({ accounts: [{ accountId: 'a', exchange: 'paper', ...a }] }))
        .problems;
    expect(p({ defaultLeverage: 126 })).toEqual([
      'accounts.0.defaultLeverage: Too big: expected number to be <=125',
    ]);
    expect(p({ equity: '0' })).toEqual(['accounts.0.equity: must be greater than 0, got 0']);
    expect(p({ apiKey: 'x' })).toEqual(['accounts.0: Unrecognized key: "apiKey"']);
  });

  it('parseConfig: an invalid default is reported as a configuration-defaults error', () => {
    const e = validationError(() => parseConfig({ defaults: { risk: { bogus: 1 } }, ...ONE_ACCOUNT }));
    expect(e.what).toBe('configuration defaults');
    expect(e.message).toBe('invalid configuration defaults: risk: Unrecognized key: "bogus"');
  });

  it('parseConfig: an invalid override names the account index and the option path', () => {
    const e = validationError(() =>
      parseConfig({
        accounts: [
          { accountId: 'a', exchange: 'paper', overrides: { exits: { trailing: { trailPct: '0' } } } },
          { accountId: 'b', exchange: 'paper' },
          { accountId: 'c', exchange: 'paper', overrides: { lifecycle: { warningMinutes: 300 } } },
        ],
      }),
    );
    expect(e.what).toBe('configuration');
    expect(e.problems).toEqual([
      'accounts.0.overrides.exits.trailing.trailPct: must be greater than 0, got 0',
      'accounts.2.overrides.lifecycle.warningMinutes: warningMinutes must be below criticalMinutes',
    ]);
  });

  it('parseConfig: an override is validated after merging (a lock valid only with the defaults is rejected)', () => {
    const e = validationError(() =>
      parseConfig({
        defaults: { exits: { profitLocks: [{ atPct: '3', lockPct: '2' }] } },
        accounts: [{ accountId: 'a', exchange: 'paper', overrides: { lifecycle: { criticalMinutes: 120 } } }],
      }),
    );
    expect(e.problems).toEqual([
      'accounts.0.overrides.lifecycle.warningMinutes: warningMinutes must be below criticalMinutes',
    ]);
  });

  it('accountConfig: an unknown account names the configured ones', () => {
    const c: EngineConfig = parseConfig({
      accounts: [
        { accountId: 'a', exchange: 'paper' },
        { accountId: 'b', exchange: 'paper' },
      ],
    });
    const e = validationError(() => accountConfig(c, 'zz'));
    expect(e.what).toBe('account');
    expect(e.message).toBe('invalid account: unknown account "zz"; configured: a, b');
  });
});

describe('schema-util', () => {
  it('decimalField accepts numbers and strings, trims strings, keeps every digit', () => {
    const f = decimalField();
    expect(str(f.parse(' 0.1 '))).toBe('0.1');
    expect(str(f.parse(0.1))).toBe('0.1');
    expect(str(f.parse('1e-3'))).toBe('0.001');
    expect(str(f.parse('.5'))).toBe('0.5');
    expect(str(f.parse('27000.000000000000000000001'))).toBe('27000.000000000000000000001');
    expect(f.parse('1')).toBeInstanceOf(D);
  });

  it('decimalField rejects NaN, infinities and non-decimal text with a specific message', () => {
    const issues = (v: unknown) => {
      const r = decimalField().safeParse(v);
      return r.success ? [] : formatIssues(r.error);
    };
    expect(issues('NaN')).toEqual(['(root): "NaN" is not a decimal number']);
    expect(issues('Infinity')).toEqual(['(root): "Infinity" is not a decimal number']);
    expect(issues('0x10')).toEqual(['(root): "0x10" is not a decimal number']);
    expect(issues('')).toEqual(['(root): "" is not a decimal number']);
    expect(issues(Number.NaN)).toHaveLength(1);
    expect(issues(Number.POSITIVE_INFINITY)).toHaveLength(1);
  });
});
