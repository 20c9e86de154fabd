import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../src/define.js';
import { defineHandler } from '../src/handler.js';
import { silentLogger } from '../src/logger.js';
import { BatchSizer, LOOKAHEAD_MS, MAX_AUTO_BATCH } from '../src/worker/batchSize.js';
import { Drainer } from '../src/worker/drainer.js';
import { postgresStore, type WorkerStore } from '../src/worker/store.js';
import { sleep, testSluice } from './helpers/db.js';

describe('BatchSizer', () => {
  it('a fixed batch size is what it says, whatever the attempts take', () => {
    const s = new BatchSizer(25, 10, 30_000);
    assert.equal(s.target(60_000), 25);
    s.observe(5_000);
    assert.equal(s.target(60_000), 25);
    assert.equal(s.fixed, true);
  });

  it("'auto' fills the free slots before any attempt ends, then claims about a second of work", () => {
    const s = new BatchSizer('auto', 10, 30_000);
    assert.equal(s.fixed, false);
    assert.equal(s.target(60_000), 10, 'nothing seen yet: the slots, no more');
    for (let i = 0; i < 50; i++) s.observe(100);
    assert.equal(s.target(60_000), (10 * LOOKAHEAD_MS) / 100, 'ten slots of 100 ms jobs: 100 in a second');
    for (let i = 0; i < 50; i++) s.observe(0.01);
    assert.equal(s.target(60_000), MAX_AUTO_BATCH, 'fast jobs: the cap');
    for (let i = 0; i < 80; i++) s.observe(20_000);
    assert.equal(s.target(60_000), 10, 'slow jobs: never fewer than the slots');
  });

  it("'auto' is bounded by the time left and by half the lease", () => {
    const s = new BatchSizer('auto', 10, 30_000);
    for (let i = 0; i < 80; i++) s.observe(10);
    assert.equal(s.target(60_000), 1000);
    assert.equal(s.target(200), 200, '200 ms left: 10 slots × 200 ms / 10 ms');
    const shortLease = new BatchSizer('auto', 10, 600);
    for (let i = 0; i < 80; i++) shortLease.observe(10);
    assert.equal(shortLease.target(60_000), 300, 'a 600 ms lease: 300 ms of work');
  });
});

describe("drain with batchSize 'auto'", async () => {
  const { sluice, pool, s } = await testSluice();
  const schema = z.object({ n: z.number() });

  /** A drain of `queue` on a store that notes the size of every claim it sends. */
  function recordingDrain(queue: string, handler: ReturnType<typeof defineHandler>, concurrency: number, remainingMs: number) {
    const store = postgresStore({ db: pool, s, settings: sluice.settings });
    const limits: number[] = [];
    const counting: WorkerStore = {
      ...store,
      claim: (args) => {
        limits.push(args.limit);
        return store.claim(args);
      },
    };
    const drainer = new Drainer(
      {
        store: counting,
        queue,
        handlers: new Map([[handler.definition.type, handler]]),
        logger: silentLogger,
        maxErrorMessageLength: 2048,
        maxResultBytes: 65_536,
        leaseMs: 30_000,
        heartbeatMs: 10_000,
        reserveMs: 100,
      },
      { deadline: Date.now() + remainingMs, batchSize: 'auto', concurrency },
    );
    return { limits, run: () => drainer.run() };
  }

  it('fast jobs are claimed in large batches after the first claim fills the slots', async () => {
    const fast = defineJob({ type: 'auto_fast', schema, queue: 'auto-fast', timeout: 1_000 });
    for (let i = 0; i < 3; i++) await sluice.enqueueMany(Array.from({ length: 1000 }, (_, n) => ({ job: fast, payload: { n } })));
    const d = recordingDrain(
      'auto-fast',
      defineHandler(fast, () => {}),
      10,
      60_000,
    );
    const summary = await d.run();
    assert.equal(summary.succeeded, 3000, `${JSON.stringify(summary)} ${d.limits.join(',')}`);
    assert.equal(d.limits[0], 10, 'the first claim, before any attempt ended: the ten slots');
    assert.ok(Math.max(...d.limits) >= 500, `later claims grew to hundreds: ${d.limits.join(', ')}`);
    assert.ok(
      d.limits.every((n) => n <= MAX_AUTO_BATCH),
      'never above the cap',
    );
  });

  it('slow jobs are claimed a few at a time, so a drain holds no more than it can start soon', async () => {
    const slow = defineJob({ type: 'auto_slow', schema, queue: 'auto-slow', timeout: 1_000 });
    const ids = (await sluice.enqueueMany(Array.from({ length: 200 }, (_, n) => ({ job: slow, payload: { n } })))).map((j) => j.id);
    const d = recordingDrain(
      'auto-slow',
      defineHandler(slow, () => sleep(100)),
      2,
      1_500,
    );
    const summary = await d.run();
    // Two slots of 100 ms jobs: about 20 a second. A fixed batch of 100 would have claimed 100 and released most.
    assert.ok(summary.succeeded >= 8, JSON.stringify(summary));
    assert.ok(summary.claimed <= summary.succeeded + 30, `claimed ${summary.claimed} for ${summary.succeeded} run: ${d.limits.join(', ')}`);
    assert.ok(
      d.limits.every((n) => n <= 30),
      `every claim small: ${d.limits.join(', ')}`,
    );
    const views = await sluice.getJobs(ids);
    assert.equal(views.filter((v) => v.state === 'succeeded').length, summary.succeeded);
    assert.equal(views.filter((v) => v.state === 'available').length, 200 - summary.succeeded, 'the rest are due again, none held');
  });
});
