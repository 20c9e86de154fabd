import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { enqueueItem } from '../src/enqueue.js';
import { loadMigrations, migrate } from '../src/migrate.js';
import { Sluice } from '../src/sluice.js';
import { claimJobs } from '../src/sql/claim.js';
import { processOrder } from './fixtures/jobs.js';
import { testSluice } from './helpers/db.js';
import { insertJob, insertJobs, type JobInit } from './helpers/jobs.js';

describe('prune', async () => {
  const { sluice, pool, schema } = await testSluice({ idempotencyWindowMs: 60_000, retentionMs: 60_000 });
  const age = (ids: string[], seconds: number) =>
    pool.query(
      `UPDATE "${schema}".jobs SET created_at = created_at - make_interval(secs => $2), run_at = run_at - make_interval(secs => $2),
         finished_at = finished_at - make_interval(secs => $2) WHERE id = ANY($1::bigint[])`,
      [ids, seconds],
    );

  it('deletes succeeded and cancelled records past retention in bounded batches, keeping live jobs and dead letters', async () => {
    const quick = { ...processOrder, queue: 'prune', timeout: 1_000 };
    // One dead letter, then 24 first-try successes (records a success leaves untouched).
    const jobs = Array.from(
      { length: 25 },
      (_, i): JobInit => ({ state: i ? 'succeeded' : 'dead', job: quick, payload: { orderId: i + 1 } }),
    );
    const ids = await insertJobs(pool, schema, jobs);
    const cancelled = await sluice.enqueue(quick, { orderId: 99 }, { delayMs: 1000 });
    await sluice.cancel([cancelled.id]);
    const live = await sluice.enqueue(quick, { orderId: 100 }, { delayMs: 3_600_000 });
    const fresh = await sluice.enqueue(quick, { orderId: 101 });
    await age([...ids, cancelled.id, live.id], 120);

    assert.deepEqual(await sluice.prune({ batchSize: 10 }), { deleted: 25, expiredBulkKeys: 0, staleReplaceKeys: 0, staleFlowKeys: 0 }); // 24 succeeded + 1 cancelled, 10 per statement
    assert.equal((await sluice.getJob(ids[0]!))?.state, 'dead', 'dead letters are never pruned');
    assert.equal((await sluice.getJob(live.id))?.state, 'scheduled', 'live jobs are never pruned');
    assert.equal((await sluice.getJob(fresh.id))?.state, 'available');
    assert.equal(await sluice.getJob(ids[5]!), null);
    assert.deepEqual(await sluice.prune(), { deleted: 0, expiredBulkKeys: 0, staleReplaceKeys: 0, staleFlowKeys: 0 });
  });
});

describe('stats', async () => {
  const { sluice, pool, schema, s } = await testSluice();

  it('counts ready, scheduled, running and dead per queue, with the oldest ready age', async () => {
    const q = { ...processOrder, queue: 'stats-a', timeout: 1_000 };
    await sluice.enqueueMany([
      enqueueItem(q, { orderId: 1 }, { runAt: new Date(Date.now() - 30_000) }),
      enqueueItem(q, { orderId: 2 }),
      enqueueItem(q, { orderId: 3 }, { delayMs: 60_000 }),
      enqueueItem(q, { orderId: 4 }, { queue: 'stats-b' }),
    ]);
    await claimJobs(pool, s, { queue: 'stats-b', limit: 1, leaseSeconds: 30, token: randomUUID() });
    const dead = await insertJob(pool, schema, { state: 'dead', job: { ...q, queue: 'stats-c' }, payload: { orderId: 5 } });
    assert.equal((await sluice.getJob(dead))?.state, 'dead');
    const stats = await sluice.stats();
    const a = stats.find((s) => s.queue === 'stats-a');
    assert.deepEqual(
      { ...a, oldestReadyAgeSeconds: undefined },
      {
        queue: 'stats-a',
        ready: 2,
        scheduled: 1,
        scheduledCapped: false,
        running: 0,
        dead: 0,
        oldestReadyAgeSeconds: undefined,
        paused: false,
      },
    );
    const age = a?.oldestReadyAgeSeconds ?? -1;
    assert.ok(age >= 29 && age < 120, String(age));
    assert.deepEqual(
      stats.filter((s) => s.queue !== 'stats-a').map((s) => [s.queue, s.ready, s.running, s.dead]),
      [
        ['stats-b', 0, 1, 0],
        ['stats-c', 0, 0, 1],
      ],
    );
    assert.deepEqual(
      stats.filter((s) => s.queue !== 'stats-a').map((s) => s.oldestReadyAgeSeconds),
      [null, null],
      'no age when nothing is ready',
    );
  });

  it('with the queues option, lists every one of them in that order, empty ones too, then the others', async () => {
    const known = new Sluice({ db: pool, schema, queues: ['stats-z', 'stats-b', 'stats-empty'] });
    const stats = await known.stats();
    assert.deepEqual(
      stats.map((s) => s.queue),
      ['stats-z', 'stats-b', 'stats-empty', 'stats-a', 'stats-c'],
    );
    assert.deepEqual(stats[0], {
      queue: 'stats-z',
      ready: 0,
      scheduled: 0,
      scheduledCapped: false,
      running: 0,
      dead: 0,
      oldestReadyAgeSeconds: null,
      paused: false,
    });
    assert.deepEqual([stats[1]?.running, stats[1]?.oldestReadyAgeSeconds], [1, null]);
  });

  it('counts scheduled jobs up to 10,000 and says so, while ready and running stay exact, over several priorities', async () => {
    const live = (queue: string, priority: number, n: number, runAt: string, leased = false) =>
      pool.query(
        `WITH ins AS (
           INSERT INTO "${schema}".jobs (type, queue, priority, max_attempts, run_at, payload)
           SELECT 'cap_t', $1, $2, 3, ${runAt}, '{}' FROM generate_series(1, $3::int) RETURNING id, queue, priority, run_at)
         INSERT INTO "${schema}".active_jobs (id, queue, priority, run_at, attempt, lease_expires_at, lease_token)
         SELECT id, queue, priority, run_at, ${leased ? 1 : 0}, ${leased ? "now() + interval '1 hour'" : 'NULL'}, ${leased ? 'gen_random_uuid()' : 'NULL'} FROM ins`,
        [queue, priority, n],
      );
    await live('cap-many', 0, 6_000, "now() + interval '1 day'");
    await live('cap-many', 5, 4_001, "now() + interval '2 days'");
    await live('cap-many', 5, 3, "now() - interval '1 minute'");
    await live('cap-many', 0, 2, "now() - interval '1 minute'", true);
    await live('cap-few', 1, 9_999, "now() + interval '1 day'");
    const stats = await sluice.stats();
    const pick = (q: string) => {
      const x = stats.find((s) => s.queue === q);
      return [x?.ready, x?.running, x?.scheduled, x?.scheduledCapped];
    };
    assert.deepEqual(pick('cap-many'), [3, 2, 10_000, true], 'at least 10,000 scheduled');
    assert.deepEqual(pick('cap-few'), [0, 0, 9_999, false], 'exact below the cap');
    assert.ok((await sluice.stats()).every((s) => s.scheduled <= 10_000));
  });
});

describe('migrations', async () => {
  const url = process.env.DATABASE_URL as string;

  it('are numbered without gaps', async () => {
    const ms = await loadMigrations();
    assert.ok(ms.length >= 1);
    assert.deepEqual(
      ms.map((m) => m.version),
      ms.map((_, i) => i + 1),
    );
  });

  it('apply once, are idempotent, and are safe when several run at once, into a configurable schema', async () => {
    const schema = `m_${randomUUID().slice(0, 8)}`;
    const pool = new pg.Pool({ connectionString: url, max: 6 });
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => migrate({ db: pool, schema })));
      const applied = results.flatMap((r) => r.applied);
      assert.deepEqual(
        applied.sort((a, b) => a - b),
        (await loadMigrations()).map((m) => m.version),
      );
      assert.deepEqual((await migrate({ db: pool, schema })).applied, []);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`, [schema]);
      assert.equal(rows[0].n, 14); // jobs, active_jobs, job_steps, paused_queues, job_events, job_counts, bulk_requests, replace_keys, flow_queues, flow_keys, flow_jobs, flow_state, job_costs, sluice_migrations
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('refuse a released migration that was edited afterwards', async () => {
    const schema = `m_${randomUUID().slice(0, 8)}`;
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const ms = await loadMigrations();
      await migrate({ db: pool, schema, migrations: ms });
      const edited = ms.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
      await assert.rejects(migrate({ db: pool, schema, migrations: edited }), /was edited after it was applied/);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('refuse a schema name that is not a plain identifier', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await assert.rejects(migrate({ db: pool, schema: 'x"; DROP TABLE y; --' }), /schema name must match/);
    } finally {
      await pool.end();
    }
  });
});
