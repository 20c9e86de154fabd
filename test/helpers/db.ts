import { after } from 'node:test';
import pg from 'pg';
import type { SluiceSettingsInput } from '../../src/config.js';
import { quoteSchema } from '../../src/db.js';
import { loadMigrations, migrate } from '../../src/migrate.js';
import { Sluice } from '../../src/sluice.js';

/**
 * A fresh schema per call, migrated, with a pool and a Sluice bound to it, and `s`, the quoted schema for
 * calling sluice's SQL modules directly. The schema is dropped after the
 * test file unless a test failed (then it is kept for inspection and its name printed).
 */
export async function testSluice(options: Omit<SluiceSettingsInput, 'schema'> & { poolSize?: number } = {}) {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`');
  const { poolSize, ...settings } = options;
  const schema = `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const pool = new pg.Pool({ connectionString: url, max: poolSize ?? 10 });
  await migrate({ db: pool, schema });
  const sluice = new Sluice({ db: pool, schema, ...settings });
  after(async () => {
    if (process.exitCode && process.exitCode !== 0) console.error(`keeping schema ${schema} of a failed test`);
    else await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  });
  return { sluice, pool, schema, s: quoteSchema(schema), url };
}

/** Run SQL against the test schema's tables (tests only). */
export function q(schema: string) {
  return (name: string) => `"${schema}".${name}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The versions of the migrations this checkout ships, oldest first, and the newest: what a fresh migrate applies. */
export const MIGRATION_VERSIONS: readonly number[] = (await loadMigrations()).map((m) => m.version);
export const LATEST_MIGRATION = MIGRATION_VERSIONS.at(-1) as number;
