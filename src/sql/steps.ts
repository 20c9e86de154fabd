import type { Queryable, SchemaName } from '../db.js';

export interface StepRow {
  name: string;
  seq: number;
  result: unknown;
}

/** The completed steps of a job, in the order they completed. */
export async function loadSteps(db: Queryable, s: SchemaName, jobId: string): Promise<StepRow[]> {
  const res = await db.query<StepRow>(`SELECT name, seq, result FROM ${s}.job_steps WHERE job_id = $1::bigint ORDER BY seq`, [jobId]);
  return res.rows;
}

/**
 * Store a completed step, only while this worker still holds the job's lease (the live row is share-locked
 * for the check, so a concurrent claim cannot slip between check and insert). Returns false when the
 * lease is gone (the result is not stored) or the step was stored already.
 */
export async function saveStep(
  db: Queryable,
  s: SchemaName,
  step: { jobId: string; token: string; name: string; seq: number; resultJson: string | null },
): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO ${s}.job_steps (job_id, name, seq, result)
     SELECT $1::bigint, $3, $4, $5::jsonb
     WHERE EXISTS (SELECT 1 FROM ${s}.active_jobs WHERE id = $1::bigint AND lease_token = $2::uuid FOR SHARE)
     ON CONFLICT (job_id, name) DO NOTHING`,
    [step.jobId, step.token, step.name, step.seq, step.resultJson],
  );
  return res.rowCount === 1;
}
