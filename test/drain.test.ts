import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { Queryable } from '../src/db.js';
import { defineJob, type JobOptions } from '../src/define.js';
import { JobCancelledError, JobTimeoutError, PermanentJobError, RetryableJobError, SnoozeJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { Sluice } from '../src/sluice.js';
import { claimJobs } from '../src/sql/claim.js';
import type { OutcomeEvent } from '../src/worker/drainer.js';
import { sleep, testSluice } from './helpers/db.js';

const nPayload = z.object({ n: z.number() });
const task = (name: string, extra: Omit<JobOptions<typeof nPayload>, 'type' | 'schema'> = {}) =>
  defineJob({ type: name, schema: nPayload, queue: name.replace(/_/g, '-'), backoff: { baseMs: 0, maxMs: 0 }, timeout: 1_000, ...extra });

describe('drain', async () => {
  const { sluice, pool, schema, s } = await testSluice({ maxErrorsKept: 3 });

  it('records success, retries with backoff until maxAttempts, then dead with the error history', async () => {
    const flaky = task('flaky', { maxAttempts: 3 });
    const ok = await sluice.enqueue(flaky, { n: 0 });
    const bad = await sluice.enqueue(flaky, { n: 1 });
    const h = defineHandler(flaky, ({ n }) => {
      if (n === 1) throw Object.assign(new Error('upstream 502'), { code: 'E502' });
    });
    const worker = sluice.worker({ queue: 'flaky', handlers: [h] });
    const s1 = await worker.drain({ remainingTimeMs: 5_000 });
    assert.equal(s1.succeeded, 1);
    assert.equal(s1.moreDue, false, 'nothing was left due');
    assert.ok(s1.retried >= 2 && s1.dead === 1, JSON.stringify(s1));
    assert.equal((await sluice.getJob(ok.id))?.state, 'succeeded');
    const dead = await sluice.getJob(bad.id);
    assert.equal(dead?.state, 'dead');
    assert.equal(dead?.attempt, 3);
    assert.deepEqual(
      dead?.errors.map((e) => [e.attempt, e.name, e.code, e.message]),
      [
        [1, 'Error', 'E502', 'upstream 502'],
        [2, 'Error', 'E502', 'upstream 502'],
        [3, 'Error', 'E502', 'upstream 502'],
      ],
    );
    assert.ok(dead?.finishedAt instanceof Date);
  });

  it('an aborted drain claims no more, releases the unstarted without spending an attempt, and lets running jobs finish', async () => {
    const slow = task('stoppable');
    const jobs = await sluice.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ job: slow, payload: { n } })));
    const started: number[] = [];
    const h = defineHandler(slow, async ({ n }) => {
      started.push(n);
      await sleep(300);
    });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const summary = await sluice.worker({ queue: 'stoppable', handlers: [h], batchSize: 10, concurrency: 2 }).drain({
      remainingTimeMs: 30_000,
      signal: stop.signal,
    });
    assert.deepEqual([summary.claimed, summary.succeeded, summary.released, summary.moreDue], [10, 2, 8, true]);
    assert.equal(started.length, 2, 'no job started after the abort');
    const views = await sluice.getJobs(jobs.map((j) => j.id));
    assert.equal(views.filter((v) => v.state === 'succeeded').length, 2);
    assert.equal(views.filter((v) => v.state === 'available' && v.attempt === 0).length, 18, 'the rest wait, attempts unspent');
  });

  it('spaces retries by the backoff delay on the database clock', async () => {
    const slow = task('slow_retry', { maxAttempts: 5, backoff: { baseMs: 60_000, maxMs: 60_000 } });
    const job = await sluice.enqueue(slow, { n: 1 });
    const h = defineHandler(slow, () => {
      throw new Error('later');
    });
    const s = await sluice.worker({ queue: 'slow-retry', handlers: [h] }).drain({ remainingTimeMs: 2_000 });
    assert.equal(s.retried, 1);
    const view = await sluice.getJob(job.id);
    assert.equal(view?.state, 'scheduled');
    const { rows } = await pool.query(`SELECT extract(epoch FROM run_at - now())::float8 AS s FROM "${schema}".active_jobs WHERE id = $1`, [
      job.id,
    ]);
    assert.ok(rows[0].s > -1 && rows[0].s <= 60, `retry due within the 60 s backoff ceiling, got ${rows[0].s}`);
  });

  it('a PermanentJobError is dead at once; RetryableJobError sets its own delay; errors are bounded', async () => {
    const perm = task('perm', { maxAttempts: 10 });
    const job = await sluice.enqueue(perm, { n: 1 });
    const s = await sluice
      .worker({ queue: 'perm', handlers: [defineHandler(perm, () => Promise.reject(new PermanentJobError('invalid address')))] })
      .drain({ remainingTimeMs: 2_000 });
    assert.deepEqual([s.dead, s.retried], [1, 0]);
    assert.equal((await sluice.getJob(job.id))?.attempt, 1);

    const custom = task('custom_delay', { maxAttempts: 10 });
    const c = await sluice.enqueue(custom, { n: 1 });
    const long = 'x'.repeat(5000);
    let runs = 0;
    const h = defineHandler(custom, () => {
      runs++;
      throw new RetryableJobError(long, { delayMs: runs < 5 ? 0 : 3_600_000 });
    });
    await sluice.worker({ queue: 'custom-delay', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    const view = await sluice.getJob(c.id);
    assert.equal(runs, 5);
    assert.equal(view?.state, 'scheduled');
    assert.equal(view?.errors.length, 3, 'only the latest maxErrorsKept errors are kept');
    assert.deepEqual(
      view?.errors.map((e) => e.attempt),
      [3, 4, 5],
    );
    assert.ok((view?.errors[0]?.message.length ?? 0) <= 2048, 'messages are truncated');
  });

  it('a snooze runs again later without spending an attempt', async () => {
    const limited = task('rate_limited', { maxAttempts: 1 });
    const job = await sluice.enqueue(limited, { n: 1 });
    let runs = 0;
    const h = defineHandler(limited, () => {
      runs++;
      if (runs <= 3) throw new SnoozeJobError(0);
    });
    const worker = sluice.worker({ queue: 'rate-limited', handlers: [h] });
    const drains = [];
    for (let i = 0; i < 4; i++) drains.push(await worker.drain({ remainingTimeMs: 3_000 }));
    assert.deepEqual(
      drains.map((d) => [d.snoozed, d.succeeded]),
      [
        [1, 0],
        [1, 0],
        [1, 0],
        [0, 1],
      ],
      'a snoozed job waits for the next claim: one drain never spins on it',
    );
    assert.equal((await sluice.getJob(job.id))?.state, 'succeeded', 'maxAttempts 1 still succeeds after three snoozes');
  });

  it('a snooze keeps its delay on the database clock', async () => {
    const later = task('snooze_later');
    const job = await sluice.enqueue(later, { n: 1 });
    const h = defineHandler(later, () => Promise.reject(new SnoozeJobError(120_000)));
    await sluice.worker({ queue: 'snooze-later', handlers: [h] }).drain({ remainingTimeMs: 2_000 });
    const view = await sluice.getJob(job.id);
    assert.deepEqual([view?.state, view?.attempt, view?.errors.length], ['scheduled', 0, 0]);
    const { rows } = await pool.query(`SELECT extract(epoch FROM run_at - now())::float8 AS s FROM "${schema}".active_jobs WHERE id = $1`, [
      job.id,
    ]);
    assert.ok(rows[0].s > 110 && rows[0].s <= 120, String(rows[0].s));
  });

  it('a timeout aborts ctx.signal and counts as a retryable failure', async () => {
    const stuck = task('stuck', { timeout: 200, maxAttempts: 2 });
    const job = await sluice.enqueue(stuck, { n: 1 });
    let reason: unknown;
    const h = defineHandler(stuck, (_, ctx) => {
      if (ctx.attempt === 2) return;
      return new Promise<void>((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
          reject(ctx.signal.reason);
        });
      });
    });
    const s = await sluice.worker({ queue: 'stuck', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.ok(reason instanceof JobTimeoutError);
    assert.deepEqual([s.retried, s.succeeded], [1, 1]);
    assert.equal((await sluice.getJob(job.id))?.errors[0]?.name, 'JobTimeoutError');
  });

  it('heartbeats keep a job that outlives its lease; ctx.heartbeat extends it explicitly', async () => {
    const long = task('long_running', { timeout: 3_000 });
    await sluice.enqueue(long, { n: 1 });
    let explicit = false;
    const h = defineHandler(long, async (_, ctx) => {
      await sleep(800);
      await ctx.heartbeat();
      explicit = true;
      await sleep(800);
    });
    const worker = sluice.worker({ queue: 'long-running', handlers: [h], leaseMs: 600, heartbeatMs: 200 });
    const rival = sluice.worker({ queue: 'long-running', handlers: [h], leaseMs: 600 });
    const [s, r] = await Promise.all([
      worker.drain({ remainingTimeMs: 5_000 }),
      sleep(1000).then(() => rival.drain({ remainingTimeMs: 300 })),
    ]);
    assert.ok(explicit);
    assert.equal(s.succeeded, 1);
    assert.equal(s.lostLeases, 0);
    assert.equal(r.claimed, 0, 'the lease never lapsed, so no other worker took the job');
  });

  it('a worker that vanishes mid-job: the job runs again after its lease lapses and completes once', async () => {
    const once = task('vanish');
    const job = await sluice.enqueue(once, { n: 1 });
    await claimJobs(pool, s, { queue: 'vanish', limit: 1, leaseSeconds: 0.5, token: randomUUID() }); // the vanished worker
    let runs = 0;
    const h = defineHandler(once, () => {
      runs++;
    });
    const early = await sluice.worker({ queue: 'vanish', handlers: [h] }).drain({ remainingTimeMs: 200 });
    assert.equal(early.claimed, 0);
    await sleep(600);
    const later = await sluice.worker({ queue: 'vanish', handlers: [h] }).drain({ remainingTimeMs: 2_000 });
    assert.equal(later.succeeded, 1);
    assert.equal(runs, 1);
    const view = await sluice.getJob(job.id);
    assert.deepEqual([view?.state, view?.attempt], ['succeeded', 2]);
  });

  it('a deadline mid-batch releases the unstarted jobs without spending their attempt', async () => {
    const paced = task('paced', { timeout: 400 });
    const ids = (await sluice.enqueueMany(Array.from({ length: 6 }, (_, n) => ({ job: paced, payload: { n } })))).map((j) => j.id);
    const h = defineHandler(paced, () => sleep(300));
    // A fixed batch, so one claim takes all six ('auto' would claim about what fits).
    const s = await sluice
      .worker({ queue: 'paced', handlers: [h], concurrency: 1, reserveMs: 50, batchSize: 10 })
      .drain({ remainingTimeMs: 1_000 });
    assert.equal(s.claimed, 6);
    assert.ok(s.succeeded >= 1 && s.succeeded <= 2, JSON.stringify(s));
    assert.equal(s.released, 6 - s.succeeded);
    assert.equal(s.moreDue, true, 'the drain says work is left for a next invocation');
    assert.ok(s.durationMs <= 1_000, `returned within its budget (${s.durationMs} ms)`);
    const views = await sluice.getJobs(ids);
    const released = views.filter((v) => v.state === 'available');
    assert.equal(released.length, s.released);
    assert.ok(
      released.every((v) => v.attempt === 0),
      'released jobs did not spend an attempt',
    );
  });

  it('never starts a job whose timeout does not fit in the time left', async () => {
    const big = task('big_timeout', { timeout: 60_000 });
    await sluice.enqueue(big, { n: 1 });
    let ran = false;
    const s = await sluice
      .worker({
        queue: 'big-timeout',
        handlers: [
          defineHandler(big, () => {
            ran = true;
          }),
        ],
      })
      .drain({ remainingTimeMs: 5_000 });
    assert.equal(ran, false);
    assert.deepEqual([s.claimed, s.released], [1, 1]);
  });

  it('mixed timeouts in one batch: a long job that does not fit is released, the short ones behind it still run', async () => {
    const long = defineJob({ type: 'mixed_long', schema: nPayload, queue: 'mixed-timeouts', timeout: 60_000, priority: -1 });
    const short = defineJob({ type: 'mixed_short', schema: nPayload, queue: 'mixed-timeouts', timeout: 500 });
    const head = await sluice.enqueue(long, { n: 0 });
    const behind = await sluice.enqueueMany([1, 2, 3].map((n) => ({ job: short, payload: { n } })));
    let longRan = false;
    const ran: number[] = [];
    const s = await sluice
      .worker({
        queue: 'mixed-timeouts',
        handlers: [
          defineHandler(long, () => {
            longRan = true;
          }),
          defineHandler(short, ({ n }) => void ran.push(n)),
        ],
      })
      .drain({ remainingTimeMs: 3_000 });
    assert.equal(longRan, false, 'the long job never started');
    assert.deepEqual(ran.sort(), [1, 2, 3], 'each short job was judged on its own timeout and ran');
    assert.deepEqual([s.claimed, s.succeeded, s.released, s.moreDue], [4, 3, 1, true]);
    const view = await sluice.getJob(head.id);
    assert.deepEqual([view?.state, view?.attempt], ['available', 0], 'the long job waits, its attempt unspent');
    assert.ok((await sluice.getJobs(behind.map((j) => j.id))).every((v) => v.state === 'succeeded'));
  });

  it('ctx.heartbeat() once a page sends no extend of its own: the background heartbeat keeps the lease', async () => {
    const paged = task('paged_report', { timeout: 3_000 });
    await sluice.enqueue(paged, { n: 1 });
    let extendsSent = 0;
    const counting: Queryable = {
      query: (text, values) => {
        if (/^UPDATE \S+\.active_jobs a\s+SET lease_expires_at = /.test(text)) extendsSent++;
        return pool.query(text, values);
      },
    };
    let pages = 0;
    const h = defineHandler(paged, async (_, ctx) => {
      for (; pages < 20; pages++) {
        await sleep(40);
        await ctx.heartbeat();
      }
    });
    const worker = new Sluice({ db: counting, schema }).worker({ queue: 'paged-report', handlers: [h], leaseMs: 600, heartbeatMs: 200 });
    const s = await worker.drain({ remainingTimeMs: 5_000 });
    assert.deepEqual([s.succeeded, s.lostLeases, pages], [1, 0, 20]);
    // ~4 background ticks over ~0.8 s at 200 ms (twice that if every tick ran late), not one extend per page.
    assert.ok(extendsSent >= 1 && extendsSent <= 10, `${extendsSent} extends for 20 ctx.heartbeat() calls`);
  });

  it('cancel: a job not yet running is cancelled at once; a running one sees ctx.signal abort and ends cancelled', async () => {
    const c = task('cancellable', { timeout: 5_000 });
    const waiting = await sluice.enqueue(c, { n: 1 }, { delayMs: 60_000 });
    assert.deepEqual(await sluice.cancel([waiting.id]), { [waiting.id]: 'cancelled' });
    assert.equal((await sluice.getJob(waiting.id))?.state, 'cancelled');

    const running = await sluice.enqueue(c, { n: 2 });
    let started!: () => void;
    const isRunning = new Promise<void>((r) => (started = r));
    let reason: unknown;
    const h = defineHandler(c, (_, ctx) => {
      started();
      return new Promise<void>((_, reject) =>
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
          reject(reason);
        }),
      );
    });
    const drain = sluice.worker({ queue: 'cancellable', handlers: [h], leaseMs: 900, heartbeatMs: 100 }).drain({ remainingTimeMs: 8_000 });
    await isRunning;
    assert.deepEqual(await sluice.cancel([running.id]), { [running.id]: 'cancelling' });
    const s = await drain;
    assert.ok(reason instanceof JobCancelledError);
    assert.equal(s.cancelled, 1);
    assert.equal((await sluice.getJob(running.id))?.state, 'cancelled');
    assert.deepEqual(await sluice.cancel([running.id]), { [running.id]: 'not_cancellable' });
  });

  it('run() works until its signal aborts, wakes on wake(), and leaves nothing claimed', async () => {
    const live = task('live_loop');
    const seen: number[] = [];
    const worker = sluice.worker({
      queue: 'live-loop',
      handlers: [defineHandler(live, ({ n }) => void seen.push(n))],
      pollIntervalMs: 60_000,
    });
    const stop = new AbortController();
    const running = worker.run({ signal: stop.signal });
    await sleep(100);
    await sluice.enqueue(live, { n: 1 });
    worker.wake();
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(20);
    assert.deepEqual(seen, [1], 'woken long before the 60 s poll');
    stop.abort();
    const total = await running;
    assert.equal(total.succeeded, 1);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".active_jobs WHERE queue = 'live-loop'`);
    assert.equal(rows[0].n, 0);
  });

  it('a stored payload that no longer parses goes dead without running the handler', async () => {
    const v1 = task('evolving');
    const job = await sluice.enqueue(v1, { n: 1 });
    const v2 = defineJob({ type: 'evolving', schema: z.object({ n: z.string() }), queue: 'evolving', timeout: 1_000 });
    let ran = false;
    const s = await sluice
      .worker({
        queue: 'evolving',
        handlers: [
          defineHandler(v2, () => {
            ran = true;
          }),
        ],
      })
      .drain({ remainingTimeMs: 2_000 });
    assert.equal(ran, false);
    assert.equal(s.dead, 1);
    assert.match((await sluice.getJob(job.id))?.errors[0]?.message ?? '', /no longer matches/);
  });

  it('onOutcome reports each written outcome with its duration and error, never the payload', async () => {
    const reported = task('reported', { maxAttempts: 2 });
    const jobs = await sluice.enqueueMany([1, 2].map((n) => ({ job: reported, payload: { n } })));
    const events: OutcomeEvent[] = [];
    const h = defineHandler(reported, async ({ n }) => {
      await sleep(30);
      if (n === 2) throw new Error('secret-free failure');
    });
    await sluice.worker({ queue: 'reported', handlers: [h], onOutcome: (e) => void events.push(e) }).drain({ remainingTimeMs: 3_000 });
    const byJob = (id: string) => events.filter((e) => e.jobId === id).map((e) => [e.kind, e.attempt]);
    assert.deepEqual(byJob(jobs[0]!.id), [['success', 1]]);
    assert.deepEqual(byJob(jobs[1]!.id), [
      ['retry', 1],
      ['dead', 2],
    ]);
    assert.ok(events.every((e) => e.type === 'reported' && e.queue === 'reported' && e.maxAttempts === 2));
    assert.ok(
      events.every((e) => (e.durationMs ?? 0) >= 25),
      'durations measure the handler',
    );
    assert.equal(events.find((e) => e.kind === 'dead')?.error?.message, 'secret-free failure');
    assert.ok(!JSON.stringify(events).includes('"n"'), 'no payload in the events');
  });
});
