-- sluice 0004: listing and searching jobs (sluice.listJobs and jobPage, GET /v1/jobs, sluice jobs list) and
-- the bulk actions by filter. Pages are keyset-paginated newest first (id descending), so a filter is fast
-- when its jobs can be walked in id order without reading the others; src/sql/jobFilter.ts picks the
-- driving table per filter. Measured on 1M records (npm run bench, "list a filtered page"; docs/performance.md):
--
-- * live states (available, scheduled, running) are read from active_jobs by its primary key: it holds
--   only live work, however long the history. No index needed.
-- * dead: the jobs_dead index (queue, type, id) WHERE state = 'dead' of 0001 serves a queue (and type)
--   filter; without one, the primary key walked backwards finds dead letters among the newest records, or
--   the planner reads the whole (small) partial index and sorts it. No index needed.
-- * succeeded: a record with state NULL and no live row, read from the primary key backwards with an
--   anti-join on active_jobs (each probe one primary-key lookup). No index needed.
-- * an id range is a range of the primary key; an idempotency key reads jobs_idempotency_key (0001).
-- * created ranges are read from the primary key backwards (ids follow creation). An index on created_at
--   (btree, then BRIN) was measured and left out: for ORDER BY id DESC LIMIT n the planner walked the
--   primary key anyway (it cannot know that created_at follows id), so it would cost every enqueue for
--   nothing. The first page of a range far back walks to it (39 ms at 420,000 records back); the next
--   pages start at their cursor (under 1 ms).
-- * finished ranges read jobs.finished_at (TODO(job_events): the finish time of a first-try success is in
--   job_events, by its BRIN index on `at`, once 0003 is merged).

-- Cancelled jobs by queue and type, in id order, as jobs_dead holds dead letters. Free on the hot path:
-- only cancelled rows enter it (an enqueue writes state NULL, and a cancel already rewrites the row's
-- state, which jobs_dead's and jobs_prunable's predicates read, so it was never a HOT update).
CREATE INDEX jobs_cancelled ON jobs (queue, type, id) WHERE state = 'cancelled';

-- A queue's and a type's jobs in id order. Without them, a page of a small queue or a rare type walks the
-- primary key through every other record: 61-81 ms at 1M records for a type holding 0.003-0.01% of them,
-- against under 1 ms with the index. Each costs every enqueue one btree entry (at the right edge of its
-- queue's or type's range, since ids grow): measured alternately, one-by-one enqueue (16 in flight) did
-- not move beyond the noise, batches of 1,000 lost 0-19%, and WAL per job grew by about a quarter
-- (docs/performance.md). Kept: listing by queue and type is what the console, the API and the CLI ask for
-- most, and a rare queue's page would otherwise read the whole table.
CREATE INDEX jobs_queue_id ON jobs (queue, id);
CREATE INDEX jobs_type_id ON jobs (type, id);
