/**
 * Key builders of the single-table design (docs/state-and-queue.md, "Key design"). All keys are strings;
 * `#` separates key parts, which is why ids that become key parts may not contain `#`.
 *
 * Under one trade's partition the sort keys order as
 *   CLIENTORDER#… < EVENT#0000000001 < … < EVENT#9999999999 < STATE
 * so the range [EVENT#, STATE] holds only the audit events and the state item, and one descending
 * Query with Limit 2 returns the state and the newest event together.
 */

/** Sort key of a trade's state item (also of a breaker's item). */
export const STATE_SK = 'STATE';
/** Prefix of audit event sort keys. */
export const EVENT_PREFIX = 'EVENT#';
/** Prefix of order intent sort keys (sorts before EVENT#, outside the state/event range). */
export const INTENT_PREFIX = 'CLIENTORDER#';
/** Sort key of a named lease item. */
export const LEASE_SK = 'LEASE';
/** Partition key of the operator control items. */
export const CONTROL_PK = 'CONTROL';

/** Partition key of a trade: `TRADE#<tradeId>`. */
export const tradePk = (tradeId: string): string => `TRADE#${tradeId}`;
/** Sort key of the audit event with this version: `EVENT#` + version zero-padded to 10 digits. */
export const eventSk = (version: number): string => `${EVENT_PREFIX}${String(version).padStart(10, '0')}`;
/** Sort key of an order intent: `CLIENTORDER#<clientOrderId>`. */
export const intentSk = (clientOrderId: string): string => `${INTENT_PREFIX}${clientOrderId}`;
/** GSI byAccount partition key. */
export const gsi1pk = (accountId: string): string => `ACCOUNT#${accountId}`;
/** GSI byAccount sort key: `<status>#<symbol>#<tradeId>` (so one account's trades can be listed by status). */
export const gsi1sk = (status: string, symbol: string, tradeId: string): string =>
  `${status}#${symbol}#${tradeId}`;
/** GSI bySymbol partition key. */
export const gsi2pk = (symbol: string): string => `SYMBOL#${symbol}`;
/** GSI bySymbol sort key: `<accountId>#<tradeId>`. */
export const gsi2sk = (accountId: string, tradeId: string): string => `${accountId}#${tradeId}`;
/** Sort key of a trading-state (kill switch) item. */
export const tradingStateSk = (accountId: string | null): string =>
  accountId === null ? 'TRADING_STATE#GLOBAL' : `TRADING_STATE#ACCOUNT#${accountId}`;
/** Partition key of a circuit breaker: `BREAKER#<scope>`. */
export const breakerPk = (scope: string): string => `BREAKER#${scope}`;
/** Partition key of a named lease: `LEASE#<name>`. */
export const leasePk = (name: string): string => `LEASE#${name}`;
/** Partition key of an account's reconciliation reports. */
export const reconPk = (accountId: string): string => `RECON#${accountId}`;
/** Sort key of a reconciliation report: `<ISO time>#<runId>` (sorts by time). */
export const reconSk = (at: number, runId: string): string => `${new Date(at).toISOString()}#${runId}`;
/** GSI byClosedAt partition key: `CLOSED#<accountId>` (set once, when the trade moves to CLOSED). */
export const gsi3pk = (accountId: string): string => `CLOSED#${accountId}`;
/** GSI byClosedAt sort key: `<ISO time the trade moved to CLOSED>#<tradeId>` (sorts by closing time). */
export const gsi3sk = (closedAt: number, tradeId: string): string =>
  `${new Date(closedAt).toISOString()}#${tradeId}`;
/** Sort key of a worker's last-tick record under {@link CONTROL_PK}: `WORKER#<name>`. */
export const workerSk = (worker: string): string => `WORKER#${worker}`;
/** Partition key of the operator audit log. */
export const AUDIT_PK = 'AUDIT';
/** Sort key of an operator audit entry: `<ISO time>#<auditId>` (sorts by time). */
export const auditSk = (at: number, auditId: string): string => `${new Date(at).toISOString()}#${auditId}`;
/** Partition key of an account's stored performance reports. */
export const reportPk = (accountId: string): string => `REPORT#${accountId}`;
/** Sort key of a performance report: `<ISO time>#<runId>` (sorts by time). */
export const reportSk = (at: number, runId: string): string => `${new Date(at).toISOString()}#${runId}`;
