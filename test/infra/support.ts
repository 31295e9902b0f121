/**
 * Shared synthesis for the infrastructure tests: the real app (`createApp`, cdk-nag registered as a
 * validation plugin) with inline stub code instead of esbuild bundles, a test-only placeholder ASL, and
 * two exchange accounts. Synthesized once per test file.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app.js';
import { INLINE_CODE_CONTEXT } from '../../lib/handler-function.js';
import type { TradewardenStack } from '../../lib/tradewarden-stack.js';

/** The placeholder state machine of the tests (uses the three substitutions; not the product's ASL). */
export const PLACEHOLDER_ASL = fileURLToPath(new URL('./fixtures/placeholder.asl.json', import.meta.url));

/** The accounts of the test deployment. */
export const TEST_ACCOUNTS = 'main:binanceusdm,hedge:okx,demo:paper';

/** One synthesized app. */
export interface Synthesized {
  stack: TradewardenStack;
  template: Template;
  /** The raw template JSON. */
  json: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> } & Record<
    string,
    unknown
  >;
  /** The cloud assembly directory (validation-report.json is there). */
  outdir: string;
}

/** Synthesizes the app (the validation plugin runs; a finding makes this throw). */
export function synthesize(): Synthesized {
  const outdir = mkdtempSync(join(os.tmpdir(), 'tradewarden-cdk-'));
  const { app, stack } = createApp({
    context: { [INLINE_CODE_CONTEXT]: true, accounts: TEST_ACCOUNTS },
    outdir,
    definitionFile: PLACEHOLDER_ASL,
  });
  const assembly = app.synth();
  const json = JSON.parse(
    readFileSync(join(assembly.directory, `${stack.artifactId}.template.json`), 'utf8'),
  ) as Synthesized['json'];
  return { stack, template: Template.fromJSON(json), json, outdir };
}

/** Logical id of a construct's default CloudFormation resource. */
export function logicalId(stack: TradewardenStack, construct: { node: { defaultChild?: unknown } }): string {
  const child = construct.node.defaultChild;
  if (!child) throw new TypeError('construct has no default child');
  return stack.getLogicalId(child as Parameters<TradewardenStack['getLogicalId']>[0]);
}
