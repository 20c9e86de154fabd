import type { Queryable, SchemaName } from '../db.js';

export interface QueueStatsRow {
  queue: string;
  ready: number;
  scheduled: number;
  running: number;
  dead: number;
  oldest_ready_age_seconds: number | null;
}

/**
 * Per-queue counts in one round trip. Live counts read only `active_jobs` (live work, however long the
 * history); dead counts read the partial `jobs_dead` index. A lapsed lease counts as ready.
 */
export async function queueStats(db: Queryable, s: SchemaName): Promise<QueueStatsRow[]> {
  const res = await db.query<QueueStatsRow>(
    `WITH live AS (
       SELECT queue,
         count(*) FILTER (WHERE run_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at <= now()))::int AS ready,
         count(*) FILTER (WHERE run_at > now() AND lease_expires_at IS NULL)::int AS scheduled,
         count(*) FILTER (WHERE lease_expires_at > now())::int AS running,
         min(run_at) FILTER (WHERE run_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at <= now())) AS oldest_ready
       FROM ${s}.active_jobs GROUP BY queue
     ),
     dead AS (
       SELECT queue, count(*)::int AS dead FROM ${s}.jobs WHERE state = 'dead' GROUP BY queue
     )
     SELECT COALESCE(live.queue, dead.queue) AS queue,
       COALESCE(live.ready, 0) AS ready, COALESCE(live.scheduled, 0) AS scheduled,
       COALESCE(live.running, 0) AS running, COALESCE(dead.dead, 0) AS dead,
       EXTRACT(EPOCH FROM now() - live.oldest_ready)::float8 AS oldest_ready_age_seconds
     FROM live FULL JOIN dead ON dead.queue = live.queue
     ORDER BY 1`,
  );
  return res.rows;
}
