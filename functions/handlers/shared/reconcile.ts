/**
 * Reconciliation from a handler: one {@link Reconciler} per configured account, built over the account's
 * exchange and order executor (`AccountRuntimes`), the LIVE-wait ender and the workflow (an adopted
 * position's execution is started by name = trade id, like intake). Kept per Lambda instance while the
 * account runtime is unchanged, so market rules are loaded once.
 */
import { accountConfig } from '../../core/config.js';
import {
  Reconciler,
  reconcileOptionsFor,
  reportJson,
  type ReconReportData,
  type ReconcilerSettings,
} from '../../services/reconciler.js';
import type { JsonMap } from '../../ports/trade-store.js';
import type { AccountRuntime } from './accounts.js';
import type { HandlerContext } from './context.js';

const cache = new Map<string, { runtime: AccountRuntime; reconciler: Reconciler }>();

/** The reconciler of `accountId` (throws a ValidationError naming the configured accounts when unknown). */
export async function reconcilerFor(
  ctx: HandlerContext,
  accountId: string,
  settings: Partial<ReconcilerSettings> = {},
): Promise<Reconciler> {
  const runtime = await ctx.accounts.account(accountId);
  const cached = cache.get(accountId);
  if (cached && cached.runtime === runtime && Object.keys(settings).length === 0) return cached.reconciler;
  const trading = accountConfig(await ctx.config.getConfig(), accountId).options;
  const reconciler = new Reconciler({
    store: ctx.store,
    exchange: runtime.exchange,
    executor: runtime.executor,
    clock: ctx.clock,
    options: { reconcile: reconcileOptionsFor(trading), trading, settings },
    liveWaits: ctx.liveWait,
    executions: {
      async startTradeExecution(tradeId) {
        const t = await ctx.store.getTrade(tradeId);
        if (t === null) throw new TypeError(`trade ${tradeId} does not exist; its execution cannot start`);
        return ctx.workflow.startExecution(tradeId, { tradeId, accountId: t.accountId, symbol: t.symbol });
      },
    },
    metrics: ctx.metrics,
    ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
  });
  if (Object.keys(settings).length === 0) cache.set(accountId, { runtime, reconciler });
  return reconciler;
}

/** One account's outcome in {@link reconcileAccounts}. */
export type AccountRun = { accountId: string; report: JsonMap } | { accountId: string; error: string };

/** Result of {@link reconcileAccounts}. */
export interface ReconcileRunResult {
  dryRun: boolean;
  accounts: string[];
  /** Total findings over every account that ran. */
  mismatches: number;
  runs: AccountRun[];
  /** Accounts whose run threw (their error is in `runs`). */
  failed: string[];
}

/** Reconciles each account in turn (dry or applied); an account that fails does not stop the others. */
export async function reconcileAccounts(
  ctx: HandlerContext,
  accountIds: readonly string[],
  dryRun: boolean,
  settings: Partial<ReconcilerSettings> = {},
): Promise<ReconcileRunResult> {
  const runs: AccountRun[] = [];
  let mismatches = 0;
  for (const accountId of accountIds) {
    try {
      const report: ReconReportData = await (
        await reconcilerFor(ctx, accountId, settings)
      ).run({
        accountId,
        dryRun,
      });
      mismatches += report.mismatches;
      runs.push({ accountId, report: reportJson(report) });
    } catch (e) {
      runs.push({ accountId, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  return {
    dryRun,
    accounts: [...accountIds],
    mismatches,
    runs,
    failed: runs.filter((r) => 'error' in r).map((r) => r.accountId),
  };
}
