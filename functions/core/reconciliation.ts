/**
 * Reconciliation: the diff between what the table believes (open trades) and what the exchange holds
 * (positions, open orders, recent fills), and the plan that removes the difference.
 *
 * {@link reconcile} is a pure function: the same input gives the same findings and the same actions, with
 * the same deterministic client order ids, whatever the order of the input arrays. Running the plan
 * ("apply") and reconciling again finds nothing to do, so a restart never duplicates an order. A `dryRun`
 * shows the findings and the actions; an apply executes the actions in the order they are returned.
 *
 * Matching is per symbol (one-way position mode): at most one open trade of the account per symbol and at
 * most one exchange position per symbol. See docs/domain/reconciliation.md for every rule.
 */
import { D, type Decimal, dec, decStr, dmin, roundToStep, ZERO } from './decimal.js';
import { checkFailSafe, failSafeLimitStop, type FailSafeInput } from './fail-safe.js';
import { OPEN_POSITION_STATUSES, type TradeStatus } from './lifecycle.js';
import { closingOrderSide, type MarketRules, openingOrderSide, type Side, sideSign } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------

/** The stop the table has recorded for a trade (the intent written before the order was sent). */
export interface TableStopRecord {
  price: Decimal;
  clientOrderId: string;
  exchangeOrderId?: string;
  qty: Decimal;
}

/** The entry order the table has recorded for a trade that is still ENTERING. */
export interface TableEntryOrderRecord {
  clientOrderId: string;
  exchangeOrderId?: string;
  /** When the entry order was placed (epoch ms). */
  placedAt: number;
}

/** An order the trade recorded (an order intent): its fills are the trade's own. */
export interface TableOrderRecord {
  clientOrderId: string;
  exchangeOrderId?: string;
}

/** A fill already attributed to the trade as an external fill (see {@link externalFillKey}). */
export interface AttributedFillRef {
  orderId: string;
  at: number;
  price: Decimal;
}

/** One open trade as the table sees it (status in OPEN_POSITION_STATUSES or ENTERING). */
export interface TableTradeView {
  tradeId: string;
  accountId: string;
  symbol: string;
  side: Side;
  status: TradeStatus;
  /** Remaining position qty the table believes (zero for an ENTERING trade with nothing filled yet). */
  qty: Decimal;
  entryPrice: Decimal | null;
  stop: TableStopRecord | null;
  /** The entry order while ENTERING. */
  entryOrder?: TableEntryOrderRecord | null;
  /** The trade's max loss, for the fail-safe of any stop planned for it. */
  maxLoss: Decimal;
  /**
   * Every order the trade recorded (its order intents, stops and exits included). Their fills are the
   * trade's own: they are never listed as external fills. Default none (then only the recorded stop and
   * entry order are known as the trade's).
   */
  ownOrders?: readonly TableOrderRecord[];
  /**
   * Fills already attributed to the trade as external fills (recorded by an earlier settlement or quantity
   * fix): they are never used again, for this trade's settlement or a later partial close. Default none.
   */
  attributedFills?: readonly AttributedFillRef[];
  /**
   * Fills before this time (epoch ms) are not the trade's (e.g. the trade's creation): a lower bound of the
   * closing fills, next to the entry order's placement. Default none.
   */
  fillsSince?: number;
}

/** One exchange position (one-way mode: at most one per symbol). A zero qty means no position. */
export interface ExchangePositionView {
  symbol: string;
  side: Side;
  qty: Decimal;
  /** Average entry price of the position. */
  entryPrice: Decimal;
  markPrice?: Decimal;
}

/** One open order on the exchange (stops included: on Binance USD-M the algo orders). */
export interface ExchangeOrderView {
  id: string;
  clientOrderId?: string;
  symbol: string;
  side: 'buy' | 'sell';
  kind: 'stop' | 'take-profit' | 'limit' | 'market';
  reduceOnly: boolean;
  qty: Decimal;
  filledQty: Decimal;
  price?: Decimal;
  triggerPrice?: Decimal;
  placedAt: number;
}

/** One fill (trade) of the account on the exchange. `fee` is in quote currency; a rebate is negative. */
export interface ExchangeFillView {
  orderId: string;
  clientOrderId?: string;
  symbol: string;
  side: 'buy' | 'sell';
  qty: Decimal;
  price: Decimal;
  fee: Decimal;
  at: number;
  reduceOnly?: boolean;
}

/** Tunables of a reconciliation run. */
export interface ReconcileOptions {
  /** A non-reduce-only open order older than this (ms) is a stale entry and is cancelled. */
  staleEntryAfterMs: number;
  /** Relative tolerance for table vs exchange position qty (e.g. 0.000001). */
  qtyTolerance: Decimal;
  /** Default stop distance, % of entry, for an adopted position or a trade without a recorded stop (e.g. 2). */
  adoptStopPct: Decimal;
  /** Taker fee rate used in the fail-safe (e.g. 0.0004). */
  feeRate: Decimal;
  /** Fraction of the max loss a stop may risk (0.95). */
  failSafeFraction: Decimal;
  /** Max loss assigned to an adopted position (quote currency). */
  adoptMaxLoss: Decimal;
  /**
   * Adverse slippage assumed for a stop's fill in the fail-safe (fraction, e.g. 0.0002 = 2 bps); pass the
   * engine's configured value so reconciliation checks stops exactly like the stop manager. Default 0.
   */
  stopSlippage?: Decimal;
}

/** Everything one reconciliation run of one account looks at. */
export interface ReconcileInput {
  accountId: string;
  /** The caller's clock (epoch ms); used only for the age of open orders. */
  now: number;
  table: TableTradeView[];
  exchange: { positions: ExchangePositionView[]; openOrders: ExchangeOrderView[]; fills: ExchangeFillView[] };
  /** Market rules by symbol; required for every symbol with an exchange position. */
  markets: Record<string, MarketRules>;
  options: ReconcileOptions;
}

// ---------------------------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------------------------

/** Every finding kind, in the order findings of one symbol are listed. */
export const FINDING_KINDS = [
  'SIDE_MISMATCH',
  'UNTRACKED_POSITION',
  'POSITION_GONE',
  'QTY_MISMATCH',
  'MISSING_STOP',
  'STOP_QTY_MISMATCH',
  'STALE_ENTRY_ORDER',
  'ORPHANED_STOP',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

interface FindingBase {
  symbol: string;
  tradeId?: string;
  /** One human sentence: what differs, with the numbers. */
  detail: string;
}

/** The exchange holds a position the table has no trade for. */
export interface UntrackedPositionFinding extends FindingBase {
  kind: 'UNTRACKED_POSITION';
  side: Side;
  qty: Decimal;
  entryPrice: Decimal;
}
/** The table has an open trade, the exchange has no position on its symbol. */
export interface PositionGoneFinding extends FindingBase {
  kind: 'POSITION_GONE';
  tradeId: string;
  side: Side;
  tableQty: Decimal;
  /** How much of `tableQty` the closing fills found account for. */
  closedQty: Decimal;
}
/** Table qty and exchange position qty differ beyond the relative tolerance. */
export interface QtyMismatchFinding extends FindingBase {
  kind: 'QTY_MISMATCH';
  tradeId: string;
  tableQty: Decimal;
  exchangeQty: Decimal;
}
/** The exchange position is on the other side than the trade. Never fixed automatically. */
export interface SideMismatchFinding extends FindingBase {
  kind: 'SIDE_MISMATCH';
  tradeId: string;
  tableSide: Side;
  exchangeSide: Side;
  exchangeQty: Decimal;
}
/** A position without a live reduce-only stop order on its closing side. */
export interface MissingStopFinding extends FindingBase {
  kind: 'MISSING_STOP';
  side: Side;
  positionQty: Decimal;
}
/** The position's stop order covers a different qty than the position (rounded down to the lot step). */
export interface StopQtyMismatchFinding extends FindingBase {
  kind: 'STOP_QTY_MISMATCH';
  tradeId: string;
  orderId: string;
  clientOrderId?: string;
  stopQty: Decimal;
  expectedQty: Decimal;
}
/** A non-reduce-only (entry) order open longer than `staleEntryAfterMs`, tracked or not. */
export interface StaleEntryOrderFinding extends FindingBase {
  kind: 'STALE_ENTRY_ORDER';
  orderId: string;
  clientOrderId?: string;
  ageMs: number;
}
/** A reduce-only stop/take-profit order with no position it could close. */
export interface OrphanedStopFinding extends FindingBase {
  kind: 'ORPHANED_STOP';
  orderId: string;
  clientOrderId?: string;
  orderKind: 'stop' | 'take-profit';
}

/** One difference between the table and the exchange (discriminated on `kind`). */
export type Finding =
  | UntrackedPositionFinding
  | PositionGoneFinding
  | QtyMismatchFinding
  | SideMismatchFinding
  | MissingStopFinding
  | StopQtyMismatchFinding
  | StaleEntryOrderFinding
  | OrphanedStopFinding;

// ---------------------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------------------

/** A reduce-only stop-market order to send, already checked against the fail-safe. */
export interface StopOrderPlan {
  clientOrderId: string;
  /** The closing side: `sell` for a long, `buy` for a short. */
  orderSide: 'buy' | 'sell';
  /** Exchange position qty rounded down to the lot step. */
  qty: Decimal;
  /** Trigger price, on the tick, rounded in the safe direction. */
  price: Decimal;
  /** True when the preferred price broke the fail-safe and the stop was moved to the loosest passing price. */
  tightened: boolean;
  /** Loss if stopped at `price` for the whole exchange position qty, fees included. */
  lossIfStopped: Decimal;
  /** failSafeFraction × max loss. `lossIfStopped` ≤ `lossLimit` always holds. */
  lossLimit: Decimal;
}

/** Place a stop for a tracked position that has none. */
export interface PlaceStopAction extends StopOrderPlan {
  type: 'PLACE_STOP';
  symbol: string;
  tradeId: string;
  side: Side;
}
/**
 * Replace a stop whose qty is wrong: create the new stop first, then cancel the old one (create before
 * cancel, so the position is never unprotected). If the create fails, the old stop is not cancelled.
 */
export interface ReplaceStopAction extends StopOrderPlan {
  type: 'REPLACE_STOP';
  symbol: string;
  tradeId: string;
  side: Side;
  cancelOrderId: string;
  cancelClientOrderId?: string;
}
/** Create a trade for an untracked position and place its initial stop. */
export interface AdoptPositionAction {
  type: 'ADOPT_POSITION';
  symbol: string;
  /** Deterministic: {@link adoptedTradeId} of account, symbol, side and entry price. */
  tradeId: string;
  accountId: string;
  side: Side;
  qty: Decimal;
  entryPrice: Decimal;
  maxLoss: Decimal;
  stop: StopOrderPlan;
}
/**
 * A closing fill attributed to a trade that is not one of the trade's own orders (a manual close, a
 * liquidation, an exit the trade did not record): the part of it the trade is charged with.
 */
export interface ExternalFill {
  orderId: string;
  clientOrderId?: string;
  side: 'buy' | 'sell';
  /** The qty of the fill used for the trade (the last fill used may count only in part). */
  qty: Decimal;
  price: Decimal;
  /** The fill's fee pro rata: fee × qty used / fill qty (quote currency; a rebate is negative). */
  fee: Decimal;
  at: number;
}

/**
 * The identity of an attributed fill: its order id, time and price. Recording a fill whose key is already
 * recorded is a no-op, and the table view lists the recorded keys (`attributedFills`) so a fill is never
 * attributed twice.
 */
export function externalFillKey(f: { orderId: string; at: number; price: Decimal }): string {
  return JSON.stringify([f.orderId, f.at, f.price.toFixed()]);
}

/** Why a trade's position ended: its own stop filled, or anything else. */
export type SettleReason = 'stop-hit' | 'closed-externally';
/** Close a trade whose position is gone, with the PnL realized by the closing fills. */
export interface SettleTradeAction {
  type: 'SETTLE_TRADE';
  symbol: string;
  tradeId: string;
  /** Volume-weighted price of the closing fills used; null when none was found. */
  exitPrice: Decimal | null;
  /** Σ side × (fill price − entry) × qty − Σ closing fees; null when unknown (then MANUAL_REVIEW too). */
  realizedPnl: Decimal | null;
  reason: SettleReason;
  /** Qty accounted for by the closing fills used. */
  closedQty: Decimal;
  /** The fills used that are not the trade's own orders (its stop or any recorded order), newest first. */
  externalFills: ExternalFill[];
}
/**
 * Set the trade's qty (and average entry) to the exchange position's. When the position is smaller (a
 * partial close outside the engine), the closing fills that explain the difference are attributed to the
 * trade.
 */
export interface FixQuantityAction {
  type: 'FIX_QUANTITY';
  symbol: string;
  tradeId: string;
  from: Decimal;
  to: Decimal;
  entryPrice: Decimal;
  /**
   * Partly closed (`to` < `from`): the closing fills of the symbol since the entry that are not the trade's
   * own and not attributed yet, newest first, up to `from − to` (the last one pro rata). Empty otherwise.
   */
  externalFills: ExternalFill[];
  /** Partly closed: the part of `from − to` no fill accounts for (its PnL is unknown); zero otherwise. */
  unattributedQty: Decimal;
}
/** Cancel one open order. */
export interface CancelOrderAction {
  type: 'CANCEL_ORDER';
  symbol: string;
  orderId: string;
  clientOrderId?: string;
  reason: 'stale-entry' | 'orphaned-stop';
  tradeId?: string;
}
/**
 * Close a position at market (reduce-only) because no stop that passes the fail-safe can be placed.
 * Once the close has filled, the listed orders (every open order on the closing side of the position) are
 * cancelled: reduce-only ones would be orphans, the others would open a position the other way. If the
 * close fails they stay. A tracked trade is settled from the close fill.
 */
export interface ClosePositionAction {
  type: 'CLOSE_POSITION';
  symbol: string;
  /** The trade, when the position is tracked; absent for an untracked position. */
  tradeId?: string;
  side: Side;
  orderSide: 'buy' | 'sell';
  qty: Decimal;
  clientOrderId: string;
  reason: string;
  thenCancel: { orderId: string; clientOrderId?: string }[];
}
/** Nothing is sent: an operator must look. */
export interface ManualReviewAction {
  type: 'MANUAL_REVIEW';
  symbol: string;
  tradeId?: string;
  reason: string;
}

/** One planned step (discriminated on `type`). */
export type PlannedAction =
  | PlaceStopAction
  | ReplaceStopAction
  | AdoptPositionAction
  | SettleTradeAction
  | FixQuantityAction
  | CancelOrderAction
  | ClosePositionAction
  | ManualReviewAction;
export type PlannedActionType = PlannedAction['type'];

/** Counts for the run's report and mismatch metric. */
export interface ReconcileSummary {
  /** Exchange positions seen (qty > 0). */
  positions: number;
  /** Exchange positions matched to a table trade of the same symbol and side. */
  tracked: number;
  /** Number of findings. */
  findings: number;
  /** Findings per kind; every kind is present (zero when none). */
  byKind: Record<FindingKind, number>;
}

/** The diff and the plan. */
export interface ReconcileResult {
  findings: Finding[];
  actions: PlannedAction[];
  summary: ReconcileSummary;
}

// ---------------------------------------------------------------------------------------------------------
// Deterministic ids
// ---------------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** 32-bit FNV-1a of the UTF-8 bytes of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** 64-bit FNV-1a of the UTF-8 bytes of `text`. */
export function fnv1a64(text: string): bigint {
  let hash = FNV64_OFFSET;
  for (const byte of utf8.encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV64_PRIME) & MASK64;
  }
  return hash;
}

/** 13 base-36 characters of the 64-bit FNV-1a of `text`. */
function hash13(text: string): string {
  return fnv1a64(text).toString(36).padStart(13, '0');
}

/** Binance's limit for `newClientOrderId` / `clientAlgoId`. */
export const CLIENT_ORDER_ID_MAX_LENGTH = 36;
const PURPOSE_PATTERN = /^[a-z][a-z0-9]{0,9}$/;

/**
 * THE definition of client order ids in the engine: every order any module sends gets its id here.
 *
 * Format: `<frag>-<purpose>[_<seq>]-<hash>`, at most 36 characters of `[A-Za-z0-9_-]`, where
 * - `hash` is the 64-bit FNV-1a of `JSON.stringify([tradeId, purpose, seq ?? null])`, 13 base-36 digits —
 *   it alone makes the id unique;
 * - `frag` is the start of the tradeId with every character outside `[A-Za-z0-9]` removed, cut to the room
 *   left (left out, with its dash, when there is none) — for people reading exchange screens only.
 *
 * `purpose` is 1–10 lowercase letters/digits starting with a letter (e.g. `entry`, `stop`, `rcstop`);
 * `seq` an integer 0 … 4294967295 (a generation counter, or a hash of the planning basis).
 * The same arguments always give the same id.
 */
export function clientOrderId(tradeId: string, purpose: string, seq?: number): string {
  if (typeof tradeId !== 'string' || tradeId.length === 0) {
    throw new RangeError('clientOrderId: tradeId must be a non-empty string');
  }
  if (!PURPOSE_PATTERN.test(purpose)) {
    throw new RangeError(
      `clientOrderId: purpose must be 1–10 lowercase letters or digits starting with a letter, got "${purpose}"`,
    );
  }
  if (seq !== undefined && !(Number.isSafeInteger(seq) && seq >= 0 && seq <= 0xffffffff)) {
    throw new RangeError(`clientOrderId: seq must be an integer from 0 to 4294967295, got ${String(seq)}`);
  }
  const body = seq === undefined ? purpose : `${purpose}_${seq}`;
  const hash = hash13(JSON.stringify([tradeId, purpose, seq ?? null]));
  const room = CLIENT_ORDER_ID_MAX_LENGTH - body.length - hash.length - 2;
  const frag = tradeId.replace(/[^A-Za-z0-9]/g, '').slice(0, Math.max(0, room));
  return frag.length > 0 ? `${frag}-${body}-${hash}` : `${body}-${hash}`;
}

/**
 * The trade id given to an adopted position: `adopt-<symbol letters/digits>-<side>-<hash>`, the hash over
 * account, symbol, side and entry price. Adopting the same position twice gives the same id, so the
 * table's `attribute_not_exists` write makes adoption idempotent.
 */
export function adoptedTradeId(accountId: string, symbol: string, side: Side, entryPrice: Decimal): string {
  const hash = hash13(JSON.stringify([accountId, symbol, side, entryPrice.toFixed()]));
  return `adopt-${symbol.replace(/[^A-Za-z0-9]/g, '')}-${side}-${hash}`;
}

/** Purpose of stops planned by reconciliation, and of its market closes. */
const STOP_PURPOSE = 'rcstop';
const CLOSE_PURPOSE = 'rcclose';

/**
 * The `seq` of a reconciliation order: a 32-bit hash of what the order is based on — the order it follows
 * (the recorded or live stop, or none) and its qty. Stable while the table and the position are unchanged
 * (a retried plan re-uses the id, which the exchange rejects as a duplicate instead of doubling the order);
 * new once apply has recorded the new stop or the qty has changed (an id is never re-used for a new order).
 */
function planSeq(previousOrderId: string | null, qty: Decimal): number {
  return fnv1a32(JSON.stringify([previousOrderId, qty.toFixed()]));
}

// ---------------------------------------------------------------------------------------------------------
// Validation and normalization
// ---------------------------------------------------------------------------------------------------------

const TRADE_STATUSES_RECONCILED: readonly TradeStatus[] = [...OPEN_POSITION_STATUSES, 'ENTERING'];

interface Options {
  staleEntryAfterMs: number;
  qtyTolerance: Decimal;
  adoptStopPct: Decimal;
  feeRate: Decimal;
  failSafeFraction: Decimal;
  adoptMaxLoss: Decimal;
  stopSlippage: Decimal;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${what} must be a non-empty string`);
  return value;
}
function requireTime(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError(`${what} must be a finite epoch-ms number, got ${String(value)}`);
  }
  return value;
}
function nonNegative(value: Decimal, what: string): Decimal {
  const d = dec(value, what);
  if (d.isNeg()) throw new RangeError(`${what} must not be negative, got ${d.toFixed()}`);
  return d;
}
function positive(value: Decimal, what: string): Decimal {
  const d = dec(value, what);
  if (!d.gt(0)) throw new RangeError(`${what} must be positive, got ${d.toFixed()}`);
  return d;
}
function requireSide(value: unknown, what: string): Side {
  if (value !== 'long' && value !== 'short') throw new RangeError(`${what} must be 'long' or 'short'`);
  return value;
}
function requireOrderSide(value: unknown, what: string): 'buy' | 'sell' {
  if (value !== 'buy' && value !== 'sell') throw new RangeError(`${what} must be 'buy' or 'sell'`);
  return value;
}

function validateOptions(o: ReconcileOptions): Options {
  if (!Number.isFinite(o.staleEntryAfterMs) || o.staleEntryAfterMs < 0) {
    throw new RangeError(`options.staleEntryAfterMs must be a non-negative number of ms`);
  }
  const adoptStopPct = positive(o.adoptStopPct, 'options.adoptStopPct');
  if (!adoptStopPct.lt(100))
    throw new RangeError(`options.adoptStopPct must be below 100, got ${decStr(adoptStopPct)}`);
  const feeRate = nonNegative(o.feeRate, 'options.feeRate');
  if (!feeRate.lt(1)) throw new RangeError(`options.feeRate must be below 1, got ${decStr(feeRate)}`);
  const failSafeFraction = positive(o.failSafeFraction, 'options.failSafeFraction');
  if (failSafeFraction.gt(1)) {
    throw new RangeError(`options.failSafeFraction must be at most 1, got ${decStr(failSafeFraction)}`);
  }
  const stopSlippage =
    o.stopSlippage === undefined ? ZERO : nonNegative(o.stopSlippage, 'options.stopSlippage');
  if (!stopSlippage.lt(1))
    throw new RangeError(`options.stopSlippage must be below 1, got ${decStr(stopSlippage)}`);
  return {
    staleEntryAfterMs: o.staleEntryAfterMs,
    qtyTolerance: nonNegative(o.qtyTolerance, 'options.qtyTolerance'),
    adoptStopPct,
    feeRate,
    failSafeFraction,
    adoptMaxLoss: positive(o.adoptMaxLoss, 'options.adoptMaxLoss'),
    stopSlippage,
  };
}

function normalizeTrade(t: TableTradeView, accountId: string): TableTradeView {
  const id = requireString(t.tradeId, 'table trade tradeId');
  const where = `trade ${id}`;
  if (t.accountId !== accountId) {
    throw new RangeError(
      `${where}: accountId "${String(t.accountId)}" differs from the reconciled account "${accountId}"`,
    );
  }
  const symbol = requireString(t.symbol, `${where}: symbol`);
  if (!TRADE_STATUSES_RECONCILED.includes(t.status)) {
    throw new RangeError(
      `${where}: status ${String(t.status)} is not reconciled (only ${TRADE_STATUSES_RECONCILED.join(', ')})`,
    );
  }
  const stop: TableStopRecord | null =
    t.stop === null || t.stop === undefined
      ? null
      : {
          price: positive(t.stop.price, `${where}: stop.price`),
          clientOrderId: requireString(t.stop.clientOrderId, `${where}: stop.clientOrderId`),
          ...(t.stop.exchangeOrderId !== undefined ? { exchangeOrderId: t.stop.exchangeOrderId } : {}),
          qty: nonNegative(t.stop.qty, `${where}: stop.qty`),
        };
  const entryOrder: TableEntryOrderRecord | null =
    t.entryOrder === null || t.entryOrder === undefined
      ? null
      : {
          clientOrderId: requireString(t.entryOrder.clientOrderId, `${where}: entryOrder.clientOrderId`),
          ...(t.entryOrder.exchangeOrderId !== undefined
            ? { exchangeOrderId: t.entryOrder.exchangeOrderId }
            : {}),
          placedAt: requireTime(t.entryOrder.placedAt, `${where}: entryOrder.placedAt`),
        };
  const ownOrders: TableOrderRecord[] = (t.ownOrders ?? []).map((o, i) => ({
    clientOrderId: requireString(o.clientOrderId, `${where}: ownOrders[${i}].clientOrderId`),
    ...(o.exchangeOrderId !== undefined ? { exchangeOrderId: o.exchangeOrderId } : {}),
  }));
  const attributedFills: AttributedFillRef[] = (t.attributedFills ?? []).map((f, i) => ({
    orderId: requireString(f.orderId, `${where}: attributedFills[${i}].orderId`),
    at: requireTime(f.at, `${where}: attributedFills[${i}].at`),
    price: positive(f.price, `${where}: attributedFills[${i}].price`),
  }));
  return {
    tradeId: id,
    accountId,
    symbol,
    side: requireSide(t.side, `${where}: side`),
    status: t.status,
    qty: nonNegative(t.qty, `${where}: qty`),
    entryPrice:
      t.entryPrice === null || t.entryPrice === undefined
        ? null
        : positive(t.entryPrice, `${where}: entryPrice`),
    stop,
    entryOrder,
    maxLoss: positive(t.maxLoss, `${where}: maxLoss`),
    ownOrders,
    attributedFills,
    ...(t.fillsSince !== undefined ? { fillsSince: requireTime(t.fillsSince, `${where}: fillsSince`) } : {}),
  };
}

function normalizePosition(p: ExchangePositionView): ExchangePositionView {
  const symbol = requireString(p.symbol, 'exchange position symbol');
  const where = `exchange position ${symbol}`;
  return {
    symbol,
    side: requireSide(p.side, `${where}: side`),
    qty: nonNegative(p.qty, `${where}: qty`),
    entryPrice: positive(p.entryPrice, `${where}: entryPrice`),
    ...(p.markPrice !== undefined ? { markPrice: positive(p.markPrice, `${where}: markPrice`) } : {}),
  };
}

function normalizeOrder(o: ExchangeOrderView): ExchangeOrderView {
  const id = requireString(o.id, 'exchange order id');
  const where = `exchange order ${id}`;
  if (o.kind !== 'stop' && o.kind !== 'take-profit' && o.kind !== 'limit' && o.kind !== 'market') {
    throw new RangeError(`${where}: kind ${String(o.kind)} is not stop, take-profit, limit or market`);
  }
  const qty = nonNegative(o.qty, `${where}: qty`);
  const filledQty = nonNegative(o.filledQty, `${where}: filledQty`);
  if (filledQty.gt(qty)) {
    throw new RangeError(`${where}: filledQty ${decStr(filledQty)} exceeds qty ${decStr(qty)}`);
  }
  return {
    id,
    ...(o.clientOrderId !== undefined ? { clientOrderId: o.clientOrderId } : {}),
    symbol: requireString(o.symbol, `${where}: symbol`),
    side: requireOrderSide(o.side, `${where}: side`),
    kind: o.kind,
    reduceOnly: o.reduceOnly === true,
    qty,
    filledQty,
    ...(o.price !== undefined ? { price: positive(o.price, `${where}: price`) } : {}),
    ...(o.triggerPrice !== undefined
      ? { triggerPrice: positive(o.triggerPrice, `${where}: triggerPrice`) }
      : {}),
    placedAt: requireTime(o.placedAt, `${where}: placedAt`),
  };
}

function normalizeFill(f: ExchangeFillView): ExchangeFillView {
  const orderId = requireString(f.orderId, 'exchange fill orderId');
  const where = `fill of order ${orderId}`;
  return {
    orderId,
    ...(f.clientOrderId !== undefined ? { clientOrderId: f.clientOrderId } : {}),
    symbol: requireString(f.symbol, `${where}: symbol`),
    side: requireOrderSide(f.side, `${where}: side`),
    qty: positive(f.qty, `${where}: qty`),
    price: positive(f.price, `${where}: price`),
    fee: dec(f.fee, `${where}: fee`),
    at: requireTime(f.at, `${where}: at`),
    ...(f.reduceOnly !== undefined ? { reduceOnly: f.reduceOnly } : {}),
  };
}

function validateMarket(symbol: string, m: MarketRules | undefined): MarketRules {
  if (m === undefined) {
    throw new RangeError(`no market rules for ${symbol}: it has an exchange position that needs a stop`);
  }
  if (m.symbol !== symbol) throw new RangeError(`markets["${symbol}"] describes ${m.symbol}`);
  return {
    ...m,
    tickSize: nonNegative(m.tickSize, `market ${symbol}: tickSize`),
    lotStep: nonNegative(m.lotStep, `market ${symbol}: lotStep`),
    minQty: nonNegative(m.minQty, `market ${symbol}: minQty`),
  };
}

/** Plain code-unit order (locale-independent). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fillKey(f: ExchangeFillView): string {
  return JSON.stringify([
    f.orderId,
    f.clientOrderId ?? '',
    f.side,
    f.qty.toFixed(),
    f.price.toFixed(),
    f.fee.toFixed(),
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Stop planning
// ---------------------------------------------------------------------------------------------------------

/** Rounding step used when a market has tick size 0 (unconstrained): keeps computed stops exact enough. */
const UNCONSTRAINED_TICK = new D('1e-20');

type StopPlan =
  | { ok: true; price: Decimal; qty: Decimal; tightened: boolean; lossIfStopped: Decimal; lossLimit: Decimal }
  | { ok: false; why: 'below-min-qty' | 'not-placeable'; detail: string; qty: Decimal };

interface StopPlanInput {
  side: Side;
  entryPrice: Decimal;
  positionQty: Decimal;
  markPrice: Decimal | undefined;
  /** The price the stop should have (table's / live stop's), or null for the default at adoptStopPct. */
  preferred: Decimal | null;
  maxLoss: Decimal;
  market: MarketRules;
  opts: Options;
}

/**
 * The stop for a position: the preferred price (or adoptStopPct from the entry), rounded safe; if it breaks
 * the fail-safe, the loosest passing price instead (tightened). A stop at or through the mark cannot be
 * placed (the exchange would trigger it at once): not-placeable, and the caller closes at market instead.
 * A qty below one lot step or the market's minimum cannot carry a stop: below-min-qty.
 */
function planStop(input: StopPlanInput): StopPlan {
  const { side, entryPrice, positionQty, markPrice, market, opts } = input;
  const qty = roundToStep(positionQty, market.lotStep, 'down');
  if (!qty.gt(0) || qty.lt(market.minQty)) {
    return {
      ok: false,
      why: 'below-min-qty',
      qty,
      detail: `position qty ${decStr(positionQty)} rounds down to ${decStr(qty)}, below the minimum order qty ${decStr(market.minQty)}: no stop can be placed`,
    };
  }
  const tick = market.tickSize.isZero() ? UNCONSTRAINED_TICK : market.tickSize;
  const direction = side === 'long' ? 'up' : 'down';
  const sign = sideSign(side);
  const raw = input.preferred ?? entryPrice.mul(new D(1).minus(opts.adoptStopPct.div(100).mul(sign)));
  const preferred = roundToStep(raw, tick, direction);
  const fs: FailSafeInput = {
    side,
    entryPrice,
    qty: positionQty,
    feeRate: opts.feeRate,
    maxLoss: input.maxLoss,
    fraction: opts.failSafeFraction,
    stopSlippage: opts.stopSlippage,
  };
  let price = preferred;
  let check = checkFailSafe(fs, price);
  let tightened = false;
  if (!check.ok) {
    const limitStop = failSafeLimitStop(fs, tick);
    if (limitStop === null) throw new RangeError('unreachable: zero position qty in the fail-safe');
    price = limitStop;
    check = checkFailSafe(fs, price);
    tightened = true;
  }
  const through = markPrice !== undefined && (side === 'long' ? price.gte(markPrice) : price.lte(markPrice));
  if (!check.ok || !price.gt(0) || through) {
    const mark = markPrice === undefined ? '' : ` (mark ${decStr(markPrice)})`;
    const detail = tightened
      ? `the fail-safe (loss ≤ ${decStr(check.limit)}) needs a stop at or ${side === 'long' ? 'above' : 'below'} ${decStr(price)}, which would trigger immediately${mark}`
      : `stop ${decStr(price)} would trigger immediately${mark}`;
    return { ok: false, why: 'not-placeable', qty, detail };
  }
  return { ok: true, price, qty, tightened, lossIfStopped: check.loss, lossLimit: check.limit };
}

// ---------------------------------------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------------------------------------

interface Settlement {
  closedQty: Decimal;
  exitPrice: Decimal | null;
  realizedPnl: Decimal | null;
  reason: SettleReason;
  /** Why the PnL is unknown, when it is. */
  unknownBecause: string | null;
  externalFills: ExternalFill[];
}

function matchesRecord(
  orderId: string,
  clientId: string | undefined,
  record: { clientOrderId: string; exchangeOrderId?: string } | null | undefined,
): boolean {
  if (record === null || record === undefined) return false;
  return (
    (clientId !== undefined && clientId === record.clientOrderId) ||
    (record.exchangeOrderId !== undefined && orderId === record.exchangeOrderId)
  );
}

function isStopFill(trade: TableTradeView, f: ExchangeFillView): boolean {
  return matchesRecord(f.orderId, f.clientOrderId, trade.stop);
}

/** A fill of one of the trade's own orders: its recorded stop, its entry order or any recorded order. */
function isOwnFill(trade: TableTradeView, f: ExchangeFillView): boolean {
  return (
    isStopFill(trade, f) ||
    matchesRecord(f.orderId, f.clientOrderId, trade.entryOrder) ||
    (trade.ownOrders ?? []).some((o) => matchesRecord(f.orderId, f.clientOrderId, o))
  );
}

/**
 * The fills that may have closed (part of) the trade, newest first: fills of its symbol on its closing
 * side, at or after its entry order was placed and `fillsSince` (when known), not attributed to it yet.
 */
function closingPool(trade: TableTradeView, fills: readonly ExchangeFillView[]): ExchangeFillView[] {
  const closeSide = closingOrderSide(trade.side);
  const since = Math.max(
    trade.entryOrder?.placedAt ?? Number.NEGATIVE_INFINITY,
    trade.fillsSince ?? Number.NEGATIVE_INFINITY,
  );
  const attributed = new Set((trade.attributedFills ?? []).map(externalFillKey));
  return fills
    .filter(
      (f) =>
        f.symbol === trade.symbol &&
        f.side === closeSide &&
        f.at >= since &&
        !attributed.has(externalFillKey(f)),
    )
    .reverse();
}

/** Takes fills in the given order until `qty` is accounted for, the last one pro rata. */
function takeFills(
  ordered: readonly ExchangeFillView[],
  qty: Decimal,
): { fill: ExchangeFillView; used: Decimal; fee: Decimal }[] {
  const out: { fill: ExchangeFillView; used: Decimal; fee: Decimal }[] = [];
  let remaining = qty;
  for (const f of ordered) {
    if (!remaining.gt(0)) break;
    const used = dmin(f.qty, remaining);
    remaining = remaining.minus(used);
    out.push({ fill: f, used, fee: f.fee.mul(used).div(f.qty) });
  }
  return out;
}

function externalFill(u: { fill: ExchangeFillView; used: Decimal; fee: Decimal }): ExternalFill {
  const f = u.fill;
  return {
    orderId: f.orderId,
    ...(f.clientOrderId !== undefined ? { clientOrderId: f.clientOrderId } : {}),
    side: f.side,
    qty: u.used,
    price: f.price,
    fee: u.fee,
    at: f.at,
  };
}

/**
 * Realized PnL of a trade whose position is gone, from the closing fills ({@link closingPool}): the trade's
 * own stop fills first, then the others, newest first, until the table's qty is accounted for (the last
 * fill used pro rata). The fills used that are not the trade's own are its external fills.
 *   realizedPnl = Σ side × (price − entry) × qtyUsed − Σ fee × qtyUsed / fillQty
 */
function settlement(trade: TableTradeView, fills: readonly ExchangeFillView[]): Settlement {
  const pool = closingPool(trade, fills);
  const ordered = [...pool.filter((f) => isStopFill(trade, f)), ...pool.filter((f) => !isStopFill(trade, f))];
  const used = takeFills(ordered, trade.qty);

  let notional = ZERO;
  let pnlBeforeFees = ZERO;
  let fees = ZERO;
  let closedQty = ZERO;
  const entry = trade.entryPrice ?? entryVwap(trade, fills);
  for (const u of used) {
    closedQty = closedQty.plus(u.used);
    notional = notional.plus(u.fill.price.mul(u.used));
    fees = fees.plus(u.fee);
    if (entry !== null)
      pnlBeforeFees = pnlBeforeFees.plus(u.fill.price.minus(entry).mul(u.used).mul(sideSign(trade.side)));
  }
  const remaining = trade.qty.minus(closedQty);
  const exitPrice = closedQty.gt(0) ? notional.div(closedQty) : null;
  let unknownBecause: string | null = null;
  if (closedQty.isZero()) unknownBecause = 'no closing fill was found';
  else if (remaining.gt(0)) {
    unknownBecause = `closing fills account for only ${decStr(closedQty)} of ${decStr(trade.qty)}`;
  } else if (entry === null) unknownBecause = 'the entry price is unknown';
  return {
    closedQty,
    exitPrice,
    realizedPnl: unknownBecause === null ? pnlBeforeFees.minus(fees) : null,
    reason: used.some((u) => isStopFill(trade, u.fill)) ? 'stop-hit' : 'closed-externally',
    unknownBecause,
    externalFills: used.filter((u) => !isOwnFill(trade, u.fill)).map(externalFill),
  };
}

/**
 * The fills that explain a partial close outside the engine (`qty` = table qty − exchange qty): the
 * closing fills ({@link closingPool}) that are not the trade's own, newest first, up to `qty` (the last one
 * pro rata), and the part of `qty` they do not account for.
 */
function partialCloseFills(
  trade: TableTradeView,
  fills: readonly ExchangeFillView[],
  qty: Decimal,
): { externalFills: ExternalFill[]; unattributedQty: Decimal } {
  const used = takeFills(
    closingPool(trade, fills).filter((f) => !isOwnFill(trade, f)),
    qty,
  );
  return {
    externalFills: used.map(externalFill),
    unattributedQty: used.reduce((left, u) => left.minus(u.used), qty),
  };
}

/** Volume-weighted price of the fills of the trade's entry order, or null. */
function entryVwap(trade: TableTradeView, fills: readonly ExchangeFillView[]): Decimal | null {
  let qty = ZERO;
  let notional = ZERO;
  for (const f of fills) {
    if (f.symbol !== trade.symbol || !matchesRecord(f.orderId, f.clientOrderId, trade.entryOrder)) continue;
    qty = qty.plus(f.qty);
    notional = notional.plus(f.qty.mul(f.price));
  }
  return qty.gt(0) ? notional.div(qty) : null;
}

// ---------------------------------------------------------------------------------------------------------
// The diff
// ---------------------------------------------------------------------------------------------------------

const ACTION_GROUP: Record<PlannedActionType, number> = {
  PLACE_STOP: 0,
  REPLACE_STOP: 0,
  ADOPT_POSITION: 0,
  CLOSE_POSITION: 0,
  SETTLE_TRADE: 1,
  FIX_QUANTITY: 1,
  CANCEL_ORDER: 2,
  MANUAL_REVIEW: 3,
};
const ACTION_TYPES: readonly PlannedActionType[] = [
  'PLACE_STOP',
  'REPLACE_STOP',
  'ADOPT_POSITION',
  'CLOSE_POSITION',
  'SETTLE_TRADE',
  'FIX_QUANTITY',
  'CANCEL_ORDER',
  'MANUAL_REVIEW',
];

function actionOrderKey(a: PlannedAction): string {
  switch (a.type) {
    case 'CANCEL_ORDER':
      return a.orderId;
    case 'REPLACE_STOP':
      return a.cancelOrderId;
    case 'PLACE_STOP':
    case 'CLOSE_POSITION':
      return a.clientOrderId;
    case 'ADOPT_POSITION':
    case 'SETTLE_TRADE':
    case 'FIX_QUANTITY':
    case 'MANUAL_REVIEW':
      return '';
  }
}

function compareActions(a: PlannedAction, b: PlannedAction): number {
  return (
    ACTION_GROUP[a.type] - ACTION_GROUP[b.type] ||
    cmp(a.symbol, b.symbol) ||
    ACTION_TYPES.indexOf(a.type) - ACTION_TYPES.indexOf(b.type) ||
    cmp(actionOrderKey(a), actionOrderKey(b)) ||
    cmp(a.tradeId ?? '', b.tradeId ?? '') ||
    cmp(a.type === 'MANUAL_REVIEW' ? a.reason : '', b.type === 'MANUAL_REVIEW' ? b.reason : '')
  );
}

function compareFindings(a: Finding, b: Finding): number {
  const orderA = 'orderId' in a ? a.orderId : '';
  const orderB = 'orderId' in b ? b.orderId : '';
  return (
    cmp(a.symbol, b.symbol) ||
    FINDING_KINDS.indexOf(a.kind) - FINDING_KINDS.indexOf(b.kind) ||
    cmp(orderA, orderB) ||
    cmp(a.tradeId ?? '', b.tradeId ?? '')
  );
}

function remainingQty(o: ExchangeOrderView): Decimal {
  return o.qty.minus(o.filledQty);
}

/** The trigger (or limit) price of an order, if it has one. */
function orderPrice(o: ExchangeOrderView): Decimal | undefined {
  return o.triggerPrice ?? o.price;
}

interface SymbolContext {
  symbol: string;
  trade: TableTradeView | undefined;
  position: ExchangePositionView | undefined;
  orders: ExchangeOrderView[];
  fills: ExchangeFillView[];
  market: MarketRules | undefined;
  accountId: string;
  now: number;
  opts: Options;
  findings: Finding[];
  actions: PlannedAction[];
}

/**
 * Compares the table with the exchange for one account and plans what makes them agree.
 *
 * Throws RangeError/TypeError (naming the trade, symbol or order) for: a trade of another account, a
 * negative qty anywhere, a missing market for a symbol with a position, a trade status that is neither
 * ENTERING nor an open-position status, two trades or two positions on one symbol, duplicate ids, and
 * options out of range. Nothing is planned for bad input.
 */
export function reconcile(input: ReconcileInput): ReconcileResult {
  const accountId = requireString(input.accountId, 'accountId');
  const now = requireTime(input.now, 'now');
  const opts = validateOptions(input.options);

  const table = input.table
    .map((t) => normalizeTrade(t, accountId))
    .sort((a, b) => cmp(a.tradeId, b.tradeId));
  const positions = input.exchange.positions
    .map(normalizePosition)
    .filter((p) => p.qty.gt(0))
    .sort((a, b) => cmp(a.symbol, b.symbol));
  const orders = input.exchange.openOrders.map(normalizeOrder).sort((a, b) => cmp(a.id, b.id));
  const fills = input.exchange.fills
    .map(normalizeFill)
    .sort((a, b) => a.at - b.at || cmp(fillKey(a), fillKey(b)));

  const tradeBySymbol = new Map<string, TableTradeView>();
  const tradeIds = new Set<string>();
  for (const t of table) {
    if (tradeIds.has(t.tradeId)) throw new RangeError(`trade ${t.tradeId} appears twice in the table view`);
    tradeIds.add(t.tradeId);
    const other = tradeBySymbol.get(t.symbol);
    if (other !== undefined) {
      throw new RangeError(
        `trades ${other.tradeId} and ${t.tradeId} are both open on ${t.symbol}: reconciliation matches one trade per account and symbol`,
      );
    }
    tradeBySymbol.set(t.symbol, t);
  }
  const positionBySymbol = new Map<string, ExchangePositionView>();
  for (const p of positions) {
    if (positionBySymbol.has(p.symbol)) {
      throw new RangeError(
        `two exchange positions on ${p.symbol}: hedge mode is not supported (one-way mode only)`,
      );
    }
    positionBySymbol.set(p.symbol, p);
  }
  const ordersBySymbol = new Map<string, ExchangeOrderView[]>();
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i] as ExchangeOrderView;
    if (i > 0 && (orders[i - 1] as ExchangeOrderView).id === o.id) {
      throw new RangeError(`exchange order ${o.id} appears twice in the open orders`);
    }
    const list = ordersBySymbol.get(o.symbol) ?? [];
    list.push(o);
    ordersBySymbol.set(o.symbol, list);
  }
  const markets = new Map<string, MarketRules>();
  for (const p of positions) markets.set(p.symbol, validateMarket(p.symbol, input.markets[p.symbol]));

  const symbols = [
    ...new Set([...tradeBySymbol.keys(), ...positionBySymbol.keys(), ...ordersBySymbol.keys()]),
  ].sort(cmp);
  const findings: Finding[] = [];
  const actions: PlannedAction[] = [];
  for (const symbol of symbols) {
    reconcileSymbol({
      symbol,
      trade: tradeBySymbol.get(symbol),
      position: positionBySymbol.get(symbol),
      orders: ordersBySymbol.get(symbol) ?? [],
      fills: fills.filter((f) => f.symbol === symbol),
      market: markets.get(symbol),
      accountId,
      now,
      opts,
      findings,
      actions,
    });
  }
  findings.sort(compareFindings);
  actions.sort(compareActions);

  const byKind = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const f of findings) byKind[f.kind] += 1;
  const tracked = positions.filter((p) => tradeBySymbol.get(p.symbol)?.side === p.side).length;
  return {
    findings,
    actions,
    summary: { positions: positions.length, tracked, findings: findings.length, byKind },
  };
}

function reconcileSymbol(ctx: SymbolContext): void {
  const { symbol, trade, position, findings, actions } = ctx;

  staleEntries(ctx);

  if (trade !== undefined && position !== undefined && trade.side !== position.side) {
    findings.push({
      kind: 'SIDE_MISMATCH',
      symbol,
      tradeId: trade.tradeId,
      tableSide: trade.side,
      exchangeSide: position.side,
      exchangeQty: position.qty,
      detail: `trade ${trade.tradeId} is ${trade.side} ${decStr(trade.qty)}, the exchange position is ${position.side} ${decStr(position.qty)}`,
    });
    actions.push({
      type: 'MANUAL_REVIEW',
      symbol,
      tradeId: trade.tradeId,
      reason: `side mismatch: table ${trade.side}, exchange ${position.side}; not fixed automatically`,
    });
    return;
  }

  orphanedStops(ctx);

  if (position === undefined) {
    if (trade !== undefined && (OPEN_POSITION_STATUSES.includes(trade.status) || trade.qty.gt(0))) {
      positionGone(ctx, trade);
    }
    return;
  }
  if (trade === undefined) untrackedPosition(ctx, position);
  else trackedPosition(ctx, trade, position);
}

/** Non-reduce-only orders that would open or add to a position, open longer than staleEntryAfterMs. */
function staleEntries(ctx: SymbolContext): void {
  const { symbol, trade, position, now, opts } = ctx;
  for (const o of ctx.orders) {
    if (o.reduceOnly || !remainingQty(o).gt(0)) continue;
    if (position !== undefined && o.side !== openingOrderSide(position.side)) continue; // an exit, not an entry
    const ageMs = now - o.placedAt;
    if (ageMs <= opts.staleEntryAfterMs) continue;
    const tradeId =
      trade !== undefined && matchesRecord(o.id, o.clientOrderId, trade.entryOrder)
        ? trade.tradeId
        : undefined;
    const ids = {
      orderId: o.id,
      ...(o.clientOrderId !== undefined ? { clientOrderId: o.clientOrderId } : {}),
    };
    const owner = tradeId !== undefined ? { tradeId } : {};
    ctx.findings.push({
      kind: 'STALE_ENTRY_ORDER',
      symbol,
      ...owner,
      ...ids,
      ageMs,
      detail: `${o.kind} ${o.side} order ${o.id} for ${decStr(remainingQty(o))} has been open ${ageMs} ms (stale after ${opts.staleEntryAfterMs} ms)${tradeId !== undefined ? `; entry of trade ${tradeId}` : '; not tracked'}`,
    });
    ctx.actions.push({ type: 'CANCEL_ORDER', symbol, ...ids, reason: 'stale-entry', ...owner });
  }
}

/** Reduce-only stop/take-profit orders with no position they could close. */
function orphanedStops(ctx: SymbolContext): void {
  const { symbol, trade, position } = ctx;
  for (const o of ctx.orders) {
    if (!o.reduceOnly || (o.kind !== 'stop' && o.kind !== 'take-profit')) continue;
    if (position !== undefined && o.side === closingOrderSide(position.side)) continue;
    const tradeId =
      trade !== undefined && matchesRecord(o.id, o.clientOrderId, trade.stop) ? trade.tradeId : undefined;
    const ids = {
      orderId: o.id,
      ...(o.clientOrderId !== undefined ? { clientOrderId: o.clientOrderId } : {}),
    };
    const owner = tradeId !== undefined ? { tradeId } : {};
    const why =
      position === undefined
        ? 'there is no position'
        : `it cannot close the ${position.side} position (wrong side)`;
    ctx.findings.push({
      kind: 'ORPHANED_STOP',
      symbol,
      ...owner,
      ...ids,
      orderKind: o.kind,
      detail: `reduce-only ${o.kind} ${o.side} order ${o.id} for ${decStr(remainingQty(o))} is live but ${why}`,
    });
    ctx.actions.push({ type: 'CANCEL_ORDER', symbol, ...ids, reason: 'orphaned-stop', ...owner });
  }
}

function positionGone(ctx: SymbolContext, trade: TableTradeView): void {
  const { symbol } = ctx;
  const s = settlement(trade, ctx.fills);
  const how =
    s.exitPrice === null
      ? 'no closing fill was found: PnL unknown'
      : `${s.reason === 'stop-hit' ? "the trade's stop" : 'fills not from its stop'} closed ${decStr(s.closedQty)} at ${decStr(s.exitPrice)}` +
        (s.realizedPnl === null
          ? ` (PnL unknown: ${s.unknownBecause ?? ''})`
          : `, realized PnL ${decStr(s.realizedPnl)}`);
  ctx.findings.push({
    kind: 'POSITION_GONE',
    symbol,
    tradeId: trade.tradeId,
    side: trade.side,
    tableQty: trade.qty,
    closedQty: s.closedQty,
    detail: `trade ${trade.tradeId} (${trade.status}, ${trade.side} ${decStr(trade.qty)}) has no exchange position; ${how}`,
  });
  ctx.actions.push({
    type: 'SETTLE_TRADE',
    symbol,
    tradeId: trade.tradeId,
    exitPrice: s.exitPrice,
    realizedPnl: s.realizedPnl,
    reason: s.reason,
    closedQty: s.closedQty,
    externalFills: s.externalFills,
  });
  if (s.realizedPnl === null) {
    ctx.actions.push({
      type: 'MANUAL_REVIEW',
      symbol,
      tradeId: trade.tradeId,
      reason: `settled with PnL unknown: ${s.unknownBecause ?? ''}`,
    });
  }
}

/** Live reduce-only stop orders on the closing side of the position. */
function protectiveStops(ctx: SymbolContext, position: ExchangePositionView): ExchangeOrderView[] {
  const side = closingOrderSide(position.side);
  return ctx.orders.filter(
    (o) => o.reduceOnly && o.kind === 'stop' && o.side === side && remainingQty(o).gt(0),
  );
}

/**
 * Every open order on the closing side of the position: once it is closed, reduce-only ones are orphans and
 * the others would open a position the other way.
 */
function ordersToCancelAfterClose(
  ctx: SymbolContext,
  position: ExchangePositionView,
): ClosePositionAction['thenCancel'] {
  const side = closingOrderSide(position.side);
  return ctx.orders
    .filter((o) => o.side === side)
    .map((o) => ({
      orderId: o.id,
      ...(o.clientOrderId !== undefined ? { clientOrderId: o.clientOrderId } : {}),
    }));
}

function requireMarket(ctx: SymbolContext): MarketRules {
  if (ctx.market === undefined) throw new RangeError(`no market rules for ${ctx.symbol}`);
  return ctx.market;
}

/** Turns a failed stop plan into the fallback action: MANUAL_REVIEW (qty too small) or CLOSE_POSITION. */
function fallback(
  ctx: SymbolContext,
  plan: Extract<StopPlan, { ok: false }>,
  position: ExchangePositionView,
  orderTradeId: string,
  tradeId: string | undefined,
): void {
  const owner = tradeId !== undefined ? { tradeId } : {};
  if (plan.why === 'below-min-qty') {
    ctx.actions.push({ type: 'MANUAL_REVIEW', symbol: ctx.symbol, ...owner, reason: plan.detail });
    return;
  }
  ctx.actions.push({
    type: 'CLOSE_POSITION',
    symbol: ctx.symbol,
    ...owner,
    side: position.side,
    orderSide: closingOrderSide(position.side),
    qty: plan.qty,
    clientOrderId: clientOrderId(orderTradeId, CLOSE_PURPOSE, planSeq(null, plan.qty)),
    reason: plan.detail,
    thenCancel: ordersToCancelAfterClose(ctx, position),
  });
}

function stopOrder(plan: Extract<StopPlan, { ok: true }>, side: Side, id: string): StopOrderPlan {
  return {
    clientOrderId: id,
    orderSide: closingOrderSide(side),
    qty: plan.qty,
    price: plan.price,
    tightened: plan.tightened,
    lossIfStopped: plan.lossIfStopped,
    lossLimit: plan.lossLimit,
  };
}

function untrackedPosition(ctx: SymbolContext, position: ExchangePositionView): void {
  const { symbol, accountId, opts } = ctx;
  ctx.findings.push({
    kind: 'UNTRACKED_POSITION',
    symbol,
    side: position.side,
    qty: position.qty,
    entryPrice: position.entryPrice,
    detail: `the exchange holds ${position.side} ${decStr(position.qty)} ${symbol} at ${decStr(position.entryPrice)} with no trade in the table`,
  });
  if (protectiveStops(ctx, position).length === 0) {
    ctx.findings.push({
      kind: 'MISSING_STOP',
      symbol,
      side: position.side,
      positionQty: position.qty,
      detail: `untracked ${position.side} position of ${decStr(position.qty)} has no live reduce-only stop`,
    });
  }
  const tradeId = adoptedTradeId(accountId, symbol, position.side, position.entryPrice);
  const plan = planStop({
    side: position.side,
    entryPrice: position.entryPrice,
    positionQty: position.qty,
    markPrice: position.markPrice,
    preferred: null,
    maxLoss: opts.adoptMaxLoss,
    market: requireMarket(ctx),
    opts,
  });
  if (!plan.ok) {
    fallback(ctx, plan, position, tradeId, undefined);
    return;
  }
  ctx.actions.push({
    type: 'ADOPT_POSITION',
    symbol,
    tradeId,
    accountId,
    side: position.side,
    qty: position.qty,
    entryPrice: position.entryPrice,
    maxLoss: opts.adoptMaxLoss,
    stop: stopOrder(plan, position.side, clientOrderId(tradeId, STOP_PURPOSE, planSeq(null, plan.qty))),
  });
}

function trackedPosition(ctx: SymbolContext, trade: TableTradeView, position: ExchangePositionView): void {
  const { symbol, opts } = ctx;
  const market = requireMarket(ctx);
  let fix: FixQuantityAction | null = null;
  const diff = position.qty.minus(trade.qty).abs();
  if (diff.gt(opts.qtyTolerance.mul(position.qty.gt(trade.qty) ? position.qty : trade.qty))) {
    ctx.findings.push({
      kind: 'QTY_MISMATCH',
      symbol,
      tradeId: trade.tradeId,
      tableQty: trade.qty,
      exchangeQty: position.qty,
      detail: `trade ${trade.tradeId} believes ${decStr(trade.qty)}, the exchange position is ${decStr(position.qty)} (${position.qty.gt(trade.qty) ? 'more filled' : 'partly closed'})`,
    });
    const closedOutside = position.qty.lt(trade.qty)
      ? partialCloseFills(trade, ctx.fills, trade.qty.minus(position.qty))
      : { externalFills: [], unattributedQty: ZERO };
    fix = {
      type: 'FIX_QUANTITY',
      symbol,
      tradeId: trade.tradeId,
      from: trade.qty,
      to: position.qty,
      entryPrice: position.entryPrice,
      ...closedOutside,
    };
  }

  const base = {
    side: position.side,
    entryPrice: position.entryPrice,
    positionQty: position.qty,
    markPrice: position.markPrice,
    maxLoss: trade.maxLoss,
    market,
    opts,
  };
  const expectedQty = roundToStep(position.qty, market.lotStep, 'down');
  const stops = protectiveStops(ctx, position);
  let closing = false;
  const exact = stops.filter((o) => remainingQty(o).eq(expectedQty));
  const recorded = (list: ExchangeOrderView[]): ExchangeOrderView | undefined =>
    list.find((o) => matchesRecord(o.id, o.clientOrderId, trade.stop));
  // The position's stop: one that covers the right qty (the recorded one first), else the recorded one,
  // else the first by order id. Other reduce-only stops are left alone: they can only reduce the position.
  const chosen = recorded(exact) ?? exact[0] ?? recorded(stops) ?? stops[0];
  if (chosen === undefined) {
    ctx.findings.push({
      kind: 'MISSING_STOP',
      symbol,
      tradeId: trade.tradeId,
      side: position.side,
      positionQty: position.qty,
      detail: `${position.side} position of ${decStr(position.qty)} (trade ${trade.tradeId}) has no live reduce-only stop${trade.stop !== null ? `; recorded stop ${trade.stop.clientOrderId} is not open` : ''}`,
    });
    const plan = planStop({ ...base, preferred: trade.stop?.price ?? null });
    if (plan.ok) {
      const id = clientOrderId(
        trade.tradeId,
        STOP_PURPOSE,
        planSeq(trade.stop?.clientOrderId ?? null, plan.qty),
      );
      ctx.actions.push({
        type: 'PLACE_STOP',
        symbol,
        tradeId: trade.tradeId,
        side: position.side,
        ...stopOrder(plan, position.side, id),
      });
    } else {
      fallback(ctx, plan, position, trade.tradeId, trade.tradeId);
      closing = plan.why === 'not-placeable';
    }
  } else {
    const stopQty = remainingQty(chosen);
    if (!stopQty.eq(expectedQty)) {
      ctx.findings.push({
        kind: 'STOP_QTY_MISMATCH',
        symbol,
        tradeId: trade.tradeId,
        orderId: chosen.id,
        ...(chosen.clientOrderId !== undefined ? { clientOrderId: chosen.clientOrderId } : {}),
        stopQty,
        expectedQty,
        detail: `stop ${chosen.id} covers ${decStr(stopQty)}, the position is ${decStr(position.qty)} (${decStr(expectedQty)} on the lot step)`,
      });
      const plan = planStop({ ...base, preferred: orderPrice(chosen) ?? trade.stop?.price ?? null });
      if (plan.ok) {
        const id = clientOrderId(
          trade.tradeId,
          STOP_PURPOSE,
          planSeq(chosen.clientOrderId ?? chosen.id, plan.qty),
        );
        ctx.actions.push({
          type: 'REPLACE_STOP',
          symbol,
          tradeId: trade.tradeId,
          side: position.side,
          ...stopOrder(plan, position.side, id),
          cancelOrderId: chosen.id,
          ...(chosen.clientOrderId !== undefined ? { cancelClientOrderId: chosen.clientOrderId } : {}),
        });
      } else {
        fallback(ctx, plan, position, trade.tradeId, trade.tradeId);
        closing = plan.why === 'not-placeable';
      }
    }
  }
  // A position being closed at market is settled from its close fill; fixing its qty first is moot.
  if (fix !== null && !closing) ctx.actions.push(fix);
}
