-- sluice 0013: flow control. Concurrency limits per job type and per key (a function of the payload),
-- enforced at claim time across every worker, with the claims rotating across keys that have due work.
-- Released migrations are never edited: add the next number instead. docs/flow-control.md says what each
-- limit guarantees and costs; src/sql/flowClaim.ts says how the claim works.
--
-- Only jobs of a limited type pay for this. Such a job's live row is parked: its run_at is 'infinity', so
-- the plain claim (claim_jobs) never reaches it in its index walk, and the real due time, priority and key
-- live in flow_jobs, which only claim_flow_jobs reads. A column on active_jobs would have cost every job,
-- limited or not, about 34 WAL bytes (its tuple header one alignment step wider; measured for 0012).
--
-- The previous code keeps working for unlimited types: it never reads these tables. It must not run beside
-- this code once a limited type is enqueued, since its claim cannot see parked jobs.

-- The key the job was enqueued under ('' for a type limited only in total), kept on the record so that a
-- redriven dead letter is parked under its limits again. NULL for an unlimited job (costs it nothing: the
-- record already has a two-byte null bitmap).
ALTER TABLE jobs ADD COLUMN flow_key text CHECK (length(flow_key) <= 255);

-- A queue that has held limited jobs: its row is what flow claims of the queue take turns on, and where
-- the rotation across keys remembers the last key it served.
CREATE TABLE flow_queues (
  queue       text PRIMARY KEY,
  cursor_type text,
  cursor_key  text
);

-- The keys of a queue with limited jobs: what a flow claim walks, one probe each. Added at enqueue,
-- deleted by prune once no job holds them.
CREATE TABLE flow_keys (
  queue text NOT NULL,
  type  text NOT NULL,
  key   text NOT NULL,
  PRIMARY KEY (queue, type, key)
);

-- One row per live limited job. Waiting (not started): due at run_at. Started: its live row holds the
-- lease, and it counts against its limits while that lease has not lapsed.
CREATE TABLE flow_jobs (
  job_id   bigint      PRIMARY KEY,
  queue    text        NOT NULL,
  type     text        NOT NULL,
  key      text        NOT NULL,
  priority smallint    NOT NULL,
  run_at   timestamptz NOT NULL,
  started  boolean     NOT NULL DEFAULT false
);
CREATE INDEX flow_jobs_waiting ON flow_jobs (queue, type, key, priority, run_at, job_id) WHERE NOT started;
CREATE INDEX flow_jobs_started ON flow_jobs (queue) WHERE started;

-- The claim of limited jobs: the same result columns as claim_jobs. p_limits is a JSON array of
-- {"type", "total", "perKey"} (null for no limit); a type not listed has no limit, but its keys still take
-- turns. When nothing can be claimed although due jobs wait (their limits are full), one row comes back
-- with every column NULL: the worker then knows the queue is held, not empty.
CREATE FUNCTION claim_flow_jobs(p_queue text, p_limit integer, p_lease_seconds float8, p_token uuid, p_limits jsonb)
RETURNS TABLE (id text, type text, queue text, priority smallint, attempt integer, max_attempts integer,
               cancel_requested boolean, created_at timestamptz, run_at timestamptz, payload jsonb)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $flow$
#variable_conflict use_column
DECLARE
  v_cur_type text;
  v_cur_key text;
BEGIN
  IF EXISTS (SELECT 1 FROM paused_queues pq WHERE pq.queue = p_queue) THEN
    RETURN;
  END IF;
  -- Flow claims of one queue take turns on its row, so each counts what runs after the one before it
  -- committed: this statement waits for the lock, and the next one reads with a fresh snapshot. Enqueues
  -- never lock the row (their insert of it does nothing when it exists), so they never wait for a claim.
  SELECT q.cursor_type, q.cursor_key INTO v_cur_type, v_cur_key
  FROM flow_queues q WHERE q.queue = p_queue FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;

  -- A started job whose lease lapsed (its worker died) gives its slot back and waits again, at its old
  -- due time, so it comes before the jobs of its key enqueued after it; its lost attempt is noted when it is claimed. A
  -- heartbeat cannot revive a parked job's lapsed lease (src/sql/heartbeat.ts), so it stays given back.
  UPDATE flow_jobs f SET started = false
  FROM active_jobs a
  WHERE f.queue = p_queue AND f.started AND a.id = f.job_id AND a.lease_expires_at <= now();

  RETURN QUERY
  WITH lim AS (
         SELECT l.type, l.total, l."perKey" AS per_key FROM jsonb_to_recordset(p_limits) AS l(type text, total integer, "perKey" integer)
       ),
       running AS (
         SELECT f.type, f.key, count(*)::int AS n
         FROM flow_jobs f JOIN active_jobs a ON a.id = f.job_id
         WHERE f.queue = p_queue AND f.started AND a.lease_expires_at > now()
         GROUP BY f.type, f.key
       ),
       type_room AS (
         SELECT l.type, l.total - COALESCE(sum(r.n), 0)::int AS room
         FROM lim l LEFT JOIN running r ON r.type = l.type
         WHERE l.total IS NOT NULL GROUP BY l.type, l.total
       ),
       keys AS (
         SELECT k.type, k.key,
                LEAST(p_limit, COALESCE(l.per_key - COALESCE(r.n, 0), p_limit), COALESCE(t.room, p_limit)) AS room,
                (v_cur_type IS NULL OR (k.type, k.key) > (v_cur_type, v_cur_key)) AS after_cursor
         FROM flow_keys k
         LEFT JOIN lim l ON l.type = k.type
         LEFT JOIN running r ON r.type = k.type AND r.key = k.key
         LEFT JOIN type_room t ON t.type = k.type
         WHERE k.queue = p_queue
       ),
       -- Each key with room offers its due jobs, in priority and due order, up to its even share of the
       -- batch: a key with fewer leaves the batch short, and the next claim comes sooner.
       share AS (
         SELECT GREATEST(1, ceil(p_limit::float8 / GREATEST(1, count(*))))::int AS n FROM keys WHERE room > 0
       ),
       offered AS (
         SELECT keys.type, keys.key, keys.after_cursor, c.job_id, c.turn
         FROM keys CROSS JOIN LATERAL (
           SELECT w.job_id, row_number() OVER () AS turn FROM (
             SELECT f.job_id FROM flow_jobs f
             WHERE f.queue = p_queue AND f.type = keys.type AND f.key = keys.key AND NOT f.started AND f.run_at <= now()
             ORDER BY f.priority, f.run_at, f.job_id
             LIMIT LEAST(keys.room, (SELECT share.n FROM share))
           ) w
         ) c
         WHERE keys.room > 0
       ),
       -- Round robin: every key's first job, then every key's second, and so on, starting after the key the
       -- last claim ended with; a type with a total limit gets only as many as it has room for.
       in_type AS (
         SELECT o.*, row_number() OVER (PARTITION BY o.type ORDER BY o.turn, o.after_cursor DESC, o.key) AS nth
         FROM offered o
       ),
       chosen AS (
         SELECT i.job_id, i.type, i.key, i.turn, i.after_cursor FROM in_type i LEFT JOIN type_room t ON t.type = i.type
         WHERE t.room IS NULL OR i.nth <= t.room
         ORDER BY i.turn, i.after_cursor DESC, i.type, i.key
         LIMIT p_limit
       ),
       -- A job cancelled since the snapshot is skipped, as is one another statement holds.
       picked AS (
         SELECT a.id, a.ctid, a.lease_token, a.attempt, a.started_at, a.lease_expires_at FROM active_jobs a
         WHERE a.id IN (SELECT chosen.job_id FROM chosen) AND (a.lease_token IS NULL OR a.lease_expires_at <= now())
         FOR UPDATE SKIP LOCKED
       ),
       lost AS (
         INSERT INTO job_events (job_id, attempt, kind, started_at, at)
         SELECT picked.id, picked.attempt, 'lost', picked.started_at, picked.lease_expires_at FROM picked WHERE picked.lease_token IS NOT NULL
       ),
       upd AS (
         UPDATE active_jobs a
         SET attempt = a.attempt + 1,
             lease_expires_at = now() + make_interval(secs => p_lease_seconds),
             lease_token = p_token,
             started_at = now()
         WHERE a.ctid = ANY (ARRAY(SELECT picked.ctid FROM picked))
         RETURNING a.id, a.priority, a.attempt, a.cancel_requested
       ),
       marked AS (
         UPDATE flow_jobs f SET started = true FROM upd WHERE f.job_id = upd.id
       ),
       cursor_moved AS (
         UPDATE flow_queues q SET cursor_type = last.type, cursor_key = last.key
         FROM (SELECT chosen.type, chosen.key FROM chosen WHERE chosen.turn = 1
               ORDER BY chosen.after_cursor, chosen.type DESC, chosen.key DESC LIMIT 1) last
         WHERE q.queue = p_queue
       )
  SELECT upd.id::text AS id, j.type, j.queue, upd.priority, upd.attempt, j.max_attempts, upd.cancel_requested,
         j.created_at, j.run_at, j.payload
  FROM upd CROSS JOIN LATERAL (
    SELECT j.type, j.queue, j.max_attempts, j.created_at, j.run_at, j.payload FROM jobs j WHERE j.id = upd.id LIMIT 1
  ) j;

  IF NOT FOUND AND EXISTS (
    SELECT 1 FROM flow_keys k CROSS JOIN LATERAL (
      SELECT f.run_at FROM flow_jobs f
      WHERE f.queue = k.queue AND f.type = k.type AND f.key = k.key AND NOT f.started
      ORDER BY f.priority, f.run_at LIMIT 1
    ) w
    WHERE k.queue = p_queue AND w.run_at <= now()
  ) THEN
    RETURN QUERY SELECT NULL::text, NULL::text, NULL::text, NULL::smallint, NULL::integer, NULL::integer, NULL::boolean,
                        NULL::timestamptz, NULL::timestamptz, NULL::jsonb;
  END IF;
END
$flow$;

-- The outcomes of a batch holding limited jobs: record_outcomes, then, in the same transaction, each
-- limited job that finished leaves flow_jobs, and each that is due again (retry, snooze, release) waits
-- there at its new due time while its live row is parked again. Same arguments and result as record_outcomes.
CREATE FUNCTION record_flow_outcomes(p_ids bigint[], p_tokens uuid[], p_kinds text[], p_delays float8[], p_errors jsonb[],
                                     p_types text[], p_max_errors integer, p_retention_seconds float8, p_history boolean)
RETURNS TABLE (id text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $flow_outcomes$
#variable_conflict use_column
BEGIN
  RETURN QUERY SELECT r.id FROM record_outcomes(p_ids, p_tokens, p_kinds, p_delays, p_errors, p_types, p_max_errors,
                                                p_retention_seconds, p_history) r;
  DELETE FROM flow_jobs f
  WHERE f.job_id = ANY (p_ids) AND NOT EXISTS (SELECT 1 FROM active_jobs a WHERE a.id = f.job_id);
  -- A released job keeps its place (its live run_at was left at 'infinity'); a retried or snoozed one is due
  -- when the outcome said.
  UPDATE flow_jobs f
  SET started = false, run_at = CASE WHEN a.run_at = 'infinity' THEN f.run_at ELSE a.run_at END
  FROM active_jobs a
  WHERE f.job_id = ANY (p_ids) AND a.id = f.job_id AND a.lease_token IS NULL;
  UPDATE active_jobs a SET run_at = 'infinity'
  WHERE a.id = ANY (p_ids) AND a.lease_token IS NULL AND a.run_at <> 'infinity'
    AND EXISTS (SELECT 1 FROM flow_jobs f WHERE f.job_id = a.id);
END
$flow_outcomes$;
