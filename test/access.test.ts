import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { FUNCTION_ACCESS } from '../functions/shared/access.js';
import { ACCESS_TABLES, type AccessProfile, grantAccess, privilegesOf } from '../src/access.js';
import { enqueueItem } from '../src/enqueue.js';
import { ConfigError, PermanentJobError, RetryableJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { Sluice } from '../src/sluice.js';
import { processOrder } from './fixtures/jobs.js';
import { testSluice } from './helpers/db.js';

/**
 * Each Lambda function connects as its own database user with only its profiles' privileges. These tests
 * run every operation a function performs as that user (the session role is switched with SET ROLE, so
 * PostgreSQL checks the user's privileges, not the superuser's), and check what each user must not do.
 */
describe('grantAccess: a database user per function, with least privilege', async () => {
  const { pool: admin, schema, url } = await testSluice();
  const users = Object.fromEntries(Object.keys(FUNCTION_ACCESS).map((fn) => [fn, `${schema}_${fn}`])) as Record<
    keyof typeof FUNCTION_ACCESS,
    string
  >;
  const iamRole = `${schema}_iam`;
  await admin.query(`CREATE ROLE "${iamRole}" NOLOGIN`);
  const grants = Object.fromEntries(Object.entries(FUNCTION_ACCESS).map(([fn, profiles]) => [users[fn as keyof typeof users], profiles]));
  await grantAccess({ db: admin, schema, users: grants, memberOf: [iamRole] });

  const pools: pg.Pool[] = [];
  const as = (user: string, settings: Partial<ConstructorParameters<typeof Sluice>[0]> = {}) => {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('connect', (client) => void client.query(`SET ROLE "${user}"`));
    pools.push(pool);
    return { pool, sluice: new Sluice({ db: pool, schema, ...settings }) };
  };
  after(async () => {
    await Promise.all(pools.map((p) => p.end()));
    // Roles outlive schemas (they are cluster-wide): drop them, on a connection of our own (the helper's
    // pool is closed by its own after hook, which runs first).
    const cleanup = new pg.Client({ connectionString: url });
    await cleanup.connect();
    for (const user of [...Object.values(users), iamRole]) {
      await cleanup.query(`DROP OWNED BY "${user}"`);
      await cleanup.query(`DROP ROLE "${user}"`);
    }
    await cleanup.end();
  });
  const denied = async (pool: pg.Pool, sql: string) =>
    assert.rejects(pool.query(sql), (err: { code?: string }) => err.code === '42501', `expected permission denied: ${sql}`);
  const quick = { ...processOrder, queue: 'access', timeout: 2_000 };

  it('creates each user with LOGIN, in the memberOf roles, with exactly its profiles on every table', async () => {
    for (const [fn, user] of Object.entries(users)) {
      const role = await admin.query('SELECT rolcanlogin, pg_has_role($1, $2, $3) AS member FROM pg_roles WHERE rolname = $1', [
        user,
        iamRole,
        'MEMBER',
      ]);
      assert.deepEqual(role.rows[0], { rolcanlogin: true, member: true }, user);
      const expected = privilegesOf(FUNCTION_ACCESS[fn as keyof typeof FUNCTION_ACCESS]);
      for (const table of ACCESS_TABLES) {
        const got = await admin.query<{ privilege_type: string }>(
          `SELECT privilege_type FROM information_schema.role_table_grants
           WHERE grantee = $1 AND table_schema = $2 AND table_name = $3
           UNION ALL -- privileges on some columns only, as 'UPDATE (a, b)', the columns in table order
           SELECT c.privilege_type || ' (' || string_agg(c.column_name, ', ' ORDER BY col.ordinal_position) || ')'
           FROM information_schema.column_privileges c
           JOIN information_schema.columns col USING (table_schema, table_name, column_name)
           WHERE c.grantee = $1 AND c.table_schema = $2 AND c.table_name = $3
             AND NOT EXISTS (SELECT 1 FROM information_schema.role_table_grants t WHERE t.grantee = $1 AND t.table_schema = $2
                             AND t.table_name = $3 AND t.privilege_type = c.privilege_type)
           GROUP BY c.privilege_type
           ORDER BY 1`,
          [user, schema, table],
        );
        assert.deepEqual(
          got.rows.map((r) => r.privilege_type),
          expected[table],
          `${user} on ${table}`,
        );
      }
    }
  });

  it('the profiles cover every table the migrations create (a new table must be given to someone)', async () => {
    const tables = await admin.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [
      schema,
    ]);
    assert.deepEqual(
      tables.rows.map((r) => r.tablename).filter((t) => t !== 'sluice_migrations'),
      [...ACCESS_TABLES].sort(),
    );
  });

  it('the API user enqueues (with idempotency keys, even past their window), reads, cancels, reads stats and handles dead letters', async () => {
    const { sluice, pool } = as(users.api, { idempotencyWindowMs: 1_000 });
    const first = await sluice.enqueue(quick, { orderId: 1 }, { idempotencyKey: `${schema}-k` });
    assert.equal((await sluice.enqueue(quick, { orderId: 1 }, { idempotencyKey: `${schema}-k` })).id, first.id);
    await admin.query(`UPDATE "${schema}".jobs SET created_at = now() - interval '1 hour' WHERE id = $1`, [first.id]);
    const again = await sluice.enqueue(quick, { orderId: 1 }, { idempotencyKey: `${schema}-k` });
    assert.notEqual(again.id, first.id, 'the expired key was released and a new job stored');
    assert.equal((await sluice.getJob(first.id))?.state, 'available');
    assert.deepEqual(await sluice.cancel([first.id]), { [first.id]: 'cancelled' });
    assert.ok((await sluice.stats()).some((q) => q.queue === 'access'));
    // Pause and resume, and the worker user's claim reads the pause.
    assert.equal(await sluice.pauseQueue('access-paused'), true);
    assert.equal((await sluice.stats()).find((q) => q.queue === 'access-paused')?.paused, true);
    await sluice.enqueue({ ...quick, queue: 'access-paused' }, { orderId: 3 });
    const paused = await as(users.worker).sluice.worker({ queue: 'access-paused', handlers: [] }).drain({ remainingTimeMs: 1_000 });
    assert.equal(paused.claimed, 0);
    assert.equal(await sluice.resumeQueue('access-paused'), true);

    const w = as(users.worker);
    const doomed = await sluice.enqueue({ ...quick, queue: 'access-dead' }, { orderId: 2 });
    const h = defineHandler(quick, () => Promise.reject(new PermanentJobError('no')));
    await w.sluice.worker({ queue: 'access-dead', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    assert.deepEqual(
      (await sluice.listDeadLetters({ queue: 'access-dead' })).map((j) => j.id),
      [doomed.id],
    );
    assert.deepEqual(await sluice.redriveDeadLetters({ queue: 'access-dead' }), [doomed.id]);
    await w.sluice.worker({ queue: 'access-dead', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    assert.deepEqual(await sluice.purgeDeadLetters({ queue: 'access-dead' }), [doomed.id]);

    await denied(pool, `INSERT INTO "${schema}".job_steps (job_id, name, seq) VALUES (1, 'x', 1)`);
    await denied(pool, `TRUNCATE "${schema}".jobs`);
    await denied(pool, `CREATE TABLE "${schema}".intruder (id int)`);
    await denied(pool, `SELECT * FROM "${schema}".sluice_migrations`);
  });

  it('the worker user drains: claims, heartbeats, stores steps, retries, and enqueues from a handler (fan-out)', async () => {
    const { sluice, pool } = as(users.worker, { idempotencyWindowMs: 60_000 });
    const parent = await sluice.enqueue({ ...quick, queue: 'access-w' }, { orderId: 10 });
    const seen: number[] = [];
    const h = defineHandler({ ...quick, queue: 'access-w' }, async ({ orderId }, ctx) => {
      seen.push(orderId);
      await ctx.heartbeat();
      await ctx.step('charge', () => ({ charged: orderId }));
      if (orderId === 10 && ctx.attempt === 1) throw new RetryableJobError('once more', { delayMs: 0 });
      if (orderId === 10) await sluice.enqueue({ ...quick, queue: 'access-w' }, { orderId: 11 }, { idempotencyKey: `${schema}-child` });
    });
    const worker = sluice.worker({ queue: 'access-w', handlers: [h], leaseMs: 2_000 });
    for (let i = 0; i < 3; i++) await worker.drain({ remainingTimeMs: 3_000 });
    assert.deepEqual(seen, [10, 10, 11]);
    assert.equal((await as(users.api).sluice.getJob(parent.id))?.state, 'succeeded');

    await denied(pool, `DELETE FROM "${schema}".jobs`);
    await denied(pool, `DELETE FROM "${schema}".job_steps`);
    await denied(pool, `DROP TABLE "${schema}".active_jobs`);
    await denied(pool, `INSERT INTO "${schema}".paused_queues (queue) VALUES ('access-w')`);
  });

  it('the maintenance user prunes and reads stats, and cannot enqueue', async () => {
    const { sluice, pool } = as(users.maintenance, { retentionMs: 1_000, idempotencyWindowMs: 1_000 });
    const api = as(users.api).sluice;
    const job = await api.enqueue({ ...quick, queue: 'access-m' }, { orderId: 20 });
    await api.cancel([job.id]);
    await admin.query(
      `UPDATE "${schema}".jobs SET created_at = created_at - interval '1 hour', finished_at = finished_at - interval '1 hour' WHERE id = $1`,
      [job.id],
    );
    assert.ok((await sluice.prune()).deleted >= 1);
    assert.equal(await api.getJob(job.id), null);
    assert.ok(Array.isArray(await sluice.stats()));
    await assert.rejects(sluice.enqueue(quick, { orderId: 21 }), (err: { code?: string }) => err.code === '42501');
    await assert.rejects(sluice.pauseQueue('access-m'), (err: { code?: string }) => err.code === '42501', 'maintenance cannot pause');
    await denied(pool, `UPDATE "${schema}".active_jobs SET attempt = 0`);
  });

  it('the periodic user only enqueues, and a replayed tick reads back the job it enqueued', async () => {
    const { sluice, pool } = as(users.periodic);
    const [job] = await sluice.enqueueMany([enqueueItem(quick, { orderId: 30 }, { idempotencyKey: `${schema}-tick` })]);
    assert.ok(job?.id);
    const [replay] = await sluice.enqueueMany([enqueueItem(quick, { orderId: 30 }, { idempotencyKey: `${schema}-tick` })]);
    assert.deepEqual([replay?.id, replay?.replayed], [job.id, true]);
    // A replace key: it may replace a queued job's payload and due time, and still not touch a lease or an attempt.
    const keyed = await sluice.enqueue(quick, { orderId: 31 }, { replaceKey: `${schema}-debounce`, delayMs: 60_000 });
    const replaced = await sluice.enqueue(quick, { orderId: 32 }, { replaceKey: `${schema}-debounce`, delayMs: 60_000 });
    assert.deepEqual([replaced.id, replaced.replaced], [keyed.id, true]);
    await denied(pool, `UPDATE "${schema}".active_jobs SET attempt = 0`);
    await denied(pool, `UPDATE "${schema}".active_jobs SET lease_token = NULL`);
    await denied(pool, `SELECT count(*) FROM "${schema}".job_steps`);
    await denied(pool, `DELETE FROM "${schema}".jobs`);
    await assert.rejects(sluice.cancel([job.id]), (err: { code?: string }) => err.code === '42501');
  });

  it('a user logs in for real with its own name', async () => {
    await admin.query(`ALTER ROLE "${users.periodic}" PASSWORD 'test-only'`);
    const u = new URL(url);
    u.username = users.periodic;
    u.password = 'test-only';
    const client = new pg.Client({ connectionString: u.toString() });
    await client.connect();
    try {
      const res = await client.query('SELECT current_user AS name');
      assert.equal(res.rows[0].name, users.periodic);
    } finally {
      await client.end();
    }
  });

  it("the maintainer reads every session's statistics (pg_monitor) for health(); no other user does", async () => {
    for (const [fn, user] of Object.entries(users)) {
      const member = await admin.query('SELECT pg_has_role($1, $2, $3) AS m', [user, 'pg_monitor', 'MEMBER']);
      assert.equal(member.rows[0].m, fn === 'maintenance', `${user} in pg_monitor`);
    }
    const maintenance = await as(users.maintenance).sluice.health();
    assert.equal(typeof maintenance.oldestTransactionSeconds, 'number');
    const worker = await as(users.worker).sluice.health({ stats: [] });
    assert.equal(worker.oldestTransactionSeconds, null, 'without pg_read_all_stats the age of others is unknown, not 0');
    assert.equal(typeof worker.xminHorizonAgeXids, 'number');
  });

  it('is idempotent and converges: a narrower profile revokes what the user had beyond it', async () => {
    await grantAccess({ db: admin, schema, users: grants, memberOf: [iamRole] });
    await grantAccess({ db: admin, schema, users: { [users.periodic]: ['maintainer'] as AccessProfile[] } });
    const { sluice } = as(users.periodic, { retentionMs: 1_000, idempotencyWindowMs: 1_000 });
    await assert.rejects(sluice.enqueue(quick, { orderId: 40 }), (err: { code?: string }) => err.code === '42501');
    await sluice.prune();
    await grantAccess({ db: admin, schema, users: grants, memberOf: [iamRole] });
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    await assert.rejects(grantAccess({ db: admin, schema, users: { 'Robert"); DROP': ['producer'] } }), ConfigError);
    await assert.rejects(
      grantAccess({ db: admin, schema, users: { [users.api]: ['root' as AccessProfile] } }),
      /unknown access profile "root"/,
    );
    await assert.rejects(
      grantAccess({ db: admin, schema, users: { [`${schema}_new`]: ['producer'] }, memberOf: ['no_such_role'] }),
      /role no_such_role does not exist/,
    );
    const me = (await admin.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    await assert.rejects(grantAccess({ db: admin, schema, users: { [me]: ['producer'] } }), /refusing to restrict/);
    const created = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [`${schema}_new`]);
    assert.equal(created.rowCount, 0, 'the failed call created no user');
  });
});
