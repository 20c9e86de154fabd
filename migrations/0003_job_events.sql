-- sluice 0003: a job's timeline, and per-minute counts for the console.
-- Released migrations are never edited: add 0004_… instead.

-- When the running attempt started, set by the claim. An unindexed column of the live row: the claim's
-- update stays HOT. The outcome statement reads it to write the attempt's start and duration.
ALTER TABLE active_jobs ADD COLUMN started_at timestamptz;

-- The timeline: one narrow row per finished attempt and per marker, appended, never updated.
-- - attempt outcomes: succeeded, failed (to be retried), dead, cancelled, snoozed (attempt given back),
--   written by the outcome statement itself (src/sql/outcomes.ts), in the same statement that deletes or
--   reschedules the live row, so the timeline can never disagree with the job's state; and lost (its
--   worker died: the claim that rescues the job notes it, ended when its lease did);
-- - markers: cancel_requested (a running job was asked to stop), cancelled (by an admin, not running),
--   redriven (dead → ready; detail holds the queues);
-- - step: a durable step of an earlier life, kept when a redrive clears the stored step results (a step
--   of the current life is read from job_steps itself).
-- This is how a job that succeeds on its first attempt gets a finish time and a duration without
-- rewriting its record (the record is wide: the payload; the event row is about 60 bytes).
-- Why this design (docs/performance.md has the figures): an append-only heap row and one b-tree entry
-- on a rising job id cost less WAL per job than rewriting the job record (a new version of the whole
-- row, plus an entry in every index of jobs when the update cannot stay HOT).
CREATE TABLE job_events (
  job_id     bigint      NOT NULL,
  attempt    integer     NOT NULL,
  kind       text        NOT NULL
             CHECK (kind IN ('succeeded', 'failed', 'dead', 'cancelled', 'snoozed', 'lost', 'cancel_requested', 'redriven', 'step')),
  started_at timestamptz,
  at         timestamptz NOT NULL DEFAULT now(),
  detail     jsonb
);

-- A job's timeline is read by its id; prune and purge delete by it.
CREATE INDEX job_events_job ON job_events (job_id);

-- Finished-in-a-time-range filters read events by time. Rows are appended in time order, so a BRIN
-- index (a few pages for millions of rows, next to nothing per insert) finds the range.
CREATE INDEX job_events_at ON job_events USING brin (at);

-- Per-minute counts of finished attempts, written by the same outcome statement (one upsert per
-- queue, type and duration bucket in the batch, not one per job), so the console's charts hold whatever
-- worker or Lambda did the work. Durations are counted in buckets 4 to an octave:
-- bucket b holds attempts of at most 2^(b/4) ms (bucket 0: up to 1 ms; the last, 79, everything longer
-- than about 14 minutes; -1: start unknown). Percentiles are read from the summed buckets.
-- shard spreads concurrent writers over several rows (the backend's pid modulo 16), so two drainers
-- finishing batches of one queue in the same minute seldom wait for each other's commit.
-- Maintenance deletes minutes older than the counts' retention.
CREATE TABLE job_counts (
  minute    timestamptz NOT NULL,
  queue     text        NOT NULL,
  type      text        NOT NULL,
  bucket    smallint    NOT NULL,
  shard     smallint    NOT NULL,
  succeeded integer     NOT NULL DEFAULT 0,
  failed    integer     NOT NULL DEFAULT 0,
  dead      integer     NOT NULL DEFAULT 0,
  cancelled integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, queue, type, bucket, shard)
) WITH (fillfactor = 50);
