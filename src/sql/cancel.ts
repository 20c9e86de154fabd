import type { Queryable, SchemaName } from '../db.js';

export type CancelResult = 'cancelled' | 'cancelling';

/**
 * Cancel jobs in one round trip. A job not running (available, scheduled, or its lease lapsed) is
 * cancelled at once; a running one is flagged, and its worker aborts `ctx.signal` at its next heartbeat.
 * Ids that are not live (finished, or unknown) are absent from the result. Each writes its timeline marker.
 */
export async function cancelJobs(db: Queryable, s: SchemaName, ids: readonly string[]): Promise<Map<string, CancelResult>> {
  const res = await db.query<{ id: string; result: CancelResult }>(
    `WITH target AS (
       SELECT a.id, COALESCE(a.lease_expires_at > now(), false) AS running
       FROM ${s}.active_jobs a WHERE a.id = ANY($1::bigint[])
       FOR UPDATE
     ),
     ${cancelTargets(s)}
     SELECT id::text AS id, 'cancelled' AS result FROM gone
     UNION ALL
     SELECT id::text AS id, 'cancelling' AS result FROM flagged`,
    [ids],
  );
  return new Map(res.rows.map((r) => [r.id, r.result]));
}

/**
 * What a cancel does to the rows of a `target` CTE (id, running) that precedes it: one not running is
 * deleted from the live table and its record made cancelled; a running one is flagged (its worker aborts
 * `ctx.signal` at its next heartbeat); each writes its timeline marker. Leaves `gone` and `flagged` for
 * the statement's answer. Shared by the cancel by ids and the cancel by filter.
 */
export function cancelTargets(s: SchemaName): string {
  return `gone AS (
       DELETE FROM ${s}.active_jobs a USING target t
       WHERE a.id = t.id AND NOT t.running
       RETURNING a.id, a.attempt
     ),
     flow_gone AS (
       DELETE FROM ${s}.flow_jobs f USING gone g WHERE f.job_id = g.id
     ),
     flagged AS (
       UPDATE ${s}.active_jobs a SET cancel_requested = true
       FROM target t WHERE a.id = t.id AND t.running
       RETURNING a.id, a.attempt
     ),
     record AS (
       UPDATE ${s}.jobs j SET state = 'cancelled', attempts = g.attempt, finished_at = now()
       FROM gone g WHERE j.id = g.id
     ),
     events AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind)
       SELECT id, attempt, 'cancelled' FROM gone
       UNION ALL
       SELECT id, attempt, 'cancel_requested' FROM flagged
     )`;
}
