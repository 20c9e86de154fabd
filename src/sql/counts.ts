import type { Queryable, SchemaName } from '../db.js';

export interface CountRow {
  queue: string;
  at: Date;
  succeeded: number;
  failed: number;
  dead: number;
  cancelled: number;
}

/**
 * Finished attempts per queue and time step (`stepSeconds`, a whole number of minutes) over the last
 * `sinceSeconds`, from the per-minute counts the outcome statements write. Steps with nothing are absent.
 */
export async function readCounts(
  db: Queryable,
  s: SchemaName,
  args: { sinceSeconds: number; stepSeconds: number; queue?: string | undefined },
): Promise<CountRow[]> {
  const res = await db.query<CountRow>(
    `SELECT queue, to_timestamp(floor(extract(epoch FROM minute) / $2) * $2) AS at,
            sum(succeeded)::int AS succeeded, sum(failed)::int AS failed, sum(dead)::int AS dead, sum(cancelled)::int AS cancelled
     FROM ${s}.job_counts
     WHERE minute >= date_trunc('minute', now() - make_interval(secs => $1)) AND ($3::text IS NULL OR queue = $3)
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [args.sinceSeconds, args.stepSeconds, args.queue ?? null],
  );
  return res.rows;
}

export interface DurationBucketRow {
  queue: string;
  bucket: number;
  n: number;
}

/** Finished attempts per queue and duration bucket (see migration 0003) over the last `sinceSeconds`. */
export async function readDurationBuckets(
  db: Queryable,
  s: SchemaName,
  args: { sinceSeconds: number; queue?: string | undefined },
): Promise<DurationBucketRow[]> {
  const res = await db.query<DurationBucketRow>(
    `SELECT queue, bucket, sum(succeeded + failed + dead + cancelled)::int AS n
     FROM ${s}.job_counts
     WHERE minute >= date_trunc('minute', now() - make_interval(secs => $1)) AND bucket >= 0 AND ($2::text IS NULL OR queue = $2)
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [args.sinceSeconds, args.queue ?? null],
  );
  return res.rows;
}

/**
 * Keep the counts small: minutes older than `keepSeconds` are deleted, and the shards of every minute
 * that ended at least two minutes ago (no outcome statement writes it any more) are folded into one row
 * (shard -1). Returns how many rows were deleted or folded.
 */
export async function compactCounts(db: Queryable, s: SchemaName, args: { keepSeconds: number }): Promise<number> {
  const res = await db.query<{ n: number }>(
    `WITH expired AS (
       DELETE FROM ${s}.job_counts WHERE minute < now() - make_interval(secs => $1) RETURNING 1
     ),
     taken AS (
       DELETE FROM ${s}.job_counts
       WHERE shard >= 0 AND minute < date_trunc('minute', now()) - interval '1 minute'
         AND minute >= now() - make_interval(secs => $1)
       RETURNING minute, queue, type, bucket, succeeded, failed, dead, cancelled
     ),
     folded AS (
       INSERT INTO ${s}.job_counts AS c (minute, queue, type, bucket, shard, succeeded, failed, dead, cancelled)
       SELECT minute, queue, type, bucket, -1, sum(succeeded), sum(failed), sum(dead), sum(cancelled)
       FROM taken GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
       ON CONFLICT (minute, queue, type, bucket, shard) DO UPDATE
       SET succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed,
           dead = c.dead + excluded.dead, cancelled = c.cancelled + excluded.cancelled
     )
     SELECT ((SELECT count(*) FROM expired) + (SELECT count(*) FROM taken))::int AS n`,
    [args.keepSeconds],
  );
  return res.rows[0]?.n ?? 0;
}
