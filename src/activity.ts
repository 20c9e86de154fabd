import type { CountRow, DurationBucketRow } from './sql/counts.js';

/** One time step of a queue's finished attempts. */
export interface ActivityPoint {
  at: Date;
  succeeded: number;
  /** Failed attempts that will be retried. */
  failed: number;
  dead: number;
  cancelled: number;
}

/** What `sluice.activity()` returns per queue: its series, oldest step first, and its attempt durations. */
export interface QueueActivity {
  queue: string;
  points: ActivityPoint[];
  /** Finished attempts in the window, and their duration percentiles (null when there were none). */
  attempts: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** The most an attempt in bucket `b` took: 2^(b/4) ms (so a percentile is exact to within 19%). */
export const bucketUpperMs = (b: number): number => Math.round(2 ** (b / 4) * 100) / 100;

/** The q-quantile of bucketed durations: the upper bound of the bucket where the count reaches q. */
export function quantileOfBuckets(buckets: ReadonlyArray<{ bucket: number; n: number }>, q: number): number | null {
  const total = buckets.reduce((sum, b) => sum + b.n, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const b of [...buckets].sort((x, y) => x.bucket - y.bucket)) {
    seen += b.n;
    if (seen >= q * total) return bucketUpperMs(b.bucket);
  }
  return null;
}

/**
 * Join the counts and the duration buckets into one entry per queue, `queues` first (in that order,
 * idle ones too), then any other queue with counts; each series has every step of the window, zeros
 * where nothing finished, so a chart's x axis is the same for every queue.
 */
export function toActivity(
  counts: readonly CountRow[],
  buckets: readonly DurationBucketRow[],
  window: { from: Date; stepMs: number; steps: number },
  queues: readonly string[],
): QueueActivity[] {
  const names = [...queues, ...new Set([...counts, ...buckets].map((r) => r.queue).filter((q) => !queues.includes(q)))];
  return names.map((queue) => {
    const byStep = new Map(counts.filter((c) => c.queue === queue).map((c) => [c.at.getTime(), c]));
    const points = Array.from({ length: window.steps }, (_, i): ActivityPoint => {
      const at = new Date(window.from.getTime() + i * window.stepMs);
      const c = byStep.get(at.getTime());
      return { at, succeeded: c?.succeeded ?? 0, failed: c?.failed ?? 0, dead: c?.dead ?? 0, cancelled: c?.cancelled ?? 0 };
    });
    const mine = buckets.filter((b) => b.queue === queue);
    return {
      queue,
      points,
      attempts: mine.reduce((sum, b) => sum + b.n, 0),
      p50Ms: quantileOfBuckets(mine, 0.5),
      p95Ms: quantileOfBuckets(mine, 0.95),
      p99Ms: quantileOfBuckets(mine, 0.99),
    };
  });
}
