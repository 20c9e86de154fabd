import type { Queryable, SchemaName } from '../db.js';
import type { JobRow } from '../job.js';
import { jobSelect } from './jobColumns.js';

/** Which dead letters an operation applies to: explicit ids, or a queue and/or type filter. */
export interface DeadLetterFilter {
  ids?: readonly string[] | undefined;
  queue?: string | undefined;
  type?: string | undefined;
}

const WHERE_DEAD = `j.state = 'dead'
  AND ($1::bigint[] IS NULL OR j.id = ANY($1::bigint[]))
  AND ($2::text IS NULL OR j.queue = $2)
  AND ($3::text IS NULL OR j.type = $3)`;

function filterParams(f: DeadLetterFilter): unknown[] {
  return [f.ids ?? null, f.queue ?? null, f.type ?? null];
}

/** How many dead letters match (what a redrive or a purge by this filter would change). */
export async function countDeadLetters(db: Queryable, s: SchemaName, f: DeadLetterFilter): Promise<number> {
  const res = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.jobs j WHERE ${WHERE_DEAD}`, filterParams(f));
  return res.rows[0]?.n ?? 0;
}

/** A page of dead letters in id order, after the id `after` (keyset pagination). */
export async function listDeadLetters(
  db: Queryable,
  s: SchemaName,
  f: DeadLetterFilter & { after?: string | undefined; limit: number },
): Promise<JobRow[]> {
  const res = await db.query<JobRow>(
    `${jobSelect(s)} WHERE ${WHERE_DEAD} AND ($4::bigint IS NULL OR j.id > $4::bigint) ORDER BY j.id LIMIT $5`,
    [...filterParams(f), f.after ?? null, f.limit],
  );
  return res.rows;
}

/**
 * Put up to `limit` dead letters back in the queue (optionally another queue), due now, attempts reset,
 * error history kept, stored step results cleared (their compensations ran when the job died; the
 * timeline keeps them), a `redriven` marker on the timeline. Returns the ids redriven.
 */
export async function redriveDeadLetters(
  db: Queryable,
  s: SchemaName,
  f: DeadLetterFilter & { toQueue?: string | undefined; limit: number },
): Promise<string[]> {
  const res = await db.query<{ id: string }>(
    `WITH picked AS (
       SELECT j.id FROM ${s}.jobs j WHERE ${WHERE_DEAD} ORDER BY j.id LIMIT $5 FOR UPDATE SKIP LOCKED
     ),
     revived AS (
       UPDATE ${s}.jobs j
       SET state = NULL, attempts = 0, finished_at = NULL, queue = COALESCE($4, j.queue), run_at = now()
       FROM picked JOIN ${s}.jobs old ON old.id = picked.id
       WHERE j.id = picked.id
       RETURNING j.id, j.queue, j.priority, j.run_at, old.queue AS from_queue, old.attempts
     ),
     marked AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, detail)
       SELECT id, attempts, 'redriven', jsonb_build_object('fromQueue', from_queue, 'toQueue', queue) FROM revived
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at)
       SELECT id, queue, priority, run_at FROM revived
     ),
     steps AS (
       DELETE FROM ${s}.job_steps st USING revived r WHERE st.job_id = r.id
       RETURNING st.job_id, st.name, st.seq, st.created_at
     ),
     kept AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, at, detail)
       SELECT job_id, 0, 'step', created_at, jsonb_build_object('name', name, 'seq', seq) FROM steps
     )
     SELECT id::text AS id FROM revived ORDER BY id`,
    [...filterParams(f), f.toQueue ?? null, f.limit],
  );
  return res.rows.map((r) => r.id);
}

/** Delete up to `limit` dead letters for good, with their stored steps and timeline. Returns the ids purged. */
export async function purgeDeadLetters(db: Queryable, s: SchemaName, f: DeadLetterFilter & { limit: number }): Promise<string[]> {
  const res = await db.query<{ id: string }>(
    `WITH picked AS (
       SELECT j.id FROM ${s}.jobs j WHERE ${WHERE_DEAD} ORDER BY j.id LIMIT $4 FOR UPDATE SKIP LOCKED
     ),
     steps AS (
       DELETE FROM ${s}.job_steps st USING picked p WHERE st.job_id = p.id
     ),
     events AS (
       DELETE FROM ${s}.job_events e USING picked p WHERE e.job_id = p.id
     )
     DELETE FROM ${s}.jobs j USING picked p WHERE j.id = p.id
     RETURNING j.id::text AS id`,
    [...filterParams(f), f.limit],
  );
  return res.rows.map((r) => r.id);
}
