/** Small measuring tools shared by the benchmarks. */
import type pg from 'pg';

/** Bytes of WAL written while `fn` runs (the whole server's, so run nothing else meanwhile). */
export async function walBytes<T>(db: pg.Pool, fn: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const before = (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
  const result = await fn();
  const after = await db.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes', [before]);
  return { result, bytes: Number(after.rows[0]?.bytes ?? 0) };
}

/** Seconds taken by `fn`. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const t0 = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - t0) / 1000 };
}

/** Run `total` tasks with at most `inFlight` at once. */
export async function inParallel(total: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, total) }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

/** The q-th quantile (0–1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))] ?? Number.NaN;
}

/** VACUUM and CHECKPOINT between runs, so one run's garbage does not bill the next. */
export async function settle(db: pg.Pool, tables: readonly string[]): Promise<void> {
  for (const t of tables) await db.query(`VACUUM ANALYZE ${t}`);
  await db.query('CHECKPOINT');
}

/** The run with the median throughput, and every run's throughput beside it. */
function medianRun<T extends { jobsPerSec: number }>(runs: readonly T[]): T & { runs: number[] } {
  const sorted = [...runs].sort((x, y) => x.jobsPerSec - y.jobsPerSec);
  return { ...(sorted[Math.floor((sorted.length - 1) / 2)] as T), runs: runs.map((r) => Math.round(r.jobsPerSec)) };
}

/**
 * Run `fn` `times` times and keep the run with the median throughput: this 2-core machine shares its CPUs
 * between Node and PostgreSQL, and one run alone (or the best of many) over-reads the noise.
 */
export async function median<T extends { jobsPerSec: number }>(times: number, fn: () => Promise<T>): Promise<T & { runs: number[] }> {
  const runs: T[] = [];
  for (let i = 0; i < times; i++) runs.push(await fn());
  return medianRun(runs);
}

/**
 * Run `a` and `b` alternately, `times` each, and keep each one's median run: drift of the machine over the
 * minutes of a bench then falls on both sides of a ratio instead of on one.
 */
export async function paired<A extends { jobsPerSec: number }, B extends { jobsPerSec: number }>(
  times: number,
  a: () => Promise<A>,
  b: () => Promise<B>,
): Promise<[A & { runs: number[] }, B & { runs: number[] }]> {
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < times; i++) {
    as.push(await a());
    bs.push(await b());
  }
  return [medianRun(as), medianRun(bs)];
}
