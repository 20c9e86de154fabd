import { type SchemaName, type SqlFragment, sql } from '../db.js';

/**
 * A live row's due time: a parked row (a limited job, run_at 'infinity', migrations/0013_flow_control.sql)
 * is due when its flow row says, read only for such a row.
 */
export function liveDueAt(s: SchemaName): SqlFragment {
  return sql`CASE WHEN a.run_at = 'infinity' THEN COALESCE((SELECT f.run_at FROM ${s}.flow_jobs f WHERE f.job_id = a.id), a.run_at) ELSE a.run_at END`;
}

/**
 * The select list and join that read a job with its current state, shared by the read operations.
 * A record with state NULL and no live row has succeeded; a lapsed lease reads as available (it is
 * claimable again). A job that succeeded on its first attempt has no finish time in its record (it is
 * not rewritten on the hot path): it is read from its timeline. With `result`, so is a succeeded job's
 * result (only single-job reads ask for it: a list page does not carry results).
 */
export function jobSelect(s: SchemaName, options: { result?: boolean } = {}): string {
  // A succeeded job's result is on its `succeeded` timeline row (one per job), as {"result": …}.
  const result = options.result
    ? `,
      CASE WHEN j.state IS NULL AND a.id IS NULL THEN
        (SELECT e.detail FROM ${s}.job_events e WHERE e.job_id = j.id AND e.kind = 'succeeded' ORDER BY e.at DESC LIMIT 1)
      END AS success_detail`
    : '';
  return `
    SELECT j.id::text AS id, j.type, j.queue,
      CASE
        WHEN j.state IS NOT NULL THEN j.state
        WHEN a.id IS NULL THEN 'succeeded'
        WHEN a.lease_expires_at > now() THEN 'running'
        WHEN ${liveDueAt(s)} > now() THEN 'scheduled'
        ELSE 'available'
      END AS state,
      COALESCE(a.priority, j.priority) AS priority,
      CASE WHEN a.id IS NOT NULL THEN a.attempt WHEN j.state IS NULL THEN GREATEST(j.attempts, 1) ELSE j.attempts END AS attempt,
      j.max_attempts, j.created_at, COALESCE(${liveDueAt(s)}, j.run_at) AS run_at,
      CASE
        WHEN j.finished_at IS NOT NULL OR a.id IS NOT NULL THEN j.finished_at
        ELSE (SELECT max(e.at) FROM ${s}.job_events e WHERE e.job_id = j.id AND e.kind = 'succeeded')
      END AS finished_at,
      j.idempotency_key, j.errors, j.payload, j.trace${result}
    FROM ${s}.jobs j
    LEFT JOIN ${s}.active_jobs a ON a.id = j.id`;
}
