/** Trace context from enqueue to job (issue 16, item 1): stored with the job, continued by every attempt. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import {
  defineHandler,
  defineJob,
  formatTraceparent,
  formatXrayHeader,
  openTelemetryTracing,
  parseTraceContext,
  RetryableJobError,
  type TraceContext,
  ValidationError,
  xrayTraceId,
} from '../src/index.js';
import { testSluice } from './helpers/db.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;
const schema = z.object({ n: z.number() });
const fast = { maxAttempts: 3, backoff: { baseMs: 0, maxMs: 0 }, timeout: 2_000 } as const;

describe('parseTraceContext', () => {
  it('reads a W3C traceparent and an X-Ray header, and nothing else', () => {
    const want = { traceId: TRACE, parentId: PARENT, sampled: true };
    assert.deepEqual(parseTraceContext(TRACEPARENT), want);
    assert.deepEqual(parseTraceContext(`00-${TRACE}-${PARENT}-00`), { ...want, sampled: false });
    assert.deepEqual(parseTraceContext(`01-${TRACE}-${PARENT}-01-future`), want, 'a later version is read as 00 says');
    assert.deepEqual(parseTraceContext(`Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${PARENT};Sampled=1`), want);
    assert.deepEqual(
      parseTraceContext(`Sampled=0; Lineage=a87bd80c:1|68fd508a:5 ;Parent=${PARENT};Root=1-4bf92f35-77b34da6a3ce929d0e0e4736`),
      { ...want, sampled: false },
      'X-Ray fields in any order, spaces and unknown fields ignored',
    );
    for (const bad of [
      undefined,
      '',
      'nonsense',
      `ff-${TRACE}-${PARENT}-01`, // version ff is invalid
      `00-${TRACE}-${PARENT}-01-extra`, // version 00 has nothing after its flags
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}`,
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Sampled=1', // no parent: nothing to hang under
      'Root=2-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7',
      `Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${PARENT};${'x'.repeat(600)}`,
    ]) {
      assert.equal(parseTraceContext(bad), undefined, String(bad));
    }
    const t = parseTraceContext(TRACEPARENT) as TraceContext;
    assert.equal(formatTraceparent(t), TRACEPARENT);
    assert.equal(xrayTraceId(t), '1-4bf92f35-77b34da6a3ce929d0e0e4736');
    assert.equal(formatXrayHeader(t), `Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${PARENT};Sampled=1`);
  });
});

describe('trace context from enqueue to job', async () => {
  const { sluice, pool, s } = await testSluice({ poolSize: 8 });

  it('is stored with the job (either spelling, as a traceparent), read back by getJob, and refused when malformed', async () => {
    const job = defineJob({ type: 'tr_store', schema, queue: 'tr-store' });
    const a = await sluice.enqueue(job, { n: 1 }, { trace: TRACEPARENT });
    const b = await sluice.enqueue(job, { n: 2 }, { trace: `Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${PARENT};Sampled=0` });
    const [c, d] = await sluice.enqueueMany([
      { job, payload: { n: 3 }, options: { trace: TRACEPARENT } },
      { job, payload: { n: 4 } },
    ]);
    const stored = await pool.query(`SELECT trace FROM ${s}.jobs WHERE type = 'tr_store' ORDER BY jobs.id`);
    assert.deepEqual(
      stored.rows.map((r) => r.trace),
      [TRACEPARENT, `00-${TRACE}-${PARENT}-00`, TRACEPARENT, null],
    );
    assert.equal((await sluice.getJob(a.id))?.traceId, TRACE);
    assert.equal((await sluice.getJob(b.id))?.traceId, TRACE);
    assert.equal((await sluice.getJob(c?.id as string))?.traceId, TRACE);
    assert.equal((await sluice.getJob(d?.id as string))?.traceId, null);
    await assert.rejects(sluice.enqueue(job, { n: 5 }, { trace: 'not-a-trace' }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /trace is a W3C traceparent .* or an X-Ray header/);
      return true;
    });
    await assert.rejects(
      sluice.enqueueMany([
        { job, payload: { n: 6 } },
        { job, payload: { n: 7 }, options: { trace: 'x'.repeat(600) } },
      ]),
      ValidationError,
    );
    const count = await pool.query(`SELECT count(*)::int AS n FROM ${s}.jobs WHERE type = 'tr_store'`);
    assert.equal(count.rows[0].n, 4, 'nothing of a refused enqueue was written');
    // A replace enqueue: the job keeps the trace of the enqueue that replaced it last.
    const other = `00-${'a'.repeat(32)}-${PARENT}-01`;
    const r1 = await sluice.enqueue(job, { n: 8 }, { replaceKey: 'tr-r', delayMs: 60_000, trace: TRACEPARENT });
    const r2 = await sluice.enqueue(job, { n: 9 }, { replaceKey: 'tr-r', delayMs: 60_000, trace: other });
    assert.deepEqual([r2.id, r2.replaced], [r1.id, true]);
    assert.equal((await sluice.getJob(r1.id))?.traceId, 'a'.repeat(32));
  });

  it('reaches the handler on every attempt (retries), for a limited job too, and after a redrive', async () => {
    const job = defineJob({ type: 'tr_retry', schema, queue: 'tr-retry', ...fast, maxAttempts: 2 });
    const limited = defineJob({ type: 'tr_limited', schema, queue: 'tr-retry', ...fast, limits: { concurrency: 2 } });
    const seen: Array<[string, number, string | undefined]> = [];
    const fail = new Set<number>([1]);
    const record = (type: string) => (p: { n: number }, ctx: { attempt: number; trace: TraceContext | undefined }) => {
      seen.push([type, ctx.attempt, ctx.trace && formatTraceparent(ctx.trace)]);
      if (fail.has(p.n)) throw new RetryableJobError('again');
    };
    const handlers = [defineHandler(job, record('plain')), defineHandler(limited, record('limited'))];
    const plainJob = await sluice.enqueue(job, { n: 1 }, { trace: TRACEPARENT });
    await sluice.enqueue(limited, { n: 2 }, { trace: TRACEPARENT });
    await sluice.worker({ queue: 'tr-retry', handlers }).drain({ remainingTimeMs: 5_000 });
    assert.deepEqual(
      seen.sort(),
      [
        ['limited', 1, TRACEPARENT],
        ['plain', 1, TRACEPARENT],
        ['plain', 2, TRACEPARENT],
      ],
      'both attempts of the retried job, and the limited job, continued the trace',
    );
    assert.equal((await sluice.getJob(plainJob.id))?.state, 'dead');
    fail.clear();
    seen.length = 0;
    assert.deepEqual(await sluice.redriveDeadLetters({ ids: [plainJob.id] }), [plainJob.id]);
    await sluice.worker({ queue: 'tr-retry', handlers }).drain({ remainingTimeMs: 5_000 });
    assert.deepEqual(seen, [['plain', 1, TRACEPARENT]], 'the redriven job still continues the trace');
  });

  it('a follow-up enqueued in ctx.transaction continues the trace, under the attempt', async () => {
    const parent = defineJob({ type: 'tr_parent', schema, queue: 'tr-tx', ...fast });
    const child = defineJob({ type: 'tr_child', schema, queue: 'tr-tx', ...fast });
    const own = `00-${TRACE}-1111111111111111-01`;
    const h = defineHandler(parent, (p, ctx) =>
      ctx.transaction(async (tx) => {
        const a = await tx.enqueue(child, { n: p.n });
        const b = await tx.enqueue(child, { n: p.n + 1 }, { trace: own });
        return [a.id, b.id];
      }),
    );
    const { id } = await sluice.enqueue(parent, { n: 1 }, { trace: TRACEPARENT });
    await sluice.worker({ queue: 'tr-tx', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    const [a, b] = ((await sluice.getJob(id))?.result ?? []) as [string, string];
    const traces = await pool.query(`SELECT trace FROM ${s}.jobs WHERE id = ANY($1::bigint[]) ORDER BY jobs.id`, [[a, b]]);
    assert.deepEqual(
      traces.rows.map((r) => r.trace),
      [TRACEPARENT, own],
      'without a tracing the child hangs where its parent did; an explicit trace wins',
    );
  });

  describe('with OpenTelemetry', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const contextManager = new AsyncLocalStorageContextManager().enable();
    otel.trace.setGlobalTracerProvider(provider);
    otel.context.setGlobalContextManager(contextManager);
    after(() => {
      otel.trace.disable();
      otel.context.disable();
    });

    it('each attempt is a consumer span under the enqueuer, current in the handler, parent of the follow-ups', async () => {
      const job = defineJob({ type: 'tr_otel', schema, queue: 'tr-otel', ...fast });
      const child = defineJob({ type: 'tr_otel_child', schema, queue: 'tr-otel-children', ...fast });
      let active: string | undefined;
      let tries = 0;
      const h = defineHandler(job, (p, ctx) => {
        active = otel.trace.getActiveSpan()?.spanContext().spanId;
        if (++tries === 1) throw new RetryableJobError('once more');
        return ctx.transaction((tx) => tx.enqueue(child, { n: p.n }));
      });
      const { id } = await sluice.enqueue(job, { n: 1 }, { trace: TRACEPARENT });
      exporter.reset();
      await sluice.worker({ queue: 'tr-otel', handlers: [h], tracing: openTelemetryTracing(otel) }).drain({ remainingTimeMs: 5_000 });
      const spans = exporter.getFinishedSpans().filter((x) => x.name === 'tr_otel process');
      assert.equal(spans.length, 2, 'one span an attempt');
      for (const span of spans) {
        assert.equal(span.spanContext().traceId, TRACE);
        assert.equal(span.parentSpanContext?.spanId, PARENT, 'a child of the span that enqueued it');
        assert.equal(span.kind, otel.SpanKind.CONSUMER);
        assert.equal(span.attributes['messaging.message.id'], id);
        assert.equal(span.attributes['messaging.destination.name'], 'tr-otel');
        assert.equal(span.attributes['sluice.job.type'], 'tr_otel');
      }
      const [first, second] = [...spans].sort((x, y) => Number(x.attributes['sluice.attempt']) - Number(y.attributes['sluice.attempt']));
      assert.equal(first?.attributes['sluice.outcome'], 'retry');
      assert.equal(first?.status.code, otel.SpanStatusCode.ERROR);
      assert.equal(first?.status.message, 'once more');
      assert.equal(second?.attributes['sluice.outcome'], 'success');
      assert.equal(second?.status.code, otel.SpanStatusCode.UNSET);
      assert.equal(active, second?.spanContext().spanId, "the handler ran with the attempt's span current");
      const follow = (await sluice.getJob(id))?.result as { id: string };
      const stored = await pool.query(`SELECT trace FROM ${s}.jobs WHERE id = $1`, [follow.id]);
      assert.equal(
        stored.rows[0].trace,
        `00-${TRACE}-${second?.spanContext().spanId}-01`,
        'the follow-up hangs under the attempt that made it',
      );
    });

    it('a job enqueued without a trace starts its own; a tracing that throws fails no job', async () => {
      const job = defineJob({ type: 'tr_root', schema, queue: 'tr-root', ...fast });
      await sluice.enqueue(job, { n: 1 });
      exporter.reset();
      await sluice.worker({ queue: 'tr-root', handlers: [defineHandler(job, () => {})], tracing: openTelemetryTracing(otel) }).drain({
        remainingTimeMs: 5_000,
      });
      const [span] = exporter.getFinishedSpans();
      assert.ok(span && span.parentSpanContext === undefined, 'a root span');

      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
      const broken = {
        start: () => ({
          end: () => {},
          run: () => {
            throw new Error('tracer bug');
          },
        }),
      };
      const throwing = {
        start: () => {
          throw new Error('tracer down');
        },
      };
      const { id: x } = await sluice.enqueue(job, { n: 2 });
      const { id: y } = await sluice.enqueue(job, { n: 3 });
      const first = await sluice.worker({ queue: 'tr-root', handlers: [defineHandler(job, () => {})], tracing: throwing, logger }).drain({
        remainingTimeMs: 5_000,
        batchSize: 1,
        concurrency: 1,
      });
      assert.equal(first.succeeded, 2);
      assert.equal(warnings.filter((w) => w.startsWith('tracing failed')).length, 1, 'warned once a drain');
      const { id: z } = await sluice.enqueue(job, { n: 4 });
      const second = await sluice.worker({ queue: 'tr-root', handlers: [defineHandler(job, () => {})], tracing: broken, logger }).drain({
        remainingTimeMs: 5_000,
      });
      assert.equal(second.succeeded, 1, 'a span whose run throws: the attempt runs without it');
      // A run that fails after the attempt it ran: the attempt's own outcome stands, and it ran once.
      let runs = 0;
      const late = {
        start: () => ({
          end: () => {},
          run: async (fn: () => Promise<unknown>) => {
            await fn();
            throw new Error('tracer failed on the way out');
          },
        }),
      };
      const { id: w } = await sluice.enqueue(job, { n: 5 });
      const third = await sluice
        .worker({ queue: 'tr-root', handlers: [defineHandler(job, () => void runs++)], tracing: late as never, logger })
        .drain({ remainingTimeMs: 5_000 });
      assert.deepEqual([third.succeeded, third.retried, runs], [1, 0, 1]);
      for (const id of [x, y, z, w]) assert.equal((await sluice.getJob(id))?.state, 'succeeded');
    });
  });
});
