import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { enqueueItem } from '../src/enqueue.js';
import { defineHandler } from '../src/handler.js';
import { claimJobs } from '../src/sql/claim.js';
import { recordOutcomes } from '../src/sql/outcomes.js';
import { processOrder, sendEmail } from './fixtures/jobs.js';
import { sleep, testSluice } from './helpers/db.js';

describe('claim', async () => {
  const { sluice, pool, schema, s } = await testSluice({ poolSize: 12 });

  it('claims by priority, then due time, and leaves scheduled jobs alone', async () => {
    const made = await sluice.enqueueMany([
      enqueueItem(sendEmail, { userId: 'late-low', template: 'welcome' }, { priority: 5, queue: 'order' }),
      enqueueItem(sendEmail, { userId: 'future', template: 'welcome' }, { priority: -10, queue: 'order', delayMs: 60_000 }),
      enqueueItem(sendEmail, { userId: 'high', template: 'welcome' }, { priority: -3, queue: 'order' }),
      enqueueItem(
        sendEmail,
        { userId: 'mid-old', template: 'welcome' },
        { priority: 0, queue: 'order', runAt: new Date(Date.now() - 10_000) },
      ),
      enqueueItem(sendEmail, { userId: 'mid-new', template: 'welcome' }, { priority: 0, queue: 'order' }),
    ]);
    const rows = await claimJobs(pool, s, { queue: 'order', limit: 10, leaseSeconds: 30, token: randomUUID() });
    assert.deepEqual(
      rows.map((r) => (r.payload as { userId: string }).userId),
      ['high', 'mid-old', 'mid-new', 'late-low'],
    );
    assert.ok(rows.every((r) => r.attempt === 1));
    assert.equal((await sluice.getJob(made[1]!.id))?.state, 'scheduled');
    assert.equal((await sluice.getJob(made[0]!.id))?.state, 'running');
  });

  it('a job whose lease expired is claimed again by the ordinary claim, and the late outcome is fenced', async () => {
    const job = await sluice.enqueue(processOrder, { orderId: 77 }, { queue: 'rescue' });
    const t1 = randomUUID();
    const [first] = await claimJobs(pool, s, { queue: 'rescue', limit: 1, leaseSeconds: 0.3, token: t1 });
    assert.equal(first?.id, job.id);
    assert.equal(
      (await claimJobs(pool, s, { queue: 'rescue', limit: 1, leaseSeconds: 30, token: randomUUID() })).length,
      0,
      'held while leased',
    );
    await sleep(400);
    const t2 = randomUUID();
    const [second] = await claimJobs(pool, s, { queue: 'rescue', limit: 1, leaseSeconds: 30, token: t2 });
    assert.equal(second?.id, job.id);
    assert.equal(second?.attempt, 2);
    const late = await recordOutcomes(pool, s, [{ id: job.id, token: t1, type: job.type, kind: 'success', delaySeconds: 0, error: null }], {
      maxErrorsKept: 20,
      retentionSeconds: 86_400,
    });
    assert.equal(late.size, 0, 'the first worker lost its lease: its outcome changes nothing');
    assert.equal((await sluice.getJob(job.id))?.state, 'running');
    const ok = await recordOutcomes(pool, s, [{ id: job.id, token: t2, type: job.type, kind: 'success', delaySeconds: 0, error: null }], {
      maxErrorsKept: 20,
      retentionSeconds: 86_400,
    });
    assert.deepEqual([...ok], [job.id]);
    const done = await sluice.getJob(job.id);
    assert.equal(done?.state, 'succeeded');
    assert.equal(done?.attempt, 2);
  });

  it('8 drainers in parallel over 10,000 jobs handle each job, never two at once', async () => {
    const total = 10_000;
    for (let i = 0; i < total; i += 1000) {
      await sluice.enqueueMany(
        Array.from({ length: 1000 }, (_, k) => enqueueItem(processOrder, { orderId: i + k + 1 }, { queue: 'parallel' })),
      );
    }
    const runs = new Map<number, number>();
    const inFlight = new Set<number>();
    let overlaps = 0;
    const handler = defineHandler(processOrder, async ({ orderId }) => {
      if (inFlight.has(orderId)) overlaps++;
      inFlight.add(orderId);
      runs.set(orderId, (runs.get(orderId) ?? 0) + 1);
      await new Promise((r) => setImmediate(r));
      inFlight.delete(orderId);
    });
    const summaries = await Promise.all(
      Array.from({ length: 8 }, () =>
        sluice.worker({ queue: 'parallel', handlers: [handler], batchSize: 50, concurrency: 8 }).drain({ remainingTimeMs: 120_000 }),
      ),
    );
    assert.equal(overlaps, 0);
    assert.equal(runs.size, total);
    assert.ok(
      [...runs.values()].every((n) => n === 1),
      'each job ran exactly once',
    );
    assert.equal(
      summaries.reduce((a, s) => a + s.succeeded, 0),
      total,
    );
    assert.ok(summaries.filter((s) => s.claimed > 0).length >= 2, 'work was shared');
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".active_jobs WHERE queue = 'parallel'`);
    assert.equal(rows[0].n, 0);
  });
});
