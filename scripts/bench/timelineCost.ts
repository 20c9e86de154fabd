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

export async function outcomeLoop(sluice: Sluice, db: pg.Pool, n: number, history: boolean, batch = 100) {
  await reset(db);
  await enqueueBulk(sluice, db, n, 1000);
  await settle(db, TABLES);
  const { result, bytes } = await walBytes(db, () =>
    timed(async () => {
      let done = 0;
      for (;;) {
        const token = randomUUID();
        const rows = await claimJobs(db, quoteSchema(SCHEMA), { queue: 'bench', limit: batch, leaseSeconds: 60, token });
        if (rows.length === 0) return done;
        const outcomes = rows.map((r) => ({ id: r.id, token, type: r.type, kind: 'success' as const, delaySeconds: 0, error: null }));
        done += (await recordOutcomes(db, quoteSchema(SCHEMA), outcomes, { maxErrorsKept: 20, retentionSeconds: 86_400, history })).size;
      }
    }),
  );
  if (result.result !== n) throw new Error(`the outcome loop finished ${result.result} of ${n}`);
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}
