/**
 * Kill -9 of a drainer mid-batch. A drainer in its own process (fixtures/drainer.ts) works through a queue
 * of 300 jobs: its first 15 complete, then each of its 10 slots holds a job and it holds a further claimed
 * batch it has not started, while most jobs are still unclaimed. The test SIGKILLs it there, then drains
 * in-process until nothing is left.
 *
 * Proves: every job ends succeeded with exactly one recorded completion, none lost; each job the killed
 * drainer held (running or claimed but unstarted) was claimed again only once its lease had lapsed on the
 * database clock, and succeeded at the next attempt (the lapsed claim's attempt stays spent); the jobs it
 * completed did not run again; every other job ran once, at attempt 1; no error was recorded; nothing is
 * left available, scheduled, running or dead.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueItem } from '../../src/enqueue.js';
import { testSluice } from '../helpers/db.js';
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

const JOBS = 300;
const QUICK = 15;
const CONCURRENCY = 10;
const BATCH = 25;
const LEASE_MS = 3_000;
const TIMEOUT_MS = 60_000;
const QUEUE = 'crash';

describe('kill -9 of a drainer mid-batch', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice();
  await createLedger(pool, schema);
  const job = ledgerJob(QUEUE, TIMEOUT_MS);

  it('every job the killed drainer held runs again once its lease lapses and succeeds once; none is lost', async (t) => {
    const ids = (await sluice.enqueueMany(Array.from({ length: JOBS }, (_, n) => enqueueItem(job, { n })))).map((j) => j.id);
    const child = spawnDrainer({
      schema,
      queue: QUEUE,
      mode: 'crash',
      quick: QUICK,
      budgetMs: 600_000,
      timeoutMs: TIMEOUT_MS,
      leaseMs: LEASE_MS,
      reserveMs: 250,
      concurrency: CONCURRENCY,
      batchSize: BATCH,
    });
    t.after(() => child.kill());
    await child.started;

    // Kill it once its quick jobs are done and stored as succeeded and every slot holds a job.
    await waitFor('the drainer child to complete its quick jobs and fill its slots', async () => {
      child.assertAlive();
      const mine = (await readLedger(pool, schema)).filter((r) => r.pid === child.pid);
      const done = mine.filter((r) => r.event === 'done').length;
      if (done < QUICK || mine.length - done < QUICK + CONCURRENCY) return false;
      return (await sluice.getJobs(ids)).filter((v) => v.state === 'succeeded').length === done;
    });
    const after = await killAndInspect(pool, schema, sluice, ids, child);
    assert.equal(after.exit.signal, 'SIGKILL');

    // What the dead drainer left: completed, held (attempt spent, lease not yet lapsed or lapsed), unclaimed.
    const { atKill, leases, childRows } = after;
    const completed = ids.filter((id) => atKill.get(id)?.state === 'succeeded');
    const held = ids.filter((id) => atKill.get(id)?.state !== 'succeeded' && (atKill.get(id)?.attempt ?? 0) >= 1);
    const unclaimed = ids.filter((id) => atKill.get(id)?.attempt === 0);
    const heldRunning = held.filter((id) => childRows.has(id));
    assert.equal(atKill.size, JOBS);
    assert.equal(completed.length + held.length + unclaimed.length, JOBS, 'every job is completed, held or unclaimed');
    assert.equal(completed.length, QUICK);
    assert.ok(heldRunning.length >= CONCURRENCY, `the child was running a job in each slot (${heldRunning.length})`);
    assert.ok(held.length > heldRunning.length, 'the child also held claimed jobs it had not started');
    assert.ok(unclaimed.length > 0, 'jobs were still unclaimed when the child died');
    for (const id of held) assert.ok(leases.has(id), `held job ${id} has the lease the dead drainer took`);
    for (const id of completed) assert.equal(childRows.get(id)?.filter((r) => r.event === 'done').length, 1);
    for (const id of heldRunning)
      assert.ok(
        childRows.get(id)?.every((r) => r.event === 'start'),
        `job ${id} never completed in the child`,
      );

    // Recovery: an in-process worker drains until every job has succeeded.
    const worker = sluice.worker({ queue: QUEUE, handlers: [recordingHandler(pool, schema, job)], concurrency: 20, batchSize: 50 });
    const recoveryStarted = Date.now();
    const final = await drainUntilSucceeded(sluice, worker, ids, TIMEOUT_MS * 2);
    const recoveryMs = Date.now() - recoveryStarted;

    assert.equal(final.length, JOBS, 'no job lost');
    assert.deepEqual(
      final.filter((v) => v.errors.length > 0).map((v) => v.id),
      [],
      'a lapsed lease records no error',
    );
    const rows = byJob(await readLedger(pool, schema));
    const attempt = new Map(final.map((v) => [v.id, v.attempt]));
    assertCompletedOnce(rows, ids, attempt, completed, 'completed');
    for (const id of unclaimed) assert.equal(attempt.get(id), 1, `unclaimed job ${id} ran at attempt 1`);
    for (const id of held) {
      assert.equal(attempt.get(id), (atKill.get(id)?.attempt ?? 0) + 1, `held job ${id} succeeded at the next attempt`);
    }
    const rescued = takeovers(rows, held, after, 'held');
    assert.equal(
      (await sluice.stats()).find((s) => s.queue === QUEUE),
      undefined,
      'nothing available, scheduled, running or dead',
    );

    const attempts: Record<number, number> = {};
    for (const a of attempt.values()) attempts[a] = (attempts[a] ?? 0) + 1;
    t.diagnostic(
      `figure: ${JOBS} jobs; the killed drainer had completed ${completed.length} and held ${held.length} (${heldRunning.length} running, ${held.length - heldRunning.length} claimed, not started); ${unclaimed.length} unclaimed`,
    );
    t.diagnostic(
      `figure: lease ${seconds(LEASE_MS)} s; held jobs claimed again ${seconds(Math.min(...rescued))}–${seconds(Math.max(...rescued))} s after the kill`,
    );
    t.diagnostic(`figure: final attempts ${JSON.stringify(attempts)}; ${JOBS} succeeded, each completed once`);
    t.diagnostic(
      `figure: in-process recovery of all ${JOBS - completed.length} remaining jobs took ${seconds(recoveryMs)} s, waiting out the lease included`,
    );
  });
});
