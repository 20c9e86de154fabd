-- sluice: no-transaction
-- sluice 0006: CHECK constraints for what the TypeScript already enforces (src/define.ts, src/enqueue.ts),
-- so a row written around the library (a hand-written INSERT, a script, a bug) is refused by the database.
-- Released migrations are never edited: add the next number instead.
--
-- Why NOT VALID, then VALIDATE, and why outside a transaction (the marker line above; docs/upgrading.md):
-- ADD CONSTRAINT takes an ACCESS EXCLUSIVE lock on the table (no reads, no writes) and, without NOT VALID,
-- holds it while it scans every row. With NOT VALID it only records the constraint, which new and updated
-- rows must satisfy from then on, and commits at once. VALIDATE CONSTRAINT then scans the existing rows
-- under a SHARE UPDATE EXCLUSIVE lock, which lets enqueues, claims and outcomes go on. In one transaction the
-- ADD's lock would be held until the commit, through the scan, and the split would gain nothing: so each
-- statement here commits on its own. Each is safe to run again (DROP CONSTRAINT IF EXISTS in the same
-- ALTER TABLE), since a failure part-way leaves the version unrecorded and the next run starts over.
--
-- Every write path of 0.2.0's code satisfies these (the same ranges and patterns since 0.1.0; its enqueue,
-- outcome, cancel, redrive, release-key and prune statements are the ones checked below), so it keeps
-- working on this schema.
--
-- Why there are no foreign keys (active_jobs.id, job_steps.job_id and job_events.job_id all name a jobs.id):
-- the live table and the timeline are written by the hot-path statements (enqueue, claim, outcome, and the
-- timeline rows of each). A foreign key would add a lookup of the parent record per inserted child row and
-- a FOR KEY SHARE lock on that record, coupling the narrow live and timeline rows to the wide record's locks:
-- a child insert would wait for a redrive, purge or prune holding the record FOR UPDATE, and those bulk
-- statements' SKIP LOCKED would pass over records a claim is writing a timeline row for. Instead, every
-- statement that deletes records deletes their children in the same statement (prune and purge:
-- src/sql/prune.ts, src/sql/deadLetters.ts, as data-modifying CTEs), so no orphan is left, and nothing
-- has to cascade.

-- jobs: the record.
-- - type: a job type's name (JOB_TYPE in src/define.ts: at most 128 characters).
-- - queue: QUEUE_NAME in src/define.ts (a lower-case letter, then up to 62 of a-z 0-9 _ -), written as a
--   length and an unbounded pattern. Measured on 1M rows (each expression in a WHERE, this machine,
--   PostgreSQL 18): QUEUE_NAME's own bounded repetition {0,62} costs about 1.1 us per row in PostgreSQL's
--   regex engine, this form 0.12 us; every other check of this file together 0.17 us. An enqueue checks
--   two rows (jobs, active_jobs), so about 0.4 us per job, against some 15 us for a job of a batched
--   enqueue (the {0,62} form would have added 2.5 us). COLLATE "C": ASCII ranges whatever the collation.
-- - priority: PRIORITY in src/define.ts.
-- - max_attempts: 1 to 1000 (defineJob and the enqueue options); 0001 checks only >= 1.
-- - attempts: never negative. No upper bound tied to max_attempts: when the lease of the last attempt
--   lapses, the claim takes the job once more (attempt max_attempts + 1) only to dead-letter it, and if that
--   worker dies too, again; the record then holds that count.
-- - idempotency_key: 1 to 255 characters (the enqueue options), or NULL (none, or released after its window).
-- - errors: the history of failed attempts, a JSON array, or NULL before the first failure.
-- - finished_at set exactly when a job is terminal, as far as one row can tell: dead and cancelled
--   records always have it (the outcome and cancel statements set it with the state). A record with state
--   NULL is live or succeeded (the live row in active_jobs tells them apart, which a CHECK cannot read): a
--   live job never has it (redrive sets it NULL with the state), and a success sets it only when it
--   rewrites the record (after a failure, or long after it was due; a first-try success leaves it NULL and
--   its finish is on the timeline). So with state NULL both are allowed, but a finish time means at
--   least one attempt ran.
ALTER TABLE jobs
  DROP CONSTRAINT IF EXISTS jobs_type_length,
  ADD CONSTRAINT jobs_type_length CHECK (char_length(type) BETWEEN 1 AND 128) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_queue_name,
  ADD CONSTRAINT jobs_queue_name CHECK (char_length(queue) <= 63 AND queue COLLATE "C" ~ '^[a-z][a-z0-9_-]*$') NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_priority_range,
  ADD CONSTRAINT jobs_priority_range CHECK (priority BETWEEN -100 AND 100) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_max_attempts_range,
  ADD CONSTRAINT jobs_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 1000) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_attempts_not_negative,
  ADD CONSTRAINT jobs_attempts_not_negative CHECK (attempts >= 0) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_idempotency_key_length,
  ADD CONSTRAINT jobs_idempotency_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 255) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_errors_array,
  ADD CONSTRAINT jobs_errors_array CHECK (jsonb_typeof(errors) = 'array') NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_terminal_finished,
  ADD CONSTRAINT jobs_terminal_finished CHECK (state IS NULL OR finished_at IS NOT NULL) NOT VALID,
  DROP CONSTRAINT IF EXISTS jobs_finished_attempted,
  ADD CONSTRAINT jobs_finished_attempted CHECK (state IS NOT NULL OR finished_at IS NULL OR attempts >= 1) NOT VALID;

-- active_jobs: the live row copies queue and priority from the record (enqueue, redrive); attempt is the
-- running or last attempt, which a snooze or release gives back but never below what the claim added.
ALTER TABLE active_jobs
  DROP CONSTRAINT IF EXISTS active_jobs_queue_name,
  ADD CONSTRAINT active_jobs_queue_name CHECK (char_length(queue) <= 63 AND queue COLLATE "C" ~ '^[a-z][a-z0-9_-]*$') NOT VALID,
  DROP CONSTRAINT IF EXISTS active_jobs_priority_range,
  ADD CONSTRAINT active_jobs_priority_range CHECK (priority BETWEEN -100 AND 100) NOT VALID,
  DROP CONSTRAINT IF EXISTS active_jobs_attempt_not_negative,
  ADD CONSTRAINT active_jobs_attempt_not_negative CHECK (attempt >= 0) NOT VALID;

-- paused_queues: pauseQueue takes a queue name (QUEUE_NAME).
ALTER TABLE paused_queues
  DROP CONSTRAINT IF EXISTS paused_queues_queue_name,
  ADD CONSTRAINT paused_queues_queue_name CHECK (char_length(queue) <= 63 AND queue COLLATE "C" ~ '^[a-z][a-z0-9_-]*$') NOT VALID;

-- The scans, each under SHARE UPDATE EXCLUSIVE (writes go on). A row that breaks a constraint fails the
-- migration here, naming the constraint; the constraints stay NOT VALID (still checked on every write)
-- until the row is fixed and migrate runs again.
ALTER TABLE jobs
  VALIDATE CONSTRAINT jobs_type_length,
  VALIDATE CONSTRAINT jobs_queue_name,
  VALIDATE CONSTRAINT jobs_priority_range,
  VALIDATE CONSTRAINT jobs_max_attempts_range,
  VALIDATE CONSTRAINT jobs_attempts_not_negative,
  VALIDATE CONSTRAINT jobs_idempotency_key_length,
  VALIDATE CONSTRAINT jobs_errors_array,
  VALIDATE CONSTRAINT jobs_terminal_finished,
  VALIDATE CONSTRAINT jobs_finished_attempted;
ALTER TABLE active_jobs
  VALIDATE CONSTRAINT active_jobs_queue_name,
  VALIDATE CONSTRAINT active_jobs_priority_range,
  VALIDATE CONSTRAINT active_jobs_attempt_not_negative;
ALTER TABLE paused_queues VALIDATE CONSTRAINT paused_queues_queue_name;
