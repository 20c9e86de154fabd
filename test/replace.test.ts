/** Replace keys and debounce (issue 15, item 5): an enqueue that replaces a queued job instead of adding one. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineHandler, defineJob, quoteSchema, ValidationError } from '../src/index.js';
import { claimJobs } from '../src/sql/claim.js';
import { call, testApi } from './helpers/api.js';
import { sleep } from './helpers/db.js';

const schema = z.object({ text: z.string() });
const digest = defineJob({ type: 'replace_digest', schema, queue: 'replace', timeout: 2_000 });
const other = defineJob({ type: 'replace_other', schema, queue: 'replace', timeout: 2_000 });

describe('replace keys', async () => {
  const { sluice, pool, schema: dbSchema, api } = await testApi();
  const s = `"${dbSchema}"`;
  /** Live jobs the key names that have not started: the ones an enqueue with it would replace. */
  const jobsWithKey = async (key: string) =>
    (
      await pool.query(
        `SELECT k.job_id FROM ${s}.replace_keys k JOIN ${s}.active_jobs a ON a.id = k.job_id AND a.attempt = 0 AND a.lease_token IS NULL WHERE k.key = $1`,
        [key],
      )
    ).rows.length;

  it('replaces the payload and pushes the due time of a job that has not started; no job is added', async () => {
    const first = await sluice.enqueue(digest, { text: 'one' }, { replaceKey: 'digest:u1', delayMs: 60_000 });
    assert.deepEqual([first.replaced, first.state], [false, 'scheduled']);
    await sleep(20);
    const second = await sluice.enqueue(digest, { text: 'two' }, { replaceKey: 'digest:u1', delayMs: 120_000, priority: 3 });
    assert.equal(second.id, first.id);
    assert.equal(second.replaced, true);
    assert.ok(second.runAt.getTime() > first.runAt.getTime() + 50_000, 'the due time moved out');
    const view = await sluice.getJob(first.id);
    assert.deepEqual([view?.payload, view?.priority, view?.runAt.getTime()], [{ text: 'two' }, 3, second.runAt.getTime()]);
    assert.equal(await jobsWithKey('digest:u1'), 1);
    const records = await pool.query(`SELECT count(*)::int AS n FROM ${s}.jobs WHERE payload->>'text' IN ('one', 'two')`);
    assert.equal(records.rows[0].n, 1, 'one record: the first was replaced, not orphaned');
  });

  it('debounce: a burst with a delay becomes one job, which runs once with the last payload', async () => {
    const ran: string[] = [];
    const h = defineHandler(digest, ({ text }) => {
      ran.push(text);
    });
    for (let i = 1; i <= 5; i++) await sluice.enqueue(digest, { text: `burst ${i}` }, { replaceKey: 'digest:burst', delayMs: 300 });
    const early = await sluice.worker({ queue: 'replace', handlers: [h] }).drain({ remainingTimeMs: 1_000 });
    assert.equal(early.claimed, 0, 'not due yet: each enqueue pushed it out again');
    await sleep(350);
    await sluice.worker({ queue: 'replace', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.deepEqual(ran, ['burst 5']);
  });

  it('once a job has started its key is free: the next enqueue adds a new job', async () => {
    const a = await sluice.enqueue(digest, { text: 'a' }, { replaceKey: 'digest:started' });
    const claimed = await claimJobs(pool, quoteSchema(dbSchema), { queue: 'replace', limit: 10, leaseSeconds: 30, token: randomUUID() });
    assert.ok(claimed.some((r) => r.id === a.id));
    assert.equal(await jobsWithKey('digest:started'), 0, 'its job started: the key names nothing replaceable');
    const b = await sluice.enqueue(digest, { text: 'b' }, { replaceKey: 'digest:started' });
    assert.notEqual(b.id, a.id);
    assert.equal(b.replaced, false);
    assert.deepEqual((await sluice.getJob(a.id))?.payload, { text: 'a' }, 'the running job keeps its payload');
  });

  it('concurrent enqueues of one key leave exactly one job, whichever wins the race', async () => {
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => sluice.enqueue(digest, { text: `racer ${i}` }, { replaceKey: 'digest:race', delayMs: 60_000 })),
    );
    assert.equal(new Set(results.map((r) => r.id)).size, 1, 'one id for all');
    assert.equal(results.filter((r) => !r.replaced).length, 1, 'one added it, the rest replaced it');
    assert.equal(await jobsWithKey('digest:race'), 1);
  });

  it('concurrent enqueues after the key’s job started: one new job, which the rest replace', async () => {
    const first = await sluice.enqueue(digest, { text: 'started' }, { replaceKey: 'digest:race2' });
    await claimJobs(pool, quoteSchema(dbSchema), { queue: 'replace', limit: 100, leaseSeconds: 30, token: randomUUID() });
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => sluice.enqueue(digest, { text: `after ${i}` }, { replaceKey: 'digest:race2', delayMs: 60_000 })),
    );
    const ids = new Set(results.map((r) => r.id));
    assert.equal(ids.size, 1, `one new job for all (${[...ids].join(', ')})`);
    assert.ok(!ids.has(first.id), 'not the started one');
    assert.equal(results.filter((r) => !r.replaced).length, 1);
    assert.equal(await jobsWithKey('digest:race2'), 1);
  });

  it('a job released unstarted at a deadline can still be replaced; a replace in a rolled-back transaction changes nothing', async () => {
    const long = defineJob({ type: 'replace_long', schema, queue: 'replace-long', timeout: 60_000 });
    const j = await sluice.enqueue(long, { text: 'v1' }, { replaceKey: 'long:1' });
    const h = defineHandler(long, () => {});
    const s1 = await sluice.worker({ queue: 'replace-long', handlers: [h] }).drain({ remainingTimeMs: 2_000 });
    assert.deepEqual([s1.claimed, s1.released], [1, 1], 'its timeout did not fit: released, attempt given back');
    const again = await sluice.enqueue(long, { text: 'v2' }, { replaceKey: 'long:1' });
    assert.deepEqual([again.id, again.replaced], [j.id, true]);

    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const inTx = await sluice.enqueue(long, { text: 'v3' }, { replaceKey: 'long:1', client });
      assert.equal(inTx.replaced, true);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    assert.deepEqual((await sluice.getJob(j.id))?.payload, { text: 'v2' });
  });

  it('prune deletes keys whose job started or finished, and keeps the ones still replaceable', async () => {
    await sluice.enqueue(digest, { text: 'kept' }, { replaceKey: 'prune:queued', delayMs: 60_000 });
    const done = await sluice.enqueue(other, { text: 'gone' }, { replaceKey: 'prune:done', queue: 'replace-prune' });
    await sluice.worker({ queue: 'replace-prune', handlers: [defineHandler(other, () => {})] }).drain({ remainingTimeMs: 5_000 });
    assert.equal((await sluice.getJob(done.id))?.state, 'succeeded');
    const pruned = await sluice.prune();
    assert.ok(pruned.staleReplaceKeys >= 1, JSON.stringify(pruned));
    const keys = (await pool.query(`SELECT key FROM ${s}.replace_keys WHERE key LIKE 'prune:%'`)).rows.map((r) => r.key);
    assert.deepEqual(keys, ['prune:queued']);
  });

  it('refuses a key held by another type, a key with an idempotency key, and a key in a batch', async () => {
    await sluice.enqueue(other, { text: 'x' }, { replaceKey: 'digest:shared', delayMs: 60_000 });
    await assert.rejects(
      sluice.enqueue(digest, { text: 'y' }, { replaceKey: 'digest:shared' }),
      (err) => err instanceof ValidationError && /held by a queued job of another type or queue/.test(err.message),
    );
    await assert.rejects(
      sluice.enqueue(digest, { text: 'y' }, { replaceKey: 'k1', idempotencyKey: 'k2' }),
      (err) => err instanceof ValidationError && /give idempotencyKey or replaceKey, not both/.test(err.message),
    );
    await assert.rejects(
      sluice.enqueueMany([
        { job: digest, payload: { text: 'p' } },
        { job: digest, payload: { text: 'q' }, options: { replaceKey: 'k3' } },
      ]),
      (err) => err instanceof ValidationError && /index 1: replaceKey works with enqueue\(\), one job at a time/.test(err.message),
    );
    assert.equal(await jobsWithKey('k3'), 0, 'nothing written');
  });

  it('POST /v1/jobs with replaceKey: 201 for a new job, then 200 with replaced: true', async () => {
    const body = (text: string) => ({ type: 'store_note', payload: { text }, replaceKey: 'note:api', delaySeconds: 60 });
    const first = await call(api, 'POST', '/v1/jobs', { body: body('first') });
    assert.equal(first.status, 201);
    assert.equal(first.body.replaced, undefined);
    const again = await call(api, 'POST', '/v1/jobs', { body: body('second') });
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.id, again.body.replaced], [first.body.id, true]);
    assert.deepEqual((await sluice.getJob(first.body.id))?.payload, { text: 'second' });
    const both = await call(api, 'POST', '/v1/jobs', { body: body('third'), headers: { 'idempotency-key': 'idem-1' } });
    assert.equal(both.status, 400);
  });
});
