import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ConnectionSource, quoteSchema, withLockedTransaction } from './db.js';
import { ConfigError } from './errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** The folder holding sluice's numbered SQL migrations. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/** Read `NNNN_name.sql` files in version order; versions must run 1, 2, 3… with no gap or duplicate. */
export async function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = FILE.exec(file);
    if (!m) throw new ConfigError(`migration file ${file} does not match NNNN_name.sql`);
    migrations.push({ version: Number(m[1]), name: m[2] as string, sql: await readFile(`${dir}/${file}`, 'utf8') });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new ConfigError(`migrations must be numbered 0001, 0002, … without gaps; found ${m.version} at position ${i + 1}`);
  });
  return migrations;
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export interface MigrateResult {
  applied: number[];
  current: number;
}

/**
 * Apply pending migrations to `schema` (default `sluice`), in order, in one transaction, recorded in
 * `<schema>.sluice_migrations`. Idempotent, and safe when several run at once: a transaction-scoped
 * advisory lock serialises them (released at commit, so nothing stays pinned). A migration whose text
 * changed after it was applied is refused: released migrations are never edited.
 *
 * @example
 * await migrate({ db: pool, schema: 'sluice' }); // { applied: [1], current: 1 }
 */
export async function migrate(options: { db: ConnectionSource; schema?: string; migrations?: Migration[] }): Promise<MigrateResult> {
  const schemaName = options.schema ?? 'sluice';
  const s = quoteSchema(schemaName);
  const migrations = options.migrations ?? (await loadMigrations());
  return withLockedTransaction(options.db, `sluice.migrate:${schemaName}`, async (client) => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.sluice_migrations (
           version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number; checksum: string }>(`SELECT version, checksum FROM ${s}.sluice_migrations`);
    const appliedSums = new Map(done.rows.map((r) => [r.version, r.checksum]));
    const applied: number[] = [];
    for (const m of migrations) {
      const sum = checksum(m.sql);
      const existing = appliedSums.get(m.version);
      if (existing !== undefined) {
        if (existing !== sum)
          throw new ConfigError(`migration ${m.version} (${m.name}) was edited after it was applied; add a new migration instead`);
        continue;
      }
      await client.query(`SET LOCAL search_path TO ${s}`);
      await client.query(m.sql);
      await client.query(`INSERT INTO ${s}.sluice_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, sum]);
      applied.push(m.version);
    }
    return { applied, current: Math.max(0, ...migrations.map((m) => m.version), ...appliedSums.keys()) };
  });
}
