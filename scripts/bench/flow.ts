/**
 * Flow control's figures (issue 15): a drain of jobs with a per-key concurrency limit over 1,000 keys
 * against the same drain without limits, alternately; and the fairness case (10,000 jobs of key A queued
 * before 100 of key B, both limited): when B's last job starts, and how many of A's started before it.
 */
import type pg from 'pg';
import { z } from 'zod';
import { defineHandler, defineJob, type JobDefinition, type Sluice } from '../../src/index.js';
import { paired, settle, timed, walBytes } from './measure.js';
import { reset, SCHEMA, TABLES } from './sluiceBench.js';

const FLOW_TABLES = ['flow_jobs', 'flow_keys', 'flow_queues'].map((t) => `${SCHEMA}.${t}`);
const schema = z.object({ key: z.string(), n: z.number().int() });
/** What each key may run at once in the limited cases. */
export const PER_KEY = 5;

const plain = defineJob({ type: 'bench_flow_plain', schema, queue: 'bench', timeout: 5_000 });
const perKey = defineJob({
  type: 'bench_flow_keyed',
  schema,
  queue: 'bench',
  timeout: 5_000,
  limits: { key: (p) => p.key, perKey: { concurrency: PER_KEY } },
});

async function resetFlow(db: pg.Pool): Promise<void> {
  await db.query(`TRUNCATE ${FLOW_TABLES.join(', ')}`);
  await reset(db);
  await settle(db, [...TABLES, ...FLOW_TABLES]);
}

async function enqueue(sluice: Sluice, def: JobDefinition<typeof schema>, n: number, keys: number, from = 0): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const size = Math.min(1000, n - i);
    await sluice.enqueueMany(
      Array.from({ length: size }, (_, k) => ({ job: def, payload: { key: `k${(from + i + k) % keys}`, n: i + k } })),
    );
  }
}

/** Drain `n` no-op jobs of `def` (enqueued first over `keys` keys, not timed) with one worker at its defaults. */
async function drainOf(sluice: Sluice, db: pg.Pool, def: JobDefinition<typeof schema>, n: number, keys: number) {
  await resetFlow(db);
  await enqueue(sluice, def, n, keys);
  await settle(db, [...TABLES, ...FLOW_TABLES]);
  const handler = defineHandler(def, () => {});
  const { result, bytes } = await walBytes(db, () =>
    timed(() => sluice.worker({ queue: 'bench', handlers: [handler] }).drain({ remainingTimeMs: 600_000 })),
  );
  if (result.result.succeeded !== n) throw new Error(`flow drain succeeded ${result.result.succeeded} of ${n}`);
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** 10,000 jobs of key A, then 100 of key B, both under the per-key limit: when B's last job starts. */
async function fairness(sluice: Sluice, db: pg.Pool, a: number, b: number) {
  await resetFlow(db);
  const big = Array.from({ length: a }, (_, n) => ({ job: perKey, payload: { key: 'A', n } }));
  for (let i = 0; i < a; i += 1000) await sluice.enqueueMany(big.slice(i, i + 1000));
  await sluice.enqueueMany(Array.from({ length: b }, (_, n) => ({ job: perKey, payload: { key: 'B', n } })));
  await settle(db, [...TABLES, ...FLOW_TABLES]);
  const starts: string[] = [];
  let bDoneAt = 0;
  let seenB = 0;
  const t0 = performance.now();
  const handler = defineHandler(perKey, ({ key }) => {
    starts.push(key);
    if (key === 'B' && ++seenB === b) bDoneAt = performance.now() - t0;
  });
  const summary = await sluice.worker({ queue: 'bench', handlers: [handler] }).drain({ remainingTimeMs: 600_000 });
  if (summary.succeeded !== a + b) throw new Error(`fairness drain succeeded ${summary.succeeded} of ${a + b}`);
  const lastB = starts.lastIndexOf('B');
  return {
    bLastStartMs: bDoneAt,
    aStartedBeforeBLast: starts.slice(0, lastB).filter((k) => k === 'A').length,
    drainMs: performance.now() - t0,
  };
}

export async function flowFigures(
  sluice: Sluice,
  db: pg.Pool,
  o: { jobs: number; keys: number; fairA: number; fairB: number; repeats: number },
) {
  const [unlimited, limited] = await paired(
    o.repeats,
    () => drainOf(sluice, db, plain, o.jobs, o.keys),
    () => drainOf(sluice, db, perKey, o.jobs, o.keys),
  );
  const fair = await fairness(sluice, db, o.fairA, o.fairB);
  await resetFlow(db);
  return {
    flowDrainJobsPerSecUnlimited: unlimited.jobsPerSec,
    flowDrainJobsPerSecPerKey: limited.jobsPerSec,
    flowWalBytesPerJobUnlimited: unlimited.walBytesPerJob,
    flowWalBytesPerJobPerKey: limited.walBytesPerJob,
    flowPerKeyLimit: PER_KEY,
    flowKeys: o.keys,
    flowFairnessBLastStartMs: fair.bLastStartMs,
    flowFairnessAStartedBeforeBLast: fair.aStartedBeforeBLast,
    flowFairnessDrainMs: fair.drainMs,
  };
}
