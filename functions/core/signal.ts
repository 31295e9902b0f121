/**
 * The trading signal: what a strategy, a TradingView alert or a person sends to open a trade.
 *
 * ```json
 * { "signalId": "s-001", "accountId": "main", "exchange": "binanceusdm", "symbol": "BTC/USDT:USDT",
 *   "side": "long", "entry": "market", "price": "27500", "stop": { "pct": "1" }, "riskPct": "0.5",
 *   "rr": "2", "leverage": 10, "tags": ["breakout"] }
 * ```
 * Validation is total: a signal either parses completely or is rejected with every problem listed;
 * nothing is ever half-acted on.
 */
import { z } from 'zod';
import type { Decimal } from './decimal.js';
import { EXCHANGES, type ExchangeId } from './config.js';
import { decimalField, formatIssues } from './schema-util.js';
import type { Side } from './types.js';

const SIGNAL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,46}$/;
const ACCOUNT_ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** ccxt unified symbols: `BTC/USDT` (spot) or `BTC/USDT:USDT` (linear perpetual). */
const SYMBOL_RE = /^[A-Z0-9]{1,20}\/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$/;

const STOP_KINDS = ['pct', 'price', 'atrMultiple'] as const;
/** Exactly one of the three stop kinds; a bad value is reported at its own path (`stop.pct: …`). */
const stopSchema = z
  .strictObject({
    pct: decimalField({ positive: true, max: '50' }).optional(),
    price: decimalField({ positive: true }).optional(),
    atrMultiple: decimalField({ positive: true, max: '50' }).optional(),
  })
  .superRefine((stop, ctx) => {
    const given = STOP_KINDS.filter((k) => stop[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `stop must have exactly one of pct, price or atrMultiple, got ${given.length === 0 ? 'none' : given.join(' and ')}`,
      });
    }
  })
  .transform((stop): StopSpec => {
    if (stop.pct !== undefined) return { pct: stop.pct };
    if (stop.price !== undefined) return { price: stop.price };
    return { atrMultiple: stop.atrMultiple! };
  });

/** `"market"`, `{"type":"market"}` or `{"type":"limit","price":…}`; a bad price is reported as `entry.price: …`. */
const entrySchema = z.preprocess(
  (raw) => (raw === 'market' ? { type: 'market' } : raw),
  z
    .strictObject(
      { type: z.enum(['market', 'limit']), price: decimalField({ positive: true }).optional() },
      { error: 'entry must be "market", {"type":"market"} or {"type":"limit","price":…}' },
    )
    .superRefine((entry, ctx) => {
      if (entry.type === 'limit' && entry.price === undefined) {
        ctx.addIssue({ code: 'custom', path: ['price'], message: 'a limit entry needs a price' });
      }
      if (entry.type === 'market' && entry.price !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['price'],
          message: 'a market entry takes no price; use "price" at the top level for the reference',
        });
      }
    })
    .transform((entry): EntrySpec =>
      entry.type === 'limit' ? { type: 'limit', price: entry.price! } : { type: 'market' },
    ),
);

export const signalSchema = z
  .strictObject({
    signalId: z.string().regex(SIGNAL_ID_RE, 'signalId must be 1–47 letters, digits, "_", "." or "-"'),
    accountId: z.string().regex(ACCOUNT_ID_RE, 'accountId must be 1–32 lowercase letters, digits or dashes'),
    exchange: z.enum(EXCHANGES),
    symbol: z.string().regex(SYMBOL_RE, 'symbol must be a ccxt unified symbol such as "BTC/USDT:USDT"'),
    side: z.enum(['long', 'short']),
    entry: entrySchema,
    /** The price when the signal was made: the slippage guard's reference and the shadow entry of a skipped signal. */
    price: decimalField({ positive: true }).optional(),
    stop: stopSchema,
    riskPct: decimalField({ positive: true, max: '100' }).optional(),
    riskAmount: decimalField({ positive: true }).optional(),
    /** Reward-to-risk ratio: the target is entry ± rr × |entry − stop|. */
    rr: decimalField({ positive: true, max: '100' }),
    leverage: z.int().min(1).max(125).optional(),
    tags: z.array(z.string().min(1).max(64)).max(20).optional(),
    /** When the signal was made (ISO 8601); defaults to when it was received. */
    at: z.iso.datetime({ offset: true }).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.riskPct === undefined) === (s.riskAmount === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['riskPct'],
        message: 'give exactly one of riskPct or riskAmount',
      });
    }
    const ref = s.entry.type === 'limit' ? s.entry.price : s.price;
    if ('price' in s.stop && ref !== undefined) {
      const below = s.stop.price.lt(ref);
      if (s.side === 'long' ? !below : below || s.stop.price.eq(ref)) {
        ctx.addIssue({
          code: 'custom',
          path: ['stop', 'price'],
          message: `a ${s.side} stop must be ${s.side === 'long' ? 'below' : 'above'} the entry price ${ref.toFixed()}, got ${s.stop.price.toFixed()}`,
        });
      }
    }
  });

export type StopSpec = { pct: Decimal } | { price: Decimal } | { atrMultiple: Decimal };
export type EntrySpec = { type: 'market' } | { type: 'limit'; price: Decimal };

/** A validated signal. */
export interface Signal {
  signalId: string;
  accountId: string;
  exchange: ExchangeId;
  symbol: string;
  side: Side;
  entry: EntrySpec;
  price?: Decimal;
  stop: StopSpec;
  riskPct?: Decimal;
  riskAmount?: Decimal;
  rr: Decimal;
  leverage?: number;
  tags?: string[];
  at?: string;
}

export type SignalParseResult = { ok: true; signal: Signal } | { ok: false; errors: string[] };

/** Validates a raw signal; on failure returns every problem as `path: message`. */
export function parseSignal(raw: unknown): SignalParseResult {
  const result = signalSchema.safeParse(raw);
  if (!result.success) return { ok: false, errors: formatIssues(result.error) };
  return { ok: true, signal: result.data };
}

/**
 * The trade id of a signal: `<accountId>.<signalId>`. Deterministic, so a repeated signal maps to the same
 * trade (idempotent creation) and the same Step Functions execution name (at most 80 characters, only
 * characters execution names allow).
 */
export function tradeIdFor(signal: Pick<Signal, 'accountId' | 'signalId'>): string {
  return `${signal.accountId}.${signal.signalId}`;
}

/** The reference price of a signal: the limit price, else the price it carried, else undefined. */
export function signalReferencePrice(signal: Signal): Decimal | undefined {
  return signal.entry.type === 'limit' ? signal.entry.price : signal.price;
}
