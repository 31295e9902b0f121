/**
 * What the scheduled worker handlers share: the worker accounts (every configured account's exchange and
 * executor) and the loop of sub-minute ticks inside one invocation: the EventBridge schedule fires once a
 * minute and the invocation runs `60 / ticks.intervalSeconds` ticks (default 6, every 10 s), stopping early
 * when the Lambda's remaining time would not cover another tick.
 */
import type { WorkerAccount } from '../../services/worker-support.js';
import type { HandlerContext } from './context.js';

/** Every configured account as a worker account. */
export async function workerAccounts(ctx: HandlerContext): Promise<WorkerAccount[]> {
  const config = await ctx.config.getConfig();
  return Promise.all([...config.accounts.keys()].map((id) => ctx.accounts.account(id)));
}

/** The Lambda context fields the loop reads. */
export interface LoopContext {
  getRemainingTimeInMillis?: () => number;
}

/** Options of {@link runTicks}. */
export interface TickLoopOptions<R = unknown> {
  /** Ticks in this invocation; default 60 s / interval. */
  ticks?: number;
  /** Interval between tick starts, ms. */
  intervalMs: number;
  /** Waits `ms` (default: a real timer). */
  sleep?: (ms: number) => Promise<void>;
  lambda?: LoopContext;
  /** Time kept in reserve at the end of the invocation, ms (default 5000). */
  reserveMs?: number;
  /**
   * True for a tick that found nothing to work on: the invocation then ends early (an idle engine costs one
   * short tick a minute instead of a minute of Lambda time). Positions opened meanwhile already carry their
   * exchange stop and are picked up by the next scheduled invocation, within a minute.
   */
  idleWhen?: (report: R) => boolean;
}

/** Runs `tick` every `intervalMs` (by the clock), `ticks` times or until idle; returns the reports in order. */
export async function runTicks<R>(
  ctx: Pick<HandlerContext, 'clock'>,
  opts: TickLoopOptions<NoInfer<R>>,
  tick: (now: number) => Promise<R>,
): Promise<R[]> {
  if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${opts.intervalMs}`);
  const ticks = opts.ticks ?? Math.max(1, Math.floor(60_000 / opts.intervalMs));
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const reserve = opts.reserveMs ?? 5000;
  const start = ctx.clock.now();
  const reports: R[] = [];
  for (let i = 0; i < ticks; i++) {
    const due = start + i * opts.intervalMs;
    const wait = due - ctx.clock.now();
    const remaining = opts.lambda?.getRemainingTimeInMillis?.();
    if (remaining !== undefined && remaining < Math.max(wait, 0) + reserve) break;
    if (wait > 0) await sleep(wait);
    const report = await tick(ctx.clock.now());
    reports.push(report);
    if (opts.idleWhen?.(report)) break;
  }
  return reports;
}
