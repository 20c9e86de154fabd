/** POST /v1/jobs/batch: input order, per-item idempotency, atomicity and its size bounds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchEnqueueResponse } from '../../functions/api/schemas.js';
import { call, email, paths, testApi } from '../helpers/api.js';

describe('enqueue API', async () => {
  const { sluice, api, count, flushed } = await testApi();

  describe('POST /v1/jobs/batch', () => {
    it('enqueues in input order, each with replayed, and publishes one JobsEnqueued per queue', async () => {
      const r = await call(api, 'POST', '/v1/jobs/batch', { body: { jobs: [email('b1'), email('b2'), email('b3')] } });
      assert.equal(r.status, 201);
      const { jobs } = BatchEnqueueResponse.parse(r.body);
      assert.deepEqual(
        jobs.map((j) => [j.type, j.queue, j.replayed]),
        Array.from({ length: 3 }, () => ['send_email', 'emails', false]),
      );
      const stored = await sluice.getJobs(jobs.map((j) => j.id));
      assert.deepEqual(
        jobs.map((j) => (stored.find((s) => s.id === j.id)?.payload as { userId: string } | undefined)?.userId),
        ['b1', 'b2', 'b3'],
      );
      assert.deepEqual(await flushed(), [{ queue: 'emails', count: 3 }], 'one coalesced event with count 3');

      const mixed = await call(api, 'POST', '/v1/jobs/batch', {
        body: { jobs: [email('m1'), { type: 'process_order', payload: { orderId: 'o1' } }, email('m2')] },
      });
      assert.equal(mixed.status, 201);
      assert.deepEqual(
        (await flushed()).sort((a, b) => a.queue.localeCompare(b.queue)),
        [
          { queue: 'default', count: 1 },
          { queue: 'emails', count: 2 },
        ],
      );
    });

    it('dedupes per-item idempotency keys; a batch of only replays answers 200', async () => {
      const body = {
        jobs: [
          { ...email('bk'), idempotencyKey: 'batch-key-1' },
          { ...email('bk'), idempotencyKey: 'batch-key-1' },
          { ...email('bk2'), idempotencyKey: 'batch-key-2' },
        ],
      };
      const first = await call(api, 'POST', '/v1/jobs/batch', { body });
      assert.equal(first.status, 201);
      assert.deepEqual(
        first.body.jobs.map((j: { replayed: boolean }) => j.replayed),
        [false, true, false],
      );
      assert.equal(first.body.jobs[0].id, first.body.jobs[1].id);
      assert.deepEqual(await flushed(), [{ queue: 'emails', count: 2 }]);
      const again = await call(api, 'POST', '/v1/jobs/batch', { body });
      assert.equal(again.status, 200);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.deepEqual(
        again.body.jobs.map((j: { id: string }) => j.id),
        first.body.jobs.map((j: { id: string }) => j.id),
      );
      assert.deepEqual(await flushed(), []);
      const header = await call(api, 'POST', '/v1/jobs/batch', { body, headers: { 'idempotency-key': 'whole-batch' } });
      assert.equal(header.status, 400, 'a batch-level key would be silently ignored, so it is refused');
    });

    it('is atomic: any bad item is a 400 naming every bad index, and nothing is inserted', async () => {
      const before = await count();
      const r = await call(api, 'POST', '/v1/jobs/batch', {
        body: {
          jobs: [
            email('ok0'),
            { type: 'send_email', payload: { userId: 'u', to: 'not-an-email', template: 'welcome' } },
            { type: 'process_order', payload: { orderId: 'o2' } },
            { ...email('x3'), colour: 'red' },
            { type: 'nope', payload: {} },
            { type: 'process_order', payload: { orderId: 'o5' }, runAt: new Date().toISOString(), delaySeconds: 1 },
            'not an object',
          ],
        },
      });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'VALIDATION');
      assert.deepEqual(paths(r), ['jobs.1.payload.to', 'jobs.3.colour', 'jobs.4.type', 'jobs.5.delaySeconds', 'jobs.6']);
      assert.equal(await count(), before);

      // Envelopes all fine: the library validates the payloads and still names every bad index.
      const lib = await call(api, 'POST', '/v1/jobs/batch', {
        body: {
          jobs: [
            email('ok'),
            { type: 'send_email', payload: { userId: 'u', to: 'nope', template: 'welcome' } },
            email('ok2'),
            { type: 'send_email', payload: { to: 'a@example.com', template: 'welcome' } },
          ],
        },
      });
      assert.equal(lib.status, 400);
      assert.deepEqual(paths(lib), ['jobs.1.payload.to', 'jobs.3.payload.userId']);
      assert.match(lib.body.error.message, /jobs\.1\.payload\.to/);
      assert.equal(await count(), before);

      const large = await call(api, 'POST', '/v1/jobs/batch', {
        body: {
          jobs: [
            { type: 'store_note', payload: { text: 'ok' } },
            { type: 'store_note', payload: { text: 'x'.repeat(300_000) } },
          ],
        },
      });
      assert.equal(large.status, 413);
      assert.equal(large.body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.deepEqual(paths(large), ['jobs.1.payload']);
      assert.equal(await count(), before);

      const unknown = await call(api, 'POST', '/v1/jobs/batch', { body: { jobs: [email('u'), { type: 'nope', payload: {} }] } });
      assert.equal(unknown.body.error.code, 'UNKNOWN_TYPE');
      assert.deepEqual(paths(unknown), ['jobs.1.type']);
      assert.equal(await count(), before);
      assert.deepEqual(await flushed(), []);
    });

    it('takes 1 to 500 jobs, with a clear message beyond', async () => {
      const before = await count();
      const tooMany = await call(api, 'POST', '/v1/jobs/batch', {
        body: { jobs: Array.from({ length: 501 }, (_, i) => ({ type: 'process_order', payload: { orderId: `o${i}` } })) },
      });
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.body.error.code, 'BATCH_TOO_LARGE');
      assert.match(tooMany.body.error.message, /at most 500 jobs; got 501/);
      const empty = await call(api, 'POST', '/v1/jobs/batch', { body: { jobs: [] } });
      assert.equal(empty.status, 400);
      assert.deepEqual(paths(empty), ['jobs']);
      const noJobs = await call(api, 'POST', '/v1/jobs/batch', { body: { job: [] } });
      assert.equal(noJobs.status, 400);
      assert.equal(await count(), before);
      const max = await call(api, 'POST', '/v1/jobs/batch', {
        body: { jobs: Array.from({ length: 500 }, (_, i) => ({ type: 'process_order', payload: { orderId: `max${i}` } })) },
      });
      assert.equal(max.status, 201);
      assert.equal(await count(), before + 500);
      assert.deepEqual(await flushed(), [{ queue: 'default', count: 500 }]);
    });
  });
});
