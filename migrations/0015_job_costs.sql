-- sluice 0015: cost per job type. A worker host that knows what a drain cost (on Lambda: its billed duration
-- and memory) splits it over the job types by the run time of their attempts, and adds each share here, per
-- minute, queue and type (src/cost.ts). stats() reads the last hour of it as GB-seconds per 1,000 attempts.
-- Released migrations are never edited: add the next number instead.
--
-- One upsert a drain (not a job): many drains of a queue add to the same row of a minute, each holding its
-- lock for the statement only. compactActivity deletes minutes past its keep window, as it does the counts.
-- The previous code never reads or writes it.
CREATE TABLE job_costs (
  minute    timestamptz NOT NULL,
  queue     text        NOT NULL,
  type      text        NOT NULL,
  attempts  integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- The drain time attributed to the type's attempts, and that time multiplied by the host's memory in GB.
  billed_ms float8      NOT NULL DEFAULT 0 CHECK (billed_ms >= 0),
  gb_ms     float8      NOT NULL DEFAULT 0 CHECK (gb_ms >= 0),
  PRIMARY KEY (minute, queue, type)
);
