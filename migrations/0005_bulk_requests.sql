-- sluice 0005: idempotent bulk actions (cancel, redrive and purge by filter).
-- One row per Idempotency-Key a client sent with a bulk request: the hash of that request, every id acted
-- on so far and whether the action has finished. Each bounded statement of the action (at most 1,000 rows)
-- appends its ids here in the same SQL statement that changes the jobs (a data-modifying CTE), so the stored
-- answer commits with the change: a client whose answer was lost gets it again (finished), or the work
-- resumes and answers the union (interrupted). No transaction spans two statements and nothing is kept in
-- the session, so this works through RDS Proxy. Rows expire (expires_at) and prune deletes them.
CREATE TABLE bulk_requests (
  key          text        PRIMARY KEY,
  -- sha256 of the action and its canonical filter: the same key with another request is refused.
  request_hash text        NOT NULL,
  action       text        NOT NULL CHECK (action IN ('cancel', 'redrive', 'purge')),
  -- Every job acted on so far; for a cancel, `cancelling` holds those that were running (flagged to stop).
  ids          bigint[]    NOT NULL DEFAULT '{}',
  cancelling   bigint[]    NOT NULL DEFAULT '{}',
  finished     boolean     NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);

-- What prune walks: expired keys, oldest first.
CREATE INDEX bulk_requests_expiry ON bulk_requests (expires_at);
