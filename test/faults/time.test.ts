/**
 * Fault suite: time. Proves that a job never starts before its due time and that the database clock is the only
 * clock deciding it:
 * (a) a few hundred jobs enqueued with delayMs or runAt at offsets spread over 0–3 s and drained continuously by
 *     run(): at handler start the database's clock_timestamp() is never earlier than the job's stored run_at; a
 *     delay is stored as run_at − created_at exactly, on the database clock; a runAt is stored as given;
 * (b) the Node process's clock is irrelevant: with Date mocked ten years ahead a 2 s delay and an absolute runAt
 *     are still honoured, a runAt of Node's "now" stays scheduled, and leases are counted on the database clock;
 *     with Date mocked ten years back due jobs still run at once;
 * (c) with Date mocked ten years ahead, a retry's delay (its own or the backoff's) and a snooze are counted on the
 *     database clock from when the outcome is written, and the job does not run again before it. (test/drain.test.ts
 *     checks the same delays with an honest Node clock, where both clocks agree; here they disagree by years.)
 * Timings are reported, never asserted: every assertion compares database timestamps with each other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineHandler } from '../../src/handler.js';
import { defineJob, type JobContext, RetryableJobError, SnoozeJobError } from '../../src/index.js';
import { sleep, testSluice } from '../helpers/db.js';

const YEARS_10 = 10 * 365 * 86_400_000;
const payload = z.object({ n: z.number() });
const job = (queue: string, extra: { maxAttempts?: number; backoff?: { baseMs: number; maxMs: number } } = {}) =>
  defineJob({ type: queue.replace(/-/g, '_'), schema: payload, queue, timeout: 10_000, ...extra });

/** One handler start, as the database saw it. */
interface Start {
  attempt: number;
  /** clock_timestamp() at handler start minus the row's run_at, in ms (database clock only). */
  lateMs: number;
  /** lease_expires_at minus clock_timestamp() at handler start, in ms. */
  leaseLeftMs: number;
  /** run_at (epoch ms) of this start, and run_at minus the time of the latest error in the history (null: none). */
  runAtMs: number;
  afterErrorMs: number | null;
}

describe('time: the database clock decides when a job runs', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice({ poolSize: 8 });
  const starts = new Map<string, Start[]>();
  const figures: number[] = [];

  /** Record this start on the database clock; call first thing in a handler. */
  async function stamp(ctx: JobContext): Promise<Start> {
    const { rows } = await pool.query(
      `SELECT (extract(epoch FROM clock_timestamp() - a.run_at) * 1000)::float8 AS late,
              (extract(epoch FROM a.lease_expires_at - clock_timestamp()) * 1000)::float8 AS lease,
              (extract(epoch FROM a.run_at) * 1000)::float8 AS run_at,
              (extract(epoch FROM a.run_at - (j.errors->-1->>'at')::timestamptz) * 1000)::float8 AS after_error
       FROM "${schema}".active_jobs a JOIN "${schema}".jobs j USING (id) WHERE a.id = $1`,
      [ctx.id],
    );
    const [r] = rows;
    const s: Start = { attempt: ctx.attempt, lateMs: r.late, leaseLeftMs: r.lease, runAtMs: r.run_at, afterErrorMs: r.after_error };
    starts.set(ctx.id, [...(starts.get(ctx.id) ?? []), s]);
    figures.push(s.lateMs);
    return s;
  }

  /** Wait (on the monotonic clock: Date may be mocked) until `done()`, at most `limitMs`. */
  async function until(done: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<void> {
    const end = performance.now() + limitMs;
    while (!(await done())) {
      assert.ok(performance.now() < end, `gave up waiting ${limitMs} ms for ${what}`);
      await sleep(25);
    }
  }

  /** Run a worker until `fn` resolves, then stop it and wait for it. */
  async function withWorker<T>(w: ReturnType<typeof sluice.worker>, fn: () => Promise<T>): Promise<T> {
    const stop = new AbortController();
    const running = w.run({ signal: stop.signal });
    try {
      return await fn();
    } finally {
      stop.abort();
      await running;
    }
  }

  const dbMs = async (sql: string, params: unknown[] = []) => Number((await pool.query(`SELECT (${sql})::float8 AS v`, params)).rows[0].v);

  it('(a) a few hundred jobs due over 0–3 s, drained continuously: none starts before its run_at on the database clock', async (t) => {
    const def = job('time-spread');
    const worker = sluice.worker({
      queue: 'time-spread',
      handlers: [defineHandler(def, async (_p, ctx) => void (await stamp(ctx)))],
      pollIntervalMs: 50,
      concurrency: 10,
      batchSize: 20,
    });
    const N = 300;
    const ids: string[] = [];
    await withWorker(worker, async () => {
      for (let wave = 0; wave < 6; wave++) {
        const items = Array.from({ length: N / 6 }, (_, k) => {
          const n = wave * (N / 6) + k;
          const offset = (n * 7919) % 3001; // 0..3000 ms, spread
          // Half by delay (database clock), half by an absolute runAt from this process's clock (some in the past).
          const options = n % 2 === 0 ? { delayMs: offset } : { runAt: new Date(Date.now() + offset - 500) };
          return { job: def, payload: { n }, options };
        });
        const enqueued = await sluice.enqueueMany(items);
        enqueued.forEach((e, k) => {
          const given = (items[k]?.options as { runAt?: Date } | undefined)?.runAt;
          if (given) assert.equal(e.runAt.getTime(), given.getTime(), 'runAt stored as given');
        });
        ids.push(...enqueued.map((e) => e.id));
        worker.wake();
        await sleep(400);
      }
      // A delay is measured on the database clock: run_at − created_at is the delay, to the microsecond.
      const { rows } = await pool.query(
        `SELECT payload->>'n' AS n, (extract(epoch FROM run_at - created_at) * 1000)::float8 AS d FROM "${schema}".jobs WHERE id = ANY($1::bigint[])`,
        [ids],
      );
      for (const r of rows)
        if (Number(r.n) % 2 === 0) assert.ok(Math.abs(r.d - ((Number(r.n) * 7919) % 3001)) < 0.001, `job ${r.n}: ${r.d}`);
      await until(() => ids.every((id) => starts.has(id)), 60_000, `${N} jobs to start`);
    });
    const late = ids.flatMap((id) => (starts.get(id) ?? []).map((s) => s.lateMs)).sort((a, b) => a - b);
    assert.equal(late.length >= N, true);
    assert.ok((late[0] as number) >= 0, `a job started ${-(late[0] as number)} ms before its run_at`);
    const views = await sluice.getJobs(ids);
    assert.ok(views.every((v) => v.state === 'succeeded'));
    t.diagnostic(
      `figure: (a) jobs checked=${N}, starts=${late.length}; start − run_at on the database clock: min=${late[0]?.toFixed(3)} ms, median=${late[late.length >> 1]?.toFixed(1)} ms, max=${late.at(-1)?.toFixed(1)} ms`,
    );
  });

  it('(b) Node clock ten years ahead: a 2 s delay and an absolute runAt are honoured on the database clock; Node’s "now" is not due', async (t) => {
    const def = job('time-ahead');
    const worker = sluice.worker({
      queue: 'time-ahead',
      handlers: [defineHandler(def, async (_p, ctx) => void (await stamp(ctx)))],
      pollIntervalMs: 50,
    });
    const dbNow = await dbMs('extract(epoch FROM clock_timestamp()) * 1000');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + YEARS_10 });
    assert.ok(Date.now() - dbNow > YEARS_10 / 2, 'the Node clock is years ahead of the database');
    const at = new Date(Math.round(dbNow) + 1_500); // an absolute runAt, 1.5 s ahead on the database clock
    const [delayed, absolute, nodeNow] = await sluice.enqueueMany([
      { job: def, payload: { n: 1 }, options: { delayMs: 2_000 } },
      { job: def, payload: { n: 2 }, options: { runAt: at } },
      { job: def, payload: { n: 3 }, options: { runAt: new Date() } },
    ]);
    assert.ok(delayed && absolute && nodeNow);
    assert.equal(absolute.runAt.getTime(), at.getTime(), 'runAt stored as given');
    assert.equal(
      await dbMs(`SELECT extract(epoch FROM run_at - created_at) * 1000 FROM "${schema}".jobs WHERE id = $1`, [delayed.id]),
      2_000,
    );
    await withWorker(worker, () => until(() => starts.has(delayed.id) && starts.has(absolute.id), 30_000, 'the due jobs'));
    for (const id of [delayed.id, absolute.id]) {
      const [s] = starts.get(id) ?? [];
      assert.ok(s && s.lateMs >= 0, `job ${id} started ${s?.lateMs} ms after its run_at`);
      assert.ok(s.leaseLeftMs > 0 && s.leaseLeftMs <= 30_000, `lease counted on the database clock: ${s.leaseLeftMs} ms left`);
    }
    assert.equal(starts.has(nodeNow.id), false, 'a runAt of Node’s "now" is ten years away on the database clock');
    assert.equal((await sluice.getJob(nodeNow.id))?.state, 'scheduled');
    t.diagnostic(
      `figure: (b, ahead) start − run_at: delayMs 2000 → ${starts.get(delayed.id)?.[0]?.lateMs.toFixed(1)} ms, runAt → ${starts.get(absolute.id)?.[0]?.lateMs.toFixed(1)} ms`,
    );
  });

  it('(b) Node clock ten years back: due jobs (no delay, or a runAt of Node’s "now") run at once; a 1.5 s delay still waits', async (t) => {
    const def = job('time-behind');
    const worker = sluice.worker({
      queue: 'time-behind',
      handlers: [defineHandler(def, async (_p, ctx) => void (await stamp(ctx)))],
      pollIntervalMs: 50,
    });
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() - YEARS_10 });
    const jobs = await sluice.enqueueMany([
      { job: def, payload: { n: 1 } },
      { job: def, payload: { n: 2 }, options: { runAt: new Date() } },
      { job: def, payload: { n: 3 }, options: { delayMs: 1_500 } },
    ]);
    assert.deepEqual(
      jobs.map((j) => j.state),
      ['available', 'available', 'scheduled'],
    );
    await withWorker(worker, () => until(() => jobs.every((j) => starts.has(j.id)), 30_000, 'all three jobs'));
    const late = jobs.map((j) => starts.get(j.id)?.[0]?.lateMs as number);
    assert.ok(
      late.every((l) => l >= 0),
      `start − run_at: ${late}`,
    );
    assert.ok((late[1] as number) > YEARS_10 / 2, 'the runAt of Node’s "now" was stored as given: ten years overdue');
    t.diagnostic(`figure: (b, behind) start − run_at: due now → ${late[0]?.toFixed(1)} ms, delayMs 1500 → ${late[2]?.toFixed(1)} ms`);
  });

  it('(c) Node clock ten years ahead: retry delays, backoff and snoozes count from the outcome on the database clock', async (t) => {
    const def = job('time-retry', { maxAttempts: 3, backoff: { baseMs: 2_000, maxMs: 2_000 } });
    /** Database clock (epoch ms) when each job's first attempt was about to end. */
    const endedAt = new Map<string, number>();
    const h = defineHandler(def, async ({ n }, ctx) => {
      await stamp(ctx);
      if ((starts.get(ctx.id)?.length ?? 0) > 1) return; // the second run succeeds
      endedAt.set(ctx.id, await dbMs('extract(epoch FROM clock_timestamp()) * 1000'));
      if (n === 1) throw new RetryableJobError('later', { delayMs: 1_500 });
      if (n === 2) throw new Error('backoff');
      throw new SnoozeJobError(1_500);
    });
    const worker = sluice.worker({ queue: 'time-retry', handlers: [h], pollIntervalMs: 50 });
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + YEARS_10 });
    const [own, backoff, snooze] = await sluice.enqueueMany([1, 2, 3].map((n) => ({ job: def, payload: { n } })));
    assert.ok(own && backoff && snooze);
    const second = (id: string) => starts.get(id)?.[1] as Start;
    await withWorker(worker, () => until(() => [own, backoff, snooze].every((j) => second(j.id)), 30_000, 'the second runs'));
    const again = [own, backoff, snooze].map((j) => second(j.id));
    assert.ok(
      again.every((a) => a.lateMs >= 0),
      `second start − its run_at: ${again.map((a) => a.lateMs)}`,
    );
    // A retry is due its delay after its outcome was written: the error's `at` and run_at are one statement's now().
    assert.ok(Math.abs((again[0]?.afterErrorMs as number) - 1_500) < 0.001, `own delay: ${again[0]?.afterErrorMs}`);
    const jitter = again[1]?.afterErrorMs as number;
    assert.ok(jitter >= 0 && jitter <= 2_000, `backoff within its 2 s ceiling: ${jitter}`);
    // A snooze records no error: its run_at is its delay after the outcome, so after the handler's last look.
    const snoozedFor = (again[2]?.runAtMs as number) - (endedAt.get(snooze.id) as number);
    assert.ok(snoozedFor >= 1_500 - 1 && snoozedFor < 1_500 + 60_000, `snooze due ${snoozedFor} ms after the handler ended`);
    assert.deepEqual(
      again.map((a) => a.attempt),
      [2, 2, 1],
      'a retry spends its attempt, a snooze gives it back',
    );
    t.diagnostic(
      `figure: (c) second start − run_at: own delay ${again[0]?.lateMs.toFixed(1)} ms, backoff (drawn ${jitter.toFixed(0)} ms) ${again[1]?.lateMs.toFixed(1)} ms, snooze ${again[2]?.lateMs.toFixed(1)} ms`,
    );
  });

  it('figures: every start seen in this file began at or after its run_at on the database clock', (t) => {
    const sorted = [...figures].sort((a, b) => a - b);
    assert.ok(sorted.length > 300);
    assert.ok((sorted[0] as number) >= 0);
    t.diagnostic(`figure: starts checked=${sorted.length} (jobs=${starts.size}); minimum start − run_at=${sorted[0]?.toFixed(3)} ms`);
  });
});
