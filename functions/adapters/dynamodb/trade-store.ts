/**
 * The DynamoDB implementation of the {@link TradeStore} port, built only from single-item conditional
 * writes (no transactions: dynalite has none). The protocol that keeps the audit log and the state in
 * step is described in docs/state-and-queue.md; in short, for a move from version v:
 *   1. read the state and the newest event in one Query (rolling a pending event forward),
 *   2. check the move against the core transition table,
 *   3. put EVENT#(v+1) with attribute_not_exists (an existing event with my commandId is my earlier attempt),
 *   4. update the state to v+1 conditioned on version = v (and on the lease token, when leased).
 * Any reader that finds EVENT#(v+1) next to state v applies it before answering.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  IllegalTransitionError,
  TRADE_STATUSES,
  assertTransition,
  isTerminal,
  isTradeStatus,
} from '../../core/lifecycle.js';
import type { TradeStatus } from '../../core/lifecycle.js';
import type { Clock } from '../../ports/clock.js';
import {
  CorruptItemError,
  IllegalIntentTransitionError,
  InvalidInputError,
  LeaseLostError,
  OrderIntentNotFoundError,
  TradeNotFoundError,
  VersionConflictError,
} from '../../ports/errors.js';
import type {
  AcquireLeaseResult,
  BreakerRecord,
  ClosedTradeEntry,
  ClosedTradesQuery,
  OperatorAuditEntry,
  StoredPerformanceReport,
  WorkerTickRecord,
  BreakerState,
  BreakerUpdate,
  CreateTradeInput,
  JsonMap,
  Lease,
  LeaseResource,
  MilestoneKind,
  OpenTradeSummary,
  OpenTradesQuery,
  OrderIntent,
  OrderIntentStatus,
  PutOrderIntentInput,
  ReconReport,
  RecordEventInput,
  SetTradingStateInput,
  TradeEvent,
  TradeRecord,
  TradeStore,
  TradingScope,
  TradingStateRecord,
  TradingStateValue,
  TransitionInput,
  TransitionResult,
  UpdateOrderIntentInput,
} from '../../ports/trade-store.js';
import { GSI } from '../../resources.js';
import {
  assertEpochMs,
  assertId,
  assertInt,
  assertJsonMap,
  assertText,
  fromAttrMap,
  toAttr,
  toAttrMap,
} from './codec.js';
import {
  AUDIT_PK,
  CONTROL_PK,
  EVENT_PREFIX,
  INTENT_PREFIX,
  LEASE_SK,
  STATE_SK,
  breakerPk,
  eventSk,
  gsi1pk,
  gsi1sk,
  gsi2pk,
  gsi2sk,
  gsi3pk,
  gsi3sk,
  auditSk,
  intentSk,
  leasePk,
  reconPk,
  reconSk,
  reportPk,
  reportSk,
  tradePk,
  tradingStateSk,
  workerSk,
} from './keys.js';

/** The part of a DynamoDB client the store uses (tests wrap `send` to count requests or inject faults). */
export interface DynamoSender {
  send: DynamoDBClient['send'];
}

/** Options of {@link DynamoTradeStore}. */
export interface DynamoTradeStoreOptions {
  client: DynamoSender;
  tableName: string;
  clock: Clock;
  /** How often one write re-reads after losing a race before it gives up (default 8). */
  maxAttempts?: number;
  /**
   * How often one read retries rolling a pending event forward when other writers keep moving the
   * trade (default 50; from the 3rd retry on it waits 1–5 ms of random jitter).
   */
  maxReadAttempts?: number;
}

/** Event type of the first event of every trade. */
export const CREATED_EVENT = 'CREATED';

/** Allowed order intent status changes (anything else throws IllegalIntentTransitionError). */
export const INTENT_TRANSITIONS: Readonly<Record<OrderIntentStatus, readonly OrderIntentStatus[]>> = {
  INTENDED: ['SENT', 'REJECTED'],
  SENT: ['ACKED', 'UNKNOWN', 'REJECTED'],
  UNKNOWN: ['SENT', 'ACKED', 'REJECTED'],
  ACKED: [],
  REJECTED: [],
};
const INTENT_STATUSES = Object.keys(INTENT_TRANSITIONS) as OrderIntentStatus[];
const TRADING_STATE_VALUES: readonly TradingStateValue[] = ['ACTIVE', 'REDUCING', 'HALTED'];
const BREAKER_STATES: readonly BreakerState[] = ['CLOSED', 'OPEN', 'HALF_OPEN'];

type Item = Record<string, AttributeValue>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isConditionFailure(e: unknown): boolean {
  return (
    e instanceof ConditionalCheckFailedException ||
    (e instanceof Error && e.name === 'ConditionalCheckFailedException')
  );
}

/** Typed attribute access that raises CorruptItemError naming the item's key. */
class ItemReader {
  readonly pk: string;
  readonly sk: string;
  constructor(readonly item: Item) {
    this.pk = item.pk?.S ?? '<no pk>';
    this.sk = item.sk?.S ?? '<no sk>';
  }
  fail(reason: string): never {
    throw new CorruptItemError(this.pk, this.sk, reason);
  }
  str(name: string): string {
    const v = this.item[name]?.S;
    if (v === undefined) this.fail(`attribute ${name} is missing or not a string`);
    return v;
  }
  strOrNull(name: string): string | null {
    const a = this.item[name];
    if (a === undefined || a.NULL) return null;
    if (a.S === undefined) this.fail(`attribute ${name} is not a string`);
    return a.S;
  }
  num(name: string): number {
    const v = this.item[name]?.N;
    if (v === undefined) this.fail(`attribute ${name} is missing or not a number`);
    const n = Number(v);
    if (!Number.isFinite(n)) this.fail(`attribute ${name} = ${v} is not a finite number`);
    return n;
  }
  numOrNull(name: string): number | null {
    const a = this.item[name];
    if (a === undefined || a.NULL) return null;
    if (a.N === undefined) this.fail(`attribute ${name} is not a number`);
    return this.num(name);
  }
  map(name: string): JsonMap {
    const m = this.item[name]?.M;
    if (m === undefined) this.fail(`attribute ${name} is missing or not a map`);
    try {
      return fromAttrMap(m, name);
    } catch (e) {
      this.fail((e as Error).message);
    }
  }
  mapOrNull(name: string): JsonMap | null {
    const a = this.item[name];
    if (a === undefined || a.NULL) return null;
    return this.map(name);
  }
  numberMap(name: string): Record<string, number> {
    const m = this.map(name);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'number') this.fail(`${name}.${k} is not a number`);
      out[k] = v;
    }
    return out;
  }
  status(name: string): TradeStatus {
    const s = this.str(name);
    if (!isTradeStatus(s))
      this.fail(`attribute ${name} = ${JSON.stringify(s)} is not one of ${TRADE_STATUSES.join(', ')}`);
    return s;
  }
  oneOf<T extends string>(name: string, allowed: readonly T[]): T {
    const s = this.str(name);
    if (!(allowed as readonly string[]).includes(s)) {
      this.fail(`attribute ${name} = ${JSON.stringify(s)} is not one of ${allowed.join(', ')}`);
    }
    return s as T;
  }
}

function parseTrade(item: Item): TradeRecord {
  const r = new ItemReader(item);
  const tokenAttr = item.leaseToken;
  return {
    tradeId: r.str('tradeId'),
    accountId: r.str('accountId'),
    symbol: r.str('symbol'),
    status: r.status('status'),
    version: r.num('version'),
    createdAt: r.num('createdAt'),
    updatedAt: r.num('updatedAt'),
    data: r.map('data'),
    milestones: r.numberMap('milestones'),
    shadowMilestones: r.numberMap('shadowMilestones'),
    commands: r.numberMap('commands'),
    processedCommands: r.numberMap('processedCommands'),
    lease:
      tokenAttr === undefined
        ? null
        : {
            owner: r.strOrNull('leaseOwner'),
            expiresAt: r.numOrNull('leaseExpiresAt') ?? 0,
            token: r.num('leaseToken'),
          },
  };
}

function parseEvent(item: Item): TradeEvent {
  const r = new ItemReader(item);
  const rawFrom = r.strOrNull('fromStatus');
  const from: TradeStatus | null = rawFrom === null ? null : r.status('fromStatus');
  const ev: TradeEvent = {
    tradeId: r.str('tradeId'),
    accountId: r.str('accountId'),
    symbol: r.str('symbol'),
    version: r.num('version'),
    type: r.str('type'),
    fromStatus: from,
    toStatus: r.status('toStatus'),
    at: r.num('at'),
    commandId: r.strOrNull('commandId'),
    data: r.map('data'),
    leaseToken: r.numOrNull('leaseToken'),
  };
  if (eventSk(ev.version) !== r.sk) r.fail(`version ${ev.version} does not match the sort key`);
  return ev;
}

function eventItem(ev: TradeEvent): Item {
  const item: Item = {
    pk: { S: tradePk(ev.tradeId) },
    sk: { S: eventSk(ev.version) },
    entity: { S: 'EVENT' },
    tradeId: { S: ev.tradeId },
    accountId: { S: ev.accountId },
    symbol: { S: ev.symbol },
    version: { N: String(ev.version) },
    type: { S: ev.type },
    fromStatus: ev.fromStatus === null ? { NULL: true } : { S: ev.fromStatus },
    toStatus: { S: ev.toStatus },
    at: { N: String(ev.at) },
    commandId: ev.commandId === null ? { NULL: true } : { S: ev.commandId },
    data: { M: toAttrMap(ev.data) },
  };
  if (ev.leaseToken !== null) item.leaseToken = { N: String(ev.leaseToken) };
  return item;
}

/** The state item a CREATED event produces. */
function stateItemFromCreated(ev: TradeEvent): Item {
  const commands: Item = {};
  if (ev.commandId !== null) commands[ev.commandId] = { N: '1' };
  return {
    pk: { S: tradePk(ev.tradeId) },
    sk: { S: STATE_SK },
    entity: { S: 'TRADE' },
    tradeId: { S: ev.tradeId },
    accountId: { S: ev.accountId },
    symbol: { S: ev.symbol },
    status: { S: ev.toStatus },
    version: { N: '1' },
    createdAt: { N: String(ev.at) },
    updatedAt: { N: String(ev.at) },
    data: { M: toAttrMap(ev.data) },
    milestones: { M: {} },
    shadowMilestones: { M: {} },
    commands: { M: commands },
    processedCommands: { M: {} },
    gsi1pk: { S: gsi1pk(ev.accountId) },
    gsi1sk: { S: gsi1sk(ev.toStatus, ev.symbol, ev.tradeId) },
    gsi2pk: { S: gsi2pk(ev.symbol) },
    gsi2sk: { S: gsi2sk(ev.accountId, ev.tradeId) },
  };
}

function scopeKey(scope: TradingScope): { sk: string; accountId: string | null } {
  if ('global' in scope) {
    if (scope.global !== true) throw new InvalidInputError('scope', 'global scope must be { global: true }');
    return { sk: tradingStateSk(null), accountId: null };
  }
  assertId(scope.accountId, 'scope.accountId');
  return { sk: tradingStateSk(scope.accountId), accountId: scope.accountId };
}

function assertBreakerScope(scope: unknown): asserts scope is string {
  if (typeof scope === 'string' && scope.startsWith('POSITION#')) {
    assertId(scope.slice('POSITION#'.length), 'breaker scope trade id');
    return;
  }
  assertId(scope, 'breaker scope');
}

function assertLeaseResource(resource: LeaseResource): void {
  if ('tradeId' in resource) assertId(resource.tradeId, 'lease resource tradeId');
  else {
    assertText(resource.name, 'lease resource name', 200);
    if (!/^[\x21-\x7e]+$/.test(resource.name)) {
      throw new InvalidInputError('lease resource name', 'may contain only printable ASCII without spaces');
    }
  }
}

function describeResource(resource: LeaseResource): string {
  return 'tradeId' in resource ? tradePk(resource.tradeId) : leasePk(resource.name);
}

interface Resolved {
  state: TradeRecord;
  /** EVENT#(version+1) written under a lease token the trade no longer holds: it can never be applied. */
  deadEvent: TradeEvent | null;
}

/** DynamoDB trade store (see the module comment for the protocol). */
export class DynamoTradeStore implements TradeStore {
  private readonly db: DynamoSender;
  private readonly table: string;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly maxReadAttempts: number;

  constructor(opts: DynamoTradeStoreOptions) {
    this.db = opts.client;
    this.table = opts.tableName;
    this.clock = opts.clock;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.maxReadAttempts = opts.maxReadAttempts ?? 50;
  }

  // ---------------------------------------------------------------- trades and the audit log

  async createTrade(input: CreateTradeInput): Promise<{ trade: TradeRecord; created: boolean }> {
    assertId(input.tradeId, 'tradeId');
    assertId(input.accountId, 'accountId');
    assertId(input.symbol, 'symbol', 64);
    assertJsonMap(input.data, 'data');
    assertEpochMs(input.at, 'at');
    const commandId = input.commandId ?? `create:${input.tradeId}`;
    assertText(commandId, 'commandId', 200);
    const ev: TradeEvent = {
      tradeId: input.tradeId,
      accountId: input.accountId,
      symbol: input.symbol,
      version: 1,
      type: CREATED_EVENT,
      fromStatus: null,
      toStatus: 'PENDING',
      at: input.at,
      commandId,
      data: input.data,
      leaseToken: null,
    };
    // Step 1: the CREATED event, first.
    let stored: TradeEvent = ev;
    if (!(await this.putIfAbsent(eventItem(ev)))) {
      const existing = await this.getEvent(input.tradeId, 1);
      if (existing === null)
        throw new CorruptItemError(tradePk(input.tradeId), eventSk(1), 'vanished after a write');
      stored = existing;
    }
    // Step 2: the state item, from the stored event (a retry after a crash completes the create).
    const item = stateItemFromCreated(stored);
    if (await this.putIfAbsent(item)) {
      return { trade: parseTrade(item), created: stored.commandId === commandId };
    }
    const resolved = await this.resolve(input.tradeId);
    if (resolved === null) throw new TradeNotFoundError(input.tradeId);
    return { trade: resolved.state, created: false };
  }

  async getTrade(tradeId: string): Promise<TradeRecord | null> {
    assertId(tradeId, 'tradeId');
    return (await this.resolve(tradeId))?.state ?? null;
  }

  transition(tradeId: string, input: TransitionInput): Promise<TransitionResult> {
    if (!isTradeStatus(input.to))
      throw new InvalidInputError('to', `${JSON.stringify(input.to)} is not a trade status`);
    return this.writeEvent(tradeId, input, input.to);
  }

  recordEvent(tradeId: string, input: RecordEventInput): Promise<TransitionResult> {
    return this.writeEvent(tradeId, input, null);
  }

  async listEvents(tradeId: string): Promise<TradeEvent[]> {
    assertId(tradeId, 'tradeId');
    const resolved = await this.resolve(tradeId);
    if (resolved === null) return [];
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': { S: tradePk(tradeId) }, ':p': { S: EVENT_PREFIX } },
      ConsistentRead: true,
    });
    const events = items.map(parseEvent).filter((e) => e.version <= resolved.state.version);
    events.forEach((e, i) => {
      if (e.version !== i + 1) {
        throw new CorruptItemError(
          tradePk(tradeId),
          eventSk(i + 1),
          `audit log has a gap: found version ${e.version}`,
        );
      }
    });
    if (events.length !== resolved.state.version) {
      throw new CorruptItemError(
        tradePk(tradeId),
        STATE_SK,
        `state version ${resolved.state.version} but ${events.length} events`,
      );
    }
    return events;
  }

  async listOpenTrades(query: OpenTradesQuery): Promise<OpenTradeSummary[]> {
    let items: Item[];
    if ('accountId' in query) {
      assertId(query.accountId, 'accountId');
      const values: Item = { ':pk': { S: gsi1pk(query.accountId) } };
      let cond = 'gsi1pk = :pk';
      if (query.status !== undefined) {
        if (!isTradeStatus(query.status))
          throw new InvalidInputError('status', `${String(query.status)} is not a status`);
        cond += ' AND begins_with(gsi1sk, :s)';
        values[':s'] = { S: `${query.status}#` };
      }
      items = await this.queryAll({
        IndexName: GSI.byAccount,
        KeyConditionExpression: cond,
        ExpressionAttributeValues: values,
      });
    } else {
      assertId(query.symbol, 'symbol', 64);
      items = await this.queryAll({
        IndexName: GSI.bySymbol,
        KeyConditionExpression: 'gsi2pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: gsi2pk(query.symbol) } },
      });
    }
    return items.map((item) => {
      const r = new ItemReader(item);
      const status = r.status('status');
      if (isTerminal(status)) r.fail(`terminal status ${status} still carries index attributes`);
      return {
        tradeId: r.str('tradeId'),
        accountId: r.str('accountId'),
        symbol: r.str('symbol'),
        status,
        version: r.num('version'),
      };
    });
  }

  async recordMilestone(
    tradeId: string,
    kind: MilestoneKind,
    threshold: number,
    seconds: number,
  ): Promise<{ recorded: boolean; seconds: number }> {
    assertId(tradeId, 'tradeId');
    if (kind !== 'live' && kind !== 'shadow')
      throw new InvalidInputError('kind', `expected live or shadow, got ${String(kind)}`);
    if (
      typeof threshold !== 'number' ||
      !Number.isFinite(threshold) ||
      threshold <= 0 ||
      threshold > 100_000
    ) {
      throw new InvalidInputError(
        'threshold',
        `expected a positive finite percentage, got ${String(threshold)}`,
      );
    }
    assertInt(seconds, 'seconds', 0);
    const attr = kind === 'live' ? 'milestones' : 'shadowMilestones';
    const key = String(threshold);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: { pk: { S: tradePk(tradeId) }, sk: { S: STATE_SK } },
            UpdateExpression: 'SET #m.#t = :s',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#m.#t)',
            ExpressionAttributeNames: { '#m': attr, '#t': key },
            ExpressionAttributeValues: { ':s': { N: String(seconds) } },
          }),
        );
        return { recorded: true, seconds };
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
      const trade = await this.getTrade(tradeId); // materializes a pending create
      if (trade === null) throw new TradeNotFoundError(tradeId);
      const existing = (kind === 'live' ? trade.milestones : trade.shadowMilestones)[key];
      if (existing !== undefined) return { recorded: false, seconds: existing };
    }
    throw new CorruptItemError(
      tradePk(tradeId),
      STATE_SK,
      `milestone ${key} could be neither written nor read`,
    );
  }

  async markCommandProcessed(
    tradeId: string,
    commandId: string,
    opts: { at: number; leaseToken?: number },
  ): Promise<{ marked: boolean }> {
    assertId(tradeId, 'tradeId');
    assertText(commandId, 'commandId', 200);
    assertEpochMs(opts.at, 'at');
    if (opts.leaseToken !== undefined) assertInt(opts.leaseToken, 'leaseToken', 1);
    const values: Item = { ':at': { N: String(opts.at) } };
    let cond = 'attribute_exists(pk) AND attribute_not_exists(processedCommands.#c)';
    if (opts.leaseToken !== undefined) {
      cond += ' AND leaseToken = :lt';
      values[':lt'] = { N: String(opts.leaseToken) };
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: tradePk(tradeId) }, sk: { S: STATE_SK } },
          UpdateExpression: 'SET processedCommands.#c = :at',
          ConditionExpression: cond,
          ExpressionAttributeNames: { '#c': commandId },
          ExpressionAttributeValues: values,
        }),
      );
      return { marked: true };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
    const trade = await this.getTrade(tradeId);
    if (trade === null) throw new TradeNotFoundError(tradeId);
    if (trade.processedCommands[commandId] !== undefined) return { marked: false };
    if (opts.leaseToken !== undefined && trade.lease?.token !== opts.leaseToken) {
      throw new LeaseLostError(tradePk(tradeId), opts.leaseToken, trade.lease?.token);
    }
    return this.markCommandProcessed(tradeId, commandId, opts);
  }

  // ---------------------------------------------------------------- the event protocol

  /** Reads the state and the newest event in one Query; rolls a pending event (or a pending create) forward. */
  private async resolve(tradeId: string): Promise<Resolved | null> {
    for (let attempt = 0; attempt < this.maxReadAttempts; attempt++) {
      if (attempt >= 3) await sleep(1 + Math.random() * 4);
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':pk': { S: tradePk(tradeId) },
            ':lo': { S: EVENT_PREFIX },
            ':hi': { S: STATE_SK },
          },
          ScanIndexForward: false,
          Limit: 2,
          ConsistentRead: true,
        }),
      );
      const items = res.Items ?? [];
      const stateItem = items[0]?.sk?.S === STATE_SK ? items[0] : undefined;
      const headItem = stateItem ? items[1] : items[0];
      const head = headItem ? parseEvent(headItem) : null;
      if (!stateItem) {
        if (head === null) return null;
        if (head.version !== 1 || head.type !== CREATED_EVENT) {
          throw new CorruptItemError(
            tradePk(tradeId),
            eventSk(head.version),
            'events exist but the state item does not',
          );
        }
        await this.putIfAbsent(stateItemFromCreated(head)); // roll the create forward; a lost race is fine
        continue;
      }
      const state = parseTrade(stateItem);
      if (head === null)
        throw new CorruptItemError(tradePk(tradeId), STATE_SK, 'state item without any audit event');
      if (head.version === state.version) return { state, deadEvent: null };
      if (head.version !== state.version + 1) {
        throw new CorruptItemError(
          tradePk(tradeId),
          STATE_SK,
          `state version ${state.version} but the newest event is version ${head.version}`,
        );
      }
      if (head.leaseToken !== null && state.lease?.token !== head.leaseToken) {
        return { state, deadEvent: head }; // written under a lease that has since moved on: never applied
      }
      const applied = await this.applyEvent(state, head);
      if (applied !== null) return { state: applied, deadEvent: null };
    }
    throw new VersionConflictError(tradePk(tradeId), -1, undefined);
  }

  /** Step 4: moves the state item to the event's version, conditioned on the previous version (and lease token). */
  private async applyEvent(state: TradeRecord, ev: TradeEvent): Promise<TradeRecord | null> {
    const names: Record<string, string> = { '#status': 'status', '#version': 'version' };
    const values: Item = {
      ':to': { S: ev.toStatus },
      ':v': { N: String(ev.version - 1) },
      ':v1': { N: String(ev.version) },
      ':at': { N: String(ev.at) },
    };
    const sets = ['#status = :to', '#version = :v1', 'updatedAt = :at'];
    const removes: string[] = [];
    if (ev.commandId !== null) {
      names['#cmd'] = ev.commandId;
      sets.push('commands.#cmd = :v1');
    }
    Object.entries(ev.data).forEach(([k, v], i) => {
      names['#data'] = 'data';
      names[`#p${i}`] = k;
      values[`:p${i}`] = toAttr(v);
      sets.push(`#data.#p${i} = :p${i}`);
    });
    if (isTerminal(ev.toStatus)) {
      removes.push('gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk');
    } else {
      values[':g1pk'] = { S: gsi1pk(state.accountId) };
      values[':g1sk'] = { S: gsi1sk(ev.toStatus, state.symbol, state.tradeId) };
      values[':g2pk'] = { S: gsi2pk(state.symbol) };
      values[':g2sk'] = { S: gsi2sk(state.accountId, state.tradeId) };
      sets.push('gsi1pk = :g1pk', 'gsi1sk = :g1sk', 'gsi2pk = :g2pk', 'gsi2sk = :g2sk');
    }
    if (ev.toStatus === 'CLOSED' && ev.fromStatus !== 'CLOSED') {
      // byClosedAt: set once by the move into CLOSED and kept through FINALIZED (never removed).
      values[':g3pk'] = { S: gsi3pk(state.accountId) };
      values[':g3sk'] = { S: gsi3sk(ev.at, state.tradeId) };
      sets.push('gsi3pk = :g3pk', 'gsi3sk = :g3sk');
    }
    let cond = '#version = :v';
    if (ev.leaseToken !== null) {
      cond += ' AND leaseToken = :lt';
      values[':lt'] = { N: String(ev.leaseToken) };
    }
    try {
      const res = await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { pk: { S: tradePk(state.tradeId) }, sk: { S: STATE_SK } },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: cond,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!res.Attributes)
        throw new CorruptItemError(tradePk(state.tradeId), STATE_SK, 'update returned no item');
      return parseTrade(res.Attributes);
    } catch (e) {
      if (isConditionFailure(e)) return null;
      throw e;
    }
  }

  private async writeEvent(
    tradeId: string,
    input: RecordEventInput,
    to: TradeStatus | null,
  ): Promise<TransitionResult> {
    assertId(tradeId, 'tradeId');
    assertInt(input.expectedVersion, 'expectedVersion', 1);
    assertText(input.type, 'type', 64);
    if (input.type === CREATED_EVENT)
      throw new InvalidInputError('type', 'CREATED is reserved for createTrade');
    const patch = input.patch ?? {};
    assertJsonMap(patch, 'patch');
    if (Object.keys(patch).length > 100) throw new InvalidInputError('patch', 'more than 100 top-level keys');
    assertEpochMs(input.at, 'at');
    assertText(input.commandId, 'commandId', 200);
    if (input.leaseToken !== undefined) assertInt(input.leaseToken, 'leaseToken', 1);
    const leaseToken = input.leaseToken ?? null;

    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      // (1) read, rolling forward whatever is pending
      const resolved = await this.resolve(tradeId);
      if (resolved === null) throw new TradeNotFoundError(tradeId);
      const { state, deadEvent } = resolved;
      if (state.commands[input.commandId] !== undefined) return { trade: state, applied: false };
      if (state.version !== input.expectedVersion) {
        throw new VersionConflictError(tradePk(tradeId), input.expectedVersion, state.version);
      }
      if (leaseToken !== null && state.lease?.token !== leaseToken) {
        throw new LeaseLostError(tradePk(tradeId), leaseToken, state.lease?.token);
      }
      // (2) the core's transition table decides
      const target = to ?? state.status;
      if (to !== null) assertTransition(state.status, to);
      else if (isTerminal(state.status)) {
        throw new IllegalTransitionError(
          state.status,
          state.status,
          `trade is ${state.status} (terminal); no further events`,
        );
      }
      // (3) the event, before the state moves
      const ev: TradeEvent = {
        tradeId,
        accountId: state.accountId,
        symbol: state.symbol,
        version: state.version + 1,
        type: input.type,
        fromStatus: state.status,
        toStatus: target,
        at: input.at,
        commandId: input.commandId,
        data: patch,
        leaseToken,
      };
      let toApply: TradeEvent = ev;
      const wrote =
        deadEvent === null
          ? await this.putIfAbsent(eventItem(ev))
          : await this.replaceDeadEvent(eventItem(ev), deadEvent);
      if (!wrote) {
        const existing = await this.getEvent(tradeId, ev.version);
        if (
          existing === null ||
          existing.commandId !== input.commandId ||
          existing.leaseToken !== leaseToken
        ) {
          continue; // another writer claimed v+1: re-read (a version conflict or a dead event to replace)
        }
        toApply = existing; // my own earlier attempt
      }
      // (4) the state, conditioned on the version read (and the lease token)
      const applied = await this.applyEvent(state, toApply);
      if (applied !== null) return { trade: applied, applied: true };
      const after = await this.resolve(tradeId);
      if (after === null) throw new TradeNotFoundError(tradeId);
      if (after.state.commands[input.commandId] === ev.version) return { trade: after.state, applied: true };
      if (leaseToken !== null && after.state.lease?.token !== leaseToken) {
        throw new LeaseLostError(tradePk(tradeId), leaseToken, after.state.lease?.token);
      }
    }
    throw new VersionConflictError(tradePk(tradeId), input.expectedVersion, undefined);
  }

  private async replaceDeadEvent(item: Item, dead: TradeEvent): Promise<boolean> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'leaseToken = :dead',
          ExpressionAttributeValues: { ':dead': { N: String(dead.leaseToken) } },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  private async getEvent(tradeId: string, version: number): Promise<TradeEvent | null> {
    const item = await this.getItem(tradePk(tradeId), eventSk(version));
    return item ? parseEvent(item) : null;
  }

  // ---------------------------------------------------------------- order intents

  async putOrderIntent(input: PutOrderIntentInput): Promise<{ intent: OrderIntent; created: boolean }> {
    assertId(input.tradeId, 'tradeId');
    assertId(input.clientOrderId, 'clientOrderId', 64);
    assertId(input.purpose, 'purpose', 32);
    assertJsonMap(input.request, 'request');
    assertEpochMs(input.at, 'at');
    const intent: OrderIntent = {
      tradeId: input.tradeId,
      clientOrderId: input.clientOrderId,
      purpose: input.purpose,
      status: 'INTENDED',
      request: input.request,
      exchangeOrderId: null,
      outcome: null,
      createdAt: input.at,
      updatedAt: input.at,
    };
    const item: Item = {
      pk: { S: tradePk(input.tradeId) },
      sk: { S: intentSk(input.clientOrderId) },
      entity: { S: 'INTENT' },
      tradeId: { S: input.tradeId },
      clientOrderId: { S: input.clientOrderId },
      purpose: { S: input.purpose },
      status: { S: 'INTENDED' },
      request: { M: toAttrMap(input.request) },
      exchangeOrderId: { NULL: true },
      outcome: { NULL: true },
      createdAt: { N: String(input.at) },
      updatedAt: { N: String(input.at) },
      version: { N: '1' },
    };
    if (await this.putIfAbsent(item)) return { intent, created: true };
    const existing = await this.getOrderIntent(input.tradeId, input.clientOrderId);
    if (existing === null) throw new CorruptItemError(item.pk!.S!, item.sk!.S!, 'vanished after a write');
    return { intent: existing, created: false };
  }

  async updateOrderIntent(
    tradeId: string,
    clientOrderId: string,
    input: UpdateOrderIntentInput,
  ): Promise<OrderIntent> {
    assertId(tradeId, 'tradeId');
    assertId(clientOrderId, 'clientOrderId', 64);
    if (!INTENT_STATUSES.includes(input.to)) {
      throw new InvalidInputError(
        'to',
        `${JSON.stringify(input.to)} is not one of ${INTENT_STATUSES.join(', ')}`,
      );
    }
    if (input.exchangeOrderId !== undefined) assertText(input.exchangeOrderId, 'exchangeOrderId', 128);
    if (input.outcome !== undefined) assertJsonMap(input.outcome, 'outcome');
    assertEpochMs(input.at, 'at');
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const item = await this.getItem(tradePk(tradeId), intentSk(clientOrderId));
      if (item === null) throw new OrderIntentNotFoundError(tradeId, clientOrderId);
      const current = parseIntent(item);
      const version = new ItemReader(item).num('version');
      if (
        current.status === input.to &&
        (input.exchangeOrderId === undefined || input.exchangeOrderId === current.exchangeOrderId)
      ) {
        return current; // the same update again
      }
      if (!INTENT_TRANSITIONS[current.status].includes(input.to)) {
        throw new IllegalIntentTransitionError(clientOrderId, current.status, input.to);
      }
      const values: Item = {
        ':to': { S: input.to },
        ':at': { N: String(input.at) },
        ':v': { N: String(version) },
        ':v1': { N: String(version + 1) },
      };
      const sets = ['#status = :to', 'updatedAt = :at', '#version = :v1'];
      if (input.exchangeOrderId !== undefined) {
        values[':oid'] = { S: input.exchangeOrderId };
        sets.push('exchangeOrderId = :oid');
      }
      if (input.outcome !== undefined) {
        values[':out'] = { M: toAttrMap(input.outcome) };
        sets.push('outcome = :out');
      }
      try {
        const res = await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: { pk: { S: tradePk(tradeId) }, sk: { S: intentSk(clientOrderId) } },
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        if (!res.Attributes)
          throw new CorruptItemError(tradePk(tradeId), intentSk(clientOrderId), 'no item returned');
        return parseIntent(res.Attributes);
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
    }
    throw new VersionConflictError(`${tradePk(tradeId)}/${intentSk(clientOrderId)}`, -1, undefined);
  }

  async getOrderIntent(tradeId: string, clientOrderId: string): Promise<OrderIntent | null> {
    assertId(tradeId, 'tradeId');
    assertId(clientOrderId, 'clientOrderId', 64);
    const item = await this.getItem(tradePk(tradeId), intentSk(clientOrderId));
    return item ? parseIntent(item) : null;
  }

  async listOrderIntents(tradeId: string): Promise<OrderIntent[]> {
    assertId(tradeId, 'tradeId');
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': { S: tradePk(tradeId) }, ':p': { S: INTENT_PREFIX } },
      ConsistentRead: true,
    });
    return items.map(parseIntent);
  }

  // ---------------------------------------------------------------- trading state (kill switch)

  async getTradingState(scope: TradingScope): Promise<TradingStateRecord> {
    const { sk } = scopeKey(scope);
    const item = await this.getItem(CONTROL_PK, sk);
    if (item === null) {
      return {
        scope,
        value: 'ACTIVE',
        version: 0,
        reason: 'no trading state recorded',
        updatedBy: 'default',
        updatedAt: 0,
      };
    }
    const r = new ItemReader(item);
    return {
      scope,
      value: r.oneOf('value', TRADING_STATE_VALUES),
      version: r.num('version'),
      reason: r.str('reason'),
      updatedBy: r.str('updatedBy'),
      updatedAt: r.num('updatedAt'),
    };
  }

  async setTradingState(scope: TradingScope, input: SetTradingStateInput): Promise<TradingStateRecord> {
    const { sk } = scopeKey(scope);
    if (!TRADING_STATE_VALUES.includes(input.value)) {
      throw new InvalidInputError(
        'value',
        `${JSON.stringify(input.value)} is not one of ${TRADING_STATE_VALUES.join(', ')}`,
      );
    }
    assertText(input.reason, 'reason', 1000);
    assertText(input.updatedBy, 'updatedBy', 128);
    assertInt(input.expectedVersion, 'expectedVersion', 0);
    const record: TradingStateRecord = {
      scope,
      value: input.value,
      version: input.expectedVersion + 1,
      reason: input.reason,
      updatedBy: input.updatedBy,
      updatedAt: this.clock.now(),
    };
    const item: Item = {
      pk: { S: CONTROL_PK },
      sk: { S: sk },
      entity: { S: 'TRADING_STATE' },
      value: { S: record.value },
      version: { N: String(record.version) },
      reason: { S: record.reason },
      updatedBy: { S: record.updatedBy },
      updatedAt: { N: String(record.updatedAt) },
    };
    if (await this.putVersioned(item, input.expectedVersion)) return record;
    const current = await this.getTradingState(scope);
    throw new VersionConflictError(`${CONTROL_PK}/${sk}`, input.expectedVersion, current.version);
  }

  // ---------------------------------------------------------------- circuit breakers

  async getBreaker(scope: string): Promise<BreakerRecord> {
    assertBreakerScope(scope);
    const item = await this.getItem(breakerPk(scope), STATE_SK);
    if (item === null) return { scope, state: 'CLOSED', failures: 0, openedAt: null, version: 0 };
    const r = new ItemReader(item);
    return {
      scope,
      state: r.oneOf('state', BREAKER_STATES),
      failures: r.num('failures'),
      openedAt: r.numOrNull('openedAt'),
      version: r.num('version'),
    };
  }

  async compareAndSetBreaker(
    scope: string,
    expectedVersion: number,
    next: BreakerUpdate,
  ): Promise<{ ok: true; breaker: BreakerRecord } | { ok: false; current: BreakerRecord }> {
    assertBreakerScope(scope);
    assertInt(expectedVersion, 'expectedVersion', 0);
    if (!BREAKER_STATES.includes(next.state)) {
      throw new InvalidInputError(
        'state',
        `${JSON.stringify(next.state)} is not one of ${BREAKER_STATES.join(', ')}`,
      );
    }
    assertInt(next.failures, 'failures', 0);
    if (next.openedAt !== null) assertEpochMs(next.openedAt, 'openedAt');
    const breaker: BreakerRecord = { scope, ...next, version: expectedVersion + 1 };
    const item: Item = {
      pk: { S: breakerPk(scope) },
      sk: { S: STATE_SK },
      entity: { S: 'BREAKER' },
      state: { S: next.state },
      failures: { N: String(next.failures) },
      openedAt: next.openedAt === null ? { NULL: true } : { N: String(next.openedAt) },
      version: { N: String(breaker.version) },
    };
    if (await this.putVersioned(item, expectedVersion)) return { ok: true, breaker };
    return { ok: false, current: await this.getBreaker(scope) };
  }

  // ---------------------------------------------------------------- leases

  async acquireLease(resource: LeaseResource, owner: string, ttlMs: number): Promise<AcquireLeaseResult> {
    assertLeaseResource(resource);
    assertId(owner, 'owner', 200);
    assertInt(ttlMs, 'ttlMs', 1);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const now = this.clock.now();
      const trade = 'tradeId' in resource;
      const [o, e, t] = trade
        ? ['leaseOwner', 'leaseExpiresAt', 'leaseToken']
        : ['owner', 'expiresAt', 'token'];
      const key: Item = trade
        ? { pk: { S: tradePk(resource.tradeId) }, sk: { S: STATE_SK } }
        : { pk: { S: leasePk(resource.name) }, sk: { S: LEASE_SK } };
      const exists = trade ? 'attribute_exists(pk) AND ' : 'attribute_not_exists(pk) OR ';
      const free = `(attribute_not_exists(#o) OR #e < :now OR #o = :me)`;
      try {
        const res = await this.db.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: `SET #o = :me, #e = :exp, #t = if_not_exists(#t, :zero) + :one${trade ? '' : ', entity = :entity'}`,
            ConditionExpression: `${exists}${free}`,
            ExpressionAttributeNames: { '#o': o, '#e': e, '#t': t },
            ExpressionAttributeValues: {
              ':me': { S: owner },
              ':exp': { N: String(now + ttlMs) },
              ':now': { N: String(now) },
              ':zero': { N: '0' },
              ':one': { N: '1' },
              ...(trade ? {} : { ':entity': { S: 'LEASE' } }),
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        const r = new ItemReader(res.Attributes ?? {});
        return { acquired: true, lease: { resource, owner, token: r.num(t), expiresAt: r.num(e) } };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      if (trade) {
        const item = await this.getItem(tradePk(resource.tradeId), STATE_SK);
        if (item === null) {
          if ((await this.getTrade(resource.tradeId)) === null)
            throw new TradeNotFoundError(resource.tradeId);
          continue; // the create was pending and is now complete
        }
        const r = new ItemReader(item);
        const holder = r.strOrNull('leaseOwner');
        const expiresAt = r.numOrNull('leaseExpiresAt') ?? 0;
        if (holder !== null && expiresAt >= this.clock.now()) return { acquired: false, holder, expiresAt };
      } else {
        const item = await this.getItem(leasePk(resource.name), LEASE_SK);
        if (item !== null) {
          const r = new ItemReader(item);
          const holder = r.strOrNull('owner');
          const expiresAt = r.numOrNull('expiresAt') ?? 0;
          if (holder !== null && expiresAt >= this.clock.now()) return { acquired: false, holder, expiresAt };
        }
      }
    }
    throw new VersionConflictError(describeResource(resource), -1, undefined);
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<Lease> {
    assertLeaseResource(lease.resource);
    assertInt(ttlMs, 'ttlMs', 1);
    const expiresAt = this.clock.now() + ttlMs;
    const ok = await this.updateLease(lease, 'SET #e = :exp', { ':exp': { N: String(expiresAt) } });
    if (!ok)
      throw new LeaseLostError(describeResource(lease.resource), lease.token, await this.currentToken(lease));
    return { ...lease, expiresAt };
  }

  async releaseLease(lease: Lease): Promise<{ released: boolean }> {
    assertLeaseResource(lease.resource);
    return { released: await this.updateLease(lease, 'SET #e = :zero REMOVE #o', { ':zero': { N: '0' } }) };
  }

  private async updateLease(lease: Lease, update: string, values: Item): Promise<boolean> {
    const trade = 'tradeId' in lease.resource;
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key:
            'tradeId' in lease.resource
              ? { pk: { S: tradePk(lease.resource.tradeId) }, sk: { S: STATE_SK } }
              : { pk: { S: leasePk(lease.resource.name) }, sk: { S: LEASE_SK } },
          UpdateExpression: update,
          ConditionExpression: '#o = :me AND #t = :tok',
          ExpressionAttributeNames: trade
            ? { '#o': 'leaseOwner', '#e': 'leaseExpiresAt', '#t': 'leaseToken' }
            : { '#o': 'owner', '#e': 'expiresAt', '#t': 'token' },
          ExpressionAttributeValues: {
            ...values,
            ':me': { S: lease.owner },
            ':tok': { N: String(lease.token) },
          },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  private async currentToken(lease: Lease): Promise<number | undefined> {
    const item =
      'tradeId' in lease.resource
        ? await this.getItem(tradePk(lease.resource.tradeId), STATE_SK)
        : await this.getItem(leasePk(lease.resource.name), LEASE_SK);
    if (item === null) return undefined;
    return new ItemReader(item).numOrNull('tradeId' in lease.resource ? 'leaseToken' : 'token') ?? undefined;
  }

  // ---------------------------------------------------------------- reconciliation reports

  async putReconReport(report: ReconReport): Promise<{ created: boolean }> {
    return this.putAccountReport(
      'RECON',
      report,
      reconPk(report.accountId),
      reconSk(report.at, report.runId),
    );
  }

  async listReconReports(
    accountId: string,
    opts: { limit?: number; sinceAt?: number } = {},
  ): Promise<ReconReport[]> {
    assertId(accountId, 'accountId');
    return this.listAccountReports(reconPk(accountId), opts.limit ?? 50, opts.sinceAt);
  }

  // ---------------------------------------------------------------- closed trades (analytics)

  async listClosedTrades(query: ClosedTradesQuery): Promise<ClosedTradeEntry[]> {
    assertId(query.accountId, 'accountId');
    const values: Item = { ':pk': { S: gsi3pk(query.accountId) } };
    const lo = query.fromAt;
    const hi = query.toAt;
    if (lo !== undefined) assertEpochMs(lo, 'fromAt');
    if (hi !== undefined) assertEpochMs(hi, 'toAt');
    if (lo !== undefined && hi !== undefined && lo > hi)
      throw new InvalidInputError('fromAt', `fromAt ${lo} is after toAt ${hi}`);
    if (query.limit !== undefined) assertInt(query.limit, 'limit', 1);
    // ISO times are fixed width, so string order is time order; '~' sorts after every id character.
    values[':lo'] = { S: lo === undefined ? '0000' : new Date(lo).toISOString() };
    values[':hi'] = { S: `${hi === undefined ? '9999' : new Date(hi).toISOString()}~` };
    const items = await this.queryAll(
      {
        IndexName: GSI.byClosedAt,
        KeyConditionExpression: 'gsi3pk = :pk AND gsi3sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: values,
        ScanIndexForward: query.newestFirst !== true,
      },
      query.limit,
    );
    return items.map((item) => {
      const r = new ItemReader(item);
      const sk = r.str('gsi3sk');
      const closedAt = Date.parse(sk.slice(0, sk.indexOf('#')));
      if (!Number.isFinite(closedAt)) r.fail(`gsi3sk ${JSON.stringify(sk)} does not start with an ISO time`);
      return { trade: parseTrade(item), closedAt };
    });
  }

  // ---------------------------------------------------------------- worker ticks

  async recordWorkerTick(tick: WorkerTickRecord): Promise<{ recorded: boolean }> {
    assertId(tick.worker, 'worker', 64);
    assertEpochMs(tick.lastTickAt, 'lastTickAt');
    assertEpochMs(tick.startedAt, 'startedAt');
    assertInt(tick.ticks, 'ticks', 0);
    assertInt(tick.durationMs, 'durationMs', 0);
    assertJsonMap(tick.detail, 'detail');
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            pk: { S: CONTROL_PK },
            sk: { S: workerSk(tick.worker) },
            entity: { S: 'WORKER_TICK' },
            worker: { S: tick.worker },
            lastTickAt: { N: String(tick.lastTickAt) },
            startedAt: { N: String(tick.startedAt) },
            ticks: { N: String(tick.ticks) },
            durationMs: { N: String(tick.durationMs) },
            detail: { M: toAttrMap(tick.detail) },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR lastTickAt <= :at',
          ExpressionAttributeValues: { ':at': { N: String(tick.lastTickAt) } },
        }),
      );
      return { recorded: true };
    } catch (e) {
      if (isConditionFailure(e)) return { recorded: false };
      throw e;
    }
  }

  async listWorkerTicks(): Promise<WorkerTickRecord[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': { S: CONTROL_PK }, ':p': { S: workerSk('') } },
      ConsistentRead: true,
    });
    return items.map((item) => {
      const r = new ItemReader(item);
      return {
        worker: r.str('worker'),
        lastTickAt: r.num('lastTickAt'),
        startedAt: r.num('startedAt'),
        ticks: r.num('ticks'),
        durationMs: r.num('durationMs'),
        detail: r.map('detail'),
      };
    });
  }

  // ---------------------------------------------------------------- operator audit log

  async appendAudit(entry: OperatorAuditEntry): Promise<{ created: boolean }> {
    assertId(entry.auditId, 'auditId');
    assertEpochMs(entry.at, 'at');
    assertText(entry.actor, 'actor', 512);
    assertText(entry.action, 'action', 64);
    assertText(entry.target, 'target', 256);
    assertJsonMap(entry.detail, 'detail');
    return {
      created: await this.putIfAbsent({
        pk: { S: AUDIT_PK },
        sk: { S: auditSk(entry.at, entry.auditId) },
        entity: { S: 'AUDIT' },
        auditId: { S: entry.auditId },
        at: { N: String(entry.at) },
        actor: { S: entry.actor },
        action: { S: entry.action },
        target: { S: entry.target },
        detail: { M: toAttrMap(entry.detail) },
      }),
    };
  }

  async listAudit(opts: { limit?: number; sinceAt?: number } = {}): Promise<OperatorAuditEntry[]> {
    const limit = opts.limit ?? 100;
    assertInt(limit, 'limit', 1);
    const values: Item = { ':pk': { S: AUDIT_PK } };
    let cond = 'pk = :pk';
    if (opts.sinceAt !== undefined) {
      assertEpochMs(opts.sinceAt, 'sinceAt');
      cond += ' AND sk >= :since';
      values[':since'] = { S: new Date(opts.sinceAt).toISOString() };
    }
    const items = await this.queryAll(
      { KeyConditionExpression: cond, ExpressionAttributeValues: values, ScanIndexForward: false },
      limit,
    );
    return items.map((item) => {
      const r = new ItemReader(item);
      return {
        auditId: r.str('auditId'),
        at: r.num('at'),
        actor: r.str('actor'),
        action: r.str('action'),
        target: r.str('target'),
        detail: r.map('detail'),
      };
    });
  }

  // ---------------------------------------------------------------- performance reports

  async putPerformanceReport(report: StoredPerformanceReport): Promise<{ created: boolean }> {
    return this.putAccountReport(
      'REPORT',
      report,
      reportPk(report.accountId),
      reportSk(report.at, report.runId),
    );
  }

  async listPerformanceReports(
    accountId: string,
    opts: { limit?: number } = {},
  ): Promise<StoredPerformanceReport[]> {
    assertId(accountId, 'accountId');
    return this.listAccountReports(reportPk(accountId), opts.limit ?? 30);
  }

  /** Stores a per-account report (reconciliation or performance) once: same account, time and runId → false. */
  private async putAccountReport(
    entity: 'RECON' | 'REPORT',
    report: { accountId: string; runId: string; at: number; report: JsonMap },
    pk: string,
    sk: string,
  ): Promise<{ created: boolean }> {
    assertId(report.accountId, 'accountId');
    assertId(report.runId, 'runId');
    assertEpochMs(report.at, 'at');
    assertJsonMap(report.report, 'report');
    return {
      created: await this.putIfAbsent({
        pk: { S: pk },
        sk: { S: sk },
        entity: { S: entity },
        accountId: { S: report.accountId },
        runId: { S: report.runId },
        at: { N: String(report.at) },
        report: { M: toAttrMap(report.report) },
      }),
    };
  }

  /** Per-account reports under `pk`, newest first; `sinceAt` keeps those at or after it (sk starts with the ISO time). */
  private async listAccountReports(
    pk: string,
    limit: number,
    sinceAt?: number,
  ): Promise<{ accountId: string; runId: string; at: number; report: JsonMap }[]> {
    assertInt(limit, 'limit', 1);
    const values: Item = { ':pk': { S: pk } };
    let cond = 'pk = :pk';
    if (sinceAt !== undefined) {
      assertEpochMs(sinceAt, 'sinceAt');
      cond += ' AND sk >= :since';
      values[':since'] = { S: new Date(sinceAt).toISOString() };
    }
    const items = await this.queryAll(
      { KeyConditionExpression: cond, ExpressionAttributeValues: values, ScanIndexForward: false },
      limit,
    );
    return items.map((item) => {
      const r = new ItemReader(item);
      return {
        accountId: r.str('accountId'),
        runId: r.str('runId'),
        at: r.num('at'),
        report: r.map('report'),
      };
    });
  }

  // ---------------------------------------------------------------- low-level helpers

  /** PutItem with attribute_not_exists(pk); false when the item already exists. */
  private async putIfAbsent(item: Item): Promise<boolean> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  /** PutItem conditioned on the stored version (0 = absent); false on a conflict. */
  private async putVersioned(item: Item, expectedVersion: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :v',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':v': { N: String(expectedVersion) } },
              }),
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  private async getItem(pk: string, sk: string): Promise<Item | null> {
    const res = await this.db.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: pk }, sk: { S: sk } },
        ConsistentRead: true,
      }),
    );
    return res.Item ?? null;
  }

  private async queryAll(
    params: {
      IndexName?: string;
      KeyConditionExpression: string;
      ExpressionAttributeValues: Item;
      ConsistentRead?: boolean;
      ScanIndexForward?: boolean;
    },
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          ...params,
          ...(Number.isFinite(limit) ? { Limit: limit - out.length } : {}),
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(res.Items ?? []));
      start = res.LastEvaluatedKey;
    } while (start !== undefined && out.length < limit);
    return out;
  }
}

function parseIntent(item: Item): OrderIntent {
  const r = new ItemReader(item);
  return {
    tradeId: r.str('tradeId'),
    clientOrderId: r.str('clientOrderId'),
    purpose: r.str('purpose'),
    status: r.oneOf('status', INTENT_STATUSES),
    request: r.map('request'),
    exchangeOrderId: r.strOrNull('exchangeOrderId'),
    outcome: r.mapOrNull('outcome'),
    createdAt: r.num('createdAt'),
    updatedAt: r.num('updatedAt'),
  };
}
