import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueItem } from '../src/enqueue.js';
import { BatchTooLargeError, PayloadTooLargeError, ValidationError } from '../src/errors.js';
import { Sluice } from '../src/sluice.js';
import { processOrder, sendEmail } from './fixtures/jobs.js';
import { testSluice } from './helpers/db.js';

describe('enqueue', async () => {
  const { sluice, pool, schema } = await testSluice({ maxPayloadBytes: 1024, maxBatchSize: 50 });
  const count = async () => Number((await pool.query(`SELECT count(*) FROM "${schema}".jobs`)).rows[0].count);

  it('stores one job, available now, with the definition defaults', async () => {
    const job = await sluice.enqueue(sendEmail, { userId: 'u1', template: 'welcome' });
    assert.equal(job.state, 'available');
    assert.equal(job.queue, 'emails');
    assert.equal(job.maxAttempts, 3);
    assert.equal(job.replayed, false);
    const view = await sluice.getJob(job.id);
    assert.deepEqual(view?.payload, { userId: 'u1', template: 'welcome' });
    assert.equal(view?.state, 'available');
  });

  it('applies options: delay (scheduled), priority, queue and maxAttempts overrides', async () => {
    const job = await sluice.enqueue(
      sendEmail,
      { userId: 'u2', template: 'reset' },
      { delayMs: 60_000, priority: -5, queue: 'other', maxAttempts: 7 },
    );
    assert.equal(job.state, 'scheduled');
    assert.equal(job.priority, -5);
    assert.equal(job.queue, 'other');
    assert.equal(job.maxAttempts, 7);
    assert.ok(job.runAt.getTime() - job.createdAt.getTime() >= 59_000);
    const at = new Date(Date.now() + 3_600_000);
    const later = await sluice.enqueue(sendEmail, { userId: 'u2', template: 'reset' }, { runAt: at });
    assert.equal(later.runAt.getTime(), at.getTime());
  });

  it('rejects a wrong payload at run time with the zod issues, writing nothing', async () => {
    const before = await count();
    await assert.rejects(
      // @ts-expect-error: template is not one of the enum values
      sluice.enqueue(sendEmail, { userId: 'u1', template: 'nope' }),
      (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path.join('.') === '0.payload.template'),
    );
    assert.equal(await count(), before);
  });

  it('inserts a batch in one statement and names every bad index when any is invalid', async () => {
    const before = await count();
    const bad = [
      enqueueItem(sendEmail, { userId: 'a', template: 'welcome' }),
      // @ts-expect-error: orderId must be a number
      enqueueItem(processOrder, { orderId: 'x' }),
      enqueueItem(sendEmail, { userId: 'b', template: 'welcome' }, { runAt: new Date(), delayMs: 5 }),
    ];
    await assert.rejects(sluice.enqueueMany(bad), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual([...new Set(err.issues.map((i) => i.path[0]))], [1, 2]);
      return true;
    });
    assert.equal(await count(), before);
    const ok = await sluice.enqueueMany([
      enqueueItem(sendEmail, { userId: 'a', template: 'welcome' }),
      enqueueItem(processOrder, { orderId: 9 }),
    ]);
    assert.deepEqual(
      ok.map((j) => j.type),
      ['send_email', 'process_order'],
    );
    assert.ok(BigInt(ok[1]!.id) > BigInt(ok[0]!.id));
    assert.equal(await count(), before + 2);
  });

  it('refuses a batch above the bound with a clear error', async () => {
    const items = Array.from({ length: 51 }, (_, i) => enqueueItem(processOrder, { orderId: i + 1 }));
    await assert.rejects(sluice.enqueueMany(items), BatchTooLargeError);
  });

  it('refuses a payload over the size limit, and a NUL character, naming the index', async () => {
    await assert.rejects(sluice.enqueue(sendEmail, { userId: 'x'.repeat(2000), template: 'welcome' }), (err: unknown) => {
      return err instanceof PayloadTooLargeError && /limit is 1024/.test(err.message);
    });
    await assert.rejects(sluice.enqueue(sendEmail, { userId: 'a\u0000b', template: 'welcome' }), /NUL/);
  });

  it('stores a literal backslash followed by "u0000" as written: only a real NUL is refused', async () => {
    const text = 'C:\\u0000\\path'; // backslash, u, 0, 0, 0, 0: no NUL in it
    assert.ok(!text.includes('\u0000'));
    const job = await sluice.enqueue(sendEmail, { userId: text, template: 'welcome' });
    assert.equal(((await sluice.getJob(job.id)) as { payload?: { userId?: string } }).payload?.userId, text);
  });

  it('refuses an idempotency key PostgreSQL text cannot hold (NUL, a lone surrogate), writing nothing', async () => {
    const before = (await sluice.stats()).reduce((n, q) => n + q.ready + q.scheduled, 0);
    for (const key of ['order-42\ud83d', '\udc00x', 'a\u0000b']) {
      await assert.rejects(sluice.enqueue(sendEmail, { userId: 'u', template: 'welcome' }, { idempotencyKey: key }), ValidationError);
    }
    assert.equal(
      (await sluice.stats()).reduce((n, q) => n + q.ready + q.scheduled, 0),
      before,
    );
    const whole = await sluice.enqueue(sendEmail, { userId: 'u', template: 'welcome' }, { idempotencyKey: 'order-42\ud83d\ude00' });
    assert.equal((await sluice.getJob(whole.id))?.idempotencyKey, 'order-42\ud83d\ude00', 'a whole surrogate pair is stored as given');
  });

  it("with `queues`, refuses a queue without a worker (the type's own or an override), writing nothing", async () => {
    const strict = new Sluice({ db: pool, schema, queues: ['default'] });
    const before = (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`)).rows[0].n;
    await assert.rejects(strict.enqueue(sendEmail, { userId: 'u', template: 'welcome' }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(err.issues[0]?.path, [0, 'queue']);
      return /queue "emails" has no worker, so its jobs would never run; the queues are default/.test(err.message);
    });
    await assert.rejects(
      strict.enqueueMany([enqueueItem(processOrder, { orderId: 1 }), enqueueItem(processOrder, { orderId: 2 }, { queue: 'nowhere' })]),
      (err: unknown) => err instanceof ValidationError && JSON.stringify(err.issues[0]?.path) === '[1,"options","queue"]',
    );
    await assert.rejects(strict.redriveDeadLetters({ queue: 'default' }, { toQueue: 'nowhere' }), ValidationError);
    assert.equal((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`)).rows[0].n, before);
    assert.equal((await strict.enqueue(sendEmail, { userId: 'u', template: 'welcome' }, { queue: 'default' })).queue, 'default');
    assert.throws(() => new Sluice({ db: pool, schema, queues: ['Bad Queue'] }), /queues/);
  });

  it('commits the job with the caller transaction, or not at all', async () => {
    await pool.query('CREATE TABLE IF NOT EXISTS orders_enqueue_test (id serial PRIMARY KEY, total int)');
    for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
      const client = await pool.connect();
      let jobId: string;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query('INSERT INTO orders_enqueue_test (total) VALUES (42) RETURNING id');
        jobId = (await sluice.enqueue(processOrder, { orderId: rows[0].id }, { client })).id;
        assert.equal(await sluice.getJob(jobId), null, 'invisible outside the transaction before commit');
        await client.query(outcome);
      } finally {
        client.release();
      }
      const seen = await sluice.getJob(jobId);
      if (outcome === 'COMMIT') assert.equal(seen?.state, 'available');
      else assert.equal(seen, null);
    }
    await pool.query('DROP TABLE orders_enqueue_test');
  });
});

describe('idempotency keys', async () => {
  const { sluice, pool, schema } = await testSluice({ idempotencyWindowMs: 60_000, retentionMs: 60_000 });

  it('returns the first job on a replay, also after it succeeded', async () => {
    const first = await sluice.enqueue(sendEmail, { userId: 'k', template: 'welcome' }, { idempotencyKey: 'welcome:k' });
    const again = await sluice.enqueue(sendEmail, { userId: 'k', template: 'welcome' }, { idempotencyKey: 'welcome:k' });
    assert.equal(again.id, first.id);
    assert.equal(again.replayed, true);
    assert.equal(again.state, 'available');
    await pool.query(`DELETE FROM "${schema}".active_jobs WHERE id = $1`, [first.id]); // as a success does
    const afterSuccess = await sluice.enqueue(sendEmail, { userId: 'k', template: 'welcome' }, { idempotencyKey: 'welcome:k' });
    assert.equal(afterSuccess.id, first.id);
    assert.equal(afterSuccess.state, 'succeeded');
  });

  it('20 concurrent enqueues with one key create one job', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => sluice.enqueue(processOrder, { orderId: 1 }, { idempotencyKey: 'race-1' })),
    );
    assert.equal(new Set(results.map((r) => r.id)).size, 1);
    assert.equal(results.filter((r) => !r.replayed).length, 1);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE idempotency_key = 'race-1'`);
    assert.equal(rows[0].n, 1);
  });

  it('dedupes a key repeated inside one batch', async () => {
    const [a, b] = await sluice.enqueueMany([
      enqueueItem(processOrder, { orderId: 5 }, { idempotencyKey: 'batch-dup' }),
      enqueueItem(processOrder, { orderId: 5 }, { idempotencyKey: 'batch-dup' }),
    ]);
    assert.equal(a!.id, b!.id);
    assert.deepEqual([a!.replayed, b!.replayed], [false, true]);
  });

  it('creates a new job once the window has passed', async () => {
    const first = await sluice.enqueue(processOrder, { orderId: 2 }, { idempotencyKey: 'window' });
    await pool.query(`UPDATE "${schema}".jobs SET created_at = now() - interval '61 seconds' WHERE id = $1`, [first.id]);
    const second = await sluice.enqueue(processOrder, { orderId: 2 }, { idempotencyKey: 'window' });
    assert.notEqual(second.id, first.id);
    assert.equal(second.replayed, false);
    assert.equal((await sluice.getJob(first.id))?.idempotencyKey, null);
  });
});

describe('enqueue input hygiene', async () => {
  const { sluice } = await testSluice();
  it('refuses lone surrogates that jsonb cannot store, but keeps real emoji and escaped text', async () => {
    await assert.rejects(sluice.enqueue(sendEmail, { userId: 'a\uD800b', template: 'welcome' }), /lone UTF-16 surrogates/);
    const ok = await sluice.enqueue(sendEmail, { userId: 'ok 😀 \\ud800 literal', template: 'welcome' });
    assert.deepEqual((await sluice.getJob(ok.id))?.payload, { userId: 'ok 😀 \\ud800 literal', template: 'welcome' });
  });
  it('bad ids are a ValidationError, out-of-range ones too', async () => {
    await assert.rejects(
      sluice.getJobs(['9223372036854775808']),
      (e: unknown) => e instanceof ValidationError && /out of range/.test(e.message),
    );
    await assert.rejects(sluice.cancel(['abc']), ValidationError);
    await assert.rejects(sluice.getJobs(['abcdefghijklmnopqrstuvwxyz']), ValidationError, 'long non-numeric text is refused, not a crash');
    assert.equal(await sluice.getJob('9223372036854775807'), null);
  });
});
