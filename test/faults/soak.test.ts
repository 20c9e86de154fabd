/**
 * Soak: 8 drainers × 100,000 jobs, each drainer its own Sluice, worker and pg.Pool (as 8 Lambda containers
 * would be), draining in Lambda-sized invocations until nothing is left. 1% of attempts fail at random
 * (RetryableJobError, short backoff) and the 100 jobs with n % 1000 === 0 fail permanently.
 *
 * Proves, exactly: succeeded + dead = enqueued; dead = the 100 permanent jobs and only them; nothing is left
 * available, scheduled or running; no handler of a job started while another run of the same job was still
 * going; each job's stored attempt count equals the number of times its handler ran, and each run saw the
 * attempt number that followed the previous run (no lost or duplicate runs); the drain summaries add up to
 * the same totals with no lost lease. Timings are reported as figures, never asserted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { defineJob } from '../../src/define.js';
import { enqueueItem } from '../../src/enqueue.js';
import { PermanentJobError, RetryableJobError } from '../../src/errors.js';
import { defineHandler } from '../../src/handler.js';
import type { JobView } from '../../src/job.js';
import { Sluice } from '../../src/sluice.js';
import { type DrainSummary, emptySummary } from '../../src/worker/drainer.js';
import { sleep, testSluice } from '../helpers/db.js';

const JOBS = 100_000;
const DRAINERS = 8;
const ENQUEUE_BATCH = 1_000;
const RETRYABLE_RATE = 0.01;
const isPermanent = (n: number) => n % 1000 === 0;
const EXPECTED_DEAD = Array.from({ length: JOBS }, (_, n) => n).filter(isPermanent).length; // 100
/** One drain call, as one Lambda invocation's budget; the type's timeout is a third of it, so drains end by releasing. */
const INVOCATION_MS = 15_000;
/** The whole drain must be over well within this, even on a loaded machine (it takes seconds on a quiet one). */
const DRAIN_LIMIT_MS = 300_000;

// 1% failure per attempt, 12 attempts: a random job exhausts them with probability 1e-24, so every dead job is permanent.
const soakJob = defineJob({
  type: 'soak',
  schema: z.object({ n: z.number().int() }),
  queue: 'soak',
  maxAttempts: 12,
  backoff: { baseMs: 20, maxMs: 400 },
  timeout: 5_000,
});

describe('soak: 8 drainers × 100,000 jobs with random and permanent failures', { concurrency: 1 }, async () => {
  const { sluice, url, schema } = await testSluice({ poolSize: 4 });

  it('every job ends succeeded or dead, exactly; no job ran in two places at once; attempts match runs', {
    timeout: 540_000,
  }, async (t) => {
    // What the handlers saw, shared by all 8 drainers (they run in this one process).
    const running = new Map<string, number>(); // job id → runs in progress
    const runs = new Map<string, number>(); // job id → handler runs started
    const overlaps: string[] = [];
    const attemptGaps: string[] = [];
    let randomFailures = 0;

    const handler = defineHandler(soakJob, async ({ n }, ctx) => {
      const run = (runs.get(ctx.id) ?? 0) + 1;
      runs.set(ctx.id, run);
      if (ctx.attempt !== run) attemptGaps.push(`${ctx.id}: run ${run} saw attempt ${ctx.attempt}`);
      const inProgress = running.get(ctx.id) ?? 0;
      if (inProgress > 0) overlaps.push(ctx.id);
      running.set(ctx.id, inProgress + 1);
      try {
        await new Promise<void>((resolve) => setImmediate(resolve)); // yield, so overlapping runs would interleave
        if (Math.random() < RETRYABLE_RATE) {
          randomFailures++;
          throw new RetryableJobError('random transient failure');
        }
        if (isPermanent(n)) throw new PermanentJobError(`job n=${n} can never succeed`);
      } finally {
        const left = (running.get(ctx.id) ?? 1) - 1;
        if (left === 0) running.delete(ctx.id);
        else running.set(ctx.id, left);
      }
    });

    const t0 = performance.now();
    const ids: string[] = [];
    const nById = new Map<string, number>();
    for (let i = 0; i < JOBS; i += ENQUEUE_BATCH) {
      const items = Array.from({ length: Math.min(ENQUEUE_BATCH, JOBS - i) }, (_, k) => enqueueItem(soakJob, { n: i + k }));
      const jobs = await sluice.enqueueMany(items);
      jobs.forEach((job, k) => {
        ids.push(job.id);
        nById.set(job.id, i + k);
      });
    }
    const enqueueSeconds = (performance.now() - t0) / 1000;
    assert.equal(new Set(ids).size, JOBS, 'every enqueued job got its own id');

    // 8 drainers, each with its own pool (separate connections) and its own Sluice on the same schema.
    const pools = Array.from({ length: DRAINERS }, () => new pg.Pool({ connectionString: url, max: 3 }));
    const giveUpAt = Date.now() + DRAIN_LIMIT_MS;
    const drainUntilEmpty = async (pool: pg.Pool): Promise<DrainSummary & { invocations: number }> => {
      const worker = new Sluice({ db: pool, schema }).worker({ queue: 'soak', handlers: [handler] });
      const total = { ...emptySummary(), invocations: 0 };
      for (;;) {
        if (Date.now() > giveUpAt) {
          throw new Error(`soak: jobs still live after ${DRAIN_LIMIT_MS / 1000} s of draining (${runs.size} of ${JOBS} ran so far)`);
        }
        const s = await worker.drain({ remainingTimeMs: INVOCATION_MS });
        total.invocations++;
        for (const k of Object.keys(s) as Array<keyof DrainSummary>) if (k !== 'moreDue') total[k] += s[k];
        const { rows } = await pool.query<{ live: boolean }>(`SELECT EXISTS (SELECT 1 FROM "${schema}".active_jobs) AS live`);
        if (!rows[0]?.live) return total;
        if (s.claimed === 0) await sleep(25); // only retries not yet due (or others' running jobs) are left
      }
    };
    const t1 = performance.now();
    let summaries: Array<DrainSummary & { invocations: number }>;
    try {
      summaries = await Promise.all(pools.map(drainUntilEmpty));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const drainSeconds = (performance.now() - t1) / 1000;

    // What the handlers saw.
    assert.deepEqual(overlaps, [], 'a job handler started while another run of the same job was in progress');
    assert.deepEqual(attemptGaps.slice(0, 10), [], `${attemptGaps.length} runs saw an attempt other than the one after their previous run`);
    assert.equal(running.size, 0, 'no handler is still running');
    assert.equal(runs.size, JOBS, 'every job ran at least once');

    // What the database holds, through the public API.
    const views: JobView[] = [];
    for (let i = 0; i < ids.length; i += 10_000) views.push(...(await sluice.getJobs(ids.slice(i, i + 10_000))));
    assert.equal(views.length, JOBS, 'every job is still readable');
    const byState = new Map<string, number>();
    for (const v of views) byState.set(v.state, (byState.get(v.state) ?? 0) + 1);
    const succeeded = byState.get('succeeded') ?? 0;
    const dead = byState.get('dead') ?? 0;
    assert.equal(succeeded + dead, JOBS, `succeeded + dead = enqueued; states: ${JSON.stringify(Object.fromEntries(byState))}`);
    assert.equal(dead, EXPECTED_DEAD, 'exactly the permanent jobs are dead');
    const wrongDead = views.filter((v) => v.state === 'dead' && !isPermanent(nById.get(v.id) ?? -1));
    assert.deepEqual(
      wrongDead.map((v) => v.id),
      [],
      'only permanent jobs went dead',
    );
    const deadWithoutPermanent = views.filter((v) => v.state === 'dead' && v.errors.at(-1)?.code !== 'PERMANENT');
    assert.deepEqual(
      deadWithoutPermanent.map((v) => v.id),
      [],
      "every dead job's last error is the PermanentJobError",
    );
    const mismatched = views.filter((v) => v.attempt !== runs.get(v.id));
    assert.deepEqual(
      mismatched.slice(0, 10).map((v) => `${v.id}: attempt ${v.attempt}, runs ${runs.get(v.id)}`),
      [],
      `${mismatched.length} jobs have a stored attempt count other than their number of handler runs`,
    );
    const stats = (await sluice.stats()).find((q) => q.queue === 'soak');
    assert.deepEqual(
      stats && [stats.ready, stats.scheduled, stats.running, stats.dead],
      [0, 0, 0, EXPECTED_DEAD],
      'stats: nothing available, scheduled or running; the dead counted',
    );

    // The drain summaries agree with the database.
    const sum = (k: keyof DrainSummary) => summaries.reduce((acc, s) => acc + Number(s[k]), 0);
    const totalRuns = [...runs.values()].reduce((a, b) => a + b, 0);
    assert.equal(sum('succeeded'), JOBS - EXPECTED_DEAD, 'successes written');
    assert.equal(sum('dead'), EXPECTED_DEAD, 'dead outcomes written');
    assert.equal(sum('retried'), randomFailures, 'one retry written per random failure');
    assert.equal(sum('lostLeases'), 0, 'no lease was lost');
    assert.equal(totalRuns, JOBS + randomFailures, 'handler runs = one per job + one per retry');
    assert.equal(sum('claimed'), totalRuns + sum('released'), 'every claim either ran the handler or was released');

    const invocations = summaries.map((s) => s.invocations).join('/');
    t.diagnostic(
      `figure: enqueue ${JOBS} jobs in batches of ${ENQUEUE_BATCH}: ${enqueueSeconds.toFixed(1)} s (${Math.round(JOBS / enqueueSeconds)} jobs/s)`,
    );
    t.diagnostic(`figure: drain with ${DRAINERS} drainers: ${drainSeconds.toFixed(1)} s, ${Math.round(JOBS / drainSeconds)} jobs/s`);
    t.diagnostic(
      `figure: attempts ${totalRuns}, retries ${randomFailures}, dead ${dead}, succeeded ${succeeded}, released at deadlines ${sum('released')}, drain calls per drainer ${invocations}`,
    );
  });
});
