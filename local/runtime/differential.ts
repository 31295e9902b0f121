/**
 * The differential comparison of two replays of the same data and signals: `--engine core` (the domain core
 * with zero latency, prices at the fill model's path points) against `--engine full` (the serverless
 * engine on the simulated clock: 10-s worker ticks, order latency). Both must give the same trades within
 * the tolerance below (docs/replay.md, "Differential test").
 *
 * Tolerance:
 * - the same signals acted on, with the same outcome and the same reason code (the text before ":");
 * - entries: the same price and quantity; the full engine's fill time 0–1 s after the core's (order latency);
 * - stops: the same sequence of prices and reasons; each time within {@link TOLERANCE}.timeMs;
 * - partial exits: the same quantities, times within `timeMs`, prices within `marketPriceFraction` (the full
 *   engine closes a partial at market on the tick that sees the level, the core at the level);
 * - exits: the same reason, time within `timeMs`; a stop exit at the same price, a market exit within
 *   `marketPriceFraction`; realized PnL differing by no more than the price and fee differences explain;
 * - milestones (live and the whole continuation): the same thresholds reached, seconds within `timeMs`;
 * - a trade that either engine closed on HEALTH_CRITICAL is compared up to its entry and initial stop only:
 *   the health score's market inputs (ATR, volume) come from the fetched candles in the lifecycle watch
 *   and from the candle stream in the core, so the moment it turns CRITICAL may differ.
 */
import { D } from '../../functions/core/decimal.js';
import type { Decimal } from '../../functions/core/decimal.js';
import type { ReplayResult, TradeResult } from '../replay/types.js';

/** The tolerance of the comparison. */
export const TOLERANCE = {
  /** One worker tick (10 s: the close point is on the candle's last tick, not its last millisecond) + 1 s of order latency. */
  timeMs: 11_000,
  /** Order latency of the entry fill. */
  entryMs: 1_000,
  /** Relative price difference of fills the full engine makes at market where the core fills at a level. */
  marketPriceFraction: new D('0.005'),
} as const;

const STOP_EXITS = new Set(['STOP_LOSS', 'TRAILING_STOP', 'BREAK_EVEN_STOP', 'PROFIT_LOCK_STOP']);

function code(reason: string | null): string | null {
  return reason === null ? null : (reason.split(':')[0] ?? reason);
}

function iso(ms: number | null): string {
  return ms === null ? 'null' : new Date(ms).toISOString();
}

function nearPrice(a: Decimal, b: Decimal): boolean {
  return a.minus(b).abs().lte(b.abs().mul(TOLERANCE.marketPriceFraction));
}

/** Differences beyond the tolerance between the core and the full replay (empty when they agree). */
export function compareReplays(core: ReplayResult, full: ReplayResult): string[] {
  const out: string[] = [];
  const byId = new Map(full.trades.map((t) => [t.tradeId, t]));
  const coreIds = new Set(core.trades.map((t) => t.tradeId));
  for (const t of full.trades) if (!coreIds.has(t.tradeId)) out.push(`${t.tradeId}: only in the full run`);
  for (const c of core.trades) {
    const f = byId.get(c.tradeId);
    if (!f) {
      out.push(`${c.tradeId}: only in the core run`);
      continue;
    }
    out.push(...compareTrade(c, f).map((d) => `${c.tradeId}: ${d}`));
  }
  return out;
}

function compareTrade(c: TradeResult, f: TradeResult): string[] {
  const d: string[] = [];
  const time = (what: string, a: number | null, b: number | null, tol: number) => {
    if (a === null || b === null ? a !== b : Math.abs(a - b) > tol)
      d.push(`${what} core ${iso(a)} full ${iso(b)}`);
  };
  if (c.outcome !== f.outcome) return [`outcome core ${c.outcome} full ${f.outcome}`];
  if (code(c.statusReason) !== code(f.statusReason))
    d.push(`reason core ${String(c.statusReason)} full ${String(f.statusReason)}`);
  if (c.outcome !== 'TRADED') return d.concat(compareMilestones(c, f));
  if (!(c.entryPrice && f.entryPrice && c.entryPrice.eq(f.entryPrice)))
    d.push(`entry price core ${String(c.entryPrice)} full ${String(f.entryPrice)}`);
  if (!(c.qty && f.qty && c.qty.eq(f.qty))) d.push(`qty core ${String(c.qty)} full ${String(f.qty)}`);
  if (c.entryFilledAt === null || f.entryFilledAt === null) d.push('entry time missing');
  else if (f.entryFilledAt < c.entryFilledAt || f.entryFilledAt - c.entryFilledAt > TOLERANCE.entryMs)
    d.push(`entry time core ${iso(c.entryFilledAt)} full ${iso(f.entryFilledAt)}`);
  const health = c.exitReason === 'HEALTH_CRITICAL' || f.exitReason === 'HEALTH_CRITICAL';
  const c0 = c.stops[0];
  const f0 = f.stops[0];
  if (!c0 || !f0 || !c0.price.eq(f0.price) || c0.reason !== f0.reason)
    d.push(`initial stop core ${String(c0?.price)} ${c0?.reason} full ${String(f0?.price)} ${f0?.reason}`);
  if (health) return d;

  if (c.stops.length !== f.stops.length)
    d.push(
      `stops core [${c.stops.map((s) => `${s.price.toFixed()} ${s.reason}`).join(', ')}] full [${f.stops.map((s) => `${s.price.toFixed()} ${s.reason}`).join(', ')}]`,
    );
  else
    c.stops.forEach((s, i) => {
      const g = f.stops[i]!;
      if (!s.price.eq(g.price) || s.reason !== g.reason)
        d.push(`stop ${i} core ${s.price.toFixed()} ${s.reason} full ${g.price.toFixed()} ${g.reason}`);
      time(`stop ${i} time`, s.at, g.at, TOLERANCE.timeMs);
    });

  let explained = new D(0);
  if (c.partialExits.length !== f.partialExits.length)
    d.push(`partial exits core ${c.partialExits.length} full ${f.partialExits.length}`);
  else
    c.partialExits.forEach((p, i) => {
      const q = f.partialExits[i]!;
      if (!p.qty.eq(q.qty)) d.push(`partial ${i} qty core ${p.qty.toFixed()} full ${q.qty.toFixed()}`);
      if (!nearPrice(q.price, p.price))
        d.push(`partial ${i} price core ${p.price.toFixed()} full ${q.price.toFixed()}`);
      time(`partial ${i} time`, p.at, q.at, TOLERANCE.timeMs);
      explained = explained.plus(q.price.minus(p.price).abs().mul(p.qty));
    });

  if (c.exitReason !== f.exitReason) d.push(`exit reason core ${c.exitReason} full ${f.exitReason}`);
  time('exit time', c.exitAt, f.exitAt, TOLERANCE.timeMs);
  if (c.exitPrice && f.exitPrice) {
    const ok = STOP_EXITS.has(c.exitReason ?? '')
      ? c.exitPrice.eq(f.exitPrice)
      : nearPrice(f.exitPrice, c.exitPrice);
    if (!ok) d.push(`exit price core ${c.exitPrice.toFixed()} full ${f.exitPrice.toFixed()}`);
    const exitQty = c.qty!.minus(c.partialExits.reduce((s, p) => s.plus(p.qty), new D(0)));
    explained = explained.plus(f.exitPrice.minus(c.exitPrice).abs().mul(exitQty));
  } else if (c.exitPrice !== f.exitPrice) d.push('exit price missing');
  explained = explained.plus(f.fees.minus(c.fees).abs());
  if (c.realizedPnl && f.realizedPnl) {
    if (f.realizedPnl.minus(c.realizedPnl).abs().gt(explained.plus('1e-9')))
      d.push(
        `realized PnL core ${c.realizedPnl.toFixed()} full ${f.realizedPnl.toFixed()} (price and fee differences explain ${explained.toFixed()})`,
      );
  } else if (c.realizedPnl !== f.realizedPnl) d.push('realized PnL missing');
  return d.concat(compareMilestones(c, f));
}

function compareMilestones(c: TradeResult, f: TradeResult): string[] {
  const d: string[] = [];
  for (const [kind, a, b] of [
    ['milestone', c.milestones, f.milestones],
    ['shadow milestone', c.shadowMilestones, f.shadowMilestones],
  ] as const) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const x = a[k] ?? null;
      const y = b[k] ?? null;
      if (x === null || y === null ? x !== y : Math.abs(x - y) * 1000 > TOLERANCE.timeMs)
        d.push(`${kind} ${k} % core ${String(x)} s full ${String(y)} s`);
    }
  }
  return d;
}
