/**
 * `tradewarden` — the operator's command line for a deployed stack (`npx tradewarden --help`).
 *
 * It reads the stack's outputs (CloudFormation DescribeStacks) to find the HTTP API, then calls the API
 * with SigV4-signed requests (service `execute-api`, credentials from the AWS SDK's default chain or
 * `--profile`). Readable tables by default, the API's raw JSON with `--json`.
 *
 * Exit codes: 0 success; 2 bad usage (nothing was sent); 1 a remote failure (stack, credentials,
 * network, or the API answered 4xx/5xx — its reasons are printed).
 */
import { readFile } from 'node:fs/promises';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ANALYTICS_PERIODS } from '../../functions/core/analytics.js';
import { TRADING_STATES } from '../../functions/core/config.js';
import { TRADE_STATUSES } from '../../functions/core/lifecycle.js';
import { ApiClient, resolveStack } from './aws.js';
import type { ApiRequest, AwsSettings, CredentialsProvider } from './aws.js';
import { EXIT_REMOTE, EXIT_USAGE, RemoteError, UsageError } from './errors.js';
import {
  failedAccounts,
  renderHealth,
  renderObject,
  renderReconcile,
  renderReport,
  renderTrade,
  renderTrades,
  renderTradingState,
  renderTradingStateChange,
} from './render.js';

/** Default CloudFormation stack name (the CDK app's stack). */
export const DEFAULT_STACK = 'Tradewarden';

/** Account ids as the engine's configuration allows them. */
const ACCOUNT_ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Largest `--limit` of `trades` (the API's maximum). */
export const MAX_TRADES_LIMIT = 200;
/** Longest operator reason accepted (it is stored in the audit log). */
export const MAX_REASON_LENGTH = 500;

/** Where the CLI reads and writes, and how it reaches AWS; every field has a production default. */
export interface CliDeps {
  /** Receives standard output (default: process.stdout). */
  stdout?: (text: string) => void;
  /** Receives error output (default: process.stderr). */
  stderr?: (text: string) => void;
  /** Reads all of standard input (for `signal -`; default: process.stdin). */
  readStdin?: () => Promise<string>;
  /** Credentials instead of the SDK's default chain. */
  credentials?: CredentialsProvider;
  /** CloudFormation endpoint instead of the regional one. */
  cloudFormationEndpoint?: string;
}

/** Global options (given before or after the subcommand). */
interface GlobalOptions {
  stack: string;
  region?: string;
  profile?: string;
  json?: boolean;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

function accountOption(value: string): string {
  if (!ACCOUNT_ID_RE.test(value)) {
    throw new InvalidArgumentError('An account id is 1–32 lowercase letters, digits or dashes.');
  }
  return value;
}

function limitOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_TRADES_LIMIT) {
    throw new InvalidArgumentError(`An integer from 1 to ${MAX_TRADES_LIMIT}.`);
  }
  return n;
}

function reasonOf(value: string | undefined, command: string): string {
  if (value === undefined) throw new UsageError(`${command}: --reason "…" is required (it is audited)`);
  const r = value.trim();
  if (r === '') throw new UsageError(`${command}: --reason must not be empty`);
  if (r.length > MAX_REASON_LENGTH) {
    throw new UsageError(`${command}: --reason is ${r.length} characters; at most ${MAX_REASON_LENGTH}`);
  }
  return r;
}

function tradeIdOf(value: string): string {
  const id = value.trim();
  if (id === '' || /[\s/?#]/.test(id)) {
    throw new UsageError(`trade id "${value}" is not valid (no spaces, "/", "?" or "#")`);
  }
  return id;
}

/** Parses a signal file's text: one JSON object. */
export function parseSignalText(text: string, source: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${source}: not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UsageError(
      `${source}: a signal is one JSON object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`,
    );
  }
  return raw as Record<string, unknown>;
}

/** Builds the command tree; `run` sends one request and prints the answer. */
function buildProgram(deps: Required<Pick<CliDeps, 'stdout' | 'stderr' | 'readStdin'>> & CliDeps): Command {
  const program = new Command();
  program
    .name('tradewarden')
    .description(
      'Operate a deployed Tradewarden stack through its IAM-authorized HTTP API (SigV4-signed requests).\n' +
        'Exit codes: 0 ok, 1 remote failure (the API reason is shown), 2 bad usage (nothing sent).',
    )
    .option('--stack <name>', 'CloudFormation stack name', DEFAULT_STACK)
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile’s region)')
    .option('--profile <name>', 'named AWS profile for credentials and region (default: AWS_PROFILE)')
    .option('--json', 'print the API’s raw JSON instead of tables')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => deps.stdout(s),
      writeErr: (s) => deps.stderr(s),
    })
    .showSuggestionAfterError(true);

  const run = async (
    cmd: Command,
    request: ApiRequest,
    render: (body: unknown) => string,
    pickBody: (body: unknown) => unknown = (b) => b,
  ): Promise<unknown> => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const settings: AwsSettings = {
      stackName: g.stack,
      ...(g.region === undefined ? {} : { region: g.region }),
      ...(g.profile === undefined ? {} : { profile: g.profile }),
      ...(deps.credentials === undefined ? {} : { credentials: deps.credentials }),
      ...(deps.cloudFormationEndpoint === undefined
        ? {}
        : { cloudFormationEndpoint: deps.cloudFormationEndpoint }),
    };
    if (g.stack.trim() === '') throw new UsageError('--stack must not be empty');
    const api = new ApiClient(await resolveStack(settings));
    const body = pickBody(await api.call(request));
    deps.stdout(g.json ? `${JSON.stringify(body, null, 2)}\n` : `${render(body)}\n`);
    return body;
  };

  program
    .command('signal')
    .description('submit one signal (a JSON object) from a file, or from standard input with "-"')
    .argument('<file>', 'signal file (JSON), or - for standard input')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      let text: string;
      try {
        text = file === '-' ? await deps.readStdin() : await readFile(file, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
      }
      const signal = parseSignalText(text, file === '-' ? '(stdin)' : file);
      await run(cmd, { method: 'POST', path: '/signals', body: signal }, renderObject);
    });

  program
    .command('trades')
    .description('list trades (open ones unless --status says otherwise)')
    .addOption(new Option('--account <id>', 'only this account').argParser(accountOption))
    .addOption(new Option('--status <status>', 'only trades in this status').choices(TRADE_STATUSES))
    .addOption(
      new Option(
        '--limit <n>',
        `recently closed trades per account (1–${MAX_TRADES_LIMIT}; API default 20)`,
      ).argParser(limitOption),
    )
    .action(async (opts: { account?: string; status?: string; limit?: number }, cmd: Command) => {
      await run(
        cmd,
        {
          method: 'GET',
          path: '/trades',
          query: {
            accountId: opts.account,
            status: opts.status,
            limit: opts.limit === undefined ? undefined : String(opts.limit),
          },
        },
        renderTrades,
      );
    });

  program
    .command('trade')
    .description('show one trade and its audit events')
    .argument('<id>', 'trade id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const tradeId = tradeIdOf(id);
      await run(cmd, { method: 'GET', path: `/trades/${encodeURIComponent(tradeId)}` }, renderTrade);
    });

  program
    .command('reconcile')
    .description('reconcile the table with the exchange: a dry run (nothing changes) unless --apply')
    .addOption(
      new Option('--account <id>', 'only this account (default: every account)').argParser(accountOption),
    )
    .option('--apply', 'run the planned actions (default: dry run)')
    .action(async (opts: { account?: string; apply?: boolean }, cmd: Command) => {
      const body = await run(
        cmd,
        {
          method: 'POST',
          path: '/reconcile',
          // the same events as the reconciler's console test events
          body: {
            ...(opts.account === undefined ? {} : { accountId: opts.account }),
            ...(opts.apply === true ? { apply: true } : { dryRun: true }),
          },
        },
        renderReconcile,
      );
      const failed = failedAccounts(body);
      if (failed.length > 0) throw new RemoteError(`reconciliation failed for ${failed.join(', ')}`);
    });

  const tradingState = program
    .command('trading-state')
    .description('show or set the trading state (ACTIVE / REDUCING / HALTED), global or per account');
  tradingState
    .command('get', { isDefault: true })
    .description('show the global and per-account trading states (the default)')
    .action(async (_opts: unknown, cmd: Command) => {
      await run(cmd, { method: 'GET', path: '/health' }, renderTradingState, (b) =>
        typeof b === 'object' && b !== null && 'tradingState' in b ? b.tradingState : b,
      );
    });
  tradingState
    .command('set')
    .description('set the trading state of one account (--account) or the global one; audited')
    .addArgument(new Argument('<state>', 'the new state').choices(TRADING_STATES))
    .addOption(new Option('--account <id>', 'this account only (default: global)').argParser(accountOption))
    .option('--flatten', 'also close every open position of the scope (needs REDUCING or HALTED)')
    .option('--reason <text>', 'why (required; stored in the audit log)')
    .action(
      async (state: string, opts: { account?: string; flatten?: boolean; reason?: string }, cmd: Command) => {
        const reason = reasonOf(opts.reason, 'trading-state set');
        await run(
          cmd,
          {
            method: 'POST',
            path: '/trading-state',
            body: { scope: opts.account ?? 'global', state, flatten: opts.flatten === true, reason },
          },
          renderTradingStateChange,
        );
      },
    );

  program
    .command('exit')
    .description('close one trade at market now (force exit); audited')
    .argument('<tradeId>', 'trade id')
    .option('--reason <text>', 'why (required; stored in the audit log)')
    .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const tradeId = tradeIdOf(id);
      const reason = reasonOf(opts.reason, 'exit');
      await run(
        cmd,
        { method: 'POST', path: `/trades/${encodeURIComponent(tradeId)}/exit`, body: { reason } },
        renderObject,
      );
    });

  program
    .command('report')
    .description('performance analytics over the stored trades')
    .addOption(new Option('--period <period>', 'time window (UTC)').choices(ANALYTICS_PERIODS).default('ALL'))
    .addOption(new Option('--account <id>', 'only this account (default: all)').argParser(accountOption))
    .action(async (opts: { period: string; account?: string }, cmd: Command) => {
      await run(
        cmd,
        {
          method: 'GET',
          path: '/analytics/performance',
          query: { period: opts.period, accountId: opts.account },
        },
        renderReport,
      );
    });

  program
    .command('health')
    .description('last tick per worker, circuit-breaker states, trading state')
    .action(async (_opts: unknown, cmd: Command) => {
      await run(cmd, { method: 'GET', path: '/health' }, renderHealth);
    });

  program
    .command('config-reload')
    .description('re-read and check the engine configuration now; audited')
    .action(async (_opts: unknown, cmd: Command) => {
      await run(cmd, { method: 'POST', path: '/config/reload' }, renderObject);
    });

  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name) and answers the exit code; never calls
 * `process.exit`. Output goes to `deps.stdout` / `deps.stderr`.
 */
export async function main(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const io = {
    ...deps,
    stdout: deps.stdout ?? ((s: string) => void process.stdout.write(s)),
    stderr: deps.stderr ?? ((s: string) => void process.stderr.write(s)),
    readStdin: deps.readStdin ?? readAllStdin,
  };
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version end with code 0; everything else commander reports is bad usage
      if (e.exitCode === 0) return 0;
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof RemoteError) {
      io.stderr(`error: ${e.message}\n`);
      for (const r of e.reasons) io.stderr(`  ${r}\n`);
      return EXIT_REMOTE;
    }
    io.stderr(`error: ${(e as Error).message ?? String(e)}\n`);
    return EXIT_REMOTE;
  }
}
