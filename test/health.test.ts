/** Database health (issue 16, item 2): the readings behind maintenance's health metrics, from a real server. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { defineHandler, defineJob, VACUUM_WORTHY_DEAD_ROWS } from '../src/index.js';
import { sleep, testSluice } from './helpers/db.js';

/** Poll `read` until `ok` holds of it, or fail after `ms` with the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) assert.fail(`still ${JSON.stringify(v)} after ${ms} ms`);
    await sleep(100);
    v = await read();
  }
  return v;
}

describe('health()', async () => {
  const { sluice, pool, url, schema } = await testSluice();
  const job = defineJob({ type: 'health_job', schema: z.object({ n: z.number() }), queue: 'health', timeout: 5_000 });

  it('sees a transaction holding the xmin horizon, by its age, and sees it let go', async () => {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT pg_current_xact_id()');
      await sleep(2_100);
      // Other test files share the server: what is asserted is this transaction's own mark.
      const held = await sluice.health();
      assert.ok((held.oldestTransactionSeconds ?? 0) >= 2, `the holder is at least 2 s old: ${held.oldestTransactionSeconds}`);
      assert.ok(held.xminHorizonAgeXids >= 1, 'it holds an xmin');
      assert.ok(held.xminHolder !== null);
      await holder.query('COMMIT');
      await until(
        () => sluice.health(),
        (h) => (h.oldestTransactionSeconds ?? 0) < 2,
      );
    } finally {
      await holder.end();
    }
  });

  it("counts the live table's row versions, dead ones too, against the jobs the queues report", async () => {
    await sluice.enqueueMany(Array.from({ length: 300 }, (_, n) => ({ job, payload: { n } })));
    await sluice.enqueue(job, { n: -1 }, { delayMs: 3_600_000 });
    const before = await until(
      () => sluice.health(),
      (h) => h.liveTableRows >= 301,
    );
    assert.equal(before.liveJobs, 301, 'this schema holds 301 live jobs, one of them scheduled');
    assert.equal(before.liveTableRowsPerJob, (before.liveTableRows + before.liveTableDeadRows) / 1_000, 'per job, at least 1,000 assumed');
    await sluice.worker({ queue: 'health', handlers: [defineHandler(job, () => {})] }).drain({ remainingTimeMs: 10_000 });
    const after = await until(
      () => sluice.health(),
      (h) => h.liveTableDeadRows >= 300,
    );
    assert.equal(after.liveJobs, 1);
    assert.equal(after.secondsSinceVacuum, 0, `under ${VACUUM_WORTHY_DEAD_ROWS} dead rows, a vacuum is not overdue`);
    await pool.query(`VACUUM "${schema}".active_jobs`);
    const vacuumed = await until(
      () => sluice.health(),
      (h) => h.liveTableDeadRows < 300,
    );
    assert.ok(vacuumed.liveTableRows >= 1);
  });

  it('counts a vacuum as overdue only once dead rows are worth removing', async () => {
    const many = defineJob({ type: 'health_many', schema: z.object({ n: z.number() }), queue: 'health-many', timeout: 5_000 });
    for (let i = 0; i < VACUUM_WORTHY_DEAD_ROWS; i += 1_000)
      await sluice.enqueueMany(Array.from({ length: 1_000 }, (_, n) => ({ job: many, payload: { n } })));
    // Deleting every live row, as the outcomes of a drain would: dead versions that only a vacuum removes.
    await pool.query(`DELETE FROM "${schema}".active_jobs WHERE queue = 'health-many'`);
    const h = await until(
      () => sluice.health(),
      (v) => v.liveTableDeadRows >= VACUUM_WORTHY_DEAD_ROWS,
    );
    // Since its last vacuum or, never vacuumed, since the statistics started (never null: its alarm must see it).
    const last = await pool.query(
      `SELECT extract(epoch FROM now() - COALESCE(GREATEST(t.last_autovacuum, t.last_vacuum), d.stats_reset, pg_postmaster_start_time()))::float8 AS s
       FROM pg_stat_user_tables t, pg_stat_database d WHERE t.schemaname = $1 AND t.relname = 'active_jobs' AND d.datname = current_database()`,
      [schema],
    );
    const since = last.rows[0].s as number;
    assert.ok(h.secondsSinceVacuum > 0 && Math.abs(h.secondsSinceVacuum - since) < 5, `${h.secondsSinceVacuum} against ${since}`);
  });

  it("reads the server's connections against max_connections", async () => {
    const h = await sluice.health({ stats: [] });
    const max = Number((await pool.query('SHOW max_connections')).rows[0].max_connections);
    assert.equal(h.maxConnections, max);
    assert.ok(h.connections >= 1 && h.connections <= max);
    assert.equal(h.liveJobs, 0, 'stats passed in are used as they are');
  });
});
