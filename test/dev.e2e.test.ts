/**
 * `npm run dev` end to end, as a newcomer runs it: a child process on a free port with its own embedded
 * database (in a temporary folder), jobs enqueued over HTTP and seen to succeed through the API and the
 * CLI, a SIGTERM to its process group mid-work (as a terminal's Ctrl-C is delivered), and a restart that
 * finishes every job: none lost.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../scripts/dev/net.js';
import { sleep } from './helpers/db.js';
import { blocksOf, shellCommands } from './helpers/readme.js';

const root = join(import.meta.dirname, '..');
const devDir = mkdtempSync(join(tmpdir(), 'sluice-dev-e2e-'));
const env = { ...process.env, SLUICE_DEV_DIR: devDir, POWERTOOLS_LOG_LEVEL: 'WARN' } as NodeJS.ProcessEnv;
delete env.DATABASE_URL; // the dev server's own embedded database, kept in devDir across the restart
delete env.SLUICE_SCHEMA;

interface Dev {
  child: ChildProcess;
  output: () => string;
  /** Resolves when every process of the group has closed its output: npm, tsx and the dev server itself. */
  closed: Promise<void>;
}

async function startDev(port: number, fresh: boolean): Promise<Dev> {
  const child = spawn('npm', ['run', 'dev', '--', '--port', String(port), '--tick-seconds', '1', ...(fresh ? ['--fresh'] : [])], {
    cwd: root,
    env,
    detached: true, // its own process group, signalled as a whole like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const closed = new Promise<void>((resolve) => child.stdout?.once('close', () => resolve()));
  for (let i = 0; i < 600 && !out.includes('[sluice dev] ready on'); i++) {
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  assert.match(out, /\[sluice dev\] ready on/, `dev did not start:\n${out}`);
  return { child, output: () => out, closed };
}

/** A README shell block, against this dev server: `localhost:3000` is its port, `npx sluice` the repository's CLI. */
function asHere(code: string, port: number): string {
  return code.replaceAll('localhost:3000', `127.0.0.1:${port}`).replaceAll('npx sluice', `node ${join(root, 'bin', 'sluice.mjs')}`);
}

/**
 * The README's blocks that run against `npm run dev`: its curl lines, each CLI command (exit 0, or 1 when
 * there is nothing to act on: never a usage error), and the signed API calls with API set to this server
 * (curl signs; the dev API does not check): every answer below 500, the enqueue a 201 or its replay.
 */
async function runReadmeBlocks(port: number, env: NodeJS.ProcessEnv): Promise<void> {
  // Asynchronously: this process keeps reading the dev server's output meanwhile.
  const sh = (script: string, extra: NodeJS.ProcessEnv = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        'bash',
        ['-c', `set -euo pipefail\n${script}`],
        { cwd: root, env: { ...env, ...extra }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end();
    });
  for (const block of blocksOf('repo-dev-shell')) {
    const res = await sh(asHere(block.code, port));
    assert.equal(res.status, 0, `README.md:${block.line}: ${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /"id":"\d+"/, 'the enqueue answered its job');
  }
  for (const block of blocksOf('cli')) {
    for (const command of shellCommands(block.code)) {
      const res = await sh(asHere(command, port));
      assert.ok(res.status === 0 || res.status === 1, `README.md:${block.line}: ${command} exited ${res.status}: ${res.stderr}`);
    }
  }
  const creds = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token' };
  for (const block of blocksOf('api-sh')) {
    const script = block.code.replace(/^API=\S+/m, `API=http://127.0.0.1:${port}`);
    assert.notEqual(script, block.code, `README.md:${block.line} sets API on a line of its own`);
    const res = await sh(`curl() { command curl -sS -w '\\n<<%{http_code}>>\\n' "$@"; }\n${script}`, creds);
    assert.equal(res.status, 0, `README.md:${block.line}: ${res.stderr}`);
    const codes = [...res.stdout.matchAll(/<<(\d{3})>>/g)].map((m) => Number(m[1]));
    assert.ok(codes.length >= 8, `every curl answered: ${res.stdout}`);
    assert.ok(
      codes.every((c) => c < 500),
      `no 5xx: ${res.stdout}`,
    );
    assert.ok(codes[0] === 201 || codes[0] === 200, `the enqueue: ${res.stdout}`);
  }
}

describe('npm run dev, end to end', { concurrency: 1 }, async () => {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  let dev: Dev | undefined;
  after(async () => {
    try {
      process.kill(-(dev?.child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(devDir, { recursive: true, force: true });
  });
  const post = async (body: unknown) => {
    const res = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  };
  const state = async (id: string) => ((await (await fetch(`${api}/v1/jobs/${id}`)).json()) as { state: string }).state;
  const until = async (what: string, check: () => Promise<boolean>, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      assert.ok(Date.now() < end, `timed out waiting for ${what}\n${dev?.output().slice(-3000)}`);
      await sleep(100);
    }
  };
  const ids: string[] = [];

  it('serves the API through the Lambda handler and runs jobs to success, seen through the API and the CLI', async () => {
    dev = await startDev(port, true);
    const order = await post({ type: 'process_order', payload: { orderId: 'e2e-1' } });
    ids.push(order);
    await until('the order to succeed', async () => (await state(order)) === 'succeeded');
    const cli = execFileSync(process.execPath, [join(root, 'bin', 'sluice.mjs'), 'jobs', 'get', order, '--json'], {
      env,
      encoding: 'utf8',
    });
    assert.equal(JSON.parse(cli).state, 'succeeded');
    // A dead job's error line names the function that ran it, its queue's worker (each local function logs as
    // itself), with the job, its attempt and the error. (The README's CLI block below purges it.)
    const refused = await post({ type: 'send_email', payload: { userId: 'e2e-dead', to: 'x@nowhere.invalid', template: 'welcome' } });
    await until('the refused email to die', async () => (await state(refused)) === 'dead');
    await until('its error line', async () => dev?.output().includes('"message":"job dead-lettered"') ?? false);
    const deadLine = JSON.parse(
      dev
        ?.output()
        .split('\n')
        .find((l) => l.includes('"message":"job dead-lettered"')) ?? '{}',
    );
    assert.deepEqual(
      [deadLine.level, deadLine.function_name, deadLine.job_id, deadLine.job_type, deadLine.attempt],
      ['ERROR', 'worker-emails', refused, 'send_email', 1],
    );
    assert.match(deadLine.error, /^PermanentJobError: /);
    await runReadmeBlocks(port, env);
    // The README's CLI block redrove it (it dies again) and purged what was dead then: purge it for good.
    await until(
      'the redriven email to die again',
      async () => (await fetch(`${api}/v1/jobs/${refused}`)).status === 404 || (await state(refused)) === 'dead',
    );
    const purge = await new Promise<number>((resolve) =>
      execFile(process.execPath, [join(root, 'bin', 'sluice.mjs'), 'dead-letters', 'purge', '--all'], { env }, (err) =>
        resolve(err ? Number((err as { code?: number }).code ?? 9) : 0),
      ),
    );
    assert.ok(purge === 0 || purge === 1, `purge exited ${purge}`); // 1: the README's block had purged it already
    const bad = await fetch(`${api}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"nope"}' });
    assert.equal(bad.status, 400);

    // A second dev server is refused before it touches anything: same folder, or same port.
    const second = (extraEnv: NodeJS.ProcessEnv, p: number) => {
      try {
        execFileSync('npm', ['run', 'dev', '--', '--port', String(p)], {
          cwd: root,
          env: { ...env, ...extraEnv },
          encoding: 'utf8',
          stdio: 'pipe',
        });
        return { status: 0, stderr: '' };
      } catch (e) {
        return e as { status: number; stderr: string };
      }
    };
    const sameDir = second({}, await freePort());
    assert.equal(sameDir.status, 2);
    assert.match(sameDir.stderr, /another `sluice dev` \(pid \d+\) is using/);
    const otherDir = mkdtempSync(join(tmpdir(), 'sluice-dev-e2e-2-'));
    const samePort = second({ SLUICE_DEV_DIR: otherDir }, port);
    rmSync(otherDir, { recursive: true, force: true });
    assert.equal(samePort.status, 2);
    assert.match(samePort.stderr, new RegExp(`port ${port} is in use: choose another with PORT or --port`));
    assert.equal(await state(order), 'succeeded', 'the first server is unharmed');
  });

  it('on SIGTERM mid-work stops cleanly: running jobs finish, unstarted ones wait; a restart finishes them all', async () => {
    // Reports run 2 at a time for ~2 s each; signups fan out into more jobs on other queues.
    for (let i = 0; i < 6; i++) ids.push(await post({ type: 'generate_report', payload: { reportId: `e2e-${i}`, pages: 5 } }));
    for (let i = 0; i < 3; i++)
      ids.push(await post({ type: 'on_user_signup', payload: { userId: `e2e-u${i}`, email: `u${i}@example.com` } }));
    await until(
      'a report to be running',
      async () => (await state(ids[1] as string)) === 'running' || (await state(ids[2] as string)) === 'running',
    );
    const running = [];
    for (const id of ids) if ((await state(id)) === 'running') running.push(id);
    process.kill(-(dev?.child.pid as number), 'SIGTERM');
    await dev?.closed;
    assert.match(dev?.output() ?? '', /\[sluice dev\] stopped cleanly/, dev?.output().slice(-3000));

    dev = await startDev(port, false);
    for (const id of running) assert.equal(await state(id), 'succeeded', `job ${id} was running at SIGTERM and finished before the stop`);
    await until(
      'every job to succeed after the restart',
      async () => {
        const states = await Promise.all(ids.map(state));
        return states.every((s) => s === 'succeeded');
      },
      60_000,
    );
    for (const id of ids) {
      const job = (await (await fetch(`${api}/v1/jobs/${id}`)).json()) as { attempt: number };
      assert.equal(job.attempt, 1, `job ${id} ran once: released jobs got their attempt back`);
    }
    // The signups' follow-ups (welcome emails now, onboarding reports) run too; tips emails wait a minute.
    type Q = { queue: string; ready: number; running: number; dead: number };
    await until('the follow-ups to finish', async () => {
      const { queues } = (await (await fetch(`${api}/v1/queues`)).json()) as { queues: Q[] };
      return queues.every((q) => q.ready === 0 && q.running === 0);
    });
    const status = JSON.parse(
      execFileSync(process.execPath, [join(root, 'bin', 'sluice.mjs'), 'status', '--json'], { env, encoding: 'utf8' }),
    ) as Q[];
    assert.ok(
      status.every((q) => q.dead === 0 && q.running === 0 && q.ready === 0),
      JSON.stringify(status),
    );
    // A closed terminal (SIGHUP) stops it as cleanly.
    process.kill(-(dev.child.pid as number), 'SIGHUP');
    await dev.closed;
    assert.match(dev.output(), /\[sluice dev\] stopped cleanly/);
  });
});
