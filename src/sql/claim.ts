import type { Queryable, SchemaName } from '../db.js';

export interface ClaimedRow {
  id: string;
  type: string;
  queue: string;
  priority: number;
  attempt: number;
  max_attempts: number;
  cancel_requested: boolean;
  created_at: Date;
  run_at: Date;
  payload: unknown;
}

/**
 * Claim up to `limit` due jobs of one queue in one statement: lowest priority value first, then earliest
 * due, skipping rows other claimers hold (FOR UPDATE SKIP LOCKED). Each claimed row gets a lease (expiry
 * and this claim's token) and its attempt counted, and its start is noted for the timeline. A row whose lease has lapsed is due again, so a job
 * whose worker died is rescued by this same claim: no separate reaper. Such a row still holds its old
 * token (an outcome clears it), so the claim notes the lost attempt on the timeline (`lost`, ended when
 * its lease did).
 *
 * Why the recursive CTE: the index is (queue, priority, run_at). A plain `ORDER BY priority, run_at` scan
 * with `run_at <= now()` would walk through every future-scheduled row of a priority before reaching the
 * next priority (before PostgreSQL 18's skip scan), so a million scheduled jobs would slow every claim.
 * Instead `prio` hops from one distinct priority to the next (one index probe each), and for each
 * priority the lateral scan reads only due rows, in due order, stopping at the first future one.
 * A paused queue (a row in `paused_queues`) yields no priority at all, so nothing is claimed: one primary
 * key probe per claim, whatever the queue holds. Only unindexed columns change, so the update is HOT and writes no index entries. The update finds each
 * picked row by its ctid (a TID scan: the row is locked, so its ctid cannot change within the statement);
 * joining by id let the planner hash-join against a sequential scan of the whole table. The job records
 * are fetched the same way, one index lookup per picked row (a LATERAL … LIMIT 1 the planner cannot turn
 * into a hash join): on a jobs table of tens of thousands of rows a plain join scanned all of it per claim.
 */
export async function claimJobs(
  db: Queryable,
  s: SchemaName,
  args: { queue: string; limit: number; leaseSeconds: number; token: string },
): Promise<ClaimedRow[]> {
  const res = await db.query<ClaimedRow>(
    `WITH RECURSIVE prio(p) AS (
       SELECT min(priority) FROM ${s}.active_jobs
       WHERE queue = $1 AND NOT EXISTS (SELECT 1 FROM ${s}.paused_queues WHERE queue = $1)
       UNION ALL
       SELECT (SELECT min(priority) FROM ${s}.active_jobs WHERE queue = $1 AND priority > prio.p)
       FROM prio WHERE prio.p IS NOT NULL
     ),
     picked AS (
       SELECT due.id, due.ctid, due.lease_token, due.attempt, due.started_at, due.lease_expires_at FROM prio
       CROSS JOIN LATERAL (
         SELECT a.id, a.ctid, a.lease_token, a.attempt, a.started_at, a.lease_expires_at FROM ${s}.active_jobs a
         WHERE a.queue = $1 AND a.priority = prio.p AND a.run_at <= now()
           AND (a.lease_expires_at IS NULL OR a.lease_expires_at <= now())
         ORDER BY a.run_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ) due
       WHERE prio.p IS NOT NULL
       LIMIT $2
     ),
     lost AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, started_at, at)
       SELECT id, attempt, 'lost', started_at, lease_expires_at FROM picked WHERE lease_token IS NOT NULL
     )
     UPDATE ${s}.active_jobs a
     SET attempt = a.attempt + 1,
         lease_expires_at = now() + make_interval(secs => $3),
         lease_token = $4::uuid,
         started_at = now()
     FROM picked
     CROSS JOIN LATERAL (
       SELECT j.type, j.queue, j.max_attempts, j.created_at, j.payload FROM ${s}.jobs j WHERE j.id = picked.id LIMIT 1
     ) j
     WHERE a.ctid = picked.ctid
     RETURNING a.id::text AS id, j.type, j.queue, a.priority, a.attempt, j.max_attempts, a.cancel_requested,
               j.created_at, a.run_at, j.payload`,
    [args.queue, args.limit, args.leaseSeconds, args.token],
  );
  // UPDATE … RETURNING follows the join, not the pick order: restore priority, then due time, for starting.
  return res.rows.sort((a, b) => a.priority - b.priority || a.run_at.getTime() - b.run_at.getTime());
}
