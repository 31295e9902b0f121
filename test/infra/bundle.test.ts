/**
 * The deployable app as `npx cdk synth` builds it: every handler bundled by esbuild (no stubs), cdk-nag
 * passing, and each bundle loading in a fresh Node process and exporting `handler`. Slow (about 15 s of
 * bundling on 2 cores), so it runs once here; the template assertions use inline stub code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { HANDLERS } from '../../lib/tradewarden-stack.js';

interface Fn {
  Type: string;
  Properties: { Code: { S3Key: string }; Handler: string };
}

let outdir: string;
let functions: [string, Fn][];

beforeAll(() => {
  outdir = mkdtempSync(join(os.tmpdir(), 'tradewarden-bundle-'));
  const { app, stack } = createApp({ outdir, context: { accounts: 'main:binanceusdm' } });
  const assembly = app.synth();
  const template = JSON.parse(
    readFileSync(join(assembly.directory, `${stack.artifactId}.template.json`), 'utf8'),
  ) as { Resources: Record<string, Fn> };
  functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
}, 180_000);

describe('the deployable app (esbuild bundles)', () => {
  it('synthesizes with cdk-nag passing', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
    };
    expect(report.pluginReports.map((p) => [p.pluginName, p.conclusion, p.violations.length])).toEqual([
      ['AwsSolutions', 'success', 0],
    ]);
    expect(functions).toHaveLength(Object.keys(HANDLERS).length);
  });

  it('every bundle is one ESM file under 3 MiB with a linked source map, and loads exporting handler', () => {
    for (const [id, fn] of functions) {
      expect(fn.Properties.Handler, id).toBe('index.handler');
      const dir = join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      const file = join(dir, 'index.mjs');
      expect(existsSync(file), id).toBe(true);
      expect(existsSync(`${file}.map`), id).toBe(true);
      expect(statSync(file).size, id).toBeLessThan(3 * 1024 * 1024);
      const r = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const m = await import('./index.mjs'); process.stdout.write(typeof m.handler);",
        ],
        {
          cwd: dir,
          env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(r.stderr, id).toBe('');
      expect(r.stdout, id).toBe('function');
    }
  }, 120_000);
});
