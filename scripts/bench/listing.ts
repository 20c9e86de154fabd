/**
 * Listing at scale: a filtered page (`sluice.jobPage`) over `records` job records, per filter, and what
 * migration 0004's indexes cost an enqueue. The records are written with set-based SQL in the mix a
 * long-running app holds: mostly succeeded (most at their first try, so with no finish time), some dead,
 * a few cancelled, a little live work; ten queues and twenty types of uneven size; created over a week, in
 * id order; one in five with an idempotency key.
 */
import type pg from 'pg';
import type { JobListOptions, Sluice } from '../../src/index.js';
import { paired, quantile, settle } from './measure.js';
import { enqueueBulk, enqueueOne, reset, SCHEMA } from './sluiceBench.js';

const TABLES = [`${SCHEMA}.jobs`, `${SCHEMA}.active_jobs`];
/** 0004's indexes on jobs that every enqueue writes (the partial one holds cancelled rows only). */
const LISTING_INDEXES = {
  jobs_queue_id: '(queue, id)',
  jobs_type_id: '(type, id)',
} as const;

export async function fillHistory(db: pg.Pool, records: number): Promise<void> {
  await reset(db);
  // g runs 1..records; queue q<k> holds 2^-(k+1) of the records (q9 the rest, about 0.2%); types likewise over 20.
  await db.query(
    `INSERT INTO ${SCHEMA}.jobs (type, queue, priority, max_attempts, created_at, run_at, idempotency_key, state, attempts, finished_at, errors, payload)
     SELECT 't' || LEAST(floor(-ln(1 - r1) / ln(2))::int, 19), 'q' || LEAST(floor(-ln(1 - r2) / ln(2))::int, 9), 0, 3, t, t,
            CASE WHEN g % 5 = 0 THEN 'key-' || g END,
            CASE WHEN g % 20 = 0 THEN 'dead' WHEN g % 100 = 1 THEN 'cancelled' END,
            CASE WHEN g % 20 = 0 THEN 3 WHEN g % 10 = 3 THEN 2 ELSE 0 END,
            CASE WHEN g % 20 = 0 OR g % 100 = 1 OR g % 10 = 3 THEN t + interval '5 seconds' END,
            CASE WHEN g % 20 = 0 THEN '[{"attempt":3,"name":"Error","message":"boom"}]'::jsonb END,
            jsonb_build_object('n', g)
     FROM (SELECT g, random() AS r1, random() AS r2, now() - interval '7 days' + (g::float8 / $1) * interval '7 days' AS t
           FROM generate_series(1, $1::int) g) x`,
    [records],
  );
  // The newest 1% are live: half due now, half scheduled for tomorrow (not cancelled or dead ones).
  await db.query(
    `INSERT INTO ${SCHEMA}.active_jobs (id, queue, priority, run_at)
     SELECT id, queue, priority, CASE WHEN id % 2 = 0 THEN now() ELSE now() + interval '1 day' END
     FROM ${SCHEMA}.jobs WHERE state IS NULL AND id > (SELECT max(id) - $1 FROM ${SCHEMA}.jobs)`,
    [Math.ceil(records / 100)],
  );
  await settle(db, TABLES);
}

/**
 * The milliseconds of `pages` consecutive pages of `filter`, `rounds` times over: the median of the first
 * pages (a filter's worst case: the walk to its first match) and of the pages after them (from a cursor).
 */
async function pageTimes(sluice: Sluice, filter: JobListOptions, pages: number, rounds: number) {
  const first: number[] = [];
  const next: number[] = [];
  let rows = 0;
  let read = 0;
  for (let r = 0; r < rounds; r++) {
    let before: string | undefined;
    for (let i = 0; i < pages; i++) {
      const t0 = performance.now();
      const page = await sluice.jobPage({ ...filter, limit: 50, ...(before ? { before } : {}) });
      (i === 0 ? first : next).push(performance.now() - t0);
      rows += page.jobs.length;
      read++;
      if (!page.next) break;
      before = page.next;
    }
  }
  return { firstPageMs: quantile(first, 0.5), nextPagesMs: next.length ? quantile(next, 0.5) : null, rowsPerPage: rows / read };
}

export async function listingFigures(sluice: Sluice, db: pg.Pool, o: { records: number; enqueue: number; bulk: number; repeats: number }) {
  await fillHistory(db, o.records);
  const day = 86_400_000;
  const now = Date.now();
  const filters: Record<string, JobListOptions> = {
    'no filter': {},
    'queue (largest, ~50%)': { queue: 'q0' },
    'queue (smallest, ~0.2%)': { queue: 'q9' },
    'type (~0.01%)': { type: 't12' },
    'state dead': { state: 'dead' },
    'state dead, one queue': { state: 'dead', queue: 'q3' },
    'state cancelled': { state: 'cancelled' },
    'state succeeded': { state: 'succeeded' },
    'state succeeded, smallest queue': { state: 'succeeded', queue: 'q9' },
    'state available/scheduled': { state: ['available', 'scheduled'] },
    'created in one hour, 3 days ago': { createdAfter: new Date(now - 3 * day), createdBefore: new Date(now - 3 * day + 3_600_000) },
    'idempotency key': { idempotencyKey: `key-${Math.floor(o.records / 10) * 5}` },
  };
  const pages: Record<string, Awaited<ReturnType<typeof pageTimes>>> = {};
  for (const [name, filter] of Object.entries(filters)) {
    await pageTimes(sluice, filter, 1, 1); // warm the cache as a console in use would have it
    pages[name] = await pageTimes(sluice, filter, 10, 3);
  }
  // countJobs reads every match (the count before a bulk action): its time grows with the matches.
  const counts: Record<string, { ms: number; count: number }> = {};
  for (const name of [
    'queue (smallest, ~0.2%)',
    'state dead',
    'state cancelled',
    'state available/scheduled',
    'state succeeded',
    'no filter',
  ]) {
    const filter = filters[name] as JobListOptions;
    const ms: number[] = [];
    let count = 0;
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      count = await sluice.countJobs(filter);
      if (i > 0) ms.push(performance.now() - t0); // the first warms the cache
    }
    counts[name] = { ms: quantile(ms, 0.5), count };
  }
  // What 0004's indexes cost an enqueue: one by one, 16 in flight, without and with them, alternately.
  const drop = async () => {
    for (const name of Object.keys(LISTING_INDEXES)) await db.query(`DROP INDEX IF EXISTS ${SCHEMA}.${name}`);
  };
  const create = async () => {
    for (const [name, columns] of Object.entries(LISTING_INDEXES))
      await db.query(`CREATE INDEX IF NOT EXISTS ${name} ON ${SCHEMA}.jobs ${columns}`);
  };
  const [without, withIndexes] = await paired(
    o.repeats,
    async () => {
      await drop();
      return enqueueOne(sluice, db, o.enqueue, 16);
    },
    async () => {
      await create();
      return enqueueOne(sluice, db, o.enqueue, 16);
    },
  );
  const [bulkWithout, bulkWith] = await paired(
    o.repeats,
    async () => {
      await drop();
      await reset(db);
      return enqueueBulk(sluice, db, o.bulk, 1000);
    },
    async () => {
      await create();
      await reset(db);
      return enqueueBulk(sluice, db, o.bulk, 1000);
    },
  );
  await create();
  return {
    records: o.records,
    pages,
    counts,
    enqueueWithoutListingIndexes: without,
    enqueueWithListingIndexes: withIndexes,
    bulkWithoutListingIndexes: bulkWithout,
    bulkWithListingIndexes: bulkWith,
  };
}
