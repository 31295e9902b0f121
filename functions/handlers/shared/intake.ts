/**
 * Intake of one signal (HTTP and SQS): validate, create the trade (PENDING, idempotent by the trade id
 * `<accountId>.<signalId>`) and start the execution named by the trade id. Invalid input writes nothing.
 * A repeated signal finds the trade and the execution already there: one trade, one execution.
 */
import { accountConfig } from '../../core/config.js';
import { ValidationError } from '../../core/schema-util.js';
import { parseSignal, tradeIdFor } from '../../core/signal.js';
import type { JsonMap } from '../../ports/trade-store.js';
import type { HandlerContext } from './context.js';

/** Result of {@link acceptSignal}. */
export type IntakeResult =
  { ok: true; tradeId: string; created: boolean; started: boolean } | { ok: false; errors: string[] };

/** Validates and accepts one raw signal; see the file comment. Storage and workflow errors are thrown. */
export async function acceptSignal(ctx: HandlerContext, raw: unknown): Promise<IntakeResult> {
  const parsed = parseSignal(raw);
  if (!parsed.ok) return { ok: false, errors: parsed.errors };
  const signal = parsed.signal;
  const config = await ctx.config.getConfig();
  let exchange: string;
  try {
    exchange = accountConfig(config, signal.accountId).exchange;
  } catch (e) {
    if (e instanceof ValidationError) return { ok: false, errors: e.problems.map((p) => `accountId: ${p}`) };
    throw e;
  }
  if (exchange !== signal.exchange)
    return {
      ok: false,
      errors: [
        `exchange: account ${signal.accountId} trades on ${exchange}, the signal names ${signal.exchange}`,
      ],
    };
  const tradeId = tradeIdFor(signal);
  const { created } = await ctx.store.createTrade({
    tradeId,
    accountId: signal.accountId,
    symbol: signal.symbol,
    data: {
      signal: raw as JsonMap,
      exchange: signal.exchange,
      side: signal.side,
      leverage: signal.leverage ?? null,
    },
    at: ctx.clock.now(),
  });
  const { started } = await ctx.workflow.startExecution(tradeId, {
    tradeId,
    accountId: signal.accountId,
    symbol: signal.symbol,
  });
  return { ok: true, tradeId, created, started };
}
