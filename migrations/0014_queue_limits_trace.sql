-- sluice 0014: queue limits and trace context. Released migrations are never edited: add the next number
-- instead.
--
-- 1. Queue limits. A queue declared with defineQueue({ name, limits: { concurrency, rate } }) bounds the
--    jobs of every type on it, running at once and started a period, in total, on top of each type's and
--    key's own limits; and RateLimitedError({ scope: 'queue' }) cools the whole queue down
--    (docs/flow-control.md, "Queue limits"). Nothing new is stored for it: every type on a limited queue is
--    limited (its jobs are parked in flow_jobs, under key '' when the type has no key), the queue's limits
--    come with the claim (p_limits' entry of type '', never a job type's name), and its cooldown and bucket
--    are flow_state's row of type '' and key ''.
-- 2. Trace context. A job keeps the trace context of the request that enqueued it (a W3C traceparent: the
--    trace, the span the job hangs under, and the sampled flag; an X-Ray header is stored in this spelling
--    too), and each claim returns it, so every attempt continues that trace (docs/tracing.md). NULL for a
--    job enqueued without one, which costs it nothing: the record already has a null bitmap. Retries and
--    redrives keep it: it lives on the record.
--
-- The claim functions return one more column (the trace), so they are dropped and created again, in this
-- migration's transaction: a claim of the previous code that waits for it then calls the new function, and
-- ignores the column it does not know (and sends no queue limits: its claims still honour a queue cooldown
-- that newer workers wrote). enqueue_replacing takes the trace as a ninth argument with a default, so the
-- previous code's eight-argument call keeps working (its replaced jobs lose their trace).

-- The column, then its check NOT VALID: a check added with the column would scan every record under this
-- migration's ACCESS EXCLUSIVE lock (as 0006 explains), and every existing record's trace is NULL anyway.
-- New and updated records are checked; 0016 validates the old ones outside a transaction.
ALTER TABLE jobs ADD COLUMN trace text;
ALTER TABLE jobs ADD CONSTRAINT jobs_trace_format CHECK (trace ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$') NOT VALID;

-- 0009's claim_jobs, returning the trace.
DROP FUNCTION claim_jobs(text, integer, float8, uuid);
CREATE FUNCTION claim_jobs(p_queue text, p_limit integer, p_lease_seconds float8, p_token uuid)
RETURNS TABLE (id text, type text, queue text, priority smallint, attempt integer, max_attempts integer,
               cancel_requested boolean, created_at timestamptz, run_at timestamptz, payload jsonb, trace text)
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
     ),
     upd AS (
       UPDATE active_jobs a
       SET attempt = a.attempt + 1,
           lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           lease_token = p_token,
           started_at = now()
       WHERE a.ctid = ANY (ARRAY(SELECT picked.ctid FROM picked))
       RETURNING a.id, a.priority, a.attempt, a.cancel_requested, a.run_at
     )
     SELECT upd.id::text AS id, j.type, j.queue, upd.priority, upd.attempt, j.max_attempts, upd.cancel_requested,
               j.created_at, upd.run_at, j.payload, j.trace
     FROM upd CROSS JOIN LATERAL (
       SELECT j.type, j.queue, j.max_attempts, j.created_at, j.payload, j.trace FROM jobs j WHERE j.id = upd.id LIMIT 1
     ) j;
END
$claim$;

-- 0013's claim_flow_jobs, with the queue's own limits and cooldown, returning the trace.
DROP FUNCTION claim_flow_jobs(text, integer, float8, uuid, jsonb);
CREATE FUNCTION claim_flow_jobs(p_queue text, p_limit integer, p_lease_seconds float8, p_token uuid, p_limits jsonb)
RETURNS TABLE (id text, type text, queue text, priority smallint, attempt integer, max_attempts integer,
               cancel_requested boolean, created_at timestamptz, run_at timestamptz, payload jsonb, flow_key text, trace text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $flow$
#variable_conflict use_column
DECLARE
  v_cur_type text;
  v_cur_key text;
  v_now timestamptz;
  v_limit integer := p_limit;
  v_q_total integer;
  v_q_rate float8;
  v_q_burst float8;
  v_q_tokens float8;
  v_q_next timestamptz;
  v_q_cool timestamptz;
  v_st_tokens float8;
  v_st_at timestamptz;
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
  -- Lapsed leases are judged by the clock after the lock (now() is the transaction's start).
  v_now := clock_timestamp();

  -- A started job whose lease lapsed (its worker died) gives its slot back and waits again, at its old
  -- due time, so it comes before the jobs of its key enqueued after it; its lost attempt is noted when it
  -- is claimed. Only rows past the lease the claim gave are checked against their live rows: one a heartbeat
  -- extended stays started, its time brought up to date. A heartbeat cannot revive a parked job's lapsed
  -- lease (src/sql/heartbeat.ts), so a slot given back stays given back.
  UPDATE flow_jobs f SET started = COALESCE(a.lease_expires_at > v_now, false), lease_until = a.lease_expires_at
  FROM active_jobs a
  WHERE f.queue = p_queue AND f.started AND f.lease_until <= v_now AND a.id = f.job_id;
  -- A flow row whose live row is gone holds no slot (every path that ends a job deletes both; this is a net).
  DELETE FROM flow_jobs f
  WHERE f.queue = p_queue AND f.started AND f.lease_until <= v_now AND NOT EXISTS (SELECT 1 FROM active_jobs a WHERE a.id = f.job_id);

  -- The queue's own limits (the entry of type ''; every type on such a queue is limited, so all its jobs
  -- are here) and its cooldown cap the batch: a queue with no room claims nothing, and when due jobs wait,
  -- says from when its cooldown or its bucket lets one start. Its bucket is read at v_now, spent below.
  SELECT l.total, l.rate, l.burst INTO v_q_total, v_q_rate, v_q_burst
  FROM jsonb_to_recordset(p_limits) AS l(type text, total integer, rate float8, burst float8) WHERE l.type = '';
  SELECT st.cool_until, st.tokens, st.tokens_at INTO v_q_cool, v_st_tokens, v_st_at
  FROM flow_state st WHERE st.queue = p_queue AND st.type = '' AND st.key = '';
  IF v_q_cool > v_now THEN
    v_limit := 0;
    v_q_next := v_q_cool;
  END IF;
  IF v_q_total IS NOT NULL THEN
    v_limit := LEAST(v_limit, GREATEST(0, v_q_total - (SELECT count(*)::int FROM flow_jobs f WHERE f.queue = p_queue AND f.started)));
  END IF;
  IF v_q_rate IS NOT NULL THEN
    v_q_tokens := LEAST(v_q_burst, COALESCE(v_st_tokens + extract(epoch FROM v_now - v_st_at)::float8 * v_q_rate, v_q_burst));
    v_limit := LEAST(v_limit, GREATEST(0, floor(v_q_tokens)::int));
    IF v_q_tokens < 1 THEN
      v_q_next := GREATEST(v_q_next, v_now + make_interval(secs => (1 - v_q_tokens) / v_q_rate));
    END IF;
  END IF;

  RETURN QUERY
  -- The clock of the claim proper, read once while the statement runs, so after its snapshot: a start is
  -- then later than the end of every outcome the statement sees committed (now() is the transaction's
  -- start, and may precede even the claim this one waited for).
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t),
       lim AS (
         SELECT l.type, l.total, l."perKey" AS per_key, l.rate, l.burst, l."keyRate" AS key_rate, l."keyBurst" AS key_burst
         FROM jsonb_to_recordset(p_limits)
           AS l(type text, total integer, "perKey" integer, rate float8, burst float8, "keyRate" float8, "keyBurst" float8)
         WHERE l.type <> ''
       ),
       state AS (
         SELECT st.type, st.key, st.cool_until, st.tokens, st.tokens_at FROM flow_state st WHERE st.queue = p_queue
       ),
       running AS (
         SELECT f.type, f.key, count(*)::int AS n FROM flow_jobs f WHERE f.queue = p_queue AND f.started GROUP BY f.type, f.key
       ),
       -- A type's room: its total concurrency left, the whole tokens in its bucket (refilled at its rate since
       -- it was last spent, at most its burst), none while it cools down.
       types AS (
         SELECT l.type, l.rate,
                l.total - (SELECT COALESCE(sum(r.n), 0)::int FROM running r WHERE r.type = l.type) AS conc_room,
                CASE WHEN l.rate IS NOT NULL
                     THEN LEAST(l.burst, COALESCE(st.tokens + extract(epoch FROM (SELECT clock.t FROM clock) - st.tokens_at)::float8 * l.rate, l.burst)) END AS tokens
         FROM lim l LEFT JOIN state st ON st.type = l.type AND st.key = ''
       ),
       type_room AS (
         SELECT t.type, t.rate, t.tokens,
                GREATEST(0, LEAST(COALESCE(t.conc_room, v_limit), COALESCE(floor(t.tokens)::int, v_limit))) AS room
         FROM types t
       ),
       keys AS (
         SELECT k.type, k.key, kt.tokens AS key_tokens, l.key_rate, t.tokens AS type_tokens, t.rate AS type_rate,
                GREATEST(ks.cool_until, ts.cool_until) AS cool_until,
                CASE WHEN ks.cool_until > (SELECT clock.t FROM clock) OR ts.cool_until > (SELECT clock.t FROM clock) THEN 0
                     ELSE GREATEST(0, LEAST(v_limit, COALESCE(l.per_key - COALESCE(r.n, 0), v_limit), COALESCE(t.room, v_limit),
                                            COALESCE(floor(kt.tokens)::int, v_limit))) END AS room,
                (v_cur_type IS NULL OR (k.type, k.key) > (v_cur_type, v_cur_key)) AS after_cursor
         FROM flow_keys k
         LEFT JOIN lim l ON l.type = k.type
         LEFT JOIN running r ON r.type = k.type AND r.key = k.key
         LEFT JOIN type_room t ON t.type = k.type
         LEFT JOIN state ks ON ks.type = k.type AND ks.key = k.key
         LEFT JOIN state ts ON ts.type = k.type AND ts.key = ''
         CROSS JOIN LATERAL (
           SELECT CASE WHEN l.key_rate IS NOT NULL
                       THEN LEAST(l.key_burst, COALESCE(ks.tokens + extract(epoch FROM (SELECT clock.t FROM clock) - ks.tokens_at)::float8 * l.key_rate, l.key_burst)) END AS tokens
         ) kt
         WHERE k.queue = p_queue
       ),
       -- Each key with room offers its due jobs, in priority and due order, up to its even share of the
       -- batch: a key with fewer leaves the batch short, and the next claim comes sooner.
       share AS (
         SELECT GREATEST(1, ceil(v_limit::float8 / GREATEST(1, count(*))))::int AS n FROM keys WHERE room > 0
       ),
       -- At least as many keys with room as the batch (a share of one each), and no type capping its keys
       -- below the batch: then the batch is simply the next keys in turn, each with its first due job, and
       -- the keys are probed in that order only until the batch is full.
       mode AS (
         SELECT (SELECT share.n FROM share) = 1 AND NOT EXISTS (SELECT 1 FROM type_room t WHERE t.room < v_limit) AS in_turn
       ),
       next_keys AS (
         SELECT k.type, k.key, k.after_cursor, c.job_id, 1::bigint AS turn
         FROM (SELECT * FROM keys WHERE keys.room > 0 ORDER BY keys.after_cursor DESC, keys.type, keys.key) k
         CROSS JOIN LATERAL (
           SELECT f.job_id FROM flow_jobs f
           WHERE f.queue = p_queue AND f.type = k.type AND f.key = k.key AND NOT f.started AND f.run_at <= (SELECT clock.t FROM clock)
           ORDER BY f.priority, f.run_at, f.job_id
           LIMIT 1
         ) c
         WHERE (SELECT mode.in_turn FROM mode)
         LIMIT v_limit
       ),
       offered AS (
         SELECT keys.type, keys.key, keys.after_cursor, c.job_id, c.turn
         FROM keys CROSS JOIN LATERAL (
           SELECT w.job_id, row_number() OVER () AS turn FROM (
             SELECT f.job_id FROM flow_jobs f
             WHERE f.queue = p_queue AND f.type = keys.type AND f.key = keys.key AND NOT f.started AND f.run_at <= (SELECT clock.t FROM clock)
             ORDER BY f.priority, f.run_at, f.job_id
             LIMIT LEAST(keys.room, (SELECT share.n FROM share))
           ) w
         ) c
         WHERE keys.room > 0 AND NOT (SELECT mode.in_turn FROM mode)
       ),
       -- Round robin: every key's first job, then every key's second, and so on, starting after the key the
       -- last claim ended with; a type with a total limit or a rate gets only as many as it has room for.
       in_type AS (
         SELECT o.*, row_number() OVER (PARTITION BY o.type ORDER BY o.turn, o.after_cursor DESC, o.key) AS nth
         FROM offered o
       ),
       chosen AS (
         SELECT n.job_id, n.type, n.key, n.turn, n.after_cursor FROM next_keys n
         UNION ALL
         (SELECT i.job_id, i.type, i.key, i.turn, i.after_cursor FROM in_type i LEFT JOIN type_room t ON t.type = i.type
          WHERE t.room IS NULL OR i.nth <= t.room
          ORDER BY i.turn, i.after_cursor DESC, i.type, i.key
          LIMIT v_limit)
       ),
       -- No row lock first: flow claims of the queue take turns, and the update itself waits for a cancel
       -- that holds a row (then skips it, deleted). `before` reads the lapsed leases the claim takes over.
       before AS (
         SELECT a.id, a.lease_token, a.attempt, a.started_at, a.lease_expires_at FROM active_jobs a
         WHERE a.id = ANY (ARRAY(SELECT chosen.job_id FROM chosen)) AND a.lease_token IS NOT NULL
       ),
       upd AS (
         UPDATE active_jobs a
         SET attempt = a.attempt + 1,
             lease_expires_at = (SELECT clock.t FROM clock) + make_interval(secs => p_lease_seconds),
             lease_token = p_token,
             started_at = (SELECT clock.t FROM clock)
         WHERE a.id = ANY (ARRAY(SELECT chosen.job_id FROM chosen)) AND (a.lease_token IS NULL OR a.lease_expires_at <= (SELECT clock.t FROM clock))
         RETURNING a.id, a.priority, a.attempt, a.cancel_requested
       ),
       lost AS (
         INSERT INTO job_events (job_id, attempt, kind, started_at, at)
         SELECT b.id, b.attempt, 'lost', b.started_at, b.lease_expires_at FROM before b JOIN upd ON upd.id = b.id
       ),
       marked AS (
         UPDATE flow_jobs f SET started = true, lease_until = (SELECT clock.t FROM clock) + make_interval(secs => p_lease_seconds)
         FROM upd WHERE f.job_id = upd.id
       ),
       spent AS (
         SELECT c.type, c.key, count(*)::int AS n FROM chosen c JOIN upd ON upd.id = c.job_id GROUP BY c.type, c.key
       ),
       -- The buckets the started jobs drew on, spent (a bucket never seen is full: it starts at its burst).
       key_spend AS (
         INSERT INTO flow_state AS st (queue, type, key, tokens, tokens_at)
         SELECT p_queue, s.type, s.key, k.key_tokens - s.n, (SELECT clock.t FROM clock) FROM spent s JOIN keys k ON k.type = s.type AND k.key = s.key
         WHERE k.key_tokens IS NOT NULL AND s.key <> ''
         ON CONFLICT (queue, type, key) DO UPDATE SET tokens = excluded.tokens, tokens_at = excluded.tokens_at
       ),
       type_spend AS (
         INSERT INTO flow_state AS st (queue, type, key, tokens, tokens_at)
         SELECT p_queue, t.type, '', t.tokens - sum(s.n), (SELECT clock.t FROM clock) FROM spent s JOIN type_room t ON t.type = s.type
         WHERE t.tokens IS NOT NULL GROUP BY t.type, t.tokens
         ON CONFLICT (queue, type, key) DO UPDATE SET tokens = excluded.tokens, tokens_at = excluded.tokens_at
       ),
       -- The queue's own bucket, spent by the jobs started at the claim's clock (refilled since v_now, when it
       -- was read: starts and their spending share one time, as the rate's bound is read from the starts).
       queue_spend AS (
         INSERT INTO flow_state AS st (queue, type, key, tokens, tokens_at)
         SELECT p_queue, '', '', LEAST(v_q_burst, v_q_tokens + extract(epoch FROM (SELECT clock.t FROM clock) - v_now)::float8 * v_q_rate) - count(*),
                (SELECT clock.t FROM clock)
         FROM upd HAVING count(*) > 0 AND v_q_tokens IS NOT NULL
         ON CONFLICT (queue, type, key) DO UPDATE SET tokens = excluded.tokens, tokens_at = excluded.tokens_at
       ),
       cursor_moved AS (
         UPDATE flow_queues q SET cursor_type = last.type, cursor_key = last.key
         FROM (SELECT chosen.type, chosen.key FROM chosen WHERE chosen.turn = 1
               ORDER BY chosen.after_cursor, chosen.type DESC, chosen.key DESC LIMIT 1) last
         WHERE q.queue = p_queue
       ),
       -- Only when nothing was claimed: do due jobs wait behind full limits, and from when could one start?
       -- The earliest end of a cooldown or of an empty bucket among the keys held, or the queue's when later
       -- (NULL when only concurrency holds them: a slot frees when a running job ends).
       held AS (
         SELECT count(*) AS n,
                GREATEST(v_q_next, min(GREATEST(
                  CASE WHEN k.cool_until > (SELECT clock.t FROM clock) THEN k.cool_until END,
                  CASE WHEN k.key_tokens < 1 THEN (SELECT clock.t FROM clock) + make_interval(secs => (1 - k.key_tokens) / k.key_rate) END,
                  CASE WHEN k.type_tokens < 1 THEN (SELECT clock.t FROM clock) + make_interval(secs => (1 - k.type_tokens) / k.type_rate) END
                ))) AS next_at
         FROM keys k CROSS JOIN LATERAL (
           SELECT f.run_at FROM flow_jobs f
           WHERE f.queue = p_queue AND f.type = k.type AND f.key = k.key AND NOT f.started
           ORDER BY f.priority, f.run_at, f.job_id LIMIT 1
         ) w
         WHERE NOT EXISTS (SELECT 1 FROM upd) AND w.run_at <= (SELECT clock.t FROM clock)
       )
  SELECT upd.id::text AS id, j.type, j.queue, upd.priority, upd.attempt, j.max_attempts, upd.cancel_requested,
         j.created_at, j.run_at, j.payload, c.key AS flow_key, j.trace
  FROM upd
  JOIN chosen c ON c.job_id = upd.id
  CROSS JOIN LATERAL (
    SELECT j.type, j.queue, j.max_attempts, j.created_at, j.run_at, j.payload, j.trace FROM jobs j WHERE j.id = upd.id LIMIT 1
  ) j
  UNION ALL
  SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT clock.t FROM clock), held.next_at, NULL, NULL, NULL FROM held WHERE held.n > 0;
END
$flow$;

-- 0012's enqueue_replacing, storing the trace (and replacing it with the payload).
DROP FUNCTION enqueue_replacing(text, text, smallint, integer, timestamptz, float8, text, jsonb);
CREATE FUNCTION enqueue_replacing(p_type text, p_queue text, p_priority smallint, p_max_attempts integer,
                                  p_run_at timestamptz, p_delay_s float8, p_key text, p_payload jsonb,
                                  p_trace text DEFAULT NULL)
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
        UPDATE jobs j SET payload = p_payload, run_at = v_due, priority = p_priority, max_attempts = p_max_attempts, trace = p_trace
        WHERE j.id = v_id RETURNING j.created_at INTO v_created;
        RETURN QUERY SELECT v_id::text, v_created, v_due, v_due > now(), true, false;
        RETURN;
      END IF;
      EXIT; -- its job started or finished: a new job, and the key moves to it
    END IF;
    -- The key was deleted between the two statements (prune): try again.
  END LOOP;
  INSERT INTO jobs (type, queue, priority, max_attempts, run_at, payload, trace)
  VALUES (p_type, p_queue, p_priority, p_max_attempts, v_due, p_payload, p_trace)
  RETURNING jobs.id, jobs.created_at INTO v_id, v_created;
  INSERT INTO active_jobs (id, queue, priority, run_at) VALUES (v_id, p_queue, p_priority, v_due);
  UPDATE replace_keys SET job_id = v_id WHERE key = p_key;
  RETURN QUERY SELECT v_id::text, v_created, v_due, v_due > now(), false, false;
END
$replace$;
