import type { Queryable, SchemaName } from '../db.js';

export interface QueueStatsRow {
  queue: string;
  ready: number;
  scheduled: number;
  running: number;
  dead: number;
  oldest_ready_age_seconds: number | null;
  paused: boolean;
}

/**
 * Per-queue counts in one round trip. Live counts read only `active_jobs` (live work, however long the
 * history); dead counts read the partial `jobs_dead` index. A lapsed lease counts as ready. A paused queue
 * is listed even when it holds no job.
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
     ),
     counted AS (
       SELECT COALESCE(live.queue, dead.queue) AS queue, live.ready, live.scheduled, live.running, live.oldest_ready, dead.dead
       FROM live FULL JOIN dead ON dead.queue = live.queue
     )
     SELECT COALESCE(c.queue, p.queue) AS queue,
       COALESCE(c.ready, 0) AS ready, COALESCE(c.scheduled, 0) AS scheduled,
       COALESCE(c.running, 0) AS running, COALESCE(c.dead, 0) AS dead,
       EXTRACT(EPOCH FROM now() - c.oldest_ready)::float8 AS oldest_ready_age_seconds,
       p.queue IS NOT NULL AS paused
     FROM counted c FULL JOIN ${s}.paused_queues p ON p.queue = c.queue
     ORDER BY 1`,
  );
  return res.rows;
}
