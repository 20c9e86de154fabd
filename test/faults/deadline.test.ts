/**
 * Deadline mid-batch, the Lambda way. A drainer in its own process (fixtures/drainer.ts) drains 40 jobs
 * (one claim: batchSize 40, concurrency 4) with a 9 s budget; the Lambda kills it 1 s after that deadline.
 * The drain never starts a job whose 6 s timeout does not fit in the time left, so: one job runs until just
 * after the last moment a job can start, and when its slot frees the drain releases every unstarted job;
 * the other three started jobs block the event loop (synchronous work), past their own timeout, so the
 * drain cannot return and the process is SIGKILLed at the Lambda deadline with them still running. Then an
 * in-process worker drains until nothing is left.
 *
 * Proves: at the kill, every claimed job the drain had not started was back in the queue with its attempt
 * given back (attempt 0, no error), and the stuck ones still held their attempt 1 with no error (their own
 * timeout never fired); afterwards the released ones ran once, at attempt 1; the stuck ones were claimed
 * again only once their lease had lapsed on the database clock and succeeded once, at attempt 2; the job
 * that finished in the Lambda did not run again; total succeeded = enqueued, each completed exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueItem } from '../../src/enqueue.js';
import { sleep, testSluice } from '../helpers/db.js';
import {
  assertCompletedOnce,
  byJob,
  createLedger,
  drainUntilSucceeded,
  killAndInspect,
  ledgerJob,
  readLedger,
  recordingHandler,
  seconds,
  spawnDrainer,
  takeovers,
  waitFor,
} from './fixtures/ledger.js';

const JOBS = 40;
const CONCURRENCY = 4;
const BUDGET_MS = 9_000;
const RESERVE_MS = 250;
const TIMEOUT_MS = 6_000;
const LEASE_MS = 8_000;
/** How long after the drain's deadline Lambda kills the process (the worker function's safety margin). */
const LAMBDA_MARGIN_MS = 1_000;
const QUEUE = 'deadline';

describe('deadline mid-batch in a Lambda that is killed at its deadline', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice();
  await createLedger(pool, schema);
  const job = ledgerJob(QUEUE, TIMEOUT_MS);

  it('unstarted jobs are released unspent, stuck ones are recovered by their lease; every job succeeds once', async (t) => {
    const ids = (await sluice.enqueueMany(Array.from({ length: JOBS }, (_, n) => enqueueItem(job, { n })))).map((j) => j.id);
    const child = spawnDrainer({
      schema,
      queue: QUEUE,
      mode: 'deadline',
      quick: 0,
      budgetMs: BUDGET_MS,
      timeoutMs: TIMEOUT_MS,
      leaseMs: LEASE_MS,
      reserveMs: RESERVE_MS,
      concurrency: CONCURRENCY,
      batchSize: JOBS,
    });
    t.after(() => child.kill());
    const { deadline } = await child.started;

    // The drain stopped starting jobs and released the unstarted ones (every job was claimed at once).
    await waitFor('the drainer child to release its unstarted jobs', async () => {
      child.assertAlive();
      const starts = (await readLedger(pool, schema)).filter((r) => r.pid === child.pid && r.event === 'start').length;
      const unspent = (await sluice.getJobs(ids)).filter((v) => v.attempt === 0).length;
      return starts > 0 && unspent === JOBS - starts;
    });
    // Lambda kills the process at its own deadline, whatever is still running.
    await sleep(deadline + LAMBDA_MARGIN_MS - Date.now());
    child.assertAlive();
    const after = await killAndInspect(pool, schema, sluice, ids, child);
    const { killedAt, atKill, leases, childRows } = after;

    const finished = ids.filter((id) => atKill.get(id)?.state === 'succeeded');
    const released = ids.filter((id) => atKill.get(id)?.attempt === 0);
    const stuck = ids.filter((id) => atKill.get(id)?.state !== 'succeeded' && atKill.get(id)?.attempt === 1);
    assert.equal(finished.length + released.length + stuck.length, JOBS, 'every job finished, was released or is stuck');
    assert.equal(finished.length, 1, 'one job finished within the budget');
    assert.ok(released.length > 0 && stuck.length > 0, `jobs were released (${released.length}) and stuck (${stuck.length})`);
    assert.deepEqual(
      released.filter((id) => childRows.has(id)),
      [],
      'only jobs that never started were released',
    );
    assert.equal(released.length, JOBS - childRows.size, 'every claimed job that did not start was released');
    for (const id of released) {
      assert.equal(atKill.get(id)?.state, 'available', `released job ${id} is due again at once`);
      assert.equal(leases.has(id), false, `released job ${id} holds no lease`);
    }
    for (const id of stuck) {
      assert.ok(
        childRows.get(id)?.every((r) => r.event === 'start'),
        `stuck job ${id} started and never completed`,
      );
      assert.ok(leases.has(id), `stuck job ${id} still has the lease the dead drainer took`);
    }
    assert.deepEqual(
      [...atKill.values()].filter((v) => v.errors.length > 0).map((v) => v.id),
      [],
      'no failure was written: the stuck jobs’ own timeout never fired, the released ones did not run',
    );
    const stuckStart = Math.min(...stuck.map((id) => childRows.get(id)?.[0]?.at.getTime() ?? Number.NaN));

    // Recovery: later invocations (here an in-process worker) drain until every job has succeeded.
    const worker = sluice.worker({ queue: QUEUE, handlers: [recordingHandler(pool, schema, job)], concurrency: 10 });
    const final = await drainUntilSucceeded(sluice, worker, ids, TIMEOUT_MS * 4);

    assert.equal(final.length, JOBS, 'total succeeded = enqueued');
    const rows = byJob(await readLedger(pool, schema));
    const attempt = new Map(final.map((v) => [v.id, v.attempt]));
    assertCompletedOnce(rows, ids, attempt, finished, 'finished');
    for (const id of released) {
      assert.equal(attempt.get(id), 1, `released job ${id} ran later at attempt 1`);
      assert.deepEqual(
        rows.get(id)?.map((r) => [r.pid, r.attempt, r.event]),
        [
          [process.pid, 1, 'start'],
          [process.pid, 1, 'done'],
        ],
      );
    }
    for (const id of stuck) assert.equal(attempt.get(id), 2, `stuck job ${id} succeeded at attempt 2`);
    const rescued = takeovers(rows, stuck, after, 'stuck', 2);
    assert.equal(
      (await sluice.stats()).find((s) => s.queue === QUEUE),
      undefined,
      'nothing available, scheduled, running or dead',
    );

    t.diagnostic(
      `figure: ${JOBS} jobs claimed by one Lambda drain (budget ${seconds(BUDGET_MS)} s, job timeout ${seconds(TIMEOUT_MS)} s, killed ${seconds(LAMBDA_MARGIN_MS)} s after the drain deadline): ${finished.length} finished, ${released.length} released at attempt 0, ${stuck.length} stuck when killed`,
    );
    t.diagnostic(
      `figure: the stuck jobs were ${seconds(killedAt.getTime() - stuckStart - TIMEOUT_MS)} s past their own timeout when killed; lease ${seconds(LEASE_MS)} s; claimed again ${seconds(Math.min(...rescued))}–${seconds(Math.max(...rescued))} s after the kill`,
    );
    t.diagnostic(
      `figure: final attempts: released ${released.length} at 1, stuck ${stuck.length} at 2, finished 1 at 1; ${JOBS} succeeded, each completed once`,
    );
  });
});
