/**
 * The lifecycle-watch worker: one tick looks at every open position (LIVE, WARNING, CRITICAL) of each
 * account (see docs/workers.md):
 *
 * 1. **Time.** `timeoutDecision` from the entry fill: LIVE → WARNING at `warningMinutes` (180), WARNING →
 *    CRITICAL at `criticalMinutes` (240), one legal transition at a time (a trade found past both
 *    thresholds moves twice in the same tick). At CRITICAL with `enableAutomaticTimeout`, the LIVE wait is
 *    ended with reason TIMEOUT (emergency close by the workflow).
 * 2. **Health.** `healthScore` from the stored position, the symbol's price, and volume / ATR from recent
 *    candles (`fetchOHLCV`, fetched once per symbol per tick; unknown when the fetch fails or is short).
 *    WARNING → metric `HealthWarnings`; CRITICAL → metric `HealthCritical`, and with
 *    `riskMonitoring.emergencyCloseOnCritical` the LIVE wait is ended with reason HEALTH_CRITICAL.
 * 3. **Protection.** The exchange's positions and open orders are compared with the trade: an open position
 *    with no open reduce-only stop on the closing side is unprotected → metric `UnprotectedPositions` and,
 *    under the trade lease, `protectOrExit` at the stored stop at once (a stop that would trigger exits at
 *    market and ends the LIVE wait). Live stops whose trigger differs from the stored stop are reported.
 */
import { averageTrueRange } from '../core/exits.js';
import { D } from '../core/decimal.js';
import { healthScore, type HealthResult } from '../core/health.js';
import { LIVE_STATUSES, timeoutDecision, type TradeStatus } from '../core/lifecycle.js';
import { clientOrderId } from '../core/reconciliation.js';
import type { TradingOptions } from '../core/config.js';
import type { EncodedPosition } from '../core/trade-codec.js';
import { closingOrderSide, type Candle } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { VersionConflictError } from '../ports/errors.js';
import type { ExchangeOrder, ExchangePosition, Ticker } from '../ports/exchange.js';
import type { JsonMap, TradeRecord, TradeStore } from '../ports/trade-store.js';
import {
  DATA,
  errorText,
  exitRequestJson,
  liveWaitEnded,
  METRIC,
  NO_METRICS,
  optionsOf,
  storedExitRequest,
  storedPosition,
  storedStop,
  tickersFor,
  type LiveExit,
  type LiveWaitEnder,
  type MetricsSink,
  type WorkerAccount,
  type WorkerConfigSource,
} from './worker-support.js';

/** Options of {@link LifecycleWatchWorker}. */
export interface LifecycleWatchWorkerOptions {
  store: TradeStore;
  clock: Clock;
  config: WorkerConfigSource;
  accounts: readonly WorkerAccount[];
  liveWait: LiveWaitEnder;
  metrics?: MetricsSink;
  /** Lease owner name; default `lifecycle-watch`. */
  owner?: string;
  /** Trade lease time while re-protecting, ms; default 30 000. */
  leaseMs?: number;
  /** Candle timeframe for volume and ATR; default `1m` (60 000 ms). */
  timeframe?: { name: string; ms: number };
  /** Candles in the "recent" volume window; default 5. The average is over the candles before it. */
  volumeWindow?: number;
}

/** A health evaluation in the report. */
export interface HealthReportEntry {
  tradeId: string;
  score: number;
  level: HealthResult['level'];
  components: HealthResult['components'];
}

/** An unprotected position found in a tick and what was done. */
export interface UnprotectedEntry {
  tradeId: string;
  symbol: string;
  qty: string;
  action: 'protected' | 'exited' | 'lease-held' | 'failed';
  detail?: string;
}

/** The report of one tick. */
export interface LifecycleWatchTickReport {
  at: number;
  durationMs: number;
  transitions: { tradeId: string; from: TradeStatus; to: TradeStatus }[];
  exitsRequested: { tradeId: string; reason: LiveExit['reason']; detail: string }[];
  health: HealthReportEntry[];
  unprotected: UnprotectedEntry[];
  /** Trades whose exchange stop(s) differ from the stored stop (reported; reconciliation settles them). */
  stopMismatches: { tradeId: string; storedStop: string; exchangeStops: string[] }[];
  /** Trades in an open status with no position on the exchange (reported; reconciliation settles them). */
  positionsMissing: string[];
  errors: string[];
}

/** Market data of one symbol for one tick. */
interface SymbolData {
  ticker: Ticker | undefined;
  position: ExchangePosition | undefined;
  stops: ExchangeOrder[];
  candles: Promise<Candle[] | null>;
}

/** The lifecycle-watch worker (see the file comment). */
export class LifecycleWatchWorker {
  private readonly store: TradeStore;
  private readonly clock: Clock;
  private readonly config: WorkerConfigSource;
  private readonly accounts: readonly WorkerAccount[];
  private readonly liveWait: LiveWaitEnder;
  private readonly metrics: MetricsSink;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly timeframe: { name: string; ms: number };
  private readonly volumeWindow: number;

  constructor(opts: LifecycleWatchWorkerOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.config = opts.config;
    this.accounts = opts.accounts;
    this.liveWait = opts.liveWait;
    this.metrics = opts.metrics ?? NO_METRICS;
    this.owner = opts.owner ?? 'lifecycle-watch';
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.timeframe = opts.timeframe ?? { name: '1m', ms: 60_000 };
    this.volumeWindow = opts.volumeWindow ?? 5;
    if (!Number.isInteger(this.volumeWindow) || this.volumeWindow < 1)
      throw new RangeError(`volumeWindow must be an integer ≥ 1, got ${String(opts.volumeWindow)}`);
    if (!(this.timeframe.ms > 0)) throw new RangeError('timeframe.ms must be > 0');
  }

  /** Runs one tick at `now` (epoch ms). */
  async tick(now: number): Promise<LifecycleWatchTickReport> {
    if (!Number.isSafeInteger(now)) throw new RangeError(`now must be an integer epoch ms, got ${now}`);
    const started = this.clock.now();
    const report: LifecycleWatchTickReport = {
      at: now,
      durationMs: 0,
      transitions: [],
      exitsRequested: [],
      health: [],
      unprotected: [],
      stopMismatches: [],
      positionsMissing: [],
      errors: [],
    };
    const config = await this.config.getConfig();
    for (const account of this.accounts) {
      try {
        await this.account(account, optionsOf(config, account.accountId), now, report);
      } catch (e) {
        report.errors.push(`account ${account.accountId}: ${errorText(e)}`);
      }
    }
    if (report.unprotected.length > 0)
      this.metrics.count(METRIC.UnprotectedPositions, report.unprotected.length);
    report.durationMs = this.clock.now() - started;
    return report;
  }

  private async account(
    account: WorkerAccount,
    options: TradingOptions,
    now: number,
    report: LifecycleWatchTickReport,
  ): Promise<void> {
    const open = (await this.store.listOpenTrades({ accountId: account.accountId })).filter((s) =>
      LIVE_STATUSES.includes(s.status),
    );
    if (open.length === 0) return;
    const symbols = [...new Set(open.map((s) => s.symbol))];
    const ex = account.exchange;
    const [tickers, positions, orders] = await Promise.all([
      tickersFor(ex, symbols),
      ex.fetchPositions(symbols),
      Promise.all(symbols.map((s) => ex.fetchOpenOrders(s))),
    ]);
    const limit = Math.max(options.exits.atrPeriod + 1, 4 * this.volumeWindow);
    const data = new Map<string, SymbolData>();
    symbols.forEach((symbol, i) => {
      data.set(symbol, {
        ticker: tickers.get(symbol),
        position: positions.find((p) => p.symbol === symbol && p.qty.gt(0)),
        stops: (orders[i] ?? []).filter((o) => o.kind === 'stop' && o.reduceOnly && o.status === 'open'),
        candles: options.riskMonitoring.enabled
          ? this.candles(account, symbol, now, limit)
          : Promise.resolve(null),
      });
    });
    for (const s of open) {
      try {
        await this.trade(account, options, s.tradeId, data.get(s.symbol)!, now, report);
      } catch (e) {
        report.errors.push(`trade ${s.tradeId}: ${errorText(e)}`);
      }
    }
  }

  private async candles(
    account: WorkerAccount,
    symbol: string,
    now: number,
    limit: number,
  ): Promise<Candle[] | null> {
    try {
      const since = now - limit * this.timeframe.ms;
      const all = await account.exchange.fetchOHLCV(symbol, this.timeframe.name, since, limit);
      return all.filter((c) => c.openTime < now).sort((a, b) => a.openTime - b.openTime);
    } catch {
      return null; // unknown volume / ATR: no evidence of risk
    }
  }

  private async trade(
    account: WorkerAccount,
    options: TradingOptions,
    tradeId: string,
    sym: SymbolData,
    now: number,
    report: LifecycleWatchTickReport,
  ): Promise<void> {
    let trade = await this.store.getTrade(tradeId);
    if (trade === null || !LIVE_STATUSES.includes(trade.status)) return;
    const pos = storedPosition(trade);
    if (pos === null) {
      report.errors.push(`trade ${tradeId}: no stored position`);
      return;
    }
    const side = pos.side;

    // 1. Protection first: an unprotected position is the most urgent finding.
    const exPos = sym.position && sym.position.side === side ? sym.position : undefined;
    if (!exPos) {
      report.positionsMissing.push(tradeId);
      await this.settleStopHit(account, trade, now, report);
      return;
    } else {
      const closing = closingOrderSide(side);
      const stops = sym.stops.filter((o) => o.side === closing);
      if (stops.length === 0) {
        const entry = await this.reprotect(account, trade, pos, exPos, now, report);
        report.unprotected.push(entry);
        if (entry.action === 'exited') return;
        trade = (await this.store.getTrade(tradeId)) ?? trade;
      } else if (!stops.some((o) => o.triggerPrice !== undefined && o.triggerPrice.eq(pos.stop))) {
        report.stopMismatches.push({
          tradeId,
          storedStop: pos.stop,
          exchangeStops: stops.map((o) => o.triggerPrice?.toFixed() ?? '?'),
        });
      }
    }

    // 2. Time: one legal transition at a time.
    for (let step = 0; step < 3; step++) {
      const d = timeoutDecision(trade.status, pos.entryFilledAt, now, options.lifecycle);
      if (d.kind === 'escalate') {
        const from = trade.status;
        trade = await this.transition(trade, d.to, now, d.minutesOpen);
        report.transitions.push({ tradeId, from, to: d.to });
        continue;
      }
      if (d.kind === 'emergency-close' && storedExitRequest(trade) === null) {
        const exit: LiveExit = {
          reason: 'TIMEOUT',
          detail: `open ${d.minutesOpen.toFixed(1)} min ≥ ${options.lifecycle.criticalMinutes} min`,
        };
        await this.requestExit(trade, exit, now, report);
        return;
      }
      break;
    }

    // 3. Health.
    if (!options.riskMonitoring.enabled || storedExitRequest(trade) !== null || !sym.ticker) return;
    const candles = await sym.candles;
    const market = this.marketStats(candles, options.exits.atrPeriod);
    const h = healthScore(
      {
        side,
        entryPrice: num(pos.entryPrice),
        price: sym.ticker.last.toNumber(),
        stop: num(pos.stop),
        initialStop: num(pos.initialStop),
        minutesOpen: Math.max(0, now - pos.entryFilledAt) / 60_000,
        ...market,
      },
      {
        criticalMinutes: options.lifecycle.criticalMinutes,
        safeAt: options.riskMonitoring.safeAt,
        warningAt: options.riskMonitoring.healthScoreThreshold,
      },
    );
    report.health.push({ tradeId, score: h.score, level: h.level, components: h.components });
    if (h.level === 'WARNING') this.metrics.count(METRIC.HealthWarnings);
    if (h.level === 'CRITICAL') {
      this.metrics.count(METRIC.HealthCritical);
      if (options.riskMonitoring.emergencyCloseOnCritical) {
        await this.requestExit(
          trade,
          {
            reason: 'HEALTH_CRITICAL',
            detail: `health ${h.score.toFixed(2)} < ${options.riskMonitoring.healthScoreThreshold}`,
          },
          now,
          report,
        );
      }
    }
  }

  /**
   * A trade whose position is gone from the exchange: when its stored stop order filled, the LIVE wait is
   * ended with STOP_HIT (the workflow settles without an exit order). Anything else is left to reconciliation.
   */
  private async settleStopHit(
    account: WorkerAccount,
    trade: TradeRecord,
    now: number,
    report: LifecycleWatchTickReport,
  ): Promise<void> {
    const stop = storedStop(trade);
    if (stop === null || storedExitRequest(trade) !== null) return;
    let order: ExchangeOrder;
    try {
      order = await account.exchange.fetchOrder(stop.orderId, { symbol: trade.symbol, trigger: true });
    } catch (e) {
      report.errors.push(`trade ${trade.tradeId}: position gone, stop order unknown (${errorText(e)})`);
      return;
    }
    if (order.status !== 'closed' || !order.filledQty.gt(0)) return;
    const detail = `stop ${order.id} filled ${order.filledQty.toFixed()} at ${order.avgPrice?.toFixed() ?? '?'}`;
    await this.requestExit(trade, { reason: 'STOP_HIT', detail }, now, report);
  }

  /** Volume (recent window against the average of the windows before it) and ATR from the candles. */
  private marketStats(
    candles: Candle[] | null,
    atrPeriod: number,
  ): { recentVolume?: number; averageVolume?: number; atr?: number } {
    if (!candles || candles.length === 0) return {};
    const out: { recentVolume?: number; averageVolume?: number; atr?: number } = {};
    const atr = averageTrueRange(candles, atrPeriod);
    if (atr !== null) out.atr = atr.toNumber();
    const w = this.volumeWindow;
    if (candles.length >= 2 * w) {
      const sum = (cs: Candle[]) => cs.reduce((acc, c) => acc.plus(c.volume), new D(0));
      const recent = sum(candles.slice(-w));
      const before = candles.slice(0, -w);
      out.recentVolume = recent.toNumber();
      out.averageVolume = sum(before).div(before.length).mul(w).toNumber();
    }
    return out;
  }

  /** Places the stored stop again at once (or exits when it would trigger), under the trade lease. */
  private async reprotect(
    account: WorkerAccount,
    trade: TradeRecord,
    pos: EncodedPosition,
    exPos: ExchangePosition,
    now: number,
    report: LifecycleWatchTickReport,
  ): Promise<UnprotectedEntry> {
    const base = { tradeId: trade.tradeId, symbol: trade.symbol, qty: exPos.qty.toFixed() };
    const acquired = await this.store.acquireLease({ tradeId: trade.tradeId }, this.owner, this.leaseMs);
    if (!acquired.acquired)
      return { ...base, action: 'lease-held', detail: `lease held by ${acquired.holder}` };
    const lease = acquired.lease;
    try {
      const fresh = (await this.store.getTrade(trade.tradeId)) ?? trade;
      const stored = fresh.data[DATA.stopSeq];
      let seq = (typeof stored === 'number' ? stored : 0) + 1;
      while (
        (await this.store.getOrderIntent(trade.tradeId, clientOrderId(trade.tradeId, 'stop', seq))) !== null
      )
        seq++;
      const res = await account.executor.protectOrExit({
        tradeId: trade.tradeId,
        symbol: trade.symbol,
        positionSide: pos.side,
        qty: exPos.qty,
        stopPrice: new D(pos.stop),
        seq,
        exitSeq: seq,
      });
      if (res.action === 'protected') {
        await this.persist(
          fresh,
          'STOP_REPLACED',
          {
            [DATA.stopOrderId]: res.stop.order.id,
            [DATA.stopSeq]: seq,
            unprotectedFoundAt: now,
          },
          now,
          lease.token,
        );
        return { ...base, action: 'protected', detail: `stop ${res.stop.triggerPrice.toFixed()} placed` };
      }
      if (res.action === 'exited') {
        const detail = `unprotected position: stop ${pos.stop} ${res.reason === 'WOULD_TRIGGER' ? 'would trigger' : 'was refused'}; exited at market`;
        await this.requestExit(fresh, { reason: 'STOP_WOULD_TRIGGER', detail }, now, report, lease.token);
        return { ...base, action: 'exited', detail };
      }
      return { ...base, action: 'failed', detail: res.replaced.failure.message };
    } catch (e) {
      return { ...base, action: 'failed', detail: errorText(e) };
    } finally {
      await this.store.releaseLease(lease).catch(() => undefined);
    }
  }

  private async transition(
    trade: TradeRecord,
    to: 'WARNING' | 'CRITICAL',
    now: number,
    minutes: number,
  ): Promise<TradeRecord> {
    let current = trade;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.store.transition(trade.tradeId, {
          expectedVersion: current.version,
          to,
          type: to === 'WARNING' ? 'TIMEOUT_WARNING' : 'TIMEOUT_CRITICAL',
          patch: {
            [`${to.toLowerCase()}At`]: now,
            minutesOpenAtEscalation: Math.round(minutes * 1000) / 1000,
          },
          at: now,
          commandId: `lifecycle:${to}`,
        });
        return r.trade;
      } catch (e) {
        if (!(e instanceof VersionConflictError) || attempt >= 3) throw e;
        const fresh = await this.store.getTrade(trade.tradeId);
        if (fresh === null) throw e;
        current = fresh;
      }
    }
  }

  /** Ends the LIVE wait, then records the request; false (nothing recorded) when it could not be ended. */
  private async requestExit(
    trade: TradeRecord,
    exit: LiveExit,
    now: number,
    report: LifecycleWatchTickReport,
    leaseToken?: number,
  ): Promise<boolean> {
    const answer = await this.liveWait.endLiveWait(trade.tradeId, { ...exit, decidedBy: 'lifecycle-watch' });
    if (!liveWaitEnded(answer)) {
      report.errors.push(
        `trade ${trade.tradeId}: ${exit.reason} exit not delivered (${answer ? (answer.reason ?? '?') : '?'})`,
      );
      return false;
    }
    if (exit.reason === 'TIMEOUT' || exit.reason === 'HEALTH_CRITICAL')
      this.metrics.count(METRIC.EmergencyCloses);
    report.exitsRequested.push({ tradeId: trade.tradeId, reason: exit.reason, detail: exit.detail ?? '' });
    await this.persist(
      trade,
      'EXIT_REQUESTED',
      { [DATA.exitRequested]: exitRequestJson(exit, now, 'lifecycle-watch') },
      now,
      leaseToken,
    );
    return true;
  }

  private async persist(
    trade: TradeRecord,
    type: string,
    patch: JsonMap,
    now: number,
    leaseToken?: number,
  ): Promise<TradeRecord> {
    let version = trade.version;
    const commandId = `lifecycle-watch:${type}:${now}`;
    for (let attempt = 0; ; attempt++) {
      try {
        return (
          await this.store.recordEvent(trade.tradeId, {
            expectedVersion: version,
            type,
            patch,
            at: now,
            commandId,
            ...(leaseToken !== undefined ? { leaseToken } : {}),
          })
        ).trade;
      } catch (e) {
        if (!(e instanceof VersionConflictError) || attempt >= 3) throw e;
        const fresh = await this.store.getTrade(trade.tradeId);
        if (fresh === null) throw e;
        version = fresh.version;
      }
    }
  }
}

function num(s: string): number {
  return new D(s).toNumber();
}
