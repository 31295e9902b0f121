/**
 * The daily performance report: for every configured account, the core's analytics for TODAY, WEEK, MONTH
 * and ALL over the stored closed trades (`accountPerformance`), stored as one item per account
 * (`putPerformanceReport`) and published as one message to the report topic. An account that cannot be
 * reported (no equity configured, equity ≤ 0) is reported with its reason and does not stop the others.
 */
import { ANALYTICS_PERIODS } from '../core/analytics.js';
import type { JsonMap } from '../ports/trade-store.js';
import { accountPerformance, performanceJson, type OperationsDeps } from './operations.js';

/** Publishes one report message (SNS in AWS; a recorder in tests and locally). */
export interface ReportPublisher {
  publish(subject: string, message: string): Promise<void>;
}

/** One account's part of a daily report. */
export type AccountReport =
  | { accountId: string; ok: true; periods: JsonMap[]; stored: boolean }
  | { accountId: string; ok: false; error: string };

/** Result of {@link runDailyReport}. */
export interface DailyReport {
  runId: string;
  at: number;
  accounts: AccountReport[];
  /** True when the message was handed to the publisher. */
  published: boolean;
  subject: string;
  message: string;
}

const fmt = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '–';
const pct = (v: unknown): string => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : fmt(v));
const ratio = (v: unknown): string => (typeof v === 'number' ? v.toFixed(2) : fmt(v));

/** The plain-text line of one period (trades, win rate, net PnL, profit factor, expectancy, drawdown). */
export function periodLine(p: JsonMap): string {
  const r = p.report as JsonMap;
  const dd = r.maxDrawdown as JsonMap;
  return (
    `${fmt(p.period).padEnd(5)} trades ${fmt(r.trades)}, win rate ${pct(r.winRate)}, net PnL ${fmt(r.netPnl)}, ` +
    `profit factor ${ratio(r.profitFactor)}, expectancy ${fmt(r.expectancy)}, ` +
    `max drawdown ${fmt(dd.absolute)} (${pct(dd.relative)}), Sharpe ${ratio(r.sharpe)}`
  );
}

/** Computes, stores and publishes the report of every configured account as of `now`. */
export async function runDailyReport(
  deps: Pick<OperationsDeps, 'store' | 'config'>,
  publisher: ReportPublisher,
  input: { now: number; runId: string },
): Promise<DailyReport> {
  const config = await deps.config.getConfig();
  const accounts: AccountReport[] = [];
  for (const accountId of config.accounts.keys()) {
    try {
      const periods: JsonMap[] = [];
      for (const period of ANALYTICS_PERIODS)
        periods.push(
          performanceJson(await accountPerformance(deps, { accountId, period, now: input.now }), false),
        );
      const { created } = await deps.store.putPerformanceReport({
        accountId,
        runId: input.runId,
        at: input.now,
        report: { runId: input.runId, at: input.now, periods },
      });
      accounts.push({ accountId, ok: true, periods, stored: created });
    } catch (e) {
      accounts.push({ accountId, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  const day = new Date(input.now).toISOString().slice(0, 10);
  const subject = `Tradewarden daily report ${day}`;
  const lines = [`${subject} (run ${input.runId}, as of ${new Date(input.now).toISOString()})`, ''];
  for (const a of accounts) {
    lines.push(`Account ${a.accountId}`);
    if (a.ok) lines.push(...a.periods.map((p) => `  ${periodLine(p)}`));
    else lines.push(`  not reported: ${a.error}`);
    lines.push('');
  }
  const message = lines.join('\n');
  await publisher.publish(subject, message);
  return { runId: input.runId, at: input.now, accounts, published: true, subject, message };
}
