/** sluice's own figures, through the library (and the API handler in-process), on the same server as the baseline. */
import type pg from 'pg';
import { z } from 'zod';
import { defineHandler, defineJob, enqueueItem, migrate, Sluice } from '../../src/index.js';
import { inParallel, median, quantile, settle, timed, walBytes } from './measure.js';

export const SCHEMA = 'bench_sluice';
export const TABLES = ['jobs', 'active_jobs', 'job_steps', 'job_events', 'job_counts'].map((t) => `${SCHEMA}.${t}`);

export const noopJob = defineJob({ type: 'bench_noop', schema: z.object({ n: z.number().int() }), queue: 'bench', timeout: 5_000 });
const noop = defineHandler(noopJob, () => {});

export async function setupSluice(db: pg.Pool): Promise<Sluice> {
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await migrate({ db, schema: SCHEMA });
  return new Sluice({ db, schema: SCHEMA });
}

export async function reset(db: pg.Pool): Promise<void> {
  await db.query(`TRUNCATE ${TABLES.join(', ')}`);
  await settle(db, TABLES);
}

export async function enqueueOne(sluice: Sluice, db: pg.Pool, n: number, inFlight: number) {
  await reset(db);
  const { result, bytes } = await walBytes(db, () => timed(() => inParallel(n, inFlight, (i) => sluice.enqueue(noopJob, { n: i }))));
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

export async function enqueueBulk(sluice: Sluice, db: pg.Pool, n: number, batch: number, queue = 'bench') {
  const { result, bytes } = await walBytes(db, () =>
    timed(async () => {
      for (let i = 0; i < n; i += batch) {
        await sluice.enqueueMany(Array.from({ length: Math.min(batch, n - i) }, (_, k) => enqueueItem(noopJob, { n: i + k }, { queue })));
      }
    }),
  );
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** Drain `n` jobs (enqueued first, not timed) with `drainers` workers in parallel. */
export async function drain(
  sluice: Sluice,
  db: pg.Pool,
  n: number,
  drainers: number,
  settings: { batchSize?: number; concurrency?: number } = {},
) {
  await reset(db);
  await enqueueBulk(sluice, db, n, 1000);
  await settle(db, TABLES);
  const { result, bytes } = await walBytes(db, () =>
    timed(() =>
      Promise.all(
        Array.from({ length: drainers }, () =>
          sluice.worker({ queue: 'bench', handlers: [noop], ...settings }).drain({ remainingTimeMs: 600_000 }),
        ),
      ),
    ),
  );
  const succeeded = result.result.reduce((sum, s) => sum + s.succeeded, 0);
  if (succeeded !== n) throw new Error(`drain succeeded ${succeeded} of ${n}`);
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** Enqueue → handler start, one job at a time, with an idle worker woken in-process. */
export async function latency(sluice: Sluice, db: pg.Pool, samples: number) {
  await reset(db);
  let started: (() => void) | undefined;
  const handler = defineHandler(noopJob, () => started?.());
  const worker = sluice.worker({ queue: 'bench', handlers: [handler], pollIntervalMs: 60_000 });
  const stop = new AbortController();
  const running = worker.run({ signal: stop.signal });
  await new Promise((r) => setTimeout(r, 200)); // let it go idle
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = new Promise<void>((resolve) => {
      started = resolve;
    });
    const t0 = performance.now();
    await sluice.enqueue(noopJob, { n: i });
    worker.wake();
    await start;
    ms.push(performance.now() - t0);
  }
  stop.abort();
  await running;
  return { p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), p99: quantile(ms, 0.99) };
}

/**
 * Insert finished history (one record in ten dead, the rest first-try successes as the outcome statement
 * leaves them), scheduled jobs due tomorrow and running (leased) jobs, with set-based SQL. Callers settle.
 */
export async function fill(db: pg.Pool, rows: { history?: number; scheduled?: number; running?: number }): Promise<void> {
  if (rows.history)
    await db.query(
      `INSERT INTO ${SCHEMA}.jobs (type, queue, priority, max_attempts, created_at, run_at, attempts, state, finished_at, payload)
       SELECT 'bench_noop', 'bench', 0, 3, now() - interval '1 hour', now() - interval '1 hour',
              CASE WHEN g % 10 = 0 THEN 3 ELSE 0 END, CASE WHEN g % 10 = 0 THEN 'dead' END,
              CASE WHEN g % 10 = 0 THEN now() - interval '30 minutes' END, jsonb_build_object('n', g)
       FROM generate_series(1, $1::int) g`,
      [rows.history],
    );
  for (const [n, live] of [
    [rows.scheduled, `now() + interval '1 day', 0, NULL::timestamptz, NULL::uuid, NULL::timestamptz`],
    [rows.running, `now() - interval '1 minute', 1, now() + interval '1 hour', gen_random_uuid(), now()`],
  ] as const) {
    if (!n) continue;
    await db.query(
      `WITH ins AS (
         INSERT INTO ${SCHEMA}.jobs (type, queue, priority, max_attempts, run_at, payload)
         SELECT 'bench_noop', 'bench', 0, 3, now(), jsonb_build_object('n', g) FROM generate_series(1, $1::int) g
         RETURNING id, queue, priority)
       INSERT INTO ${SCHEMA}.active_jobs (id, queue, priority, run_at, attempt, lease_expires_at, lease_token, started_at)
       SELECT id, queue, priority, ${live} FROM ins`,
      [n],
    );
  }
}

/**
 * Drain `n` due jobs beside `history` finished or dead records and `scheduled` jobs due tomorrow (written
 * with set-based SQL, then vacuumed and analyzed as autovacuum would).
 */
export async function drainWithHistory(sluice: Sluice, db: pg.Pool, n: number, history: number, scheduled: number, repeats = 1) {
  await reset(db);
  await fill(db, { history, scheduled });
  // The history stays; each run drains n fresh due jobs beside it.
  return median(repeats, async () => {
    await enqueueBulk(sluice, db, n, 1000);
    await settle(db, TABLES);
    const { result, seconds } = await timed(() => sluice.worker({ queue: 'bench', handlers: [noop] }).drain({ remainingTimeMs: 600_000 }));
    if (result.succeeded !== n) throw new Error(`drain with history succeeded ${result.succeeded} of ${n}`);
    return { jobsPerSec: n / seconds };
  });
}
