/**
 * Bundle benchmark (`npm run bench -- bundle`): size and cold start of an exchange-facing Lambda bundle.
 *
 * Two entry points are bundled with esbuild the way a Lambda handler is (ESM, node22 target, minified,
 * a `createRequire` banner for ccxt's CommonJS dependencies, `undici` external — ccxt falls back to
 * Node's global `fetch` when it is absent — and ccxt's optional `protobufjs` replaced by a stand-in, see
 * {@link optionalProtobuf}), into a temporary directory:
 * - `adapter`: the ccxt adapter for Binance USDⓈ-M (`functions/adapters/ccxt/binanceusdm.ts`, which
 *   imports ccxt's `binanceusdm` module by deep path);
 * - `root`: ccxt's root module (`import ccxt from 'ccxt'`), the usual way of importing ccxt.
 * Each entry exports `init()`, which builds a `binanceusdm` instance (the adapter through
 * `createBinanceUsdmExchange`).
 *
 * Cold init: a fresh `node` process imports the bundle and calls `init()`; the time from before the
 * import to after `init()` is measured inside the process (process start-up itself is excluded).
 * `RUNS` processes per bundle, alternating between the two, and the median is reported.
 *
 * Figures: `max_bundle_kb` (the adapter bundle, KiB), `init_ms`, `root_bundle_kb`, `root_init_ms`,
 * `init_ratio_vs_root` (= init_ms / root_init_ms). Targets: max_bundle_kb ≤ 1024, ratio ≤ 0.7.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { REPO_ROOT } from '../local/paths.js';
import { median, progress, sig } from './lib/progress.js';

const run_ = promisify(execFile);

/** Cold-start processes per bundle. */
export const RUNS = 9;

const ADAPTER_ENTRY = `
import { createBinanceUsdmExchange } from './functions/adapters/ccxt/binanceusdm.js';
import { StaticCredentialsProvider } from './functions/adapters/ccxt/credentials.js';
export function init() {
  const credentials = new StaticCredentialsProvider({ apiKey: 'bench-key', secret: 'bench-secret' });
  return createBinanceUsdmExchange({ accountId: 'bench', credentials }).exchangeId;
}
`;

const ROOT_ENTRY = `
import ccxt from 'ccxt';
export function init() {
  return new ccxt.binanceusdm({ apiKey: 'bench-key', secret: 'bench-secret', options: { fetchCurrencies: false } }).id;
}
`;

/**
 * ccxt's optional peer dependency `protobufjs` (used only by the mexc and dydx exchanges, loaded lazily) is
 * not installed: it resolves to a stand-in that throws when used, so bundles for other exchanges build and
 * load without it.
 */
export const optionalProtobuf: Plugin = {
  name: 'optional-protobufjs',
  setup(b) {
    b.onResolve({ filter: /^protobufjs(\/|$)/ }, (args) => ({
      path: args.path,
      namespace: 'optional-missing',
    }));
    b.onLoad({ filter: /.*/, namespace: 'optional-missing' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, k) { if (k === '__esModule') return false; throw new Error(${JSON.stringify(`${args.path} is not bundled (ccxt optional dependency)`)}); } });`,
      loader: 'js',
    }));
  },
};

const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** Bundles one entry (source text resolved from the repository root) to `outfile`; returns its size in KiB. */
export async function bundle(source: string, outfile: string): Promise<number> {
  await build({
    stdin: { contents: source, resolveDir: REPO_ROOT, sourcefile: 'entry.ts', loader: 'ts' },
    tsconfig: join(REPO_ROOT, 'tsconfig.json'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    outfile,
    banner: { js: BANNER },
    external: ['undici'],
    plugins: [optionalProtobuf],
    logLevel: 'error',
  });
  return (await stat(outfile)).size / 1024;
}

const PROBE = `
const t0 = performance.now();
const m = await import(process.argv[1]);
m.init();
process.stdout.write(String(performance.now() - t0));
`;

/** One cold start: a new node process imports the bundle and calls init(); returns the ms measured inside. */
export async function coldInit(file: string): Promise<number> {
  const { stdout } = await run_(
    process.execPath,
    ['--input-type=module', '-e', PROBE, pathToFileURL(file).href],
    {
      timeout: 60_000,
    },
  );
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`cold-start probe of ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
}

export async function run(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(os.tmpdir(), 'tradewarden-bundle-'));
  try {
    const adapterFile = join(dir, 'adapter.mjs');
    const rootFile = join(dir, 'root.mjs');
    progress('bundling the binanceusdm adapter entry');
    const adapterKb = await bundle(ADAPTER_ENTRY, adapterFile);
    progress(`adapter bundle: ${adapterKb.toFixed(1)} KiB; bundling the ccxt root entry`);
    const rootKb = await bundle(ROOT_ENTRY, rootFile);
    progress(`root bundle: ${rootKb.toFixed(1)} KiB; ${RUNS} cold starts each`);
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    // one warm-up each (file-system cache), not counted
    await coldInit(adapterFile);
    await coldInit(rootFile);
    const adapterMs: number[] = [];
    const rootMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      adapterMs.push(await coldInit(adapterFile));
      rootMs.push(await coldInit(rootFile));
    }
    const initMs = median(adapterMs);
    const rootInitMs = median(rootMs);
    progress(`init: adapter ${initMs.toFixed(1)} ms, root ${rootInitMs.toFixed(1)} ms`);
    return {
      max_bundle_kb: sig(adapterKb),
      init_ms: sig(initMs),
      root_bundle_kb: sig(rootKb),
      root_init_ms: sig(rootInitMs),
      init_ratio_vs_root: sig(initMs / rootInitMs, 3),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
