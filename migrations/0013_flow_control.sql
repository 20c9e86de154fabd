-- sluice 0013: flow control. Concurrency and rate limits per job type and per key (a function of the
-- payload), and cooldowns after a 429, enforced at claim time across every worker, with the claims
-- rotating across keys that have due work.
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
-- lease, and it counts against its limits until its outcome is written or its lease lapses.
CREATE TABLE flow_jobs (
  job_id   bigint      PRIMARY KEY,
  queue    text        NOT NULL,
  type     text        NOT NULL,
  key      text        NOT NULL,
  priority smallint    NOT NULL,
  run_at   timestamptz NOT NULL,
  started  boolean     NOT NULL DEFAULT false,
  -- When the lease the claim gave ends, as far as the claim knows: heartbeats extend the live row only, so
  -- a started row past this time is checked against its live row (and given back only if that lapsed too).
  lease_until timestamptz
);
CREATE INDEX flow_jobs_waiting ON flow_jobs (queue, type, key, priority, run_at, job_id) WHERE NOT started;
CREATE INDEX flow_jobs_started ON flow_jobs (queue, lease_until) WHERE started;

-- What a key (or, under key '', a whole type) carries between claims: its cooldown after a 429
-- (RateLimitedError), and its rate limit's token bucket (tokens left when last spent, and when). A row is
-- written only when a bucket is first spent or a cooldown begins; prune deletes rows gone idle.
CREATE TABLE flow_state (
  queue      text NOT NULL,
  type       text NOT NULL,
  key        text NOT NULL,
  cool_until timestamptz,
  tokens     float8,
  tokens_at  timestamptz,
  PRIMARY KEY (queue, type, key)
);

-- The claim of limited jobs: claim_jobs' result columns, and each job's key. p_limits is a JSON array of
-- {"type", "total", "perKey", "rate", "burst", "keyRate", "keyBurst"} (concurrency limits, and rates in
-- starts a second with their bursts; null for none); a type not listed has no limit, but its keys still
-- take turns and its cooldowns hold. When nothing can be claimed although due jobs wait (their limits are
-- full), one row comes back with a NULL id: created_at is the database's now, and run_at the earliest time
-- a cooldown or a rate lets one start (NULL when only concurrency holds them).
CREATE FUNCTION claim_flow_jobs(p_queue text, p_limit integer, p_lease_seconds float8, p_token uuid, p_limits jsonb)
RETURNS TABLE (id text, type text, queue text, priority smallint, attempt integer, max_attempts integer,
               cancel_requested boolean, created_at timestamptz, run_at timestamptz, payload jsonb, flow_key text)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $flow$
#variable_conflict use_column
DECLARE
  v_cur_type text;
  v_cur_key text;
  v_now timestamptz;
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

  RETURN QUERY
  -- The clock of the claim proper, read once while the statement runs, so after its snapshot: a start is
  -- then later than the end of every outcome the statement sees committed (now() is the transaction's
  -- start, and may precede even the claim this one waited for).
  WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t),
       lim AS (
         SELECT l.type, l.total, l."perKey" AS per_key, l.rate, l.burst, l."keyRate" AS key_rate, l."keyBurst" AS key_burst
         FROM jsonb_to_recordset(p_limits)
           AS l(type text, total integer, "perKey" integer, rate float8, burst float8, "keyRate" float8, "keyBurst" float8)
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
                GREATEST(0, LEAST(COALESCE(t.conc_room, p_limit), COALESCE(floor(t.tokens)::int, p_limit))) AS room
         FROM types t
       ),
       keys AS (
         SELECT k.type, k.key, kt.tokens AS key_tokens, l.key_rate, t.tokens AS type_tokens, t.rate AS type_rate,
                GREATEST(ks.cool_until, ts.cool_until) AS cool_until,
                CASE WHEN ks.cool_until > (SELECT clock.t FROM clock) OR ts.cool_until > (SELECT clock.t FROM clock) THEN 0
                     ELSE GREATEST(0, LEAST(p_limit, COALESCE(l.per_key - COALESCE(r.n, 0), p_limit), COALESCE(t.room, p_limit),
                                            COALESCE(floor(kt.tokens)::int, p_limit))) END AS room,
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
         SELECT GREATEST(1, ceil(p_limit::float8 / GREATEST(1, count(*))))::int AS n FROM keys WHERE room > 0
       ),
       -- At least as many keys with room as the batch (a share of one each), and no type capping its keys
       -- below the batch: then the batch is simply the next keys in turn, each with its first due job, and
       -- the keys are probed in that order only until the batch is full.
       mode AS (
         SELECT (SELECT share.n FROM share) = 1 AND NOT EXISTS (SELECT 1 FROM type_room t WHERE t.room < p_limit) AS in_turn
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
         LIMIT p_limit
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
          LIMIT p_limit)
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
       cursor_moved AS (
         UPDATE flow_queues q SET cursor_type = last.type, cursor_key = last.key
         FROM (SELECT chosen.type, chosen.key FROM chosen WHERE chosen.turn = 1
               ORDER BY chosen.after_cursor, chosen.type DESC, chosen.key DESC LIMIT 1) last
         WHERE q.queue = p_queue
       ),
       -- Only when nothing was claimed: do due jobs wait behind full limits, and from when could one start?
       -- The earliest end of a cooldown or of an empty bucket among the keys held (NULL when only concurrency
       -- holds them: a slot frees when a running job ends).
       held AS (
         SELECT count(*) AS n,
                min(GREATEST(
                  CASE WHEN k.cool_until > (SELECT clock.t FROM clock) THEN k.cool_until END,
                  CASE WHEN k.key_tokens < 1 THEN (SELECT clock.t FROM clock) + make_interval(secs => (1 - k.key_tokens) / k.key_rate) END,
                  CASE WHEN k.type_tokens < 1 THEN (SELECT clock.t FROM clock) + make_interval(secs => (1 - k.type_tokens) / k.type_rate) END
                )) AS next_at
         FROM keys k CROSS JOIN LATERAL (
           SELECT f.run_at FROM flow_jobs f
           WHERE f.queue = p_queue AND f.type = k.type AND f.key = k.key AND NOT f.started
           ORDER BY f.priority, f.run_at, f.job_id LIMIT 1
         ) w
         WHERE NOT EXISTS (SELECT 1 FROM upd) AND w.run_at <= (SELECT clock.t FROM clock)
       )
  SELECT upd.id::text AS id, j.type, j.queue, upd.priority, upd.attempt, j.max_attempts, upd.cancel_requested,
         j.created_at, j.run_at, j.payload, c.key AS flow_key
  FROM upd
  JOIN chosen c ON c.job_id = upd.id
  CROSS JOIN LATERAL (
    SELECT j.type, j.queue, j.max_attempts, j.created_at, j.run_at, j.payload FROM jobs j WHERE j.id = upd.id LIMIT 1
  ) j
  UNION ALL
  SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT clock.t FROM clock), held.next_at, NULL, NULL FROM held WHERE held.n > 0;
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
DECLARE
  v_applied bigint[];
BEGIN
  SELECT array_agg(r.id::bigint) INTO v_applied
  FROM record_outcomes(p_ids, p_tokens, p_kinds, p_delays, p_errors, p_types, p_max_errors, p_retention_seconds, p_history) r;
  IF v_applied IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT x::text FROM unnest(v_applied) AS x;
  -- Finished (where the outcome applied): the flow row goes with the live row.
  DELETE FROM flow_jobs f
  USING unnest(p_ids, p_kinds) AS o(id, kind), unnest(v_applied) AS ok(id)
  WHERE ok.id = o.id AND f.job_id = o.id AND o.kind IN ('success', 'dead', 'cancelled');
  -- Due again: the flow row waits at the new due time (a released job keeps its place: its live run_at was
  -- left at 'infinity'), and the live row is parked again.
  IF 'retry' = ANY (p_kinds) OR 'snooze' = ANY (p_kinds) OR 'release' = ANY (p_kinds) THEN
    WITH again AS (
           SELECT o.id FROM unnest(p_ids, p_kinds) AS o(id, kind) JOIN unnest(v_applied) AS ok(id) ON ok.id = o.id
           WHERE o.kind IN ('retry', 'snooze', 'release')
         ),
         moved AS (
           UPDATE flow_jobs f
           SET started = false, run_at = CASE WHEN a.run_at = 'infinity' THEN f.run_at ELSE a.run_at END
           FROM again JOIN active_jobs a ON a.id = again.id
           WHERE f.job_id = again.id
           RETURNING f.job_id
         )
    UPDATE active_jobs a SET run_at = 'infinity' FROM moved WHERE a.id = moved.job_id AND a.run_at <> 'infinity';
  END IF;
END
$flow_outcomes$;
