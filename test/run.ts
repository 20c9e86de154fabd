/**
 * The test command: finds the test files (test/helpers/testFiles.ts), starts an embedded PostgreSQL (unless
 * DATABASE_URL is set), then runs node's test runner through tsx on them.
 *
 *   tsx test/run.ts [options] [selection…]
 *
 * - no selection: every `test/**\/*.test.ts` but the fault suite's; `--suite=faults`: every
 *   `test/faults/**\/*.test.ts`. Nothing has to be listed anywhere, so no test file can be left out.
 * - a selection is a file, a directory or a pattern (`'test/api/*.test.ts'`, `'test/**\/dead*'`): e.g.
 *   `npm test -- test/enqueue.test.ts`. A selection that matches no file fails the run (exit code 2).
 * - `--concurrency=N`: how many files run at once (default 2); the fault suite runs one at a time, since
 *   each of its files loads the machine on its own.
 * - `--list`: print the files the run would cover and exit, without a database.
 * - `--root=DIR`: where the suites live (default: this folder); for test/runner.test.ts.
 * - `--test-…` options (`--test-name-pattern=…`) go to node's test runner as they are.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startEmbeddedPostgres } from './helpers/embedded.js';
import { SUITES, type Suite, selectTestFiles } from './helpers/testFiles.js';

const usage = (message: string): never => {
  console.error(`test/run.ts: ${message}`);
  process.exit(2);
};

let concurrency = 2;
let suite: Suite = 'default';
let root = import.meta.dirname;
let list = false;
const nodeOptions: string[] = [];
const selections: string[] = [];
for (const arg of process.argv.slice(2)) {
  const [name, value] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
  if (!arg.startsWith('--')) selections.push(arg);
  else if (name === '--concurrency' && value && /^[1-9]\d*$/.test(value)) concurrency = Number(value);
  else if (name === '--suite' && SUITES.includes(value as Suite)) suite = value as Suite;
  else if (name === '--root' && value) root = resolve(value);
  else if (arg === '--list') list = true;
  else if (name.startsWith('--test-')) nodeOptions.push(arg);
  else usage(`unknown or malformed option ${arg} (--concurrency=N, --suite=${SUITES.join('|')}, --root=DIR, --list, --test-…)`);
}

let files: string[] = [];
try {
  files = selectTestFiles({ root, suite, selections, cwd: process.cwd() });
} catch (err) {
  usage((err as Error).message);
}
if (list) {
  process.stdout.write(files.map((f) => `${f}\n`).join(''));
  process.exit(0);
}

let stop: (() => Promise<void>) | undefined;
let url = process.env.DATABASE_URL;
if (!url) {
  const pg = await startEmbeddedPostgres();
  url = pg.url;
  stop = pg.stop;
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...nodeOptions, ...files], {
  stdio: 'inherit',
  // Bare `sluice/...` imports resolve to the sources, in the test processes and every node process they start.
  env: { ...process.env, DATABASE_URL: url, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=sluice-source`.trim() },
});
// A signal (Ctrl-C, a CI timeout) goes to the tests; once they end, the server stops and the run exits.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code: number = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
await stop?.();
process.exit(code);
