import { type Queryable, type SchemaName, type SqlFragment, sql } from '../db.js';

export interface EnqueueRow {
  type: string;
  queue: string;
  priority: number;
  maxAttempts: number;
  /** Absolute due time given by the caller, or null to use the database clock plus `delaySeconds`. */
  runAt: Date | null;
  delaySeconds: number;
  idempotencyKey: string | null;
  /** A replace key (src/sql/replace.ts inserts such a row; `insertJobs` never sees one). */
  replaceKey: string | null;
  /** A limited type's flow key ('' when limited only in total), null for a type without limits. */
  flowKey: string | null;
  /** The caller's trace context as a W3C traceparent, or null. */
  trace: string | null;
  /** The payload, already serialised to JSON text. */
  payloadJson: string;
}

export interface InsertedRow {
  id: string;
  idempotency_key: string | null;
  created_at: Date;
  run_at: Date;
  scheduled: boolean;
}

/**
 * Insert a batch of jobs in one round trip: the records and their live rows, in input order. Rows whose
 * idempotency key is already held are skipped (ON CONFLICT DO NOTHING, which waits for a concurrent
 * inserter of the same key to commit or roll back); the caller looks those up. Returned rows come back in
 * id order, which is input order.
 */
export async function insertJobs(db: Queryable, s: SchemaName, rows: readonly EnqueueRow[]): Promise<InsertedRow[]> {
  if (rows.some((r) => r.flowKey !== null)) return insertLimited(db, s, rows);
  if (rows.length === 1) return insertOne(db, s, rows[0] as EnqueueRow);
  const res = await db.query<InsertedRow>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::int[], $5::timestamptz[], $6::float8[], $7::text[], $8::jsonb[], $9::text[])
         WITH ORDINALITY AS i(type, queue, priority, max_attempts, run_at, delay_s, idempotency_key, payload, trace, ord)
     ),
     ins AS (
       INSERT INTO ${s}.jobs (type, queue, priority, max_attempts, run_at, idempotency_key, payload, trace)
       SELECT type, queue, priority, max_attempts, COALESCE(run_at, now() + make_interval(secs => delay_s)), idempotency_key, payload, trace
       FROM input ORDER BY ord
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id, queue, priority, run_at, idempotency_key, created_at
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at)
       SELECT id, queue, priority, run_at FROM ins
     )
     SELECT id::text AS id, idempotency_key, created_at, run_at, run_at > now() AS scheduled FROM ins ORDER BY ins.id`,
    batchColumns(rows),
  );
  return res.rows;
}

/** The columns of a batch, one array each, in the order the batch statements unnest them. */
function batchColumns(rows: readonly EnqueueRow[]): unknown[][] {
  return [
    rows.map((r) => r.type),
    rows.map((r) => r.queue),
    rows.map((r) => r.priority),
    rows.map((r) => r.maxAttempts),
    rows.map((r) => r.runAt),
    rows.map((r) => r.delaySeconds),
    rows.map((r) => r.idempotencyKey),
    rows.map((r) => r.payloadJson),
    rows.map((r) => r.trace),
  ];
}

/**
 * Release idempotency keys whose window has passed, so the next enqueue with that key creates a new job.
 * Returns the keys released.
 */
export async function releaseExpiredKeys(db: Queryable, s: SchemaName, keys: readonly string[], windowSeconds: number): Promise<string[]> {
  const res = await db.query<{ key: string }>(
    `WITH expired AS (
       SELECT id, idempotency_key FROM ${s}.jobs
       WHERE idempotency_key = ANY($1::text[]) AND created_at <= now() - make_interval(secs => $2)
       FOR UPDATE
     )
     UPDATE ${s}.jobs j SET idempotency_key = NULL
     FROM expired WHERE j.id = expired.id
     RETURNING expired.idempotency_key AS key`,
    [keys, windowSeconds],
  );
  return res.rows.map((r) => r.key);
}

/**
 * The one-job form of `insertJobs`: the same rows and result, without unnest and ordering, which cost a
 * one-by-one enqueue about a third of its throughput (2.7–3.4k against 3.5–4.7k jobs/s, measured
 * alternately on the bench machine; docs/performance.md).
 */
async function insertOne(db: Queryable, s: SchemaName, r: EnqueueRow): Promise<InsertedRow[]> {
  const res = await db.query<InsertedRow>(
    `WITH ins AS (
       INSERT INTO ${s}.jobs (type, queue, priority, max_attempts, run_at, idempotency_key, payload, trace)
       VALUES ($1, $2, $3::smallint, $4::int, COALESCE($5::timestamptz, now() + make_interval(secs => $6::float8)), $7, $8::jsonb, $9)
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id, queue, priority, run_at, idempotency_key, created_at
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at)
       SELECT id, queue, priority, run_at FROM ins
     )
     SELECT id::text AS id, idempotency_key, created_at, run_at, run_at > now() AS scheduled FROM ins`,
    [r.type, r.queue, r.priority, r.maxAttempts, r.runAt, r.delaySeconds, r.idempotencyKey, r.payloadJson, r.trace],
  );
  return res.rows;
}

/**
 * `insertJobs` for a batch holding jobs of limited types: the same rows and result. A limited job's live
 * row is parked (run_at 'infinity', out of the plain claim's reach) and its due time, priority and key go
 * to `flow_jobs`, with its key and queue noted for the flow claim (migrations/0013_flow_control.sql).
 */
async function insertLimited(db: Queryable, s: SchemaName, rows: readonly EnqueueRow[]): Promise<InsertedRow[]> {
  const res = await db.query<InsertedRow>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::int[], $5::timestamptz[], $6::float8[], $7::text[], $8::jsonb[], $9::text[], $10::text[])
         WITH ORDINALITY AS i(type, queue, priority, max_attempts, run_at, delay_s, idempotency_key, payload, trace, flow_key, ord)
     ),
     ins AS (
       INSERT INTO ${s}.jobs (type, queue, priority, max_attempts, run_at, idempotency_key, payload, trace, flow_key)
       SELECT type, queue, priority, max_attempts, COALESCE(run_at, now() + make_interval(secs => delay_s)), idempotency_key, payload, trace, flow_key
       FROM input ORDER BY ord
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id, type, queue, priority, run_at, idempotency_key, created_at, flow_key
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at)
       SELECT id, queue, priority, CASE WHEN flow_key IS NULL THEN run_at ELSE 'infinity' END FROM ins
     ),
     ${flowRows(s, 'ins')}
     SELECT id::text AS id, idempotency_key, created_at, run_at, run_at > now() AS scheduled FROM ins ORDER BY ins.id`,
    [...batchColumns(rows), rows.map((r) => r.flowKey)],
  );
  return res.rows;
}

/**
 * The CTEs that register the limited jobs of \`source\` (a CTE with id, type, queue, priority, run_at and
 * flow_key) with the flow claim: their flow rows, their keys and their queue (both kept if present).
 * Shared by the enqueue of limited jobs and the redrive of dead letters.
 */
export function flowRows(s: SchemaName, source: 'ins' | 'revived'): SqlFragment {
  const from = source === 'ins' ? sql`ins` : sql`revived`;
  return sql`flow AS (
       INSERT INTO ${s}.flow_jobs (job_id, queue, type, key, priority, run_at)
       SELECT id, queue, type, flow_key, priority, run_at FROM ${from} WHERE flow_key IS NOT NULL
     ),
     flow_key_rows AS (
       INSERT INTO ${s}.flow_keys (queue, type, key)
       SELECT DISTINCT queue, type, flow_key FROM ${from} WHERE flow_key IS NOT NULL
       ON CONFLICT DO NOTHING
     ),
     flow_queue_rows AS (
       INSERT INTO ${s}.flow_queues (queue)
       SELECT DISTINCT queue FROM ${from} WHERE flow_key IS NOT NULL
       ON CONFLICT DO NOTHING
     )`;
}
