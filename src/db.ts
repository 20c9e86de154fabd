import type { QueryResult, QueryResultRow } from 'pg';

/**
 * Anything that can run a parameterised query: a `pg.Pool`, a `pg.Client`, or a `PoolClient` inside the
 * caller's own transaction. sluice never names a prepared statement and never sets session state, so
 * every query is safe through RDS Proxy without pinning.
 *
 * @example
 * const db: Queryable = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** A Queryable that can also lend a dedicated connection (a `pg.Pool`). Needed only by `migrate()`. */
export interface ConnectionSource extends Queryable {
  connect(): Promise<Queryable & { release(err?: Error | boolean): void }>;
}

/** The names sluice puts into SQL as identifiers (schemas, database users): lower-case, at most 63 bytes. */
export const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A validated, quoted schema name. Identifiers cannot be bound as parameters, so this is the one piece of
 * text sluice places into SQL; every value is bound as `$n`.
 */
export type SchemaName = string & { readonly __quoted: unique symbol };

export function quoteSchema(name: string): SchemaName {
  if (!SQL_IDENTIFIER.test(name)) {
    throw new TypeError(`schema name must match ${SQL_IDENTIFIER} (lower-case letters, digits, underscores), got ${JSON.stringify(name)}`);
  }
  return `"${name}"` as SchemaName;
}

/**
 * A piece of SQL text made only of constant text, quoted identifiers (`SchemaName`), `$n` placeholders
 * (`SqlParams` in src/sql/jobFilter.ts) and other fragments: never a value. Only the `sql` tag makes one,
 * and its signature refuses anything else, so a fragment may be placed into SQL text as a schema name is.
 */
export type SqlFragment = string & { readonly __fragment: unique symbol; readonly __quoted: true };

/**
 * Build a `SqlFragment`: the compiler refuses an interpolated value that is not itself a quoted
 * identifier or a fragment.
 *
 * @example
 * const live = sql`${s}.active_jobs a JOIN ${s}.jobs j ON j.id = a.id`;
 */
export function sql(text: TemplateStringsArray, ...parts: ReadonlyArray<SchemaName | SqlFragment>): SqlFragment {
  return text.reduce((out, chunk, i) => out + chunk + (i < parts.length ? parts[i] : ''), '') as SqlFragment;
}

/** Fragments joined by a constant separator. */
export function joinSql(parts: readonly SqlFragment[], separator: ' AND ' | ' OR ' | ', '): SqlFragment {
  return parts.join(separator) as SqlFragment;
}

/**
 * Run `fn` in one transaction on a dedicated connection, after taking the transaction-scoped advisory lock
 * `lockKey` (released at commit or rollback, so nothing stays pinned). Rolls back and rethrows on error.
 *
 * @example
 * await withLockedTransaction(pool, 'sluice.migrate:sluice', (client) => client.query('CREATE SCHEMA IF NOT EXISTS x'));
 */
export async function withLockedTransaction<T>(db: ConnectionSource, lockKey: string, fn: (client: Queryable) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
