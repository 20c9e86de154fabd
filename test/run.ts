/**
 * The test command: starts an embedded PostgreSQL (unless DATABASE_URL is set), then runs node's test
 * runner through tsx on the files named on the command line. A named file that does not exist fails the
 * run, so a list that matches nothing can never pass. `--concurrency=N` first sets how many files run at
 * once (default 2); the fault suite runs one at a time, since each file loads the machine on its own.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startEmbeddedPostgres } from './helpers/embedded.js';

const args = process.argv.slice(2);
const concurrency = args[0]?.match(/^--concurrency=([1-9]\d*)$/)?.[1];
const files = concurrency ? args.slice(1) : args;
if (files.length === 0) {
  console.error('test/run.ts: name the test files to run');
  process.exit(2);
}
const missing = files.filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.error(`test/run.ts: no such test file: ${missing.join(', ')}`);
  process.exit(2);
}

let stop: (() => Promise<void>) | undefined;
let url = process.env.DATABASE_URL;
if (!url) {
  const pg = await startEmbeddedPostgres();
  url = pg.url;
  stop = pg.stop;
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency ?? 2}`, ...files], {
  stdio: 'inherit',
  // Bare `sluice/...` imports resolve to the sources, in the test processes and every node process they start.
  env: { ...process.env, DATABASE_URL: url, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=sluice-source`.trim() },
});
// A signal (Ctrl-C, a CI timeout) goes to the tests; once they end, the server stops and the run exits.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code: number = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
await stop?.();
process.exit(code);
