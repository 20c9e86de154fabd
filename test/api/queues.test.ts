/** GET /v1/queues. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApi } from '../../functions/api/app.js';
import { QueuesResponse } from '../../functions/api/schemas.js';
import { Sluice, silentLogger } from '../../src/index.js';
import { call, storeNote, testApi } from '../helpers/api.js';
import { insertJob } from '../helpers/jobs.js';

describe('enqueue API', async () => {
  const { sluice, pool, schema, api, registry, publisher } = await testApi();

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
        { ...q, oldestReadyAgeSeconds: typeof q?.oldestReadyAgeSeconds },
        { queue: 'stats-q', ready: 1, scheduled: 1, running: 0, dead: 0, oldestReadyAgeSeconds: 'number' },
      );
      assert.deepEqual(
        queues.map((x) => x.queue),
        (await sluice.stats()).map((x) => x.queue),
        'the queues of stats()',
      );
    });

    it('lists every queue that has a worker (SLUICE_QUEUES), empty ones too, with no age when nothing is ready', async () => {
      const withQueues = createApi({
        sluice: new Sluice({ db: pool, schema, queues: ['quiet', 'stats-q'] }),
        registry,
        publisher,
        logger: silentLogger,
      });
      const { queues } = QueuesResponse.parse((await call(withQueues, 'GET', '/v1/queues')).body);
      assert.deepEqual(
        queues.slice(0, 2).map((q) => [q.queue, q.ready, q.oldestReadyAgeSeconds === null]),
        [
          ['quiet', 0, true],
          ['stats-q', 1, false],
        ],
      );
    });
  });
});
