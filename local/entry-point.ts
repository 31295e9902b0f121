/**
 * Runs a command-line `main` when its module is the script node was started with (not when imported by a
 * test): the exit code becomes the process's, and an unexpected error is printed with `label`, exit code 1.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function runIfEntryPoint(
  moduleUrl: string,
  main: (argv: string[]) => Promise<number>,
  label: string,
): void {
  const script = process.argv[1];
  if (script === undefined) return;
  let isEntry = false;
  try {
    isEntry = moduleUrl === pathToFileURL(realpathSync(script)).href;
  } catch {
    return;
  }
  if (!isEntry) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${label}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
