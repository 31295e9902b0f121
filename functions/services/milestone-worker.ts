/**
 * The milestone worker: one tick feeds the current price to the milestone tracker of every live and shadow
 * trade (see docs/workers.md).
 *
 * - Live: LIVE, WARNING, CRITICAL (phase `live`, stored in `milestones`, event LIVE_MILESTONE_REACHED).
 * - Shadow: POST_TRADE_MONITOR and SKIPPED (phase `shadow`, stored in `shadowMilestones`, event
 *   SHADOW_MILESTONE_REACHED), while `now` is before `data.shadowEndsAt`. A shadow trade whose window has
 *   ended is listed in the report's `due` and not observed; the workflow's wait and Finalize complete it.
 *
 * One `fetchTickers` call per account gives one price per symbol. Each threshold reached is written with
 * `recordMilestone` (the first value wins, never overwritten), then one audit event per threshold (command
 * id `milestone:<phase>:<threshold>`, so a repeated tick never writes it twice); the last event of a tick
 * also stores the tracker. The tracker is kept across the live → shadow phase change, so a threshold
 * reached while live is never reached again in the shadow phase.
 */
import type { MilestoneHit, MilestonePhase } from '../core/milestones.js';
import { observeMilestones } from '../core/milestones.js';
import { LIVE_STATUSES, type TradeStatus } from '../core/lifecycle.js';
import { decodeTracker, encodeTracker } from '../core/trade-codec.js';
import type { Decimal } from '../core/decimal.js';
import type { Clock } from '../ports/clock.js';
import { VersionConflictError } from '../ports/errors.js';
import type { JsonMap, TradeRecord, TradeStore } from '../ports/trade-store.js';
import {
  boundedPool,
  DATA,
  errorText,
  METRIC,
  NO_METRICS,
  storedTracker,
  tickersFor,
  type MetricsSink,
  type WorkerAccount,
} from './worker-support.js';

/** Statuses measured in the shadow phase. */
export const SHADOW_STATUSES: readonly TradeStatus[] = ['POST_TRADE_MONITOR', 'SKIPPED'];

/** Options of {@link MilestoneWorker}. */
export interface MilestoneWorkerOptions {
  store: TradeStore;
  clock: Clock;
  /** The accounts to watch (only `accountId` and `exchange` are used). */
  accounts: readonly Pick<WorkerAccount, 'accountId' | 'exchange'>[];
  metrics?: MetricsSink;
  /** Trades processed at once; default 3. */
  concurrency?: number;
}

/** A threshold reached in a tick. */
export interface MilestoneTickHit {
  tradeId: string;
  threshold: number;
  phase: MilestonePhase;
  /** The stored seconds (the first recorded value when another writer was first). */
  seconds: number;
  /** False when the milestone was already stored (this tick did not write it). */
  recorded: boolean;
}

/** A shadow trade whose window has ended. */
export interface MilestoneDue {
  tradeId: string;
  accountId: string;
  status: TradeStatus;
  shadowEndsAt: number;
}

/** What happened to one trade. */
export type MilestoneOutcome =
  'NO_CHANGE' | 'REACHED' | 'DUE' | 'SKIPPED_NO_TRACKER' | 'SKIPPED_NO_PRICE' | 'FAILED';

/** The report of one tick. */
export interface MilestoneTickReport {
  at: number;
  durationMs: number;
  hits: MilestoneTickHit[];
  due: MilestoneDue[];
  results: { tradeId: string; outcome: MilestoneOutcome; detail?: string }[];
  errors: string[];
}

interface Work {
  tradeId: string;
  accountId: string;
  phase: MilestonePhase;
  price: Decimal;
}

/** The milestone worker (see the file comment). */
export class MilestoneWorker {
  private readonly store: TradeStore;
  private readonly clock: Clock;
  private readonly accounts: MilestoneWorkerOptions['accounts'];
  private readonly metrics: MetricsSink;
  private readonly concurrency: number;

  constructor(opts: MilestoneWorkerOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.accounts = opts.accounts;
    this.metrics = opts.metrics ?? NO_METRICS;
    this.concurrency = opts.concurrency ?? 3;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${String(opts.concurrency)}`);
  }

  /** Runs one tick at `now` (epoch ms): the time of the observations. */
  async tick(now: number): Promise<MilestoneTickReport> {
    if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer epoch ms, got ${now}`);
    const started = this.clock.now();
    const report: MilestoneTickReport = {
      at: now,
      durationMs: 0,
      hits: [],
      due: [],
      results: [],
      errors: [],
    };
    for (const account of this.accounts) {
      try {
        const work = await this.collect(account, report);
        await boundedPool(work, this.concurrency, async (w) => {
          try {
            await this.process(w, now, report);
          } catch (e) {
            report.results.push({ tradeId: w.tradeId, outcome: 'FAILED', detail: errorText(e) });
          }
        });
      } catch (e) {
        report.errors.push(`account ${account.accountId}: ${errorText(e)}`);
      }
    }
    const reached = report.hits.filter((h) => h.recorded).length;
    if (reached > 0) this.metrics.count(METRIC.MilestonesReached, reached);
    report.durationMs = this.clock.now() - started;
    return report;
  }

  private async collect(
    account: MilestoneWorkerOptions['accounts'][number],
    report: MilestoneTickReport,
  ): Promise<Work[]> {
    const open = (await this.store.listOpenTrades({ accountId: account.accountId })).filter(
      (s) => LIVE_STATUSES.includes(s.status) || SHADOW_STATUSES.includes(s.status),
    );
    if (open.length === 0) return [];
    const tickers = await tickersFor(account.exchange, [...new Set(open.map((s) => s.symbol))]);
    const work: Work[] = [];
    for (const s of open) {
      const t = tickers.get(s.symbol);
      if (!t) {
        report.results.push({
          tradeId: s.tradeId,
          outcome: 'SKIPPED_NO_PRICE',
          detail: `no ticker for ${s.symbol}`,
        });
        continue;
      }
      work.push({
        tradeId: s.tradeId,
        accountId: s.accountId,
        phase: LIVE_STATUSES.includes(s.status) ? 'live' : 'shadow',
        price: t.last,
      });
    }
    return work;
  }

  private async process(w: Work, now: number, report: MilestoneTickReport): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const trade = await this.store.getTrade(w.tradeId);
      if (trade === null) return;
      const phase: MilestonePhase | null = LIVE_STATUSES.includes(trade.status)
        ? 'live'
        : SHADOW_STATUSES.includes(trade.status)
          ? 'shadow'
          : null;
      if (phase === null) {
        report.results.push({ tradeId: w.tradeId, outcome: 'NO_CHANGE', detail: `trade is ${trade.status}` });
        return;
      }
      if (phase === 'shadow') {
        const end = trade.data[DATA.shadowEndsAt];
        if (typeof end === 'number' && now >= end) {
          report.due.push({
            tradeId: trade.tradeId,
            accountId: trade.accountId,
            status: trade.status,
            shadowEndsAt: end,
          });
          report.results.push({ tradeId: w.tradeId, outcome: 'DUE' });
          return;
        }
      }
      const encoded = storedTracker(trade);
      if (encoded === null) {
        report.results.push({
          tradeId: w.tradeId,
          outcome: 'SKIPPED_NO_TRACKER',
          detail: 'no stored tracker',
        });
        return;
      }
      const { tracker, hits } = observeMilestones(decodeTracker(encoded), w.price, now, phase);
      if (hits.length === 0) {
        report.results.push({ tradeId: w.tradeId, outcome: 'NO_CHANGE' });
        return;
      }
      try {
        const written = await this.write(trade, hits, encodeTracker(tracker) as unknown as JsonMap, now);
        report.hits.push(...written);
        report.results.push({ tradeId: w.tradeId, outcome: 'REACHED' });
        return;
      } catch (e) {
        // Another writer moved the trade: re-read and re-observe (written milestones are kept, events are no-ops).
        if (!(e instanceof VersionConflictError) || attempt >= 3) throw e;
      }
    }
  }

  private async write(
    trade: TradeRecord,
    hits: MilestoneHit[],
    tracker: JsonMap,
    now: number,
  ): Promise<MilestoneTickHit[]> {
    const out: MilestoneTickHit[] = [];
    let version = trade.version;
    for (const [i, hit] of hits.entries()) {
      const kind = hit.phase;
      const stored = await this.store.recordMilestone(trade.tradeId, kind, hit.threshold, hit.seconds);
      const patch: JsonMap = {
        lastMilestone: {
          threshold: hit.threshold,
          seconds: stored.seconds,
          phase: hit.phase,
          price: hit.price.toFixed(),
          at: hit.at,
        },
      };
      if (i === hits.length - 1) patch[DATA.tracker] = tracker;
      const r = await this.store.recordEvent(trade.tradeId, {
        expectedVersion: version,
        type: kind === 'live' ? 'LIVE_MILESTONE_REACHED' : 'SHADOW_MILESTONE_REACHED',
        patch,
        at: now,
        commandId: `milestone:${kind}:${hit.threshold}`,
      });
      version = r.trade.version;
      out.push({
        tradeId: trade.tradeId,
        threshold: hit.threshold,
        phase: hit.phase,
        seconds: stored.seconds,
        recorded: stored.recorded,
      });
    }
    return out;
  }
}
