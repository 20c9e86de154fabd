import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createMaintenance } from '../functions/maintenance/app.js';
import { EventPublisher } from '../functions/shared/events.js';
import { createWorker } from '../functions/worker/app.js';
import { defineHandler, defineJob, PermanentJobError, silentLogger } from '../src/index.js';
import { eventBridgeEvent, lambdaContext, recordingMetrics, recordingSink } from './helpers/aws.js';
import { testSluice } from './helpers/db.js';

const payload = z.object({ n: z.number(), secret: z.string().default('s3cr3t-value') });
const job = (queue: string, timeout = 1_000) =>
  defineJob({
    type: `work_${queue.replace(/-/g, '_')}`,
    schema: payload,
    queue,
    timeout,
    maxAttempts: 2,
    backoff: { baseMs: 0, maxMs: 0 },
  });

describe('drain worker function', async () => {
  const { sluice } = await testSluice();
  const setup = (handlers: Parameters<typeof createWorker>[0]['handlers'], extra: Partial<Parameters<typeof createWorker>[0]> = {}) => {
    const events = recordingSink();
    const m = recordingMetrics();
    const publisher = new EventPublisher({ sink: events.sink, busName: 'sluice-bus', source: 'sluice', logger: silentLogger });
    const run = createWorker({
      sluice,
      handlers,
      publisher,
      metrics: m.metrics,
      logger: silentLogger,
      defaultQueue: 'default',
      queues: ['default', 'sched', 'woken', 'backlog', 'doomed'],
      safetyMarginMs: 500,
      maxFanoutGeneration: 2,
      ...extra,
    });
    return { run, events, m };
  };

  it('a scheduled event drains the queue it names and reports per-job metrics', async () => {
    const def = job('sched');
    await sluice.enqueueMany([1, 2, 3].map((n) => ({ job: def, payload: { n } })));
    const { run, m, events } = setup([defineHandler(def, () => {})]);
    const res = await run(eventBridgeEvent('Scheduled Event', { queue: 'sched' }), lambdaContext(5_000));
    assert.deepEqual([res.queue, res.succeeded, res.moreDue], ['sched', 3, false]);
    assert.equal(m.sum('JobsSucceeded'), 3);
    assert.equal(m.recorded.filter((r) => r.name === 'JobDurationMs').length, 3);
    const claims = m.recorded.filter((r) => r.name === 'ClaimLatencyMs');
    assert.ok(claims.length >= 1, 'a latency sample for each claim');
    assert.ok(claims.every((c) => c.value > 0 && c.value < 5_000 && c.unit === 'Milliseconds'));
    assert.ok(m.recorded.every((r) => r.dimensions.queue === 'sched'));
    assert.equal(m.published(), 2, "one EMF document for the drain, one for its one type's cost");
    assert.deepEqual(events.entries, [], 'no continuation when nothing is left');
  });

  it("splits the invocation's duration over the types it ran: EMF per type, and the database's cost", async () => {
    const slow = defineJob({ type: 'cost_slow', schema: payload, queue: 'costs', timeout: 2_000 });
    const fast = defineJob({ type: 'cost_fast', schema: payload, queue: 'costs', timeout: 2_000 });
    await sluice.enqueueMany(
      [1, 2].flatMap((n) => [
        { job: slow, payload: { n } },
        { job: fast, payload: { n } },
      ]),
    );
    const { run, m } = setup(
      [defineHandler(slow, () => new Promise((r) => setTimeout(r, 60))), defineHandler(fast, () => new Promise((r) => setTimeout(r, 20)))],
      { queues: ['costs'], concurrency: 1 },
    );
    const t0 = performance.now();
    const res = await run(eventBridgeEvent('Scheduled Event', { queue: 'costs' }), lambdaContext(5_000));
    const wall = performance.now() - t0;
    assert.equal(res.succeeded, 4);
    const of = (name: string, type: string) => m.recorded.find((r) => r.name === name && r.dimensions.type === type);
    assert.equal(of('AttributedAttempts', 'cost_slow')?.value, 2);
    assert.equal(of('AttributedAttempts', 'cost_fast')?.value, 2);
    assert.equal(of('AttributedGbSeconds', 'cost_slow')?.dimensions.queue, 'costs');
    const costs = await sluice.costs();
    const slowCost = costs.find((c) => c.type === 'cost_slow');
    const fastCost = costs.find((c) => c.type === 'cost_fast');
    assert.ok(slowCost && fastCost);
    assert.deepEqual([slowCost.attempts, fastCost.attempts], [2, 2]);
    // 256 MB: a quarter GB. The two shares add up to the invocation's time, and split about 3 to 1.
    const total = (slowCost.gbSeconds + fastCost.gbSeconds) * 4 * 1000;
    assert.ok(total > 160 && total <= wall + 1, `${total.toFixed(1)} ms attributed of ${wall.toFixed(1)} ms`);
    const ratio = slowCost.gbSeconds / fastCost.gbSeconds;
    assert.ok(ratio > 1.8 && ratio < 4, `slow/fast ${ratio.toFixed(2)}`);
    assert.equal(of('AttributedGbSeconds', 'cost_slow')?.value, slowCost.gbSeconds);
  });

  it('follow-ups that ctx.transaction committed wake their queue; a rolled-back one wakes nothing', async () => {
    const parent = defineJob({ type: 'tx_parent', schema: payload, queue: 'tx-wake', timeout: 2_000, maxAttempts: 1 });
    const child = defineJob({ type: 'tx_child', schema: payload, queue: 'tx-kids' });
    await sluice.enqueueMany([1, 2].map((n) => ({ job: parent, payload: { n } })));
    const { run, events } = setup(
      [
        defineHandler(parent, (p, ctx) =>
          ctx.transaction(async (tx) => {
            await tx.enqueue(child, { n: p.n });
            if (p.n === 2) throw new PermanentJobError('rolled back with its follow-up');
          }),
        ),
      ],
      { queues: ['tx-wake'] },
    );
    const res = await run(eventBridgeEvent('Scheduled Event', { queue: 'tx-wake' }), lambdaContext(5_000));
    assert.deepEqual([res.succeeded, res.dead], [1, 1]);
    assert.deepEqual(events.details('JobsEnqueued'), [{ queue: 'tx-kids', count: 1 }], 'one wake-up, for the committed follow-up only');
  });

  it('a scheduled event that names no queue drains the function default queue', async () => {
    const def = job('default');
    await sluice.enqueue(def, { n: 1 });
    const { run } = setup([defineHandler(def, () => {})]);
    const res = await run(eventBridgeEvent('Scheduled Event', {}), lambdaContext(5_000));
    assert.deepEqual([res.queue, res.succeeded], ['default', 1]);
  });

  it('JobsEnqueued wakes the worker for its queue', async () => {
    const def = job('woken');
    await sluice.enqueue(def, { n: 1 });
    const { run } = setup([defineHandler(def, () => {})]);
    const res = await run(eventBridgeEvent('JobsEnqueued', { queue: 'woken', count: 1 }), lambdaContext(5_000));
    assert.deepEqual([res.queue, res.succeeded], ['woken', 1]);
  });

  it('time running out with work still due publishes DrainRequested, doubling up to the bound', async () => {
    const def = job('backlog', 300);
    await sluice.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ job: def, payload: { n } })));
    const slow = defineHandler(def, () => new Promise((r) => setTimeout(r, 150)));
    const first = setup([slow], { concurrency: 1 });
    const r1 = await first.run(eventBridgeEvent('DrainRequested', { queue: 'backlog', generation: 1 }), lambdaContext(1_200));
    assert.equal(r1.moreDue, true);
    assert.ok(r1.succeeded >= 1 && r1.released >= 1, JSON.stringify(r1));
    assert.deepEqual(first.events.details('DrainRequested'), [
      { queue: 'backlog', generation: 2 },
      { queue: 'backlog', generation: 2 },
    ]);
    const atBound = setup([slow], { concurrency: 1 });
    await atBound.run(eventBridgeEvent('DrainRequested', { queue: 'backlog', generation: 2 }), lambdaContext(1_200));
    assert.deepEqual(
      atBound.events.details('DrainRequested'),
      [{ queue: 'backlog', generation: 3 }],
      'past the bound each chain continues alone',
    );
  });

  it('a wake-up that runs out of time continues alone; generations stop counting at the bound', async () => {
    const def = job('woken-backlog', 300);
    await sluice.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ job: def, payload: { n } })));
    const slow = defineHandler(def, () => new Promise((r) => setTimeout(r, 150)));
    const w = setup([slow], { concurrency: 1, queues: ['woken-backlog'] });
    await w.run(eventBridgeEvent('JobsEnqueued', { queue: 'woken-backlog', count: 10 }), lambdaContext(1_200));
    assert.deepEqual(w.events.details('DrainRequested'), [{ queue: 'woken-backlog', generation: 1 }]);
    const late = setup([slow], { concurrency: 1, queues: ['woken-backlog'] });
    await late.run(eventBridgeEvent('DrainRequested', { queue: 'woken-backlog', generation: 1000 }), lambdaContext(1_200));
    assert.deepEqual(late.events.details('DrainRequested'), [{ queue: 'woken-backlog', generation: 1000 }]);
  });

  it('a job whose timeout never fits the budget is released without a continuation chain, and says why', async () => {
    const def = job('too-long', 30_000);
    const stuck = await sluice.enqueue(def, { n: 1 });
    const lines: string[] = [];
    const logger = { ...silentLogger, error: (m: string) => void lines.push(m) };
    const w = setup([defineHandler(def, () => {})], { queues: ['too-long'], logger });
    const res = await w.run(eventBridgeEvent('DrainRequested', { queue: 'too-long', generation: 0 }), lambdaContext(5_000));
    assert.deepEqual([res.claimed, res.released, res.moreDue], [1, 1, true]);
    assert.deepEqual(w.events.details('DrainRequested'), [], 'no continuation: nothing could start');
    assert.ok(lines.some((l) => /job timeout longer than the worker timeout/.test(l)));
    const view = await sluice.getJob(stuck.id);
    assert.deepEqual([view?.state, view?.attempt], ['available', 0]);
  });

  it('a budget of nothing (timeout not above the margin) drains nothing, continues nothing, and says why', async () => {
    const lines: string[] = [];
    const w = setup([], { logger: { ...silentLogger, error: (m: string) => void lines.push(m) } });
    const res = await w.run(eventBridgeEvent('Scheduled Event', {}), lambdaContext(400));
    assert.equal(res.claimed, 0);
    assert.deepEqual(w.events.entries, []);
    assert.ok(lines.some((l) => /must exceed DRAIN_SAFETY_MARGIN_MS/.test(l)));
  });

  it('a job going dead publishes JobDeadLettered without its payload, and counts the metrics', async () => {
    const def = job('doomed');
    const dead = await sluice.enqueue(def, { n: 1 });
    const { run, events, m } = setup([defineHandler(def, () => Promise.reject(new PermanentJobError(`bad input ${'x'.repeat(3000)}`)))]);
    await run(eventBridgeEvent('JobsEnqueued', { queue: 'doomed', count: 1 }), lambdaContext(5_000));
    const [detail] = events.details('JobDeadLettered');
    assert.equal(detail.jobId, dead.id);
    assert.deepEqual([detail.type, detail.queue, detail.attempts], ['work_doomed', 'doomed', 1]);
    assert.match(detail.lastError, /^PermanentJobError: bad input x+/);
    assert.ok(detail.lastError.length <= 1024, 'the error is truncated');
    assert.ok(!JSON.stringify(events.entries).includes('s3cr3t-value'), 'no payload in events');
    assert.deepEqual([m.sum('JobsDeadLettered'), m.sum('JobsFailed')], [1, 1]);
  });

  it('an event naming a queue this function does not drain is refused, not drained', async () => {
    const def = job('elsewhere');
    const other = await sluice.enqueue(def, { n: 1 });
    const { run } = setup([defineHandler(def, () => {})]);
    await assert.rejects(run(eventBridgeEvent('JobsEnqueued', { queue: 'elsewhere', count: 1 }), lambdaContext(5_000)), /not elsewhere/);
    assert.equal((await sluice.getJob(other.id))?.state, 'available');
  });

  it('an event it does not understand fails clearly', async () => {
    const { run } = setup([]);
    await assert.rejects(
      run(eventBridgeEvent('JobsEnqueued', { queue: 'Bad Queue!', count: 1 }), lambdaContext(5_000)),
      /unsupported worker event: detail.queue/,
    );
    await assert.rejects(run(eventBridgeEvent('Something Else', {}), lambdaContext(5_000)), /unsupported worker event/);
  });
});

describe('maintenance function', async () => {
  const { sluice, pool, schema } = await testSluice({ idempotencyWindowMs: 60_000, retentionMs: 60_000 });

  it('prunes, then publishes QueueDepth, OldestJobAgeSeconds and DeadLetterCount per queue', async () => {
    const a = job('maint-a');
    const done = await sluice.enqueue(a, { n: 1 });
    await pool.query(`DELETE FROM "${schema}".active_jobs WHERE id = $1`, [done.id]); // succeeded
    await pool.query(
      `UPDATE "${schema}".jobs SET created_at = now() - interval '2 hours', run_at = now() - interval '2 hours' WHERE id = $1`,
      [done.id],
    );
    await sluice.enqueueMany([1, 2].map((n) => ({ job: a, payload: { n }, options: { runAt: new Date(Date.now() - 5_000) } })));
    const b = job('maint-b');
    const doomed = await sluice.enqueue(b, { n: 1 });
    await sluice
      .worker({ queue: 'maint-b', handlers: [defineHandler(b, () => Promise.reject(new PermanentJobError('x')))] })
      .drain({ remainingTimeMs: 2_000 });
    assert.equal((await sluice.getJob(doomed.id))?.state, 'dead');
    const m = recordingMetrics();
    const res = await createMaintenance({ sluice, metrics: m.metrics, logger: silentLogger, maxPruneBatches: 10 })();
    assert.equal(res.pruned, 1);
    const of = (queue: string, name: string) => m.recorded.find((r) => r.dimensions.queue === queue && r.name === name)?.value;
    assert.equal(of('maint-a', 'QueueDepth'), 2);
    assert.ok((of('maint-a', 'OldestJobAgeSeconds') ?? 0) >= 4);
    assert.equal(of('maint-a', 'DeadLetterCount'), 0);
    assert.equal(of('maint-b', 'DeadLetterCount'), 1);
    assert.equal(m.published(), 3, 'one EMF document per queue, and one of the database health');
    // The health metrics carry no queue dimension: they are the database's.
    const health = m.recorded.filter((r) => r.dimensions.queue === undefined);
    assert.deepEqual(health.map((r) => r.name).sort(), [
      'ConnectionsUsedPercent',
      'DatabaseConnections',
      'LiveTableDeadRows',
      'LiveTableRowsPerJob',
      'OldestTransactionAgeSeconds',
      'SecondsSinceVacuum',
      'XminHorizonAgeXids',
    ]);
    const pct = health.find((r) => r.name === 'ConnectionsUsedPercent');
    assert.ok(pct && pct.unit === 'Percent' && pct.value > 0 && pct.value <= 100);
    assert.equal(res.health?.liveJobs, 2, "maint-a's two ready jobs (a dead letter is not live)");
  });

  it('maintenance goes on when the health reading fails: the prune and the queue metrics stand', async () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (msg: string) => warnings.push(msg) };
    const broken = {
      prune: (o: Parameters<typeof sluice.prune>[0]) => sluice.prune(o),
      compactActivity: () => sluice.compactActivity(),
      stats: () => sluice.stats(),
      health: () => Promise.reject(new Error('permission denied for view pg_stat_activity')),
    } as unknown as typeof sluice;
    const m = recordingMetrics();
    const res = await createMaintenance({ sluice: broken, metrics: m.metrics, logger, maxPruneBatches: 10 })();
    assert.equal(res.health, undefined);
    assert.deepEqual(warnings, ['could not read the database health']);
    assert.ok(
      m.recorded.every((r) => r.dimensions.queue !== undefined),
      'no health metric published',
    );
  });
});

describe('periodic job function', async () => {
  const { sluice } = await testSluice();
  const { createPeriodic } = await import('../functions/periodic/app.js');
  const { JobRegistry } = await import('../src/index.js');
  const { sendEmail } = await import('../examples/definitions.js');

  it('enqueues once per scheduled tick, even when EventBridge delivers the tick twice', async () => {
    const events = recordingSink();
    const run = createPeriodic({
      sluice,
      registry: new JobRegistry([sendEmail]),
      publisher: new EventPublisher({ sink: events.sink, busName: 'bus', source: 'sluice', logger: silentLogger }),
      logger: silentLogger,
    });
    const tick = {
      name: 'daily-digest',
      type: 'send_email',
      payload: { userId: 'ops', to: 'ops@example.com', template: 'receipt' },
      time: '2026-11-24T03:00:00Z',
    };
    const first = await run(tick);
    const again = await run(tick);
    const next = await run({ ...tick, time: '2026-11-25T03:00:00Z' });
    assert.equal(again.id, first.id);
    assert.deepEqual([first.replayed, again.replayed, next.replayed], [false, true, false]);
    assert.notEqual(next.id, first.id);
    assert.equal(first.idempotencyKey, 'periodic:daily-digest:2026-11-24T03:00:00.000Z');
    assert.deepEqual(events.details('JobsEnqueued'), [
      { queue: 'emails', count: 1 },
      { queue: 'emails', count: 1 },
    ]);
    await assert.rejects(run({ ...tick, time: 'yesterday' }), /invalid periodic job event: time/);
    await assert.rejects(run({ ...tick, type: 'nope' }), /unknown job type/);
  });
});
