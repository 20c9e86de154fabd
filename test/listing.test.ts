/** Listing and counting jobs by filter (sluice.listJobs, jobPage, countJobs) on a real Postgres. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ValidationError } from '../src/errors.js';
import type { JobFilter, JobState } from '../src/index.js';
import { testSluice } from './helpers/db.js';
import { type InsertedState, insertJob } from './helpers/jobs.js';

describe('listing jobs', async () => {
  const { sluice, pool, schema } = await testSluice();
  const s = `"${schema}"`;

  /** Every fixture: its id, and what the filters should see of it. */
  const all: Array<{ id: string; state: JobState; queue: string; type: string; key: string | null }> = [];
  const viewState: Record<InsertedState, JobState> = {
    ready: 'available',
    scheduled: 'scheduled',
    running: 'running',
    succeeded: 'succeeded',
    dead: 'dead',
    cancelled: 'cancelled',
  };
  const ids = (f: (j: (typeof all)[number]) => boolean) =>
    all
      .filter(f)
      .map((j) => j.id)
      .sort((a, b) => Number(BigInt(b) - BigInt(a)));
  const listed = async (filter: JobFilter & { limit?: number; before?: string }) =>
    (await sluice.listJobs({ limit: 1000, ...filter })).map((j) => j.id);

  before(async () => {
    // Three rounds of every state over two queues and three types; every third one has a key.
    const states: InsertedState[] = ['ready', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'];
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (const state of states) {
        for (const queue of ['list-a', 'list-b']) {
          const type = `list_t${n % 3}`;
          const key = n % 3 === 0 ? `list-key-${n}` : null;
          const id = await insertJob(pool, schema, { state, queue, type, ...(key ? { idempotencyKey: key } : {}) });
          all.push({ id, state: viewState[state], queue, type, key });
          n++;
        }
      }
    }
    // A success after a failed attempt has its finish time recorded too.
    const retried = await insertJob(pool, schema, { state: 'succeeded', queue: 'list-a', type: 'list_t0', attempt: 2 });
    all.push({ id: retried, state: 'succeeded', queue: 'list-a', type: 'list_t0', key: null });
  });

  it('lists newest first, every job once, with the state jobSelect reads (as getJob shows it)', async () => {
    const page = await sluice.listJobs({ limit: 1000 });
    assert.deepEqual(
      page.map((j) => j.id),
      ids(() => true),
    );
    for (const job of page) {
      assert.equal(job.state, all.find((j) => j.id === job.id)?.state, `job ${job.id}`);
      assert.deepEqual(job, await sluice.getJob(job.id));
    }
    assert.equal((await sluice.listJobs()).length, Math.min(50, all.length), 'default limit 50');
  });

  it('filters by each state and by several', async () => {
    for (const state of ['available', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'] as const) {
      const expected = ids((j) => j.state === state);
      assert.ok(expected.length >= 6, state);
      assert.deepEqual(await listed({ state }), expected, state);
      assert.deepEqual(await listed({ state: [state] }), expected, `[${state}]`);
      assert.equal(await sluice.countJobs({ state }), expected.length, `count ${state}`);
    }
    const groups: JobState[][] = [
      ['available', 'scheduled'],
      ['available', 'scheduled', 'running'],
      ['dead', 'cancelled'],
      ['succeeded', 'dead'],
      ['running', 'succeeded', 'cancelled'],
      ['available', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'],
    ];
    for (const group of groups) {
      const expected = ids((j) => group.includes(j.state));
      assert.deepEqual(await listed({ state: group }), expected, group.join(','));
      assert.equal(await sluice.countJobs({ state: group }), expected.length, `count ${group}`);
    }
    assert.deepEqual(
      await listed({ state: ['dead', 'dead'] }),
      ids((j) => j.state === 'dead'),
      'a state given twice',
    );
  });

  it('filters by queue, type, key, ids and id range, alone and together', async () => {
    assert.deepEqual(
      await listed({ queue: 'list-a' }),
      ids((j) => j.queue === 'list-a'),
    );
    assert.deepEqual(
      await listed({ type: 'list_t1' }),
      ids((j) => j.type === 'list_t1'),
    );
    assert.deepEqual(
      await listed({ queue: 'list-b', type: 'list_t2', state: 'dead' }),
      ids((j) => j.queue === 'list-b' && j.type === 'list_t2' && j.state === 'dead'),
    );
    assert.deepEqual(
      await listed({ queue: 'list-a', state: ['available', 'running'] }),
      ids((j) => j.queue === 'list-a' && (j.state === 'available' || j.state === 'running')),
    );
    const keyed = all.find((j) => j.key !== null) as (typeof all)[number];
    assert.deepEqual(await listed({ idempotencyKey: keyed.key as string }), [keyed.id]);
    assert.deepEqual(await listed({ idempotencyKey: 'no-such-key' }), []);
    assert.deepEqual(await listed({ queue: 'no-such-queue' }), []);

    const sorted = ids(() => true).reverse();
    const [from, to] = [sorted[4] as string, sorted[9] as string];
    const inRange = (j: (typeof all)[number]) => BigInt(j.id) >= BigInt(from) && BigInt(j.id) <= BigInt(to);
    assert.deepEqual(await listed({ idFrom: from, idTo: to }), ids(inRange), 'inclusive id range');
    assert.deepEqual(
      await listed({ idFrom: from, idTo: to, state: 'running' }),
      ids((j) => inRange(j) && j.state === 'running'),
    );
    assert.deepEqual(
      await listed({ idFrom: to }),
      ids((j) => BigInt(j.id) >= BigInt(to)),
    );
    assert.deepEqual(await listed({ ids: [from, to, '999999999'] }), [to, from]);
    assert.equal(await sluice.countJobs({ idFrom: from, idTo: to }), 6);
  });

  it('filters by created and finished time: after inclusive, before exclusive', async () => {
    // Spread the creation times of list-b's jobs over the last hours, one hour apart, oldest first.
    const b = ids((j) => j.queue === 'list-b').reverse();
    await pool.query(
      `UPDATE ${s}.jobs j SET created_at = date_trunc('second', now()) - make_interval(hours => $2::int - t.i::int)
       FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, i) WHERE j.id = t.id`,
      [b, b.length],
    );
    const created = new Map((await sluice.getJobs(b)).map((j) => [j.id, j.createdAt.getTime()]));
    const t = created.get(b[5] as string) as number;
    const t2 = created.get(b[9] as string) as number;
    const inB = (f: (ms: number) => boolean) => ids((j) => j.queue === 'list-b' && f(created.get(j.id) as number));
    assert.deepEqual(
      await listed({ queue: 'list-b', createdAfter: new Date(t) }),
      inB((ms) => ms >= t),
    );
    assert.deepEqual(
      await listed({ queue: 'list-b', createdBefore: new Date(t) }),
      inB((ms) => ms < t),
    );
    assert.deepEqual(
      await listed({ queue: 'list-b', createdAfter: new Date(t).toISOString(), createdBefore: new Date(t2).toISOString() }),
      inB((ms) => ms >= t && ms < t2),
      'ISO text, a closed range',
    );
    assert.equal(await sluice.countJobs({ queue: 'list-b', createdAfter: new Date(t), createdBefore: new Date(t2) }), 4);

    // Finished: dead, cancelled and a success after a retry carry a finish time in their record; a first-try
    // success has it on its timeline.
    const finished = new Map(
      (await sluice.listJobs({ limit: 1000 })).filter((j) => j.finishedAt).map((j) => [j.id, (j.finishedAt as Date).getTime()]),
    );
    assert.ok(finished.size >= 13);
    const first = Math.min(...finished.values());
    const finishedIds = (f: (ms: number) => boolean) => ids((j) => finished.has(j.id) && f(finished.get(j.id) as number));
    assert.deepEqual(
      await listed({ finishedAfter: new Date(first) }),
      finishedIds(() => true),
    );
    assert.deepEqual(await listed({ finishedBefore: new Date(first) }), []);
    assert.deepEqual(
      await listed({ finishedAfter: new Date(first), state: 'succeeded' }),
      ids((j) => j.state === 'succeeded'),
      'first-try successes included',
    );
    const firstTry = await pool.query<{ id: string }>(
      `SELECT id::text FROM ${s}.jobs WHERE state IS NULL AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM ${s}.active_jobs a WHERE a.id = jobs.id)`,
    );
    assert.ok(firstTry.rows.length >= 5, 'the record of a first-try success has no finish time: the filter read the timeline');
  });

  it('pages newest first by `before`: no job twice, none left out, next null on the last page', async () => {
    for (const filter of [{}, { queue: 'list-a' }, { state: 'succeeded' as const }, { state: ['available', 'scheduled'] as JobState[] }]) {
      const expected = await listed(filter);
      const seen: string[] = [];
      let before: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await sluice.jobPage({ ...filter, limit: 4, ...(before ? { before } : {}) });
        pages++;
        if (before !== undefined) assert.ok(page.jobs.every((j) => BigInt(j.id) < BigInt(before as string)));
        seen.push(...page.jobs.map((j) => j.id));
        if (page.next === null) break;
        assert.equal(page.next, page.jobs.at(-1)?.id);
        before = page.next;
        assert.ok(pages < 100);
      }
      assert.deepEqual(seen, expected, JSON.stringify(filter));
      assert.equal(pages, Math.max(1, Math.ceil(expected.length / 4)), 'a full last page has no next');
    }
    // A job enqueued meanwhile lands before the first page, never inside a later one.
    const first = await sluice.jobPage({ queue: 'list-a', limit: 3 });
    await insertJob(pool, schema, { state: 'ready', queue: 'list-a', type: 'list_t0' });
    const second = await sluice.jobPage({ queue: 'list-a', limit: 3, before: first.next as string });
    assert.deepEqual(
      second.jobs.map((j) => j.id),
      (await listed({ queue: 'list-a' })).slice(4, 7),
    );
  });

  it('refuses bad input with a ValidationError naming the field', async () => {
    const bad: Array<[unknown, string]> = [
      [{ limit: 0 }, 'limit'],
      [{ limit: 1001 }, 'limit'],
      [{ limit: 2.5 }, 'limit'],
      [{ before: 'abc' }, 'before'],
      [{ state: 'finished' }, 'state'],
      [{ state: [] }, 'state'],
      [{ createdAfter: 'yesterday' }, 'createdAfter'],
      [{ createdBefore: new Date(Number.NaN) }, 'createdBefore'],
      [{ finishedAfter: '2030-01-01' }, 'finishedAfter'],
      [{ idFrom: '0' }, 'idFrom'],
      [{ idFrom: '10', idTo: '9' }, 'idTo'],
      [{ queue: '' }, 'queue'],
      [{ colour: 'red' }, ''],
    ];
    for (const [options, field] of bad) {
      await assert.rejects(
        sluice.listJobs(options as never),
        (err: unknown) =>
          err instanceof ValidationError &&
          /invalid job list options/.test(err.message) &&
          err.issues.some((i) => (i.path[0] ?? '') === field || (field === '' && i.code === 'unrecognized_keys')),
        JSON.stringify(options),
      );
    }
    await assert.rejects(sluice.countJobs({ state: 'nope' as never }), /invalid job filter/);
    await assert.rejects(sluice.jobPage({ limit: -1 }), ValidationError);
  });
});
