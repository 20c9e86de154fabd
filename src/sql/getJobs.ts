import type { Queryable, SchemaName } from '../db.js';
import type { JobRow } from '../job.js';
import { jobSelect } from './jobColumns.js';

/** Jobs by id, with their current state (and a succeeded job's result). Missing ids are absent from the result. */
export async function getJobsById(db: Queryable, s: SchemaName, ids: readonly string[]): Promise<JobRow[]> {
  const res = await db.query<JobRow>(`${jobSelect(s, { result: true })} WHERE j.id = ANY($1::bigint[]) ORDER BY j.id`, [ids]);
  return res.rows;
}

/** Jobs by idempotency key (keys are unique while held). */
export async function getJobsByKey(db: Queryable, s: SchemaName, keys: readonly string[]): Promise<JobRow[]> {
  const res = await db.query<JobRow>(`${jobSelect(s)} WHERE j.idempotency_key = ANY($1::text[])`, [keys]);
  return res.rows;
}
