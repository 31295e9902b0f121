/**
 * The operator CLI (`npx tradewarden …`) against local stand-ins: a fake CloudFormation endpoint that
 * answers DescribeStacks with the stack's outputs, and a local HTTP server in place of the stack's API.
 * Every subcommand's route and body, the SigV4 signature (re-computed here from what arrived on the
 * wire), readable and JSON output, bad usage (exit 2, no request at all), remote errors (exit 1 with the
 * API's reason).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/paths.js';
import { FakeServer, TEST_CREDENTIALS, fakeCloudFormation, runCli } from './support.js';
import type { Recorded, Reply } from './support.js';

const REGION = 'eu-west-1';

// ---- API answers, shaped like functions/services/operations.ts and the reconciler handler answer ----

const T0 = Date.UTC(2026, 0, 2, 10, 0, 0);
const OPEN_SUMMARY = {
  tradeId: 'main-s-001',
  accountId: 'main',
  symbol: 'BTC/USDT:USDT',
  status: 'LIVE',
  side: 'long',
  createdAt: T0,
  updatedAt: T0 + 1000,
  entry: { filledQty: '0.01', avgPrice: '50010.5', filledAt: T0 + 500 },
  stop: '49600',
  remainingQty: '0.008',
  closedAt: null,
  realizedPnl: null,
  exitReason: null,
};
const CLOSED_SUMMARY = {
  ...OPEN_SUMMARY,
  tradeId: 'main-s-000',
  status: 'FINALIZED',
  side: 'short',
  stop: null,
  remainingQty: null,
  closedAt: T0 - 60_000,
  realizedPnl: '-5.2475',
  exitReason: 'STOP_HIT',
};
const TRADE_DETAIL = {
  trade: {
    tradeId: 'main-s-001',
    accountId: 'main',
    symbol: 'BTC/USDT:USDT',
    status: 'LIVE',
    version: 4,
    createdAt: T0,
    updatedAt: T0 + 1000,
    data: { side: 'long', position: { remainingQty: '0.008', stop: '49600' }, liveTaskToken: '(set)' },
    milestones: { '10': 420 },
    shadowMilestones: {},
  },
  summary: OPEN_SUMMARY,
  events: [
    {
      tradeId: 'main-s-001',
      version: 1,
      type: 'CREATED',
      fromStatus: null,
      toStatus: 'PENDING',
      at: T0,
      commandId: 'create:main-s-001',
      data: {},
    },
    {
      tradeId: 'main-s-001',
      version: 2,
      type: 'ENTRY_FILLED',
      fromStatus: 'ENTERING',
      toStatus: 'LIVE',
      at: T0 + 1000,
      commandId: 'entry:main-s-001',
      data: {},
    },
  ],
  orderIntents: [
    {
      tradeId: 'main-s-001',
      clientOrderId: 'tw-main-s-001-stop-0',
      purpose: 'STOP',
      status: 'ACKED',
      exchangeOrderId: '9001',
      createdAt: T0 + 600,
    },
  ],
};
const RECON_REPORT = {
  runId: 'recon-1-abcd',
  accountId: 'main',
  at: Date.UTC(2026, 0, 2, 11, 0, 0),
  dryRun: true,
  findings: [
    {
      kind: 'MISSING_STOP',
      symbol: 'ETH/USDT:USDT',
      tradeId: 'main-s-002',
      detail: 'no stop on the exchange',
    },
  ],
  actions: [
    {
      action: { type: 'PLACE_STOP', symbol: 'ETH/USDT:USDT', tradeId: 'main-s-002' },
      status: 'planned',
      detail: 'stop 0.5 at 1960',
    },
  ],
  summary: { positions: 2, tracked: 2, findings: 1, applied: 0, skipped: 0, failed: 0 },
  mismatches: 1,
  awaitingExecution: [],
};
const RECON_RESULT = {
  dryRun: true,
  accounts: ['main', 'hedge'],
  mismatches: 1,
  runs: [
    { accountId: 'main', report: RECON_REPORT },
    {
      accountId: 'hedge',
      report: { ...RECON_REPORT, accountId: 'hedge', findings: [], actions: [], mismatches: 0 },
    },
  ],
  failed: [],
};
const STATE_RECORD = {
  scope: { accountId: 'main' },
  value: 'ACTIVE',
  version: 1,
  reason: 'initial',
  updatedBy: 'system',
  updatedAt: T0,
};
const STATE_CHANGE = {
  auditId: 'req-123',
  previous: STATE_RECORD,
  current: {
    ...STATE_RECORD,
    value: 'HALTED',
    version: 2,
    reason: 'exchange incident',
    updatedBy: 'arn:aws:iam::123456789012:user/ops',
    updatedAt: T0 + 5000,
  },
  flatten: [{ tradeId: 'main-s-001', outcome: 'requested', detail: 'LIVE wait ended with KILL_SWITCH' }],
};
const PERFORMANCE = {
  period: 'WEEK',
  at: Date.UTC(2026, 0, 2, 12, 0, 0),
  accounts: [
    {
      accountId: 'main',
      period: 'WEEK',
      from: Date.UTC(2025, 11, 29),
      to: Date.UTC(2026, 0, 2, 12, 0, 0),
      startingEquity: '1000',
      equitySource: 'configuration',
      unsettled: ['main-s-009'],
      report: {
        trades: 4,
        wins: 3,
        losses: 1,
        breakeven: 0,
        winRate: 0.75,
        grossProfit: '30',
        grossLoss: '10',
        netPnl: '20',
        profitFactor: 3,
        expectancy: '5',
        avgWin: '10',
        avgLoss: '10',
        sharpe: 4.123456,
        sortino: null,
        dailyReturns: [],
        maxDrawdown: { absolute: '10', relative: 0.01 },
        avgHoldingSeconds: 3723,
        best: { tradeId: 'main-s-003', symbol: 'SOL/USDT:USDT', exitAt: 1, realizedPnl: '12' },
        worst: null,
        milestones: {
          '15': { threshold: 15, hits: 1, hitRate: 0.25, medianSeconds: 900 },
          '10': { threshold: 10, hits: 2, hitRate: 0.5, medianSeconds: 125 },
        },
      },
    },
  ],
};
const HEALTH = {
  status: 'degraded',
  at: Date.UTC(2026, 0, 2, 12, 0, 0),
  workers: [
    {
      worker: 'stop-manager',
      lastTickAt: Date.UTC(2026, 0, 2, 11, 59, 50),
      ageMs: 10_000,
      stale: false,
      ticks: 6,
      durationMs: 50_120,
    },
    { worker: 'reconciler', lastTickAt: null, ageMs: null, stale: true, ticks: null, durationMs: null },
  ],
  breakers: [{ scope: 'main', state: 'OPEN', failures: 5, openedAt: Date.UTC(2026, 0, 2, 11, 58, 0) }],
  tradingState: {
    global: { ...STATE_RECORD, scope: { global: true } },
    accounts: [{ ...STATE_RECORD, value: 'REDUCING', reason: 'drawdown' }],
  },
  problems: [
    'worker reconciler never recorded a tick',
    'breaker main is OPEN',
    'trading state main is REDUCING',
  ],
};

/**
 * The stand-in API's routes, as functions/handlers/api.ts answers them; `POST /reconcile` answers like the
 * reconciler handler (functions/handlers/reconciler.ts). A test may override one answer with `nextReply`.
 */
let nextReply: Reply | undefined;
function route(r: Recorded): Reply {
  if (nextReply) {
    const reply = nextReply;
    nextReply = undefined;
    return reply;
  }
  const path = new URL(r.url, 'http://x').pathname;
  const key = `${r.method} ${path}`;
  switch (key) {
    case 'POST /signals':
      return { status: 202, body: { tradeId: 'main-s-001', created: true, started: true } };
    case 'GET /trades':
      return { status: 200, body: { open: [OPEN_SUMMARY], recent: [CLOSED_SUMMARY] } };
    case 'GET /trades/main-s-001':
      return { status: 200, body: TRADE_DETAIL };
    case 'POST /trades/main-s-001/exit':
      return {
        status: 202,
        body: {
          tradeId: 'main-s-001',
          outcome: 'requested',
          detail: 'LIVE wait ended with OPERATOR',
          auditId: 'req-9',
        },
      };
    case 'POST /reconcile':
      return { status: 200, body: RECON_RESULT };
    case 'POST /trading-state':
      return { status: 200, body: STATE_CHANGE };
    case 'GET /analytics/performance':
      return { status: 200, body: PERFORMANCE };
    case 'GET /health':
      return { status: 200, body: HEALTH };
    case 'POST /config/reload':
      return { status: 200, body: { auditId: 'req-7', reloadedAt: T0, accounts: ['main', 'hedge'] } };
    default:
      return { status: 404, body: { errors: [`no route ${path}`] } };
  }
}

let api: FakeServer;
let cfn: FakeServer;
let stackOutputs: Record<string, Record<string, string>>;
let dir: string;

beforeAll(async () => {
  api = await new FakeServer(route).start();
  cfn = await fakeCloudFormation(() => stackOutputs).start();
  dir = await mkdtemp(join(os.tmpdir(), 'tw-opcli-'));
});
afterAll(async () => {
  await api.stop();
  await cfn.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  api.requests.length = 0;
  cfn.requests.length = 0;
  nextReply = undefined;
  stackOutputs = {
    Tradewarden: { ApiUrl: api.url, StateMachineArn: 'arn:aws:states:eu-west-1:1:stateMachine:x' },
  };
});

/** Runs the CLI with `--region` against the stand-ins. */
function cli(...argv: string[]): ReturnType<typeof runCli> {
  return runCli(['--region', REGION, ...argv], cfn.url);
}

/** The single API request of a run. */
function onlyRequest(): Recorded {
  expect(api.requests).toHaveLength(1);
  return api.requests[0]!;
}

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/**
 * Checks the request's SigV4 signature: the Authorization header is well-formed, names the test key,
 * the region and `execute-api`, signs host and x-amz-date, and equals the signature re-computed here
 * from the method, path, query, signed headers and body that actually arrived.
 */
async function expectSigned(r: Recorded): Promise<void> {
  const auth = r.headers.authorization ?? '';
  const m = AUTH_RE.exec(auth);
  expect(m, `Authorization header: ${auth}`).not.toBeNull();
  const [, keyId, day, region, signedList] = m!;
  expect(keyId).toBe(TEST_CREDENTIALS.accessKeyId);
  expect(region).toBe(REGION);
  const amzDate = r.headers['x-amz-date'] ?? '';
  expect(amzDate).toMatch(/^\d{8}T\d{6}Z$/);
  expect(amzDate.slice(0, 8)).toBe(day);
  const signed = signedList!.split(';');
  expect(signed).toContain('host');
  expect(signed).toContain('x-amz-date');
  const url = new URL(r.url, `http://${r.headers.host}`);
  const headers: Record<string, string> = {};
  for (const h of signed) headers[h] = r.headers[h] ?? '';
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:` +
      `${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    credentials: TEST_CREDENTIALS,
    region: REGION,
    service: 'execute-api',
    sha256: Sha256,
  });
  const again = await signer.sign(
    {
      method: r.method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(r.body === '' ? {} : { body: r.body }),
    },
    { signingDate },
  );
  expect(again.headers.authorization).toBe(auth);
}

/** Asserts that a run was refused as bad usage: exit 2, a message, and no request to AWS at all. */
function expectUsage(run: { code: number; stderr: string }, message: RegExp): void {
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(message);
  expect(api.requests).toHaveLength(0);
  expect(cfn.requests).toHaveLength(0);
}

describe('stack outputs', () => {
  it('reads the API URL from the named stack with DescribeStacks', async () => {
    stackOutputs = { Other: { ApiUrl: api.url } };
    const run = await cli('--stack', 'Other', 'health');
    expect(run.code).toBe(0);
    expect(cfn.requests).toHaveLength(1);
    const form = new URLSearchParams(cfn.requests[0]!.body);
    expect(form.get('Action')).toBe('DescribeStacks');
    expect(form.get('StackName')).toBe('Other');
    // the CloudFormation call is signed for the region given with --region
    expect(cfn.requests[0]!.headers.authorization).toContain(`/${REGION}/cloudformation/aws4_request`);
    expect(onlyRequest().url).toBe('/health');
  });

  it('defaults to the stack named Tradewarden', async () => {
    await cli('health');
    expect(new URLSearchParams(cfn.requests[0]!.body).get('StackName')).toBe('Tradewarden');
  });

  it('falls back to the SignalsIngress signals URL output when ApiUrl is absent', async () => {
    stackOutputs = { Tradewarden: { SignalsIngressSignalsUrl3F2A1B0C: `${api.url}/signals` } };
    const run = await cli('health');
    expect(run.code).toBe(0);
    expect(onlyRequest().url).toBe('/health');
  });

  it('a stack that does not exist: exit 1 with CloudFormation’s reason, no API request', async () => {
    const run = await cli('--stack', 'Nope', 'health');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot read stack Nope in eu-west-1');
    expect(run.stderr).toContain('Stack with id Nope does not exist');
    expect(api.requests).toHaveLength(0);
  });

  it('a stack without an API output: exit 1 naming the outputs it has', async () => {
    stackOutputs = { Tradewarden: { OrderQueueUrl: 'https://sqs' } };
    const run = await cli('health');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stack Tradewarden has no output ApiUrl');
    expect(run.stderr).toContain('its outputs: OrderQueueUrl');
    expect(api.requests).toHaveLength(0);
  });
});

describe('signal', () => {
  const signal = {
    signalId: 's-001',
    accountId: 'main',
    exchange: 'paper',
    symbol: 'BTC/USDT:USDT',
    side: 'long',
    entry: 'market',
    stop: { pct: '1' },
    riskPct: '0.5',
    rr: '2',
  };

  it('POSTs the file’s JSON to /signals, signed, and prints the answer as a table', async () => {
    const file = join(dir, 'signal.json');
    await writeFile(file, JSON.stringify(signal));
    const run = await cli('signal', file);
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/signals');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual(signal);
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ tradeId\s+│ main-s-001\s+│/);
    expect(run.stdout).toMatch(/│ created\s+│ true\s+│/);
  });

  it('reads standard input with "-" and prints raw JSON with --json', async () => {
    const run = await runCli(['--region', REGION, 'signal', '-', '--json'], cfn.url, {
      readStdin: () => Promise.resolve(JSON.stringify(signal)),
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(onlyRequest().body)).toEqual(signal);
    expect(JSON.parse(run.stdout)).toEqual({ tradeId: 'main-s-001', created: true, started: true });
  });

  it('a file that is not JSON is bad usage: exit 2, nothing sent', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{"signalId": ');
    expectUsage(await cli('signal', file), /broken\.json: not JSON/);
  });

  it('a JSON array is bad usage (one signal per call)', async () => {
    const file = join(dir, 'array.json');
    await writeFile(file, JSON.stringify([signal]));
    expectUsage(await cli('signal', file), /a signal is one JSON object, got an array/);
  });

  it('a missing file is bad usage', async () => {
    expectUsage(await cli('signal', join(dir, 'missing.json')), /cannot read .*missing\.json: ENOENT/);
  });

  it('no file argument is bad usage', async () => {
    expectUsage(await cli('signal'), /missing required argument 'file'/);
  });

  it('a signal the API rejects: exit 1 with every reason the API gave', async () => {
    const file = join(dir, 'signal2.json');
    await writeFile(file, JSON.stringify({ ...signal, rr: '-1' }));
    nextReply = { status: 400, body: { errors: ['rr: must be > 0', 'riskPct: too large'] } };
    const run = await cli('signal', file);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('POST /signals answered 400');
    expect(run.stderr).toContain('  rr: must be > 0\n');
    expect(run.stderr).toContain('  riskPct: too large\n');
    expect(run.stdout).toBe('');
  });
});

describe('trades and trade', () => {
  it('trades sends the filters and prints the open and the recently closed trades', async () => {
    const run = await cli('trades', '--account', 'main', '--status', 'LIVE', '--limit', '5');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(r.method).toBe('GET');
    expect(r.url).toBe('/trades?accountId=main&status=LIVE&limit=5');
    expect(r.body).toBe('');
    await expectSigned(r);
    expect(run.stdout).toMatch(
      /│ Trade\s+│ Account\s+│ Symbol\s+│ Side\s+│ Status\s+│ Qty\s+│ Entry\s+│ Stop\s+│ PnL\s+│ Exit\s+│ Created\s+│ Closed\s+│/,
    );
    // open: the remaining qty of the position, the entry fill's price, the live stop
    expect(run.stdout).toMatch(
      /Open \(1\):[\s\S]*│ main-s-001\s+│ main\s+│ BTC\/USDT:USDT\s+│ long\s+│ LIVE\s+│ 0\.008\s+│ 50010\.5\s+│ 49600\s+│ -\s+│ -\s+│ 2026-01-02 10:00:00Z\s+│ -\s+│/,
    );
    // closed: no position any more, so the qty is the entry fill's; PnL and exit reason shown
    expect(run.stdout).toMatch(
      /Recently closed \(1\):[\s\S]*│ main-s-000\s+│ main\s+│ BTC\/USDT:USDT\s+│ short\s+│ FINALIZED\s+│ 0\.01\s+│ 50010\.5\s+│ -\s+│ -5\.2475\s+│ STOP_HIT\s+│ 2026-01-02 10:00:00Z\s+│ 2026-01-02 09:59:00Z\s+│/,
    );
  });

  it('trades without filters sends no query; --json prints the API’s answer', async () => {
    const run = await cli('trades', '--json');
    expect(onlyRequest().url).toBe('/trades');
    expect(JSON.parse(run.stdout)).toEqual({ open: [OPEN_SUMMARY], recent: [CLOSED_SUMMARY] });
  });

  it('empty lists say so', async () => {
    nextReply = { status: 200, body: { open: [], recent: [] } };
    const run = await cli('trades');
    expect(run.stdout).toBe('Open: none.\nRecently closed: none.\n');
  });

  it('an unknown status, a malformed account or a bad limit is bad usage', async () => {
    expectUsage(
      await cli('trades', '--status', 'OPEN'),
      /argument 'OPEN' is invalid\. Allowed choices are PENDING/,
    );
    expectUsage(await cli('trades', '--account', 'Main Account'), /An account id is 1–32 lowercase letters/);
    expectUsage(await cli('trades', '--limit', '0'), /An integer from 1 to 200/);
    expectUsage(await cli('trades', '--limit', '2.5'), /An integer from 1 to 200/);
  });

  it('trade <id> shows the trade’s fields, its events and its orders', async () => {
    const run = await cli('trade', 'main-s-001');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(r.url).toBe('/trades/main-s-001');
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ status\s+│ LIVE\s+│/);
    expect(run.stdout).toMatch(/│ data\.position\s+│ \{"remainingQty":"0\.008","stop":"49600"\}\s+│/);
    expect(run.stdout).toMatch(/│ milestones\s+│ \{"10":420\}\s+│/);
    expect(run.stdout).toMatch(
      /Events \(2\):[\s\S]*│ 2\s+│ 2026-01-02 10:00:01Z\s+│ ENTRY_FILLED\s+│ ENTERING\s+│ LIVE\s+│ entry:main-s-001\s+│/,
    );
    expect(run.stdout).toMatch(/Orders \(1\):[\s\S]*│ tw-main-s-001-stop-0\s+│ STOP\s+│ ACKED\s+│ 9001\s+│/);
  });

  it('a trade id is sent URL-encoded', async () => {
    nextReply = { status: 404, body: { errors: ['trade a:b does not exist'] } };
    await cli('trade', 'a:b');
    expect(onlyRequest().url).toBe('/trades/a%3Ab');
  });

  it('a trade the API does not know: exit 1 with the reason', async () => {
    nextReply = { status: 404, body: { errors: ['trade nope-1 does not exist'] } };
    const run = await cli('trade', 'nope-1');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: GET /trades/nope-1 answered 404\n  trade nope-1 does not exist\n');
    expect(run.stdout).toBe('');
  });

  it('a trade id with a slash is bad usage', async () => {
    expectUsage(await cli('trade', '../health'), /trade id "\.\.\/health" is not valid/);
  });
});

describe('reconcile', () => {
  it('is a dry run of every account by default (the console event {"dryRun": true})', async () => {
    const run = await cli('reconcile');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(`${r.method} ${r.url}`).toBe('POST /reconcile');
    expect(JSON.parse(r.body)).toEqual({ dryRun: true });
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ mode\s+│ dry run \(nothing changed\)\s+│/);
    expect(run.stdout).toMatch(/│ accounts\s+│ main, hedge\s+│/);
    expect(run.stdout).toMatch(
      /Account main:[\s\S]*│ MISSING_STOP\s+│ ETH\/USDT:USDT\s+│ main-s-002\s+│ no stop on the exchange\s+│/,
    );
    expect(run.stdout).toMatch(/│ PLACE_STOP\s+│ main-s-002\s+│ planned\s+│ stop 0\.5 at 1960\s+│/);
    expect(run.stdout).toMatch(/Account hedge:[\s\S]*Findings: none\./);
  });

  it('--apply --account sends {"accountId", "apply": true}', async () => {
    nextReply = {
      status: 200,
      body: {
        ...RECON_RESULT,
        dryRun: false,
        accounts: ['main'],
        mismatches: 0,
        runs: [
          {
            accountId: 'main',
            report: { ...RECON_REPORT, dryRun: false, findings: [], actions: [], mismatches: 0 },
          },
        ],
      },
    };
    const run = await cli('reconcile', '--apply', '--account', 'main');
    expect(run.code).toBe(0);
    expect(JSON.parse(onlyRequest().body)).toEqual({ accountId: 'main', apply: true });
    expect(run.stdout).toMatch(/│ mode\s+│ apply\s+│/);
    expect(run.stdout).toContain('Findings: none.');
  });

  it('--json prints the answer as the API sent it', async () => {
    const run = await cli('--json', 'reconcile');
    expect(JSON.parse(run.stdout)).toEqual(RECON_RESULT);
  });

  it('an account whose run failed: the other reports are printed, then exit 1', async () => {
    nextReply = {
      status: 200,
      body: {
        ...RECON_RESULT,
        failed: ['hedge'],
        runs: [RECON_RESULT.runs[0], { accountId: 'hedge', error: 'exchange down' }],
      },
    };
    const run = await cli('reconcile');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Account hedge: FAILED — exchange down');
    expect(run.stdout).toContain('MISSING_STOP');
    expect(run.stderr).toBe('error: reconciliation failed for hedge\n');
  });

  it('an unknown option is bad usage', async () => {
    expectUsage(await cli('reconcile', '--dry'), /unknown option '--dry'/);
  });
});

describe('trading-state', () => {
  it('with no subcommand shows the states (from /health)', async () => {
    const run = await cli('trading-state');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(`${r.method} ${r.url}`).toBe('GET /health');
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ Scope\s+│ State\s+│ Reason\s+│ Updated by\s+│ Updated at\s+│/);
    expect(run.stdout).toMatch(/│ global\s+│ ACTIVE\s+│ initial\s+│ system\s+│ 2026-01-02 10:00:00Z\s+│/);
    expect(run.stdout).toMatch(/│ main\s+│ REDUCING\s+│ drawdown\s+│/);
  });

  it('get --json prints the trading-state part of the answer', async () => {
    const run = await cli('trading-state', 'get', '--json');
    expect(JSON.parse(run.stdout)).toEqual(HEALTH.tradingState);
  });

  it('set --account sends the account as the scope, with flatten and the reason', async () => {
    const run = await cli(
      'trading-state',
      'set',
      'HALTED',
      '--account',
      'main',
      '--flatten',
      '--reason',
      'exchange incident',
    );
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(`${r.method} ${r.url}`).toBe('POST /trading-state');
    expect(JSON.parse(r.body)).toEqual({
      scope: 'main',
      state: 'HALTED',
      flatten: true,
      reason: 'exchange incident',
    });
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ scope\s+│ main\s+│/);
    expect(run.stdout).toMatch(/│ state\s+│ ACTIVE → HALTED\s+│/);
    expect(run.stdout).toMatch(/│ audit id\s+│ req-123\s+│/);
    expect(run.stdout).toMatch(
      /Flatten \(1\):[\s\S]*│ main-s-001\s+│ requested\s+│ LIVE wait ended with KILL_SWITCH\s+│/,
    );
  });

  it('set without --account is global and without --flatten does not flatten', async () => {
    await cli('trading-state', 'set', 'ACTIVE', '--reason', 'resume');
    expect(JSON.parse(onlyRequest().body)).toEqual({
      scope: 'global',
      state: 'ACTIVE',
      flatten: false,
      reason: 'resume',
    });
  });

  it('set without a reason, with an empty reason, or with an unknown state is bad usage', async () => {
    expectUsage(await cli('trading-state', 'set', 'HALTED'), /--reason "…" is required/);
    expectUsage(await cli('trading-state', 'set', 'HALTED', '--reason', '  '), /--reason must not be empty/);
    expectUsage(
      await cli('trading-state', 'set', 'HALTED', '--reason', 'x'.repeat(501)),
      /--reason is 501 characters; at most 500/,
    );
    expectUsage(
      await cli('trading-state', 'set', 'PAUSED', '--reason', 'x'),
      /'PAUSED' is invalid for argument 'state'\. Allowed choices are ACTIVE, REDUCING, HALTED/,
    );
    expectUsage(await cli('trading-state', 'set'), /missing required argument 'state'/);
  });

  it('a state change the API refuses: exit 1 with the reason', async () => {
    nextReply = {
      status: 400,
      body: {
        errors: [
          'flatten: needs state REDUCING or HALTED (flattening while ACTIVE would let new entries in)',
        ],
      },
    };
    const run = await cli('trading-state', 'set', 'ACTIVE', '--flatten', '--reason', 'x');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('POST /trading-state answered 400');
    expect(run.stderr).toContain('  flatten: needs state REDUCING or HALTED');
  });
});

describe('exit', () => {
  it('POSTs the reason to /trades/{id}/exit', async () => {
    const run = await cli('exit', 'main-s-001', '--reason', 'manual close');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(`${r.method} ${r.url}`).toBe('POST /trades/main-s-001/exit');
    expect(JSON.parse(r.body)).toEqual({ reason: 'manual close' });
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ outcome\s+│ requested\s+│/);
    expect(run.stdout).toMatch(/│ auditId\s+│ req-9\s+│/);
  });

  it('without a reason is bad usage', async () => {
    expectUsage(await cli('exit', 'main-s-001'), /exit: --reason "…" is required/);
  });

  it('a trade that is not live: exit 1 with the API’s reason (409)', async () => {
    nextReply = {
      status: 409,
      body: { errors: ['trade main-s-001 is CLOSED; a force exit needs LIVE, WARNING or CRITICAL'] },
    };
    const run = await cli('exit', 'main-s-001', '--reason', 'x');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'error: POST /trades/main-s-001/exit answered 409\n' +
        '  trade main-s-001 is CLOSED; a force exit needs LIVE, WARNING or CRITICAL\n',
    );
  });
});

describe('report', () => {
  it('sends the period and account and prints the metrics and the milestone table', async () => {
    const run = await cli('report', '--period', 'WEEK', '--account', 'main');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(r.url).toBe('/analytics/performance?period=WEEK&accountId=main');
    await expectSigned(r);
    const out = run.stdout;
    expect(out).toMatch(/│ account\s+│ main\s+│/);
    expect(out).toMatch(/│ from\s+│ 2025-12-29 00:00:00Z\s+│/);
    expect(out).toMatch(/│ starting equity\s+│ 1000 \(configuration\)\s+│/);
    expect(out).toMatch(/│ wins \/ losses \/ breakeven\s+│ 3 \/ 1 \/ 0\s+│/);
    expect(out).toMatch(/│ win rate\s+│ 75\.00 %\s+│/);
    expect(out).toMatch(/│ net PnL\s+│ 20\s+│/);
    expect(out).toMatch(/│ profit factor\s+│ 3\s+│/);
    expect(out).toMatch(/│ Sharpe \(daily, ×√365\)\s+│ 4\.1235\s+│/);
    expect(out).toMatch(/│ Sortino \(daily, ×√365\)\s+│ -\s+│/);
    expect(out).toMatch(/│ max drawdown \(relative\)\s+│ 1\.00 %\s+│/);
    expect(out).toMatch(/│ average holding time\s+│ 1h 02m 03s\s+│/);
    expect(out).toMatch(/│ best trade\s+│ 12 \(main-s-003 SOL\/USDT:USDT\)\s+│/);
    expect(out).toMatch(/│ worst trade\s+│ -\s+│/);
    expect(out).toMatch(/│ closed, not settled yet \(left out\)\s+│ main-s-009\s+│/);
    // milestones sorted by threshold
    expect(out).toMatch(
      /│ \+10 %\s+│ 2\s+│ 50\.00 %\s+│ 2m 05s\s+│[\s\S]*│ \+15 %\s+│ 1\s+│ 25\.00 %\s+│ 15m 00s\s+│/,
    );
  });

  it('defaults to the period ALL and every account', async () => {
    nextReply = { status: 200, body: { period: 'ALL', at: T0, accounts: [] } };
    const run = await cli('report');
    expect(onlyRequest().url).toBe('/analytics/performance?period=ALL');
    expect(run.stdout).toBe('No accounts.\n');
  });

  it('an unknown period is bad usage', async () => {
    expectUsage(
      await cli('report', '--period', 'YEAR'),
      /argument 'YEAR' is invalid\. Allowed choices are ALL, TODAY, WEEK, MONTH/,
    );
  });

  it('an account without equity: exit 1 with the API’s reason', async () => {
    nextReply = {
      status: 400,
      body: {
        errors: ['startingEquity: account main has no equity in the configuration; pass startingEquity'],
      },
    };
    const run = await cli('report', '--account', 'main');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('  startingEquity: account main has no equity in the configuration');
  });
});

describe('health and config-reload', () => {
  it('health prints the status, the workers, the breakers, the trading states and the problems', async () => {
    const run = await cli('health');
    expect(run.code).toBe(0);
    await expectSigned(onlyRequest());
    const out = run.stdout;
    expect(out).toMatch(/│ status\s+│ degraded\s+│/);
    expect(out).toMatch(/│ stop-manager\s+│ 2026-01-02 11:59:50Z\s+│ 10s\s+│ no\s+│ 6\s+│ 50120\s+│/);
    expect(out).toMatch(/│ reconciler\s+│ -\s+│ -\s+│ STALE\s+│ -\s+│ -\s+│/);
    expect(out).toMatch(/│ main\s+│ OPEN\s+│ 5\s+│ 2026-01-02 11:58:00Z\s+│/);
    expect(out).toMatch(/│ main\s+│ REDUCING\s+│ drawdown\s+│/);
    expect(out).toContain('  - breaker main is OPEN\n');
  });

  it('config-reload POSTs to /config/reload without a body', async () => {
    const run = await cli('config-reload');
    expect(run.code).toBe(0);
    const r = onlyRequest();
    expect(`${r.method} ${r.url}`).toBe('POST /config/reload');
    expect(r.body).toBe('');
    await expectSigned(r);
    expect(run.stdout).toMatch(/│ reloadedAt\s+│ 2026-01-02 10:00:00Z\s+│/);
  });
});

describe('usage and failures', () => {
  it('--help prints the commands and exits 0 without any request', async () => {
    const run = await cli('--help');
    expect(run.code).toBe(0);
    for (const c of ['signal', 'trades', 'trade', 'reconcile', 'trading-state', 'exit', 'report']) {
      expect(run.stdout).toMatch(new RegExp(`\\n  ${c} `));
    }
    expect(api.requests).toHaveLength(0);
    expect(cfn.requests).toHaveLength(0);
  });

  it('an unknown command or no command is bad usage', async () => {
    expectUsage(await cli('trdes'), /unknown command 'trdes'\n\(Did you mean trades\?\)/);
    expectUsage(await cli(), /Usage: tradewarden/);
  });

  it('no region (no --region, no AWS_REGION, none in the profile) is bad usage', async () => {
    const saved = { ...process.env };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    delete process.env.AWS_PROFILE;
    process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
    try {
      expectUsage(await runCli(['health'], cfn.url), /no AWS region: pass --region or set AWS_REGION/);
    } finally {
      process.env = saved;
    }
  });

  it('the region may come from AWS_REGION', async () => {
    const saved = process.env.AWS_REGION;
    process.env.AWS_REGION = REGION;
    try {
      const run = await runCli(['health'], cfn.url);
      expect(run.code).toBe(0);
      await expectSigned(onlyRequest());
    } finally {
      if (saved === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = saved;
    }
  });

  it('IAM refusing the request (403 with a message): exit 1 with the message', async () => {
    nextReply = { status: 403, body: { message: 'Forbidden' } };
    const run = await cli('trades');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: GET /trades answered 403\n  Forbidden\n');
  });

  it('a 5xx without a JSON body: exit 1 with the text', async () => {
    const plain = new FakeServer(() => ({ status: 502, raw: 'Bad Gateway' }));
    await plain.start();
    try {
      stackOutputs = { Tradewarden: { ApiUrl: plain.url } };
      const run = await cli('health');
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('error: GET /health answered 502\n  Bad Gateway\n');
    } finally {
      await plain.stop();
    }
  });

  it('an API that cannot be reached: exit 1', async () => {
    stackOutputs = { Tradewarden: { ApiUrl: 'http://127.0.0.1:9' } };
    const run = await cli('health');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: GET \/health failed: fetch failed/);
  });

  it('the launcher in package.json "bin" runs the CLI with tsx', async () => {
    const run = promisify(execFile);
    const launcher = join(REPO_ROOT, 'bin', 'tradewarden-cli.js');
    const help = await run(process.execPath, [launcher, '--help'], { cwd: REPO_ROOT });
    expect(help.stdout).toContain('Usage: tradewarden [options] [command]');
    const bad = await run(process.execPath, [launcher, 'report', '--period', 'YEAR'], {
      cwd: REPO_ROOT,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'YEAR' is invalid");
  });
});
