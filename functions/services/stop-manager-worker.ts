/**
 * The stop-manager worker: one tick moves every open position's exchange stop according to the core's
 * {@link adjustStop}. A tick (see docs/workers.md):
 *
 * 1. Lists the open trades of each account from the `byAccount` index (LIVE, WARNING, CRITICAL), fetches
 *    ONE ticker per symbol (one `fetchTickers` call per account) and builds one {@link observation} per
 *    symbol, shared by every trade on it.
 * 2. Decodes each stored position with the rules in force (`stopRulesFor(options, market)`) and orders the
 *    trades by their distance to the stop, |price − stop| / price, nearest first.
 * 3. Processes them with at most `concurrency` (default 3) in flight. A trade is started only while the
 *    tick is within its budget (`ticks.budgetMs`); the rest are reported as skipped and the tick as over
 *    budget (metric `TickOverBudget`).
 * 4. Per trade: a step with no action and no change ends there (no lease, no write). Otherwise the trade
 *    lease is taken (held elsewhere → skipped this tick), the trade re-read and the step recomputed.
 *    - EXIT (take-profit, stop would trigger): the LIVE wait is ended with the reason; the exit itself is
 *      the workflow's. The stop stays on the exchange until then.
 *    - PARTIAL_EXIT / MOVE_STOP need the exchange: skipped while the position's breaker is open. Partial
 *      exits first (reduce-only market, client id per level, so a replay never re-sends), then one stop
 *      replacement (create-before-cancel) at the new price and the remaining quantity.
 *    - STOP_REJECTED (fail-safe): counted (`FailSafeRejections`), the position (with its counter) stored.
 *    Every change is one audit event (STOP_MOVED, PARTIAL_EXIT, STOP_REJECTED, POSITION_UPDATED,
 *    EXIT_REQUESTED) carrying the encoded position, written under the lease token. A stop is stored only
 *    after the exchange acknowledged it, so the stored stop always equals the live exchange stop.
 * 5. A TIMEOUT from the exchange opens the position's breaker at once; later ticks skip the position until
 *    the breaker's cool-down has passed.
 */
import { dcmp, type Decimal } from '../core/decimal.js';
import type { TradingOptions } from '../core/config.js';
import { LIVE_STATUSES } from '../core/lifecycle.js';
import { clientOrderId } from '../core/reconciliation.js';
import {
  adjustStop,
  refreshFilter,
  stopRulesFor,
  type PositionState,
  type StepResult,
  type StopAction,
} from '../core/stop-manager.js';
import { decodePosition, encodePosition } from '../core/trade-codec.js';
import { observation, type PriceObservation } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { VersionConflictError } from '../ports/errors.js';
import type { JsonMap, Lease, TradeRecord, TradeStore } from '../ports/trade-store.js';
import { PositionBreaker, type BreakerSettings } from './circuit-breaker.js';
import type { ReplaceStopResult, StopResult } from './order-executor.js';
import {
  boundedPool,
  DATA,
  errorText,
  exitRequestJson,
  liveWaitEnded,
  MarketCache,
  METRIC,
  NO_METRICS,
  optionsOf,
  storedExitRequest,
  storedPosition,
  storedStop,
  tickersFor,
  type LiveExit,
  type LiveWaitEnder,
  type MetricsSink,
  type WorkerAccount,
  type WorkerConfigSource,
} from './worker-support.js';

/** Options of {@link StopManagerWorker}. */
export interface StopManagerWorkerOptions {
  store: TradeStore;
  /** Measures the tick's budget and stamps breaker changes. */
  clock: Clock;
  config: WorkerConfigSource;
  accounts: readonly WorkerAccount[];
  liveWait: LiveWaitEnder;
  metrics?: MetricsSink;
  /** Lease owner name; default `stop-manager`. Use one per running instance. */
  owner?: string;
  /** Trade lease time, ms (must exceed one trade's worst-case work); default 30 000. */
  leaseMs?: number;
  /** Trades processed at once; default 3. */
  concurrency?: number;
  /** Overrides the configured `ticks.budgetMs` (of the config defaults). */
  budgetMs?: number;
  /** Overrides the per-position breaker settings (default: the config defaults' `circuitBreaker`). */
  breaker?: Partial<BreakerSettings>;
}

/** What happened to one trade in a tick. */
export type StopTradeOutcome =
  | 'NO_CHANGE'
  | 'POSITION_UPDATED'
  | 'STOP_MOVED'
  | 'PARTIAL_EXIT'
  | 'FAILSAFE_REJECTED'
  | 'EXCHANGE_REJECTED'
  | 'EXIT_REQUESTED'
  | 'EXIT_PENDING'
  | 'FAILED'
  | 'SKIPPED_BREAKER'
  | 'SKIPPED_LEASE'
  | 'SKIPPED_BUDGET'
  | 'SKIPPED_NO_PRICE'
  | 'SKIPPED_NO_POSITION';

/** One trade's result in a tick report. */
export interface StopTradeResult {
  tradeId: string;
  accountId: string;
  symbol: string;
  outcome: StopTradeOutcome;
  /** The action types of the step that was acted on. */
  actions: StopAction['type'][];
  /** The stored stop after the tick (decimal string), when known. */
  stop?: string;
  detail?: string;
}

/** The report of one tick. */
export interface StopManagerTickReport {
  at: number;
  budgetMs: number;
  durationMs: number;
  /** True when the tick ran longer than its budget or left trades unprocessed. */
  overBudget: boolean;
  /** Trade ids in the order their processing started (nearest to the stop first). */
  order: string[];
  results: StopTradeResult[];
  /** Trades not started because the budget was spent. */
  skippedForBudget: string[];
  /** Failures not tied to one trade (listing, tickers, config). */
  errors: string[];
}

interface Candidate {
  account: WorkerAccount;
  trade: TradeRecord;
  options: TradingOptions;
  position: PositionState;
  obs: PriceObservation;
  distance: Decimal;
}

const EXCHANGE_ACTIONS: ReadonlySet<StopAction['type']> = new Set(['PARTIAL_EXIT', 'MOVE_STOP']);

/**
 * The position after a step whose stop change could not be made on the exchange: the step's quantity and
 * level progress (partials that did fill) with the previous stop and everything derived from it, and the
 * profit-lock index rewound so a lock not applied is applied by a later step.
 */
export function keepPreviousStop(next: PositionState, prev: PositionState): PositionState {
  return refreshFilter({
    ...next,
    stop: prev.stop,
    stopReason: prev.stopReason,
    trailQuietUntil: prev.trailQuietUntil,
    trailTighterFrom: prev.trailTighterFrom,
    nextLock: prev.nextLock,
    counters: { ...next.counters, stopMoves: prev.counters.stopMoves },
  });
}

/** The stop-manager worker (see the file comment). */
export class StopManagerWorker {
  private readonly store: TradeStore;
  private readonly clock: Clock;
  private readonly config: WorkerConfigSource;
  private readonly accounts: readonly WorkerAccount[];
  private readonly liveWait: LiveWaitEnder;
  private readonly metrics: MetricsSink;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly budgetOverride: number | undefined;
  private readonly breakerOverride: Partial<BreakerSettings> | undefined;
  private readonly markets = new MarketCache();

  constructor(opts: StopManagerWorkerOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.config = opts.config;
    this.accounts = opts.accounts;
    this.liveWait = opts.liveWait;
    this.metrics = opts.metrics ?? NO_METRICS;
    this.owner = opts.owner ?? 'stop-manager';
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.concurrency = opts.concurrency ?? 3;
    this.budgetOverride = opts.budgetMs;
    this.breakerOverride = opts.breaker;
    if (!Number.isInteger(this.leaseMs) || this.leaseMs < 1)
      throw new RangeError(`leaseMs must be an integer ≥ 1, got ${String(opts.leaseMs)}`);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${String(opts.concurrency)}`);
    if (this.budgetOverride !== undefined && !(this.budgetOverride > 0))
      throw new RangeError(`budgetMs must be > 0, got ${String(opts.budgetMs)}`);
    const ids = new Set(this.accounts.map((a) => a.accountId));
    if (ids.size !== this.accounts.length) throw new RangeError('accounts must have distinct accountIds');
  }

  /** Runs one tick; `now` is the time of the price observations and of the events written. */
  async tick(now: number): Promise<StopManagerTickReport> {
    if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer epoch ms, got ${now}`);
    const started = this.clock.now();
    const results: StopTradeResult[] = [];
    const errors: string[] = [];
    const order: string[] = [];
    const config = await this.config.getConfig();
    const budgetMs = this.budgetOverride ?? config.defaults.ticks.budgetMs;
    const breakerSettings = this.breakerOverride ?? {
      failureThreshold: config.defaults.circuitBreaker.failureThreshold,
      resetTimeoutMs: config.defaults.circuitBreaker.resetTimeoutSeconds * 1000,
    };

    const candidates: Candidate[] = [];
    for (const account of this.accounts) {
      try {
        candidates.push(...(await this.collect(account, config, now, results)));
      } catch (e) {
        errors.push(`account ${account.accountId}: ${errorText(e)}`);
      }
    }
    candidates.sort((a, b) => dcmp(a.distance, b.distance) || a.trade.tradeId.localeCompare(b.trade.tradeId));

    const { notStarted } = await boundedPool(
      candidates,
      this.concurrency,
      async (c) => {
        order.push(c.trade.tradeId);
        results.push(await this.processSafely(c, now, breakerSettings));
      },
      () => this.clock.now() - started < budgetMs,
    );
    for (const c of notStarted) results.push(this.result(c, 'SKIPPED_BUDGET', [], 'tick budget spent'));

    const durationMs = this.clock.now() - started;
    const overBudget = durationMs > budgetMs || notStarted.length > 0;
    this.metrics.timing(METRIC.TickDurationMs, durationMs);
    if (overBudget) this.metrics.count(METRIC.TickOverBudget);
    return {
      at: now,
      budgetMs,
      durationMs,
      overBudget,
      order,
      results,
      skippedForBudget: notStarted.map((c) => c.trade.tradeId),
      errors,
    };
  }

  /** Open trades of one account with their decoded positions and observations. */
  private async collect(
    account: WorkerAccount,
    config: Awaited<ReturnType<WorkerConfigSource['getConfig']>>,
    now: number,
    results: StopTradeResult[],
  ): Promise<Candidate[]> {
    const summaries = (await this.store.listOpenTrades({ accountId: account.accountId })).filter((s) =>
      LIVE_STATUSES.includes(s.status),
    );
    if (summaries.length === 0) return [];
    const options = optionsOf(config, account.accountId);
    const symbols = [...new Set(summaries.map((s) => s.symbol))];
    const tickers = await tickersFor(account.exchange, symbols);
    const observations = new Map<string, PriceObservation>();
    for (const [symbol, t] of tickers) observations.set(symbol, observation(t.last, now));
    const trades = await Promise.all(summaries.map((s) => this.store.getTrade(s.tradeId)));
    const out: Candidate[] = [];
    for (const trade of trades) {
      if (trade === null || !LIVE_STATUSES.includes(trade.status)) continue;
      const base = { tradeId: trade.tradeId, accountId: trade.accountId, symbol: trade.symbol, actions: [] };
      try {
        if (storedExitRequest(trade) !== null) {
          results.push({ ...base, outcome: 'EXIT_PENDING', detail: 'an exit was already requested' });
          continue;
        }
        const encoded = storedPosition(trade);
        if (encoded === null) {
          results.push({ ...base, outcome: 'SKIPPED_NO_POSITION', detail: 'no stored position' });
          continue;
        }
        const obs = observations.get(trade.symbol);
        if (obs === undefined) {
          results.push({ ...base, outcome: 'SKIPPED_NO_PRICE', detail: `no ticker for ${trade.symbol}` });
          continue;
        }
        const market = await this.markets.market(account, trade.symbol);
        const position = decodePosition(encoded, stopRulesFor(options, market));
        const distance = obs.price.minus(position.stop).abs().div(obs.price);
        out.push({ account, trade, options, position, obs, distance });
      } catch (e) {
        results.push({ ...base, outcome: 'FAILED', detail: errorText(e) });
      }
    }
    return out;
  }

  private result(
    c: Pick<Candidate, 'trade'>,
    outcome: StopTradeOutcome,
    actions: StopAction[],
    detail?: string,
    position?: PositionState,
  ): StopTradeResult {
    const r: StopTradeResult = {
      tradeId: c.trade.tradeId,
      accountId: c.trade.accountId,
      symbol: c.trade.symbol,
      outcome,
      actions: actions.map((a) => a.type),
    };
    if (position) r.stop = position.stop.toFixed();
    if (detail !== undefined) r.detail = detail;
    return r;
  }

  private async processSafely(
    c: Candidate,
    now: number,
    breaker: Partial<BreakerSettings>,
  ): Promise<StopTradeResult> {
    try {
      return await this.process(c, now, breaker);
    } catch (e) {
      this.metrics.count(METRIC.StopUpdatesFailed);
      return this.result(c, 'FAILED', [], errorText(e));
    }
  }

  private async process(
    c: Candidate,
    now: number,
    breakerSettings: Partial<BreakerSettings>,
  ): Promise<StopTradeResult> {
    const first = adjustStop(c.position, c.obs);
    if (first.actions.length === 0 && first.position === c.position)
      return this.result(c, 'NO_CHANGE', [], undefined, c.position);

    const acquired = await this.store.acquireLease({ tradeId: c.trade.tradeId }, this.owner, this.leaseMs);
    if (!acquired.acquired)
      return this.result(c, 'SKIPPED_LEASE', first.actions, `lease held by ${acquired.holder}`);
    const lease = acquired.lease;
    try {
      const trade = await this.store.getTrade(c.trade.tradeId);
      if (trade === null || !LIVE_STATUSES.includes(trade.status))
        return this.result(c, 'NO_CHANGE', [], `trade is ${trade?.status ?? 'gone'}`);
      if (storedExitRequest(trade) !== null)
        return this.result(c, 'EXIT_PENDING', [], 'an exit was already requested');
      const encoded = storedPosition(trade);
      if (encoded === null) return this.result(c, 'SKIPPED_NO_POSITION', [], 'no stored position');
      const prev = decodePosition(encoded, c.position.rules);
      const step = adjustStop(prev, c.obs);
      if (step.actions.length === 0 && step.position === prev)
        return this.result(c, 'NO_CHANGE', [], undefined, prev);
      return await this.act({ ...c, trade, position: prev }, step, now, lease, breakerSettings);
    } finally {
      await this.store.releaseLease(lease).catch(() => undefined);
    }
  }

  private async act(
    c: Candidate,
    step: StepResult,
    now: number,
    lease: Lease,
    breakerSettings: Partial<BreakerSettings>,
  ): Promise<StopTradeResult> {
    const { trade, position: prev } = c;
    const actions = step.actions;
    const failSafe = actions.filter((a) => a.type === 'STOP_REJECTED').length;
    if (failSafe > 0) this.metrics.count(METRIC.FailSafeRejections, failSafe);

    const exit = actions.find((a): a is Extract<StopAction, { type: 'EXIT' }> => a.type === 'EXIT');
    if (exit) {
      const detail = exit.detail ?? `${exit.reason} at ${exit.price.toFixed()}`;
      const reason = exit.reason === 'TAKE_PROFIT' ? 'TAKE_PROFIT' : 'STOP_WOULD_TRIGGER';
      if (!(await this.requestExit(trade, { reason, detail }, now, lease)))
        return this.result(c, 'FAILED', actions, `${detail}; the LIVE wait could not be ended yet`, prev);
      return this.result(c, 'EXIT_REQUESTED', actions, detail, prev);
    }

    if (!actions.some((a) => EXCHANGE_ACTIONS.has(a.type))) {
      const type = failSafe > 0 ? 'STOP_REJECTED' : 'POSITION_UPDATED';
      await this.persist(trade, type, this.positionPatch(step.position, actions), now, lease);
      return this.result(
        c,
        failSafe > 0 ? 'FAILSAFE_REJECTED' : 'POSITION_UPDATED',
        actions,
        undefined,
        step.position,
      );
    }

    const pb = new PositionBreaker({
      store: this.store,
      clock: this.clock,
      tradeId: trade.tradeId,
      settings: breakerSettings,
    });
    if (await pb.shouldSkip()) {
      this.metrics.count(METRIC.BreakerOpen);
      return this.result(c, 'SKIPPED_BREAKER', actions, 'the position breaker is open', prev);
    }
    let failure: unknown = null;
    try {
      return await this.exchangeStep(c, step, now, lease);
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      const record = await pb.record(failure);
      if (failure !== null && record.state === 'OPEN') this.metrics.count(METRIC.BreakerOpen);
    }
  }

  /** Partial exits, then one stop replacement; persists what the exchange confirmed. Throws on exchange failure. */
  private async exchangeStep(
    c: Candidate,
    step: StepResult,
    now: number,
    lease: Lease,
  ): Promise<StopTradeResult> {
    const { trade, position: prev, account } = c;
    const actions = step.actions;
    const side = prev.side;
    const partials = actions.filter(
      (a): a is Extract<StopAction, { type: 'PARTIAL_EXIT' }> => a.type === 'PARTIAL_EXIT',
    );
    const exec = account.executor;

    // 1. Partial exits. Their client ids are per level: a step replayed after a failure finds them done.
    const fills: JsonMap[] = [];
    for (const pe of partials) {
      const r = await exec.partialExit({
        tradeId: trade.tradeId,
        symbol: trade.symbol,
        positionSide: side,
        qty: pe.qty,
        seq: pe.level,
      });
      if (r.status !== 'exited') {
        // Nothing of this step is stored: the next tick replays it (done partials are found, not re-sent).
        this.metrics.count(METRIC.StopUpdatesFailed);
        const why = r.status === 'rejected' ? r.failure.message : 'no position left to reduce';
        return this.result(c, 'FAILED', actions, `partial exit of level ${pe.level}: ${why}`, prev);
      }
      fills.push({
        level: pe.level,
        qty: r.filledQty.toFixed(),
        avgPrice: r.avgPrice?.toFixed() ?? null,
        clientOrderId: r.clientOrderId,
      });
    }

    // 2. One stop replacement at the new price and the remaining quantity (create-before-cancel).
    const target = step.position;
    const stored = storedStop(trade);
    let result: ReplaceStopResult | StopResult;
    let seq: number;
    try {
      seq = await this.freeStopSeq(trade.tradeId, (stored?.seq ?? 0) + 1);
      const params = {
        tradeId: trade.tradeId,
        symbol: trade.symbol,
        positionSide: side,
        qty: target.remainingQty,
        stopPrice: target.stop,
        seq,
      };
      result = stored
        ? await exec.replaceStop({ ...params, oldOrderId: stored.orderId })
        : await exec.placeStop(params);
    } catch (e) {
      if (partials.length > 0) {
        // The partials are real: store them with the stop that is still on the exchange.
        await this.persist(
          trade,
          'PARTIAL_EXIT',
          { ...this.positionPatch(keepPreviousStop(target, prev), actions), partialFills: fills },
          now,
          lease,
        );
      }
      this.metrics.count(METRIC.StopUpdatesFailed);
      throw e;
    }

    if (result.status === 'placed' || result.status === 'replaced') {
      const placed = result.status === 'placed' ? result : result.stop;
      this.metrics.count(METRIC.StopUpdatesApplied);
      const patch: JsonMap = {
        ...this.positionPatch(target, actions),
        [DATA.stopOrderId]: placed.order.id,
        [DATA.stopSeq]: seq,
      };
      if (fills.length > 0) patch.partialFills = fills;
      if (result.status === 'replaced' && result.cleanup.length > 0) patch.staleStopOrderIds = result.cleanup;
      await this.persist(trade, partials.length > 0 ? 'PARTIAL_EXIT' : 'STOP_MOVED', patch, now, lease);
      return this.result(c, partials.length > 0 ? 'PARTIAL_EXIT' : 'STOP_MOVED', actions, undefined, target);
    }

    // The exchange refused the new stop; the old one is still live.
    this.metrics.count(METRIC.StopUpdatesRejected);
    const kept = partials.length > 0 ? keepPreviousStop(target, prev) : null;
    if (kept)
      await this.persist(
        trade,
        'PARTIAL_EXIT',
        { ...this.positionPatch(kept, actions), partialFills: fills },
        now,
        lease,
      );
    if (result.status === 'would-trigger') {
      const detail = `stop ${result.triggerPrice.toFixed()} would trigger at ${c.obs.price.toFixed()}`;
      const fresh = kept ? await this.store.getTrade(trade.tradeId) : trade;
      if (!(await this.requestExit(fresh ?? trade, { reason: 'STOP_WOULD_TRIGGER', detail }, now, lease)))
        return this.result(
          c,
          'FAILED',
          actions,
          `${detail}; the LIVE wait could not be ended yet`,
          kept ?? prev,
        );
      return this.result(c, 'EXIT_REQUESTED', actions, detail, kept ?? prev);
    }
    return this.result(c, 'EXCHANGE_REJECTED', actions, result.failure.message, kept ?? prev);
  }

  private positionPatch(position: PositionState, actions: StopAction[]): JsonMap {
    return {
      [DATA.position]: encodePosition(position) as unknown as JsonMap,
      lastStopActions: actions.map(actionJson),
    };
  }

  /** The first stop sequence from `from` whose client order id was never used for this trade. */
  private async freeStopSeq(tradeId: string, from: number): Promise<number> {
    for (let seq = from; seq < from + 50; seq++) {
      if ((await this.store.getOrderIntent(tradeId, clientOrderId(tradeId, 'stop', seq))) === null)
        return seq;
    }
    throw new Error(`trade ${tradeId}: no unused stop sequence in ${from}…${from + 49}`);
  }

  /**
   * Ends the LIVE wait, then records the request; false when the wait could not be ended (nothing is
   * recorded, so the next tick asks again).
   */
  private async requestExit(trade: TradeRecord, exit: LiveExit, now: number, lease: Lease): Promise<boolean> {
    const answer = await this.liveWait.endLiveWait(trade.tradeId, { ...exit, decidedBy: 'stop-manager' });
    if (!liveWaitEnded(answer)) return false;
    await this.persist(
      trade,
      'EXIT_REQUESTED',
      { [DATA.exitRequested]: exitRequestJson(exit, now, 'stop-manager') },
      now,
      lease,
    );
    return true;
  }

  /**
   * Writes one event under the lease. A version conflict (another writer without the lease, e.g. a
   * milestone) is retried on the newer version with the same command id, so the write lands once.
   */
  private async persist(
    trade: TradeRecord,
    type: string,
    patch: JsonMap,
    now: number,
    lease: Lease,
  ): Promise<TradeRecord> {
    const commandId = `stop-manager:${lease.token}:${type}`;
    let version = trade.version;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.store.recordEvent(trade.tradeId, {
          expectedVersion: version,
          type,
          patch,
          at: now,
          commandId,
          leaseToken: lease.token,
        });
        return r.trade;
      } catch (e) {
        if (!(e instanceof VersionConflictError) || attempt >= 3) throw e;
        const fresh = await this.store.getTrade(trade.tradeId);
        if (fresh === null) throw e;
        version = fresh.version;
      }
    }
  }
}

function actionJson(a: StopAction): JsonMap {
  switch (a.type) {
    case 'MOVE_STOP':
      return {
        type: a.type,
        from: a.from.toFixed(),
        to: a.to.toFixed(),
        qty: a.qty.toFixed(),
        reason: a.reason,
      };
    case 'PARTIAL_EXIT':
      return { type: a.type, level: a.level, price: a.price.toFixed(), qty: a.qty.toFixed() };
    case 'STOP_REJECTED':
      return {
        type: a.type,
        reason: a.reason,
        stop: a.stop.toFixed(),
        loss: a.loss.toFixed(),
        limit: a.limit.toFixed(),
      };
    case 'EXIT':
      return { type: a.type, reason: a.reason, qty: a.qty.toFixed(), price: a.price.toFixed() };
    case 'PLACE_STOP':
      return { type: a.type, price: a.price.toFixed(), qty: a.qty.toFixed(), reason: a.reason };
    case 'ALARM':
      return { type: a.type, code: a.code, message: a.message };
  }
}
