import { type Queryable, type SchemaName, sql } from '../db.js';
import type { JobRow } from '../job.js';
import { type BulkStepParams, bulkAppend } from './bulkRequests.js';
import { flowRows } from './enqueue.js';
import { jobSelect } from './jobColumns.js';
import { type FilterSql, filterSql, type ParsedJobFilter, SqlParams } from './jobFilter.js';

export type { DeadLetterFilter } from './jobFilter.js';

/** A dead-letter filter: any job filter but its state, which is 'dead'. */
export type ParsedDeadLetterFilter = Omit<ParsedJobFilter, 'state'>;

function deadSql(s: SchemaName, f: ParsedDeadLetterFilter, p: SqlParams): FilterSql {
  return filterSql(s, { ...f, state: 'dead' }, p);
}

/** A page of dead letters in id order, after the id `after` (keyset pagination). */
export async function listDeadLetters(
  db: Queryable,
  s: SchemaName,
  f: ParsedDeadLetterFilter & { after?: string | undefined; limit: number },
): Promise<JobRow[]> {
  const p = new SqlParams();
  const m = deadSql(s, f, p);
  const after = f.after === undefined ? sql`` : sql` AND j.id > ${p.add(f.after, 'bigint')}`;
  const res = await db.query<JobRow>(`${jobSelect(s)} WHERE ${m.where}${after} ORDER BY j.id LIMIT ${p.add(f.limit, 'int')}`, p.values);
  return res.rows;
}

export interface BulkStep {
  limit: number;
  key: string | null;
  hash: string | null;
}

function stepParams(p: SqlParams, step: BulkStep): BulkStepParams {
  return { limit: p.add(step.limit, 'int'), key: p.add(step.key, 'text'), hash: p.add(step.hash, 'text') };
}

/**
 * Put up to `limit` dead letters back in the queue (optionally another queue), due now, attempts reset,
 * error history kept, stored step results cleared (their compensations ran when the job died; the
 * timeline keeps them), a `redriven` marker on the timeline. With a `key`, the ids are appended to that
 * bulk request in the same statement. Returns the ids redriven.
 */
export async function redriveDeadLetters(
  db: Queryable,
  s: SchemaName,
  f: ParsedDeadLetterFilter & { toQueue?: string | undefined },
  step: BulkStep,
): Promise<string[]> {
  const p = new SqlParams();
  const m = deadSql(s, f, p);
  const toQueue = p.add(f.toQueue ?? null, 'text');
  const bulk = stepParams(p, step);
  const res = await db.query<{ id: string }>(
    `WITH picked AS (
       SELECT j.id FROM ${m.from} WHERE ${m.where} ORDER BY j.id LIMIT ${bulk.limit} FOR UPDATE SKIP LOCKED
     ),
     revived AS (
       UPDATE ${s}.jobs j
       SET state = NULL, attempts = 0, finished_at = NULL, queue = COALESCE(${toQueue}, j.queue), run_at = now()
       FROM picked JOIN ${s}.jobs old ON old.id = picked.id
       WHERE j.id = picked.id
       RETURNING j.id, j.type, j.queue, j.priority, j.run_at, j.flow_key, old.queue AS from_queue, old.attempts
     ),
     marked AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, detail)
       SELECT id, attempts, 'redriven', jsonb_build_object('fromQueue', from_queue, 'toQueue', queue) FROM revived
     ),
     live AS (
       INSERT INTO ${s}.active_jobs (id, queue, priority, run_at)
       SELECT id, queue, priority, CASE WHEN flow_key IS NULL THEN run_at ELSE 'infinity' END FROM revived
     ),
     ${flowRows(s, 'revived')},
     steps AS (
       DELETE FROM ${s}.job_steps st USING revived r WHERE st.job_id = r.id
       RETURNING st.job_id, st.name, st.seq, st.created_at
     ),
     stepsKept AS (
       INSERT INTO ${s}.job_events (job_id, attempt, kind, at, detail)
       SELECT job_id, 0, 'step', created_at, jsonb_build_object('name', name, 'seq', seq) FROM steps
     ),
     acted AS (SELECT id FROM revived),
     kept AS (${bulkAppend(s, bulk, false)})
     SELECT id::text AS id FROM revived ORDER BY revived.id`,
    p.values,
  );
  return res.rows.map((r) => r.id);
}

/**
 * Delete up to `limit` dead letters for good, with their stored steps and timeline; with a `key`, the ids
 * are appended to that bulk request in the same statement. Returns the ids purged.
 */
export async function purgeDeadLetters(db: Queryable, s: SchemaName, f: ParsedDeadLetterFilter, step: BulkStep): Promise<string[]> {
  const p = new SqlParams();
  const m = deadSql(s, f, p);
  const bulk = stepParams(p, step);
  const res = await db.query<{ id: string }>(
    `WITH picked AS (
       SELECT j.id FROM ${m.from} WHERE ${m.where} ORDER BY j.id LIMIT ${bulk.limit} FOR UPDATE SKIP LOCKED
     ),
     steps AS (
       DELETE FROM ${s}.job_steps st USING picked p WHERE st.job_id = p.id
     ),
     events AS (
       DELETE FROM ${s}.job_events e USING picked p WHERE e.job_id = p.id
     ),
     acted AS (
       DELETE FROM ${s}.jobs j USING picked p WHERE j.id = p.id RETURNING j.id
     ),
     kept AS (${bulkAppend(s, bulk, false)})
     SELECT id::text AS id FROM acted ORDER BY acted.id`,
    p.values,
  );
  return res.rows.map((r) => r.id);
}
