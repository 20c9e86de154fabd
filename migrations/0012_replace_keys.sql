-- sluice 0012: replace keys (debounce). An enqueue with a `replaceKey` replaces the payload, due time and
-- priority of the queued job holding that key, if it has not started yet, instead of adding a job.
-- Released migrations are never edited: add the next number instead.
--
-- A key names the job it was last given to. That job is replaceable while its live row says it has not
-- started (attempt 0, no lease: queued, or released unstarted at a deadline); once it has started, the
-- next enqueue with the key adds a new job and the key moves to it. The keys live in their own table, not
-- on active_jobs, so the claim and the outcome statements never touch them: unkeyed jobs pay nothing (a
-- column on the live row measured +34 WAL bytes for every processed job, its tuple header one alignment
-- step wider). src/sql/replace.ts is the enqueue side; prune deletes keys whose job can no longer be replaced.
--
-- The previous code keeps working: it never reads or writes the table.
CREATE TABLE replace_keys (
  key    text   PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
  job_id bigint NOT NULL
);

-- The enqueue under a key, as a function: each statement in it sees what the statements of other
-- enqueues committed before it (a fresh snapshot per statement under READ COMMITTED), so enqueues of one
-- key can take turns on the key's row and then read the job the one before them left. One call, no
-- session state (safe behind RDS Proxy, and inside a caller's own transaction: it raises no error on a race).
CREATE FUNCTION enqueue_replacing(p_type text, p_queue text, p_priority smallint, p_max_attempts integer,
                                  p_run_at timestamptz, p_delay_s float8, p_key text, p_payload jsonb)
RETURNS TABLE (id text, created_at timestamptz, run_at timestamptz, scheduled boolean, replaced boolean, held_elsewhere boolean)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $replace$
#variable_conflict use_column
DECLARE
  v_due timestamptz := COALESCE(p_run_at, now() + make_interval(secs => p_delay_s));
  v_job bigint;
  v_id bigint;
  v_type text;
  v_queue text;
  v_created timestamptz;
BEGIN
  FOR round IN 1..3 LOOP
    -- A new key is ours at once (the insert holds it until we commit); a key in use is locked, so
    -- enqueues of one key take turns. ON CONFLICT waits for a concurrent first use to commit.
    INSERT INTO replace_keys (key, job_id) VALUES (p_key, 0) ON CONFLICT (key) DO NOTHING;
    IF FOUND THEN
      EXIT;
    END IF;
    SELECT k.job_id INTO v_job FROM replace_keys k WHERE k.key = p_key FOR UPDATE;
    IF FOUND THEN
      -- The job it names, if it has not started: its live row locked against a claim (a claim that
      -- holds it first wins, and we see it started).
      SELECT a.id, j.type, a.queue INTO v_id, v_type, v_queue
      FROM active_jobs a JOIN jobs j ON j.id = a.id
      WHERE a.id = v_job AND a.attempt = 0 AND a.lease_token IS NULL
      FOR UPDATE OF a;
      IF v_id IS NOT NULL THEN
        IF v_type <> p_type OR v_queue <> p_queue THEN
          RETURN QUERY SELECT v_id::text, NULL::timestamptz, NULL::timestamptz, NULL::boolean, false, true;
          RETURN;
        END IF;
        UPDATE active_jobs a SET run_at = v_due, priority = p_priority WHERE a.id = v_id;
        UPDATE jobs j SET payload = p_payload, run_at = v_due, priority = p_priority, max_attempts = p_max_attempts
        WHERE j.id = v_id RETURNING j.created_at INTO v_created;
        RETURN QUERY SELECT v_id::text, v_created, v_due, v_due > now(), true, false;
        RETURN;
      END IF;
      EXIT; -- its job started or finished: a new job, and the key moves to it
    END IF;
    -- The key was deleted between the two statements (prune): try again.
  END LOOP;
  INSERT INTO jobs (type, queue, priority, max_attempts, run_at, payload)
  VALUES (p_type, p_queue, p_priority, p_max_attempts, v_due, p_payload)
  RETURNING jobs.id, jobs.created_at INTO v_id, v_created;
  INSERT INTO active_jobs (id, queue, priority, run_at) VALUES (v_id, p_queue, p_priority, v_due);
  UPDATE replace_keys SET job_id = v_id WHERE key = p_key;
  RETURN QUERY SELECT v_id::text, v_created, v_due, v_due > now(), false, false;
END
$replace$;
