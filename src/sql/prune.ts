import type { Queryable, SchemaName } from '../db.js';

/**
 * Delete up to `limit` finished records (succeeded or cancelled, never dead letters) whose end (or, for a
 * job that succeeded on its first attempt, its due time) is older than the retention, with their stored
 * steps and timeline. Walks the `jobs_prunable` index oldest first. Returns how many were deleted.
 */
export async function pruneFinished(db: Queryable, s: SchemaName, args: { retentionSeconds: number; limit: number }): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH victims AS (
       SELECT j.id FROM ${s}.jobs j
       WHERE j.state IS DISTINCT FROM 'dead'
         AND j.created_at < now() - make_interval(secs => $1)
         AND COALESCE(j.finished_at, j.run_at) < now() - make_interval(secs => $1)
         AND NOT EXISTS (SELECT 1 FROM ${s}.active_jobs a WHERE a.id = j.id)
       ORDER BY j.created_at
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     ),
     steps AS (
       DELETE FROM ${s}.job_steps st USING victims v WHERE st.job_id = v.id
     ),
     events AS (
       DELETE FROM ${s}.job_events e USING victims v WHERE e.job_id = v.id
     ),
     deleted AS (
       DELETE FROM ${s}.jobs j USING victims v WHERE j.id = v.id RETURNING 1
     )
     SELECT count(*)::int AS n FROM deleted`,
    [args.retentionSeconds, args.limit],
  );
  return res.rows[0]?.n ?? 0;
}

/** Delete up to `limit` bulk-request records whose idempotency key has expired. Returns how many. */
export async function pruneBulkRequests(db: Queryable, s: SchemaName, limit: number): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH victims AS (
       SELECT b.key FROM ${s}.bulk_requests b WHERE b.expires_at <= now() ORDER BY b.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
     ),
     deleted AS (
       DELETE FROM ${s}.bulk_requests b USING victims v WHERE b.key = v.key RETURNING 1
     )
     SELECT count(*)::int AS n FROM deleted`,
    [limit],
  );
  return res.rows[0]?.n ?? 0;
}
