/**
 * Small helpers for writing a trade under optimistic concurrency: read the trade, decide, write with the
 * version read; on a version conflict (another writer moved the trade first) read again and decide again.
 * Every write carries a deterministic commandId, so a retried decision has at most one effect.
 */
import type { TradeStatus } from '../core/lifecycle.js';
import { TradeNotFoundError, VersionConflictError } from '../ports/errors.js';
import type { JsonMap, TradeRecord, TradeStore, TransitionResult } from '../ports/trade-store.js';

/** What {@link writeTrade}'s decide step asks for. */
export type TradeWrite =
  | { kind: 'transition'; to: TradeStatus; type: string; patch?: JsonMap; commandId: string }
  | { kind: 'event'; type: string; patch?: JsonMap; commandId: string }
  | { kind: 'none' };

/**
 * Reads the trade, asks `decide` what to write, and writes it with the version read; retries on
 * VersionConflictError up to `attempts` times (default 5). Returns the trade after the write (or as read
 * when nothing was written). Throws TradeNotFoundError when the trade does not exist.
 */
export async function writeTrade(
  store: TradeStore,
  tradeId: string,
  at: () => number,
  decide: (trade: TradeRecord) => TradeWrite,
  opts: { leaseToken?: number; attempts?: number } = {},
): Promise<{ trade: TradeRecord; applied: boolean }> {
  const attempts = opts.attempts ?? 5;
  for (let i = 1; ; i++) {
    const trade = await store.getTrade(tradeId);
    if (trade === null) throw new TradeNotFoundError(tradeId);
    const w = decide(trade);
    if (w.kind === 'none') return { trade, applied: false };
    const base = {
      expectedVersion: trade.version,
      type: w.type,
      at: at(),
      commandId: w.commandId,
      ...(w.patch ? { patch: w.patch } : {}),
      ...(opts.leaseToken !== undefined ? { leaseToken: opts.leaseToken } : {}),
    };
    try {
      const r: TransitionResult =
        w.kind === 'transition'
          ? await store.transition(tradeId, { ...base, to: w.to })
          : await store.recordEvent(tradeId, base);
      return r;
    } catch (e) {
      if (e instanceof VersionConflictError && i < attempts) continue;
      throw e;
    }
  }
}
