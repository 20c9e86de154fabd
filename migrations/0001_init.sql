-- sluice 0001: the job record, the live queue, durable steps.
-- Runs with search_path set to the target schema only, so every name below lands in that schema.
-- Released migrations are never edited: add 0002_… instead.

-- The record of every job, written once at enqueue. It is rewritten only on the rarer paths (a failed
-- attempt, dead letter, cancel, redrive), so a job that succeeds on its first attempt costs no write here
-- beyond its insert. state is NULL while the job is live or after it succeeded: a job whose record has
-- state NULL and no row in active_jobs has succeeded. 'dead' and 'cancelled' are terminal and explicit.
CREATE TABLE jobs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type            text        NOT NULL,
  queue           text        NOT NULL,
  priority        smallint    NOT NULL,
  max_attempts    integer     NOT NULL CHECK (max_attempts >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  run_at          timestamptz NOT NULL,
  idempotency_key text,
  state           text        CHECK (state IN ('dead', 'cancelled')),
  attempts        integer     NOT NULL DEFAULT 0,
  finished_at     timestamptz,
  errors          jsonb,
  payload         jsonb       NOT NULL
);

-- One live key at a time. A key whose window has passed is released (set NULL) by the next enqueue
-- that collides with it, or by prune.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Dead letters by queue and type, in id order for keyset pagination. Only dead rows are in it.
CREATE INDEX jobs_dead ON jobs (queue, type, id) WHERE state = 'dead';

-- What prune walks: records that may become prunable (never dead letters, which wait for redrive or purge).
CREATE INDEX jobs_prunable ON jobs (created_at) WHERE state IS DISTINCT FROM 'dead';

-- The live queue: one narrow row per job that is available, scheduled or running. Claiming, heartbeats
-- and releases change only unindexed columns, so they are HOT updates that stay on the page (hence the
-- fillfactor); success deletes the row. The table holds only live work, so history never slows it.
CREATE TABLE active_jobs (
  id               bigint      PRIMARY KEY,
  queue            text        NOT NULL,
  priority         smallint    NOT NULL,
  run_at           timestamptz NOT NULL,
  attempt          integer     NOT NULL DEFAULT 0,
  lease_expires_at timestamptz,
  lease_token      uuid,
  cancel_requested boolean     NOT NULL DEFAULT false
) WITH (fillfactor = 70);

-- The claim walks this per priority, in due order (see src/sql/claim.ts).
CREATE INDEX active_jobs_claim ON active_jobs (queue, priority, run_at);

-- Results of ctx.step(), so a retried job skips the steps it already completed. result holds {"v": <the
-- step's JSON value>}, so that null and undefined (no "v") stay apart.
CREATE TABLE job_steps (
  job_id     bigint      NOT NULL,
  name       text        NOT NULL,
  seq        integer     NOT NULL,
  result     jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, name)
);
