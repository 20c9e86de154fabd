/** ctx.transaction (issue 15, item 6): a handler's database writes commit with its success, fenced by the lease. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { defineHandler, defineJob, LeaseLostError, Sluice, SluiceError } from '../src/index.js';
import { testSluice } from './helpers/db.js';

const schema = z.object({ orderId: z.number() });
const order = (type: string) =>
  defineJob({ type, schema, queue: type.replace(/_/g, '-'), timeout: 5_000, maxAttempts: 2, backoff: { baseMs: 0, maxMs: 0 } });
const receipt = defineJob({ type: 'tx_receipt', schema, queue: 'tx-receipts' });

describe('ctx.transaction', async () => {
  const { sluice, pool, schema: dbSchema } = await testSluice();
  const s = `"${dbSchema}"`;
  await pool.query(`CREATE TABLE ${s}.orders (id int PRIMARY KEY, status text NOT NULL)`);
  const status = async (id: number) => (await pool.query(`SELECT status FROM ${s}.orders WHERE id = $1`, [id])).rows[0]?.status ?? null;
  const receipts = async (id: number) =>
    Number(
      (await pool.query(`SELECT count(*) FROM ${s}.jobs WHERE type = 'tx_receipt' AND (payload->>'orderId')::int = $1`, [id])).rows[0]
        .count,
    );

  it("commits the handler's writes, its follow-up jobs and the job's success together; fn's value is the result", async () => {
    const pay = order('tx_pay');
    const j = await sluice.enqueue(pay, { orderId: 1 });
    const h = defineHandler(pay, ({ orderId }, ctx) =>
      ctx.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${s}.orders (id, status) VALUES ($1, 'paid')`, [orderId]);
        const child = await tx.enqueue(receipt, { orderId });
        return { receipt: child.id };
      }),
    );
    const summary = await sluice.worker({ queue: 'tx-pay', handlers: [h] }).drain({ remainingTimeMs: 10_000 });
    assert.deepEqual([summary.succeeded, summary.lostLeases], [1, 0]);
    const view = await sluice.getJob(j.id);
    assert.equal(view?.state, 'succeeded');
    assert.equal(await status(1), 'paid');
    assert.equal(await receipts(1), 1);
    assert.match(String((view?.result as { receipt?: string })?.receipt), /^\d+$/);
    const timeline = await sluice.jobTimeline(j.id);
    assert.deepEqual(
      timeline.map((e) => (e.kind === 'attempt' ? e.outcome : e.kind)),
      ['succeeded'],
      'one attempt, written once',
    );
  });

  it('a lost lease rolls it all back: no write, no child job, and the handler sees LeaseLostError', async () => {
    const pay = order('tx_stolen');
    const j = await sluice.enqueue(pay, { orderId: 2 });
    let seen: unknown;
    const h = defineHandler(pay, async ({ orderId }, ctx) => {
      try {
        await ctx.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${s}.orders (id, status) VALUES ($1, 'paid')`, [orderId]);
          await tx.enqueue(receipt, { orderId });
          // Meanwhile another worker takes the job (its lease lapsed and was claimed anew).
          await pool.query(`UPDATE ${s}.active_jobs SET lease_token = gen_random_uuid() WHERE id = $1`, [j.id]);
        });
      } catch (err) {
        seen = err;
        throw err;
      }
    });
    const summary = await sluice.worker({ queue: 'tx-stolen', handlers: [h] }).drain({ remainingTimeMs: 10_000 });
    assert.ok(seen instanceof LeaseLostError, String(seen));
    assert.deepEqual([summary.succeeded, summary.lostLeases], [0, 1]);
    assert.equal(await status(2), null, 'the write rolled back');
    assert.equal(await receipts(2), 0, 'the child job rolled back');
    assert.equal((await sluice.getJob(j.id))?.state, 'running', 'the other worker holds it');
  });

  it('a throw inside it rolls back and fails the attempt; a second call is refused; a throw after the commit is a success', async () => {
    const flaky = order('tx_flaky');
    const a = await sluice.enqueue(flaky, { orderId: 3 });
    let runs = 0;
    const h = defineHandler(flaky, async ({ orderId }, ctx) => {
      runs++;
      if (runs === 1) {
        await ctx.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${s}.orders (id, status) VALUES ($1, 'half')`, [orderId]);
          throw new Error('payment provider said no');
        });
      }
      await ctx.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${s}.orders (id, status) VALUES ($1, 'paid')`, [orderId]);
      });
      await assert.rejects(
        ctx.transaction(async () => {}),
        (err) => err instanceof SluiceError && /once per attempt/.test(err.message),
      );
      throw new Error('after the commit');
    });
    await sluice.worker({ queue: 'tx-flaky', handlers: [h] }).drain({ remainingTimeMs: 10_000 });
    const view = await sluice.getJob(a.id);
    assert.equal(view?.state, 'succeeded', 'the second attempt committed; its later throw changes nothing');
    assert.deepEqual(
      view?.errors.map((e) => e.message),
      ['payment provider said no'],
    );
    assert.equal(await status(3), 'paid', "the first attempt's write rolled back, the second's committed");
  });

  it('refuses ctx.step inside it (the step would wait for a second connection), and rolls back', async () => {
    const nested = order('tx_nested');
    const j = await sluice.enqueue(nested, { orderId: 5 });
    let seen: unknown;
    const h = defineHandler(nested, async ({ orderId }, ctx) => {
      await ctx.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${s}.orders (id, status) VALUES ($1, 'paid')`, [orderId]);
        seen = await ctx.step('inside', () => 1).catch((err) => err);
        throw seen;
      });
    });
    await sluice.worker({ queue: 'tx-nested', handlers: [h] }).drain({ remainingTimeMs: 10_000 });
    assert.ok(seen instanceof SluiceError && /ctx.step\("inside"\) inside ctx.transaction/.test(seen.message), String(seen));
    assert.equal(await status(5), null, 'rolled back');
    assert.notEqual((await sluice.getJob(j.id))?.state, 'succeeded');
  });

  it('needs a pool: with a single client it says so', async () => {
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const one = new Sluice({ db: client, schema: dbSchema });
      const job = order('tx_client');
      await one.enqueue(job, { orderId: 4 });
      let seen: unknown;
      const h = defineHandler(job, async (_p, ctx) => {
        seen = await ctx.transaction(async () => 1).catch((err) => err);
      });
      await one.worker({ queue: 'tx-client', handlers: [h] }).drain({ remainingTimeMs: 10_000 });
      assert.ok(seen instanceof SluiceError && /needs the worker to have a pg.Pool/.test(seen.message), String(seen));
    } finally {
      await client.end();
    }
  });
});
