/**
 * Scale cases (issue 14): what a large live table or a long history does to the claim, to `stats()` and to
 * enqueue. Each figure is measured beside the same figure on an empty table, in the same run.
 * - the claim (claim + outcome statements, 100 a batch) while `running` long jobs hold their leases;
 * - `stats()` (what GET /v1/queues and maintenance call) with `scheduled` jobs due tomorrow;
 * - one-by-one enqueue with `history` finished records.
 */
import type pg from 'pg';
import type { Sluice } from '../../src/index.js';
import { inParallel, median, settle, timed } from './measure.js';
import { enqueueBulk, fill, noopJob, reset, TABLES } from './sluiceBench.js';
import { claimAndComplete } from './timelineCost.js';

/** Claim and complete `n` fresh due jobs, 100 a batch, beside whatever the table holds. */
async function claimLoop(sluice: Sluice, db: pg.Pool, n: number): Promise<{ jobsPerSec: number }> {
  await enqueueBulk(sluice, db, n, 1000);
  await settle(db, TABLES);
  return claimAndComplete(db, n);
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
  await settle(db, TABLES);
  const claimBesideRunning = await median(z.repeats, () => claimLoop(sluice, db, z.jobs));

  await reset(db);
  const statsEmpty = await statsMs(sluice, 5 * z.repeats);
  await fill(db, { scheduled: z.scheduled });
  await settle(db, TABLES);
  const statsScheduled = await statsMs(sluice, 5 * z.repeats);

  await reset(db);
  const enqueueEmpty = await median(z.repeats, () => enqueueRate(sluice, z.enqueue));
  await reset(db);
  await fill(db, { history: z.history });
  await settle(db, TABLES);
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
