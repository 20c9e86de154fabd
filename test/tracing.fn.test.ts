/**
 * The worker function's X-Ray spans (issue 16, item 1): a subsegment of the invocation for each attempt, and
 * a segment in the job's own trace, read as the X-Ray daemon would receive them (UDP on loopback).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { Tracer } from '@aws-lambda-powertools/tracer';
import AWSXRay from 'aws-xray-sdk-core';
import { z } from 'zod';
import { EventPublisher } from '../functions/shared/events.js';
import { xrayTracing } from '../functions/shared/tracing.js';
import { createWorker } from '../functions/worker/app.js';
import { defineHandler, defineJob, RetryableJobError, silentLogger } from '../src/index.js';
import { eventBridgeEvent, lambdaContext, recordingMetrics, recordingSink } from './helpers/aws.js';
import { sleep, testSluice } from './helpers/db.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const XRAY_TRACE = '1-4bf92f35-77b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

interface SegmentDoc {
  name: string;
  id: string;
  trace_id: string;
  parent_id?: string;
  error?: boolean;
  annotations?: Record<string, string | number>;
  subsegments?: SegmentDoc[];
}

describe('worker function: X-Ray spans', async () => {
  const { sluice, pool, s } = await testSluice();
  // The daemon: every document the SDK sends, parsed.
  const daemon = createSocket('udp4');
  const received: SegmentDoc[] = [];
  daemon.on('message', (msg) => {
    const [, body] = msg.toString('utf8').split('\n');
    if (body) received.push(JSON.parse(body) as SegmentDoc);
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  AWSXRay.setDaemonAddress(`127.0.0.1:${daemon.address().port}`);
  AWSXRay.setLogger({ debug() {}, info() {}, warn() {}, error() {} });
  after(() => daemon.close());

  // Powertools enables tracing only inside Lambda: pretend, for its constructor only.
  const was = process.env.AWS_EXECUTION_ENV;
  process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs22.x';
  const tracer = new Tracer({ serviceName: 'sluice-test', captureHTTPsRequests: false });
  if (was === undefined) delete process.env.AWS_EXECUTION_ENV;
  else process.env.AWS_EXECUTION_ENV = was;

  it('each attempt is a subsegment of the invocation and, for a sampled trace, a segment under the enqueuer', async () => {
    const schema = z.object({ n: z.number() });
    const job = defineJob({ type: 'xr_job', schema, queue: 'xr', maxAttempts: 3, backoff: { baseMs: 0, maxMs: 0 }, timeout: 2_000 });
    const child = defineJob({ type: 'xr_child', schema, queue: 'xr-children' });
    let tries = 0;
    let inHandler: string | undefined;
    const handler = defineHandler(job, (p, ctx) => {
      if (p.n === 1 && ++tries === 1) throw new RetryableJobError('once more');
      if (p.n === 1) inHandler = AWSXRay.getSegment()?.id;
      return ctx.transaction((tx) => tx.enqueue(child, { n: p.n }));
    });
    const sampled = await sluice.enqueue(job, { n: 1 }, { trace: `00-${TRACE}-${PARENT}-01` });
    const unsampled = await sluice.enqueue(job, { n: 2 }, { trace: `Root=${XRAY_TRACE};Parent=${PARENT};Sampled=0` });
    const bare = await sluice.enqueue(job, { n: 3 });
    const publisher = new EventPublisher({ sink: recordingSink().sink, busName: 'b', source: 'sluice', logger: silentLogger });
    const run = createWorker({
      sluice,
      handlers: [handler],
      publisher,
      metrics: recordingMetrics().metrics,
      logger: silentLogger,
      defaultQueue: 'xr',
      safetyMarginMs: 500,
      maxFanoutGeneration: 0,
      tracing: xrayTracing(tracer),
    });
    // The invocation's segment, as Lambda's would be.
    const invocation = new AWSXRay.Segment('worker-invocation');
    const summary = await AWSXRay.getNamespace().runAndReturn(() => {
      AWSXRay.setSegment(invocation);
      return run(eventBridgeEvent('Scheduled Event', { queue: 'xr' }), lambdaContext(8_000));
    });
    assert.deepEqual([summary.succeeded, summary.retried], [3, 1]);
    invocation.close();
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline && !received.some((d) => d.id === invocation.id)) await sleep(20);

    // In the job's own trace: one segment an attempt of the sampled job, children of the enqueuer.
    const own = received.filter((d) => d.name === 'sluice xr');
    assert.equal(own.length, 2, 'two attempts of the sampled job; the unsampled and the bare job start none');
    for (const d of own) {
      assert.equal(d.trace_id, XRAY_TRACE);
      assert.equal(d.parent_id, PARENT);
      assert.equal(d.annotations?.sluice_job_id, sampled.id);
      assert.equal(d.annotations?.sluice_job_type, 'xr_job');
      assert.equal(d.annotations?.sluice_queue, 'xr');
    }
    const [first, second] = [...own].sort((a, b) => Number(a.annotations?.sluice_attempt) - Number(b.annotations?.sluice_attempt));
    assert.deepEqual([first?.annotations?.sluice_outcome, first?.error], ['retry', true]);
    assert.deepEqual([second?.annotations?.sluice_outcome, second?.error], ['success', undefined]);
    assert.equal(inHandler, second?.id, "the job's segment is current while its handler runs");

    // In the invocation's trace: a subsegment for each of the four attempts, naming the trace each continues.
    const doc = received.find((d) => d.id === invocation.id);
    const subs = (doc?.subsegments ?? []).filter((d) => d.name === '## xr_job');
    assert.equal(subs.length, 4);
    const byJob = (id: string) => subs.filter((d) => d.annotations?.sluice_job_id === id);
    assert.equal(byJob(sampled.id).length, 2);
    assert.equal(byJob(unsampled.id)[0]?.annotations?.sluice_trace_id, XRAY_TRACE);
    assert.equal(byJob(bare.id)[0]?.annotations?.sluice_trace_id, undefined);

    // Follow-ups hang under the attempt that made them: the job's segment, or where the job hung.
    const children = await pool.query(
      `SELECT payload->>'n' AS n, trace FROM ${s}.jobs WHERE type = 'xr_child' ORDER BY (payload->>'n')::int`,
    );
    assert.deepEqual(
      children.rows.map((r) => [r.n, r.trace]),
      [
        ['1', `00-${TRACE}-${second?.id}-01`],
        ['2', `00-${TRACE}-${PARENT}-00`],
        ['3', null],
      ],
    );
  });

  it("records at most maxSubsegments attempts in an invocation's own trace, counted per invocation", () => {
    let current = new AWSXRay.Segment('capped');
    const first = current;
    const tracing = xrayTracing({ isTracingEnabled: () => true, getSegment: () => current }, { maxSubsegments: 2 });
    const info = { jobId: '1', type: 'capped_job', queue: 'q', attempt: 1, maxAttempts: 1, trace: undefined };
    for (let i = 0; i < 5; i++) tracing.start({ ...info, jobId: String(i) })?.end({ outcome: 'success' });
    assert.deepEqual(
      (first.subsegments ?? []).map((x) => x.name),
      ['## capped_job', '## capped_job'],
    );
    current = new AWSXRay.Segment('next invocation');
    tracing.start(info)?.end({ outcome: 'success' });
    assert.equal(current.subsegments?.length, 1, 'the next invocation counts its own');
  });

  it('a disabled tracer (outside Lambda) traces nothing and fails nothing', async () => {
    const off = new Tracer({ serviceName: 'off', captureHTTPsRequests: false });
    assert.equal(off.isTracingEnabled(), false);
    assert.equal(xrayTracing(off).start({ jobId: '1', type: 't', queue: 'q', attempt: 1, maxAttempts: 1, trace: undefined }), undefined);
  });
});
