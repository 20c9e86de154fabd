import { type Queryable, type SchemaName, type SqlFragment, sql } from '../db.js';

/**
 * Delete up to `limit` rows of a flow table keyed by (queue, type, key) that `idle` (a predicate on `x`)
 * says are idle, skipping rows another statement holds. Returns how many.
 */
async function pruneIdle(db: Queryable, table: SqlFragment, idle: SqlFragment, limit: number): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH stale AS (
       SELECT x.queue, x.type, x.key FROM ${table} x WHERE ${idle} LIMIT $1 FOR UPDATE SKIP LOCKED
     ),
     deleted AS (
       DELETE FROM ${table} x USING stale WHERE (x.queue, x.type, x.key) = (stale.queue, stale.type, stale.key) RETURNING 1
     )
     SELECT count(*)::int AS n FROM deleted`,
    [limit],
  );
  return res.rows[0]?.n ?? 0;
}

/**
 * Delete up to `limit` flow keys no live job holds (a tenant gone quiet), so the flow claim, which reads
 * every key of its queue, does not keep walking them. Returns how many.
 */
export function pruneFlowKeys(db: Queryable, s: SchemaName, limit: number): Promise<number> {
  return pruneIdle(
    db,
    sql`${s}.flow_keys`,
    sql`NOT EXISTS (SELECT 1 FROM ${s}.flow_jobs f WHERE f.queue = x.queue AND f.type = x.type AND f.key = x.key)`,
    limit,
  );
}

/**
 * Delete up to `limit` flow states gone idle: no cooldown ahead, and a bucket last spent over a week ago
 * (it has refilled: a rate's period is at most a day and its burst at most seven periods' worth). Returns
 * how many.
 */
export function pruneFlowState(db: Queryable, s: SchemaName, limit: number): Promise<number> {
  return pruneIdle(
    db,
    sql`${s}.flow_state`,
    sql`(x.cool_until IS NULL OR x.cool_until < now()) AND (x.tokens_at IS NULL OR x.tokens_at < now() - interval '7 days')`,
    limit,
  );
}

/**
 * Put back the key of any job that holds one without its row. An enqueue that found its key present
 * adds nothing, so a key pruned between that look and the enqueue's commit (a race of milliseconds, or
 * a producer's long transaction) leaves its jobs unreachable to the flow claim until this runs: prune
 * runs it after deleting keys, so such jobs wait at most until the next prune. Returns how many.
 */
export async function restoreFlowKeys(db: Queryable, s: SchemaName): Promise<number> {
  const res = await db.query(
    `INSERT INTO ${s}.flow_keys (queue, type, key)
     SELECT DISTINCT f.queue, f.type, f.key FROM ${s}.flow_jobs f
     WHERE NOT EXISTS (SELECT 1 FROM ${s}.flow_keys k WHERE k.queue = f.queue AND k.type = f.type AND k.key = f.key)
     ON CONFLICT DO NOTHING`,
  );
  return res.rowCount ?? 0;
}
