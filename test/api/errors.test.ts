/** Errors across the routes: every documented 4xx, and the 503, 400 and 500 of a failing or refusing backend. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createApi } from '../../functions/api/app.js';
import { MAX_BODY_BYTES } from '../../functions/api/schemas.js';
import { Sluice, silentLogger } from '../../src/index.js';
import { call, email, paths, recordingLogger, send, testApi } from '../helpers/api.js';
import { type HttpEventInit, httpEvent } from '../helpers/aws.js';

describe('enqueue API', async () => {
  const { pool, schema, registry, publisher, log, api, count, flushed } = await testApi();

  it('table: every bad input answers its documented 4xx in the one error shape, and writes nothing', async () => {
    const big = JSON.stringify({ ...email('big'), pad: 'x'.repeat(MAX_BODY_BYTES) });
    const table: Array<{ name: string; method: string; path: string; init?: HttpEventInit; status: number; code: string }> = [
      { name: 'bad JSON', method: 'POST', path: '/v1/jobs', init: { body: '{"type": ' }, status: 400, code: 'INVALID_JSON' },
      { name: 'empty body', method: 'POST', path: '/v1/jobs', init: { body: '' }, status: 400, code: 'INVALID_JSON' },
      {
        name: 'wrong content type',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: email('a'), headers: { 'content-type': 'text/plain' } },
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      { name: 'missing type', method: 'POST', path: '/v1/jobs', init: { body: { payload: {} } }, status: 400, code: 'VALIDATION' },
      {
        name: 'mistyped priority',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: { ...email('a'), priority: 'high' } },
        status: 400,
        code: 'VALIDATION',
      },
      {
        name: 'unknown field',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: { ...email('a'), colour: 'red' } },
        status: 400,
        code: 'VALIDATION',
      },
      {
        name: 'runAt and delaySeconds',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: { ...email('a'), runAt: '2030-01-01T00:00:00Z', delaySeconds: 5 } },
        status: 400,
        code: 'VALIDATION',
      },
      {
        name: 'unknown type',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: { type: 'mine_bitcoin', payload: {} } },
        status: 400,
        code: 'UNKNOWN_TYPE',
      },
      {
        name: 'invalid payload',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: { type: 'send_email', payload: { userId: 'a', to: 'not-an-email', template: 'welcome' } } },
        status: 400,
        code: 'VALIDATION',
      },
      { name: 'body over 1 MiB', method: 'POST', path: '/v1/jobs', init: { body: big }, status: 413, code: 'REQUEST_TOO_LARGE' },
      {
        name: '__proto__ key',
        method: 'POST',
        path: '/v1/jobs',
        init: { body: '{"type":"send_email","payload":{"__proto__":{"admin":true}}}' },
        status: 400,
        code: 'FORBIDDEN_KEY',
      },
      {
        name: 'constructor key',
        method: 'POST',
        path: '/v1/jobs/batch',
        init: { body: '{"jobs":[{"type":"send_email","payload":{"constructor":{"prototype":{}}}}]}' },
        status: 400,
        code: 'FORBIDDEN_KEY',
      },
      { name: 'empty batch', method: 'POST', path: '/v1/jobs/batch', init: { body: { jobs: [] } }, status: 400, code: 'VALIDATION' },
      {
        name: 'one bad item in a batch',
        method: 'POST',
        path: '/v1/jobs/batch',
        init: { body: { jobs: [email('a'), { type: 'send_email', payload: {} }] } },
        status: 400,
        code: 'VALIDATION',
      },
      { name: 'malformed id', method: 'GET', path: '/v1/jobs/1%27%20OR%201=1', status: 400, code: 'VALIDATION' },
      { name: 'unknown route', method: 'GET', path: '/v1/nope', status: 404, code: 'ROUTE_NOT_FOUND' },
      { name: 'wrong method', method: 'PUT', path: '/v1/jobs', init: { body: email('a') }, status: 405, code: 'METHOD_NOT_ALLOWED' },
      {
        name: 'empty redrive filter',
        method: 'POST',
        path: '/v1/dead-letters/redrive',
        init: { body: {} },
        status: 400,
        code: 'VALIDATION',
      },
    ];
    const before = await count();
    for (const row of table) {
      const r = await call(api, row.method, row.path, row.init);
      assert.equal(r.status, row.status, `${row.name}: status`);
      assert.equal(r.body.error.code, row.code, `${row.name}: code`);
      assert.equal(typeof r.body.error.message, 'string', `${row.name}: message`);
    }
    assert.equal(await count(), before, 'no row was written');
  });

  describe('failures', () => {
    it('503 with Retry-After when the database is down, without echoing the connection string', async () => {
      const down = new pg.Pool({ connectionString: 'postgres://app:s3cr3t-pw@127.0.0.1:1/sluice', connectionTimeoutMillis: 2_000 });
      after(() => down.end());
      const downLog = recordingLogger();
      const downApi = createApi({ sluice: new Sluice({ db: down, schema }), registry, publisher, logger: downLog.logger });
      for (const [method, path, body] of [
        ['POST', '/v1/jobs', email('down')],
        ['GET', '/v1/queues', undefined],
        ['GET', '/v1/jobs/1', undefined],
      ] as const) {
        const r = await call(downApi, method, path, body === undefined ? {} : { body });
        assert.equal(r.status, 503, `${method} ${path}`);
        assert.equal(r.headers['retry-after'], '5');
        assert.equal(r.body.error.code, 'UNAVAILABLE');
        assert.ok(!JSON.stringify(r.body).includes('s3cr3t') && !JSON.stringify(r.body).includes('127.0.0.1'));
      }
      assert.ok(downLog.lines.some((l) => l.level === 'warn' && l.fields.request_id));
      assert.deepEqual(await flushed(), []);
    });

    it('a queue without a worker (SLUICE_QUEUES) is a 400 naming the queues, and nothing is written', async () => {
      const known = new Sluice({ db: pool, schema, queues: ['default', 'emails'] });
      const strict = createApi({ sluice: known, registry, publisher, logger: silentLogger });
      const before = await count();
      const single = await call(strict, 'POST', '/v1/jobs', { body: { ...email('q1'), queue: 'nowhere' } });
      assert.equal(single.status, 400);
      assert.equal(single.body.error.code, 'VALIDATION');
      assert.deepEqual(paths(single), ['queue']);
      assert.match(single.body.error.message, /queue "nowhere" has no worker.*the queues are default, emails/);
      // The type's own queue counts too: store_note goes to `notes`, which has no worker here.
      const ownQueue = await call(strict, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'x' } } });
      assert.deepEqual([ownQueue.status, paths(ownQueue)], [400, ['queue']]);
      const batch = await call(strict, 'POST', '/v1/jobs/batch', { body: { jobs: [email('q2'), { ...email('q3'), queue: 'nowhere' }] } });
      assert.deepEqual([batch.status, paths(batch)], [400, ['jobs.1.queue']]);
      const redrive = await call(strict, 'POST', '/v1/dead-letters/redrive', { body: { queue: 'emails', toQueue: 'nowhere' } });
      assert.deepEqual([redrive.status, redrive.body.error.code, paths(redrive)], [400, 'VALIDATION', ['toQueue']]);
      assert.equal(await count(), before);
      assert.deepEqual(await flushed(), []);
      assert.equal((await call(strict, 'POST', '/v1/jobs', { body: email('q4') })).status, 201, 'a known queue is accepted');
      await flushed();
    });

    it('500 INTERNAL for an unexpected error: generic message, logged with the request id', async () => {
      log.lines.length = 0;
      const event = httpEvent('POST', '/v1/jobs', { body: { type: 'explode', payload: {} } });
      const r = await send(api, event);
      assert.equal(r.status, 500);
      assert.equal(r.body.error.code, 'INTERNAL');
      assert.ok(!JSON.stringify(r.body).includes('hunter2'), 'the message is not echoed');
      assert.ok(!JSON.stringify(r.body).includes('at '), 'no stack');
      const line = log.lines.find((l) => l.level === 'error');
      assert.equal(line?.fields.request_id, event.requestContext.requestId);
      assert.match(JSON.stringify(line?.fields), /hunter2/);
    });
  });
});
