/**
 * The `sluice` CLI against a real Postgres: each command's output (text and --json), its exit code, and
 * that bad input writes nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sendEmail } from '../examples/definitions.js';
import { sendEmailHandler } from '../examples/handlers.js';
import { runCli } from './helpers/cli.js';
import { MIGRATION_VERSIONS, testSluice } from './helpers/db.js';
import { insertJob } from './helpers/jobs.js';

const cli = (...argv: string[]) => runCli(argv);

describe('sluice CLI', { concurrency: 1 }, async () => {
  const { sluice, schema, pool } = await testSluice();
  const s = ['--schema', schema];
  /** A send_email dead letter, as the example handler leaves one to a .invalid domain at its first attempt. */
  const deadEmail = (userId: string, queue = sendEmail.queue) =>
    insertJob(pool, schema, {
      state: 'dead',
      job: { ...sendEmail, queue },
      payload: { userId, to: `${userId}@nowhere.invalid`, template: 'welcome' },
      errors: [{ name: 'PermanentJobError', code: 'PERMANENT', message: 'recipient domain does not accept mail (a .invalid domain)' }],
    });
  const count = async () => (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`)).rows[0].n as number;

  it('enqueues with options, replays a key, and reads the job back', async () => {
    const first = await cli(
      'enqueue',
      'send_email',
      '{"userId":"c1","to":"c1@example.com","template":"welcome"}',
      '--key',
      'cli-1',
      '--priority=-5',
      '--delay',
      '2m',
      '--json',
      ...s,
    );
    assert.equal(first.code, 0, first.err);
    const job = JSON.parse(first.out);
    assert.deepEqual([job.type, job.queue, job.priority, job.state, job.replayed], ['send_email', 'emails', -5, 'scheduled', false]);
    const again = await cli('enqueue', 'send_email', '{"userId":"c1","to":"c1@example.com","template":"welcome"}', '--key', 'cli-1', ...s);
    assert.match(again.out, new RegExp(`already enqueued: job ${job.id} `));
    const got = await cli('jobs', 'get', job.id, ...s);
    assert.equal(got.code, 0);
    assert.match(got.out, new RegExp(`job ${job.id}: send_email on emails — scheduled`));
    assert.match(got.out, /payload \{.*"userId":"c1"/);
    const cancelled = await cli('jobs', 'cancel', job.id, '--json', ...s);
    assert.deepEqual(JSON.parse(cancelled.out), { id: job.id, result: 'cancelled' });
    assert.equal((await cli('jobs', 'cancel', job.id, ...s)).code, 1, 'a finished job is not cancellable');
    const unknown = await cli('jobs', 'cancel', '999999', '--json', ...s);
    assert.deepEqual([unknown.code, JSON.parse(unknown.out).error.code], [1, 'NOT_CANCELLABLE']);
    const traced = await cli(
      'enqueue',
      'process_order',
      '{"orderId":"t1"}',
      '--trace',
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
      '--json',
      ...s,
    );
    assert.equal(traced.code, 0, traced.err);
    assert.match((await cli('jobs', 'get', JSON.parse(traced.out).id, ...s)).out, /\n {2}trace 4bf92f3577b34da6a3ce929d0e0e4736\n/);
    const badTrace = await cli('enqueue', 'process_order', '{"orderId":"t2"}', '--trace', 'nope', ...s);
    assert.equal(badTrace.code, 2, 'a malformed trace is bad input');
    assert.match(badTrace.err, /trace is a W3C traceparent/);
    const debounced = await cli('enqueue', 'process_order', '{"orderId":"d1"}', '--replace-key', 'cli-debounce', '--delay', '60s', ...s);
    assert.match(debounced.out, /^enqueued: job (\d+)/);
    const replaced = await cli('enqueue', 'process_order', '{"orderId":"d2"}', '--replace-key', 'cli-debounce', '--delay', '60s', ...s);
    assert.match(replaced.out, new RegExp(`^replaced: job ${/job (\d+)/.exec(debounced.out)?.[1]} `), 'the same job, its payload replaced');
    const negative = await cli('enqueue', 'process_order', '{"orderId":"neg"}', '--priority', '-7', '--json', ...s);
    assert.equal(JSON.parse(negative.out).priority, -7, '--priority -7 is a value, not an option');
    const missing = await cli('jobs', 'get', '999999', '--json', ...s);
    assert.equal(missing.code, 1);
    assert.equal(JSON.parse(missing.out).error.code, 'NOT_FOUND');
  });

  it('refuses bad input with exit code 2 and a clear message, writing nothing', async () => {
    const before = await count();
    const cases: Array<[string[], RegExp]> = [
      [['enqueue', 'nope', '{}'], /unknown job type "nope"; known types: .*send_email/],
      [['enqueue', 'send_email', '{bad'], /<json> is not valid JSON/],
      [['enqueue', 'send_email', '{"userId":"u","to":"not-an-email","template":"welcome"}'], /invalid send_email payload: to: /],
      [['enqueue', 'send_email', '{"userId":"u","to":"a@example.com","template":"welcome"}', '--delay', 'soon'], /--delay must look like/],
      [
        ['enqueue', 'send_email', '{"userId":"u","to":"a@example.com","template":"welcome"}', '--priority', 'high'],
        /--priority must be an integer/,
      ],
      [['enqueue', 'send_email', '{"userId":"u","to":"a@example.com","template":"welcome"}', '--priority', '500'], /priority/],
      [['enqueue', 'send_email'], /usage: sluice enqueue/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['jobs', 'frob', '1'], /usage: sluice jobs get/],
      [['dead-letters', 'purge'], /--queue, --type, --id, another filter, or --all/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
      [['enqueue', 'process_order', '{"orderId":"k"}', '--key', ''], /--key must not be empty/],
      [['enqueue', 'process_order', '{"orderId":"k"}', '--replace-key', ''], /--replace-key must not be empty/],
      [['enqueue', 'process_order', '{"orderId":"k"}', '--replace-key', 'r', '--key', 'i'], /give idempotencyKey or replaceKey, not both/],
      [
        ['enqueue', 'process_order', '{"orderId":"k"}', '--queue', 'nowhere'],
        /queue "nowhere" has no worker.*the queues are default, emails/,
      ],
      [['dead-letters', 'redrive', '--all', '--to-queue', 'nowhere'], /queue "nowhere" has no worker/],
      [[], /usage: sluice <command>/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv, ...s);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message, argv.join(' '));
    }
    const asJson = await cli('enqueue', 'send_email', '{"userId":"u","to":"x","template":"welcome"}', '--json', ...s);
    const body = JSON.parse(asJson.out);
    assert.equal(body.error.code, 'VALIDATION');
    assert.deepEqual(body.error.issues[0].path, ['to']);
    assert.equal(await count(), before, 'nothing was written');
  });

  it('shows status, and lists, redrives and purges dead letters', async () => {
    const dead = await deadEmail('d1');
    const status = await cli('status', ...s);
    assert.match(status.out, /^queue\s+ready\s+scheduled\s+running\s+dead\s+oldest ready\s+paused$/m);
    assert.match(status.out, /^emails\s+0\s+\d+\s+0\s+1$/m, 'no oldest-ready age with nothing ready');
    assert.match(status.out, /^reports\s+0\s+0\s+0\s+0$/m, 'every configured queue, empty ones too');
    const listed = JSON.parse((await cli('dead-letters', 'list', '--queue', 'emails', '--json', ...s)).out);
    assert.deepEqual([listed.deadLetters.map((j: { id: string }) => j.id), listed.next], [[dead], null]);
    const second = await deadEmail('d1b');
    const first = JSON.parse((await cli('dead-letters', 'list', '--queue', 'emails', '--limit', '1', '--json', ...s)).out);
    assert.deepEqual(
      [first.deadLetters.map((j: { id: string }) => j.id), first.next],
      [[dead], dead],
      'the next cursor, as the API gives it',
    );
    const rest = JSON.parse((await cli('dead-letters', 'list', '--queue', 'emails', '--after', first.next, '--json', ...s)).out);
    assert.deepEqual([rest.deadLetters.map((j: { id: string }) => j.id), rest.next], [[second], null]);
    assert.match(
      (await cli('dead-letters', 'list', '--queue', 'emails', '--limit', '1', ...s)).out,
      new RegExp(`more: --after ${dead}$`, 'm'),
    );
    await cli('dead-letters', 'purge', '--id', second, ...s);
    assert.match((await cli('dead-letters', 'list', ...s)).out, /failed: PermanentJobError: recipient domain does not accept mail/);
    assert.deepEqual(JSON.parse((await cli('dead-letters', 'redrive', '--type', 'send_email', '--json', ...s)).out), {
      redriven: [dead],
    });
    assert.equal((await sluice.getJob(dead))?.state, 'available');
    await sluice.worker({ queue: 'emails', handlers: [sendEmailHandler] }).drain({ remainingTimeMs: 20_000 });
    assert.match((await cli('dead-letters', 'purge', '--id', dead, ...s)).out, new RegExp(`purged: 1 \\(${dead}\\)`));
    assert.equal(await sluice.getJob(dead), null);
    assert.match((await cli('dead-letters', 'list', ...s)).out, /no dead letters/);

    // --all acts on every queue's dead letters (the library refuses an empty filter, so it goes queue by queue).
    const a = await deadEmail('d2');
    const b = await deadEmail('d3', 'emails-b');
    const purged = JSON.parse((await cli('dead-letters', 'purge', '--all', '--json', ...s)).out).purged as string[];
    assert.deepEqual(purged.sort(), [a, b].sort());
    // Nothing left to act on: exit 1, as the README says, with the empty answer.
    for (const sub of ['purge', 'redrive']) {
      const none = await cli('dead-letters', sub, '--all', '--json', ...s);
      assert.deepEqual([none.code, JSON.parse(none.out)], [1, { [sub === 'purge' ? 'purged' : 'redriven']: [] }]);
    }
  });

  it('migrates a fresh schema, prunes, and answers --help for every command', async () => {
    const fresh = `${schema}_cli`;
    after(() => pool.query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`));
    assert.deepEqual(JSON.parse((await cli('migrate', '--schema', fresh, '--json')).out).applied, [...MIGRATION_VERSIONS]);
    assert.match((await cli('migrate', '--schema', fresh)).out, new RegExp(`up to date \\(${MIGRATION_VERSIONS.at(-1)}\\)`));
    assert.match((await cli('prune', ...s)).out, /pruned \d+ finished jobs/);
    for (const command of ['enqueue', 'jobs', 'status', 'queues', 'dead-letters', 'migrate', 'prune']) {
      const r = await cli(command, '--help');
      assert.equal(r.code, 0);
      assert.match(r.out, /^usage: sluice /, command);
    }
    assert.match((await cli('--help')).out, /commands:/);
    const badSchema = await cli('status', '--schema', 'bad"x');
    assert.deepEqual([badSchema.code, /schema/.test(badSchema.err)], [2, true]);
    const missingTables = await cli('status', '--schema', `${schema}_nothing_here`);
    assert.equal(missingTables.code, 3);
    assert.match(missingTables.err, /run `sluice migrate`/);
  });

  it('says when no database is reachable, with exit code 3', async () => {
    const saved = { url: process.env.DATABASE_URL, dir: process.env.SLUICE_DEV_DIR };
    try {
      process.env.DATABASE_URL = 'postgres://u:p@127.0.0.1:1/db';
      const down = await cli('status', '--json');
      assert.equal(down.code, 3);
      assert.equal(JSON.parse(down.out).error.code, 'UNAVAILABLE');
      const real = new URL(saved.url as string);
      if (real.password) {
        real.password = 'wrong-password';
        process.env.DATABASE_URL = real.toString();
        const refused = await cli('status', '--json');
        assert.deepEqual([refused.code, JSON.parse(refused.out).error.code], [3, 'DATABASE_REFUSED']);
      }
      delete process.env.DATABASE_URL;
      process.env.SLUICE_DEV_DIR = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
      const none = await cli('status');
      assert.equal(none.code, 3);
      assert.match(none.err, /no database: set DATABASE_URL, or start `sluice dev`/);
    } finally {
      if (process.env.SLUICE_DEV_DIR !== saved.dir) rmSync(process.env.SLUICE_DEV_DIR as string, { recursive: true, force: true });
      process.env.DATABASE_URL = saved.url;
      if (saved.dir === undefined) delete process.env.SLUICE_DEV_DIR;
      else process.env.SLUICE_DEV_DIR = saved.dir;
    }
  });

  it('runs as `npx sluice` through its bin, with the exit code', () => {
    const bin = join(import.meta.dirname, '..', 'bin', 'sluice.mjs');
    const out = execFileSync(process.execPath, [bin, 'status', '--json', '--schema', schema], { encoding: 'utf8', env: process.env });
    assert.ok(Array.isArray(JSON.parse(out)));
    assert.throws(
      () => execFileSync(process.execPath, [bin, 'enqueue', 'nope', '{}'], { encoding: 'utf8', stdio: 'pipe' }),
      (e: { status?: number; stderr?: string }) => e.status === 2 && /unknown job type/.test(String(e.stderr)),
    );
  });

  it('sluice ui serves the console until stopped, read-only when asked, and refuses a public address without a token', async () => {
    const bin = join(import.meta.dirname, '..', 'bin', 'sluice.mjs');
    const child = spawn(
      process.execPath,
      [bin, 'ui', '--port', '0', '--read-only', '--schema', schema, '--config', 'examples/sluice.config.ts'],
      {
        env: process.env,
        cwd: join(import.meta.dirname, '..'),
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 100 && !/\[sluice ui\] http/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      const url = /\[sluice ui\] (http\S+)/.exec(out)?.[1];
      assert.ok(url, out);
      assert.match(out, /\(read-only\)/);
      const page = await (await fetch(url)).text();
      assert.match(page, /<title>Queues · sluice<\/title>/);
      assert.doesNotMatch(page, /<button/, 'no action in read-only mode');
      assert.match(page, /Periodic jobs/, "the config's periodic jobs (--config)");
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, 'stopped cleanly');
    const open = spawnSync(process.execPath, [bin, 'ui', '--host', '0.0.0.0', '--schema', schema], { encoding: 'utf8', env: process.env });
    assert.equal(open.status, 2);
    assert.match(open.stderr, /give it a token/);
  });

  it('jobs get shows each failed attempt once, on the timeline', async () => {
    const dead = await insertJob(pool, schema, {
      state: 'dead',
      job: { type: 'send_email', queue: 'cli-get', priority: 0, maxAttempts: 1 },
    });
    const deadText = (await cli('jobs', 'get', dead, ...s)).out;
    assert.match(deadText, /timeline:\n.*attempt 1 dead.*PermanentJobError: refused/);
    assert.equal(deadText.split('PermanentJobError: refused').length - 1, 1, 'each failed attempt once: on the timeline');
  });
});
