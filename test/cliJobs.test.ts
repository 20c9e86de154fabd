/**
 * `sluice jobs list|count|cancel` by filter and the dead-letter bulk flags against a real Postgres: output
 * (text and --json), exit codes, the count and confirmation before a cancel, and --idempotency-key.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './helpers/cli.js';
import { testSluice } from './helpers/db.js';
import { insertJob } from './helpers/jobs.js';

const cli = runCli;

describe('sluice jobs list, count and cancel by filter', { concurrency: 1 }, async () => {
  const { sluice, schema, pool } = await testSluice();
  const s = ['--schema', schema];
  const newestFirst = (xs: string[]) => [...xs].sort((a, b) => Number(BigInt(b) - BigInt(a)));

  it('lists with every filter flag, pages with --before, and --json carries next', async () => {
    const ready = [
      await insertJob(pool, schema, { state: 'ready', queue: 'cli-list', type: 'cli_a', idempotencyKey: 'cli-list-key' }),
      await insertJob(pool, schema, { state: 'ready', queue: 'cli-list', type: 'cli_b' }),
    ];
    const dead = [
      await insertJob(pool, schema, { state: 'dead', queue: 'cli-list', type: 'cli_a' }),
      await insertJob(pool, schema, { state: 'dead', queue: 'cli-list', type: 'cli_b' }),
    ];
    const cancelled = await insertJob(pool, schema, { state: 'cancelled', queue: 'cli-list', type: 'cli_a' });
    const list = async (...flags: string[]) => {
      const r = await cli(['jobs', 'list', '--queue', 'cli-list', '--json', ...flags, ...s]);
      assert.equal(r.code, 0, r.out + r.err);
      return JSON.parse(r.out) as { jobs: Array<{ id: string; state: string }>; next: string | null };
    };
    const ids = async (...flags: string[]) => (await list(...flags)).jobs.map((j) => j.id);
    assert.deepEqual(await ids(), newestFirst([...ready, ...dead, cancelled]));
    assert.deepEqual(await ids('--state', 'dead'), newestFirst(dead));
    assert.deepEqual(await ids('--state', 'dead', '--state', 'cancelled'), newestFirst([...dead, cancelled]));
    assert.deepEqual(await ids('--state', 'dead,cancelled', '--type', 'cli_a'), newestFirst([dead[0] as string, cancelled]));
    assert.deepEqual(await ids('--key', 'cli-list-key'), [ready[0]]);
    assert.deepEqual(await ids('--id', ready[1] as string, '--id', cancelled), [cancelled, ready[1]]);
    assert.deepEqual(await ids('--id-from', dead[0] as string, '--id-to', dead[1] as string), newestFirst(dead));
    assert.deepEqual(await ids('--created-after', '2000-01-01T00:00:00Z', '--created-before', '2000-01-02T00:00:00Z'), []);
    assert.deepEqual(await ids('--finished-after', '2000-01-01T00:00:00Z'), newestFirst([...dead, cancelled]));

    const first = await list('--limit', '2');
    assert.equal(first.jobs.length, 2);
    assert.equal(first.next, first.jobs[1]?.id);
    const second = await list('--limit', '2', '--before', first.next as string);
    assert.deepEqual(
      [...first.jobs, ...second.jobs].map((j) => j.id),
      newestFirst([...ready, ...dead, cancelled]).slice(0, 4),
    );

    const text = await cli(['jobs', 'list', '--queue', 'cli-list', '--limit', '2', ...s]);
    assert.equal(text.code, 0);
    const lines = text.out.trim().split('\n');
    assert.match(lines[0] as string, /^id\s+state\s+queue\s+type\s+attempt\s+created$/);
    assert.match(lines[1] as string, new RegExp(`^${cancelled}\\s+cancelled\\s+cli-list\\s+cli_a\\s+0/3\\s+\\d{4}-`));
    assert.equal(lines.at(-1), `more: --before ${first.next}`);
    assert.equal((await cli(['jobs', 'list', '--queue', 'cli-none', ...s])).out, 'no jobs match\n');

    const count = await cli(['jobs', 'count', '--queue', 'cli-list', '--state', 'dead', '--json', ...s]);
    assert.deepEqual(JSON.parse(count.out), { count: 2 });
  });

  it('refuses bad filter flags with exit code 2', async () => {
    for (const flags of [
      ['--state', 'finished'],
      ['--limit', '0'],
      ['--limit', '1001'],
      ['--before', 'abc'],
      ['--created-after', 'yesterday'],
      ['--id-from', '5', '--id-to', '4'],
      ['--colour', 'red'],
    ]) {
      const r = await cli(['jobs', 'list', ...flags, '--json', ...s]);
      assert.equal(r.code, 2, flags.join(' '));
      assert.match(JSON.parse(r.out).error.code, /VALIDATION|USAGE/);
    }
    assert.equal((await cli(['jobs', 'list', 'extra', ...s])).code, 2);
    assert.match((await cli(['jobs', 'list', '--all', ...s])).err, /--all is for a bulk action/);
  });

  it('cancels by filter after a count and a confirmation; --yes skips it; nothing named is refused', async () => {
    const live = [
      await insertJob(pool, schema, { state: 'ready', queue: 'cli-cancel' }),
      await insertJob(pool, schema, { state: 'scheduled', queue: 'cli-cancel' }),
    ];
    const running = await insertJob(pool, schema, { state: 'running', queue: 'cli-cancel' });
    const other = await insertJob(pool, schema, { state: 'ready', queue: 'cli-cancel-other' });

    const nothing = await cli(['jobs', 'cancel', ...s]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.err, /name which jobs to cancel .* --all/);
    const noTerminal = await cli(['jobs', 'cancel', '--queue', 'cli-cancel', ...s]);
    assert.equal(noTerminal.code, 2);
    assert.match(noTerminal.err, /3 live jobs match; add --yes/);
    const questions: string[] = [];
    const declined = await cli(['jobs', 'cancel', '--queue', 'cli-cancel', ...s], async (q) => {
      questions.push(q);
      return false;
    });
    assert.deepEqual([declined.code, declined.out, questions], [1, 'nothing cancelled\n', ['Cancel 3 jobs? [y/N] ']]);
    assert.equal(await sluice.countJobs({ queue: 'cli-cancel', state: 'cancelled' }), 0, 'nothing changed before the answer');

    const yes = await cli(['jobs', 'cancel', '--queue', 'cli-cancel', '--state', 'available,scheduled', '--json', ...s], async () => true);
    assert.equal(yes.code, 0, yes.out + yes.err);
    assert.deepEqual(JSON.parse(yes.out), { cancelled: live, cancelling: [], replayed: false });
    const rest = await cli(['jobs', 'cancel', '--queue', 'cli-cancel', '--yes', ...s]);
    assert.deepEqual([rest.code, rest.out], [0, 'cancelled: 0; running, asked to stop: 1\n']);
    assert.equal((await cli(['jobs', 'cancel', '--queue', 'cli-cancel', '--yes', ...s])).code, 1, 'nothing left to cancel');
    assert.equal((await sluice.getJob(running))?.state, 'running', 'flagged; its worker stops it');
    assert.equal((await sluice.getJob(other))?.state, 'available');
    const dead = await cli(['jobs', 'cancel', '--state', 'dead', '--yes', '--json', ...s]);
    assert.deepEqual([dead.code, JSON.parse(dead.out).error.code], [2, 'VALIDATION']);
    assert.equal((await cli(['jobs', 'cancel', other, '--json', ...s])).code, 0, 'jobs cancel <id> still works');
  });

  it('--idempotency-key: a retry answers the first answer; another request with it is refused', async () => {
    const live = await insertJob(pool, schema, { state: 'ready', queue: 'cli-key' });
    const args = ['jobs', 'cancel', '--queue', 'cli-key', '--yes', '--idempotency-key', 'cli-key-1', '--json', ...s];
    const first = await cli(args);
    assert.deepEqual(JSON.parse(first.out), { cancelled: [live], cancelling: [], replayed: false });
    const again = await cli(args);
    assert.deepEqual([again.code, JSON.parse(again.out)], [0, { cancelled: [live], cancelling: [], replayed: true }]);
    const conflict = await cli(['jobs', 'cancel', '--queue', 'cli-key-2', '--yes', '--idempotency-key', 'cli-key-1', ...s]);
    assert.equal(conflict.code, 2);
    assert.match(conflict.err, /idempotency key "cli-key-1" was used for another request/);

    const dead = [await insertJob(pool, schema, { state: 'dead', queue: 'cli-key-dead' })];
    const purge = ['dead-letters', 'purge', '--queue', 'cli-key-dead', '--idempotency-key', 'cli-purge-1', '--json', ...s];
    assert.deepEqual(JSON.parse((await cli(purge)).out), { purged: dead });
    const replay = await cli(purge);
    assert.deepEqual([replay.code, JSON.parse(replay.out)], [0, { purged: dead }]);
    const byRange = await cli([
      'dead-letters',
      'purge',
      '--created-after',
      '2000-01-01T00:00:00Z',
      '--created-before',
      '2000-01-02T00:00:00Z',
      ...s,
    ]);
    assert.deepEqual([byRange.code, byRange.out], [1, 'purged: 0\n']);
    assert.equal((await cli(['dead-letters', 'purge', '--state', 'dead', ...s])).code, 2);
  });
});
