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
  /** Claimed by the flow claim (a limited type): its outcome must also update `flow_jobs`. */
  limited?: boolean;
  /** A limited job's key ('' for a type limited only in total), from the flow claim. */
  flow_key?: string | null;
  /** The trace context it was enqueued with (a W3C traceparent), or null (migration 0014). */
  trace?: string | null;
}

/**
 * Claim up to `limit` due jobs of one queue in one statement: lowest priority value first, then earliest
 * due, skipping rows other claimers hold (FOR UPDATE SKIP LOCKED). Each claimed row gets a lease (expiry
 * and this claim's token) and its attempt counted, and its start is noted for the timeline. A row whose lease has lapsed is due
 * again, so a job whose worker died is rescued by this same claim: no separate reaper. Such a row still holds its old
 * token (an outcome clears it), so the claim notes the lost attempt on the timeline (`lost`, ended when
 * its lease did).
 *
 * Why the recursive CTE: the index is (queue, priority, run_at). A plain `ORDER BY priority, run_at` scan
 * with `run_at <= now()` would walk through every future-scheduled row of a priority before reaching the
 * next priority (before PostgreSQL 18's skip scan), so a million scheduled jobs would slow every claim.
 * Instead `prio` hops from one distinct priority to the next (one index probe each), and for each
 * priority the lateral scan reads only due rows, in due order, stopping at the first future one.
 * A paused queue (a row in `paused_queues`) yields no priority at all, so nothing is claimed: one primary
 * key probe per claim, whatever the queue holds. Only unindexed columns change, and `active_jobs` leaves 60% of
 * each page free (fillfactor 40), so every claimed row's wider new version fits on its page: a HOT update that
 * writes no index entries. The update finds the picked rows by a TID scan of their ctids (the rows are locked,
 * so their ctids cannot change within the statement); a join on ctid or id let the planner hash-join against
 * a sequential scan of the whole table. The job records are then fetched one primary-key lookup per row (a
 * LATERAL … LIMIT 1 the planner cannot turn into a hash join over the jobs table).
 *
 * The statement lives in a PL/pgSQL function (`claim_jobs`, created by migrations/0007_claim_function.sql, its body now
 * that of 0009_claim_tid_scan.sql), so a
 * backend plans it once and keeps the plan, without PREPARE or any session state (safe behind RDS Proxy).
 */
/** The order a drain starts claimed jobs in: priority, then due time. */
export const claimOrder = (a: ClaimedRow, b: ClaimedRow): number => a.priority - b.priority || a.run_at.getTime() - b.run_at.getTime();

export async function claimJobs(
  db: Queryable,
  s: SchemaName,
  args: { queue: string; limit: number; leaseSeconds: number; token: string },
): Promise<ClaimedRow[]> {
  const res = await db.query<ClaimedRow>(`SELECT * FROM ${s}.claim_jobs($1, $2, $3, $4::uuid)`, [
    args.queue,
    args.limit,
    args.leaseSeconds,
    args.token,
  ]);
  // UPDATE … RETURNING follows the join, not the pick order: restore priority, then due time, for starting.
  return res.rows.sort(claimOrder);
}
