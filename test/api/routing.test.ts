/** Routing: 404 for an unknown route, 405 with Allow for a known path's wrong method. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, testApi } from '../helpers/api.js';

describe('enqueue API', async () => {
  const { api } = await testApi();

  describe('routing', () => {
    it('404 for an unknown route', async () => {
      for (const path of ['/', '/v1', '/v2/jobs', '/v1/job', '/v1/jobs/', '/v1/jobs/1/cancel/now', '/V1/jobs']) {
        const r = await call(api, 'GET', path);
        assert.equal(r.status, 404, path);
        assert.equal(r.body.error.code, 'ROUTE_NOT_FOUND');
      }
    });

    it('405 with Allow for a wrong method on a known path', async () => {
      for (const [method, path, allow] of [
        ['PUT', '/v1/jobs', 'POST, GET'],
        ['DELETE', '/v1/jobs', 'POST, GET'],
        ['GET', '/v1/jobs/batch', 'POST'],
        ['POST', '/v1/jobs/count', 'GET'],
        ['GET', '/v1/jobs/cancel', 'POST'],
        ['GET', '/v1/dead-letters/purge', 'POST'],
        ['DELETE', '/v1/jobs/1', 'GET'],
        ['GET', '/v1/jobs/1/cancel', 'POST'],
        ['POST', '/v1/queues', 'GET'],
        ['DELETE', '/v1/dead-letters/redrive', 'POST'],
        ['GET', '/v1/dead-letters/5', 'DELETE'],
      ] as const) {
        const r = await call(api, method, path);
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.allow, allow);
        assert.equal(r.body.error.code, 'METHOD_NOT_ALLOWED');
      }
    });
  });
});
