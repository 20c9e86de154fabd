/**
 * Scale cases (issue 14): what a large live table or a long history does to the claim, to `stats()` and to
 * enqueue. Each figure is measured beside the same figure on an empty table, in the same run.
 * - the claim (claim + outcome statements, 100 a batch) while `running` long jobs hold their leases;
 * - `stats()` (what GET /v1/queues and maintenance call) with `scheduled` jobs due tomorrow;
 * - one-by-one enqueue with `history` finished records.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { quoteSchema, type Sluice } from '../../src/index.js';
import { claimJobs } from '../../src/sql/claim.js';
import { recordOutcomes } from '../../src/sql/outcomes.js';
import { inParallel, median, settle, timed } from './measure.js';
import { enqueueBulk, noopJob, reset, SCHEMA, TABLES } from './sluiceBench.js';

/** Insert finished history, scheduled jobs and running (leased) jobs with set-based SQL, then vacuum. */
async function fill(db: pg.Pool, rows: { history?: number; scheduled?: number; running?: number }): Promise<void> {
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
  await settle(db, TABLES);
}

/** Claim and complete `n` fresh due jobs, 100 a batch, beside whatever the table holds. */
async function claimLoop(sluice: Sluice, db: pg.Pool, n: number): Promise<{ jobsPerSec: number }> {
  await enqueueBulk(sluice, db, n, 1000);
  await settle(db, TABLES);
  const { seconds } = await timed(async () => {
    for (let done = 0; done < n; ) {
      const token = randomUUID();
      const rows = await claimJobs(db, quoteSchema(SCHEMA), { queue: 'bench', limit: 100, leaseSeconds: 60, token });
      if (rows.length === 0) throw new Error(`the claim found nothing after ${done} of ${n}`);
      const outcomes = rows.map((r) => ({ id: r.id, token, type: r.type, kind: 'success' as const, delaySeconds: 0, error: null }));
      done += (await recordOutcomes(db, quoteSchema(SCHEMA), outcomes, { maxErrorsKept: 20, retentionSeconds: 86_400 })).size;
    }
  });
  return { jobsPerSec: n / seconds };
}

/** Median milliseconds of `stats()` over `runs` calls. */
async function statsMs(sluice: Sluice, runs: number): Promise<number> {
  const r = await median(runs, async () => {
    const { seconds } = await timed(() => sluice.stats());
    return { jobsPerSec: 1 / seconds }; // median() orders by this: the median time is the median rate's
  });
  return 1000 / r.jobsPerSec;
}

async function enqueueRate(sluice: Sluice, n: number): Promise<{ jobsPerSec: number }> {
  const { seconds } = await timed(() => inParallel(n, 16, (i) => sluice.enqueue(noopJob, { n: i })));
  return { jobsPerSec: n / seconds };
}

export interface ScaleSizes {
  jobs: number;
  running: number;
  scheduled: number;
  history: number;
  enqueue: number;
  repeats: number;
}

export async function scaleFigures(sluice: Sluice, db: pg.Pool, z: ScaleSizes) {
  await reset(db);
  const claimEmpty = await median(z.repeats, () => claimLoop(sluice, db, z.jobs));
  await fill(db, { running: z.running });
  const claimBesideRunning = await median(z.repeats, () => claimLoop(sluice, db, z.jobs));

  await reset(db);
  const statsEmpty = await statsMs(sluice, 5 * z.repeats);
  await fill(db, { scheduled: z.scheduled });
  const statsScheduled = await statsMs(sluice, 5 * z.repeats);

  await reset(db);
  const enqueueEmpty = await median(z.repeats, () => enqueueRate(sluice, z.enqueue));
  await reset(db);
  await fill(db, { history: z.history });
  const enqueueHistory = await median(z.repeats, () => enqueueRate(sluice, z.enqueue));
  await reset(db);
  return {
    claimJobsPerSecEmpty: claimEmpty.jobsPerSec,
    claimJobsPerSecBesideRunning: claimBesideRunning.jobsPerSec,
    statsMsEmpty: statsEmpty,
    statsMsWithScheduled: statsScheduled,
    enqueueJobsPerSecEmpty: enqueueEmpty.jobsPerSec,
    enqueueJobsPerSecWithHistory: enqueueHistory.jobsPerSec,
  };
}
