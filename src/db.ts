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

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A validated, quoted schema name. Identifiers cannot be bound as parameters, so this is the one piece of
 * text sluice places into SQL; every value is bound as `$n`.
 */
export type SchemaName = string & { readonly __quoted: unique symbol };

export function quoteSchema(name: string): SchemaName {
  if (!SCHEMA_NAME.test(name)) {
    throw new TypeError(`schema name must match ${SCHEMA_NAME} (lower-case letters, digits, underscores), got ${JSON.stringify(name)}`);
  }
  return `"${name}"` as SchemaName;
}
