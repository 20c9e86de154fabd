import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob, type JobOptions } from '../src/define.js';
import { PermanentJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { testSluice } from './helpers/db.js';

const nPayload = z.object({ n: z.number() });
/** Retries are due at once (backoff 0), so one drain runs every attempt; 1 s attempts fit a 3 s drain. */
const task = (name: string, extra: Omit<JobOptions<typeof nPayload>, 'type' | 'schema'> = {}) =>
  defineJob({ type: name, schema: nPayload, queue: name.replace(/_/g, '-'), backoff: { baseMs: 0, maxMs: 0 }, timeout: 1_000, ...extra });

const DRAIN = { remainingTimeMs: 3_000 };

/** What the dead letter's last error holds when compensations failed. */
interface StoredError {
  name: string;
  message: string;
  attempt: number;
  compensationFailures?: Array<{ step: string; error: { name: string; message: string; code?: string } }>;
  uncompensatedSteps?: string[];
}

describe('durable steps', async () => {
  const { sluice, pool, schema } = await testSluice();

  it('a retry skips completed steps and returns their stored results', async () => {
    const t = task('three_steps', { maxAttempts: 3 });
    const job = await sluice.enqueue(t, { n: 7 });
    const calls = { one: 0, two: 0, three: 0 };
    const seen: Array<{ attempt: number; one: unknown; two?: unknown; three?: unknown }> = [];
    const h = defineHandler(t, async ({ n }, ctx) => {
      const one = await ctx.step('one', () => {
        calls.one++;
        return { token: randomUUID(), n }; // a re-run would produce a different token
      });
      const entry: (typeof seen)[number] = { attempt: ctx.attempt, one };
      seen.push(entry);
      if (ctx.attempt === 1) throw new Error('fails after step 1');
      entry.two = await ctx.step('two', async () => {
        calls.two++;
        return [randomUUID(), `${one.token}:2`];
      });
      if (ctx.attempt === 2) throw new Error('fails after step 2');
      entry.three = await ctx.step('three', () => {
        calls.three++;
        return 3;
      });
    });
    const s = await sluice.worker({ queue: 'three-steps', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.succeeded, s.dead], [2, 1, 0], JSON.stringify(s));
    assert.deepEqual(calls, { one: 1, two: 1, three: 1 }, 'each step ran exactly once across three attempts');
    assert.deepEqual(
      seen.map((e) => e.attempt),
      [1, 2, 3],
    );
    const [a1, a2, a3] = seen as [(typeof seen)[number], (typeof seen)[number], (typeof seen)[number]];
    assert.deepEqual(a1.one, { token: (a1.one as { token: string }).token, n: 7 });
    assert.deepEqual(a2.one, a1.one, "attempt 2 got step one's stored result");
    assert.deepEqual(a3.one, a1.one, "attempt 3 got step one's stored result");
    assert.deepEqual(a3.two, a2.two, "attempt 3 got step two's stored result");
    assert.equal((a2.two as string[])[1], `${(a1.one as { token: string }).token}:2`);
    assert.equal(a3.three, 3);
    const view = await sluice.getJob(job.id);
    assert.deepEqual([view?.state, view?.attempt], ['succeeded', 3]);
  });

  it('step results are stored as JSON: a retry sees the same JSON value the first run returned', async () => {
    const t = task('json_steps', { maxAttempts: 2 });
    await sluice.enqueue(t, { n: 1 });
    const results: unknown[] = [];
    let runs = 0;
    const h = defineHandler(t, async (_, ctx) => {
      results.push(
        await ctx.step('shape', () => {
          runs++;
          return { at: new Date('2024-01-02T03:04:05.000Z'), list: [1, 'two', null], nested: { ok: true } };
        }),
      );
      if (ctx.attempt === 1) throw new Error('again');
    });
    const s = await sluice.worker({ queue: 'json-steps', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.succeeded], [1, 1]);
    assert.equal(runs, 1);
    const expected = { at: '2024-01-02T03:04:05.000Z', list: [1, 'two', null], nested: { ok: true } };
    assert.deepEqual(results, [expected, expected], 'the first run returns the JSON round trip too, so both attempts agree');
  });

  it('a job dead after maxAttempts runs the compensations of completed steps, newest first, with their stored results', async () => {
    const t = task('compensate_exhausted', { maxAttempts: 2 });
    const job = await sluice.enqueue(t, { n: 1 });
    const compensated: Array<[string, unknown, number]> = [];
    const produced: Record<string, unknown> = {};
    const runs: Record<string, number> = {};
    const run = <T>(name: string, value: T): T => {
      runs[name] = (runs[name] ?? 0) + 1;
      produced[name] = value;
      return value;
    };
    let attemptNow = 0;
    const h = defineHandler(t, async (_, ctx) => {
      attemptNow = ctx.attempt;
      const comp = (name: string) => (result: unknown) => void compensated.push([name, result, attemptNow]);
      await ctx.step('reserve', () => run('reserve', { reservation: randomUUID() }), { compensate: comp('reserve') });
      await ctx.step('audit', () => 'no compensation'); // a step without compensate is skipped
      await ctx.step('charge', () => run('charge', { chargeId: randomUUID(), cents: 1250 }), { compensate: comp('charge') });
      if (ctx.attempt === 1) throw new Error('transient after charge');
      await ctx.step('ship', () => run('ship', ['parcel', randomUUID()]), { compensate: comp('ship') });
      throw new Error('carrier down');
    });
    const s = await sluice.worker({ queue: 'compensate-exhausted', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.dead], [1, 1], JSON.stringify(s));
    assert.deepEqual(runs, { reserve: 1, charge: 1, ship: 1 }, 'attempt 2 reused the stored reserve and charge');
    assert.deepEqual(
      compensated,
      [
        ['ship', produced.ship, 2],
        ['charge', produced.charge, 2],
        ['reserve', produced.reserve, 2],
      ],
      'no compensation on the retried attempt; on death all of them, newest first, with the stored results',
    );
    const view = await sluice.getJob(job.id);
    assert.equal(view?.state, 'dead');
    assert.equal(
      (view?.errors.at(-1) as StoredError | undefined)?.compensationFailures,
      undefined,
      'no failures recorded when all succeeded',
    );
  });

  it('a PermanentJobError runs the compensations of the steps completed so far, in reverse order', async () => {
    const t = task('compensate_permanent', { maxAttempts: 5 });
    const job = await sluice.enqueue(t, { n: 1 });
    const compensated: Array<[string, unknown]> = [];
    let stepThreeRan = false;
    const h = defineHandler(t, async (_, ctx) => {
      const a = await ctx.step('a', () => 1, { compensate: (r) => void compensated.push(['a', r]) });
      const b = await ctx.step('b', () => ({ prev: a, v: 'b' }), { compensate: (r) => void compensated.push(['b', r]) });
      if (b.prev === 1) throw new PermanentJobError('card declined');
      await ctx.step('c', () => (stepThreeRan = true), { compensate: () => void compensated.push(['c', null]) });
    });
    const s = await sluice.worker({ queue: 'compensate-permanent', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.dead], [0, 1]);
    assert.equal(stepThreeRan, false);
    assert.deepEqual(compensated, [
      ['b', { prev: 1, v: 'b' }],
      ['a', 1],
    ]);
    const view = await sluice.getJob(job.id);
    assert.deepEqual([view?.state, view?.attempt, view?.errors.at(-1)?.name], ['dead', 1, 'PermanentJobError']);
  });

  it('a failing compensation is recorded under compensationFailures and the others still run', async () => {
    const t = task('compensate_fails', { maxAttempts: 1 });
    const job = await sluice.enqueue(t, { n: 1 });
    const compensated: string[] = [];
    const h = defineHandler(t, async (_, ctx) => {
      await ctx.step('first', () => 1, { compensate: () => void compensated.push('first') });
      await ctx.step('second', () => 2, {
        compensate: () => {
          throw Object.assign(new Error('refund API down'), { code: 'E_REFUND' });
        },
      });
      await ctx.step('third', () => 3, {
        compensate: async () => {
          await Promise.resolve();
          compensated.push('third');
        },
      });
      await ctx.step('fourth', () => 4, { compensate: () => Promise.reject(new TypeError('cannot release')) });
      throw new Error('boom');
    });
    const s = await sluice.worker({ queue: 'compensate-fails', handlers: [h] }).drain(DRAIN);
    assert.equal(s.dead, 1);
    assert.deepEqual(compensated, ['third', 'first'], 'the compensations around the failing ones still ran, newest first');

    const [dead] = await sluice.listDeadLetters({ queue: 'compensate-fails' });
    assert.equal(dead?.id, job.id);
    const last = dead?.errors.at(-1) as StoredError | undefined;
    assert.equal(last?.name, 'Error');
    assert.equal(last?.message, 'boom', 'the attempt error itself is kept');
    assert.equal(last?.attempt, 1);
    assert.deepEqual(last?.compensationFailures, [
      { step: 'fourth', error: { name: 'TypeError', message: 'cannot release' } },
      { step: 'second', error: { name: 'Error', code: 'E_REFUND', message: 'refund API down' } },
    ]);
  });

  it('a redriven dead letter starts its steps afresh (stored results were cleared)', async () => {
    const t = task('steps_redrive', { maxAttempts: 1 });
    const job = await sluice.enqueue(t, { n: 1 });
    let runs = 0;
    let fail = true;
    const h = defineHandler(t, async (_, ctx) => {
      await ctx.step('only', () => ++runs);
      if (fail) throw new Error('first life fails');
    });
    const worker = sluice.worker({ queue: 'steps-redrive', handlers: [h] });
    assert.equal((await worker.drain(DRAIN)).dead, 1);
    const stored = async () =>
      (await pool.query(`SELECT name, result FROM "${schema}".job_steps WHERE job_id = $1`, [job.id])).rows as Array<{
        name: string;
        result: unknown;
      }>;
    assert.deepEqual(await stored(), [{ name: 'only', result: { v: 1 } }]);

    assert.deepEqual(await sluice.redriveDeadLetters({ ids: [job.id] }), [job.id]);
    assert.deepEqual(await stored(), []);
    fail = false;
    assert.equal((await worker.drain(DRAIN)).succeeded, 1);
    assert.equal(runs, 2, 'the step ran again after the redrive');
  });

  it('undefined and null step results come back as they went in', async () => {
    const t = task('step_nothing', { maxAttempts: 2 });
    await sluice.enqueue(t, { n: 1 });
    const seen: unknown[][] = [];
    const h = defineHandler(t, async (_, ctx) => {
      seen.push([await ctx.step('u', () => undefined), await ctx.step('n', () => null)]);
      if (ctx.attempt === 1) throw new Error('again');
    });
    await sluice.worker({ queue: 'step-nothing', handlers: [h] }).drain(DRAIN);
    assert.deepEqual(seen, [
      [undefined, null],
      [undefined, null],
    ]);
  });

  it('a dying attempt that never reached stored steps names them as uncompensated in the dead letter', async () => {
    const t = task('step_not_reached', { maxAttempts: 2 });
    const job = await sluice.enqueue(t, { n: 1 });
    const compensated: string[] = [];
    const h = defineHandler(t, async (_, ctx) => {
      if (ctx.attempt === 2) {
        await ctx.step('a', () => 1, { compensate: () => void compensated.push('a') });
        throw new PermanentJobError('gives up before b and c');
      }
      await ctx.step('a', () => 1);
      await ctx.step('b', () => 2);
      await ctx.step('c', () => 3);
      throw new Error('first attempt fails after c');
    });
    await sluice.worker({ queue: 'step-not-reached', handlers: [h] }).drain(DRAIN);
    assert.deepEqual(compensated, ['a']);
    const last = (await sluice.getJob(job.id))?.errors.at(-1) as StoredError | undefined;
    assert.deepEqual(last?.uncompensatedSteps, ['c', 'b']);
  });

  it('a step still running when the final attempt times out lands within the grace and is compensated', async () => {
    const t = task('step_timeout', { maxAttempts: 1, timeout: 200 });
    await sluice.enqueue(t, { n: 1 });
    const compensated: string[] = [];
    const h = defineHandler(t, async (_, ctx) => {
      await ctx.step('slow', () => new Promise<number>((r) => setTimeout(() => r(1), 400)), {
        compensate: () => void compensated.push('slow'),
      });
    });
    const s = await sluice.worker({ queue: 'step-timeout', handlers: [h] }).drain(DRAIN);
    assert.equal(s.dead, 1);
    assert.deepEqual(compensated, ['slow']);
  });
});
