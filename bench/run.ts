/**
 * Benchmark runner: `npm run bench -- <name>` imports `bench/<name>.ts`, calls its `run()` and prints the
 * figures as one JSON object on the last line of stdout (progress lines go to stderr). Without a name, or
 * with an unknown one, it lists the benchmarks and exits with code 2.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runIfEntryPoint } from '../local/entry-point.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/** What a benchmark module exports. */
export interface BenchmarkModule {
  run(): Promise<Record<string, number | string>>;
}

/** The benchmark names: every `bench/<name>.ts` except this runner (helpers live in `bench/lib/`). */
export async function benchmarkNames(dir = BENCH_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && e.name !== 'run.ts')
    .map((e) => e.name.slice(0, -3))
    .sort();
}

function checkFigures(name: string, figures: unknown): Record<string, number | string> {
  if (typeof figures !== 'object' || figures === null || Array.isArray(figures)) {
    throw new TypeError(`benchmark ${name} returned ${JSON.stringify(figures)}, not an object of figures`);
  }
  for (const [k, v] of Object.entries(figures)) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) {
      throw new TypeError(`benchmark ${name}: figure ${k} is ${String(v)}, not a finite number or a string`);
    }
  }
  return figures as Record<string, number | string>;
}

/** Runs one benchmark by name; returns the exit code (2 for a missing or unknown name). */
export async function main(argv: readonly string[]): Promise<number> {
  const names = await benchmarkNames();
  const name = argv[0];
  if (name === undefined || !names.includes(name) || argv.length > 1) {
    const what =
      name === undefined
        ? 'no benchmark named'
        : argv.length > 1
          ? 'one benchmark at a time'
          : `unknown benchmark "${name}"`;
    process.stderr.write(`${what}; usage: npm run bench -- <name>\nbenchmarks: ${names.join(', ')}\n`);
    return 2;
  }
  const mod = (await import(pathToFileURL(join(BENCH_DIR, `${name}.ts`)).href)) as Partial<BenchmarkModule>;
  if (typeof mod.run !== 'function') {
    process.stderr.write(`bench/${name}.ts does not export run()\n`);
    return 2;
  }
  process.stderr.write(`benchmark ${name}: node ${process.version}\n`);
  const started = performance.now();
  const figures = checkFigures(name, await mod.run());
  process.stderr.write(`benchmark ${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${JSON.stringify({ benchmark: name, ...figures })}\n`);
  return 0;
}

runIfEntryPoint(import.meta.url, main, 'benchmark failed');
