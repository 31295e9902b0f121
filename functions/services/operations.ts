/**
 * What an operator asks of a running engine, independent of how it is asked (HTTP API, console, CLI):
 * status views (health, trades, position health, lifecycle timeouts), analytics over stored trades, and the
 * operator controls (trading state with optional flatten, force exit, config reload), each audited.
 * See docs/operations.md ("Operator controls", "HTTP API").
 *
 * Every control checks its request completely before it writes anything: a refused request throws an
 * {@link OperationError} and leaves the table as it was.
 */
import { randomUUID } from 'node:crypto';
import {
  ANALYTICS_PERIODS,
  performanceForPeriod,
  periodStart,
  type AnalyticsPeriod,
  type ClosedTradeRecord,
  type PeriodPerformance,
} from '../core/analytics.js';
import type { EngineConfig } from '../core/config.js';
import { ZERO, type Decimal } from '../core/decimal.js';
import { LIVE_STATUSES, TRADE_STATUSES, timeoutDecision, type TradeStatus } from '../core/lifecycle.js';
import type { Clock } from '../ports/clock.js';
import type { ConfigSource } from '../ports/config.js';
import { ConfigUnavailableError } from '../ports/config.js';
import type {
  BreakerRecord,
  ClosedTradeEntry,
  JsonMap,
  JsonValue,
  OperatorAuditEntry,
  TradeRecord,
  TradeStore,
  TradingScope,
  TradingStateRecord,
  TradingStateValue,
  WorkerTickRecord,
} from '../ports/trade-store.js';
import { VersionConflictError } from '../ports/errors.js';
import type { LiveExitReason } from '../ports/workflow.js';
import type { EndLiveWaitResult, ExitDecision } from './live-wait.js';
import { toJson } from './reconciler.js';
import { writeTrade } from './store-writes.js';
import { dataMap, readEntry, realizedPnlOf } from './trade-data.js';

export { realizedPnlOf };

/** Why an operator request was refused: the request is invalid, names nothing, or conflicts with the state. */
export type OperationErrorCode = 'INVALID' | 'NOT_FOUND' | 'CONFLICT' | 'UNAVAILABLE';

/** A refused operator request (nothing was written). `problems` lists every reason. */
export class OperationError extends Error {
  constructor(
    readonly code: OperationErrorCode,
    readonly problems: string[],
  ) {
    super(problems.join('; '));
    this.name = 'OperationError';
  }
}

/** Ends LIVE waits (`LiveWait` of `./live-wait.ts`). */
export interface LiveWaitPort {
  endLiveWait(tradeId: string, decision: ExitDecision): Promise<EndLiveWaitResult>;
}

/** The ports the operations use. */
export interface OperationsDeps {
  store: TradeStore;
  config: ConfigSource;
  clock: Clock;
  liveWait: LiveWaitPort;
}

/** Who asks, for the audit log and the `decidedBy` of exits (e.g. an IAM ARN, `console`). */
export interface Actor {
  id: string;
  /** Unique id of this request (the audit entry's id); generated when absent. */
  requestId?: string;
}

const auditIdOf = (actor: Actor): string => actor.requestId ?? `op-${randomUUID()}`;

/** The configured account ids, or `[accountId]` after checking it is configured. */
export function accountsIn(config: EngineConfig, accountId?: string): string[] {
  const all = [...config.accounts.keys()];
  if (accountId === undefined) return all;
  if (!config.accounts.has(accountId))
    throw new OperationError('INVALID', [
      `accountId: unknown account "${accountId}"; configured: ${all.join(', ')}`,
    ]);
  return [accountId];
}

// ---------------------------------------------------------------------------------------------------------
// Analytics
// ---------------------------------------------------------------------------------------------------------

/**
 * The analytics record of a stored closed trade, or null when it has no realized PnL yet. Exit time = when
 * the trade moved to CLOSED; entry time = the entry fill (`data.entry.filledAt`, else the position's
 * `entryFilledAt`, else the trade's creation), never later than the exit.
 */
export function closedTradeRecord(entry: ClosedTradeEntry): ClosedTradeRecord | null {
  const { trade, closedAt } = entry;
  const realizedPnl = realizedPnlOf(trade);
  if (realizedPnl === null) return null;
  const side = trade.data.side;
  if (side !== 'long' && side !== 'short') return null;
  const position = dataMap(trade, 'position');
  const filledAt =
    readEntry(trade)?.filledAt ??
    (typeof position?.entryFilledAt === 'number' ? position.entryFilledAt : trade.createdAt);
  const milestones: Record<string, number | null> = { ...trade.milestones };
  return {
    tradeId: trade.tradeId,
    accountId: trade.accountId,
    symbol: trade.symbol,
    side,
    entryFilledAt: Math.min(filledAt, closedAt),
    exitAt: closedAt,
    realizedPnl,
    milestones,
  };
}

/** Result of {@link accountPerformance}. */
export interface AccountPerformance {
  performance: PeriodPerformance;
  /** Equity at the start of the period: base equity + realized PnL of the trades closed before it. */
  startingEquity: Decimal;
  /** Where the base equity came from. */
  equitySource: 'request' | 'configuration';
  /** Trades that are CLOSED but not settled yet (left out until their PnL is known). */
  unsettled: string[];
}

/**
 * The core's `performanceForPeriod` over the account's stored closed trades. Base equity: `startingEquity`
 * when given, else the account's configured `equity` (an account with neither is refused). The period's
 * starting equity adds the PnL of every trade closed before the period starts.
 */
export async function accountPerformance(
  deps: Pick<OperationsDeps, 'store' | 'config'>,
  input: { accountId: string; period: AnalyticsPeriod; now: number; startingEquity?: Decimal },
): Promise<AccountPerformance> {
  const config = await deps.config.getConfig();
  accountsIn(config, input.accountId);
  const account = config.accounts.get(input.accountId);
  const base = input.startingEquity ?? account?.equity;
  if (base === undefined)
    throw new OperationError('INVALID', [
      `startingEquity: account ${input.accountId} has no equity in the configuration; pass startingEquity`,
    ]);
  if (!base.gt(0))
    throw new OperationError('INVALID', [`startingEquity: must be > 0, got ${base.toFixed()}`]);
  const entries = await deps.store.listClosedTrades({ accountId: input.accountId, toAt: input.now });
  const records: ClosedTradeRecord[] = [];
  const unsettled: string[] = [];
  for (const e of entries) {
    const r = closedTradeRecord(e);
    if (r === null) unsettled.push(e.trade.tradeId);
    else records.push(r);
  }
  const from = periodStart(input.period, input.now);
  const before =
    from === null
      ? ZERO
      : records.filter((r) => r.exitAt < from).reduce((a, r) => a.plus(r.realizedPnl), ZERO);
  const startingEquity = base.plus(before);
  if (!startingEquity.gt(0))
    throw new OperationError('CONFLICT', [
      `equity at the start of ${input.period} is ${startingEquity.toFixed()} (≤ 0): relative figures are undefined`,
    ]);
  const thresholds = account?.options.milestones.thresholds;
  const performance = performanceForPeriod(records, input.accountId, input.period, input.now, {
    startingEquity,
    ...(thresholds ? { milestoneThresholds: thresholds } : {}),
  });
  return {
    performance,
    startingEquity,
    equitySource: input.startingEquity === undefined ? 'configuration' : 'request',
    unsettled,
  };
}

/** The JSON form of an {@link AccountPerformance} (decimals as strings); `withDaily: false` drops the daily series. */
export function performanceJson(p: AccountPerformance, withDaily = true): JsonMap {
  const { dailyReturns, ...report } = p.performance.report;
  return toJson({
    accountId: p.performance.accountId,
    period: p.performance.period,
    from: p.performance.from,
    to: p.performance.to,
    startingEquity: p.startingEquity,
    equitySource: p.equitySource,
    unsettled: p.unsettled,
    report: withDaily ? { ...report, dailyReturns } : { ...report, days: dailyReturns.length },
  }) as JsonMap;
}

/** Parses an analytics period (`ALL`, `TODAY`, `WEEK`, `MONTH`, any case). */
export function parsePeriod(raw: string | undefined): AnalyticsPeriod {
  const p = (raw ?? 'ALL').toUpperCase();
  if (!(ANALYTICS_PERIODS as readonly string[]).includes(p))
    throw new OperationError('INVALID', [
      `period: ${JSON.stringify(raw)} is not one of ${ANALYTICS_PERIODS.join(', ')}`,
    ]);
  return p as AnalyticsPeriod;
}

// ---------------------------------------------------------------------------------------------------------
// Status views
// ---------------------------------------------------------------------------------------------------------

/** How often each worker is scheduled, ms: a worker is `stale` when its last tick is older than twice this. */
export const WORKER_PERIODS_MS: Readonly<Record<string, number>> = {
  'stop-manager': 60_000,
  'milestone-checker': 60_000,
  'lifecycle-watch': 60_000,
  reconciler: 300_000,
  reporter: 86_400_000,
};

/** One worker in the health view. */
export interface WorkerHealth {
  worker: string;
  lastTickAt: number | null;
  /** now − lastTickAt, ms; null when the worker never recorded a tick. */
  ageMs: number | null;
  /** True when it never ticked or its last tick is older than twice its period. */
  stale: boolean;
  ticks: number | null;
  durationMs: number | null;
}

/** `GET /health`. */
export interface HealthView {
  /** `ok` when nothing below is stale, open or halted; `degraded` otherwise. */
  status: 'ok' | 'degraded';
  at: number;
  workers: WorkerHealth[];
  breakers: Pick<BreakerRecord, 'scope' | 'state' | 'failures' | 'openedAt'>[];
  tradingState: {
    global: TradingStateRecord;
    accounts: TradingStateRecord[];
  };
  /** Every reason for `degraded`. */
  problems: string[];
}

/** Last tick per worker, breaker states per account, trading state global and per account. */
export async function healthView(deps: OperationsDeps, accountIds: readonly string[]): Promise<HealthView> {
  const now = deps.clock.now();
  const [ticks, global, accounts, breakers] = await Promise.all([
    deps.store.listWorkerTicks(),
    deps.store.getTradingState({ global: true }),
    Promise.all(accountIds.map((accountId) => deps.store.getTradingState({ accountId }))),
    Promise.all(accountIds.map((id) => deps.store.getBreaker(id))),
  ]);
  const byName = new Map<string, WorkerTickRecord>(ticks.map((t) => [t.worker, t]));
  const names = [...new Set([...Object.keys(WORKER_PERIODS_MS), ...byName.keys()])];
  const problems: string[] = [];
  const workers = names.map((worker): WorkerHealth => {
    const t = byName.get(worker);
    const period = WORKER_PERIODS_MS[worker] ?? 60_000;
    const ageMs = t ? now - t.lastTickAt : null;
    const stale = ageMs === null || ageMs > 2 * period;
    if (stale)
      problems.push(
        ageMs === null
          ? `worker ${worker} never recorded a tick`
          : `worker ${worker} last ticked ${ageMs} ms ago`,
      );
    return {
      worker,
      lastTickAt: t?.lastTickAt ?? null,
      ageMs,
      stale,
      ticks: t?.ticks ?? null,
      durationMs: t?.durationMs ?? null,
    };
  });
  for (const b of breakers) if (b.state !== 'CLOSED') problems.push(`breaker ${b.scope} is ${b.state}`);
  for (const s of [global, ...accounts])
    if (s.value !== 'ACTIVE')
      problems.push(`trading state ${'global' in s.scope ? 'global' : s.scope.accountId} is ${s.value}`);
  return {
    status: problems.length === 0 ? 'ok' : 'degraded',
    at: now,
    workers,
    breakers: breakers.map(({ scope, state, failures, openedAt }) => ({ scope, state, failures, openedAt })),
    tradingState: { global, accounts },
    problems,
  };
}

/** A trade as the lists show it. */
export interface TradeSummary {
  tradeId: string;
  accountId: string;
  symbol: string;
  status: TradeStatus;
  side: string | null;
  createdAt: number;
  updatedAt: number;
  /** Entry fill: qty and average price (strings), when filled. */
  entry: { filledQty: string; avgPrice: string; filledAt: number } | null;
  /** The live stop price, when a position is stored. */
  stop: string | null;
  remainingQty: string | null;
  /** When the trade moved to CLOSED (closed trades only). */
  closedAt: number | null;
  realizedPnl: string | null;
  exitReason: string | null;
}

/** The list form of a trade record. */
export function tradeSummary(trade: TradeRecord, closedAt: number | null = null): TradeSummary {
  const entry = readEntry(trade);
  const position = dataMap(trade, 'position');
  const exit = dataMap(trade, 'exit');
  const side = trade.data.side;
  return {
    tradeId: trade.tradeId,
    accountId: trade.accountId,
    symbol: trade.symbol,
    status: trade.status,
    side: typeof side === 'string' ? side : null,
    createdAt: trade.createdAt,
    updatedAt: trade.updatedAt,
    entry: entry ? { filledQty: entry.filledQty, avgPrice: entry.avgPrice, filledAt: entry.filledAt } : null,
    stop: typeof position?.stop === 'string' ? position.stop : null,
    remainingQty: typeof position?.remainingQty === 'string' ? position.remainingQty : null,
    closedAt,
    realizedPnl: realizedPnlOf(trade)?.toFixed() ?? null,
    exitReason: typeof exit?.reason === 'string' ? exit.reason : null,
  };
}

/** Statuses listed from the closed-trades index (the rest from the open-trades index). */
const CLOSED_LISTED: readonly TradeStatus[] = ['CLOSED', 'POST_TRADE_MONITOR', 'FINALIZED'];
/** Statuses that no index lists (terminal without a close). */
const UNLISTED: readonly TradeStatus[] = ['CANCELLED', 'FAILED'];

/** Parses a trade status filter. */
export function parseStatus(raw: string | undefined): TradeStatus | undefined {
  if (raw === undefined) return undefined;
  const s = raw.toUpperCase();
  if (!(TRADE_STATUSES as readonly string[]).includes(s))
    throw new OperationError('INVALID', [
      `status: ${JSON.stringify(raw)} is not one of ${TRADE_STATUSES.join(', ')}`,
    ]);
  if ((UNLISTED as readonly string[]).includes(s))
    throw new OperationError('INVALID', [
      `status: ${s} trades are not indexed; read one with GET /trades/{id}`,
    ]);
  return s as TradeStatus;
}

/** `GET /trades`: the open trades and the most recently closed ones (`limit` per account), optionally one status. */
export async function listTrades(
  deps: Pick<OperationsDeps, 'store'>,
  input: { accountIds: readonly string[]; status?: TradeStatus; limit: number },
): Promise<{ open: TradeSummary[]; recent: TradeSummary[] }> {
  const open: TradeSummary[] = [];
  const recent: TradeSummary[] = [];
  const wantsOpen = input.status === undefined || !CLOSED_LISTED.includes(input.status);
  const wantsClosed = input.status === undefined || CLOSED_LISTED.includes(input.status);
  for (const accountId of input.accountIds) {
    if (wantsOpen) {
      const listed = await deps.store.listOpenTrades({
        accountId,
        ...(input.status !== undefined ? { status: input.status } : {}),
      });
      const trades = await Promise.all(listed.map((t) => deps.store.getTrade(t.tradeId)));
      for (const t of trades) if (t !== null && !CLOSED_LISTED.includes(t.status)) open.push(tradeSummary(t));
    }
    if (wantsClosed) {
      const closed = await deps.store.listClosedTrades({
        accountId,
        newestFirst: true,
        limit: input.limit,
      });
      for (const c of closed)
        if (input.status === undefined || c.trade.status === input.status)
          recent.push(tradeSummary(c.trade, c.closedAt));
    }
  }
  open.sort((a, b) => a.createdAt - b.createdAt || (a.tradeId < b.tradeId ? -1 : 1));
  recent.sort((a, b) => (b.closedAt ?? 0) - (a.closedAt ?? 0) || (a.tradeId < b.tradeId ? -1 : 1));
  return { open, recent };
}

/** `GET /trades/{id}`: the trade, its audit events (oldest first) and its order intents. */
export async function tradeDetail(deps: Pick<OperationsDeps, 'store'>, tradeId: string): Promise<JsonMap> {
  const trade = await deps.store.getTrade(tradeId);
  if (trade === null) throw new OperationError('NOT_FOUND', [`trade ${tradeId} does not exist`]);
  const [events, intents] = await Promise.all([
    deps.store.listEvents(tradeId),
    deps.store.listOrderIntents(tradeId),
  ]);
  const { lease: _lease, commands: _commands, processedCommands: _processed, ...rest } = trade;
  return toJson({
    trade: { ...rest, data: withoutToken(trade.data) },
    summary: tradeSummary(trade),
    events: events.map((e) => ({ ...e, data: withoutToken(e.data) })),
    orderIntents: intents,
  }) as JsonMap;
}

/** The task token is a capability to end the trade's wait: never shown. */
function withoutToken(data: JsonMap): JsonMap {
  if (!('liveTaskToken' in data)) return data;
  const { liveTaskToken: _t, ...rest } = data;
  return { ...rest, liveTaskToken: '(set)' };
}

/** `GET /positions/health`: the health scores of the lifecycle watch's last tick, per open position. */
export async function positionsHealth(
  deps: Pick<OperationsDeps, 'store' | 'clock'>,
  accountIds: readonly string[],
): Promise<JsonMap> {
  const ticks = await deps.store.listWorkerTicks();
  const watch = ticks.find((t) => t.worker === 'lifecycle-watch');
  const scores = new Map<string, JsonValue>();
  const health = watch?.detail.health;
  if (Array.isArray(health))
    for (const h of health)
      if (h !== null && typeof h === 'object' && !Array.isArray(h) && typeof h.tradeId === 'string')
        scores.set(h.tradeId, h);
  const positions: JsonMap[] = [];
  for (const accountId of accountIds) {
    const open = await deps.store.listOpenTrades({ accountId });
    for (const t of open) {
      if (!LIVE_STATUSES.includes(t.status)) continue;
      const h = scores.get(t.tradeId) as JsonMap | undefined;
      positions.push({
        tradeId: t.tradeId,
        accountId: t.accountId,
        symbol: t.symbol,
        status: t.status,
        score: h?.score ?? null,
        level: h?.level ?? null,
        components: h?.components ?? null,
      });
    }
  }
  return { evaluatedAt: watch?.lastTickAt ?? null, at: deps.clock.now(), positions };
}

/** `GET /lifecycle/timeouts`: per open position, minutes open, the WARNING and CRITICAL times and the next step. */
export async function lifecycleTimeouts(
  deps: Pick<OperationsDeps, 'store' | 'clock' | 'config'>,
  accountIds: readonly string[],
): Promise<JsonMap> {
  const now = deps.clock.now();
  const config = await deps.config.getConfig();
  const positions: JsonMap[] = [];
  for (const accountId of accountIds) {
    const opts = config.accounts.get(accountId)?.options.lifecycle;
    if (!opts) continue;
    const open = await deps.store.listOpenTrades({ accountId });
    for (const s of open) {
      if (!LIVE_STATUSES.includes(s.status)) continue;
      const t = await deps.store.getTrade(s.tradeId);
      if (t === null) continue;
      const position = dataMap(t, 'position');
      const filledAt =
        typeof position?.entryFilledAt === 'number'
          ? position.entryFilledAt
          : (readEntry(t)?.filledAt ?? null);
      if (filledAt === null) continue;
      const d = timeoutDecision(t.status, filledAt, now, opts);
      positions.push({
        tradeId: t.tradeId,
        accountId,
        symbol: t.symbol,
        status: t.status,
        entryFilledAt: filledAt,
        minutesOpen: Math.max(0, now - filledAt) / 60_000,
        warningAt: filledAt + opts.warningMinutes * 60_000,
        criticalAt: filledAt + opts.criticalMinutes * 60_000,
        automaticTimeout: opts.enableAutomaticTimeout,
        next:
          d.kind === 'escalate'
            ? `escalate to ${d.to}`
            : d.kind === 'emergency-close'
              ? 'emergency close'
              : 'none',
      });
    }
  }
  return { at: now, positions };
}

// ---------------------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------------------

/** What happened to one trade in a force exit or a flatten. */
export interface ExitOutcome {
  tradeId: string;
  /** `requested`: the LIVE wait was ended; the execution exits the position. */
  outcome: 'requested' | 'refused';
  detail: string;
}

async function checkExitable(deps: OperationsDeps, tradeId: string): Promise<TradeRecord> {
  const trade = await deps.store.getTrade(tradeId);
  if (trade === null) throw new OperationError('NOT_FOUND', [`trade ${tradeId} does not exist`]);
  if (!LIVE_STATUSES.includes(trade.status))
    throw new OperationError('CONFLICT', [
      `trade ${tradeId} is ${trade.status}; a force exit needs LIVE, WARNING or CRITICAL`,
    ]);
  if (typeof trade.data.liveTaskToken !== 'string' || trade.data.liveTaskToken === '')
    throw new OperationError('CONFLICT', [
      `trade ${tradeId}: its LIVE wait is not armed yet; retry in a few seconds`,
    ]);
  return trade;
}

/**
 * Ends one trade's LIVE wait with `reason` after recording `OPERATOR_EXIT_REQUESTED` (data `operatorExit`:
 * reason, actor, at, auditId) on the trade. The checks (exists, LIVE/WARNING/CRITICAL, wait armed) come first.
 */
async function requestExit(
  deps: OperationsDeps,
  tradeId: string,
  reason: Extract<LiveExitReason, 'OPERATOR' | 'KILL_SWITCH'>,
  actor: Actor,
  auditId: string,
  note: string,
): Promise<ExitOutcome> {
  await checkExitable(deps, tradeId);
  const at = deps.clock.now();
  await writeTrade(
    deps.store,
    tradeId,
    () => deps.clock.now(),
    () => ({
      kind: 'event',
      type: 'OPERATOR_EXIT_REQUESTED',
      commandId: `operator-exit:${auditId}`,
      patch: { operatorExit: { reason, actor: actor.id, at, auditId, note } },
    }),
  );
  const r = await deps.liveWait.endLiveWait(tradeId, {
    reason,
    decidedBy: `operator:${actor.id}`,
    detail: note,
  });
  if (r.ended) return { tradeId, outcome: 'requested', detail: `LIVE wait ended with ${reason}` };
  return {
    tradeId,
    outcome: 'refused',
    detail:
      r.reason === 'ALREADY_ENDED'
        ? 'the LIVE wait had already ended: another exit is in progress'
        : `the LIVE wait could not be ended (${r.reason})`,
  };
}

/** `POST /trades/{id}/exit`: force exit of one trade (reason OPERATOR), audited. */
export async function forceExit(
  deps: OperationsDeps,
  input: { tradeId: string; reason: string },
  actor: Actor,
): Promise<ExitOutcome & { auditId: string }> {
  const auditId = auditIdOf(actor);
  const out = await requestExit(deps, input.tradeId, 'OPERATOR', actor, auditId, input.reason);
  if (out.outcome === 'refused')
    throw new OperationError('CONFLICT', [`trade ${input.tradeId}: ${out.detail}`]);
  await audit(deps, actor, auditId, 'FORCE_EXIT', input.tradeId, {
    reason: input.reason,
    outcome: out.detail,
  });
  return { ...out, auditId };
}

/** Input of {@link setTradingState}. */
export interface TradingStateRequest {
  /** `global` or a configured account id. */
  scope: string;
  state: TradingStateValue;
  /** End every open position's LIVE wait with KILL_SWITCH (needs REDUCING or HALTED). */
  flatten: boolean;
  reason: string;
}

/** Result of {@link setTradingState}. */
export interface TradingStateResult {
  auditId: string;
  previous: TradingStateRecord;
  current: TradingStateRecord;
  /** Present when `flatten` was asked. */
  flatten?: ExitOutcome[];
}

/**
 * `POST /trading-state`: sets the kill switch of the global scope or one account (compare-and-set on its
 * version), then — with `flatten` — ends the LIVE wait of every open position in the scope with KILL_SWITCH.
 * Audited as `SET_TRADING_STATE` (with the flatten outcomes).
 */
export async function setTradingState(
  deps: OperationsDeps,
  req: TradingStateRequest,
  actor: Actor,
): Promise<TradingStateResult> {
  const config = await deps.config.getConfig();
  const problems: string[] = [];
  const accountIds = req.scope === 'global' ? [...config.accounts.keys()] : accountsIn(config, req.scope);
  if (req.flatten && req.state === 'ACTIVE')
    problems.push(
      'flatten: needs state REDUCING or HALTED (flattening while ACTIVE would let new entries in)',
    );
  if (problems.length > 0) throw new OperationError('INVALID', problems);
  const scope: TradingScope = req.scope === 'global' ? { global: true } : { accountId: req.scope };
  const auditId = auditIdOf(actor);
  let previous = await deps.store.getTradingState(scope);
  let current: TradingStateRecord | undefined;
  for (let attempt = 0; attempt < 3 && current === undefined; attempt++) {
    try {
      current = await deps.store.setTradingState(scope, {
        value: req.state,
        reason: req.reason,
        updatedBy: actor.id.slice(0, 128),
        expectedVersion: previous.version,
      });
    } catch (e) {
      if (!(e instanceof VersionConflictError)) throw e;
      previous = await deps.store.getTradingState(scope);
    }
  }
  if (current === undefined)
    throw new OperationError('CONFLICT', [`the trading state of ${req.scope} kept changing; retry`]);
  let flatten: ExitOutcome[] | undefined;
  if (req.flatten) {
    flatten = [];
    for (const accountId of accountIds) {
      const open = await deps.store.listOpenTrades({ accountId });
      for (const t of open) {
        if (!LIVE_STATUSES.includes(t.status)) continue;
        try {
          flatten.push(await requestExit(deps, t.tradeId, 'KILL_SWITCH', actor, auditId, req.reason));
        } catch (e) {
          flatten.push({
            tradeId: t.tradeId,
            outcome: 'refused',
            detail: e instanceof Error ? e.message : String(e),
          });
        }
      }
    }
  }
  await audit(deps, actor, auditId, 'SET_TRADING_STATE', req.scope, {
    from: previous.value,
    to: current.value,
    reason: req.reason,
    flatten: req.flatten,
    ...(flatten ? { outcomes: flatten.map((o) => ({ ...o })) } : {}),
  });
  return { auditId, previous, current, ...(flatten ? { flatten } : {}) };
}

/**
 * `POST /config/reload`: reads the configuration again now, bypassing the cache of this instance. An
 * invalid configuration is refused (`UNAVAILABLE`, with every problem) and the previous one stays in force.
 */
export async function reloadConfig(deps: OperationsDeps, actor: Actor): Promise<JsonMap> {
  let config: EngineConfig;
  try {
    config = deps.config.reload ? await deps.config.reload() : await deps.config.getConfig();
  } catch (e) {
    if (e instanceof ConfigUnavailableError) throw new OperationError('UNAVAILABLE', [e.message]);
    throw e;
  }
  const auditId = auditIdOf(actor);
  const accounts = [...config.accounts.keys()];
  await audit(deps, actor, auditId, 'CONFIG_RELOAD', 'config', { accounts });
  return { auditId, reloadedAt: deps.clock.now(), accounts };
}

async function audit(
  deps: OperationsDeps,
  actor: Actor,
  auditId: string,
  action: string,
  target: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const entry: OperatorAuditEntry = {
    auditId,
    at: deps.clock.now(),
    actor: actor.id.slice(0, 512),
    action,
    target,
    detail: toJson(detail) as JsonMap,
  };
  await deps.store.appendAudit(entry);
}
