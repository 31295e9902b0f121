/**
 * The reconciliation service: compares one account's open trades with what its exchange holds, using the
 * pure diff of `functions/core/reconciliation.ts`, and — unless it is a dry run — applies the planned
 * actions idempotently. Every run returns and stores a report and emits the `ReconciliationMismatches`
 * metric (the number of findings). See docs/operations.md, section "Reconciliation".
 *
 * ## Views
 * - **Table view**: the account's open trades (`listOpenTrades({accountId})`) in `ENTERING` or an
 *   open-position status, each read in full and turned into a `TableTradeView` by {@link tableViewOf}.
 * - **Exchange view**: `fetchPositions()`, `fetchOpenOrders()` and, per symbol of a table trade,
 *   `fetchMyTrades(symbol, since)` with `since` = the creation time of the oldest open trade.
 *
 * ## Trade `data` fields read (see {@link tableViewOf})
 * | key | used for |
 * |---|---|
 * | `position` (EncodedPosition) | side, remaining qty, entry price, stop price, max loss |
 * | `stopOrderId`, `stopSeq` | the recorded stop: exchange id `stopOrderId`, client id `clientOrderId(tradeId, 'stop', stopSeq)`, price `position.stop`, qty `position.remainingQty` |
 * | `side`, `entry` (filledQty, avgPrice), `plan` (maxLoss) | a trade without a stored position |
 * | order intent `clientOrderId(tradeId, 'entry')` | the entry order of an `ENTERING` trade (placedAt = intent createdAt) |
 * | all order intents of the trade | its own orders (`ownOrders`): their fills are never external fills |
 * | `externalFills` (order id, at, price) | fills already attributed (`attributedFills`): never used again |
 * | trade `createdAt` | `fillsSince` = createdAt − {@link FILL_CLOCK_MARGIN_MS}: older fills are not the trade's |
 *
 * ## Trade `data` fields written (every write is an audit event with a deterministic commandId)
 * `stopOrderId`, `stopSeq` and `position.stop` after a stop is placed or replaced (the event also carries
 * `placedStop`: order id, client id, price, qty); `position`
 * (remainingQty, entryPrice, initialQty) after a quantity fix; `exit` and `reconSettlement` at settlement;
 * `externalFills` (a list of {@link ExternalFillData}: order id, client id, side, qty used, price, fee pro
 * rata, at, action, runId) at settlement and at a quantity fix after a partial close — the closing fills
 * the action attributed to the trade that are not its own orders, appended in the same event as the
 * action's other fields and keyed by order id + at + price, so a re-applied action adds nothing (the
 * lifecycle task `settle` counts them with the trade's own fills);
 * `adopted`, `side`, `plan.maxLoss`, `position`, `entry` for an adopted position; `executionStartedAt` once
 * an adopted trade's execution is started; `recon` (run id, action, details) on every event.
 *
 * ## Concurrency
 * An apply holds the named lease `RECON#<accountId>` for the whole run. A second reconciler that finds it
 * held waits up to `leaseWaitMs` (polling every `leasePollMs`), then reads both views again and re-plans
 * (so it plans only what the first one left); if the lease is still held it applies nothing and reports
 * every action `skipped` with `busy` set. Each action touching a trade additionally holds that trade's
 * lease (shared with the stop manager); a trade leased by someone else is skipped for this run.
 */
import { randomUUID } from 'node:crypto';
import { D, type Decimal, ZERO, dmax } from '../core/decimal.js';
import type { TradingOptions } from '../core/config.js';
import { OPEN_POSITION_STATUSES, type TradeStatus } from '../core/lifecycle.js';
import {
  adoptedTradeId,
  clientOrderId,
  externalFillKey,
  reconcile,
  type ExternalFill,
  type ExchangeFillView,
  type ExchangeOrderView,
  type ExchangePositionView,
  type Finding,
  type PlannedAction,
  type ReconcileOptions,
  type ReconcileSummary,
  type TableOrderRecord,
  type TableTradeView,
} from '../core/reconciliation.js';
import { openPosition, stopRulesFor } from '../core/stop-manager.js';
import { encodePosition, type EncodedPosition } from '../core/trade-codec.js';
import { sideSign, type MarketRules, type Side } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { isExchangeFailure, type ExchangeOrder, type ExchangePort } from '../ports/exchange.js';
import type {
  JsonMap,
  JsonValue,
  Lease,
  OrderIntent,
  TradeRecord,
  TradeStore,
} from '../ports/trade-store.js';
import type { LiveExitReason } from '../ports/workflow.js';
import type { ExitDecision } from './live-wait.js';
import type { OrderExecutor, ProtectResult } from './order-executor.js';
import { readExternalFills, type ExternalFillData } from './trade-data.js';
import type { EndLiveWaitAnswer } from './worker-support.js';

// ---------------------------------------------------------------------------------------------------------
// Ports of the service
// ---------------------------------------------------------------------------------------------------------

/** The metric name of the mismatch count (dimension `Service` only; the stack's alarm refers to it). */
export const RECON_METRIC = 'ReconciliationMismatches';

/**
 * Ends a trade's LIVE wait with an exit decision (`LiveWait` of `./live-wait.ts` fits as it is). The
 * workers' `LiveWaitEnder` is not reused because its reasons lack `CLOSED_EXTERNALLY` and
 * `FAILSAFE_UNPROTECTABLE`. A `void` answer counts as ended; `{ended: false}` with `NOT_ARMED` or
 * `NOT_FOUND` makes the reconciler close the trade itself; `ALREADY_ENDED` leaves it to the execution that
 * is already past its wait.
 */
export interface ReconLiveWaitEnder {
  endLiveWait(tradeId: string, decision: ExitDecision): Promise<EndLiveWaitAnswer | void>;
}

/** Starts the lifecycle execution of a trade (idempotent: a second start answers `started: false`). */
export interface ExecutionStarter {
  startTradeExecution(tradeId: string): Promise<{ started: boolean }>;
}

/** Where the reconciler sends its metric (any sink with a `count(name, n)` method fits). */
export interface ReconMetrics {
  count(name: string, n?: number): void;
}

/** Tunables of the service (defaults in {@link DEFAULT_RECONCILER_SETTINGS}). */
export interface ReconcilerSettings {
  /** TTL of the `RECON#<accountId>` lease; must exceed the longest run (the handler's timeout). */
  leaseTtlMs: number;
  /** How long a second reconciler waits for the lease before it gives up (0 = skip at once). */
  leaseWaitMs: number;
  /** Poll interval while waiting for the lease. */
  leasePollMs: number;
  /** TTL of a trade's lease while one action is applied to it. */
  tradeLeaseTtlMs: number;
  /** `decidedBy` of the exits the reconciler hands to a trade's execution. */
  decidedBy: string;
}

/** The defaults: lease 240 s, wait 10 s polling every 500 ms, trade lease 30 s. */
export const DEFAULT_RECONCILER_SETTINGS: ReconcilerSettings = {
  leaseTtlMs: 240_000,
  leaseWaitMs: 10_000,
  leasePollMs: 500,
  tradeLeaseTtlMs: 30_000,
  decidedBy: 'reconciler',
};

/** The reconciliation-only tunables of {@link reconcileOptionsFor} (the rest comes from the trading options). */
export interface ReconTunables {
  staleEntryAfterMs: number;
  qtyTolerance: Decimal;
  adoptStopPct: Decimal;
  adoptMaxLoss: Decimal;
}

/** Defaults: stale after 60 s, tolerance 0.000001, adopted stop 2 % from entry, adopted max loss 3. */
export const DEFAULT_RECON_TUNABLES: ReconTunables = {
  staleEntryAfterMs: 60_000,
  qtyTolerance: new D('0.000001'),
  adoptStopPct: new D(2),
  adoptMaxLoss: new D(3),
};

/**
 * The core's options from the account's trading options (fee rate = taker rate, fail-safe fraction and
 * stop slippage as the stop manager uses them) and the reconciliation tunables.
 */
export function reconcileOptionsFor(
  trading: TradingOptions,
  tunables: Partial<ReconTunables> = {},
): ReconcileOptions {
  const t = { ...DEFAULT_RECON_TUNABLES, ...tunables };
  return {
    staleEntryAfterMs: t.staleEntryAfterMs,
    qtyTolerance: t.qtyTolerance,
    adoptStopPct: t.adoptStopPct,
    adoptMaxLoss: t.adoptMaxLoss,
    feeRate: trading.fees.takerRate,
    failSafeFraction: trading.failSafe.maxLossFraction,
    stopSlippage: trading.failSafe.stopSlippageBps.div(10_000),
  };
}

/** Options of the service. */
export interface ReconcilerOptions {
  /** The core's options (see {@link reconcileOptionsFor}). */
  reconcile: ReconcileOptions;
  /** The account's trading options: the stop rules of an adopted position's stored state. */
  trading: TradingOptions;
  settings?: Partial<ReconcilerSettings>;
}

/** What the service is built over. */
export interface ReconcilerDeps {
  store: TradeStore;
  exchange: ExchangePort;
  /** The executor over the same exchange (intents, look-up by client order id, create before cancel). */
  executor: OrderExecutor;
  clock: Clock;
  /** Market rules by symbol; loaded from the exchange (once per instance) when absent. */
  markets?: Record<string, MarketRules>;
  options: ReconcilerOptions;
  liveWaits: ReconLiveWaitEnder;
  executions: ExecutionStarter;
  metrics?: ReconMetrics;
  /** Waits between lease polls; default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------------------

/** What happened to one planned action: `planned` (dry run), `applied`, `skipped` or `failed`. */
export type ActionStatus = 'planned' | 'applied' | 'skipped' | 'failed';

/** One planned action and its outcome, with a human sentence. */
export interface ActionOutcome {
  action: PlannedAction;
  status: ActionStatus;
  detail: string;
}

/** The report of one run (stored as JSON with every decimal a string, see {@link reportJson}). */
export interface ReconReportData {
  runId: string;
  accountId: string;
  /** When the run planned (clock, epoch ms). */
  at: number;
  dryRun: boolean;
  findings: Finding[];
  actions: ActionOutcome[];
  summary: ReconcileSummary & { applied: number; skipped: number; failed: number };
  /** Number of findings (the value of the metric). */
  mismatches: number;
  /**
   * Open trades whose settlement an earlier run recorded and whose live wait it ended: their executions
   * close them. They are left out of the diff; an apply ends their live wait again (a no-op when it has
   * ended) and closes a trade that has no live wait.
   */
  awaitingExecution: string[];
  /** Set when another reconciler held the account's lease for the whole wait. */
  busy?: { holder: string; expiresAt: number };
}

/** Input of {@link Reconciler.run}. */
export interface RunInput {
  accountId: string;
  dryRun: boolean;
  /** Defaults to `recon-<time>-<random>`; also the lease owner, so it must be unique per run. */
  runId?: string;
}

/** A JSON copy of any value: Decimals become decimal strings, `undefined` fields are left out. */
export function toJson(value: unknown): JsonValue {
  if (value === null) return null;
  if (D.isDecimal(value)) return value.toFixed();
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const out: JsonMap = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out[k] = toJson(v);
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new TypeError(`cannot store a value of type ${typeof value} as JSON`);
}

/** The stored form of a report. */
export function reportJson(report: ReconReportData): JsonMap {
  return toJson(report) as JsonMap;
}

// ---------------------------------------------------------------------------------------------------------
// Reading trades
// ---------------------------------------------------------------------------------------------------------

const RECONCILED: readonly TradeStatus[] = [...OPEN_POSITION_STATUSES, 'ENTERING'];

function isMap(v: JsonValue | undefined): v is JsonMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mapOf(trade: TradeRecord, key: string): JsonMap | null {
  const v = trade.data[key];
  if (v === undefined || v === null) return null;
  if (!isMap(v)) throw new TypeError(`trade ${trade.tradeId}: data.${key} is not an object`);
  return v;
}

function decimalOf(v: JsonValue | undefined, what: string): Decimal {
  if (typeof v !== 'string' || v.trim() === '') throw new TypeError(`${what} is not a decimal string`);
  const d = new D(v);
  if (!d.isFinite()) throw new RangeError(`${what} is not finite`);
  return d;
}

function optionalDecimal(v: JsonValue | undefined, what: string): Decimal | null {
  return v === undefined || v === null ? null : decimalOf(v, what);
}

/** The stored position of a trade, or null. */
function storedPosition(trade: TradeRecord): EncodedPosition | null {
  return mapOf(trade, 'position') as unknown as EncodedPosition | null;
}

/**
 * Margin (ms) below a trade's creation time from which exchange fills may still be the trade's (clock skew
 * between the engine and the exchange; the lifecycle task `settle` reads the trade's fills with the same
 * margin).
 */
export const FILL_CLOCK_MARGIN_MS = 60_000;

/** The trade's own orders, from its order intents (client id, and exchange id once known). */
export function ownOrdersOf(intents: readonly OrderIntent[]): TableOrderRecord[] {
  return intents.map((i) => ({
    clientOrderId: i.clientOrderId,
    ...(i.exchangeOrderId !== null && i.exchangeOrderId !== '' ? { exchangeOrderId: i.exchangeOrderId } : {}),
  }));
}

/** The entry order of an ENTERING trade, as the executor's intent recorded it. */
export interface EntryOrderRecord {
  clientOrderId: string;
  exchangeOrderId?: string;
  placedAt: number;
}

/**
 * The table view of one stored trade (see the file comment for the fields read). Throws a TypeError or
 * RangeError naming the trade and field when the trade cannot be read: a trade that cannot be read must stop
 * the run rather than look untracked (which would adopt its position a second time).
 */
export function tableViewOf(
  trade: TradeRecord,
  entryOrder: EntryOrderRecord | null = null,
  ownOrders: readonly TableOrderRecord[] = [],
): TableTradeView {
  const where = `trade ${trade.tradeId}`;
  const pos = storedPosition(trade);
  const entry = mapOf(trade, 'entry');
  const plan = mapOf(trade, 'plan');
  let side: Side;
  let qty: Decimal;
  let entryPrice: Decimal | null;
  let maxLoss: Decimal | null;
  if (pos !== null) {
    if (pos.side !== 'long' && pos.side !== 'short') throw new RangeError(`${where}: data.position.side`);
    side = pos.side;
    qty = decimalOf(pos.remainingQty, `${where}: data.position.remainingQty`);
    entryPrice = decimalOf(pos.entryPrice, `${where}: data.position.entryPrice`);
    maxLoss = decimalOf(pos.maxLoss, `${where}: data.position.maxLoss`);
  } else {
    const rawSide = trade.data.side;
    if (rawSide !== 'long' && rawSide !== 'short')
      throw new RangeError(`${where}: data.side is ${JSON.stringify(rawSide)}`);
    side = rawSide;
    if (entry === null && trade.status !== 'ENTERING')
      throw new RangeError(`${where}: ${trade.status} without data.position or data.entry`);
    qty = entry === null ? ZERO : decimalOf(entry.filledQty, `${where}: data.entry.filledQty`);
    entryPrice = entry === null ? null : optionalDecimal(entry.avgPrice, `${where}: data.entry.avgPrice`);
    maxLoss = plan === null ? null : optionalDecimal(plan.maxLoss, `${where}: data.plan.maxLoss`);
  }
  if (maxLoss === null) throw new RangeError(`${where}: no max loss in data.position or data.plan`);

  let stop: TableTradeView['stop'] = null;
  const stopOrderId = trade.data.stopOrderId;
  if (stopOrderId !== undefined && stopOrderId !== null) {
    if (typeof stopOrderId !== 'string' || stopOrderId === '')
      throw new TypeError(`${where}: data.stopOrderId is not a non-empty string`);
    const seq = trade.data.stopSeq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0)
      throw new TypeError(`${where}: data.stopSeq is not an integer ≥ 0`);
    if (pos === null)
      throw new RangeError(`${where}: data.stopOrderId without data.position (no stop price)`);
    stop = {
      clientOrderId: clientOrderId(trade.tradeId, 'stop', seq),
      exchangeOrderId: stopOrderId,
      price: decimalOf(pos.stop, `${where}: data.position.stop`),
      qty,
    };
  }
  return {
    tradeId: trade.tradeId,
    accountId: trade.accountId,
    symbol: trade.symbol,
    side,
    status: trade.status,
    qty,
    entryPrice,
    stop,
    ...(trade.status === 'ENTERING' ? { entryOrder: entryOrder } : {}),
    maxLoss,
    ownOrders,
    attributedFills: readExternalFills(trade).map((f) => ({
      orderId: f.orderId,
      at: f.at,
      price: new D(f.price),
    })),
    fillsSince: trade.createdAt - FILL_CLOCK_MARGIN_MS,
  };
}

/**
 * `data.externalFills` with `add` appended, except fills whose key (order id, at, price) is already
 * recorded: re-applying an action adds nothing.
 */
function withExternalFills(
  trade: TradeRecord,
  add: readonly ExternalFill[],
  meta: { action: string; runId: string },
): JsonValue[] {
  const existing = readExternalFills(trade);
  const keys = new Set(existing.map((f) => externalFillKey({ ...f, price: new D(f.price) })));
  const list = existing.map((f) => toJson(f));
  for (const f of add) {
    const key = externalFillKey(f);
    if (keys.has(key)) continue;
    keys.add(key);
    const stored: ExternalFillData = {
      orderId: f.orderId,
      ...(f.clientOrderId !== undefined ? { clientOrderId: f.clientOrderId } : {}),
      side: f.side,
      qty: s(f.qty),
      price: s(f.price),
      fee: s(f.fee),
      at: f.at,
      ...meta,
    };
    list.push(toJson(stored));
  }
  return list;
}

/** "2 fills (4 @ 19.5, …)" for a detail sentence. */
function fillsText(fills: readonly ExternalFill[]): string {
  const each = fills.map((f) => `${s(f.qty)} @ ${s(f.price)}`).join(', ');
  return `${fills.length} fill${fills.length === 1 ? '' : 's'} (${each})`;
}

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

/** Thrown inside an action when the trade's lease is held by someone else: the action is skipped. */
class TradeBusy extends Error {
  constructor(
    readonly tradeId: string,
    readonly holder: string,
  ) {
    super(`trade ${tradeId} is leased by ${holder}; left for the next run`);
    this.name = 'TradeBusy';
  }
}

interface Views {
  trades: Map<string, TradeRecord>;
  /** Open trades whose settlement an earlier run recorded; their executions close them (not in `table`). */
  awaiting: TradeRecord[];
  table: TableTradeView[];
  positions: ExchangePositionView[];
  orders: Map<string, ExchangeOrderView>;
  fills: ExchangeFillView[];
  markets: Record<string, MarketRules>;
}

interface RunContext {
  runId: string;
  accountId: string;
  now: number;
  views: Views;
}

type Applied = { status: ActionStatus; detail: string };

/** The seq encoded in a reconciliation client order id `<frag>-<purpose>_<seq>-<hash>` (checked). */
export function planSeq(tradeId: string, purpose: 'rcstop' | 'rcclose', planned: string): number {
  const m = new RegExp(`(?:^|-)${purpose}_(\\d+)-[0-9a-z]{13}$`).exec(planned);
  const seq = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(seq) || clientOrderId(tradeId, purpose, seq) !== planned)
    throw new RangeError(`${planned} is not a ${purpose} client order id of trade ${tradeId}`);
  return seq;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

const s = (d: Decimal): string => d.toFixed();

/** The reconciler (see the file comment). */
export class Reconciler {
  private readonly settings: ReconcilerSettings;
  private readonly sleep: (ms: number) => Promise<void>;
  private markets: Record<string, MarketRules> | undefined;

  constructor(private readonly deps: ReconcilerDeps) {
    this.settings = { ...DEFAULT_RECONCILER_SETTINGS, ...deps.options.settings };
    for (const k of ['leaseTtlMs', 'leasePollMs', 'tradeLeaseTtlMs'] as const) {
      if (!Number.isInteger(this.settings[k]) || this.settings[k] < 1)
        throw new RangeError(`settings.${k} must be an integer ≥ 1, got ${String(this.settings[k])}`);
    }
    if (!Number.isInteger(this.settings.leaseWaitMs) || this.settings.leaseWaitMs < 0)
      throw new RangeError(`settings.leaseWaitMs must be an integer ≥ 0`);
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.markets = deps.markets;
  }

  /** One reconciliation run of one account: dry (changes nothing but the stored report) or applied. */
  async run(input: RunInput): Promise<ReconReportData> {
    if (typeof input.accountId !== 'string' || input.accountId === '')
      throw new TypeError('accountId must be a non-empty string');
    if (typeof input.dryRun !== 'boolean') throw new TypeError('dryRun must be true or false');
    const runId = input.runId ?? `recon-${this.deps.clock.now()}-${randomUUID().slice(0, 8)}`;
    const { store } = this.deps;

    let lease: Lease | null = null;
    let busy: ReconReportData['busy'];
    if (!input.dryRun) {
      const got = await this.acquireAccountLease(input.accountId, runId);
      if ('lease' in got) lease = got.lease;
      else busy = got.busy;
    }
    try {
      const now = this.deps.clock.now();
      const views = await this.readViews(input.accountId);
      const plan = reconcile({
        accountId: input.accountId,
        now,
        table: views.table,
        exchange: { positions: views.positions, openOrders: [...views.orders.values()], fills: views.fills },
        markets: views.markets,
        options: this.deps.options.reconcile,
      });
      const ctx: RunContext = { runId, accountId: input.accountId, now, views };
      const actions: ActionOutcome[] = [];
      for (const action of plan.actions) {
        if (input.dryRun) actions.push({ action, status: 'planned', detail: describeAction(action) });
        else if (busy)
          actions.push({
            action,
            status: 'skipped',
            detail: `another reconciler (${busy.holder}) holds RECON#${input.accountId}`,
          });
        else actions.push({ action, ...(await this.applySafely(action, ctx)) });
      }
      if (!input.dryRun && !busy) {
        await this.resumeAdoptions(ctx);
        await this.resumeSettlements(ctx);
      }
      const count = (st: ActionStatus) => actions.filter((a) => a.status === st).length;
      const report: ReconReportData = {
        runId,
        accountId: input.accountId,
        at: now,
        dryRun: input.dryRun,
        findings: plan.findings,
        actions,
        summary: {
          ...plan.summary,
          applied: count('applied'),
          skipped: count('skipped'),
          failed: count('failed'),
        },
        mismatches: plan.findings.length,
        awaitingExecution: views.awaiting.map((t) => t.tradeId),
        ...(busy ? { busy } : {}),
      };
      await store.putReconReport({ accountId: input.accountId, runId, at: now, report: reportJson(report) });
      this.deps.metrics?.count(RECON_METRIC, report.mismatches);
      return report;
    } finally {
      if (lease) await store.releaseLease(lease).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------------------------------- leases

  private async acquireAccountLease(
    accountId: string,
    runId: string,
  ): Promise<{ lease: Lease } | { busy: { holder: string; expiresAt: number } }> {
    const { leaseTtlMs, leaseWaitMs, leasePollMs } = this.settings;
    const polls = Math.ceil(leaseWaitMs / leasePollMs);
    for (let i = 0; ; i++) {
      const r = await this.deps.store.acquireLease({ name: `RECON#${accountId}` }, runId, leaseTtlMs);
      if (r.acquired) return { lease: r.lease };
      if (i >= polls) return { busy: { holder: r.holder, expiresAt: r.expiresAt } };
      await this.sleep(leasePollMs);
    }
  }

  /** Runs `fn` holding the trade's lease (its fencing token is passed to the writes). */
  private async withTrade<T>(tradeId: string, runId: string, fn: (token: number) => Promise<T>): Promise<T> {
    const { store } = this.deps;
    const r = await store.acquireLease({ tradeId }, runId, this.settings.tradeLeaseTtlMs);
    if (!r.acquired) throw new TradeBusy(tradeId, r.holder);
    try {
      return await fn(r.lease.token);
    } finally {
      await store.releaseLease(r.lease).catch(() => undefined);
    }
  }

  // -------------------------------------------------------------------------------------------- views

  private async loadMarkets(): Promise<Record<string, MarketRules>> {
    if (!this.markets) this.markets = await this.deps.exchange.loadMarkets();
    return this.markets;
  }

  private async readViews(accountId: string): Promise<Views> {
    const { store, exchange } = this.deps;
    const listed = await store.listOpenTrades({ accountId });
    const trades = new Map<string, TradeRecord>();
    const awaiting: TradeRecord[] = [];
    const table: TableTradeView[] = [];
    for (const summary of listed) {
      if (!RECONCILED.includes(summary.status)) continue;
      const trade = await store.getTrade(summary.tradeId);
      if (trade === null || !RECONCILED.includes(trade.status)) continue;
      if (mapOf(trade, 'reconSettlement') !== null) {
        awaiting.push(trade);
        continue;
      }
      const intents = await store.listOrderIntents(trade.tradeId);
      let entryOrder: EntryOrderRecord | null = null;
      if (trade.status === 'ENTERING') {
        const cid = clientOrderId(trade.tradeId, 'entry');
        const intent = intents.find((i) => i.clientOrderId === cid);
        if (intent)
          entryOrder = {
            clientOrderId: intent.clientOrderId,
            ...(intent.exchangeOrderId ? { exchangeOrderId: intent.exchangeOrderId } : {}),
            placedAt: intent.createdAt,
          };
      }
      trades.set(trade.tradeId, trade);
      table.push(tableViewOf(trade, entryOrder, ownOrdersOf(intents)));
    }
    const [markets, positions, openOrders] = await Promise.all([
      this.loadMarkets(),
      exchange.fetchPositions(),
      exchange.fetchOpenOrders(),
    ]);
    const orders = new Map<string, ExchangeOrderView>();
    for (const o of openOrders) {
      if (o.status !== 'open') continue;
      orders.set(o.id, {
        id: o.id,
        ...(o.clientOrderId !== undefined ? { clientOrderId: o.clientOrderId } : {}),
        symbol: o.symbol,
        side: o.side,
        kind: o.kind,
        reduceOnly: o.reduceOnly,
        qty: o.qty,
        filledQty: o.filledQty,
        ...(o.price !== undefined ? { price: o.price } : {}),
        ...(o.triggerPrice !== undefined ? { triggerPrice: o.triggerPrice } : {}),
        placedAt: o.createdAt,
      });
    }
    const fills: ExchangeFillView[] = [];
    if (trades.size > 0) {
      const since = Math.min(...[...trades.values()].map((t) => t.createdAt));
      const symbols = [...new Set(table.map((t) => t.symbol))].sort();
      for (const symbol of symbols) {
        for (const f of await exchange.fetchMyTrades(symbol, since)) {
          fills.push({
            orderId: f.orderId,
            ...(f.clientOrderId !== undefined ? { clientOrderId: f.clientOrderId } : {}),
            symbol: f.symbol,
            side: f.side,
            qty: f.qty,
            price: f.price,
            fee: f.fee,
            at: f.at,
            ...(f.reduceOnly !== undefined ? { reduceOnly: f.reduceOnly } : {}),
          });
        }
      }
    }
    return {
      trades,
      awaiting,
      table,
      positions: positions.map((p) => ({
        symbol: p.symbol,
        side: p.side,
        qty: p.qty,
        entryPrice: p.entryPrice,
        ...(p.markPrice !== undefined ? { markPrice: p.markPrice } : {}),
      })),
      orders,
      fills,
      markets,
    };
  }

  // -------------------------------------------------------------------------------------------- apply

  private async applySafely(action: PlannedAction, ctx: RunContext): Promise<Applied> {
    try {
      return await this.apply(action, ctx);
    } catch (e) {
      if (e instanceof TradeBusy) return { status: 'skipped', detail: e.message };
      return { status: 'failed', detail: errorText(e) };
    }
  }

  private apply(action: PlannedAction, ctx: RunContext): Promise<Applied> {
    switch (action.type) {
      case 'PLACE_STOP':
      case 'REPLACE_STOP':
        return this.applyStop(action, ctx);
      case 'ADOPT_POSITION':
        return this.applyAdopt(action, ctx);
      case 'SETTLE_TRADE':
        return this.applySettle(action, ctx);
      case 'FIX_QUANTITY':
        return this.applyFixQuantity(action, ctx);
      case 'CANCEL_ORDER':
        return this.applyCancel(action, ctx);
      case 'CLOSE_POSITION':
        return this.applyClose(action, ctx);
      case 'MANUAL_REVIEW':
        return Promise.resolve({ status: 'skipped', detail: `manual review: ${action.reason}` });
    }
  }

  /** The trade as stored now (it must exist). */
  private async trade(tradeId: string): Promise<TradeRecord> {
    const t = await this.deps.store.getTrade(tradeId);
    if (t === null) throw new RangeError(`trade ${tradeId} does not exist`);
    return t;
  }

  /** A data-only audit event, once per commandId. */
  private async record(
    tradeId: string,
    type: string,
    commandId: string,
    patch: JsonMap,
    at: number,
    leaseToken?: number,
  ): Promise<TradeRecord> {
    const t = await this.trade(tradeId);
    if (t.commands[commandId] !== undefined) return t;
    const r = await this.deps.store.recordEvent(tradeId, {
      expectedVersion: t.version,
      type,
      patch,
      at,
      commandId,
      ...(leaseToken !== undefined ? { leaseToken } : {}),
    });
    return r.trade;
  }

  /**
   * Moves the trade along `path` (each step a transition with commandId `<cmd>:<status>`; a step already
   * taken is skipped), the patch going with the last step.
   */
  private async walk(
    tradeId: string,
    path: TradeStatus[],
    type: string,
    cmd: string,
    patch: JsonMap,
    at: number,
    leaseToken?: number,
  ): Promise<TradeRecord> {
    let t = await this.trade(tradeId);
    for (let i = 0; i < path.length; i++) {
      const to = path[i] as TradeStatus;
      const commandId = `${cmd}:${to}`;
      if (t.commands[commandId] !== undefined || t.status === to) continue;
      const last = i === path.length - 1;
      t = (
        await this.deps.store.transition(tradeId, {
          expectedVersion: t.version,
          to,
          type: last ? type : `${type}_${to}`,
          ...(last ? { patch } : {}),
          at,
          commandId,
          ...(leaseToken !== undefined ? { leaseToken } : {}),
        })
      ).trade;
    }
    return t;
  }

  private reconMeta(ctx: RunContext, action: PlannedAction, extra: JsonMap = {}): JsonMap {
    return { recon: { runId: ctx.runId, action: action.type, at: ctx.now, ...extra } };
  }

  /** The patch recording a stop resting on the exchange (both stop layouts, and the position's stop). */
  private stopPatch(
    trade: TradeRecord,
    placed: Extract<ProtectResult, { action: 'protected' }>,
    seq: number,
  ): JsonMap {
    const st = placed.stop;
    const pos = storedPosition(trade);
    return {
      stopOrderId: st.order.id,
      stopSeq: seq,
      ...(pos ? { position: { ...(pos as unknown as JsonMap), stop: s(st.triggerPrice) } } : {}),
      placedStop: {
        orderId: st.order.id,
        clientOrderId: st.clientOrderId,
        price: s(st.triggerPrice),
        qty: s(st.qty),
      },
    };
  }

  private async applyStop(
    action: Extract<PlannedAction, { type: 'PLACE_STOP' | 'REPLACE_STOP' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const seq = planSeq(action.tradeId, 'rcstop', action.clientOrderId);
    const commandId = `recon:${action.clientOrderId}`;
    return this.withTrade(action.tradeId, ctx.runId, async (token) => {
      const res = await this.deps.executor.protectOrExit({
        tradeId: action.tradeId,
        symbol: action.symbol,
        positionSide: action.side,
        qty: action.qty,
        stopPrice: action.price,
        seq,
        exitSeq: seq,
        ...(action.type === 'REPLACE_STOP' ? { oldOrderId: action.cancelOrderId } : {}),
      });
      if (res.action === 'kept-old-stop')
        return {
          status: 'failed',
          detail: `new stop refused (${res.replaced.failure.message}); the old stop ${action.type === 'REPLACE_STOP' ? action.cancelOrderId : ''} still protects the position`,
        };
      const trade = await this.trade(action.tradeId);
      if (res.action === 'exited') {
        await this.record(
          action.tradeId,
          'RECON_STOP_REFUSED_EXITED',
          commandId,
          this.reconMeta(ctx, action, {
            stopStatus: res.stop.status,
            exit: toJson(
              res.exit.status === 'exited'
                ? { orderId: res.exit.order.id, filledQty: res.exit.filledQty, avgPrice: res.exit.avgPrice }
                : { status: res.exit.status },
            ),
          }),
          ctx.now,
          token,
        );
        return {
          status: 'applied',
          detail: `stop refused (${res.stop.status}); the position was closed at market instead (settled by the next run)`,
        };
      }
      const type = action.type === 'PLACE_STOP' ? 'RECON_STOP_PLACED' : 'RECON_STOP_REPLACED';
      await this.record(
        action.tradeId,
        type,
        commandId,
        {
          ...this.stopPatch(trade, res, seq),
          ...this.reconMeta(ctx, action, { plannedClientOrderId: action.clientOrderId }),
        },
        ctx.now,
        token,
      );
      const replaced =
        action.type === 'REPLACE_STOP'
          ? `, replacing ${action.cancelOrderId}${res.replaced?.status === 'replaced' && !res.replaced.oldStopCancelled ? ' (the old stop could not be cancelled; the next run cancels it)' : ''}`
          : '';
      return {
        status: 'applied',
        detail: `stop ${res.stop.clientOrderId} (order ${res.stop.order.id}) ${action.orderSide} ${s(res.stop.qty)} @ ${s(res.stop.triggerPrice)} placed${replaced}`,
      };
    });
  }

  private async applyAdopt(
    action: Extract<PlannedAction, { type: 'ADOPT_POSITION' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const { store, executor } = this.deps;
    const { tradeId } = action;
    const cmd = `recon:adopt:${tradeId}`;
    const adopted: JsonMap = {
      runId: ctx.runId,
      at: ctx.now,
      qty: s(action.qty),
      entryPrice: s(action.entryPrice),
      maxLoss: s(action.maxLoss),
    };
    await store.createTrade({
      tradeId,
      accountId: action.accountId,
      symbol: action.symbol,
      at: ctx.now,
      commandId: cmd,
      data: {
        adopted,
        side: action.side,
        exchange: this.deps.exchange.exchangeId,
        plan: { maxLoss: s(action.maxLoss) },
      },
    });
    const seq = planSeq(tradeId, 'rcstop', action.stop.clientOrderId);
    const outcome = await this.withTrade(tradeId, ctx.runId, async (token) => {
      const res = await executor.protectOrExit({
        tradeId,
        symbol: action.symbol,
        positionSide: action.side,
        qty: action.stop.qty,
        stopPrice: action.stop.price,
        seq,
        exitSeq: seq,
      });
      if (res.action !== 'protected') {
        const exit =
          res.action === 'exited' && res.exit.status === 'exited'
            ? {
                orderId: res.exit.order.id,
                filledQty: s(res.exit.filledQty),
                avgPrice: res.exit.avgPrice ? s(res.exit.avgPrice) : null,
              }
            : null;
        await this.walk(
          tradeId,
          ['FAILED'],
          'RECON_ADOPT_UNPROTECTABLE',
          cmd,
          {
            failure: { error: 'ADOPTED_POSITION_UNPROTECTABLE', cause: `stop ${res.action}` },
            exit,
            ...this.reconMeta(ctx, action),
          },
          ctx.now,
          token,
        );
        return {
          started: false,
          detail: `the adopted position's stop was refused; closed at market (trade ${tradeId} FAILED)`,
        };
      }
      const market = ctx.views.markets[action.symbol] ?? null;
      if (market === null) throw new RangeError(`no market rules for ${action.symbol}`);
      const opened = openPosition({
        side: action.side,
        entryPrice: action.entryPrice,
        qty: action.qty,
        filledAt: ctx.now,
        exits: {
          stop: res.stop.triggerPrice,
          takeProfit: action.entryPrice,
          levels: [],
          stopDistance: action.entryPrice.minus(res.stop.triggerPrice).abs(),
        },
        maxLoss: action.maxLoss,
        rules: stopRulesFor(this.deps.options.trading, market),
        adopted: true,
      });
      const position = encodePosition({
        ...opened.position,
        remainingQty: action.qty,
        stop: res.stop.triggerPrice,
        initialStop: res.stop.triggerPrice,
      });
      const trade = await this.trade(tradeId);
      await this.walk(
        tradeId,
        ['ENTERING', 'LIVE'],
        'RECON_ADOPTED',
        cmd,
        {
          ...this.stopPatch(trade, res, seq),
          position: toJson(position),
          entry: {
            clientOrderId: '',
            orderId: '',
            requestedQty: s(action.qty),
            filledQty: s(action.qty),
            avgPrice: s(action.entryPrice),
            filledAt: ctx.now,
            partial: false,
            slippageBps: null,
          },
          ...this.reconMeta(ctx, action, { stop: toJson(action.stop) }),
        },
        ctx.now,
        token,
      );
      return {
        started: true,
        detail: `trade ${tradeId} created LIVE (${action.side} ${s(action.qty)} @ ${s(action.entryPrice)}, max loss ${s(action.maxLoss)}); stop ${res.stop.clientOrderId} ${s(res.stop.qty)} @ ${s(res.stop.triggerPrice)} placed${action.stop.tightened ? ' (tightened to the fail-safe)' : ''}`,
      };
    });
    if (!outcome.started) return { status: 'applied', detail: outcome.detail };
    const started = await this.startExecution(tradeId, ctx);
    return {
      status: 'applied',
      detail: `${outcome.detail}; execution ${started ? 'started' : 'already running'}`,
    };
  }

  /** Starts an adopted trade's execution and marks it (`executionStartedAt`) so a crash is resumed. */
  private async startExecution(tradeId: string, ctx: RunContext): Promise<boolean> {
    const r = await this.deps.executions.startTradeExecution(tradeId);
    await this.record(
      tradeId,
      'RECON_EXECUTION_STARTED',
      `recon:adopt:${tradeId}:execution`,
      {
        executionStartedAt: ctx.now,
        recon: { runId: ctx.runId, action: 'START_EXECUTION', at: ctx.now },
      },
      ctx.now,
    );
    return r.started;
  }

  /** Adopted trades whose execution start was interrupted (a crash after the trade went LIVE). */
  private async resumeAdoptions(ctx: RunContext): Promise<void> {
    for (const t of ctx.views.trades.values()) {
      if (t.data.adopted === undefined || t.data.executionStartedAt !== undefined) continue;
      if (!OPEN_POSITION_STATUSES.includes(t.status)) continue;
      await this.startExecution(t.tradeId, ctx).catch(() => undefined);
    }
  }

  /** Trades settled by an earlier run and still open: end the wait again, or close them (see the report). */
  private async resumeSettlements(ctx: RunContext): Promise<void> {
    for (const t of ctx.views.awaiting) {
      const st = mapOf(t, 'reconSettlement');
      const reason = st?.reason;
      if (reason !== 'STOP_HIT' && reason !== 'CLOSED_EXTERNALLY' && reason !== 'FAILSAFE_UNPROTECTABLE')
        continue;
      try {
        const r = await this.deps.liveWaits.endLiveWait(t.tradeId, {
          reason,
          decidedBy: this.settings.decidedBy,
          positionOpen: false,
          detail: `reconciliation ${ctx.runId}: settlement recorded earlier`,
        });
        if (r && !r.ended && r.reason !== 'ALREADY_ENDED')
          await this.withTrade(t.tradeId, ctx.runId, (token) =>
            this.walk(
              t.tradeId,
              ['CLOSED'],
              'RECON_SETTLED',
              `recon:settle:${t.tradeId}`,
              {},
              ctx.now,
              token,
            ),
          );
      } catch {
        // retried by the next run
      }
    }
  }

  /**
   * Records the settlement (and the external fills used, appended to `data.externalFills` in the same
   * event) and ends the trade's live wait (the execution then settles and finalizes); a trade without a
   * live wait is moved to CLOSED here (an ENTERING one through LIVE).
   */
  private async settle(
    tradeId: string,
    ctx: RunContext,
    action: PlannedAction,
    s0: {
      exitPrice: Decimal | null;
      realizedPnl: Decimal | null;
      closedQty: Decimal;
      reason: LiveExitReason;
      externalFills: readonly ExternalFill[];
    },
    cmd: string,
  ): Promise<string> {
    const settlement: JsonMap = {
      reason: s0.reason,
      realizedPnl: s0.realizedPnl === null ? null : s(s0.realizedPnl),
      exitPrice: s0.exitPrice === null ? null : s(s0.exitPrice),
      closedQty: s(s0.closedQty),
      runId: ctx.runId,
      at: ctx.now,
    };
    const patch: JsonMap = {
      exit: {
        reason: s0.reason,
        orderId: null,
        filledQty: s(s0.closedQty),
        avgPrice: settlement.exitPrice ?? null,
        at: ctx.now,
      },
      reconSettlement: settlement,
      ...this.reconMeta(ctx, action),
    };
    const pnl = s0.realizedPnl === null ? 'PnL unknown' : `realized PnL ${s(s0.realizedPnl)}`;
    const ext =
      s0.externalFills.length > 0
        ? `; closed outside the engine by ${fillsText(s0.externalFills)}, recorded as external fills`
        : '';
    const armed = await this.withTrade(tradeId, ctx.runId, async (token) => {
      const t = await this.trade(tradeId);
      if (s0.externalFills.length > 0)
        patch.externalFills = withExternalFills(t, s0.externalFills, {
          action: action.type,
          runId: ctx.runId,
        });
      const hasWait = typeof t.data.liveTaskToken === 'string' && t.data.liveTaskToken !== '';
      if (hasWait && t.status !== 'ENTERING') {
        await this.record(tradeId, 'RECON_SETTLED', cmd, patch, ctx.now, token);
        return true;
      }
      await this.walk(
        tradeId,
        t.status === 'ENTERING' ? ['LIVE', 'CLOSED'] : ['CLOSED'],
        'RECON_SETTLED',
        cmd,
        patch,
        ctx.now,
        token,
      );
      return false;
    });
    if (!armed) return `trade ${tradeId} CLOSED (${s0.reason}, ${pnl})${ext}`;
    const ended = await this.deps.liveWaits.endLiveWait(tradeId, {
      reason: s0.reason,
      decidedBy: this.settings.decidedBy,
      positionOpen: false,
      detail: `reconciliation ${ctx.runId}: ${pnl}${s0.exitPrice === null ? '' : ` at ${s(s0.exitPrice)}`}`,
    });
    if (!ended || ended.ended) return `settlement recorded (${pnl})${ext}; live wait ended with ${s0.reason}`;
    if (ended.reason === 'ALREADY_ENDED')
      return `settlement recorded (${pnl})${ext}; the execution had already left its live wait and settles the trade`;
    await this.withTrade(tradeId, ctx.runId, (token) =>
      this.walk(tradeId, ['CLOSED'], 'RECON_SETTLED', cmd, {}, ctx.now, token),
    );
    return `trade ${tradeId} CLOSED (${s0.reason}, ${pnl})${ext}; its live wait was ${ended.reason}`;
  }

  private async applySettle(
    action: Extract<PlannedAction, { type: 'SETTLE_TRADE' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const detail = await this.settle(
      action.tradeId,
      ctx,
      action,
      {
        exitPrice: action.exitPrice,
        realizedPnl: action.realizedPnl,
        closedQty: action.closedQty,
        reason: action.reason === 'stop-hit' ? 'STOP_HIT' : 'CLOSED_EXTERNALLY',
        externalFills: action.externalFills,
      },
      `recon:settle:${action.tradeId}`,
    );
    return { status: 'applied', detail };
  }

  private async applyFixQuantity(
    action: Extract<PlannedAction, { type: 'FIX_QUANTITY' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const commandId = `recon:fixqty:${action.tradeId}:${s(action.from)}:${s(action.to)}`;
    return this.withTrade(action.tradeId, ctx.runId, async (token) => {
      const trade = await this.trade(action.tradeId);
      const pos = storedPosition(trade);
      const patch: JsonMap = this.reconMeta(ctx, action, {
        from: s(action.from),
        to: s(action.to),
        entryPrice: s(action.entryPrice),
        ...(action.to.lt(action.from) ? { unattributedQty: s(action.unattributedQty) } : {}),
      });
      if (action.externalFills.length > 0)
        patch.externalFills = withExternalFills(trade, action.externalFills, {
          action: action.type,
          runId: ctx.runId,
        });
      if (pos !== null) {
        const initial = dmax(
          decimalOf(pos.initialQty, `trade ${trade.tradeId}: data.position.initialQty`),
          action.to,
        );
        patch.position = {
          ...(pos as unknown as JsonMap),
          remainingQty: s(action.to),
          initialQty: s(initial),
          entryPrice: s(action.entryPrice),
        };
      }
      const entry = mapOf(trade, 'entry');
      if (pos === null && entry !== null)
        patch.entry = { ...entry, filledQty: s(action.to), avgPrice: s(action.entryPrice) };
      await this.record(action.tradeId, 'RECON_QTY_FIXED', commandId, patch, ctx.now, token);
      return {
        status: 'applied',
        detail: `trade ${action.tradeId} qty ${s(action.from)} → ${s(action.to)}, entry ${s(action.entryPrice)}${closedOutsideText(action)}`,
      };
    });
  }

  /** Cancels one order; an order already gone counts as cancelled. */
  private async cancelOrder(
    orderId: string,
    symbol: string,
    ctx: RunContext,
  ): Promise<'cancelled' | 'already gone'> {
    const view = ctx.views.orders.get(orderId);
    const trigger = view ? view.kind === 'stop' || view.kind === 'take-profit' : false;
    try {
      await this.deps.exchange.cancelOrder(orderId, { symbol, trigger });
      return 'cancelled';
    } catch (e) {
      if (isExchangeFailure(e) && e.code === 'ORDER_NOT_FOUND') return 'already gone';
      if (isExchangeFailure(e) && e.outcome !== 'never-retry') {
        const o: ExchangeOrder = await this.deps.exchange.fetchOrder(orderId, { symbol, trigger });
        if (o.status !== 'open') return 'already gone';
      }
      throw e;
    }
  }

  private async applyCancel(
    action: Extract<PlannedAction, { type: 'CANCEL_ORDER' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const what = `${action.reason} order ${action.orderId}${action.clientOrderId ? ` (${action.clientOrderId})` : ''}`;
    const cancel = async (token?: number): Promise<Applied> => {
      const r = await this.cancelOrder(action.orderId, action.symbol, ctx);
      if (action.tradeId !== undefined)
        await this.record(
          action.tradeId,
          'RECON_ORDER_CANCELLED',
          `recon:cancel:${action.orderId}`,
          this.reconMeta(ctx, action, { orderId: action.orderId, reason: action.reason, result: r }),
          ctx.now,
          token,
        );
      return {
        status: 'applied',
        detail: `${what} ${r}${action.tradeId ? '' : ' (no trade: recorded in this report)'}`,
      };
    };
    return action.tradeId === undefined ? cancel() : this.withTrade(action.tradeId, ctx.runId, cancel);
  }

  private async applyClose(
    action: Extract<PlannedAction, { type: 'CLOSE_POSITION' }>,
    ctx: RunContext,
  ): Promise<Applied> {
    const position = ctx.views.positions.find((p) => p.symbol === action.symbol);
    if (position === undefined) throw new RangeError(`no position on ${action.symbol} to close`);
    const orderTradeId =
      action.tradeId ?? adoptedTradeId(ctx.accountId, action.symbol, position.side, position.entryPrice);
    const seq = planSeq(orderTradeId, 'rcclose', action.clientOrderId);
    const close = async (
      token?: number,
    ): Promise<{ applied: Applied; filled: Decimal; avg: Decimal | null; fee: Decimal }> => {
      const res = await this.deps.executor.exit({
        tradeId: orderTradeId,
        symbol: action.symbol,
        positionSide: action.side,
        qty: action.qty,
        seq,
      });
      if (res.status === 'rejected')
        return {
          applied: { status: 'failed', detail: `close refused: ${res.failure.message}` },
          filled: ZERO,
          avg: null,
          fee: ZERO,
        };
      const cancelled: string[] = [];
      for (const o of action.thenCancel)
        cancelled.push(`${o.orderId} ${await this.cancelOrder(o.orderId, action.symbol, ctx)}`);
      const filled = res.status === 'exited' ? res.filledQty : ZERO;
      const avg = res.status === 'exited' ? res.avgPrice : null;
      const fee = res.status === 'exited' ? (res.order.fee ?? ZERO) : ZERO;
      if (action.tradeId !== undefined)
        await this.record(
          action.tradeId,
          'RECON_POSITION_CLOSED',
          `recon:${action.clientOrderId}`,
          this.reconMeta(ctx, action, {
            filledQty: s(filled),
            avgPrice: avg === null ? null : s(avg),
            cancelled,
          }),
          ctx.now,
          token,
        );
      return {
        applied: {
          status: 'applied',
          detail: `closed ${s(filled)} at market${avg ? ` @ ${s(avg)}` : ''} (${action.reason})${cancelled.length ? `; cancelled ${cancelled.join(', ')}` : ''}`,
        },
        filled,
        avg,
        fee,
      };
    };
    if (action.tradeId === undefined) return (await close()).applied;
    const tradeId = action.tradeId;
    const r = await this.withTrade(tradeId, ctx.runId, close);
    if (r.applied.status !== 'applied') return r.applied;
    const view = ctx.views.table.find((t) => t.tradeId === tradeId);
    const entry = view?.entryPrice ?? null;
    const pnl =
      entry !== null && r.avg !== null
        ? r.avg.minus(entry).mul(r.filled).mul(sideSign(action.side)).minus(r.fee)
        : null;
    const detail = await this.settle(
      tradeId,
      ctx,
      action,
      {
        exitPrice: r.avg,
        realizedPnl: pnl,
        closedQty: r.filled,
        reason: 'FAILSAFE_UNPROTECTABLE',
        externalFills: [],
      },
      `recon:settle:${tradeId}`,
    );
    return { status: 'applied', detail: `${r.applied.detail}; ${detail}` };
  }
}

/**
 * What a quantity fix says about a partial close outside the engine: the fills recorded as external fills,
 * and the part no fill explains (its PnL is unknown). Empty for a fix upwards.
 */
function closedOutsideText(a: Extract<PlannedAction, { type: 'FIX_QUANTITY' }>): string {
  if (!a.to.lt(a.from)) return '';
  const closed = a.from.minus(a.to);
  if (a.externalFills.length === 0)
    return `; no fill explains the ${s(closed)} closed outside the engine: nothing recorded, PnL of that part unknown`;
  const found = `; ${s(closed.minus(a.unattributedQty))} of the ${s(closed)} closed outside the engine recorded as external fills: ${fillsText(a.externalFills)}`;
  return a.unattributedQty.gt(0)
    ? `${found}; no fill explains the other ${s(a.unattributedQty)} (PnL of that part unknown)`
    : found;
}

/** One sentence for a planned action (dry run). */
export function describeAction(a: PlannedAction): string {
  switch (a.type) {
    case 'PLACE_STOP':
      return `place stop ${a.clientOrderId} for trade ${a.tradeId}: ${a.orderSide} ${s(a.qty)} @ ${s(a.price)} (loss if stopped ${s(a.lossIfStopped)} ≤ ${s(a.lossLimit)})`;
    case 'REPLACE_STOP':
      return `replace stop ${a.cancelOrderId} of trade ${a.tradeId} by ${a.clientOrderId}: ${a.orderSide} ${s(a.qty)} @ ${s(a.price)}`;
    case 'ADOPT_POSITION':
      return `adopt ${a.side} ${s(a.qty)} ${a.symbol} @ ${s(a.entryPrice)} as trade ${a.tradeId} with stop ${s(a.stop.price)}${a.stop.tightened ? ' (tightened)' : ''}`;
    case 'SETTLE_TRADE':
      return `settle trade ${a.tradeId} (${a.reason}): exit ${a.exitPrice === null ? 'unknown' : s(a.exitPrice)}, realized PnL ${a.realizedPnl === null ? 'unknown' : s(a.realizedPnl)}${a.externalFills.length > 0 ? `; external fills: ${fillsText(a.externalFills)}` : ''}`;
    case 'FIX_QUANTITY':
      return `fix trade ${a.tradeId} qty ${s(a.from)} → ${s(a.to)} (entry ${s(a.entryPrice)})${closedOutsideText(a)}`;
    case 'CANCEL_ORDER':
      return `cancel ${a.reason} order ${a.orderId}${a.tradeId ? ` of trade ${a.tradeId}` : ''}`;
    case 'CLOSE_POSITION':
      return `close ${a.side} ${s(a.qty)} ${a.symbol} at market: ${a.reason}`;
    case 'MANUAL_REVIEW':
      return `manual review: ${a.reason}`;
  }
}
