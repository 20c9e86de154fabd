/** GET /v1/queues. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApi } from '../../functions/api/app.js';
import { QueuePauseResponse, QueuesResponse } from '../../functions/api/schemas.js';
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
        {
          queue: 'stats-q',
          ready: 1,
          scheduled: 1,
          scheduledCapped: false,
          running: 0,
          dead: 0,
          oldestReadyAgeSeconds: 'number',
          paused: false,
        },
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

  describe('POST /v1/queues/{queue}/pause and /resume', () => {
    it('pauses and resumes, says whether anything changed, and shows it in GET /v1/queues', async () => {
      const pause = await call(api, 'POST', '/v1/queues/stats-q/pause');
      assert.deepEqual([pause.status, QueuePauseResponse.parse(pause.body)], [200, { queue: 'stats-q', paused: true, changed: true }]);
      assert.equal(QueuePauseResponse.parse((await call(api, 'POST', '/v1/queues/stats-q/pause')).body).changed, false);
      const { queues } = QueuesResponse.parse((await call(api, 'GET', '/v1/queues')).body);
      assert.equal(queues.find((q) => q.queue === 'stats-q')?.paused, true);
      assert.equal((await sluice.worker({ queue: 'stats-q', handlers: [] }).drain({ remainingTimeMs: 30_000 })).claimed, 0);
      const resume = await call(api, 'POST', '/v1/queues/stats-q/resume');
      assert.deepEqual(resume.body, { queue: 'stats-q', paused: false, changed: true });
      const after = QueuesResponse.parse((await call(api, 'GET', '/v1/queues')).body).queues;
      assert.equal(after.find((q) => q.queue === 'stats-q')?.paused, false);
    });

    it('refuses a bad name, a queue without a worker, and other methods, writing nothing', async () => {
      const bad = await call(api, 'POST', '/v1/queues/Not%20A%20Queue/pause');
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'VALIDATION']);
      const withQueues = createApi({
        sluice: new Sluice({ db: pool, schema, queues: ['stats-q'] }),
        registry,
        publisher,
        logger: silentLogger,
      });
      const unknown = await call(withQueues, 'POST', '/v1/queues/elsewhere/pause');
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.error.message, /elsewhere/);
      assert.equal((await call(api, 'GET', '/v1/queues/stats-q/pause')).status, 405);
      assert.ok(!(await sluice.stats()).some((q) => q.paused), 'nothing paused');
    });
  });
});
