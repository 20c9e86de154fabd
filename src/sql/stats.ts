import type { Queryable, SchemaName } from '../db.js';

export interface QueueStatsRow {
  queue: string;
  ready: number;
  scheduled: number;
  scheduled_capped: boolean;
  running: number;
  dead: number;
  oldest_ready_age_seconds: number | null;
  paused: boolean;
}

/** Counting a queue's scheduled jobs stops here: beside millions of future jobs, stats() stays cheap. */
export const SCHEDULED_CAP = 10_000;

/**
 * Per-queue counts in one round trip, without reading every live row. A loose scan of the claim index
 * (`active_jobs_claim`: queue, priority, run_at) hops from one (queue, priority) pair to the next, one
 * index probe each; for each pair, the due part of the index (run_at <= now: ready and running jobs) is
 * counted in full, and the future part (scheduled jobs) up to `SCHEDULED_CAP`, so a million jobs due
 * tomorrow cost what ten thousand do. A lapsed lease counts as ready. Dead counts read the partial
 * `jobs_dead` index. A paused queue is listed even when it holds no job. Jobs of limited types (parked:
 * their live rows are due at 'infinity', out of the loose scan's reach) are counted from `flow_jobs`, in full.
 */
export async function queueStats(db: Queryable, s: SchemaName): Promise<QueueStatsRow[]> {
  const res = await db.query<QueueStatsRow>(
    `WITH RECURSIVE pairs(queue, priority) AS (
       (SELECT queue, priority FROM ${s}.active_jobs ORDER BY queue, priority LIMIT 1)
       UNION ALL
       SELECT n.queue, n.priority FROM pairs
       CROSS JOIN LATERAL (
         SELECT a.queue, a.priority FROM ${s}.active_jobs a
         WHERE (a.queue, a.priority) > (pairs.queue, pairs.priority)
         ORDER BY a.queue, a.priority LIMIT 1
       ) n
     ),
     per_pair AS (
       SELECT pairs.queue, due.ready, due.running, due.oldest_ready, later.scheduled
       FROM pairs
       CROSS JOIN LATERAL (
         SELECT count(*) FILTER (WHERE a.lease_expires_at IS NULL OR a.lease_expires_at <= now())::int AS ready,
                count(*) FILTER (WHERE a.lease_expires_at > now())::int AS running,
                min(a.run_at) FILTER (WHERE a.lease_expires_at IS NULL OR a.lease_expires_at <= now()) AS oldest_ready
         FROM ${s}.active_jobs a
         WHERE a.queue = pairs.queue AND a.priority = pairs.priority AND a.run_at <= now()
       ) due
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS scheduled FROM (
           SELECT 1 FROM ${s}.active_jobs a
           WHERE a.queue = pairs.queue AND a.priority = pairs.priority AND a.run_at > now() AND a.run_at < 'infinity'
           LIMIT $1
         ) f
       ) later
     ),
     flow AS (
       SELECT f.queue,
              count(*) FILTER (WHERE NOT f.live AND f.run_at <= now())::int AS ready,
              count(*) FILTER (WHERE f.live)::int AS running,
              min(f.run_at) FILTER (WHERE NOT f.live AND f.run_at <= now()) AS oldest_ready,
              count(*) FILTER (WHERE NOT f.live AND f.run_at > now())::int AS scheduled
       FROM (SELECT f.queue, f.run_at,
                    f.started AND COALESCE((SELECT a.lease_expires_at > now() FROM ${s}.active_jobs a WHERE a.id = f.job_id), false) AS live
             FROM ${s}.flow_jobs f) f
       GROUP BY f.queue
     ),
     live AS (
       SELECT queue, sum(ready)::int AS ready, least(sum(scheduled), $1)::int AS scheduled,
              sum(scheduled) >= $1 AS scheduled_capped,
              sum(running)::int AS running, min(oldest_ready) AS oldest_ready
       FROM (SELECT queue, ready, running, oldest_ready, scheduled FROM per_pair
             UNION ALL SELECT queue, ready, running, oldest_ready, scheduled FROM flow) x
       GROUP BY queue
     ),
     dead AS (
       SELECT queue, count(*)::int AS dead FROM ${s}.jobs WHERE state = 'dead' GROUP BY queue
     ),
     counted AS (
       SELECT COALESCE(live.queue, dead.queue) AS queue, live.ready, live.scheduled, live.scheduled_capped, live.running,
              live.oldest_ready, dead.dead
       FROM live FULL JOIN dead ON dead.queue = live.queue
     )
     SELECT COALESCE(c.queue, p.queue) AS queue,
       COALESCE(c.ready, 0) AS ready, COALESCE(c.scheduled, 0) AS scheduled,
       COALESCE(c.scheduled_capped, false) AS scheduled_capped,
       COALESCE(c.running, 0) AS running, COALESCE(c.dead, 0) AS dead,
       EXTRACT(EPOCH FROM now() - c.oldest_ready)::float8 AS oldest_ready_age_seconds,
       p.queue IS NOT NULL AS paused
     FROM counted c FULL JOIN ${s}.paused_queues p ON p.queue = c.queue
     ORDER BY 1`,
    [SCHEDULED_CAP],
  );
  return res.rows;
}
