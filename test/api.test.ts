import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { z } from 'zod';
import { definitions } from '../examples/definitions.js';
import { type ApiHandler, type ApiResult, createApi } from '../functions/api/app.js';
import {
  BatchEnqueueResponse,
  CancelResponse,
  DeadLetterListResponse,
  EnqueuedJob,
  ErrorResponse,
  JobDetail,
  MAX_BODY_BYTES,
  PurgeResponse,
  QueuesResponse,
  RedriveResponse,
} from '../functions/api/schemas.js';
import { EventPublisher } from '../functions/shared/events.js';
import { defineHandler } from '../src/handler.js';
import { defineJob, JobRegistry, type Logger, PermanentJobError, Sluice, silentLogger } from '../src/index.js';
import { recordingSink } from './helpers/aws.js';
import { testSluice } from './helpers/db.js';

// ---- a realistic API Gateway HTTP API (payload format 2.0) event --------------------------------------

let requestSeq = 0;

interface EventInit {
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  base64?: boolean;
}

function httpEvent(method: string, target: string, init: EventInit = {}): APIGatewayProxyEventV2 {
  const [rawPath = '', rawQueryString = ''] = target.split('?');
  const text = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers: Record<string, string> = {
    accept: 'application/json',
    host: 'abc123.execute-api.eu-west-1.amazonaws.com',
    'user-agent': 'api-test',
    'x-forwarded-proto': 'https',
    ...(text !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } : {}),
  };
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  const now = new Date();
  const requestId = `req-${++requestSeq}`;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    ...(rawQueryString ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'api-test' },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(text !== undefined ? { body: init.base64 ? Buffer.from(text).toString('base64') : text } : {}),
    isBase64Encoded: init.base64 ?? false,
  };
}

interface Reply {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked against their schemas
  body: any;
}

/** Call the API; every response must be JSON, and every failure must have the one error shape. */
async function send(api: ApiHandler, event: APIGatewayProxyEventV2): Promise<Reply> {
  const res: ApiResult = await api(event);
  const headers = Object.fromEntries(Object.entries(res.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  assert.equal(headers['content-type'], 'application/json', `content-type of ${event.rawPath}`);
  const body = JSON.parse(res.body ?? '');
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    ErrorResponse.strict().parse(body);
    assert.deepEqual(Object.keys(body), ['error']);
  }
  return { status, headers, body };
}

function call(api: ApiHandler, method: string, target: string, init?: EventInit): Promise<Reply> {
  return send(api, httpEvent(method, target, init));
}

/** Paths of the issues, dotted. */
const paths = (r: Reply): string[] => (r.body.error.issues ?? []).map((i: { path: unknown[] }) => i.path.join('.'));

// ---- fixtures -------------------------------------------------------------------------------------------

const storeNote = defineJob({ type: 'store_note', schema: z.object({ text: z.string() }), queue: 'notes' });
const dlA = defineJob({ type: 'dl_a', schema: z.object({ n: z.number() }), queue: 'dl-api', timeout: 1000, maxAttempts: 1 });
const dlB = defineJob({ type: 'dl_b', schema: z.object({ n: z.number() }), queue: 'dl-api', timeout: 1000, maxAttempts: 1 });
const SECRET = 'secret internals: password=hunter2';
const explode = defineJob({
  type: 'explode',
  schema: z.object({}).transform(() => {
    throw new Error(SECRET);
  }),
});

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const enqueuedEvents = (entries: PutEventsRequestEntry[]) =>
  entries.filter((e) => e.DetailType === 'JobsEnqueued').map((e) => JSON.parse(e.Detail ?? '{}') as { queue: string; count: number });

describe('enqueue API', async () => {
  const { sluice, pool, schema } = await testSluice();
  const registry = new JobRegistry([...definitions, storeNote, dlA, dlB, explode]);
  const { sink, entries } = recordingSink();
  const publisher = new EventPublisher({ sink, busName: 'test-bus', source: 'sluice', logger: silentLogger });
  const log = recordingLogger();
  const api = createApi({ sluice, registry, publisher, logger: log.logger });

  const count = async () => Number((await pool.query(`SELECT count(*) FROM "${schema}".jobs`)).rows[0].count);
  /** Flush the publisher and return the JobsEnqueued details it sent. */
  const flushed = async () => {
    entries.length = 0;
    await publisher.flush();
    return enqueuedEvents(entries);
  };
  const email = (userId: string) => ({ type: 'send_email', payload: { userId, to: `${userId}@example.com`, template: 'welcome' } });

  before(async () => {
    await flushed();
  });

  it('table: every bad input answers its documented 4xx in the one error shape, and writes nothing', async () => {
    const big = JSON.stringify({ ...email('big'), pad: 'x'.repeat(MAX_BODY_BYTES) });
    const table: Array<{ name: string; method: string; path: string; init?: EventInit; status: number; code: string }> = [
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

  describe('request bodies', () => {
    it('400 INVALID_JSON for malformed JSON and an empty body', async () => {
      for (const body of ['{"type": "send_email", ', '', 'undefined', "{'a':1}"]) {
        const r = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.error.code, 'INVALID_JSON');
      }
    });

    it('415 for a content type other than application/json; charset utf-8 is fine', async () => {
      const body = JSON.stringify(email('ct'));
      for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1', 'application/jsonp']) {
        const r = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': ct } });
        assert.equal(r.status, 415, ct);
        assert.equal(r.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
      }
      const event = httpEvent('POST', '/v1/dead-letters/redrive', { body: { queue: 'dl-api' } });
      delete event.headers['content-type'];
      assert.equal((await send(api, event)).status, 415, 'no content type at all');
      const ok = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': 'Application/JSON; charset="UTF-8"' } });
      assert.equal(ok.status, 201);
      await flushed();
    });

    it('413 for a body over 1 MiB, counting decoded bytes when base64-encoded', async () => {
      const before = await count();
      const big = JSON.stringify({ type: 'store_note', payload: { text: 'x'.repeat(MAX_BODY_BYTES) } });
      const raw = await call(api, 'POST', '/v1/jobs', { body: big });
      assert.equal(raw.status, 413);
      assert.equal(raw.body.error.code, 'REQUEST_TOO_LARGE');
      const encoded = await call(api, 'POST', '/v1/jobs', { body: big, base64: true });
      assert.equal(encoded.status, 413);
      assert.equal(encoded.body.error.code, 'REQUEST_TOO_LARGE');
      // 900 KiB decoded is under the body limit although its base64 form is over it: the body passes and the
      // library's payload limit (256 KiB) answers instead.
      const under = JSON.stringify({ type: 'store_note', payload: { text: 'x'.repeat(900 * 1024) } });
      assert.ok(Buffer.from(under).toString('base64').length > MAX_BODY_BYTES);
      const decoded = await call(api, 'POST', '/v1/jobs', { body: under, base64: true });
      assert.equal(decoded.status, 413);
      assert.equal(decoded.body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(await count(), before);
    });

    it('accepts a base64-encoded body, and refuses one that is not UTF-8', async () => {
      const ok = await call(api, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'héllo ✓' } }, base64: true });
      assert.equal(ok.status, 201);
      assert.deepEqual((await sluice.getJob(ok.body.id))?.payload, { text: 'héllo ✓' });
      const event = httpEvent('POST', '/v1/jobs', { body: '{}' });
      event.body = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]).toString('base64');
      event.isBase64Encoded = true;
      const bad = await send(api, event);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'INVALID_JSON');
      await flushed();
    });

    it('refuses __proto__, constructor and prototype keys anywhere, naming where', async () => {
      const before = await count();
      const cases: Array<[string, string, string]> = [
        ['/v1/jobs', '{"__proto__": {"polluted": true}, "type": "store_note", "payload": {"text": "a"}}', '__proto__'],
        [
          '/v1/jobs',
          '{"type": "store_note", "payload": {"text": "a", "m": {"constructor": {"prototype": {"polluted": true}}}}}',
          'payload.m.constructor',
        ],
        [
          '/v1/jobs/batch',
          '{"jobs": [{"type": "store_note", "payload": {"text": "a"}}, {"type": "store_note", "payload": [{"prototype": 1}]}]}',
          'jobs.1.payload.0.prototype',
        ],
        ['/v1/dead-letters/redrive', '{"queue": "dl-api", "__proto__": {"isAdmin": true}}', '__proto__'],
      ];
      for (const [path, body, where] of cases) {
        const r = await call(api, 'POST', path, { body });
        assert.equal(r.status, 400, body);
        assert.equal(r.body.error.code, 'FORBIDDEN_KEY');
        assert.deepEqual(paths(r), [where]);
      }
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(({} as { isAdmin?: unknown }).isAdmin, undefined);
      assert.equal(await count(), before);
    });

    it('refuses strings with lone surrogates (jsonb cannot store them) and absurd nesting', async () => {
      const surrogate = await call(api, 'POST', '/v1/jobs', { body: '{"type": "store_note", "payload": {"text": "a\\ud800b"}}' });
      assert.equal(surrogate.status, 400);
      assert.deepEqual(paths(surrogate), ['payload.text']);
      const deep = `{"type": "store_note", "payload": {"text": "a", "d": ${'['.repeat(200)}${']'.repeat(200)}}}`;
      const nested = await call(api, 'POST', '/v1/jobs', { body: deep });
      assert.equal(nested.status, 400);
      assert.equal(nested.body.error.code, 'INVALID_JSON');
    });
  });

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

  describe('GET /v1/jobs/{id} and cancel', () => {
    it('returns the job with payload and errors; 404 when there is none', async () => {
      const created = await call(api, 'POST', '/v1/jobs', { body: email('get') });
      const r = await call(api, 'GET', `/v1/jobs/${created.body.id}`);
      assert.equal(r.status, 200);
      const job = JobDetail.strict().parse(r.body);
      assert.equal(job.id, created.body.id);
      assert.deepEqual(job.payload, { userId: 'get', to: 'get@example.com', template: 'welcome' });
      assert.deepEqual(job.errors, []);
      assert.equal(job.finishedAt, null);
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

      const running = await call(api, 'POST', '/v1/jobs', { body: email('c2') });
      await pool.query(`UPDATE "${schema}".active_jobs SET attempt = 1, lease_expires_at = now() + interval '1 minute' WHERE id = $1`, [
        running.body.id,
      ]);
      const flagged = await call(api, 'POST', `/v1/jobs/${running.body.id}/cancel`);
      assert.deepEqual(flagged.body, { id: running.body.id, result: 'cancelling' });

      const finished = await call(api, 'POST', `/v1/jobs/${waiting.body.id}/cancel`);
      assert.equal(finished.status, 409);
      assert.equal(finished.body.error.code, 'NOT_CANCELLABLE');
      const unknown = await call(api, 'POST', '/v1/jobs/987654321/cancel');
      assert.equal(unknown.status, 404);
      await flushed();
    });
  });

  describe('GET /v1/queues', () => {
    it('returns the per-queue counts', async () => {
      await call(api, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'a' }, queue: 'stats-q' } });
      await call(api, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'b' }, queue: 'stats-q', delaySeconds: 600 } });
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
      await flushed();
    });
  });

  describe('dead letters', () => {
    const ids: { a: string[]; b: string[] } = { a: [], b: [] };

    before(async () => {
      const r = await call(api, 'POST', '/v1/jobs/batch', {
        body: {
          jobs: [
            { type: 'dl_a', payload: { n: 1 } },
            { type: 'dl_a', payload: { n: 2 } },
            { type: 'dl_b', payload: { n: 3 } },
            { type: 'dl_a', payload: { n: 4 } },
          ],
        },
      });
      assert.equal(r.status, 201);
      for (const j of r.body.jobs) (j.type === 'dl_a' ? ids.a : ids.b).push(j.id);
      const refuse = (d: typeof dlA) =>
        defineHandler(d, () => {
          throw new PermanentJobError('refused');
        });
      const s = await sluice.worker({ queue: 'dl-api', handlers: [refuse(dlA), refuse(dlB)] }).drain({ remainingTimeMs: 3_000 });
      assert.equal(s.dead, 4);
      await flushed();
    });

    it('lists with filters and keyset pages', async () => {
      const page1 = await call(api, 'GET', '/v1/dead-letters?queue=dl-api&limit=2');
      assert.equal(page1.status, 200);
      const p1 = DeadLetterListResponse.parse(page1.body);
      const all = [...ids.a, ...ids.b].sort((x, y) => Number(BigInt(x) - BigInt(y)));
      assert.deepEqual(
        p1.deadLetters.map((d) => d.id),
        all.slice(0, 2),
      );
      assert.equal(p1.next, all[1]);
      assert.ok(p1.deadLetters.every((d) => d.state === 'dead' && d.errors.length === 1 && d.errors[0]?.message === 'refused'));
      const page2 = await call(api, 'GET', `/v1/dead-letters?queue=dl-api&limit=2&after=${p1.next}`);
      assert.deepEqual(
        page2.body.deadLetters.map((d: { id: string }) => d.id),
        all.slice(2),
      );
      assert.equal(page2.body.next, null, 'the last page');
      const byType = await call(api, 'GET', '/v1/dead-letters?type=dl_b&queue=');
      assert.deepEqual(
        byType.body.deadLetters.map((d: { id: string }) => d.id),
        ids.b,
      );
      const dflt = await call(api, 'GET', '/v1/dead-letters');
      assert.equal(dflt.status, 200);
      assert.ok(dflt.body.deadLetters.length >= 4 && dflt.body.deadLetters.length <= 50);
    });

    it('rejects a bad limit, after, unknown or repeated parameter', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=5.5', 'after=xyz', 'colour=red', 'limit=1&limit=2']) {
        const r = await call(api, 'GET', `/v1/dead-letters?${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.body.error.code, 'VALIDATION');
        assert.ok(paths(r)[0]?.startsWith('query.'), `${q}: ${paths(r)}`);
      }
    });

    it('redrives by ids, or by queue and type to another queue; an empty filter is a 400', async () => {
      const [first] = ids.a;
      const byId = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { ids: [first] } });
      assert.equal(byId.status, 200);
      assert.deepEqual(RedriveResponse.strict().parse(byId.body), { redriven: [first] });
      assert.equal((await sluice.getJob(first as string))?.state, 'available');
      assert.deepEqual(await flushed(), [], 'a redrive is not an enqueue');

      const moved = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { queue: 'dl-api', type: 'dl_b', toQueue: 'dl-other' } });
      assert.deepEqual(moved.body, { redriven: ids.b });
      const job = await sluice.getJob(ids.b[0] as string);
      assert.deepEqual([job?.state, job?.queue], ['available', 'dl-other']);

      for (const body of [
        {},
        { toQueue: 'dl-api' },
        { ids: [] },
        { ids: ['abc'] },
        { ids: [ids.a[1]], queue: 'dl-api' },
        { queue: 'dl-api', extra: 1 },
      ]) {
        const r = await call(api, 'POST', '/v1/dead-letters/redrive', { body });
        assert.equal(r.status, 400, JSON.stringify(body));
      }
      assert.equal((await sluice.getJob(ids.a[1] as string))?.state, 'dead', 'nothing redriven by the refused requests');
    });

    it('purges one dead letter; 404 when it is not a dead letter', async () => {
      const id = ids.a[1] as string;
      const r = await call(api, 'DELETE', `/v1/dead-letters/${id}`);
      assert.equal(r.status, 200);
      assert.deepEqual(PurgeResponse.strict().parse(r.body), { purged: id });
      assert.equal(await sluice.getJob(id), null);
      assert.equal((await call(api, 'DELETE', `/v1/dead-letters/${id}`)).status, 404);
      const live = ids.a[0] as string; // redriven above: available, not dead
      const notDead = await call(api, 'DELETE', `/v1/dead-letters/${live}`);
      assert.equal(notDead.status, 404);
      assert.equal((await sluice.getJob(live))?.state, 'available');
    });
  });

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
        ['PUT', '/v1/jobs', 'POST'],
        ['GET', '/v1/jobs', 'POST'],
        ['GET', '/v1/jobs/batch', 'POST'],
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

describe('the Lambda handler (middy)', async () => {
  const { sluice, schema, url } = await testSluice();
  const eventBridge = mockClient(EventBridgeClient);
  Object.assign(process.env, {
    DATABASE_URL: url,
    SLUICE_SCHEMA: schema,
    EVENT_BUS_NAME: 'sluice-test-bus',
    EVENT_SOURCE: 'sluice.test',
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    WAKE_COALESCE_MS: '0', // one JobsEnqueued per request here; coalescing across requests is tested in shared.fn
  });
  const { handler } = await import('../examples/functions/api.js');
  const { closePool } = await import('../functions/shared/db.js');
  const { logger } = await import('../functions/shared/observability.js');
  after(async () => {
    eventBridge.restore();
    await closePool();
  });

  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'sluice-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:sluice-api',
    memoryLimitInMB: '256',
    awsRequestId: 'lambda-request-1',
    logGroupName: '/aws/lambda/sluice-api',
    logStreamName: '2030/01/01/[$LATEST]abc',
    getRemainingTimeInMillis: () => 10_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  const invoke = (event: APIGatewayProxyEventV2) => send(async (e) => handler(e, context), event);
  const body = { type: 'send_email', payload: { userId: 'h1', to: 'h1@example.com', template: 'receipt' } };

  it('enqueues end to end and puts one JobsEnqueued event on the bus after the response, with the request id on logs', async () => {
    eventBridge.reset();
    let correlation: unknown;
    eventBridge.on(PutEventsCommand).callsFake(() => {
      correlation = logger.getCorrelationId();
      return { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };
    });
    const event = httpEvent('POST', '/v1/jobs', { body });
    const r = await invoke(event);
    assert.equal(r.status, 201);
    assert.equal((await sluice.getJob(r.body.id))?.state, 'available');
    const calls = eventBridge.commandCalls(PutEventsCommand);
    assert.equal(calls.length, 1);
    const entries = calls[0]?.args[0].input.Entries ?? [];
    assert.deepEqual(
      entries.map((e) => [e.EventBusName, e.Source, e.DetailType, JSON.parse(e.Detail ?? '')]),
      [['sluice-test-bus', 'sluice.test', 'JobsEnqueued', { queue: 'emails', count: 1 }]],
    );
    assert.equal(correlation, event.requestContext.requestId);
    const got = await invoke(httpEvent('GET', `/v1/jobs/${r.body.id}`));
    assert.equal(got.status, 200);
    assert.equal(eventBridge.commandCalls(PutEventsCommand).length, 1, 'a read publishes nothing');
  });

  it('still answers 201 when EventBridge fails, and the job exists', async () => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge is down'));
    const r = await invoke(httpEvent('POST', '/v1/jobs', { body: { ...body, payload: { ...body.payload, userId: 'h2' } } }));
    assert.equal(r.status, 201);
    assert.ok(eventBridge.commandCalls(PutEventsCommand).length >= 1, 'the publish was attempted');
    const job = await sluice.getJob(r.body.id);
    assert.deepEqual(job?.payload, { userId: 'h2', to: 'h1@example.com', template: 'receipt' });
  });

  it('maps errors through the handler too', async () => {
    eventBridge.reset();
    const r = await invoke(httpEvent('POST', '/v1/jobs', { body: { type: 'send_email', payload: {} } }));
    assert.equal(r.status, 400);
    assert.equal(eventBridge.commandCalls(PutEventsCommand).length, 0);
    assert.equal((await invoke(httpEvent('GET', '/nowhere'))).status, 404);
  });
});
