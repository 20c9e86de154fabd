import type { Queryable, SchemaName } from '../db.js';

/**
 * Delete up to `limit` flow keys no live job holds (a tenant gone quiet), so the flow claim, which probes
 * every key of its queue, does not keep walking them. Returns how many.
 */
export async function pruneFlowKeys(db: Queryable, s: SchemaName, limit: number): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH stale AS (
       SELECT k.queue, k.type, k.key FROM ${s}.flow_keys k
       WHERE NOT EXISTS (SELECT 1 FROM ${s}.flow_jobs f WHERE f.queue = k.queue AND f.type = k.type AND f.key = k.key)
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     ),
     deleted AS (
       DELETE FROM ${s}.flow_keys k USING stale
       WHERE (k.queue, k.type, k.key) = (stale.queue, stale.type, stale.key) RETURNING 1
     )
     SELECT count(*)::int AS n FROM deleted`,
    [limit],
  );
  return res.rows[0]?.n ?? 0;
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
