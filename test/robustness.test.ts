import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { Queryable } from '../src/db.js';
import { defineJob, type JobOptions } from '../src/define.js';
import { LeaseLostError, PermanentJobError, RetryableJobError, SnoozeJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { Sluice } from '../src/sluice.js';
import { sleep, testSluice } from './helpers/db.js';

const nPayload = z.object({ n: z.number() });
const task = (name: string, extra: Omit<JobOptions<typeof nPayload>, 'type' | 'schema'> = {}) =>
  defineJob({ type: name, schema: nPayload, queue: name.replace(/_/g, '-'), backoff: { baseMs: 0, maxMs: 0 }, timeout: 1_000, ...extra });

/** A Queryable over the pool that lets a test fail or slow chosen statements. */
function faultyDb(pool: Queryable, fault: (text: string) => Promise<void> | void): Queryable {
  return {
    query: async (text: string, values?: unknown[]) => {
      await fault(text);
      return pool.query(text, values);
    },
  } as Queryable;
}

describe('robustness of the drain', async () => {
  const { sluice, pool, schema } = await testSluice();
  const leased = async (queue: string) =>
    (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".active_jobs WHERE queue = $1 AND lease_expires_at > now()`, [queue]))
      .rows[0].n as number;

  it('errors jsonb cannot hold (NUL, a lone surrogate) and invalid delays never block the other outcomes', async () => {
    const t = task('poison', { maxAttempts: 5 });
    const jobs = await sluice.enqueueMany([0, 1, 2, 3, 4].map((n) => ({ job: t, payload: { n } })));
    const h = defineHandler(t, ({ n }, ctx) => {
      if (ctx.attempt > 1) return;
      if (n === 1) throw new Error('binary \u0000 in the message');
      if (n === 2) throw new Error(`${'x'.repeat(2046)}\uD83D\uDE00 split emoji`);
      if (n === 3) throw new RetryableJobError('bad delay', { delayMs: Number.NaN });
      if (n === 4) throw new RetryableJobError('huge delay', { delayMs: Number.MAX_SAFE_INTEGER });
    });
    const s = await sluice.worker({ queue: 'poison', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    assert.equal(s.lostLeases, 0);
    const views = await sluice.getJobs(jobs.map((j) => j.id));
    assert.deepEqual(
      views.map((v) => v.state),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'scheduled'],
    );
    assert.equal(views[1]?.errors[0]?.message, 'binary  in the message');
    assert.ok(views[2]?.errors[0]?.message.endsWith('…'));
    assert.ok((views[4]?.runAt.getTime() ?? 0) - Date.now() <= 366 * 86_400_000, 'huge delays are capped at a year');
  });

  it('an outcome write that fails while a claim is in flight strands nothing: claimed jobs are released', async () => {
    let failOutcomes = 1;
    const db = faultyDb(pool, async (text) => {
      if (text.includes('.record_outcomes(') && failOutcomes-- > 0) throw Object.assign(new Error('injected'), { code: '57P01' });
      if (text.includes('.claim_jobs(')) await sleep(100);
    });
    const faulty = new Sluice({ db, schema });
    const t = task('stranded', { maxAttempts: 1 });
    const ids = (await sluice.enqueueMany([0, 1, 2].map((n) => ({ job: t, payload: { n } })))).map((j) => j.id);
    const runs = new Map<number, number>();
    const h = defineHandler(t, ({ n }) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
    });
    const w = faulty.worker({ queue: 'stranded', handlers: [h], batchSize: 1, concurrency: 1 });
    await assert.rejects(w.drain({ remainingTimeMs: 3_000 }), /injected/);
    await sleep(300); // long enough for any claim still in flight to land
    assert.equal(await leased('stranded'), 0, 'no job is left leased');
    await sluice.worker({ queue: 'stranded', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    assert.deepEqual(
      (await sluice.getJobs(ids)).map((v) => v.state),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    assert.ok(
      [...runs.values()].every((n) => n === 1),
      `each job ran once: ${JSON.stringify([...runs])}`,
    );
  });

  it('when its heartbeats fail and it claims its own job again, the old attempt is fenced off', async () => {
    let failHeartbeats = true;
    const db = faultyDb(pool, (text) => {
      if (failHeartbeats && text.includes('SET lease_expires_at = now() + make_interval')) {
        throw Object.assign(new Error('statement timeout'), { code: '57014' });
      }
    });
    const faulty = new Sluice({ db, schema });
    const long = task('reclaimed', { timeout: 3_000 });
    // A job that keeps failing with no backoff keeps the drainer claiming while the long job runs.
    const ticker = defineJob({
      type: 'ticker',
      schema: nPayload,
      queue: 'reclaimed',
      timeout: 1_000,
      maxAttempts: 1000,
      backoff: { baseMs: 0, maxMs: 0 },
    });
    const job = await sluice.enqueue(long, { n: 1 });
    await sluice.enqueue(ticker, { n: 0 });
    const reasons: unknown[] = [];
    let runs = 0;
    const h = defineHandler(long, (_, ctx) => {
      runs++;
      if (runs > 1) return;
      return new Promise<void>((_, reject) =>
        ctx.signal.addEventListener('abort', () => {
          reasons.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        }),
      );
    });
    const tick = defineHandler(ticker, async () => {
      await sleep(20);
      if (runs < 2) throw new Error('tick');
    });
    const s = await faulty
      .worker({ queue: 'reclaimed', handlers: [h, tick], leaseMs: 500, heartbeatMs: 100 })
      .drain({ remainingTimeMs: 4_000 });
    failHeartbeats = false;
    assert.equal(runs, 2, 'the job was claimed again once its lease lapsed');
    assert.ok(reasons[0] instanceof LeaseLostError, `the first attempt was aborted as lost, not ${String(reasons[0])}`);
    assert.equal(s.lostLeases, 1);
    assert.equal((await sluice.getJob(job.id))?.state, 'succeeded');
    assert.equal((await sluice.getJob(job.id))?.attempt, 2);
  });

  it('a compensation that hangs is cut off within the drain budget and recorded', async () => {
    const t = task('hanging_undo', { maxAttempts: 1, timeout: 500 });
    const job = await sluice.enqueue(t, { n: 1 });
    const h = defineHandler(t, async (_, ctx) => {
      await ctx.step('charge', () => 1, { compensate: () => new Promise<void>(() => {}) });
      throw new PermanentJobError('nope');
    });
    const started = Date.now();
    const s = await sluice.worker({ queue: 'hanging-undo', handlers: [h] }).drain({ remainingTimeMs: 1_500 });
    assert.ok(Date.now() - started < 1_500, `drain returned within its budget (${Date.now() - started} ms)`);
    assert.equal(s.dead, 1);
    const last = (await sluice.getJob(job.id))?.errors.at(-1) as {
      compensationFailures?: Array<{ step: string; error: { name: string } }>;
    };
    assert.deepEqual(
      last.compensationFailures?.map((f) => [f.step, f.error.name]),
      [['charge', 'JobTimeoutError']],
    );
  });

  it('a handler that snoozes with no delay runs once per drain, not in a loop', async () => {
    const t = task('spin');
    await sluice.enqueue(t, { n: 1 });
    let runs = 0;
    const h = defineHandler(t, () => {
      runs++;
      throw new SnoozeJobError(0);
    });
    const s = await sluice.worker({ queue: 'spin', handlers: [h] }).drain({ remainingTimeMs: 2_000 });
    assert.deepEqual([runs, s.snoozed], [1, 1]);
  });
});

describe('prune and a first-try success that waited', async () => {
  const { sluice, pool, schema } = await testSluice({ idempotencyWindowMs: 3_600_000, retentionMs: 3_600_000 });

  it('a job that finished long after it was due records its finish, so prune keeps it', async () => {
    const t = task('backlogged');
    const job = await sluice.enqueue(t, { n: 1 });
    await pool.query(
      `UPDATE "${schema}".jobs SET created_at = now() - interval '2 hours', run_at = now() - interval '2 hours' WHERE id = $1`,
      [job.id],
    );
    await pool.query(`UPDATE "${schema}".active_jobs SET run_at = now() - interval '2 hours' WHERE id = $1`, [job.id]);
    await sluice.worker({ queue: 'backlogged', handlers: [defineHandler(t, () => {})] }).drain({ remainingTimeMs: 2_000 });
    const view = await sluice.getJob(job.id);
    assert.equal(view?.state, 'succeeded');
    assert.ok(view?.finishedAt instanceof Date, 'the late finish was recorded');
    assert.deepEqual(await sluice.prune(), { deleted: 0, expiredBulkKeys: 0, staleReplaceKeys: 0, staleFlowKeys: 0 });
    assert.equal((await sluice.getJob(job.id))?.state, 'succeeded');
  });
});
