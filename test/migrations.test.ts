import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { loadMigrations, migrate, splitStatements } from '../src/migrate.js';
import { testSluice } from './helpers/db.js';
import { type InsertedState, insertJob } from './helpers/jobs.js';

const url = process.env.DATABASE_URL as string;
const CONCURRENTLY_DIR = new URL('./fixtures/migrations-concurrently/', import.meta.url).pathname;

/** A pool on a new schema, dropped afterwards. */
async function withSchema(fn: (pool: pg.Pool, schema: string) => Promise<void>, max = 4): Promise<void> {
  const schema = `m_${randomUUID().slice(0, 8)}`;
  const pool = new pg.Pool({ connectionString: url, max });
  try {
    await fn(pool, schema);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
}

describe('splitStatements', () => {
  it('splits at the semicolons that end statements, not those in quotes or comments', () => {
    const text = [
      "-- a comment; with a semicolon\nSELECT 'a;b', E'c\\';d', \"e;f\";",
      'DO $body$ BEGIN PERFORM 1; END $body$;',
      '/* block; /* nested; */ still; */ SELECT $1::int;',
      '-- only a comment\n;',
      'SELECT 2',
    ].join('\n');
    assert.deepEqual(splitStatements(text), [
      "-- a comment; with a semicolon\nSELECT 'a;b', E'c\\';d', \"e;f\"",
      'DO $body$ BEGIN PERFORM 1; END $body$',
      '/* block; /* nested; */ still; */ SELECT $1::int',
      'SELECT 2',
    ]);
  });
});

describe('a migration marked -- sluice: no-transaction', () => {
  it('runs outside a transaction, so CREATE INDEX CONCURRENTLY works, and is recorded after it', async () => {
    await withSchema(async (pool, schema) => {
      const result = await migrate({ db: pool, schema, migrations: await loadMigrations(CONCURRENTLY_DIR) });

      assert.deepEqual(result, { applied: [1, 2, 3], current: 3 });
      const index = await pool.query(
        `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = 'things_name'`,
        [schema],
      );
      assert.deepEqual(index.rows, [{ indisvalid: true }]);
      const recorded = await pool.query(`SELECT version, name FROM "${schema}".sluice_migrations ORDER BY version`);
      assert.deepEqual(
        recorded.rows.map((r) => `${r.version} ${r.name}`),
        ['1 things', '2 things_name', '3 things_note'],
      );
      assert.deepEqual((await migrate({ db: pool, schema, migrations: await loadMigrations(CONCURRENTLY_DIR) })).applied, []);
    });
  });

  it('leaves no session state behind: no advisory lock held, search_path as it was', async () => {
    await withSchema(async (pool, schema) => {
      const before = (await pool.query('SHOW search_path')).rows[0].search_path;

      await migrate({ db: pool, schema, migrations: await loadMigrations(CONCURRENTLY_DIR) });

      const clients = await Promise.all(Array.from({ length: 4 }, () => pool.connect()));
      try {
        for (const c of clients) assert.equal((await c.query('SHOW search_path')).rows[0].search_path, before);
      } finally {
        for (const c of clients) c.release();
      }
      const key = `sluice.migrate:${schema}`;
      const lock = await pool.query('SELECT pg_try_advisory_lock(hashtext($1)) AS free, pg_advisory_unlock(hashtext($1))', [key]);
      assert.equal(lock.rows[0].free, true, 'the migrate lock was released');
    });
  });

  it('is not recorded when a statement fails, and runs again from its first statement', async () => {
    await withSchema(async (pool, schema) => {
      const ms = await loadMigrations(CONCURRENTLY_DIR);
      const broken = ms.map((m) => (m.version === 2 ? { ...m, sql: `${m.sql}\nSELECT 1 / 0;\n` } : m));

      await assert.rejects(migrate({ db: pool, schema, migrations: broken }), /division by zero/);

      const recorded = await pool.query(`SELECT version FROM "${schema}".sluice_migrations ORDER BY version`);
      assert.deepEqual(
        recorded.rows.map((r) => r.version),
        [1],
        'the migration before it committed; it and the one after it did not',
      );
      assert.deepEqual((await migrate({ db: pool, schema, migrations: ms })).applied, [2, 3]);
    });
  });

  it('runs once when several migrators start at once: the others wait for the first', async () => {
    await withSchema(async (pool, schema) => {
      const ms = await loadMigrations(CONCURRENTLY_DIR);

      const results = await Promise.all(Array.from({ length: 3 }, () => migrate({ db: pool, schema, migrations: ms })));

      assert.deepEqual(results.flatMap((r) => r.applied).sort(), [1, 2, 3]);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".things`);
      assert.equal(rows[0].n, 5000, 'the rows of 0001 were inserted once');
    }, 6);
  });
});

/**
 * The SHA-256 of each released migration file, as `migrate()` records it in `sluice_migrations`. A
 * database that applied a file refuses any other text for it (even a changed comment), so an edit must fail
 * here, in CI, before it reaches anyone. 0001 shipped in 0.1.0 and 0.2.0; 0002-0005 are pinned too, as they
 * are about to be released in 0.3.0. Pin each new file in the release that ships it.
 */
const RELEASED: ReadonlyArray<{ version: number; file: string; sha256: string }> = [
  { version: 1, file: '0001_init.sql', sha256: '760d9f47805be23bada5f18244366c777e70daa2502827f26d883defb26065f8' },
  { version: 2, file: '0002_paused_queues.sql', sha256: '8e491ac813d240182abeb61bbedc9d5a34d651c3bbb62a0ed2f9375acf38fc0a' },
  { version: 3, file: '0003_job_events.sql', sha256: '10f2b92cadce97cc5d8a071cf465236481de723a4d640f0c989e9bbf3ad012ed' },
  { version: 4, file: '0004_job_listing.sql', sha256: 'efd8388eab79a1fc71135c4c51f4d44adf2a52f51fa791a57491f8844992f7fa' },
  { version: 5, file: '0005_bulk_requests.sql', sha256: '382ee78f789349047ef2f83926a38116464963354cf31b73c35ec8c3ab5ebdbf' },
];

describe('released migrations', () => {
  it('are byte for byte what was released (their SHA-256 is pinned)', async () => {
    const shipped = new Map((await loadMigrations()).map((m) => [m.version, m]));
    for (const pin of RELEASED) {
      const m = shipped.get(pin.version);
      assert.ok(m, `migrations/${pin.file} is gone: a released migration is never removed or renumbered`);
      const file = `${String(m.version).padStart(4, '0')}_${m.name}.sql`;
      assert.equal(file, pin.file, `migrations/${pin.file} was renamed to ${file}: a released migration keeps its name`);
      const sha256 = createHash('sha256').update(m.sql).digest('hex');
      assert.equal(
        sha256,
        pin.sha256,
        `migrations/${pin.file} changed after it was released (sha256 ${sha256}, released ${pin.sha256}). ` +
          'Every database that applied it refuses the new text, so restore the file (git checkout -- migrations/' +
          `${pin.file}) and put the change in a new migration: the next NNNN_name.sql. Never update the pin.`,
      );
    }
  });
});

/** A pg error's SQLSTATE and constraint name, or what was thrown when it was not one. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    const e = err as { code?: string; constraint?: string; message: string };
    return e.code ? `${e.code} ${e.constraint ?? ''}`.trim() : e.message;
  }
}

describe('0006: CHECK constraints', async () => {
  const { pool, schema } = await testSluice();
  const s = `"${schema}"`;
  const insert = (columns: Record<string, unknown>) => {
    const row = { type: 't', queue: 'q', priority: 0, max_attempts: 3, run_at: new Date(), payload: '{}', ...columns };
    const names = Object.keys(row);
    return pool.query(
      `INSERT INTO ${s}.jobs (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`,
      Object.values(row),
    );
  };

  it('refuse a record the library would never write, naming the constraint', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ priority: 101 }, 'jobs_priority_range'],
      [{ priority: -101 }, 'jobs_priority_range'],
      [{ queue: 'Upper' }, 'jobs_queue_name'],
      [{ queue: `q${'x'.repeat(63)}` }, 'jobs_queue_name'],
      [{ queue: 'é' }, 'jobs_queue_name'],
      [{ type: '' }, 'jobs_type_length'],
      [{ type: 'x'.repeat(129) }, 'jobs_type_length'],
      [{ max_attempts: 1001 }, 'jobs_max_attempts_range'],
      [{ attempts: -1 }, 'jobs_attempts_not_negative'],
      [{ idempotency_key: '' }, 'jobs_idempotency_key_length'],
      [{ idempotency_key: 'k'.repeat(256) }, 'jobs_idempotency_key_length'],
      [{ errors: '{"message":"not a list"}' }, 'jobs_errors_array'],
      [{ state: 'dead', attempts: 3 }, 'jobs_terminal_finished'],
      [{ state: 'cancelled' }, 'jobs_terminal_finished'],
      [{ finished_at: new Date(), attempts: 0 }, 'jobs_finished_attempted'],
    ];
    for (const [columns, constraint] of cases) assert.equal(await refusal(insert(columns)), `23514 ${constraint}`, JSON.stringify(columns));
  });

  it('accept the limits themselves, and every record state the code writes', async () => {
    const cases: Array<Record<string, unknown>> = [
      { priority: 100, queue: `q${'x'.repeat(62)}`, type: 'x'.repeat(128), max_attempts: 1000 },
      { priority: -100, queue: 'a_b-9', type: 'Some.type:v2', max_attempts: 1, idempotency_key: 'k'.repeat(255) },
      { state: 'dead', attempts: 4, max_attempts: 3, finished_at: new Date(), errors: '[]' }, // dead-lettered after a lapsed last lease
      { state: 'cancelled', attempts: 0, finished_at: new Date() }, // cancelled before it ran
      { attempts: 2, finished_at: new Date() }, // succeeded after a failure
      { attempts: 0 }, // live, or a first-try success
    ];
    for (const columns of cases) assert.equal(await refusal(insert(columns)), 'accepted', JSON.stringify(columns));
  });

  it('refuse a live row or a paused queue out of range', async () => {
    const live = (columns: string) =>
      pool.query(`INSERT INTO ${s}.active_jobs (id, queue, priority, run_at, attempt) VALUES (${columns}, now(), 0)`);
    assert.equal(await refusal(live(`-1, 'q', 101`)), '23514 active_jobs_priority_range');
    assert.equal(await refusal(live(`-2, 'Q', 0`)), '23514 active_jobs_queue_name');
    const id = await insertJob(pool, schema, { state: 'ready', queue: 'live' });
    assert.equal(
      await refusal(pool.query(`UPDATE ${s}.active_jobs SET attempt = -1 WHERE id = $1`, [id])),
      '23514 active_jobs_attempt_not_negative',
    );
    assert.equal(await refusal(pool.query(`INSERT INTO ${s}.paused_queues (queue) VALUES ('no way')`)), '23514 paused_queues_queue_name');
  });

  it('hold for every state of the test factory (test/helpers/jobs.ts)', async () => {
    const states: InsertedState[] = ['ready', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'];
    for (const state of states) {
      await insertJob(pool, schema, { state, queue: 'factory' });
      await insertJob(pool, schema, { state, queue: 'factory', attempt: 3, maxAttempts: 3, priority: -100, errors: [] });
    }
  });

  it('are added NOT VALID and validated: a database holding a bad row stops at 0006 and finishes once it is fixed', async () => {
    await withSchema(async (other, name) => {
      const all = await loadMigrations();
      await migrate({ db: other, schema: name, migrations: all.filter((m) => m.version < 6) });
      await other.query(
        `INSERT INTO "${name}".jobs (type, queue, priority, max_attempts, run_at, payload) VALUES ('t', 'q', 500, 3, now(), '{}')`,
      );

      await assert.rejects(migrate({ db: other, schema: name, migrations: all }), /jobs_priority_range/);

      const recorded = await other.query(`SELECT max(version)::int AS v FROM "${name}".sluice_migrations`);
      assert.equal(recorded.rows[0].v, 5, '0006 is not recorded');
      const validated = `SELECT conname, convalidated FROM pg_constraint WHERE connamespace = $1::regnamespace AND conname = 'jobs_priority_range'`;
      assert.deepEqual((await other.query(validated, [name])).rows, [{ conname: 'jobs_priority_range', convalidated: false }]);
      assert.equal(
        await refusal(
          other.query(
            `INSERT INTO "${name}".jobs (type, queue, priority, max_attempts, run_at, payload) VALUES ('t', 'q', 500, 3, now(), '{}')`,
          ),
        ),
        '23514 jobs_priority_range',
        'while not validated, a new row is checked already',
      );
      await other.query(`UPDATE "${name}".jobs SET priority = 100 WHERE priority = 500`);
      assert.equal(
        (await other.query(`SELECT count(*)::int AS n FROM "${name}".jobs`)).rows[0].n,
        1,
        'the bad row stayed (it was fixed, not lost)',
      );
      assert.deepEqual((await migrate({ db: other, schema: name, migrations: all })).applied.includes(6), true);
      const pending = await other.query(`SELECT conname FROM pg_constraint WHERE connamespace = $1::regnamespace AND NOT convalidated`, [
        name,
      ]);
      assert.deepEqual(pending.rows, [], 'every constraint is validated');
    });
  });
});
