/** GET /v1/jobs/{id} and POST /v1/jobs/{id}/cancel. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelResponse, JobWithTimeline } from '../../functions/api/schemas.js';
import { call, email, paths, testApi } from '../helpers/api.js';
import { insertJob } from '../helpers/jobs.js';

describe('enqueue API', async () => {
  const { sluice, pool, schema, api, flushed } = await testApi();

  describe('GET /v1/jobs/{id} and cancel', () => {
    it('returns the job with payload and errors; 404 when there is none', async () => {
      const created = await call(api, 'POST', '/v1/jobs', { body: email('get') });
      const r = await call(api, 'GET', `/v1/jobs/${created.body.id}`);
      assert.equal(r.status, 200);
      const job = JobWithTimeline.strict().parse(r.body);
      assert.equal(job.id, created.body.id);
      assert.deepEqual(job.payload, { userId: 'get', to: 'get@example.com', template: 'welcome' });
      assert.deepEqual(job.errors, []);
      assert.equal(job.finishedAt, null);
      assert.deepEqual(job.timeline, []);
      // A finished job: its finish time, and its attempt on the timeline with ISO times.
      const done = await insertJob(pool, schema, { state: 'succeeded' });
      const finished = JobWithTimeline.strict().parse((await call(api, 'GET', `/v1/jobs/${done}`)).body);
      assert.equal(finished.state, 'succeeded');
      assert.ok(finished.finishedAt && !Number.isNaN(Date.parse(finished.finishedAt)));
      assert.deepEqual(
        finished.timeline.map((e) => [e.kind, e.kind === 'attempt' && e.outcome, e.kind === 'attempt' && typeof e.startedAt]),
        [['attempt', 'succeeded', 'string']],
      );
      const missing = await call(api, 'GET', '/v1/jobs/9223372036854775807');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'NOT_FOUND');
      await flushed();
    });

    it('answers 400, not 500, for a malformed id', async () => {
      for (const id of ['abc', '0', '-1', '1.5', '01', '1e3', '%31', '9223372036854775808', '99999999999999999999']) {
        for (const [method, path] of [
          ['GET', `/v1/jobs/${id}`],
          ['POST', `/v1/jobs/${id}/cancel`],
          ['DELETE', `/v1/dead-letters/${id}`],
        ] as const) {
          const r = await call(api, method, path);
          assert.equal(r.status, 400, `${method} ${path}`);
          assert.equal(r.body.error.code, 'VALIDATION');
          assert.deepEqual(paths(r), ['id']);
        }
      }
    });

    it('cancels: cancelled when waiting, cancelling when running, 409 when finished, 404 when unknown', async () => {
      const waiting = await call(api, 'POST', '/v1/jobs', { body: email('c1') });
      const r = await call(api, 'POST', `/v1/jobs/${waiting.body.id}/cancel`);
      assert.equal(r.status, 200);
      assert.deepEqual(CancelResponse.strict().parse(r.body), { id: waiting.body.id, result: 'cancelled' });
      assert.equal((await sluice.getJob(waiting.body.id))?.state, 'cancelled');

      const running = await insertJob(pool, schema, { state: 'running', ...email('c2'), queue: 'emails' });
      const flagged = await call(api, 'POST', `/v1/jobs/${running}/cancel`);
      assert.deepEqual(flagged.body, { id: running, result: 'cancelling' });

      const finished = await call(api, 'POST', `/v1/jobs/${waiting.body.id}/cancel`);
      assert.equal(finished.status, 409);
      assert.equal(finished.body.error.code, 'NOT_CANCELLABLE');
      const unknown = await call(api, 'POST', '/v1/jobs/987654321/cancel');
      assert.equal(unknown.status, 404);
      await flushed();
    });
  });
});
