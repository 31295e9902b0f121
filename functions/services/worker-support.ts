/**
 * What the scheduled workers (stop manager, milestone checker, lifecycle watch) share: the ports they are
 * built over (metrics sink, LIVE-wait ender, config source, per-account exchange runtime), the fixed metric
 * names, the keys of the trade record's `data` map they read and write, and a small bounded pool.
 *
 * ## The trade `data` contract
 * | key | type | written by | meaning |
 * |---|---|---|---|
 * | `position` | {@link EncodedPosition} | the order-executor handler when it arms LIVE; the stop manager | the live position; its `stop` always equals the stop resting on the exchange |
 * | `stopOrderId` | string | same | exchange order id of that live stop |
 * | `stopSeq` | number | same | sequence of that stop's client order id (`clientOrderId(tradeId, 'stop', seq)`) |
 * | `tracker` | {@link EncodedTracker} | armed with the position (or, for SKIPPED, at evaluation from the signal's price and time); the milestone worker | the milestone tracker, kept across the live → shadow phase change |
 * | `shadowEndsAt` | number (epoch ms) | `startPostTrade` / evaluation of a SKIPPED signal | end of the post-trade (shadow) window |
 * | `exitRequested` | {@link ExitRequestRecord} | the workers, after `endLiveWait` succeeded | the exit decided for this trade; workers do not decide another |
 * | `liveTaskToken` | string | `armLive` | the task token the {@link LiveWaitEnder} uses |
 */
import type { EngineConfig, TradingOptions } from '../core/config.js';
import { accountConfig } from '../core/config.js';
import type { ExitReason } from '../core/stop-manager.js';
import type { EncodedPosition, EncodedTracker } from '../core/trade-codec.js';
import { isExchangeFailure } from '../ports/exchange.js';
import type { ExchangeMarket, ExchangePort, Ticker } from '../ports/exchange.js';
import type { JsonMap, JsonValue, TradeRecord } from '../ports/trade-store.js';
import type { OrderExecutor } from './order-executor.js';

/** The fixed metric names (dimension `Service` only); the stack's alarms refer to them. */
export const METRIC = {
  StopUpdatesApplied: 'StopUpdatesApplied',
  StopUpdatesRejected: 'StopUpdatesRejected',
  StopUpdatesFailed: 'StopUpdatesFailed',
  FailSafeRejections: 'FailSafeRejections',
  TickDurationMs: 'TickDurationMs',
  TickOverBudget: 'TickOverBudget',
  MilestonesReached: 'MilestonesReached',
  UnprotectedPositions: 'UnprotectedPositions',
  BreakerOpen: 'BreakerOpen',
  /** Positions whose health score is WARNING in a lifecycle-watch tick (the "alert on WARNING"). */
  HealthWarnings: 'HealthWarnings',
  /** Positions whose health score is CRITICAL in a lifecycle-watch tick. */
  HealthCritical: 'HealthCritical',
  /** Positions closed by the 240-minute timeout or health CRITICAL (the LIVE wait ended by a worker). */
  EmergencyCloses: 'EmergencyCloses',
} as const;
/** One of the worker metric names. */
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Where workers send metrics (the handlers map it onto Powertools Metrics / EMF). */
export interface MetricsSink {
  /** Adds `n` (default 1) to a count metric. */
  count(name: MetricName, n?: number): void;
  /** Records a duration in milliseconds. */
  timing(name: MetricName, ms: number): void;
}

/** A metrics sink that drops everything (for callers that do not measure). */
export const NO_METRICS: MetricsSink = { count: () => undefined, timing: () => undefined };

/** Why a worker ended a trade's LIVE wait (a subset of the workflow port's reasons). */
export type LiveExitReason =
  | Extract<ExitReason, 'TAKE_PROFIT' | 'STOP_WOULD_TRIGGER' | 'TIMEOUT' | 'HEALTH_CRITICAL'>
  /** The exchange stop filled: the position is already gone. */
  | 'STOP_HIT';

/** The exit decision handed to the workflow. */
export interface LiveExit {
  reason: LiveExitReason;
  detail?: string;
  /** Which worker decided (e.g. `stop-manager`). */
  decidedBy?: string;
}

/** What {@link LiveWaitEnder.endLiveWait} may answer; `ended: false` with a reason other than ALREADY_ENDED means "not delivered". */
export interface EndLiveWaitAnswer {
  ended: boolean;
  reason?: string;
}

/**
 * Ends a trade's LIVE wait (the `.waitForTaskToken` state of its execution) with an exit decision; the
 * workflow then submits the exit. Implemented over SendTaskSuccess with the token stored as
 * `data.liveTaskToken` (`functions/services/live-wait.ts`). An answer `{ended: false}` whose reason is not
 * `ALREADY_ENDED` (e.g. the wait is not armed yet), or a throw, leaves nothing recorded: the next tick asks
 * again. Only after a delivery (or ALREADY_ENDED) does the worker record {@link ExitRequestRecord}.
 */
export interface LiveWaitEnder {
  endLiveWait(tradeId: string, exit: LiveExit): Promise<EndLiveWaitAnswer | void>;
}

/** Whether an answer of {@link LiveWaitEnder.endLiveWait} means the wait is ended (now or before). */
export function liveWaitEnded(answer: EndLiveWaitAnswer | void): boolean {
  return !answer || answer.ended || answer.reason === 'ALREADY_ENDED';
}

/** Reads the engine configuration (structurally the `ConfigSource` port). */
export interface WorkerConfigSource {
  getConfig(): Promise<EngineConfig>;
}

/** One exchange account as the workers use it. */
export interface WorkerAccount {
  accountId: string;
  exchange: ExchangePort;
  /** The executor over the same exchange (intents, retries, create-before-cancel). */
  executor: OrderExecutor;
}

/** `data.exitRequested`: the exit a worker handed to the workflow. */
export interface ExitRequestRecord {
  reason: LiveExitReason;
  detail: string | null;
  at: number;
  by: string;
}

/** Keys of the trade record's `data` map used by the workers (see the file comment). */
export const DATA = {
  position: 'position',
  stopOrderId: 'stopOrderId',
  stopSeq: 'stopSeq',
  tracker: 'tracker',
  shadowEndsAt: 'shadowEndsAt',
  exitRequested: 'exitRequested',
  liveTaskToken: 'liveTaskToken',
} as const;

function isMap(v: JsonValue | undefined): v is JsonMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The stored position of a trade, or null when it has none yet. */
export function storedPosition(trade: TradeRecord): EncodedPosition | null {
  const v = trade.data[DATA.position];
  if (v === undefined || v === null) return null;
  if (!isMap(v)) throw new TypeError(`trade ${trade.tradeId}: data.position is not an object`);
  return v as unknown as EncodedPosition;
}

/** The stored milestone tracker of a trade, or null when it has none. */
export function storedTracker(trade: TradeRecord): EncodedTracker | null {
  const v = trade.data[DATA.tracker];
  if (v === undefined || v === null) return null;
  if (!isMap(v)) throw new TypeError(`trade ${trade.tradeId}: data.tracker is not an object`);
  return v as unknown as EncodedTracker;
}

/** The live stop's exchange order id and client-order-id sequence, or null when none is recorded. */
export function storedStop(trade: TradeRecord): { orderId: string; seq: number } | null {
  const orderId = trade.data[DATA.stopOrderId];
  const seq = trade.data[DATA.stopSeq];
  if (orderId === undefined || orderId === null) return null;
  if (typeof orderId !== 'string' || orderId === '')
    throw new TypeError(`trade ${trade.tradeId}: data.stopOrderId is not a non-empty string`);
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0)
    throw new TypeError(`trade ${trade.tradeId}: data.stopSeq is not an integer ≥ 0`);
  return { orderId, seq };
}

/** The exit a worker already requested for this trade, or null. */
export function storedExitRequest(trade: TradeRecord): ExitRequestRecord | null {
  const v = trade.data[DATA.exitRequested];
  if (v === undefined || v === null) return null;
  if (!isMap(v)) throw new TypeError(`trade ${trade.tradeId}: data.exitRequested is not an object`);
  return v as unknown as ExitRequestRecord;
}

/** The JSON form of an exit request. */
export function exitRequestJson(exit: LiveExit, at: number, by: string): JsonMap {
  return { reason: exit.reason, detail: exit.detail ?? null, at, by };
}

/** The resolved options of an account, from the config source. */
export function optionsOf(config: EngineConfig, accountId: string): TradingOptions {
  return accountConfig(config, accountId).options;
}

/** Per-account market cache: markets are loaded once per worker instance. */
export class MarketCache {
  private readonly cache = new Map<string, Promise<Record<string, ExchangeMarket>>>();

  /** The market of `symbol` on the account's exchange; a clear error when the exchange does not list it. */
  async market(account: WorkerAccount, symbol: string): Promise<ExchangeMarket> {
    let p = this.cache.get(account.accountId);
    if (!p) {
      p = account.exchange.loadMarkets();
      this.cache.set(account.accountId, p);
      p.catch(() => this.cache.delete(account.accountId));
    }
    const m = (await p)[symbol];
    if (!m) throw new RangeError(`account ${account.accountId}: the exchange has no market ${symbol}`);
    return m;
  }
}

/** One ticker per symbol (a single `fetchTickers` call); symbols missing from the answer are absent. */
export async function tickersFor(
  exchange: ExchangePort,
  symbols: readonly string[],
): Promise<Map<string, Ticker>> {
  const out = new Map<string, Ticker>();
  if (symbols.length === 0) return out;
  const res = await exchange.fetchTickers(symbols);
  for (const s of symbols) {
    const t = res[s];
    if (t) out.set(s, t);
  }
  return out;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, starting items in order. `shouldStart`
 * is asked before each item is started; when it says false the item (and every later one) is not run
 * and is returned in `notStarted`. Errors of `fn` are not caught here (catch inside `fn`).
 */
export async function boundedPool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  shouldStart: () => boolean = () => true,
): Promise<{ notStarted: T[] }> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`pool limit must be an integer ≥ 1, got ${String(limit)}`);
  let next = 0;
  let stopped = false;
  const lane = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      if (!shouldStart()) {
        stopped = true;
        break;
      }
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return { notStarted: items.slice(next) };
}

/** A short, log-safe description of an error. */
export function errorText(e: unknown): string {
  if (isExchangeFailure(e)) return `${e.name} ${e.code} (${e.outcome}): ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
