/**
 * Jobs written straight into a schema in a given state, with the rows the real code leaves for that state
 * (migrations/0001_init.sql; src/sql/enqueue.ts, claim.ts, outcomes.ts, cancel.ts), so that a test that only
 * needs, say, a dead letter does not have to enqueue and drain one into being:
 *
 * | state     | jobs record                                                   | active_jobs row                   |
 * |-----------|---------------------------------------------------------------|-----------------------------------|
 * | ready     | state NULL, attempts = attempt                                | due now, no lease                 |
 * | scheduled | state NULL, attempts = attempt                                | due in an hour, no lease          |
 * | running   | state NULL, attempts = attempt - 1 (the last outcome's)       | leased for leaseMs, a lease token |
 * | succeeded | untouched after a first-try success (attempts 0, no finish);  | none                              |
 * |           | else attempts = attempt, finished_at now()                    |                                   |
 * | dead      | state 'dead', attempts = attempt, finished_at now()           | none                              |
 * | cancelled | state 'cancelled', attempts = attempt, finished_at now()      | none                              |
 *
 * `errors` are the failed attempts' errors, oldest first, numbered back from the last failed attempt (the
 * attempt itself when dead, cancelled or ready again after a retry; the one before it when running or
 * succeeded), each stamped with the database clock as an outcome stamps it.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { JobDefinition } from '../../src/define.js';

export type InsertedState = 'ready' | 'scheduled' | 'running' | 'succeeded' | 'dead' | 'cancelled';

/** An error as an outcome stores it (errorFields in src/logger.ts), before `attempt` and `at` are added. */
export interface StoredError {
  name: string;
  code?: string;
  message: string;
}

export interface JobInit {
  state: InsertedState;
  /** A job type whose type, queue, priority and maxAttempts are the defaults of those below. */
  job?: Pick<JobDefinition, 'type' | 'queue' | 'priority' | 'maxAttempts'>;
  /** Default 'test_job'. */
  type?: string;
  /** Default 'default'. */
  queue?: string;
  /** Default {}. */
  payload?: unknown;
  /** Default 0. */
  priority?: number;
  /** Default 3, or `attempt` when that is more. */
  maxAttempts?: number;
  /** Attempts started. Default 1 when running, succeeded or dead; 0 when ready, scheduled or cancelled. */
  attempt?: number;
  /** Default: none, but one PermanentJobError ('refused') for a dead job. */
  errors?: StoredError[];
  idempotencyKey?: string;
  /** When it is (or was) due. Default now; an hour from now when scheduled. */
  runAt?: Date;
  /** Results of completed ctx.step() calls, by name, in the order they completed. */
  steps?: Record<string, unknown>;
  /** How long the lease of a running job still runs. Default 60 s. */
  leaseMs?: number;
}

export const REFUSED: StoredError = { name: 'PermanentJobError', code: 'PERMANENT', message: 'refused' };

const LIVE: readonly InsertedState[] = ['ready', 'scheduled', 'running'];

/** Insert one job in the given state; returns its id. */
export async function insertJob(db: pg.Pool | pg.ClientBase, schema: string, init: JobInit): Promise<string> {
  const { state, job } = init;
  const attempt = init.attempt ?? (state === 'running' || state === 'succeeded' || state === 'dead' ? 1 : 0);
  const maxAttempts = init.maxAttempts ?? job?.maxAttempts ?? Math.max(3, attempt);
  const errors = init.errors ?? (state === 'dead' ? [REFUSED] : []);
  const lastFailed = state === 'running' || state === 'succeeded' ? attempt - 1 : attempt;
  if (attempt > maxAttempts || errors.length > lastFailed || (state === 'running' && attempt < 1))
    throw new Error(`insertJob: ${errors.length} errors, attempt ${attempt} of ${maxAttempts} cannot be a ${state} job`);
  const firstTrySuccess = state === 'succeeded' && attempt <= 1;
  const recordAttempts = state === 'running' ? attempt - 1 : firstTrySuccess ? 0 : attempt;
  const finished = state === 'dead' || state === 'cancelled' || (state === 'succeeded' && !firstTrySuccess);
  const s = `"${schema}"`;
  const res = await db.query<{ id: string }>(
    `WITH ins AS (
       INSERT INTO ${s}.jobs (type, queue, priority, max_attempts, run_at, idempotency_key, state, attempts, finished_at, errors, payload)
       VALUES ($1, $2, $3::smallint, $4::int, COALESCE($5::timestamptz, now() + make_interval(secs => $6::float8)), $7, $8, $9::int,
               CASE WHEN $10::boolean THEN now() END,
               (SELECT jsonb_agg(e.value || jsonb_build_object('at', now()) ORDER BY e.i)
                  FROM jsonb_array_elements($11::jsonb) WITH ORDINALITY AS e(value, i)),
               $12::jsonb)
       RETURNING id, queue, priority, run_at
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at, attempt, lease_expires_at, lease_token)
       SELECT id, queue, priority, run_at, $13::int, now() + make_interval(secs => $14::float8), $15::uuid FROM ins WHERE $16::boolean
     ),
     steps AS (
       INSERT INTO ${s}.job_steps (job_id, name, seq, result)
       SELECT ins.id, st.name, st.seq, st.result FROM ins CROSS JOIN jsonb_to_recordset($17::jsonb) AS st(name text, seq int, result jsonb)
     ),
     ended AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, started_at, detail)
       SELECT id, $13::int, $18::text, CASE WHEN $18::text <> 'cancelled' THEN now() END, CASE WHEN $18::text = 'dead' THEN $19::jsonb END
       FROM ins WHERE $18::text IS NOT NULL
     )
     SELECT id::text AS id FROM ins`,
    [
      init.type ?? job?.type ?? 'test_job',
      init.queue ?? job?.queue ?? 'default',
      init.priority ?? job?.priority ?? 0,
      maxAttempts,
      init.runAt ?? null,
      state === 'scheduled' ? 3_600 : 0,
      init.idempotencyKey ?? null,
      state === 'dead' || state === 'cancelled' ? state : null,
      recordAttempts,
      finished,
      JSON.stringify(errors.map((e, i) => ({ ...e, attempt: lastFailed - errors.length + 1 + i }))),
      JSON.stringify(init.payload ?? {}),
      attempt,
      state === 'running' ? (init.leaseMs ?? 60_000) / 1000 : null,
      state === 'running' ? randomUUID() : null,
      LIVE.includes(state),
      JSON.stringify(Object.entries(init.steps ?? {}).map(([name, v], i) => ({ name, seq: i + 1, result: { v } }))),
      LIVE.includes(state) ? null : state, // the timeline's last event, as the outcome statement writes it
      JSON.stringify(errors.at(-1) ?? null),
    ],
  );
  return res.rows[0]?.id as string;
}

/** Insert jobs one after the other (so their ids are in input order); returns the ids. */
export async function insertJobs(db: pg.Pool | pg.ClientBase, schema: string, inits: readonly JobInit[]): Promise<string[]> {
  const ids: string[] = [];
  for (const init of inits) ids.push(await insertJob(db, schema, init));
  return ids;
}
