#!/usr/bin/env node
// Launcher of the `tradewarden` command (package.json "bin"): runs the TypeScript CLI in bin/cli/main.ts
// with tsx's loader, in this process. tsx is a dev dependency: `npm ci` in a clone installs it.
import process from 'node:process';

let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  process.stderr.write('tradewarden: tsx is not installed; run `npm ci` in the repository first.\n');
  process.exit(1);
}
register();
const { main } = await import('./cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
