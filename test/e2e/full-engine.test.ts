/**
 * The full engine end to end on a short window (one day, BTC and ETH, the bundled signals): the real
 * handlers and state machine on dynalite, local-aws-sqs and the paper exchange, on the simulated clock.
 * Every invariant holds, results.json validates against its schema, and the same data through the core
 * replay gives the same trades within the documented tolerance (the differential test).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { parseCliArgs, prepareRun } from '../../local/cli.js';
import type { PreparedRun } from '../../local/cli.js';
import { runCoreReplay } from '../../local/replay/engine.js';
import { resultsFileSchema, serializeResults } from '../../local/replay/results.js';
import type { ReplayResult } from '../../local/replay/types.js';
import { compareReplays } from '../../local/runtime/differential.js';
import { runFullReplay } from '../../local/runtime/full-replay.js';

let prepared: PreparedRun;
let full: ReplayResult;
let core: ReplayResult;

beforeAll(async () => {
  const parsed = parseCliArgs([
    '--symbols',
    'BTC,ETH',
    '--from',
    '2023-03-20',
    '--to',
    '2023-03-21',
    '--quiet',
  ]);
  if (parsed.kind !== 'run') throw new Error(JSON.stringify(parsed));
  prepared = await prepareRun(parsed.options);
  full = await runFullReplay(prepared.input);
  core = runCoreReplay(prepared.input);
}, 60_000);

describe('full engine, 2023-03-20, BTC and ETH', () => {
  it('acts on every signal of the window and closes every trade', () => {
    expect(full.summary.engine).toBe('full');
    expect(full.summary.signals).toBe(6);
    expect(full.trades).toHaveLength(6);
    expect(full.summary.trades).toBe(5);
    expect(full.summary.skipped).toBe(1);
    expect(full.trades.every((t) => ['FINALIZED', 'CANCELLED', 'FAILED'].includes(t.status))).toBe(true);
  });

  it('holds every invariant', () => {
    const inv = full.invariants!;
    const failed = inv.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.violations.join('; ')}`);
    expect(failed).toEqual([]);
    expect(inv.checks.map((c) => c.name)).toEqual([
      'stopWithinOneSecond',
      'failSafeRespected',
      'milestonesMatchCandles',
      'allTerminal',
      'dlqEmpty',
      'auditMatchesState',
      'reconciledClean',
    ]);
    // The reconciler's 5-minute schedule ran while trades were open and found nothing each time.
    expect(inv.checks.find((c) => c.name === 'reconciledClean')!.checked).toBeGreaterThan(0);
    expect(inv.dlqMessages).toBe(0);
    expect(inv.checks.find((c) => c.name === 'failSafeRespected')!.checked).toBeGreaterThanOrEqual(5);
  });

  it('places every stop within the order latency of the fill (simulated ms)', () => {
    const l = full.latency!.fillToStopMs;
    expect(l.count).toBe(5);
    expect(l.p50).not.toBeNull();
    expect(l.p99!).toBeLessThanOrEqual(2 * full.latency!.orderCallLatencyMs.max);
    expect(l.p50!).toBeGreaterThanOrEqual(full.latency!.orderCallLatencyMs.min);
  });

  it('counts the AWS usage of the run and prices it', () => {
    const cm = full.costModel!;
    expect(cm.trades).toBe(6);
    expect(cm.run.usage.invocationsByHandler['intake-http']).toBe(6);
    expect(cm.run.usage.invocationsByHandler.evaluate).toBe(6);
    expect(cm.run.usage.stateTransitions).toBeGreaterThan(6 * 5);
    expect(cm.run.usage.dynamoWriteRequests).toBeGreaterThan(0);
    expect(cm.perTrade.cost.total).toBeGreaterThan(0);
    expect(cm.per1000Trades.cost.total).toBeCloseTo(cm.perTrade.cost.total * 1000, 9);
    expect(cm.idleMonth.minutes).toBe(43_200);
    expect(cm.idleMonth.usage.schedulerInvocations).toBe(3 * 43_200);
  });

  it('writes a results.json that matches the schema, with the latency, cost and invariant sections', () => {
    const doc = serializeResults(full, prepared.run);
    const parsed = resultsFileSchema.safeParse(JSON.parse(JSON.stringify(doc)));
    expect(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3))).toBe(true);
    expect(parsed.data?.invariants?.ok).toBe(true);
    expect(parsed.data?.latency?.fillToStopMs.count).toBe(5);
    expect(parsed.data?.costModel?.prices.asOf).toBe('2025-06');
  });
});

describe('differential: core and full on the same data', () => {
  it('give the same trades within the documented tolerance', () => {
    expect(compareReplays(core, full)).toEqual([]);
    expect(full.trades.map((t) => t.tradeId).sort()).toEqual(core.trades.map((t) => t.tradeId).sort());
  });

  it('agree exactly on entries, stop prices and stop-exit prices', () => {
    for (const c of core.trades.filter((t) => t.outcome === 'TRADED')) {
      const f = full.trades.find((t) => t.tradeId === c.tradeId)!;
      expect(f.entryPrice!.eq(c.entryPrice!)).toBe(true);
      expect(f.qty!.eq(c.qty!)).toBe(true);
      expect(f.stops.map((s) => `${s.price.toFixed()} ${s.reason}`)).toEqual(
        c.stops.map((s) => `${s.price.toFixed()} ${s.reason}`),
      );
    }
  });

  it('flags a trade whose stop sequence differs', () => {
    const c = core.trades.find((t) => t.stops.length > 1)!;
    const changed: ReplayResult = {
      ...full,
      trades: full.trades.map((t) => (t.tradeId === c.tradeId ? { ...t, stops: t.stops.slice(0, 1) } : t)),
    };
    expect(compareReplays(core, changed).join('\n')).toMatch(new RegExp(`${c.tradeId}: stops core`));
  });
});
