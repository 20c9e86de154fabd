import type { Queryable, SchemaName } from '../db.js';
import type { EnqueueRow } from './enqueue.js';

/** What `insertOrReplace` did: the job, whether it replaced a queued one, or that another type holds the key. */
export interface ReplacedRow {
  id: string;
  created_at: Date;
  run_at: Date;
  scheduled: boolean;
  replaced: boolean;
  /** The key names a queued job of another type or queue: nothing was written. */
  held_elsewhere: boolean;
}

/**
 * Enqueue one job under a replace key: the function `enqueue_replacing` (migration 0012, which says how
 * concurrent enqueues of one key take turns). If the job the key names has not started (its live row at
 * attempt 0 without a lease: queued, or released unstarted at a deadline) and is of the same type and
 * queue, its payload, due time, priority and attempts are replaced (`replaced`). If it is of another type or
 * queue, nothing is written (`held_elsewhere`). Otherwise (a new key, or its job started or finished) a new
 * job is inserted and the key names it.
 */
export async function insertOrReplace(db: Queryable, s: SchemaName, r: EnqueueRow & { replaceKey: string }): Promise<ReplacedRow> {
  const res = await db.query<ReplacedRow>(
    `SELECT * FROM ${s}.enqueue_replacing($1, $2, $3::smallint, $4::int, $5::timestamptz, $6::float8, $7, $8::jsonb, $9)`,
    [r.type, r.queue, r.priority, r.maxAttempts, r.runAt, r.delaySeconds, r.replaceKey, r.payloadJson, r.trace],
  );
  return res.rows[0] as ReplacedRow;
}

/**
 * Delete up to `limit` replace keys whose job can no longer be replaced (it started, finished or is gone):
 * the next enqueue with such a key adds a job anyway, so the row only takes space. Returns how many.
 */
export async function pruneReplaceKeys(db: Queryable, s: SchemaName, limit: number): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH stale AS (
       SELECT k.key FROM ${s}.replace_keys k
       WHERE NOT EXISTS (SELECT 1 FROM ${s}.active_jobs a WHERE a.id = k.job_id AND a.attempt = 0 AND a.lease_token IS NULL)
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     ),
     deleted AS (DELETE FROM ${s}.replace_keys k USING stale WHERE k.key = stale.key RETURNING 1)
     SELECT count(*)::int AS n FROM deleted`,
    [limit],
  );
  return res.rows[0]?.n ?? 0;
}
