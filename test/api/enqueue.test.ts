/** POST /v1/jobs: one job, its options, its payload validation and its Idempotency-Key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnqueuedJob } from '../../functions/api/schemas.js';
import { call, email, paths, testApi } from '../helpers/api.js';

describe('enqueue API', async () => {
  const { sluice, pool, schema, registry, api, count, flushed } = await testApi();

  describe('POST /v1/jobs', () => {
    it('enqueues a job: 201, the job view, a Location, and it is stored', async () => {
      const r = await call(api, 'POST', '/v1/jobs', { body: email('u1') });
      assert.equal(r.status, 201);
      const job = EnqueuedJob.strict().parse(r.body);
      assert.equal(job.type, 'send_email');
      assert.equal(job.queue, 'emails');
      assert.equal(job.state, 'available');
      assert.equal(job.attempt, 0);
      assert.equal(job.maxAttempts, 5);
      assert.equal(job.idempotencyKey, null);
      assert.equal(r.headers.location, `/v1/jobs/${job.id}`);
      assert.equal(r.headers['idempotent-replayed'], undefined);
      const stored = await sluice.getJob(job.id);
      assert.deepEqual(stored?.payload, { userId: 'u1', to: 'u1@example.com', template: 'welcome' });
      assert.equal(stored?.createdAt.toISOString(), job.createdAt);
      assert.deepEqual(await flushed(), [{ queue: 'emails', count: 1 }]);
    });

    it('applies delaySeconds, runAt, priority, queue and maxAttempts', async () => {
      const delayed = await call(api, 'POST', '/v1/jobs', {
        body: { ...email('u2'), delaySeconds: 60, priority: -5, queue: 'emails-slow', maxAttempts: 7 },
      });
      assert.equal(delayed.status, 201);
      assert.equal(delayed.body.state, 'scheduled');
      assert.equal(delayed.body.priority, -5);
      assert.equal(delayed.body.queue, 'emails-slow');
      assert.equal(delayed.body.maxAttempts, 7);
      assert.ok(Date.parse(delayed.body.runAt) - Date.parse(delayed.body.createdAt) >= 59_000);
      const at = new Date(Date.now() + 3_600_000);
      const offset = at.toISOString().replace('Z', '+00:00');
      const later = await call(api, 'POST', '/v1/jobs', { body: { ...email('u3'), runAt: offset } });
      assert.equal(later.status, 201);
      assert.equal(later.body.runAt, at.toISOString());
      assert.equal((await sluice.getJob(later.body.id))?.state, 'scheduled');
      assert.deepEqual(
        (await flushed()).sort((a, b) => a.queue.localeCompare(b.queue)),
        [
          { queue: 'emails', count: 1 },
          { queue: 'emails-slow', count: 1 },
        ],
      );
    });

    it('rejects bad options and unknown keys with paths, writing nothing', async () => {
      const before = await count();
      const both = await call(api, 'POST', '/v1/jobs', { body: { ...email('x'), runAt: new Date().toISOString(), delaySeconds: 5 } });
      assert.equal(both.status, 400);
      assert.equal(both.body.error.code, 'VALIDATION');
      assert.deepEqual(paths(both), ['delaySeconds']);
      const bad = await call(api, 'POST', '/v1/jobs', {
        body: { ...email('x'), runAt: '2030-01-01', priority: 101, queue: 'Bad Queue', maxAttempts: 0, idempotencyKey: 'k', colour: 'red' },
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(paths(bad).sort(), ['colour', 'idempotencyKey', 'maxAttempts', 'priority', 'queue', 'runAt']);
      const noPayload = await call(api, 'POST', '/v1/jobs', { body: { type: 'send_email' } });
      assert.equal(noPayload.status, 400);
      assert.ok(paths(noPayload).includes('payload'));
      const notObject = await call(api, 'POST', '/v1/jobs', { body: [email('x')] });
      assert.equal(notObject.status, 400);
      // Its offset puts this instant in year 10000, which no ISO 8601 answer could show.
      const pastYear9999 = await call(api, 'POST', '/v1/jobs', { body: { ...email('x'), runAt: '9999-12-31T23:59:59-23:59' } });
      assert.equal(pastYear9999.status, 400);
      assert.deepEqual(paths(pastYear9999), ['runAt']);
      assert.equal(await count(), before);
      assert.deepEqual(await flushed(), []);
      assert.equal((await call(api, 'POST', '/v1/jobs', { body: { ...email('y'), runAt: '9999-12-31T23:59:59Z' } })).status, 201);
      assert.deepEqual(await flushed(), [{ queue: 'emails', count: 1 }]);
    });

    it('validates the payload with the job type schema, with the issue path', async () => {
      const before = await count();
      const r = await call(api, 'POST', '/v1/jobs', { body: { type: 'send_email', payload: { userId: 'u', to: 'nope', template: 'x' } } });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'VALIDATION');
      assert.deepEqual(paths(r).sort(), ['payload.template', 'payload.to']);
      assert.equal(await count(), before);
    });

    it('names the known types for an unknown type', async () => {
      const r = await call(api, 'POST', '/v1/jobs', { body: { type: 'send_sms', payload: {} } });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'UNKNOWN_TYPE');
      assert.match(r.body.error.message, /"send_sms"/);
      assert.ok(r.body.error.message.includes(`known types: ${registry.types().join(', ')}`), r.body.error.message);
      assert.ok(r.body.error.message.includes('process_order') && r.body.error.message.includes('send_email'));
      assert.deepEqual(paths(r), ['type']);
    });

    it('replays an Idempotency-Key: 201, then 200 with Idempotent-Replayed and the same job; one event', async () => {
      const init = { body: email('idem'), headers: { 'Idempotency-Key': 'welcome:idem' } };
      const first = await call(api, 'POST', '/v1/jobs', init);
      const again = await call(api, 'POST', '/v1/jobs', init);
      assert.equal(first.status, 201);
      assert.equal(first.body.idempotencyKey, 'welcome:idem');
      assert.equal(again.status, 200);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body.id, first.body.id);
      EnqueuedJob.strict().parse(again.body);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE idempotency_key = 'welcome:idem'`);
      assert.equal(rows[0].n, 1);
      assert.deepEqual(await flushed(), [{ queue: 'emails', count: 1 }], 'the replay publishes nothing');
    });

    it('refuses an Idempotency-Key over 255 characters', async () => {
      const r = await call(api, 'POST', '/v1/jobs', { body: email('k'), headers: { 'idempotency-key': 'k'.repeat(256) } });
      assert.equal(r.status, 400);
      assert.deepEqual(paths(r), ['headers.idempotency-key']);
      assert.ok(!JSON.stringify(r.body).includes('k'.repeat(256)), 'the key is not echoed');
    });

    it('refuses a payload over the library size limit with 413 PAYLOAD_TOO_LARGE', async () => {
      const before = await count();
      const r = await call(api, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'x'.repeat(300 * 1024) } } });
      assert.equal(r.status, 413);
      assert.equal(r.body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.deepEqual(paths(r), ['payload']);
      assert.match(r.body.error.message, /limit is 262144/);
      assert.equal(await count(), before);
    });

    it('stores SQL-looking strings verbatim: every value is a bound parameter', async () => {
      const evil = "'; DROP TABLE jobs; --";
      const r = await call(api, 'POST', '/v1/jobs', {
        body: { type: 'process_order', payload: { orderId: evil } },
        headers: { 'idempotency-key': `${evil} OR 1=1` },
      });
      assert.equal(r.status, 201);
      assert.equal(r.body.idempotencyKey, `${evil} OR 1=1`);
      const got = await call(api, 'GET', `/v1/jobs/${r.body.id}`);
      assert.deepEqual(got.body.payload, { orderId: evil });
      const list = await call(api, 'GET', `/v1/dead-letters?type=${encodeURIComponent(evil)}&queue=${encodeURIComponent(evil)}`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.deadLetters, []);
      const { rows } = await pool.query(`SELECT payload->>'orderId' AS o FROM "${schema}".jobs WHERE id = $1`, [r.body.id]);
      assert.equal(rows[0].o, evil);
      assert.ok((await count()) > 0, 'the jobs table is still there');
    });
  });
});
