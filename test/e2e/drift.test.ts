/**
 * The drift scenario end to end: `npm start -- --scenario drift --out DIR` over the last three hours of
 * 2023-03-20 on the full local engine. Three trades are opened by the scenario's signals; at the end of the
 * window the run's own paper exchange drifts in every way the reconciler knows; the reconciler function,
 * invoked with the console test events, finds each drift (dry run), fixes each (applied run) through the
 * run's handlers and state machine, and finds nothing afterwards. Every trade then runs to its end, and the
 * realized PnL the table holds for the trades closed by hand is checked against the fills.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../local/cli.js';
import { resultsFileSchema } from '../../local/replay/results.js';
import type { ReconciliationSection } from '../../local/runtime/drift-scenario.js';

class Capture {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

interface FindingJson {
  kind: string;
  symbol: string;
  tradeId?: string;
}
interface ActionJson {
  action: { type: string; tradeId?: string };
  status: string;
}
interface TradeJson {
  tradeId: string;
  status: string;
  entryPrice: string | null;
  exitPrice: string | null;
  qty: string | null;
  fees: string;
  realizedPnl: string | null;
}

const BTC = 'BTC/USDT:USDT';
const DOGE = 'DOGE/USDT:USDT';
const ETH = 'ETH/USDT:USDT';
const SOL = 'SOL/USDT:USDT';

let dir: string;
let code: number;
let stdout: Capture;
let stderr: Capture;
let doc: Record<string, unknown>;
let recon: ReconciliationSection;

const findingsOf = (i: number) =>
  (recon.runs[i]!.findings as unknown as FindingJson[]).map((f) => `${f.symbol} ${f.kind}`);
const actionsOf = (i: number) =>
  (recon.runs[i]!.actions as unknown as ActionJson[]).map((a) => `${a.action.type}:${a.status}`);
const drift = (kind: string) => recon.drifts.find((d) => d.kind === kind)!;
const trade = (id: string) => (doc.trades as TradeJson[]).find((t) => t.tradeId === id)!;
const outcome = (id: string) => recon.trades.find((t) => t.tradeId === id)!;

async function run(argv: string[]): Promise<{ code: number; out: Capture; err: Capture }> {
  const out = new Capture();
  const err = new Capture();
  return { code: await main(argv, { stdout: out, stderr: err }), out, err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-drift-'));
  const r = await run([
    '--scenario',
    'drift',
    '--from',
    '2023-03-20T21:00',
    '--to',
    '2023-03-21T00:00',
    '--out',
    dir,
    '--quiet',
  ]);
  ({ code } = r);
  stdout = r.out;
  stderr = r.err;
  doc = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
  recon = doc.reconciliation as ReconciliationSection;
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm start -- --scenario drift', () => {
  it('runs the full engine and writes results.json with a reconciliation section', () => {
    expect(code, stderr.text).toBe(0);
    expect(resultsFileSchema.safeParse(doc).success).toBe(true);
    expect(doc.summary).toMatchObject({ engine: 'full', symbols: [BTC, DOGE, ETH, SOL] });
    expect(recon.accountId).toBe('demo');
    expect(recon.runs.map((r) => r.event)).toEqual([
      { accountId: 'demo', dryRun: true },
      { accountId: 'demo', apply: true },
      { accountId: 'demo', dryRun: true },
    ]);
    expect(stdout.text).toContain(
      'Reconciliation after 7 drifts: dry run 8 findings, applied 7 actions, dry run again 0 findings',
    );
    // The scenario's three trades are trades of the run, opened by the engine from their signals.
    for (const id of ['demo.drift-1', 'demo.drift-2', 'demo.drift-3'])
      expect(trade(id)).toMatchObject({ status: 'FINALIZED' });
  });

  it('makes every kind of drift on the engine run’s own exchange, at the end of its window', () => {
    expect(recon.drifts.map((d) => `${d.symbol} ${d.kind} ${d.tradeId ?? '-'}`)).toEqual([
      `${BTC} STALE_ENTRY_ORDER -`,
      `${BTC} STOP_FILLED demo.drift-1`,
      `${DOGE} MANUAL_CLOSE demo.drift-2`,
      `${DOGE} ORPHANED_STOP demo.drift-2`,
      `${ETH} PARTIAL_CLOSE demo.drift-3`,
      `${ETH} CANCELLED_STOP demo.drift-3`,
      `${SOL} UNTRACKED_POSITION -`,
    ]);
    const end = Date.parse('2023-03-21T00:00:00Z');
    for (const d of recon.drifts) expect(d.at).toBeGreaterThanOrEqual(end - 1);
    // The engine ran two more simulated minutes after the stale order was placed (the reconciler's limit is
    // 60 s); the other drifts and the first reconciliation then happen at one moment.
    expect(drift('STOP_FILLED').at - drift('STALE_ENTRY_ORDER').at).toBeGreaterThan(60_000);
    for (const d of recon.drifts.slice(1)) expect(d.at).toBe(recon.runs[0]!.at);
  });

  it('the first dry run finds each drift and plans only its fix', () => {
    expect(findingsOf(0)).toEqual([
      `${BTC} POSITION_GONE`, // the stop filled
      `${BTC} STALE_ENTRY_ORDER`,
      `${DOGE} POSITION_GONE`, // the manual close
      `${DOGE} ORPHANED_STOP`,
      `${ETH} QTY_MISMATCH`, // the partial close
      `${ETH} MISSING_STOP`, // the cancelled stop
      `${SOL} UNTRACKED_POSITION`,
      `${SOL} MISSING_STOP`, // the untracked position has no stop
    ]);
    expect(recon.runs[0]!.mismatches).toBe(8);
    expect(actionsOf(0)).toEqual([
      'PLACE_STOP:planned',
      'ADOPT_POSITION:planned',
      'SETTLE_TRADE:planned',
      'SETTLE_TRADE:planned',
      'FIX_QUANTITY:planned',
      'CANCEL_ORDER:planned',
      'CANCEL_ORDER:planned',
    ]);
  });

  it('the applied run applies every planned action through the run’s handlers and state machine', () => {
    expect(findingsOf(1)).toEqual(findingsOf(0));
    expect(actionsOf(1)).toEqual(actionsOf(0).map((a) => a.replace(':planned', ':applied')));
    expect(recon.executionsStarted).toHaveLength(1);
    const adopted = recon.executionsStarted[0]!;
    expect(adopted).toMatch(/^adopt-SOLUSDTUSDT-long-/);
    // The adopted position's execution waited LIVE and was closed at the end of the data like any trade.
    expect(outcome(adopted)).toMatchObject({ status: 'FINALIZED', execution: 'SUCCEEDED' });
    expect(outcome(adopted).executionStates).toContain('AwaitExit');
    expect(outcome(adopted).executionStates).not.toContain('EnsureFlat');
    // Evaluate answers ADOPTED: no entry command is sent for a position that is already open.
    expect(outcome(adopted).executionStates.slice(0, 3)).toEqual(['Evaluate', 'Decide', 'AwaitExit']);
  });

  it('the last dry run finds nothing', () => {
    expect(recon.runs[2]!.findings).toEqual([]);
    expect(recon.runs[2]!.actions).toEqual([]);
    expect(recon.runs[2]!.mismatches).toBe(0);
    // Two simulated minutes later: the executions of the settled trades have settled them.
    expect(recon.runs[2]!.awaitingExecution).toEqual([]);
    expect(recon.runs[2]!.at - recon.runs[1]!.at).toBeGreaterThanOrEqual(120_000);
  });

  it('each touched trade ends with the exit reason and the realized PnL of its fills', () => {
    for (const t of recon.trades) {
      expect(t.status, t.tradeId).toBe('FINALIZED');
      expect(t.execution, t.tradeId).toBe('SUCCEEDED');
    }
    expect(outcome('demo.drift-1').exitReason).toBe('STOP_HIT');
    expect(outcome('demo.drift-2').exitReason).toBe('CLOSED_EXTERNALLY');

    // Closed by hand at the last price (no fee on the manual close): PnL = qty × (close − entry) − entry fee.
    const t2 = trade('demo.drift-2');
    const close2 = drift('MANUAL_CLOSE');
    expect(close2.qty).toBe(t2.qty);
    const expected2 = new Decimal(close2.price!).minus(t2.entryPrice!).mul(t2.qty!).minus(t2.fees);
    expect(outcome('demo.drift-2').realizedPnl).toBe(expected2.toFixed());
    expect(t2.realizedPnl).toBe(expected2.toFixed());

    // 40 % closed by hand, the rest by the engine at the end of the data: both parts count.
    const t3 = trade('demo.drift-3');
    const part = drift('PARTIAL_CLOSE');
    const rest = new Decimal(t3.qty!).minus(part.qty!);
    const expected3 = new Decimal(part.price!)
      .minus(t3.entryPrice!)
      .mul(part.qty!)
      .plus(new Decimal(t3.exitPrice!).minus(t3.entryPrice!).mul(rest))
      .minus(t3.fees);
    expect(new Decimal(outcome('demo.drift-3').realizedPnl!).minus(expected3).abs().lte('1e-9')).toBe(true);
  });

  it('keeps every invariant of the run', () => {
    const invariants = doc.invariants as { ok: boolean; checks: { name: string; violations: string[] }[] };
    expect(invariants.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(invariants.ok).toBe(true);
  });
});

describe('npm start -- --scenario drift: bad requests', () => {
  it('refuses the core engine', async () => {
    const r = await run(['--scenario', 'drift', '--engine', 'core', '--quiet']);
    expect(r.code).toBe(2);
    expect(r.err.text).toContain('--scenario drift needs --engine full');
  });

  it('refuses fewer than four symbols, naming them', async () => {
    const r = await run(['--scenario', 'drift', '--symbols', 'BTC,ETH', '--quiet']);
    expect(r.code).toBe(2);
    expect(r.err.text).toContain('the drift scenario needs at least 4 symbols');
    expect(r.err.text).toContain('BTC/USDT:USDT, ETH/USDT:USDT');
  });
});

describe('the reconciler’s schedule in the full engine', () => {
  it('flags drift left in place across a scheduled reconciliation (invariant reconciledClean)', async () => {
    const { parseCliArgs, prepareRun } = await import('../../local/cli.js');
    const { runFullReplay } = await import('../../local/runtime/full-replay.js');
    const { driftSignals } = await import('../../local/runtime/drift-scenario.js');
    const parsed = parseCliArgs([
      '--symbols',
      'BTC',
      '--from',
      '2023-03-20T23:00',
      '--to',
      '2023-03-21T00:00',
    ]);
    if (parsed.kind !== 'run') throw new Error(parsed.kind);
    const { input } = await prepareRun(parsed.options);
    const signals = driftSignals(input, 'demo', [BTC]);
    const result = await runFullReplay(
      { ...input, signals },
      {
        scenario: {
          async beforeEndOfData(run) {
            const t = await run.store.getTrade('demo.drift-1');
            expect(t?.status).toBe('LIVE');
            // The stop cancelled by hand, and nobody reconciles by hand before the next scheduled run.
            run.exchange('demo').cancelOrderExternally(t!.data.stopOrderId as string);
            await run.runMinutes(6);
          },
        },
      },
    );
    const check = result.invariants!.checks.find((c) => c.name === 'reconciledClean')!;
    expect(check.ok).toBe(false);
    expect(check.violations.some((v) => v.includes('MISSING_STOP') && v.includes('demo.drift-1'))).toBe(true);
    expect(result.invariants!.ok).toBe(false);
  }, 120_000);
});
