import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob, type JobOptions } from '../src/define.js';
import { PermanentJobError, SnoozeJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { claimJobs } from '../src/sql/claim.js';
import { recordOutcomes } from '../src/sql/outcomes.js';
import type { TimelineEntry } from '../src/timeline.js';
import { q, sleep, testSluice } from './helpers/db.js';

const nPayload = z.object({ n: z.number() });
const task = (name: string, extra: Omit<JobOptions<typeof nPayload>, 'type' | 'schema'> = {}) =>
  defineJob({ type: name, schema: nPayload, queue: name.replace(/_/g, '-'), backoff: { baseMs: 0, maxMs: 0 }, timeout: 2_000, ...extra });
const DRAIN = { remainingTimeMs: 4_000 };

/** The timeline without its times: what happened, in order. */
const shape = (entries: TimelineEntry[]) =>
  entries.map((e) =>
    e.kind === 'attempt'
      ? `attempt ${e.attempt} ${e.outcome}${e.error ? `: ${e.error.message}` : ''}`
      : e.kind === 'step'
        ? `step ${e.name}`
        : e.kind === 'compensation'
          ? `compensation ${e.step} ${e.result}`
          : e.kind === 'redriven'
            ? `redriven ${e.fromQueue}→${e.toQueue}`
            : `${e.kind} (attempt ${e.attempt})`,
  );

describe('a job timeline', async () => {
  const { sluice, pool, schema, s } = await testSluice();
  const t = q(schema);

  it('a first-try success has a finish time and an attempt with its start, end and duration', async () => {
    const job = task('quick');
    const { id } = await sluice.enqueue(job, { n: 1 });
    const before = new Date();
    const s = await sluice.worker({ queue: 'quick', handlers: [defineHandler(job, () => sleep(60))] }).drain(DRAIN);
    assert.equal(s.succeeded, 1);
    const view = await sluice.getJob(id);
    assert.equal(view?.state, 'succeeded');
    assert.ok(view?.finishedAt instanceof Date, 'finishedAt is set for a first-try success');
    const timeline = await sluice.jobTimeline(id);
    assert.deepEqual(shape(timeline), ['attempt 1 succeeded']);
    const [a] = timeline;
    assert.ok(a?.kind === 'attempt' && a.startedAt && a.finishedAt && a.durationMs !== null);
    assert.ok(a.startedAt.getTime() >= before.getTime() - 1000, 'started during this drain (database clock)');
    assert.ok(a.durationMs >= 50 && a.durationMs < 2000, `the attempt ran about 60 ms: ${a.durationMs}`);
    assert.equal(a.finishedAt.getTime(), view.finishedAt.getTime());
    // The job record itself was not rewritten: the finish time came from the timeline.
    const rec = await pool.query(`SELECT finished_at, attempts FROM ${t('jobs')} WHERE id = $1`, [id]);
    assert.deepEqual(rec.rows[0], { finished_at: null, attempts: 0 });
  });

  it('retries, a snooze and steps read in order, each failed attempt with its error', async () => {
    const job = task('flaky', { maxAttempts: 4 });
    const { id } = await sluice.enqueue(job, { n: 1 });
    let snoozed = false;
    const h = defineHandler(job, async (_, ctx) => {
      await ctx.step('reserve', () => 'r1');
      if (ctx.attempt === 1) throw new Error('first fails');
      if (!snoozed) {
        snoozed = true;
        await ctx.step('charge', () => 'c1');
        throw new SnoozeJobError(0);
      }
    });
    await sluice.worker({ queue: 'flaky', handlers: [h] }).drain(DRAIN);
    await sluice.worker({ queue: 'flaky', handlers: [h] }).drain(DRAIN);
    assert.deepEqual(shape(await sluice.jobTimeline(id)), [
      'attempt 1 failed: first fails',
      'step reserve',
      'attempt 2 snoozed',
      'step charge',
      'attempt 2 succeeded',
    ]);
    assert.equal((await sluice.getJob(id))?.state, 'succeeded');
  });

  it('a dead job shows its compensations, then a redrive marker before the attempts of its second life', async () => {
    const job = task('saga', { maxAttempts: 1 });
    const { id } = await sluice.enqueue(job, { n: 1 });
    let life = 0;
    const h = defineHandler(job, async (_, ctx) => {
      if (life > 0) return;
      await ctx.step('book', () => 1, { compensate: () => {} });
      await ctx.step('pay', () => 2, {
        compensate: () => {
          throw new Error('refund failed');
        },
      });
      throw new PermanentJobError('card declined');
    });
    await sluice.worker({ queue: 'saga', handlers: [h] }).drain(DRAIN);
    life = 1;
    assert.deepEqual(await sluice.redriveDeadLetters({ ids: [id] }), [id]);
    await sluice.worker({ queue: 'saga', handlers: [h] }).drain(DRAIN);
    assert.deepEqual(shape(await sluice.jobTimeline(id)), [
      'attempt 1 dead: card declined',
      'step book',
      'step pay',
      'compensation book compensated',
      'compensation pay failed',
      'redriven saga→saga',
      'attempt 1 succeeded',
    ]);
  });

  it('cancel markers: a waiting job cancelled at once, a running one asked to stop and ended cancelled', async () => {
    const job = task('stoppable', { timeout: 5_000 });
    const waiting = await sluice.enqueue(job, { n: 1 }, { delayMs: 60_000 });
    await sluice.cancel([waiting.id]);
    assert.deepEqual(shape(await sluice.jobTimeline(waiting.id)), ['cancelled (attempt 0)']);
    assert.ok((await sluice.getJob(waiting.id))?.finishedAt instanceof Date);

    const running = await sluice.enqueue(job, { n: 2 });
    let started!: () => void;
    const isRunning = new Promise<void>((r) => (started = r));
    const h = defineHandler(job, (_, ctx) => {
      started();
      return new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    const drain = sluice.worker({ queue: 'stoppable', handlers: [h], leaseMs: 900, heartbeatMs: 100 }).drain({ remainingTimeMs: 8_000 });
    await isRunning;
    assert.deepEqual(shape(await sluice.jobTimeline(running.id)), ['attempt 1 running'], 'the attempt in progress shows');
    await sluice.cancel([running.id]);
    await drain;
    // The attempt reads at its start, the request to stop came while it ran.
    assert.deepEqual(shape(await sluice.jobTimeline(running.id)), [
      `attempt 1 cancelled: job ${running.id} was cancelled`,
      'cancel_requested (attempt 1)',
    ]);
  });

  it('an attempt whose worker died reads as lost, ended when its lease did, once the job is claimed again', async () => {
    const job = task('orphaned');
    const { id } = await sluice.enqueue(job, { n: 1 });
    await claimJobs(pool, s, { queue: 'orphaned', limit: 1, leaseSeconds: 0.2, token: randomUUID() }); // the worker that dies
    await sleep(300);
    const t2 = randomUUID();
    const [again] = await claimJobs(pool, s, { queue: 'orphaned', limit: 1, leaseSeconds: 30, token: t2 });
    assert.equal(again?.attempt, 2);
    await recordOutcomes(pool, s, [{ id, token: t2, type: 'orphaned', kind: 'success', delaySeconds: 0, error: null }], {
      maxErrorsKept: 20,
      retentionSeconds: 86_400,
    });
    const timeline = await sluice.jobTimeline(id);
    assert.deepEqual(shape(timeline), ['attempt 1 lost', 'attempt 2 succeeded']);
    const [lost] = timeline;
    assert.ok(lost?.kind === 'attempt' && lost.durationMs !== null);
    assert.ok(lost.durationMs >= 150 && lost.durationMs < 1000, `the lease ran 200 ms: ${lost.durationMs}`);
    // A retry or a release clears the token, so only a lapsed lease is noted.
    const other = await sluice.enqueue(job, { n: 2 });
    const t3 = randomUUID();
    await claimJobs(pool, s, { queue: 'orphaned', limit: 1, leaseSeconds: 30, token: t3 });
    await recordOutcomes(pool, s, [{ id: other.id, token: t3, type: 'orphaned', kind: 'release', delaySeconds: 0, error: null }], {
      maxErrorsKept: 20,
      retentionSeconds: 86_400,
    });
    await claimJobs(pool, s, { queue: 'orphaned', limit: 1, leaseSeconds: 30, token: randomUUID() });
    assert.deepEqual(shape(await sluice.jobTimeline(other.id)), ['attempt 1 running']);
  });

  it('a fenced-off outcome writes no timeline row and no count', async () => {
    const job = task('fenced');
    const { id } = await sluice.enqueue(job, { n: 1 });
    await claimJobs(pool, s, { queue: 'fenced', limit: 1, leaseSeconds: 30, token: randomUUID() });
    const applied = await recordOutcomes(
      pool,
      s,
      [{ id, token: randomUUID(), type: 'fenced', kind: 'success', delaySeconds: 0, error: null }],
      { maxErrorsKept: 20, retentionSeconds: 86_400 },
    );
    assert.equal(applied.size, 0);
    assert.deepEqual(shape(await sluice.jobTimeline(id)), ['attempt 1 running'], 'the held attempt, and nothing the fenced outcome wrote');
    const counts = await pool.query(`SELECT count(*)::int AS n FROM ${t('job_counts')} WHERE queue = 'fenced'`);
    assert.equal(counts.rows[0].n, 0);
  });

  it('purge and prune take the timeline with the job', async () => {
    const job = task('gone', { maxAttempts: 1 });
    const dead = await sluice.enqueue(job, { n: 1 });
    const old = await sluice.enqueue(job, { n: 2 });
    await sluice
      .worker({
        queue: 'gone',
        handlers: [defineHandler(job, ({ n }) => (n === 1 ? Promise.reject(new PermanentJobError('x')) : undefined))],
      })
      .drain(DRAIN);
    assert.deepEqual(await sluice.purgeDeadLetters({ ids: [dead.id] }), [dead.id]);
    await pool.query(`UPDATE ${t('jobs')} SET created_at = now() - interval '30 days', run_at = now() - interval '30 days' WHERE id = $1`, [
      old.id,
    ]);
    assert.equal((await sluice.prune()).deleted, 1);
    const left = await pool.query(`SELECT job_id::text FROM ${t('job_events')} WHERE job_id = ANY($1::bigint[])`, [[dead.id, old.id]]);
    assert.deepEqual(left.rows, []);
  });

  it('an unknown job has an empty timeline; a bad id is refused', async () => {
    assert.deepEqual(await sluice.jobTimeline('999999999'), []);
    await assert.rejects(sluice.jobTimeline('x'), { name: 'ValidationError' });
  });
});

describe('activity: per-minute counts from the outcome statements', async () => {
  const { sluice, pool, schema } = await testSluice({ queues: ['counted', 'idle'] });
  const t = q(schema);
  const job = task('counted', { maxAttempts: 2 });

  it('counts succeeded, failed and dead attempts per queue, with duration percentiles', async () => {
    await sluice.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ job, payload: { n } })));
    const h = defineHandler(job, async ({ n }) => {
      await sleep(n < 10 ? 5 : 80);
      if (n >= 18) throw new Error('fails'); // 18, 19: failed once, then dead
    });
    await sluice.worker({ queue: 'counted', handlers: [h], concurrency: 20 }).drain(DRAIN);
    const [counted, idle] = await sluice.activity();
    assert.equal(counted?.queue, 'counted');
    const sum = (k: 'succeeded' | 'failed' | 'dead') => counted?.points.reduce((n, p) => n + p[k], 0);
    assert.deepEqual([sum('succeeded'), sum('failed'), sum('dead')], [18, 2, 2]);
    assert.equal(counted?.attempts, 22);
    assert.ok(counted.p50Ms !== null && counted.p95Ms !== null && counted.p99Ms !== null);
    assert.ok(counted.p50Ms >= 5 && counted.p50Ms < 200, `p50 ${counted.p50Ms}`);
    assert.ok(counted.p95Ms >= 80 && counted.p95Ms < 500, `p95 ${counted.p95Ms}`);
    assert.ok(counted.p99Ms >= counted.p95Ms);
    assert.equal(counted.points.length, 61, 'an hour of minutes, both ends included');
    assert.deepEqual(
      [idle?.queue, idle?.attempts, idle?.p50Ms, idle?.points.every((p) => p.succeeded === 0)],
      ['idle', 0, null, true],
      'a configured queue with nothing done is listed, all zeros',
    );
  });

  it('compaction folds the shards of past minutes into one row and keeps the totals; old minutes go', async () => {
    await pool.query(
      `INSERT INTO ${t('job_counts')} (minute, queue, type, bucket, shard, succeeded)
       VALUES (date_trunc('minute', now()) - interval '10 minutes', 'counted', 'counted', 3, 1, 5),
              (date_trunc('minute', now()) - interval '10 minutes', 'counted', 'counted', 3, 2, 7),
              (now() - interval '3 days', 'counted', 'counted', 3, 1, 100)`,
    );
    const before = (await sluice.activity({ sinceMs: 86_400_000, stepMs: 3_600_000 }))[0];
    await sluice.compactActivity();
    const rows = await pool.query(
      `SELECT shard, succeeded FROM ${t('job_counts')} WHERE minute = date_trunc('minute', now()) - interval '10 minutes'`,
    );
    assert.deepEqual(rows.rows, [{ shard: -1, succeeded: 12 }]);
    const after = (await sluice.activity({ sinceMs: 86_400_000, stepMs: 3_600_000 }))[0];
    assert.deepEqual(after, before, 'the same figures after folding');
    const old = await pool.query(`SELECT count(*)::int AS n FROM ${t('job_counts')} WHERE minute < now() - interval '2 days'`);
    assert.equal(old.rows[0].n, 0);
  });

  it('bad options are refused with a clear error', async () => {
    await assert.rejects(sluice.activity({ stepMs: 90_000 }), /multiple of 60000|stepMs/);
    await assert.rejects(sluice.activity({ queue: 'nope' }), { name: 'ValidationError' });
    await assert.rejects(sluice.activity({ sinceMs: 30 * 86_400_000 }), /sinceMs/);
  });
});
