/**
 * The trade store port: durable trade state, its audit log, order intents, operator control state,
 * circuit-breaker state, leases and reconciliation reports. Handlers depend on this interface; the
 * DynamoDB adapter (`functions/adapters/dynamodb/`) implements it with single-item conditional writes.
 *
 * Times are epoch milliseconds. Domain details travel as JSON-safe maps ({@link JsonMap}) with every
 * decimal (price, quantity, money) as a string. Errors: see `./errors.ts`.
 */
import type { TradeStatus } from '../core/lifecycle.js';

/** A JSON value as stored: no `undefined`, no non-finite numbers, no class instances. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object (a DynamoDB map). */
export type JsonMap = { [key: string]: JsonValue };

/** The lease attributes held on a trade's state item (trade-scoped leases live on the trade itself). */
export interface TradeLeaseState {
  /** The current holder, or null after a release. */
  owner: string | null;
  /** When the holder's lease expires (epoch ms); 0 after a release. */
  expiresAt: number;
  /** The last fencing token issued for this trade (increments on every acquire). */
  token: number;
}

/** A trade's current state, as read (pending events already rolled forward). */
export interface TradeRecord {
  tradeId: string;
  accountId: string;
  symbol: string;
  status: TradeStatus;
  /** 1 after creation; +1 per event. Equals the version of the newest applied audit event. */
  version: number;
  createdAt: number;
  updatedAt: number;
  /** Domain details owned by the core (JSON-safe; decimals as strings). */
  data: JsonMap;
  /** Live milestones: threshold (e.g. "10") → whole seconds from entry fill. Written once. */
  milestones: Record<string, number>;
  /** Shadow (post-trade / skipped) milestones, same shape. */
  shadowMilestones: Record<string, number>;
  /** commandId → the version its state change produced (every transition / recorded event). */
  commands: Record<string, number>;
  /** commandId → when the order-queue consumer finished it (epoch ms). */
  processedCommands: Record<string, number>;
  /** Lease attributes, or null when the trade was never leased. */
  lease: TradeLeaseState | null;
}

/** One entry of a trade's audit log: the change from `version − 1` to `version`. */
export interface TradeEvent {
  tradeId: string;
  accountId: string;
  symbol: string;
  version: number;
  /** `CREATED`, the transition's type, or a data-only event type such as `STOP_MOVED`. */
  type: string;
  /** Null for CREATED. */
  fromStatus: TradeStatus | null;
  toStatus: TradeStatus;
  at: number;
  commandId: string | null;
  /** The patch applied to the trade's `data` (for CREATED: the initial data). */
  data: JsonMap;
  /** The fencing token the writer held, when the write was done under a lease. */
  leaseToken: number | null;
}

/** Input of {@link TradeStore.createTrade}. The trade id derives from the signal id. */
export interface CreateTradeInput {
  tradeId: string;
  accountId: string;
  symbol: string;
  data: JsonMap;
  at: number;
  /** Identifies this creation attempt; defaults to `create:<tradeId>`. */
  commandId?: string;
}

/** Input of {@link TradeStore.transition}: move the trade from `expectedVersion` to status `to`. */
export interface TransitionInput {
  expectedVersion: number;
  to: TradeStatus;
  /** Event type recorded in the audit log (e.g. `ENTRY_FILLED`). */
  type: string;
  /** Shallow patch of `data`: each top-level key is set to the given value (null stores null). */
  patch?: JsonMap;
  at: number;
  /** Unique per state change; a retry with the same commandId has at most one effect. */
  commandId: string;
  /** The fencing token of the caller's lease on this trade; the write fails if the lease moved on. */
  leaseToken?: number;
}

/** Input of {@link TradeStore.recordEvent}: a data-only event (status unchanged), e.g. STOP_MOVED. */
export type RecordEventInput = Omit<TransitionInput, 'to'>;

/** Result of a transition or recorded event. */
export interface TransitionResult {
  trade: TradeRecord;
  /** False when this commandId had already been applied (nothing new was written). */
  applied: boolean;
}

/** Which sparse index to list open trades from. */
export type OpenTradesQuery = { accountId: string; status?: TradeStatus } | { symbol: string };

/** An open trade as listed by the sparse indexes. */
export type OpenTradeSummary = Pick<TradeRecord, 'tradeId' | 'accountId' | 'symbol' | 'status' | 'version'>;

/** Milestones measured while live, or in the shadow continuation (post-trade / skipped). */
export type MilestoneKind = 'live' | 'shadow';

/** Status of an order intent: INTENDED → SENT → ACKED | UNKNOWN | REJECTED (UNKNOWN resolves later). */
export type OrderIntentStatus = 'INTENDED' | 'SENT' | 'ACKED' | 'UNKNOWN' | 'REJECTED';

/** An order the engine decided to send, recorded before it is sent. */
export interface OrderIntent {
  tradeId: string;
  /** Deterministic client order id (≤ 36 chars for Binance). */
  clientOrderId: string;
  /** What the order is for, e.g. ENTRY, STOP, EXIT, TAKE_PROFIT. */
  purpose: string;
  status: OrderIntentStatus;
  /** The order request as sent (JSON-safe; decimals as strings). */
  request: JsonMap;
  exchangeOrderId: string | null;
  /** What the exchange answered (or the error), once known. */
  outcome: JsonMap | null;
  createdAt: number;
  updatedAt: number;
}

/** Input of {@link TradeStore.putOrderIntent}. */
export interface PutOrderIntentInput {
  tradeId: string;
  clientOrderId: string;
  purpose: string;
  request: JsonMap;
  at: number;
}

/** Input of {@link TradeStore.updateOrderIntent}. */
export interface UpdateOrderIntentInput {
  to: OrderIntentStatus;
  exchangeOrderId?: string;
  outcome?: JsonMap;
  at: number;
}

/** Operator kill switch: ACTIVE trades normally, REDUCING allows no new entries, HALTED only protective orders. */
export type TradingStateValue = 'ACTIVE' | 'REDUCING' | 'HALTED';
/** Scope of a trading state: global, or one account. */
export type TradingScope = { global: true } | { accountId: string };

/** A kill-switch record. An absent record reads as ACTIVE with version 0. */
export interface TradingStateRecord {
  scope: TradingScope;
  value: TradingStateValue;
  version: number;
  reason: string;
  updatedBy: string;
  updatedAt: number;
}

/** Input of {@link TradeStore.setTradingState}; `expectedVersion` 0 means "no record yet". */
export interface SetTradingStateInput {
  value: TradingStateValue;
  reason: string;
  updatedBy: string;
  expectedVersion: number;
}

/** Circuit breaker states. */
export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** Stored breaker state; an absent record reads as CLOSED, 0 failures, version 0. */
export interface BreakerRecord {
  /** An account id, or `POSITION#<tradeId>`. */
  scope: string;
  state: BreakerState;
  failures: number;
  openedAt: number | null;
  version: number;
}

/** The new breaker value for {@link TradeStore.compareAndSetBreaker}. */
export type BreakerUpdate = Pick<BreakerRecord, 'state' | 'failures' | 'openedAt'>;

/** What a lease is on: one trade (held on the trade's state item) or any other named resource. */
export type LeaseResource = { tradeId: string } | { name: string };

/** A held lease. `token` is the fencing token: writes under the lease carry it. */
export interface Lease {
  resource: LeaseResource;
  owner: string;
  token: number;
  expiresAt: number;
}

/** Result of {@link TradeStore.acquireLease}. */
export type AcquireLeaseResult =
  { acquired: true; lease: Lease } | { acquired: false; holder: string; expiresAt: number };

/** A stored reconciliation run. */
export interface ReconReport {
  accountId: string;
  runId: string;
  at: number;
  report: JsonMap;
}

/** A trade that moved to CLOSED (listed by the sparse `byClosedAt` index; it stays listed once finalized). */
export interface ClosedTradeEntry {
  trade: TradeRecord;
  /** When the trade moved to CLOSED (the `at` of that transition), epoch ms. */
  closedAt: number;
}

/** Query of {@link TradeStore.listClosedTrades}: one account, closing time in `[fromAt, toAt]` (both optional). */
export interface ClosedTradesQuery {
  accountId: string;
  /** Inclusive lower bound of `closedAt`, epoch ms. */
  fromAt?: number;
  /** Inclusive upper bound of `closedAt`, epoch ms. */
  toAt?: number;
  /** At most this many (default: all). */
  limit?: number;
  /** Newest first (default: oldest first). */
  newestFirst?: boolean;
}

/** The last tick of a scheduled worker (one record per worker, moved forward only). */
export interface WorkerTickRecord {
  /** Worker name, e.g. `stop-manager`. */
  worker: string;
  /** When the invocation's last tick ran (epoch ms). */
  lastTickAt: number;
  /** When the invocation started (epoch ms). */
  startedAt: number;
  /** Ticks run by that invocation. */
  ticks: number;
  /** Wall time of the invocation by the clock, ms. */
  durationMs: number;
  /** Worker-specific details of the last tick (e.g. the lifecycle watch's health scores). */
  detail: JsonMap;
}

/** One operator action in the audit log (trading state, flatten, force exit, config reload). */
export interface OperatorAuditEntry {
  /** Unique id of the action (the API request id, or generated). */
  auditId: string;
  at: number;
  /** Who did it, e.g. the caller's IAM ARN. */
  actor: string;
  /** What was done, e.g. `SET_TRADING_STATE`, `FORCE_EXIT`, `FLATTEN`, `CONFIG_RELOAD`. */
  action: string;
  /** What it was done to, e.g. `global`, an account id, a trade id. */
  target: string;
  /** The request and its outcome. */
  detail: JsonMap;
}

/** A stored performance report of one account (the daily reporter writes one per run). */
export interface StoredPerformanceReport {
  accountId: string;
  runId: string;
  at: number;
  report: JsonMap;
}

/** The trade store. */
export interface TradeStore {
  /** Creates the trade (PENDING, version 1, CREATED event) or returns the existing one (`created: false`). */
  createTrade(input: CreateTradeInput): Promise<{ trade: TradeRecord; created: boolean }>;
  /** The trade, with any pending event rolled forward first; null when it does not exist. */
  getTrade(tradeId: string): Promise<TradeRecord | null>;
  /** Moves the trade to `to`; see errors VersionConflictError, IllegalTransitionError, LeaseLostError, TradeNotFoundError. */
  transition(tradeId: string, input: TransitionInput): Promise<TransitionResult>;
  /** Records a data-only event (status unchanged) with the same protocol as a transition. */
  recordEvent(tradeId: string, input: RecordEventInput): Promise<TransitionResult>;
  /** The applied audit events, oldest first (CREATED is version 1). */
  listEvents(tradeId: string): Promise<TradeEvent[]>;
  /** Open (non-terminal) trades of one account or one symbol, from the sparse indexes. */
  listOpenTrades(query: OpenTradesQuery): Promise<OpenTradeSummary[]>;
  /** Records a milestone once; a second write of the same threshold keeps the first value. */
  recordMilestone(
    tradeId: string,
    kind: MilestoneKind,
    threshold: number,
    seconds: number,
  ): Promise<{ recorded: boolean; seconds: number }>;
  /** Marks an order command as finished by the queue consumer (fenced by the lease when given). */
  markCommandProcessed(
    tradeId: string,
    commandId: string,
    opts: { at: number; leaseToken?: number },
  ): Promise<{ marked: boolean }>;
  /** Records an order intent before the order is sent; an existing intent is returned with `created: false`. */
  putOrderIntent(input: PutOrderIntentInput): Promise<{ intent: OrderIntent; created: boolean }>;
  /** Moves an intent along its status table; repeating the same update is a no-op. */
  updateOrderIntent(
    tradeId: string,
    clientOrderId: string,
    input: UpdateOrderIntentInput,
  ): Promise<OrderIntent>;
  getOrderIntent(tradeId: string, clientOrderId: string): Promise<OrderIntent | null>;
  listOrderIntents(tradeId: string): Promise<OrderIntent[]>;
  getTradingState(scope: TradingScope): Promise<TradingStateRecord>;
  setTradingState(scope: TradingScope, input: SetTradingStateInput): Promise<TradingStateRecord>;
  getBreaker(scope: string): Promise<BreakerRecord>;
  /** Writes `next` only if the stored version is `expectedVersion`; otherwise returns the current record. */
  compareAndSetBreaker(
    scope: string,
    expectedVersion: number,
    next: BreakerUpdate,
  ): Promise<{ ok: true; breaker: BreakerRecord } | { ok: false; current: BreakerRecord }>;
  acquireLease(resource: LeaseResource, owner: string, ttlMs: number): Promise<AcquireLeaseResult>;
  /** Extends a held lease; throws LeaseLostError when it is no longer held with this token. */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease>;
  releaseLease(lease: Lease): Promise<{ released: boolean }>;
  /** Stores a reconciliation report once (same accountId, at and runId → `created: false`). */
  putReconReport(report: ReconReport): Promise<{ created: boolean }>;
  /** Reports of one account, newest first. */
  listReconReports(accountId: string, opts?: { limit?: number; sinceAt?: number }): Promise<ReconReport[]>;
  /** Trades of one account that reached CLOSED (including those finalized since), by closing time. */
  listClosedTrades(query: ClosedTradesQuery): Promise<ClosedTradeEntry[]>;
  /** Records a worker's last tick; an older `lastTickAt` than the stored one is ignored (`recorded: false`). */
  recordWorkerTick(tick: WorkerTickRecord): Promise<{ recorded: boolean }>;
  /** The last tick of every worker that recorded one, by worker name. */
  listWorkerTicks(): Promise<WorkerTickRecord[]>;
  /** Appends an operator action to the audit log (the same auditId and time twice → `created: false`). */
  appendAudit(entry: OperatorAuditEntry): Promise<{ created: boolean }>;
  /** The operator audit log, newest first. */
  listAudit(opts?: { limit?: number; sinceAt?: number }): Promise<OperatorAuditEntry[]>;
  /** Stores a performance report once (same account, time and runId → `created: false`). */
  putPerformanceReport(report: StoredPerformanceReport): Promise<{ created: boolean }>;
  /** Performance reports of one account, newest first. */
  listPerformanceReports(accountId: string, opts?: { limit?: number }): Promise<StoredPerformanceReport[]>;
}
