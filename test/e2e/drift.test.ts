/**
 * The drift scenario end to end: `npm start -- --scenario drift --out DIR` (the core engine over one day, to
 * stay fast), then the reconciliation drill on dynalite and the paper exchange through the handler-level
 * reconciler. Every drift kind is found by the first dry run, the applied run fixes each, and the last dry
 * run finds nothing; `results.json` carries the three runs in its `reconciliation` section.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
}
interface ActionJson {
  action: { type: string };
  status: string;
}

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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-drift-'));
  stdout = new Capture();
  stderr = new Capture();
  code = await main(
    [
      '--scenario',
      'drift',
      '--engine',
      'core',
      '--symbols',
      'BTC',
      '--from',
      '2023-03-20',
      '--to',
      '2023-03-21',
      '--out',
      dir,
      '--quiet',
    ],
    { stdout, stderr },
  );
  doc = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
  recon = doc.reconciliation as ReconciliationSection;
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm start -- --scenario drift', () => {
  it('runs the engine and writes results.json in the results format, with a reconciliation section', () => {
    expect(code, stderr.text).toBe(0);
    expect(resultsFileSchema.safeParse(doc).success).toBe(true);
    expect(doc.summary).toMatchObject({ symbols: ['BTC/USDT:USDT'] });
    expect(recon.accountId).toBe('demo');
    expect(recon.runs.map((r) => r.dryRun)).toEqual([true, false, true]);
    expect(stdout.text).toContain(
      'Reconciliation drill (7 drifts): dry run 9 findings, applied 8 actions, dry run again 0 findings',
    );
  });

  it('makes every kind of drift', () => {
    expect(recon.drifts.map((d) => `${d.symbol} ${d.kind}`)).toEqual([
      'BTC/USDT:USDT STOP_FILLED',
      'ETH/USDT:USDT UNTRACKED_POSITION',
      'SOL/USDT:USDT PARTIAL_CLOSE',
      'DOGE/USDT:USDT CANCELLED_STOP',
      'OP/USDT:USDT MANUAL_CLOSE',
      'OP/USDT:USDT ORPHANED_STOP',
      'BTC/USDT:USDT STALE_ENTRY_ORDER',
    ]);
  });

  it('the first dry run finds each drift and only plans its fix', () => {
    expect(findingsOf(0)).toEqual([
      'BTC/USDT:USDT POSITION_GONE', // the stop filled
      'BTC/USDT:USDT STALE_ENTRY_ORDER',
      'DOGE/USDT:USDT MISSING_STOP', // the cancelled stop
      'ETH/USDT:USDT UNTRACKED_POSITION',
      'ETH/USDT:USDT MISSING_STOP', // the untracked position has no stop
      'OP/USDT:USDT POSITION_GONE', // the manual close
      'OP/USDT:USDT ORPHANED_STOP',
      'SOL/USDT:USDT QTY_MISMATCH', // the partial close
      'SOL/USDT:USDT STOP_QTY_MISMATCH',
    ]);
    expect(recon.runs[0]!.mismatches).toBe(9);
    expect(actionsOf(0)).toEqual([
      'PLACE_STOP:planned',
      'ADOPT_POSITION:planned',
      'REPLACE_STOP:planned',
      'SETTLE_TRADE:planned',
      'SETTLE_TRADE:planned',
      'FIX_QUANTITY:planned',
      'CANCEL_ORDER:planned',
      'CANCEL_ORDER:planned',
    ]);
  });

  it('the applied run applies every planned action', () => {
    expect(findingsOf(1)).toEqual(findingsOf(0));
    expect(actionsOf(1)).toEqual([
      'PLACE_STOP:applied',
      'ADOPT_POSITION:applied',
      'REPLACE_STOP:applied',
      'SETTLE_TRADE:applied',
      'SETTLE_TRADE:applied',
      'FIX_QUANTITY:applied',
      'CANCEL_ORDER:applied',
      'CANCEL_ORDER:applied',
    ]);
    // The adopted ETH position's lifecycle execution was started; the stopped-out BTC trade's live wait ended.
    expect(recon.executionsStarted).toHaveLength(1);
    expect(recon.executionsStarted[0]).toMatch(/^adopt-ETHUSDTUSDT-long-/);
    expect(recon.liveWaitsEnded).toEqual(['demo-drift-btc']);
  });

  it('the last dry run finds nothing', () => {
    expect(recon.runs[2]!.findings).toEqual([]);
    expect(recon.runs[2]!.actions).toEqual([]);
    expect(recon.runs[2]!.mismatches).toBe(0);
    // Its execution closes the stopped-out trade; the reconciler leaves it out of the diff meanwhile.
    expect(recon.runs[2]!.awaitingExecution).toEqual(['demo-drift-btc']);
  });
});
