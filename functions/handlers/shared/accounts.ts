/**
 * Per-account exchange runtimes: the exchange port and the order executor (with the account's shared
 * circuit breaker and the account's execution settings) for one account of the configuration. Exchanges
 * are built once per account and kept for the life of the Lambda instance; the executor is rebuilt when the
 * configuration changes (a config reload applies to the next invocation).
 */
import { accountConfig } from '../../core/config.js';
import type { AccountConfig, EngineConfig } from '../../core/config.js';
import type { Clock } from '../../ports/clock.js';
import type { ConfigSource } from '../../ports/config.js';
import type { ExchangePort } from '../../ports/exchange.js';
import type { TradeStore } from '../../ports/trade-store.js';
import { CircuitBreaker, breakerSettingsFromConfig } from '../../services/circuit-breaker.js';
import { OrderExecutor, executorSettingsFromConfig } from '../../services/order-executor.js';
import type { ExecutorSettings, Sleeper } from '../../services/order-executor.js';

/** One exchange account as the handlers and workers use it. */
export interface AccountRuntime {
  accountId: string;
  exchange: ExchangePort;
  executor: OrderExecutor;
}

/** Builds the exchange port of an account (AWS: ccxt with Secrets Manager keys; locally: the paper exchange). */
export type ExchangeFactory = (account: AccountConfig) => ExchangePort;

/** Options of {@link AccountRuntimes}. */
export interface AccountRuntimesOptions {
  store: TradeStore;
  clock: Clock;
  config: ConfigSource;
  exchangeFor: ExchangeFactory;
  /** How executor back-offs and limit-order polls wait (default: a real timer). */
  sleep?: Sleeper;
  /** Jitter source of the executor. */
  random?: () => number;
  /** Settings over the configuration's (tests shorten delays). */
  executorOverrides?: Partial<ExecutorSettings>;
}

/** The account runtimes of one Lambda instance. */
export class AccountRuntimes {
  private readonly exchanges = new Map<string, ExchangePort>();
  private readonly runtimes = new Map<string, { config: EngineConfig; runtime: AccountRuntime }>();

  constructor(private readonly opts: AccountRuntimesOptions) {}

  /** The runtime of `accountId`; throws a ValidationError naming the configured accounts when unknown. */
  async account(accountId: string): Promise<AccountRuntime> {
    const config = await this.opts.config.getConfig();
    const cached = this.runtimes.get(accountId);
    if (cached && cached.config === config) return cached.runtime;
    const account = accountConfig(config, accountId);
    let exchange = this.exchanges.get(accountId);
    if (!exchange) {
      exchange = this.opts.exchangeFor(account);
      this.exchanges.set(accountId, exchange);
    }
    const { store, clock } = this.opts;
    const breaker = new CircuitBreaker({
      store,
      clock,
      scope: accountId,
      settings: breakerSettingsFromConfig(account.options.circuitBreaker),
    });
    const executor = new OrderExecutor({
      exchange,
      store,
      clock,
      breaker,
      settings: {
        ...executorSettingsFromConfig(account.options.orderExecution),
        ...this.opts.executorOverrides,
      },
      ...(this.opts.sleep ? { sleep: this.opts.sleep } : {}),
      ...(this.opts.random ? { random: this.opts.random } : {}),
    });
    const runtime = { accountId, exchange, executor };
    this.runtimes.set(accountId, { config, runtime });
    return runtime;
  }
}
