import type { Queryable, SchemaName } from '../db.js';

/**
 * What became of one claimed job.
 * - success: the live row is deleted (the record is rewritten only if the job had failed before).
 * - dead / cancelled: the live row is deleted; the record gets its terminal state.
 * - retry: due again after `delaySeconds`; the attempt stays spent.
 * - snooze: due again after `delaySeconds`; the attempt is given back.
 * - release: due again at once (unstarted at a deadline); the attempt is given back.
 */
export type OutcomeKind = 'success' | 'dead' | 'cancelled' | 'retry' | 'snooze' | 'release';

export interface Outcome {
  id: string;
  token: string;
  kind: OutcomeKind;
  delaySeconds: number;
  /** The job's type, for the per-minute counts. */
  type: string;
  /** The attempt's error, as stored in the history (`at` is added from the database clock). */
  error: Record<string, unknown> | null;
}

/**
 * A success writes the record only when the job had failed before, or finished more than half the
 * retention after it was due (so prune, which counts a first-try success from its due time, still keeps
 * it at least half the retention after it finished).
 *
 * Write a whole batch of outcomes in one round trip, each only where the claim token still matches: an
 * outcome from a worker that lost its lease changes nothing. Returns the ids that were applied; any other
 * id in the batch was fenced off (lost).
 *
 * The same statement appends each applied outcome to the job's timeline (`job_events`: when the attempt
 * started and ended, and its error) and adds it to the per-minute counts (`job_counts`, one upsert per
 * queue, type and duration bucket of the batch, its rows in key order so concurrent batches lock them in
 * one order and cannot deadlock). Fenced-off outcomes write neither.
 */
export async function recordOutcomes(
  db: Queryable,
  s: SchemaName,
  outcomes: readonly Outcome[],
  options: {
    maxErrorsKept: number;
    retentionSeconds: number;
    /** @internal false only in the bench, which measures what the timeline and the counts cost. */
    history?: boolean;
  },
): Promise<Set<string>> {
  if (outcomes.length === 0) return new Set();
  const res = await db.query<{ id: string }>(
    `WITH o AS (
       SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::float8[], $5::jsonb[], $6::text[])
         AS o(id, token, kind, delay_s, error, type)
     ),
     gone AS (
       DELETE FROM ${s}.active_jobs a USING o
       WHERE a.id = o.id AND a.lease_token = o.token AND o.kind IN ('success', 'dead', 'cancelled')
       RETURNING a.id, a.queue, a.attempt, a.run_at, a.started_at, o.kind, o.error, o.type
     ),
     again AS (
       UPDATE ${s}.active_jobs a
       SET run_at = CASE WHEN o.kind = 'release' THEN a.run_at ELSE now() + make_interval(secs => o.delay_s) END,
           attempt = CASE WHEN o.kind = 'retry' THEN a.attempt ELSE a.attempt - 1 END,
           lease_expires_at = NULL,
           lease_token = NULL
       FROM o
       WHERE a.id = o.id AND a.lease_token = o.token AND o.kind IN ('retry', 'snooze', 'release')
       RETURNING a.id, a.queue, a.attempt, a.run_at, a.started_at, o.kind, o.error, o.type
     ),
     done AS (SELECT * FROM gone UNION ALL SELECT * FROM again),
     record AS (
       UPDATE ${s}.jobs j
       SET state = CASE WHEN d.kind IN ('dead', 'cancelled') THEN d.kind ELSE j.state END,
           attempts = d.attempt,
           finished_at = CASE WHEN d.kind IN ('success', 'dead', 'cancelled') THEN now() ELSE j.finished_at END,
           errors = CASE
             WHEN d.error IS NULL THEN j.errors
             ELSE (CASE WHEN jsonb_array_length(COALESCE(j.errors, '[]'::jsonb)) >= $7
                        THEN COALESCE(j.errors, '[]'::jsonb) - 0
                        ELSE COALESCE(j.errors, '[]'::jsonb) END)
                  || jsonb_build_array(d.error || jsonb_build_object('attempt', d.attempt, 'at', now()))
           END
       FROM done d
       WHERE j.id = d.id
         AND (d.kind IN ('dead', 'cancelled', 'retry')
              OR (d.kind = 'success' AND (d.attempt > 1 OR d.run_at < now() - make_interval(secs => $8 / 2))))
     )${options.history === false ? '' : history(s)}
     SELECT id::text AS id FROM done`,
    [
      outcomes.map((o) => o.id),
      outcomes.map((o) => o.token),
      outcomes.map((o) => o.kind),
      outcomes.map((o) => o.delaySeconds),
      outcomes.map((o) => (o.error ? JSON.stringify(o.error) : null)),
      outcomes.map((o) => o.type),
      options.maxErrorsKept,
      options.retentionSeconds,
    ],
  );
  return new Set(res.rows.map((r) => r.id));
}

/**
 * The part of the outcome statement that appends each applied outcome to the timeline and adds the batch
 * to the per-minute counts (CTEs that follow `done`).
 */
function history(s: SchemaName): string {
  return `,
     events AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, started_at, detail)
       SELECT d.id, CASE WHEN d.kind = 'snooze' THEN d.attempt + 1 ELSE d.attempt END,
              CASE d.kind WHEN 'success' THEN 'succeeded' WHEN 'retry' THEN 'failed' WHEN 'snooze' THEN 'snoozed' ELSE d.kind END,
              d.started_at, d.error
       FROM done d WHERE d.kind <> 'release'
     ),
     counts AS (
       INSERT INTO ${s}.job_counts AS c (minute, queue, type, bucket, shard, succeeded, failed, dead, cancelled)
       SELECT date_trunc('minute', now()), d.queue, d.type, d.bucket, pg_backend_pid() % 16,
              count(*) FILTER (WHERE d.kind = 'success'), count(*) FILTER (WHERE d.kind = 'retry'),
              count(*) FILTER (WHERE d.kind = 'dead'), count(*) FILTER (WHERE d.kind = 'cancelled')
       -- The duration bucket: 4 an octave of milliseconds (see migration 0003); -1 when the start is unknown.
       FROM (SELECT queue, type, kind,
                    COALESCE(LEAST(79, GREATEST(0, ceil(4 * ln(GREATEST(1, extract(epoch FROM now() - started_at) * 1000)) / ln(2))))::smallint, -1) AS bucket
             FROM done
             WHERE kind IN ('success', 'retry', 'dead', 'cancelled')) d
       GROUP BY d.queue, d.type, d.bucket
       ORDER BY d.queue, d.type, d.bucket
       ON CONFLICT (minute, queue, type, bucket, shard) DO UPDATE
       SET succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed,
           dead = c.dead + excluded.dead, cancelled = c.cancelled + excluded.cancelled
     )`;
}
