/**
 * Pausing a queue, in the library: a paused queue's workers claim nothing (a job already running finishes
 * and records its outcome), enqueue still works, other queues drain on, the state survives a restart (a new
 * pool and Sluice), `stats()` shows it, and resume lets the workers claim again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { defineHandler } from '../src/handler.js';
import { Sluice } from '../src/sluice.js';
import { processOrder } from './fixtures/jobs.js';
import { sleep, testSluice } from './helpers/db.js';

describe('pause and resume a queue', async () => {
  const { sluice, pool, schema, url } = await testSluice();
  const q = { ...processOrder, queue: 'pausable', timeout: 5_000 };
  const other = { ...processOrder, type: 'other_order', queue: 'unpaused', timeout: 5_000 };
  const ran: number[] = [];
  const handler = defineHandler(q, async ({ orderId }) => void ran.push(orderId));
  const drain = (s = sluice) => s.worker({ queue: 'pausable', handlers: [handler] }).drain({ remainingTimeMs: 30_000 });

  it('a paused queue claims nothing, still accepts jobs, and shows as paused; other queues drain on', async () => {
    assert.equal(await sluice.pauseQueue('pausable'), true);
    assert.equal(await sluice.pauseQueue('pausable'), false, 'paused already');
    const job = await sluice.enqueue(q, { orderId: 1 });
    assert.equal(job.state, 'available', 'enqueue works while paused');
    assert.equal((await drain()).claimed, 0);
    assert.deepEqual(ran, []);
    const stats = await sluice.stats();
    assert.deepEqual(
      stats.filter((s) => s.queue === 'pausable').map((s) => [s.ready, s.paused]),
      [[1, true]],
    );
    await sluice.enqueue(other, { orderId: 9 });
    const h = defineHandler(other, async () => {});
    const s2 = await sluice.worker({ queue: 'unpaused', handlers: [h] }).drain({ remainingTimeMs: 30_000 });
    assert.equal(s2.succeeded, 1, JSON.stringify(s2));
  });

  it('stays paused across a restart (a new pool and Sluice), and resume lets the workers claim again', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const restarted = new Sluice({ db: pool, schema });
      assert.equal((await drain(restarted)).claimed, 0, 'still paused');
      assert.equal(await restarted.resumeQueue('pausable'), true);
      assert.equal(await restarted.resumeQueue('pausable'), false, 'not paused any more');
      assert.equal((await drain(restarted)).succeeded, 1);
      assert.deepEqual(ran, [1]);
      assert.equal(
        (await restarted.stats()).find((s) => s.queue === 'pausable'),
        undefined,
        'an empty unpaused queue drops out',
      );
    } finally {
      await pool.end();
    }
  });

  it('a job already running when its queue is paused finishes and records its outcome', async () => {
    let release = () => {};
    const started = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finish = () => {};
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const slow = defineHandler(q, async () => {
      release();
      await gate;
    });
    const job = await sluice.enqueue(q, { orderId: 2 });
    const running = sluice.worker({ queue: 'pausable', handlers: [slow] }).drain({ remainingTimeMs: 30_000 });
    await started;
    await sluice.pauseQueue('pausable');
    finish();
    const summary = await running;
    assert.equal(summary.succeeded, 1);
    assert.equal((await sluice.getJob(job.id))?.state, 'succeeded');
    await sluice.resumeQueue('pausable');
    await sleep(0);
  });

  it('refuses a bad queue name, and with the queues option a queue without a worker', async () => {
    await assert.rejects(sluice.pauseQueue('Bad Name'), /invalid queue/);
    const known = new Sluice({ db: pool, schema, queues: ['pausable'] });
    await assert.rejects(known.pauseQueue('elsewhere'), /elsewhere/);
    assert.equal(
      (await known.stats()).find((s) => s.queue === 'elsewhere'),
      undefined,
      'nothing was written',
    );
  });
});
