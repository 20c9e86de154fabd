import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob, type JobOptions } from '../src/define.js';
import { defineHandler, type Middleware } from '../src/handler.js';
import type { Logger } from '../src/logger.js';
import { chain, loggingMiddleware, metricsMiddleware } from '../src/middleware.js';
import { sleep, testSluice } from './helpers/db.js';

const secretPayload = z.object({ n: z.number(), secret: z.string() });
const task = (name: string, extra: Omit<JobOptions<typeof secretPayload>, 'type' | 'schema'> = {}) =>
  defineJob({
    type: name,
    schema: secretPayload,
    queue: name.replace(/_/g, '-'),
    backoff: { baseMs: 0, maxMs: 0 },
    timeout: 1_000,
    ...extra,
  });

const DRAIN = { remainingTimeMs: 3_000 };

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  [field: string]: unknown;
}

/** A logger that keeps every line as its JSON text, the way a JSON log shipper would see it. */
function captureLogger(): { logger: Logger; lines: Line[]; json: string[] } {
  const json: string[] = [];
  const lines: Line[] = [];
  const at = (level: Line['level']) => (message: string, fields?: Record<string, unknown>) => {
    const text = JSON.stringify({ level, message, ...fields });
    json.push(text);
    lines.push(JSON.parse(text) as Line);
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines, json };
}

describe('middleware', async () => {
  const { sluice } = await testSluice();

  it('chain(a, b)(handler) runs a outermost, then b, then the handler', async () => {
    const t = task('mw_order');
    const job = await sluice.enqueue(t, { n: 1, secret: 's' });
    const order: string[] = [];
    const record =
      (name: string): Middleware =>
      (next) =>
      async (payload, ctx) => {
        order.push(`${name}:before:${ctx.id}`);
        await next(payload, ctx);
        order.push(`${name}:after`);
      };
    const h = defineHandler(
      t,
      chain(
        record('a'),
        record('b'),
      )(async ({ n }) => {
        await sleep(5);
        order.push(`handler:${n}`);
      }),
    );
    const s = await sluice.worker({ queue: 'mw-order', handlers: [h] }).drain(DRAIN);
    assert.equal(s.succeeded, 1);
    assert.deepEqual(order, [`a:before:${job.id}`, `b:before:${job.id}`, 'handler:1', 'b:after', 'a:after']);
  });

  it('a middleware that throws instead of calling next fails the attempt like a handler would', async () => {
    const t = task('mw_gate', { maxAttempts: 1 });
    const job = await sluice.enqueue(t, { n: 1, secret: 's' });
    let handlerRan = false;
    const gate: Middleware = () => () => {
      throw new Error('gate closed');
    };
    const h = defineHandler(
      t,
      chain(gate)(() => {
        handlerRan = true;
      }),
    );
    const s = await sluice.worker({ queue: 'mw-gate', handlers: [h] }).drain(DRAIN);
    assert.equal(s.dead, 1);
    assert.equal(handlerRan, false);
    assert.equal((await sluice.getJob(job.id))?.errors[0]?.message, 'gate closed');
  });

  it('metricsMiddleware reports start and completion with the type and a duration, and failures, rethrowing them', async () => {
    const t = task('mw_metrics', { maxAttempts: 3 });
    const job = await sluice.enqueue(t, { n: 1, secret: 's' });
    const events: Array<{ event: string; type: string; ms?: number; error?: unknown; attempt: number; id: string }> = [];
    const metrics = metricsMiddleware({
      onJobStarted: (type, ctx) => void events.push({ event: 'started', type, attempt: ctx.attempt, id: ctx.id }),
      onJobCompleted: (type, ms, ctx) => void events.push({ event: 'completed', type, ms, attempt: ctx.attempt, id: ctx.id }),
      onJobFailed: (type, ms, error, ctx) => void events.push({ event: 'failed', type, ms, error, attempt: ctx.attempt, id: ctx.id }),
    });
    const failure = new Error('first attempt fails');
    const handlerMs: number[] = [];
    const h = defineHandler(
      t,
      chain(metrics)(async (_, ctx) => {
        const t0 = performance.now();
        await sleep(40);
        handlerMs.push(performance.now() - t0);
        if (ctx.attempt === 1) throw failure;
      }),
    );
    const drainStart = performance.now();
    const s = await sluice.worker({ queue: 'mw-metrics', handlers: [h] }).drain(DRAIN);
    const drainMs = performance.now() - drainStart;
    assert.deepEqual([s.retried, s.succeeded], [1, 1], 'the failure was rethrown, so the job was retried');
    assert.deepEqual(
      events.map((e) => [e.event, e.type, e.attempt, e.id]),
      [
        ['started', 'mw_metrics', 1, job.id],
        ['failed', 'mw_metrics', 1, job.id],
        ['started', 'mw_metrics', 2, job.id],
        ['completed', 'mw_metrics', 2, job.id],
      ],
    );
    assert.equal(events[1]?.error, failure, 'onJobFailed gets the error the handler threw');
    const ended = events.filter((x) => x.event !== 'started');
    ended.forEach((e, i) => {
      const inner = handlerMs[i] as number;
      assert.ok(
        typeof e.ms === 'number' && e.ms >= inner && e.ms <= drainMs,
        `duration ${e.ms} ms: at least the handler's ${inner} ms, within the drain's ${drainMs} ms`,
      );
    });
    const view = await sluice.getJob(job.id);
    assert.deepEqual([view?.state, view?.errors[0]?.message], ['succeeded', 'first attempt fails']);
  });

  it('a throwing metrics callback changes no outcome: successes succeed, failures keep their own error', async () => {
    const t = task('mw_metrics_throw', { maxAttempts: 2 });
    const ok = await sluice.enqueue(t, { n: 1, secret: 's' });
    const flaky = await sluice.enqueue(t, { n: 2, secret: 's' });
    let calls = 0;
    const boom = () => {
      calls++;
      throw new Error('metrics backend down');
    };
    const h = defineHandler(
      t,
      chain(metricsMiddleware({ onJobStarted: boom, onJobCompleted: boom, onJobFailed: boom }))(({ n }, ctx) => {
        if (n === 2 && ctx.attempt === 1) throw new Error('handler error');
      }),
    );
    const s = await sluice.worker({ queue: 'mw-metrics-throw', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.succeeded, s.retried, s.dead], [2, 1, 0], JSON.stringify(s));
    assert.equal(calls, 6, 'every callback was called and threw: 3 started, 2 completed, 1 failed');
    assert.equal((await sluice.getJob(ok.id))?.state, 'succeeded');
    const view = await sluice.getJob(flaky.id);
    assert.equal(view?.state, 'succeeded');
    assert.deepEqual(
      view?.errors.map((e) => e.message),
      ['handler error'],
      "the recorded failure is the handler's, not the callback's",
    );
  });

  it('loggingMiddleware lines carry job_id, job_type and attempt, and never the payload', async () => {
    const t = task('mw_logging', { maxAttempts: 3 });
    const secret = 'hunter2-do-not-log-4f1c9';
    const job = await sluice.enqueue(t, { n: 1, secret });
    const { logger, lines, json } = captureLogger();
    const h = defineHandler(
      t,
      chain(loggingMiddleware(logger))(({ secret: s }, ctx) => {
        assert.equal(s, secret, 'the handler does get the payload');
        if (ctx.attempt === 1) throw new Error('first try fails');
      }),
    );
    const s = await sluice.worker({ queue: 'mw-logging', handlers: [h] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.succeeded], [1, 1]);

    assert.deepEqual(
      lines.map((l) => [l.level, l.message, l.job_id, l.job_type, l.attempt]),
      [
        ['info', 'job started', job.id, 'mw_logging', 1],
        ['warn', 'job failed', job.id, 'mw_logging', 1],
        ['info', 'job started', job.id, 'mw_logging', 2],
        ['info', 'job succeeded', job.id, 'mw_logging', 2],
      ],
    );
    assert.equal(lines[1]?.queue, 'mw-logging');
    assert.deepEqual(lines[1]?.error, { name: 'Error', message: 'first try fails' });
    assert.ok(
      lines.slice(1).every((l) => l.message === 'job started' || typeof l.duration_ms === 'number'),
      'end lines carry a duration',
    );
    for (const text of json) {
      assert.ok(!text.includes(secret), `a log line carries the payload: ${text}`);
      assert.ok(!text.includes('"payload"'), `a log line has a payload field: ${text}`);
    }
  });

  it("the worker's own logger: failed-attempt lines carry job_id, job_type and attempt, and no payload", async () => {
    const t = task('mw_worker_log', { maxAttempts: 2 });
    const secret = 'sk_live_never_in_logs_77aa';
    const job = await sluice.enqueue(t, { n: 1, secret });
    const { logger, lines, json } = captureLogger();
    const mw = captureLogger();
    const h = defineHandler(
      t,
      chain(loggingMiddleware(mw.logger))((_, ctx) => {
        ctx.logger.info('inside the handler', { step: 'x' });
        throw Object.assign(new Error('still broken'), { code: 'E_BROKEN' });
      }),
    );
    const s = await sluice.worker({ queue: 'mw-worker-log', handlers: [h], logger }).drain(DRAIN);
    assert.deepEqual([s.retried, s.dead], [1, 1]);

    const failed = lines.filter((l) => l.message.startsWith('job attempt failed'));
    assert.deepEqual(
      failed.map((l) => [l.level, l.message, l.job_id, l.job_type, l.attempt]),
      [
        ['warn', 'job attempt failed: retry', job.id, 'mw_worker_log', 1],
        ['error', 'job attempt failed: dead', job.id, 'mw_worker_log', 2],
      ],
    );
    for (const l of failed) assert.deepEqual(l.error, { name: 'Error', code: 'E_BROKEN', message: 'still broken' });

    const inside = lines.filter((l) => l.message === 'inside the handler');
    assert.deepEqual(
      inside.map((l) => [l.job_id, l.job_type, l.attempt, l.step]),
      [
        [job.id, 'mw_worker_log', 1, 'x'],
        [job.id, 'mw_worker_log', 2, 'x'],
      ],
      'ctx.logger writes to the worker logger with the job fields bound',
    );
    assert.equal(mw.lines.length, 4, 'the middleware logger got its own start and failure lines');
    for (const text of [...json, ...mw.json]) assert.ok(!text.includes(secret), `a log line carries the payload: ${text}`);
  });

  it('an async metrics callback that rejects neither fails the job nor crashes the process', async () => {
    const t = defineJob({ type: 'async_metrics', schema: z.object({ n: z.number() }), queue: 'async-metrics', timeout: 1_000 });
    const job = await sluice.enqueue(t, { n: 1 });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const mw = metricsMiddleware({
        onJobStarted: async () => {
          throw new Error('metrics backend down');
        },
        onJobCompleted: () => Promise.reject(new Error('metrics backend down')),
      });
      const s = await sluice
        .worker({
          queue: 'async-metrics',
          handlers: [
            defineHandler(
              t,
              chain(mw)(() => {}),
            ),
          ],
        })
        .drain({ remainingTimeMs: 2_000 });
      await new Promise((r) => setImmediate(r));
      assert.equal(s.succeeded, 1);
      assert.deepEqual(unhandled, []);
      assert.equal((await sluice.getJob(job.id))?.state, 'succeeded');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
