/**
 * What a job's timeline row and the per-minute counts cost: sluice's own claim and outcome statements in
 * a loop (no drainer, no handler), 100 jobs a batch, with the outcome statement as it is and without its
 * timeline and counts part (the statement of 0.2.0), alternately in one run.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { quoteSchema, type Sluice } from '../../src/index.js';
import { claimJobs } from '../../src/sql/claim.js';
import { recordOutcomes } from '../../src/sql/outcomes.js';
import { settle, timed, walBytes } from './measure.js';
import { enqueueBulk, reset, SCHEMA, TABLES } from './sluiceBench.js';

/**
 * Claim and complete every due job of the bench queue, `batch` a claim, with the claim and outcome
 * statements alone; fails unless exactly `n` were completed. Returns the rate and the WAL per job.
 */
export async function claimAndComplete(db: pg.Pool, n: number, options: { history?: boolean; batch?: number } = {}) {
  const s = quoteSchema(SCHEMA);
  const { result, bytes } = await walBytes(db, () =>
    timed(async () => {
      let done = 0;
      for (;;) {
        const token = randomUUID();
        const rows = await claimJobs(db, s, { queue: 'bench', limit: options.batch ?? 100, leaseSeconds: 60, token });
        if (rows.length === 0) return done;
        const outcomes = rows.map((r) => ({ id: r.id, token, type: r.type, kind: 'success' as const, delaySeconds: 0, error: null }));
        done += (await recordOutcomes(db, s, outcomes, { maxErrorsKept: 20, retentionSeconds: 86_400, history: options.history ?? true }))
          .size;
      }
    }),
  );
  if (result.result !== n) throw new Error(`the claim and outcome loop completed ${result.result} of ${n}`);
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** `n` fresh jobs on an empty table, claimed and completed with the timeline and counts or without them. */
export async function outcomeLoop(sluice: Sluice, db: pg.Pool, n: number, history: boolean, batch = 100) {
  await reset(db);
  await enqueueBulk(sluice, db, n, 1000);
  await settle(db, TABLES);
  return claimAndComplete(db, n, { history, batch });
}
