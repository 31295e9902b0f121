/**
 * The daily report (EventBridge Scheduler cron, 00:05 UTC): analytics per account for TODAY, WEEK, MONTH
 * and ALL over the stored closed trades, stored (`REPORT#<accountId>`) and published to the report topic
 * (`REPORT_TOPIC_ARN`, the alarm topic). Any event is accepted (the schedule's or `{}` from the console);
 * the report is as of the invocation time. Returns the {@link DailyReport}.
 */
import { randomUUID } from 'node:crypto';
import { runDailyReport, type DailyReport } from '../services/reporting.js';
import { getContext } from './shared/context.js';
import { logger } from './shared/powertools.js';
import { getReportPublisher } from './shared/publisher.js';
import { recordWorkerTick } from './shared/worker-ticks.js';

/** The reporter handler. */
export async function handler(_event?: unknown, lambda?: { awsRequestId?: string }): Promise<DailyReport> {
  const ctx = await getContext();
  const now = ctx.clock.now();
  try {
    const report = await runDailyReport(ctx, getReportPublisher(), {
      now,
      runId: lambda?.awsRequestId ?? `report-${now}-${randomUUID().slice(0, 8)}`,
    });
    const failed = report.accounts.filter((a) => !a.ok).map((a) => a.accountId);
    logger.info('daily report published', { runId: report.runId, accounts: report.accounts.length, failed });
    await recordWorkerTick(ctx, 'reporter', now, 1, { runId: report.runId, failed });
    return report;
  } finally {
    ctx.metrics.flush();
  }
}
