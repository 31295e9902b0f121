/**
 * The drift scenario (`npm start -- --scenario drift`): the full local engine over the window, with three
 * more trades opened by signals a few minutes before its end; then, at the end of the window and before
 * open positions are closed, the run's own paper exchange drifts away from the engine's records in every
 * way the reconciler knows, and the reconciler function reconciles the account through the run's own
 * handlers, table and state machine: dry run, applied run, dry run again. The last run must find nothing.
 *
 * The drifts, on the run's symbols in sorted order (BTC, DOGE, ETH, SOL by default):
 *
 * | Symbol | Trade | Drift |
 * | ------ | ----- | ----- |
 * | 1st | `drift-1` | a limit buy no trade owns is left resting (stale entry order); later the price dips through the trade's stop (stop filled) |
 * | 2nd | `drift-2` | the whole position is closed by hand; its stop stays (manual close, orphaned stop) |
 * | 3rd | `drift-3` | 40 % of the position is closed by hand and its stop is cancelled (partial close, cancelled stop) |
 * | 4th | none | a position is opened by hand (untracked position) |
 *
 * The engine goes on between the steps as it would on AWS: two simulated minutes of workers after the
 * stale order is placed (so it is older than the reconciler's 60 s), the drifts and the two first runs at
 * one moment (before any worker could notice), then two more minutes (the executions whose live wait the
 * reconciler ended settle; the adopted position's execution arms its live wait) before the last dry run.
 * Everything then runs to its end as in any replay (END_OF_DATA closes what is open).
 */
import { accountConfig } from '../../functions/core/config.js';
import { D, roundToStep } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import { parseSignal, tradeIdFor } from '../../functions/core/signal.js';
import type { Signal } from '../../functions/core/signal.js';
import type { Candle } from '../../functions/core/types.js';
import { handler as reconcilerHandler } from '../../functions/handlers/reconciler.js';
import type { ReconcileRunResult } from '../../functions/handlers/shared/reconcile.js';
import type { JsonMap, JsonValue, TradeRecord } from '../../functions/ports/trade-store.js';
import { realizedPnlOf } from '../../functions/services/trade-data.js';
import type { ReplayInput, ReplayResult } from '../replay/types.js';
import type { FullReplayOptions, ReplayRunControl } from './full-replay.js';

/** One drift made on the paper exchange, as recorded in the `reconciliation` section. */
export interface DriftMade {
  /** `UNTRACKED_POSITION`, `STOP_FILLED`, `MANUAL_CLOSE`, `PARTIAL_CLOSE`, `CANCELLED_STOP`, `STALE_ENTRY_ORDER` or `ORPHANED_STOP`. */
  kind: string;
  symbol: string;
  /** The trade it concerns (null for exchange-only drift). */
  tradeId: string | null;
  /** When it was made (simulated epoch ms). */
  at: number;
  /** The quantity it concerns (the order's, the position's or the part closed), as a decimal string. */
  qty: string | null;
  /** The price it happened at (the order's limit, the fill or close price), as a decimal string. */
  price: string | null;
  detail: string;
}

/** One reconciler run: its findings and actions as stored in the run's report. */
export interface ReconciliationRun {
  /** The event the reconciler function was invoked with (a console test event). */
  event: JsonMap;
  dryRun: boolean;
  /** When it ran (simulated epoch ms). */
  at: number;
  /** Number of findings. */
  mismatches: number;
  findings: JsonValue[];
  actions: JsonValue[];
  /** Trades whose settlement is recorded and whose execution closes them (see the reconciler report). */
  awaitingExecution: JsonValue[];
}

/** How a trade the drift touched ended, read from the table after the run. */
export interface DriftTradeOutcome {
  tradeId: string;
  symbol: string;
  /** The drift kinds made on it; `ADOPTED` for a trade the reconciler created. */
  drifts: string[];
  status: string;
  /** `data.exit.reason` (null when it has none). */
  exitReason: string | null;
  /** The realized PnL the table holds (settlement from the fills), null when unknown. */
  realizedPnl: string | null;
  /** The status of its lifecycle execution at the end of the run (null when it has none). */
  execution: string | null;
  /** The states its execution entered, in order. */
  executionStates: string[];
}

/** The `reconciliation` section of `results.json` in the drift scenario. */
export interface ReconciliationSection {
  accountId: string;
  drifts: DriftMade[];
  /** Dry run, applied run, dry run again (in that order). */
  runs: ReconciliationRun[];
  /** Executions the applied run started (adopted positions), by name. */
  executionsStarted: string[];
  /** Every trade a drift touched or the reconciler created, as it ended. */
  trades: DriftTradeOutcome[];
}

/** Options of {@link runDriftScenario}. */
export interface DriftScenarioOptions {
  /** The account of the drift (default: the first configured account). */
  accountId?: string;
  /** Options of the full replay (seed, exchange, latency). */
  replay?: Omit<FullReplayOptions, 'scenario'>;
}

/** Result of {@link runDriftScenario}: the replay result and the reconciliation section. */
export interface DriftScenarioResult {
  result: ReplayResult;
  reconciliation: ReconciliationSection;
}

const MINUTE = 60_000;
/** The drift trades' signals come this long before the end of the window. */
export const DRIFT_LEAD_MS = 5 * MINUTE;
/** Symbols the scenario needs: three with a trade, one for the untracked position. */
export const DRIFT_SYMBOLS = 4;
/** Notional of the position opened by hand, in quote currency. */
const UNTRACKED_NOTIONAL = new D(150);
/** The client id of the limit order left resting. */
const STALE_CLIENT_ID = 'manual-entry-1';

/**
 * Checks that the scenario can run on `input` (enough symbols, a known account allowing three open
 * trades) and returns the account; a RangeError names what is missing.
 */
export function checkDriftInput(input: Pick<ReplayInput, 'candles' | 'config'>, accountId?: string): string {
  const symbols = [...input.candles.keys()];
  if (symbols.length < DRIFT_SYMBOLS)
    throw new RangeError(
      `the drift scenario needs at least ${DRIFT_SYMBOLS} symbols (a trade on three, a position opened by hand on the fourth), got ${symbols.length}: ${symbols.join(', ')}`,
    );
  const id = accountId ?? [...input.config.accounts.keys()][0];
  if (id === undefined) throw new RangeError('the configuration has no account for the drift scenario');
  const account = accountConfig(input.config, id);
  if (account.options.risk.maxOpenTrades < DRIFT_SYMBOLS - 1)
    throw new RangeError(
      `the drift scenario opens ${DRIFT_SYMBOLS - 1} trades at once; account ${id} allows ${account.options.risk.maxOpenTrades}`,
    );
  return id;
}

/** The scenario's signals: one long market entry per trade symbol, {@link DRIFT_LEAD_MS} before the end. */
export function driftSignals(input: ReplayInput, accountId: string, symbols: readonly string[]): Signal[] {
  const end = windowEnd(input);
  const at = Math.floor((end - DRIFT_LEAD_MS) / MINUTE) * MINUTE;
  const account = accountConfig(input.config, accountId);
  return symbols.map((symbol, i) => {
    const before = lastCandleBefore(input.candles.get(symbol) ?? [], at);
    if (!before)
      throw new RangeError(`the drift scenario has no ${symbol} candle before ${new Date(at).toISOString()}`);
    const parsed = parseSignal({
      signalId: `drift-${i + 1}`,
      accountId,
      exchange: account.exchange,
      symbol,
      side: 'long',
      entry: 'market',
      price: before.close.toFixed(),
      stop: { pct: '1.5' },
      riskAmount: '3',
      rr: '3',
      tags: ['drift-scenario'],
      at: new Date(at).toISOString(),
    });
    if (!parsed.ok) throw new Error(`drift signal for ${symbol}: ${parsed.errors.join('; ')}`);
    return parsed.signal;
  });
}

/** Runs the full engine over `input` with the drift and the reconciliation at the end (see the file comment). */
export async function runDriftScenario(
  input: ReplayInput,
  options: DriftScenarioOptions = {},
): Promise<DriftScenarioResult> {
  const accountId = checkDriftInput(input, options.accountId);
  const symbols = [...input.candles.keys()].sort().slice(0, DRIFT_SYMBOLS);
  const [s1, s2, s3, s4] = symbols as [string, string, string, string];
  const signals = driftSignals(input, accountId, [s1, s2, s3]);
  const [t1, t2, t3] = signals.map(tradeIdFor) as [string, string, string];

  const drifts: DriftMade[] = [];
  const runs: ReconciliationRun[] = [];
  const executionsStarted: string[] = [];
  const trades: DriftTradeOutcome[] = [];
  const touched = new Map<string, string[]>([
    [t1, []],
    [t2, []],
    [t3, []],
  ]);
  const note = (d: Omit<DriftMade, 'at'>, at: number) => {
    drifts.push({ ...d, at });
    if (d.tradeId !== null) touched.get(d.tradeId)?.push(d.kind);
  };

  const reconcile = async (run: ReplayRunControl, event: JsonMap): Promise<ReconcileRunResult> => {
    const at = run.now();
    const r = await run.invoke('reconciler', () => reconcilerHandler(event));
    const one = r.runs[0];
    if (one === undefined || 'error' in one)
      throw new Error(`reconciliation ${JSON.stringify(event)} failed: ${one ? one.error : 'no run'}`);
    runs.push(runOf(one.report, event, r.dryRun, at));
    return r;
  };

  const { runFullReplay } = await import('./full-replay.js');
  const result = await runFullReplay(
    { ...input, signals: [...input.signals, ...signals] },
    {
      ...options.replay,
      scenario: {
        async beforeEndOfData(run) {
          const paper = run.exchange(accountId);
          for (const id of [t1, t2, t3]) await openTrade(run, id);
          const markets = await paper.loadMarkets();
          const price = (symbol: string): Decimal => {
            const p = run.lastPrice(symbol);
            if (p === undefined) throw new RangeError(`no price for ${symbol} at the end of the window`);
            return p;
          };

          // A limit buy far below the price that no trade owns, left resting while the engine goes on.
          const m1 = markets[s1]!;
          const limit = roundToStep(price(s1).mul('0.8'), m1.tickSize, 'down');
          const stale = await paper.createOrder({
            symbol: s1,
            side: 'buy',
            kind: 'limit',
            qty: D.max(m1.minQty, roundToStep(m1.minNotional.mul('1.5').div(limit), m1.lotStep, 'up')),
            price: limit,
            reduceOnly: false,
            clientOrderId: STALE_CLIENT_ID,
          });
          const staleAt = run.now();
          await run.runMinutes(2);
          note(
            {
              kind: 'STALE_ENTRY_ORDER',
              symbol: s1,
              tradeId: null,
              qty: stale.qty.toFixed(),
              price: limit.toFixed(),
              detail: `limit buy ${stale.id} (${STALE_CLIENT_ID}) of ${stale.qty.toFixed()} at ${limit.toFixed()} that no trade owns, resting since ${new Date(staleAt).toISOString()}`,
            },
            staleAt,
          );

          // The 1st trade's stop fills: the price dips just through it, then comes back.
          const trade1 = await openTrade(run, t1);
          const stop1 = await stopOf(run, accountId, trade1);
          const dip = roundToStep(stop1.trigger.mul('0.999'), m1.tickSize, 'down');
          const back = price(s1);
          const stopFill = paper.setPrice(s1, dip, run.now()).find((f) => f.orderId === stop1.id);
          paper.setPrice(s1, back, run.now());
          if (!stopFill)
            throw new Error(
              `the ${s1} stop ${stop1.id} at ${stop1.trigger.toFixed()} did not fill at ${dip.toFixed()}`,
            );
          note(
            {
              kind: 'STOP_FILLED',
              symbol: s1,
              tradeId: t1,
              qty: stopFill.qty.toFixed(),
              price: stopFill.price.toFixed(),
              detail: `the price dipped to ${dip.toFixed()} and back to ${back.toFixed()}: the stop at ${stop1.trigger.toFixed()} closed the position`,
            },
            run.now(),
          );

          // The 2nd trade's position closed by hand; its reduce-only stop stays behind.
          const trade2 = await openTrade(run, t2);
          const stop2 = await stopOf(run, accountId, trade2);
          const pos2 = (await paper.fetchPositions([s2]))[0];
          if (!pos2) throw new Error(`no ${s2} position for ${t2}`);
          paper.closePositionExternally(s2);
          note(
            {
              kind: 'MANUAL_CLOSE',
              symbol: s2,
              tradeId: t2,
              qty: pos2.qty.toFixed(),
              price: price(s2).toFixed(),
              detail: `the whole position closed by hand at ${price(s2).toFixed()}`,
            },
            run.now(),
          );
          note(
            {
              kind: 'ORPHANED_STOP',
              symbol: s2,
              tradeId: t2,
              qty: stop2.qty.toFixed(),
              price: stop2.trigger.toFixed(),
              detail: `the manual close left the reduce-only stop ${stop2.id} at ${stop2.trigger.toFixed()} with no position`,
            },
            run.now(),
          );

          // The 3rd trade: 40 % closed by hand, and its stop cancelled by hand.
          const trade3 = await openTrade(run, t3);
          const stop3 = await stopOf(run, accountId, trade3);
          const pos3 = (await paper.fetchPositions([s3]))[0];
          if (!pos3) throw new Error(`no ${s3} position for ${t3}`);
          const part = roundToStep(pos3.qty.mul('0.4'), markets[s3]!.lotStep, 'down');
          paper.closePositionExternally(s3, part);
          note(
            {
              kind: 'PARTIAL_CLOSE',
              symbol: s3,
              tradeId: t3,
              qty: part.toFixed(),
              price: price(s3).toFixed(),
              detail: `${part.toFixed()} of the ${pos3.qty.toFixed()} closed by hand at ${price(s3).toFixed()}`,
            },
            run.now(),
          );
          paper.cancelOrderExternally(stop3.id);
          note(
            {
              kind: 'CANCELLED_STOP',
              symbol: s3,
              tradeId: t3,
              qty: stop3.qty.toFixed(),
              price: stop3.trigger.toFixed(),
              detail: `the stop ${stop3.id} at ${stop3.trigger.toFixed()} cancelled by hand`,
            },
            run.now(),
          );

          // A position the engine never opened.
          const m4 = markets[s4]!;
          const qty4 = D.max(m4.minQty, roundToStep(UNTRACKED_NOTIONAL.div(price(s4)), m4.lotStep, 'down'));
          paper.openPositionExternally(s4, 'long', qty4);
          note(
            {
              kind: 'UNTRACKED_POSITION',
              symbol: s4,
              tradeId: null,
              qty: qty4.toFixed(),
              price: price(s4).toFixed(),
              detail: `a long of ${qty4.toFixed()} opened by hand at ${price(s4).toFixed()}`,
            },
            run.now(),
          );

          // The reconciler function, as from the Lambda console: dry, applied, then dry again.
          await reconcile(run, { accountId, dryRun: true });
          const before = new Set(run.executions().map((x) => x.name));
          const applied = await reconcile(run, { accountId, apply: true });
          for (const x of run.executions()) if (!before.has(x.name)) executionsStarted.push(x.name);
          for (const r of applied.runs)
            if (!('error' in r))
              for (const a of listOf(r.report.actions)) {
                const action = asMap(asMap(a)?.action);
                if (action?.type === 'ADOPT_POSITION' && typeof action.tradeId === 'string')
                  touched.set(action.tradeId, ['ADOPTED']);
              }
          await run.runMinutes(2);
          await reconcile(run, { accountId, dryRun: true });
        },

        async afterEndOfData(run) {
          const executions = new Map(run.executions().map((x) => [x.name, x]));
          for (const [tradeId, kinds] of touched) {
            const t = await run.store.getTrade(tradeId);
            if (t === null) continue;
            const exit = asMap(t.data.exit);
            trades.push({
              tradeId,
              symbol: t.symbol,
              drifts: kinds,
              status: t.status,
              exitReason: typeof exit?.reason === 'string' ? exit.reason : null,
              realizedPnl: realizedPnlOf(t)?.toFixed() ?? null,
              execution: executions.get(tradeId)?.status ?? null,
              executionStates: executions.get(tradeId)?.states ?? [],
            });
          }
        },
      },
    },
  );
  return { result, reconciliation: { accountId, drifts, runs, executionsStarted, trades } };
}

/** The trade, which must hold an open position with a recorded stop. */
async function openTrade(run: ReplayRunControl, tradeId: string): Promise<TradeRecord> {
  const t = await run.store.getTrade(tradeId);
  const open = ['LIVE', 'WARNING', 'CRITICAL'];
  if (t === null || !open.includes(t.status) || typeof t.data.stopOrderId !== 'string') {
    const why = t === null ? 'it does not exist' : `it is ${t.status}`;
    throw new Error(
      `the drift scenario needs trade ${tradeId} open with a stop at the end of the window, but ${why}` +
        (t?.data.skip ? ` (${JSON.stringify(t.data.skip)})` : '') +
        '; choose a window whose last minutes leave room for three more trades',
    );
  }
  return t;
}

/** The trade's resting stop order on the exchange. */
async function stopOf(
  run: ReplayRunControl,
  accountId: string,
  trade: TradeRecord,
): Promise<{ id: string; trigger: Decimal; qty: Decimal }> {
  const id = typeof trade.data.stopOrderId === 'string' ? trade.data.stopOrderId : '';
  const order = (await run.exchange(accountId).fetchOpenOrders(trade.symbol)).find((o) => o.id === id);
  if (!order?.triggerPrice)
    throw new Error(`trade ${trade.tradeId}: its stop ${id || '(none)'} is not resting`);
  return { id: order.id, trigger: order.triggerPrice, qty: order.qty };
}

function windowEnd(input: ReplayInput): number {
  if (input.to !== undefined) return input.to;
  let end = Number.NEGATIVE_INFINITY;
  for (const list of input.candles.values()) {
    const last = list[list.length - 1];
    if (last) end = Math.max(end, last.openTime + last.intervalMs);
  }
  return end;
}

function lastCandleBefore(list: readonly Candle[], at: number): Candle | undefined {
  let found: Candle | undefined;
  for (const c of list) {
    if (c.openTime + c.intervalMs > at) break;
    found = c;
  }
  return found;
}

function asMap(v: unknown): JsonMap | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonMap) : null;
}

function listOf(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : [];
}

function runOf(report: JsonMap, event: JsonMap, dryRun: boolean, at: number): ReconciliationRun {
  const mismatches = report.mismatches;
  return {
    event,
    dryRun,
    at,
    mismatches: typeof mismatches === 'number' ? mismatches : listOf(report.findings).length,
    findings: listOf(report.findings),
    actions: listOf(report.actions),
    awaitingExecution: listOf(report.awaitingExecution),
  };
}
