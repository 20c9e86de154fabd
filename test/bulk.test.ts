/**
 * Bulk actions by filter (cancelMatching, redriveMatching, purgeMatching) on a real Postgres: counts,
 * bounded statements, and idempotency keys (a lost answer replayed, an interrupted action resumed, a key
 * reused for another request refused, keys expiring and pruned).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { IdempotencyConflictError, type Queryable, Sluice, ValidationError } from '../src/index.js';
import { testSluice } from './helpers/db.js';
import { insertJob } from './helpers/jobs.js';

/** `n` dead letters (or live jobs) of one queue and type, written with one statement; their ids in order. */
async function many(pool: pg.Pool, schema: string, n: number, o: { queue: string; type?: string; live?: boolean }): Promise<string[]> {
  const s = `"${schema}"`;
  const res = await pool.query<{ id: string }>(
    `WITH ins AS (
       INSERT INTO ${s}.jobs (type, queue, priority, max_attempts, run_at, state, attempts, finished_at, payload)
       SELECT $2, $3, 0, 3, now(), CASE WHEN $4 THEN NULL ELSE 'dead' END, CASE WHEN $4 THEN 0 ELSE 3 END,
              CASE WHEN $4 THEN NULL ELSE now() END, jsonb_build_object('n', g)
       FROM generate_series(1, $1::int) g
       RETURNING id, queue, priority, run_at
     ),
     live AS (INSERT INTO ${s}.active_jobs (id, queue, priority, run_at) SELECT id, queue, priority, run_at FROM ins WHERE $4)
     SELECT id::text AS id FROM ins ORDER BY ins.id`,
    [n, o.type ?? 'bulk_job', o.queue, o.live ?? false],
  );
  return res.rows.map((r) => r.id);
}

/** A Queryable over `pool` that records the rows each statement returned, and can fail after the nth matching one. */
function recording(pool: pg.Pool, o: { failAfter?: { match: RegExp; n: number } } = {}) {
  const statements: Array<{ text: string; rows: number }> = [];
  let matched = 0;
  const db: Queryable = {
    query: async (text: string, values?: unknown[]) => {
      const res = await pool.query(text, values);
      statements.push({ text, rows: res.rows.length });
      if (o.failAfter?.match.test(text) && ++matched === o.failAfter.n) throw new Error('Connection terminated unexpectedly');
      return res;
    },
  } as Queryable;
  return { db, statements };
}

describe('bulk actions by filter', async () => {
  const { sluice, pool, schema } = await testSluice();

  it('cancels the live jobs a filter names, after a count: at once when not running, flagged when running', async () => {
    const [ready, scheduled, running] = [
      await insertJob(pool, schema, { state: 'ready', queue: 'bulk-c' }),
      await insertJob(pool, schema, { state: 'scheduled', queue: 'bulk-c' }),
      await insertJob(pool, schema, { state: 'running', queue: 'bulk-c' }),
    ];
    const dead = await insertJob(pool, schema, { state: 'dead', queue: 'bulk-c' });
    const elsewhere = await insertJob(pool, schema, { state: 'ready', queue: 'bulk-c-other' });
    assert.equal(await sluice.countJobs({ queue: 'bulk-c', state: ['available', 'scheduled', 'running'] }), 3);

    const only = await sluice.cancelMatching({ queue: 'bulk-c', state: 'scheduled' });
    assert.deepEqual(only, { cancelled: [scheduled], cancelling: [], replayed: false });
    const rest = await sluice.cancelMatching({ queue: 'bulk-c' });
    assert.deepEqual(rest, { cancelled: [ready], cancelling: [running], replayed: false });
    const states = await sluice.getJobs([ready, scheduled, running, dead, elsewhere]);
    assert.deepEqual(
      states.map((j) => j.state),
      ['cancelled', 'cancelled', 'running', 'dead', 'available'],
    );
    // The running one is flagged once: a second pass does not pick it again.
    assert.deepEqual(await sluice.cancelMatching({ queue: 'bulk-c' }), { cancelled: [], cancelling: [], replayed: false });
  });

  it('refuses a filter that names nothing, and states that are not live; changes nothing', async () => {
    const id = await insertJob(pool, schema, { state: 'ready', queue: 'bulk-refuse' });
    for (const filter of [{}, { all: undefined }, { queue: undefined }]) {
      await assert.rejects(sluice.cancelMatching(filter as never), /name which jobs .*all: true/);
      await assert.rejects(sluice.redriveMatching(filter as never), /name which jobs .*all: true/);
      await assert.rejects(sluice.purgeMatching(filter as never), /name which jobs .*all: true/);
    }
    await assert.rejects(sluice.cancelMatching({ queue: 'bulk-refuse', state: ['available', 'dead'] }), /not dead/);
    await assert.rejects(sluice.cancelMatching({ all: false as never }), ValidationError);
    await assert.rejects(sluice.cancelMatching({ queue: 'bulk-refuse' }, { idempotencyKey: '' }), ValidationError);
    await assert.rejects(sluice.redriveMatching({ state: 'dead' } as never), /names no state/);
    await assert.rejects(sluice.redriveMatching({ queue: 'bulk-refuse' }, { toQueue: 'Bad Queue' }), ValidationError);
    assert.equal((await sluice.getJob(id))?.state, 'available');
  });

  it('acts in statements of at most 1,000 rows on more than 1,000 matches: cancel, redrive, purge', async () => {
    const live = await many(pool, schema, 2_345, { queue: 'bulk-big-live', live: true });
    const dead = await many(pool, schema, 2_100, { queue: 'bulk-big-dead' });
    const rec = recording(pool);
    const bounded = new Sluice({ db: rec.db, schema });

    assert.equal(await bounded.countJobs({ queue: 'bulk-big-live' }), 2_345);
    const cancelled = await bounded.cancelMatching({ queue: 'bulk-big-live' });
    assert.deepEqual(cancelled.cancelled, live);
    assert.equal(await bounded.countJobs({ queue: 'bulk-big-live', state: 'cancelled' }), 2_345);

    assert.equal(await bounded.countDeadLetters({ queue: 'bulk-big-dead' }), 2_100);
    const redriven = await bounded.redriveDeadLetters({ queue: 'bulk-big-dead' });
    assert.deepEqual(redriven, dead);
    assert.equal(await bounded.countJobs({ queue: 'bulk-big-dead', state: 'available' }), 2_100);

    const again = await many(pool, schema, 1_000, { queue: 'bulk-big-purge' }); // exactly one full statement
    assert.deepEqual(await bounded.purgeDeadLetters({ queue: 'bulk-big-purge' }), again);
    assert.equal(await bounded.countJobs({ queue: 'bulk-big-purge' }), 0);

    const steps = rec.statements.filter((st) => /FOR UPDATE (OF a )?SKIP LOCKED/.test(st.text));
    assert.deepEqual(
      steps.map((st) => st.rows),
      [1000, 1000, 345, 1000, 1000, 100, 1000, 0],
      'three cancel steps, three redrive steps, two purge steps (the second finds nothing)',
    );
  });

  it('all: true acts on every match', async () => {
    const { sluice: own, pool: ownPool, schema: ownSchema } = await testSluice();
    const dead = [...(await many(ownPool, ownSchema, 3, { queue: 'q1' })), ...(await many(ownPool, ownSchema, 2, { queue: 'q2' }))];
    const live = await many(ownPool, ownSchema, 2, { queue: 'q3', live: true });
    assert.deepEqual((await own.cancelMatching({ all: true })).cancelled, live);
    assert.equal(await own.countDeadLetters({ all: true }), 5);
    assert.deepEqual((await own.purgeMatching({ all: true })).purged, dead);
    assert.equal(await own.countJobs({ state: 'dead' }), 0);
  });

  describe('with an idempotency key', () => {
    it('a retry after a lost answer gets the first answer again, flagged replayed', async () => {
      const dead = await many(pool, schema, 3, { queue: 'bulk-key' });
      const first = await sluice.redriveMatching({ queue: 'bulk-key' }, { idempotencyKey: 'redrive-1' });
      assert.deepEqual(first, { redriven: dead, replayed: false });
      // Without a key, a retry finds nothing left to redrive: the first answer is lost.
      assert.deepEqual(await sluice.redriveMatching({ queue: 'bulk-key' }), { redriven: [], replayed: false });
      const again = await sluice.redriveMatching({ queue: 'bulk-key' }, { idempotencyKey: 'redrive-1' });
      assert.deepEqual(again, { redriven: dead, replayed: true });
      assert.deepEqual(await sluice.redriveDeadLetters({ queue: 'bulk-key' }, { idempotencyKey: 'redrive-1' }), dead);

      const live = await many(pool, schema, 2, { queue: 'bulk-key-cancel', live: true });
      const running = await insertJob(pool, schema, { state: 'running', queue: 'bulk-key-cancel' });
      const cancel = await sluice.cancelMatching({ queue: 'bulk-key-cancel' }, { idempotencyKey: 'cancel-1' });
      assert.deepEqual(cancel, { cancelled: live, cancelling: [running], replayed: false });
      assert.deepEqual(await sluice.cancelMatching({ queue: 'bulk-key-cancel' }, { idempotencyKey: 'cancel-1' }), {
        ...cancel,
        replayed: true,
      });

      const purge = await many(pool, schema, 2, { queue: 'bulk-key-purge' });
      assert.deepEqual(await sluice.purgeMatching({ queue: 'bulk-key-purge' }, { idempotencyKey: 'purge-1' }), {
        purged: purge,
        replayed: false,
      });
      assert.deepEqual(await sluice.purgeMatching({ queue: 'bulk-key-purge' }, { idempotencyKey: 'purge-1' }), {
        purged: purge,
        replayed: true,
      });
    });

    it('a retry after a crash mid-way resumes the work and answers the union, each job acted on once', async () => {
      const dead = await many(pool, schema, 2_500, { queue: 'bulk-crash' });
      // The connection breaks just after the first bounded step committed.
      const crashing = recording(pool, { failAfter: { match: /revived AS/, n: 1 } });
      await assert.rejects(
        new Sluice({ db: crashing.db, schema }).redriveMatching({ queue: 'bulk-crash' }, { idempotencyKey: 'crash-1' }),
        /Connection terminated/,
      );
      assert.equal(await sluice.countJobs({ queue: 'bulk-crash', state: 'available' }), 1_000, 'the first step committed');
      const stored = await pool.query(`SELECT cardinality(ids) AS n, finished FROM "${schema}".bulk_requests WHERE key = 'crash-1'`);
      assert.deepEqual(stored.rows[0], { n: 1_000, finished: false }, 'with its ids, in the same statement');

      const resumed = await sluice.redriveMatching({ queue: 'bulk-crash' }, { idempotencyKey: 'crash-1' });
      assert.deepEqual(resumed, { redriven: dead, replayed: true });
      assert.equal(await sluice.countJobs({ queue: 'bulk-crash', state: 'available' }), 2_500);
      const done = await pool.query(`SELECT cardinality(ids) AS n, finished FROM "${schema}".bulk_requests WHERE key = 'crash-1'`);
      assert.deepEqual(done.rows[0], { n: 2_500, finished: true }, 'no id twice');
      assert.deepEqual((await sluice.redriveMatching({ queue: 'bulk-crash' }, { idempotencyKey: 'crash-1' })).redriven, dead);
    });

    it('two calls with one key at once act on each job once, and a retry answers all of it', async () => {
      const dead = await many(pool, schema, 2_200, { queue: 'bulk-race' });
      const [a, b] = await Promise.all([
        sluice.redriveMatching({ queue: 'bulk-race' }, { idempotencyKey: 'race-1' }),
        sluice.redriveMatching({ queue: 'bulk-race' }, { idempotencyKey: 'race-1' }),
      ]);
      assert.ok(a.redriven.every((id) => dead.includes(id)) && b.redriven.every((id) => dead.includes(id)));
      assert.equal(await sluice.countJobs({ queue: 'bulk-race', state: 'available' }), 2_200);
      const stored = await pool.query(`SELECT cardinality(ids) AS n FROM "${schema}".bulk_requests WHERE key = 'race-1'`);
      assert.equal(stored.rows[0].n, 2_200, 'each id recorded once: no job was redriven twice');
      assert.deepEqual(await sluice.redriveMatching({ queue: 'bulk-race' }, { idempotencyKey: 'race-1' }), {
        redriven: dead,
        replayed: true,
      });
    });

    it('the same key with another request is an IdempotencyConflictError, and nothing is done', async () => {
      const [a, b] = [await many(pool, schema, 1, { queue: 'bulk-conflict-a' }), await many(pool, schema, 1, { queue: 'bulk-conflict-b' })];
      await sluice.redriveMatching({ queue: 'bulk-conflict-a' }, { idempotencyKey: 'conflict-1' });
      for (const call of [
        () => sluice.redriveMatching({ queue: 'bulk-conflict-b' }, { idempotencyKey: 'conflict-1' }),
        () => sluice.redriveMatching({ queue: 'bulk-conflict-a' }, { idempotencyKey: 'conflict-1', toQueue: 'elsewhere' }),
        () => sluice.purgeMatching({ queue: 'bulk-conflict-a' }, { idempotencyKey: 'conflict-1' }),
        () => sluice.cancelMatching({ queue: 'bulk-conflict-a' }, { idempotencyKey: 'conflict-1' }),
      ]) {
        await assert.rejects(call(), (err: unknown) => err instanceof IdempotencyConflictError && err.code === 'IDEMPOTENCY_CONFLICT');
      }
      assert.equal((await sluice.getJob(b[0] as string))?.state, 'dead');
      assert.equal((await sluice.getJob(a[0] as string))?.state, 'available');
      // The same filter written another way is the same request.
      const c = await many(pool, schema, 2, { queue: 'bulk-conflict-c' });
      const ids = [...c].reverse();
      assert.deepEqual((await sluice.purgeMatching({ ids }, { idempotencyKey: 'conflict-2' })).purged, c);
      assert.deepEqual(await sluice.purgeMatching({ ids: [...c, c[0] as string], all: true }, { idempotencyKey: 'conflict-2' }), {
        purged: c,
        replayed: true,
      });
    });

    it('a key expires after the idempotency window; prune deletes expired ones', async () => {
      const first = await many(pool, schema, 1, { queue: 'bulk-expire' });
      await sluice.purgeMatching({ queue: 'bulk-expire' }, { idempotencyKey: 'expire-1' });
      await pool.query(`UPDATE "${schema}".bulk_requests SET expires_at = now() - interval '1 second' WHERE key = 'expire-1'`);
      const second = await many(pool, schema, 1, { queue: 'bulk-expire-2' });
      // Expired: the key is free again, for any request.
      assert.deepEqual(await sluice.purgeMatching({ queue: 'bulk-expire-2' }, { idempotencyKey: 'expire-1' }), {
        purged: second,
        replayed: false,
      });
      assert.notDeepEqual(first, second);
      await pool.query(`UPDATE "${schema}".bulk_requests SET expires_at = now() - interval '1 second' WHERE key = 'expire-1'`);
      const held = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".bulk_requests WHERE expires_at > now()`);
      const pruned = await sluice.prune();
      assert.equal(pruned.expiredBulkKeys, 1);
      const left = await pool.query(`SELECT key FROM "${schema}".bulk_requests ORDER BY key`);
      assert.equal(left.rows.length, held.rows[0].n, 'only expired keys are pruned');
      assert.ok(!left.rows.some((r) => r.key === 'expire-1'));
    });
  });
});
