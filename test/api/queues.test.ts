/** GET /v1/queues. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueuesResponse } from '../../functions/api/schemas.js';
import { call, storeNote, testApi } from '../helpers/api.js';
import { insertJob } from '../helpers/jobs.js';

describe('enqueue API', async () => {
  const { sluice, pool, schema, api } = await testApi();

  describe('GET /v1/queues', () => {
    it('returns the per-queue counts', async () => {
      const note = { ...storeNote, queue: 'stats-q' };
      await insertJob(pool, schema, { state: 'ready', job: note, payload: { text: 'a' } });
      await insertJob(pool, schema, { state: 'scheduled', job: note, payload: { text: 'b' } });
      const r = await call(api, 'GET', '/v1/queues');
      assert.equal(r.status, 200);
      const { queues } = QueuesResponse.parse(r.body);
      const q = queues.find((x) => x.queue === 'stats-q');
      assert.deepEqual(
        { ...q, oldestReadyAgeSeconds: 0 },
        { queue: 'stats-q', ready: 1, scheduled: 1, running: 0, dead: 0, oldestReadyAgeSeconds: 0 },
      );
      assert.deepEqual(
        queues.map((x) => x.queue),
        (await sluice.stats()).map((x) => x.queue),
        'the queues of stats()',
      );
    });
  });
});
