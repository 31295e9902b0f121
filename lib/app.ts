/**
 * Builds the CDK app: the `Tradewarden` stack with cdk-nag's AwsSolutions checks registered as a
 * validation plugin (`Validations.of(app).addPlugins`), so synthesis fails on any unacknowledged finding.
 * `bin/tradewarden.ts` calls it; the infrastructure tests call it with test context.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ACCOUNTS_CONTEXT, parseAccountsContext } from './exchange-accounts.js';
import { TradewardenStack } from './tradewarden-stack.js';

/** The repository root (this file is in `lib/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The stack name. */
export const STACK_NAME = 'Tradewarden';

/** Options of {@link createApp} (all optional; the deployable app uses none). */
export interface CreateAppOptions {
  /** Context values (e.g. `accounts`); the CLI's `-c` values are read by `App` itself. */
  readonly context?: Record<string, unknown>;
  /** Cloud assembly directory (default: the CLI's, or a temporary one). */
  readonly outdir?: string;
  /** ASL file instead of `statemachines/trade-lifecycle.asl.json` (tests only). */
  readonly definitionFile?: string;
  readonly repoRoot?: string;
}

/** The app, its stack and the cdk-nag pack registered on it. */
export function createApp(opts: CreateAppOptions = {}): {
  app: App;
  stack: TradewardenStack;
  nag: AwsSolutionsChecks;
} {
  const app = new App({
    ...(opts.context ? { context: opts.context } : {}),
    ...(opts.outdir ? { outdir: opts.outdir } : {}),
  });
  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  const stack = new TradewardenStack(app, STACK_NAME, {
    repoRoot: opts.repoRoot ?? REPO_ROOT,
    accounts: parseAccountsContext(app.node.tryGetContext(ACCOUNTS_CONTEXT)),
    ...(opts.definitionFile ? { definitionFile: opts.definitionFile } : {}),
  });
  return { app, stack, nag };
}
