-- sluice 0007: the claim as a PL/pgSQL function, so its plan is kept.
-- Released migrations are never edited: add the next number instead.
--
-- An unnamed statement is parsed and planned on every call; the claim's plan (a recursive CTE, two
-- lateral scans, a TID update) took 0.23–0.65 ms of a claim of about 1 ms (EXPLAIN ANALYZE, issue 14).
-- A PL/pgSQL function prepares each statement of its body once per database session and keeps the plan
-- (PostgreSQL's plan cache chooses between a custom and a generic plan after five calls), so a backend
-- that serves many claims plans this one once.
--
-- Safe behind RDS Proxy: the plan lives in the backend, nothing is set or prepared on the client's
-- session: no PREPARE, no SET (the function's own `SET search_path FROM CURRENT` is applied by the
-- server for the duration of each call and is not session state), no advisory lock, no temporary table.
-- A proxied client calling it is not pinned. The function is SECURITY INVOKER: the caller's table
-- privileges apply, as they do to the statement it replaces.
--
-- search_path is the schema it was created in (this migration runs with search_path set to the target
-- schema), so the body's unqualified names are the schema's tables whatever the caller's search_path.
-- src/sql/claim.ts calls it and says what the statement does and why it is shaped so.
CREATE FUNCTION claim_jobs(p_queue text, p_limit integer, p_lease_seconds float8, p_token uuid)
RETURNS TABLE (id text, type text, queue text, priority smallint, attempt integer, max_attempts integer,
               cancel_requested boolean, created_at timestamptz, run_at timestamptz, payload jsonb)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $claim$
#variable_conflict use_column
BEGIN
  RETURN QUERY
WITH RECURSIVE prio(p) AS (
       SELECT min(priority) FROM active_jobs
       WHERE queue = p_queue AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE queue = p_queue)
       UNION ALL
       SELECT (SELECT min(priority) FROM active_jobs WHERE queue = p_queue AND priority > prio.p)
       FROM prio WHERE prio.p IS NOT NULL
     ),
     picked AS (
       SELECT due.id, due.ctid, due.lease_token, due.attempt, due.started_at, due.lease_expires_at FROM prio
       CROSS JOIN LATERAL (
         SELECT a.id, a.ctid, a.lease_token, a.attempt, a.started_at, a.lease_expires_at FROM active_jobs a
         WHERE a.queue = p_queue AND a.priority = prio.p AND a.run_at <= now()
           AND (a.lease_expires_at IS NULL OR a.lease_expires_at <= now())
         ORDER BY a.run_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
       ) due
       WHERE prio.p IS NOT NULL
       LIMIT p_limit
     ),
     lost AS (
       INSERT INTO job_events (job_id, attempt, kind, started_at, at)
       SELECT id, attempt, 'lost', started_at, lease_expires_at FROM picked WHERE lease_token IS NOT NULL
     )
     UPDATE active_jobs a
     SET attempt = a.attempt + 1,
         lease_expires_at = now() + make_interval(secs => p_lease_seconds),
         lease_token = p_token,
         started_at = now()
     FROM picked
     CROSS JOIN LATERAL (
       SELECT j.type, j.queue, j.max_attempts, j.created_at, j.payload FROM jobs j WHERE j.id = picked.id LIMIT 1
     ) j
     WHERE a.ctid = picked.ctid
     RETURNING a.id::text AS id, j.type, j.queue, a.priority, a.attempt, j.max_attempts, a.cancel_requested,
               j.created_at, a.run_at, j.payload;
END
$claim$;
