import type { Queryable, SchemaName } from '../db.js';

export interface TimelineRow {
  kind: 'succeeded' | 'failed' | 'dead' | 'cancelled' | 'snoozed' | 'lost' | 'cancel_requested' | 'redriven' | 'step' | 'running';
  attempt: number | null;
  started_at: Date | null;
  at: Date;
  detail: Record<string, unknown> | null;
}

/**
 * One job's history in time order, in one round trip: its timeline events (attempts and markers), its
 * completed steps (by name), and the attempt running now, if any (its start, from the live row).
 */
export async function loadTimeline(db: Queryable, s: SchemaName, jobId: string): Promise<TimelineRow[]> {
  const res = await db.query<TimelineRow>(
    `SELECT kind, attempt, started_at, at, detail FROM ${s}.job_events WHERE job_id = $1::bigint
     UNION ALL
     SELECT 'step', NULL, NULL, created_at, jsonb_build_object('name', name, 'seq', seq) FROM ${s}.job_steps WHERE job_id = $1::bigint
     UNION ALL
     SELECT 'running', attempt, started_at, started_at, NULL FROM ${s}.active_jobs
     WHERE id = $1::bigint AND lease_expires_at > now() AND started_at IS NOT NULL
     ORDER BY at, kind`,
    [jobId],
  );
  return res.rows;
}
