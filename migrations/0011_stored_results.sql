-- sluice 0011: stored results. A handler may return a JSON value; the outcome statement keeps it on the
-- attempt's timeline row (`job_events.detail` of the `succeeded` row, as {"result": …}), so a first-try
-- success still writes nothing to the wide job record.
-- Released migrations are never edited: add the next number instead.
--
-- The function keeps 0010's arguments: for a success, the element of p_errors is now that row's detail
-- (the result), never appended to the record's error history. Code that calls it as 0010's did never sends
-- a detail with a success, so it keeps working unchanged. src/sql/outcomes.ts says what the statement does.
CREATE OR REPLACE FUNCTION record_outcomes(p_ids bigint[], p_tokens uuid[], p_kinds text[], p_delays float8[], p_errors jsonb[],
                                p_types text[], p_max_errors integer, p_retention_seconds float8, p_history boolean)
RETURNS TABLE (id text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $outcomes$
#variable_conflict use_column
BEGIN
  RETURN QUERY
WITH o AS (
       SELECT * FROM unnest(p_ids, p_tokens, p_kinds, p_delays, p_errors, p_types)
         AS o(id, token, kind, delay_s, error, type)
     ),
     gone AS (
       DELETE FROM active_jobs a USING o
       WHERE a.id = o.id AND a.lease_token = o.token AND o.kind IN ('success', 'dead', 'cancelled')
       RETURNING a.id, a.queue, a.attempt, a.run_at, a.started_at, o.kind, o.error, o.type
     ),
     again AS (
       UPDATE active_jobs a
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
       UPDATE jobs j
       SET state = CASE WHEN d.kind IN ('dead', 'cancelled') THEN d.kind ELSE j.state END,
           attempts = d.attempt,
           finished_at = CASE WHEN d.kind IN ('success', 'dead', 'cancelled') THEN now() ELSE j.finished_at END,
           errors = CASE
             WHEN d.error IS NULL OR d.kind = 'success' THEN j.errors
             ELSE (CASE WHEN jsonb_array_length(COALESCE(j.errors, '[]'::jsonb)) >= p_max_errors
                        THEN COALESCE(j.errors, '[]'::jsonb) - 0
                        ELSE COALESCE(j.errors, '[]'::jsonb) END)
                  || jsonb_build_array(d.error || jsonb_build_object('attempt', d.attempt, 'at', now()))
           END
       FROM done d
       WHERE j.id = d.id
         AND (d.kind IN ('dead', 'cancelled', 'retry')
              OR (d.kind = 'success' AND (d.attempt > 1 OR d.run_at < now() - make_interval(secs => p_retention_seconds / 2))))
     ),
     events AS (
       INSERT INTO job_events (job_id, attempt, kind, started_at, detail)
       SELECT d.id, CASE WHEN d.kind = 'snooze' THEN d.attempt + 1 ELSE d.attempt END,
              CASE d.kind WHEN 'success' THEN 'succeeded' WHEN 'retry' THEN 'failed' WHEN 'snooze' THEN 'snoozed' ELSE d.kind END,
              d.started_at, d.error
       FROM done d WHERE p_history AND d.kind <> 'release'
     ),
     counts AS (
       INSERT INTO job_counts AS c (minute, queue, type, bucket, shard, succeeded, failed, dead, cancelled)
       SELECT date_trunc('minute', now()), d.queue, d.type, d.bucket, pg_backend_pid() % 16,
              count(*) FILTER (WHERE d.kind = 'success'), count(*) FILTER (WHERE d.kind = 'retry'),
              count(*) FILTER (WHERE d.kind = 'dead'), count(*) FILTER (WHERE d.kind = 'cancelled')
       -- The duration bucket: 4 an octave of milliseconds (see migration 0003); -1 when the start is unknown.
       FROM (SELECT queue, type, kind,
                    COALESCE(LEAST(79, GREATEST(0, ceil(4 * ln(GREATEST(1.0::float8, extract(epoch FROM now() - started_at)::float8 * 1000)) / ln(2.0::float8))))::smallint, -1) AS bucket
             FROM done
             WHERE p_history AND kind IN ('success', 'retry', 'dead', 'cancelled')) d
       GROUP BY d.queue, d.type, d.bucket
       ORDER BY d.queue, d.type, d.bucket
       ON CONFLICT (minute, queue, type, bucket, shard) DO UPDATE
       SET succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed,
           dead = c.dead + excluded.dead, cancelled = c.cancelled + excluded.cancelled
     )
     SELECT done.id::text FROM done;
END
$outcomes$;
