-- sluice 0002: pausing a queue.
-- A row here means the queue is paused: its workers claim nothing (jobs already running finish), enqueue
-- still works, and the state survives restarts because it lives in the database. The claim reads this
-- table by its primary key, once per claim statement: an unpaused queue pays one index probe.
CREATE TABLE paused_queues (
  queue     text        PRIMARY KEY,
  paused_at timestamptz NOT NULL DEFAULT now()
);
