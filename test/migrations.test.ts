import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { loadMigrations, migrate, splitStatements } from '../src/migrate.js';

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
