/**
 * The layout of a trade record's `data` map (the JSON-safe details the core owns; every decimal a string)
 * and typed readers for it. Handlers and workers read and patch `data` only through these names:
 * The keys shared with the scheduled workers (`position`, `stopOrderId`, `stopSeq`, `tracker`,
 * `shadowEndsAt`, `exitRequested`, `liveTaskToken`) have the same names as `DATA` in `worker-support.ts`.
 *
 * | key | written by | contents |
 * |---|---|---|
 * | `signal` | intake | the signal as received (validated; decimals as strings) |
 * | `exchange`, `side`, `leverage` | intake | copies of the signal's fields used everywhere |
 * | `plan` | Evaluate | {@link PlanData}: sized quantity, planned stop / target, max loss |
 * | `skip` | Evaluate | `{code, reason}` of a SKIPPED trade |
 * | `entry` | order executor | {@link EntryData}: the entry fill |
 * | `position` | order executor, stop manager | {@link EncodedPosition} (trade-codec); its `stop` is the stop on the exchange |
 * | `stopOrderId`, `stopSeq` | order executor, stop manager | exchange id and client-order-id sequence of that stop |
 * | `tracker` | order executor (LIVE) or Evaluate (SKIPPED, from the signal's price); milestone worker | {@link EncodedTracker}, kept across the live → shadow phase change |
 * | `shadowEndsAt` | Evaluate (SKIPPED), lifecycle task `startPostTrade` | end of the post-trade (shadow) window, epoch ms |
 * | `fillToStopMs` | order executor | stop acknowledged − fill seen, ms |
 * | `liveTaskToken` | lifecycle task `armLive` | the task token of the `AwaitExit` state |
 * | `exitRequested` | workers | the exit a worker handed to the workflow (see `worker-support.ts`) |
 * | `exit` | order executor / settle | {@link ExitData}: why and how the position ended |
 * | `reconSettlement` | reconciler | the settlement the reconciler found for a trade whose position is gone (its PnL from the closing fills, before the entry fee) |
 * | `externalFills` | reconciler | {@link ExternalFillData}[]: closing fills attributed to the trade that are not its own orders (a close by hand); one per order id + time + price |
 * | `settlement` | lifecycle task `settle` | {@link SettlementData}: realized PnL from the trade's own fills and its `externalFills` |
 * | `final` | lifecycle task `finalize` | `seconds_to_N_pct` columns |
 * | `failure` | lifecycle task `markFailed` | `{error, cause}` of a failed execution |
 */
import { decodePosition, decodeTracker } from '../core/trade-codec.js';
import type { EncodedPosition, EncodedTracker } from '../core/trade-codec.js';
import type { MilestoneTracker } from '../core/milestones.js';
import type { PositionState, StopRules } from '../core/stop-manager.js';
import type { Side } from '../core/types.js';
import { D, type Decimal } from '../core/decimal.js';
import type { JsonMap, JsonValue, TradeRecord } from '../ports/trade-store.js';

/** What Evaluate decided for an entered trade (decimals as strings). */
export interface PlanData {
  qty: string;
  /** The price sizing assumed for the fill (limit price, or the last price for a market entry). */
  expectedEntry: string;
  /** The signal's reference price (slippage guard). */
  referencePrice: string;
  entryType: 'market' | 'limit';
  /** Limit price of a limit entry. */
  limitPrice: string | null;
  stop: string;
  takeProfit: string;
  maxLoss: string;
  leverage: number;
  /** ATR used by an `atrMultiple` stop (re-used when the exits are re-planned from the fill). */
  atr: string | null;
}

/** The entry fill. */
export interface EntryData {
  clientOrderId: string;
  orderId: string;
  requestedQty: string;
  filledQty: string;
  avgPrice: string;
  /** When the executor saw the fill (clock port, epoch ms). */
  filledAt: number;
  partial: boolean;
  /** Realized slippage in basis points of the reference price (positive = adverse), when known. */
  slippageBps: string | null;
}

/** How the position ended. */
export interface ExitData {
  reason: string;
  /** Exit order fill, when the engine closed the position. */
  orderId: string | null;
  filledQty: string | null;
  avgPrice: string | null;
  at: number;
}

/**
 * A closing fill the reconciler attributed to the trade that is not one of the trade's own orders (a close
 * by hand, a liquidation): the part of the fill the trade is charged with.
 */
export interface ExternalFillData {
  orderId: string;
  clientOrderId?: string;
  side: 'buy' | 'sell';
  /** The qty of the fill attributed to the trade. */
  qty: string;
  price: string;
  /** The fill's fee pro rata to `qty`. */
  fee: string;
  /** Fill time on the exchange, epoch ms. */
  at: number;
  /** The reconciliation action that attributed it (`SETTLE_TRADE` or `FIX_QUANTITY`) and its run. */
  action?: string;
  runId?: string;
}

/** Realized result of a closed trade, from the exchange's fills. */
export interface SettlementData {
  realizedPnl: string;
  grossPnl: string;
  fees: string;
  entryQty: string;
  exitQty: string;
  avgEntry: string | null;
  avgExit: string | null;
  /** Number of fills counted (own and external). */
  fills: number;
  /** How many of them are external fills (`data.externalFills`); absent in settlements before they were counted. */
  externalFills?: number;
  /** True when the entry is the adopted position (`data.adopted`: qty at its average entry price, fee unknown). */
  adoptedEntry?: boolean;
  settledAt: number;
}

function isMap(v: JsonValue | undefined): v is JsonMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `data[key]` as a map, or null when absent; throws a TypeError naming the key when it is not a map. */
export function dataMap(trade: Pick<TradeRecord, 'tradeId' | 'data'>, key: string): JsonMap | null {
  const v = trade.data[key];
  if (v === undefined || v === null) return null;
  if (!isMap(v)) throw new TypeError(`trade ${trade.tradeId}: data.${key} is not an object`);
  return v;
}

/** `data[key]` as a string, or null when absent. */
export function dataString(trade: Pick<TradeRecord, 'tradeId' | 'data'>, key: string): string | null {
  const v = trade.data[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new TypeError(`trade ${trade.tradeId}: data.${key} is not a string`);
  return v;
}

/** The trade's side (`data.side`). */
export function tradeSide(trade: Pick<TradeRecord, 'tradeId' | 'data'>): Side {
  const s = trade.data.side;
  if (s !== 'long' && s !== 'short')
    throw new TypeError(`trade ${trade.tradeId}: data.side is ${JSON.stringify(s)}`);
  return s;
}

/** The stored plan, or null before Evaluate. */
export function readPlan(trade: Pick<TradeRecord, 'tradeId' | 'data'>): PlanData | null {
  return dataMap(trade, 'plan') as unknown as PlanData | null;
}

/** The stored entry fill, or null. */
export function readEntry(trade: Pick<TradeRecord, 'tradeId' | 'data'>): EntryData | null {
  return dataMap(trade, 'entry') as unknown as EntryData | null;
}

/** The stop resting on the exchange (`stopOrderId`, `stopSeq`), or null when none is recorded. */
export function readStop(
  trade: Pick<TradeRecord, 'tradeId' | 'data'>,
): { orderId: string; seq: number } | null {
  const orderId = dataString(trade, 'stopOrderId');
  if (orderId === null) return null;
  const seq = trade.data.stopSeq;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0)
    throw new TypeError(`trade ${trade.tradeId}: data.stopSeq is not an integer ≥ 0`);
  return { orderId, seq };
}

/** The live position decoded with the rules now in force, or null when none is stored. */
export function readPosition(
  trade: Pick<TradeRecord, 'tradeId' | 'data'>,
  rules: StopRules,
): PositionState | null {
  const e = dataMap(trade, 'position');
  return e === null ? null : decodePosition(e as unknown as EncodedPosition, rules);
}

/** The stored milestone tracker, or null. */
export function readTracker(trade: Pick<TradeRecord, 'tradeId' | 'data'>): MilestoneTracker | null {
  const e = dataMap(trade, 'tracker');
  return e === null ? null : decodeTracker(e as unknown as EncodedTracker);
}

/**
 * The external fills attributed to the trade (`data.externalFills`), in the recorded order; empty when none.
 * Throws a TypeError naming the trade and the entry when the list cannot be read.
 */
export function readExternalFills(trade: Pick<TradeRecord, 'tradeId' | 'data'>): ExternalFillData[] {
  const v = trade.data.externalFills;
  if (v === undefined || v === null) return [];
  const where = `trade ${trade.tradeId}: data.externalFills`;
  if (!Array.isArray(v)) throw new TypeError(`${where} is not a list`);
  return v.map((e, i) => {
    if (!isMap(e)) throw new TypeError(`${where}[${i}] is not an object`);
    const decimal = (k: string): string => {
      const x = e[k];
      if (typeof x !== 'string' || x.trim() === '' || !new D(x).isFinite())
        throw new TypeError(`${where}[${i}].${k} is not a decimal string`);
      return x;
    };
    const orderId = e.orderId;
    if (typeof orderId !== 'string' || orderId === '')
      throw new TypeError(`${where}[${i}].orderId is not a non-empty string`);
    if (e.side !== 'buy' && e.side !== 'sell') throw new TypeError(`${where}[${i}].side is not buy or sell`);
    if (typeof e.at !== 'number' || !Number.isFinite(e.at))
      throw new TypeError(`${where}[${i}].at is not a time`);
    const out: ExternalFillData = {
      orderId,
      side: e.side,
      qty: decimal('qty'),
      price: decimal('price'),
      fee: decimal('fee'),
      at: e.at,
    };
    if (typeof e.clientOrderId === 'string') out.clientOrderId = e.clientOrderId;
    if (typeof e.action === 'string') out.action = e.action;
    if (typeof e.runId === 'string') out.runId = e.runId;
    return out;
  });
}

/** The task token of the trade's LIVE wait, or null when it is not armed. */
export function liveTaskToken(trade: Pick<TradeRecord, 'tradeId' | 'data'>): string | null {
  return dataString(trade, 'liveTaskToken');
}

/** Converts a typed data object to a JSON map for a store patch. */
export function asJson<T extends object>(value: T): JsonMap {
  return value as unknown as JsonMap;
}

function decimalOrNull(v: JsonValue | undefined): Decimal | null {
  if (typeof v !== 'string' || v.trim() === '') return null;
  const d = new D(v);
  return d.isFinite() ? d : null;
}

/**
 * The realized PnL of a closed trade: `data.settlement.realizedPnl` (the settle task, from the trade's own
 * fills and its external fills), else `data.reconSettlement.realizedPnl` (a trade the reconciler closed); null when neither is
 * recorded yet (the trade is CLOSED but not settled).
 */
export function realizedPnlOf(trade: TradeRecord): Decimal | null {
  const settlement = dataMap(trade, 'settlement');
  const fromSettle = decimalOrNull(settlement?.realizedPnl);
  if (fromSettle !== null) return fromSettle;
  return decimalOrNull(dataMap(trade, 'reconSettlement')?.realizedPnl);
}
