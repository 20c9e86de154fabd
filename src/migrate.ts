import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ConnectionSource, type Queryable, quoteSchema, type SchemaName } from './db.js';
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

/**
 * The first line that makes a migration run outside a transaction, one statement at a time: for
 * statements PostgreSQL refuses inside a transaction block (`CREATE INDEX CONCURRENTLY`), and for a
 * `VALIDATE CONSTRAINT` that should not hold the lock its `ADD CONSTRAINT … NOT VALID` took.
 */
export const NO_TRANSACTION_MARKER = '-- sluice: no-transaction';

/** Whether a migration's first line is {@link NO_TRANSACTION_MARKER}. */
export function runsOutsideTransaction(sql: string): boolean {
  return sql.split('\n', 1)[0]?.trim() === NO_TRANSACTION_MARKER;
}

const DOLLAR_QUOTE = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Split SQL text into its statements at the semicolons that end them: not those inside quotes ('…',
 * E'…', "…", $tag$…$tag$) or comments (-- …, nested /* … *\/). Statements holding only comments are
 * dropped; each statement keeps its own leading comments.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let hasCode = false;
  let i = 0;
  const skipTo = (close: string, from: number) => {
    const end = text.indexOf(close, from);
    return end < 0 ? text.length : end + close.length;
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '-' && text[i + 1] === '-') {
      i = skipTo('\n', i);
    } else if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text.startsWith('/*', i)) [depth, i] = [depth + 1, i + 2];
        else if (text.startsWith('*/', i)) [depth, i] = [depth - 1, i + 2];
        else i++;
      }
    } else if (c === "'") {
      const escapes = /(^|[^A-Za-z0-9_$])[eE]$/.test(text.slice(Math.max(0, i - 2), i));
      i++;
      while (i < text.length) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i++;
      hasCode = true;
    } else if (c === '"') {
      i = skipTo('"', i + 1);
      hasCode = true;
    } else if (c === '$' && !/[A-Za-z0-9_]/.test(text[i - 1] ?? '') && DOLLAR_QUOTE.test(text.slice(i, i + 64))) {
      const tag = (DOLLAR_QUOTE.exec(text.slice(i, i + 64)) as RegExpExecArray)[0];
      i = skipTo(tag, i + tag.length);
      hasCode = true;
    } else if (c === ';') {
      if (hasCode) out.push(text.slice(start, i).trim());
      [start, hasCode, i] = [i + 1, false, i + 1];
    } else {
      if (!/\s/.test(c)) hasCode = true;
      i++;
    }
  }
  if (hasCode) out.push(text.slice(start).trim());
  return out;
}

export interface MigrateResult {
  applied: number[];
  current: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Take the session advisory lock `key` on `client`, polling with `pg_try_advisory_lock` rather than waiting
 * in `pg_advisory_lock`: a backend blocked in a lock call holds a snapshot, and `CREATE INDEX CONCURRENTLY`
 * in the migrator that holds the lock waits for every older snapshot to end, a deadlock. Between two tries
 * this connection holds nothing.
 */
async function lockSession(client: Queryable, key: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]);
    if (rows[0]?.ok) return;
    await sleep(Math.min(1_000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2));
  }
}

/** Run transactional migrations in one transaction, recording each, with search_path set to the schema. */
async function applyInTransaction(client: Queryable, s: SchemaName, batch: readonly Migration[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const m of batch) {
      await client.query(`SET LOCAL search_path TO ${s}`);
      await client.query(m.sql);
      await client.query(`INSERT INTO ${s}.sluice_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [
        m.version,
        m.name,
        checksum(m.sql),
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * Run a no-transaction migration one statement at a time (each its own implicit transaction), then record
 * it. A failure leaves the statements before it applied and the version unrecorded, so the next run starts
 * the file again from the top: such a migration's statements must be safe to run twice.
 */
async function applyOutsideTransaction(client: Queryable, s: SchemaName, m: Migration): Promise<void> {
  await client.query(`SET search_path TO ${s}`);
  try {
    for (const statement of splitStatements(m.sql)) await client.query(statement);
  } finally {
    await client.query('RESET search_path').catch(() => {});
  }
  await client.query(`INSERT INTO ${s}.sluice_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [
    m.version,
    m.name,
    checksum(m.sql),
  ]);
}

/**
 * Apply pending migrations to `schema` (default `sluice`), in order, recorded in
 * `<schema>.sluice_migrations`. Idempotent, and safe when several run at once: a session advisory lock on
 * one dedicated connection serialises them (the key 0.2.0's `pg_advisory_xact_lock` took, so an older
 * migrator waits too). Consecutive pending migrations run in one transaction, so a failure leaves none of
 * them applied; one whose first line is `-- sluice: no-transaction` runs on its own, one statement at a
 * time (`CREATE INDEX CONCURRENTLY`), and is recorded only after its last statement succeeded. A migration
 * whose text changed after it was applied is refused before anything runs: released migrations are never
 * edited.
 *
 * The connection is closed afterwards rather than returned to the pool, so neither the lock nor a session
 * setting can outlive the run. (Migrate is not the hot path: its lock and `SET` would pin the connection
 * behind RDS Proxy, which keeps its statements on one backend, as they must be.)
 *
 * @example
 * await migrate({ db: pool, schema: 'sluice' }); // { applied: [1, 2, …], current: 6 }
 */
export async function migrate(options: { db: ConnectionSource; schema?: string; migrations?: Migration[] }): Promise<MigrateResult> {
  const schemaName = options.schema ?? 'sluice';
  const s = quoteSchema(schemaName);
  const migrations = options.migrations ?? (await loadMigrations());
  const lockKey = `sluice.migrate:${schemaName}`;
  const client = await options.db.connect();
  try {
    await lockSession(client, lockKey);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.sluice_migrations (
             version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = await client.query<{ version: number; checksum: string }>(`SELECT version, checksum FROM ${s}.sluice_migrations`);
      const appliedSums = new Map(done.rows.map((r) => [r.version, r.checksum]));
      for (const m of migrations) {
        const existing = appliedSums.get(m.version);
        if (existing !== undefined && existing !== checksum(m.sql))
          throw new ConfigError(`migration ${m.version} (${m.name}) was edited after it was applied; add a new migration instead`);
      }
      const pending = migrations.filter((m) => !appliedSums.has(m.version));
      let batch: Migration[] = [];
      for (const m of pending) {
        if (!runsOutsideTransaction(m.sql)) {
          batch.push(m);
          continue;
        }
        if (batch.length > 0) await applyInTransaction(client, s, batch);
        batch = [];
        await applyOutsideTransaction(client, s, m);
      }
      if (batch.length > 0) await applyInTransaction(client, s, batch);
      return {
        applied: pending.map((m) => m.version),
        current: Math.max(0, ...migrations.map((m) => m.version), ...appliedSums.keys()),
      };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
    }
  } finally {
    client.release(true);
  }
}
