import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { Signer } from '@aws-sdk/rds-signer';
import { SignatureV4 } from '@smithy/signature-v4';
import { mockClient } from 'aws-sdk-client-mock';
import { z } from 'zod';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../functions/shared/config.js';
import { poolConfig } from '../functions/shared/db.js';
import { EventPublisher, eventBridgeSink } from '../functions/shared/events.js';
import { credentialsFromEnv, iamAuthToken, signRequest } from '../functions/shared/iamAuthToken.js';
import { silentLogger } from '../src/index.js';
import { recordingSink } from './helpers/aws.js';

describe('configuration', () => {
  it('names the missing or invalid variable', () => {
    assert.throws(() => loadConfig(databaseConfigSchema, {}), /DATABASE_URL: set DATABASE_URL, or DB_HOST, DB_USER and AWS_REGION/);
    assert.throws(() => loadConfig(databaseConfigSchema, { DATABASE_URL: 'postgres://x', DB_POOL_MAX: '9' }), /DB_POOL_MAX/);
    assert.throws(() => loadConfig(databaseConfigSchema, { DATABASE_URL: 'postgres://x', SLUICE_SCHEMA: 'Bad-Name' }), /SLUICE_SCHEMA/);
    assert.throws(
      () => loadConfig(databaseConfigSchema, { DATABASE_URL: 'postgres://x', SLUICE_QUEUES: 'default,,Emails' }),
      /SLUICE_QUEUES/,
    );
    const c = loadConfig(databaseConfigSchema, { DATABASE_URL: 'postgres://x', SLUICE_QUEUES: 'default,emails' });
    assert.deepEqual(c.SLUICE_QUEUES, ['default', 'emails']);
  });
  it('applies defaults and coerces numbers', () => {
    const c = loadConfig(z.intersection(databaseConfigSchema, eventsConfigSchema), { DATABASE_URL: 'postgres://x', DB_POOL_MAX: '1' });
    assert.deepEqual([c.DB_POOL_MAX, c.SLUICE_SCHEMA, c.EVENT_SOURCE, c.EVENT_BUS_NAME], [1, 'sluice', 'sluice', undefined]);
  });
});

describe('database pool configuration', () => {
  it('uses DATABASE_URL locally, with 1–2 connections', () => {
    const c = poolConfig(loadConfig(databaseConfigSchema, { DATABASE_URL: 'postgres://u:p@localhost:5432/db' }));
    assert.equal(c.connectionString, 'postgres://u:p@localhost:5432/db');
    assert.equal(c.max, 2);
  });

  it('on AWS connects to RDS Proxy with a fresh IAM token and TLS that verifies the server', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: '' });
    try {
      const c = poolConfig(
        loadConfig(databaseConfigSchema, {
          DB_HOST: 'proxy.example.eu-west-1.rds.amazonaws.com',
          DB_USER: 'sluice_worker',
          AWS_REGION: 'eu-west-1',
        }),
      );
      assert.deepEqual(c.ssl, { rejectUnauthorized: true });
      assert.deepEqual(
        [c.host, c.port, c.database, c.user],
        ['proxy.example.eu-west-1.rds.amazonaws.com', 5432, 'sluice', 'sluice_worker'],
      );
      assert.equal(typeof c.password, 'function');
      const token = await (c.password as () => Promise<string>)();
      assert.match(token, /^proxy\.example\.eu-west-1\.rds\.amazonaws\.com:5432\/\?Action=connect&DBUser=sluice_worker&/);
      assert.match(token, /X-Amz-Signature=/);
    } finally {
      process.env = saved;
    }
  });
});

describe('IAM database authentication token', () => {
  const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG', sessionToken: 'session/token+=' };
  const target = { hostname: 'proxy.example.eu-west-1.rds.amazonaws.com', port: 5432, username: 'sluice_api', region: 'eu-west-1' };

  it('is exactly the token @aws-sdk/rds-signer makes for the same credentials and instant', async (t) => {
    const at = Date.UTC(2026, 10, 24, 12, 34, 56);
    t.mock.timers.enable({ apis: ['Date'], now: at });
    const ours = await iamAuthToken({ ...target, credentials, signingDate: new Date(at) });
    const theirs = await new Signer({ ...target, credentials }).getAuthToken();
    assert.equal(ours, theirs);
    assert.match(ours, /X-Amz-Expires=900&/);
    assert.match(ours, /X-Amz-Security-Token=session%2Ftoken%2B%3D&/);
    assert.match(ours, /X-Amz-Date=20261124T123456Z&/);
  });

  it('matches @aws-sdk/rds-signer without a session token, for another user, port, region and instant', async (t) => {
    const at = Date.UTC(2027, 0, 2, 3, 4, 5, 678);
    t.mock.timers.enable({ apis: ['Date'], now: at });
    const other = {
      hostname: 'db.cluster-x.us-east-1.rds.amazonaws.com',
      port: 6543,
      username: 'user.with-odd~chars',
      region: 'us-east-1',
    };
    const keys = { accessKeyId: 'AKIDOTHER', secretAccessKey: 'a+b/c=d' };
    const ours = await iamAuthToken({ ...other, credentials: keys, signingDate: new Date(at) });
    assert.equal(ours, await new Signer({ ...other, credentials: keys }).getAuthToken());
    assert.doesNotMatch(ours, /X-Amz-Security-Token/);
  });

  it('signs a request in its headers exactly as @smithy/signature-v4 does (sluice smoke calls the API so)', async () => {
    /** SHA-256 (HMAC when keyed) from node:crypto, in the shape the SDK's signer takes. */
    class Sha256 {
      readonly #h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
      // (The signer passes strings and Uint8Arrays only.)
      constructor(secret?: unknown) {
        this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret as string | Uint8Array);
      }
      update(data: unknown) {
        this.#h.update(data as string | Uint8Array);
      }
      async digest() {
        return new Uint8Array(this.#h.digest());
      }
      reset() {}
    }
    const at = new Date(Date.UTC(2026, 11, 1, 18, 0, 1));
    for (const [creds, method, target, body] of [
      [
        credentials,
        'POST',
        'https://abc123.execute-api.eu-west-1.amazonaws.com/v1/jobs',
        '{"type":"sluice.probe","payload":{"probe":"p"}}',
      ],
      [
        { accessKeyId: 'AKIDOTHER', secretAccessKey: 'a+b/c=d' },
        'GET',
        'https://abc123.execute-api.eu-west-1.amazonaws.com/v1/dead-letters?type=sluice.probe&queue=default&after=41&limit=1',
        undefined,
      ],
    ] as const) {
      const url = new URL(target);
      const headers = {
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      };
      const ours = signRequest({
        method,
        url,
        headers,
        body,
        region: 'eu-west-1',
        service: 'execute-api',
        credentials: creds,
        signingDate: at,
      });
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const theirs = await new SignatureV4({
        service: 'execute-api',
        region: 'eu-west-1',
        credentials: creds,
        sha256: Sha256,
        applyChecksum: false,
      }).sign(
        {
          method,
          protocol: url.protocol,
          hostname: url.hostname,
          path: url.pathname,
          query,
          headers: { ...headers, host: url.host },
          ...(body ? { body } : {}),
        },
        { signingDate: at },
      );
      assert.equal(ours.authorization, theirs.headers.authorization, `${method} ${url.pathname}`);
      assert.equal(ours['x-amz-date'], theirs.headers['x-amz-date']);
      assert.equal(ours['x-amz-security-token'], theirs.headers['x-amz-security-token']);
    }
  });

  it('signs with the credentials Lambda puts in the environment, and names them when missing', () => {
    assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't' }), {
      accessKeyId: 'a',
      secretAccessKey: 's',
      sessionToken: 't',
    });
    assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's' }), {
      accessKeyId: 'a',
      secretAccessKey: 's',
    });
    assert.throws(() => credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'a' }), /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });
});

describe('the container pool', () => {
  it('survives the server closing an idle connection, and reports it', async () => {
    const { testSluice } = await import('./helpers/db.js');
    const { url, pool: admin } = await testSluice();
    const { getPool, closePool } = await import('../functions/shared/db.js');
    const lost: Error[] = [];
    const pool = getPool(loadConfig(databaseConfigSchema, { DATABASE_URL: url }), (e) => lost.push(e));
    try {
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      for (let i = 0; i < 50 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(lost.length, 1, 'the idle error was handled, not thrown');
      assert.equal((await pool.query('SELECT 1 AS ok')).rows[0].ok, 1, 'the pool opened a new connection');
    } finally {
      await closePool();
    }
  });
});

describe('EventPublisher', () => {
  it('coalesces JobsEnqueued per queue and sends at most 10 entries per PutEvents', async () => {
    const rec = recordingSink();
    const p = new EventPublisher({ sink: rec.sink, busName: 'bus', source: 'sluice', logger: silentLogger });
    for (let i = 0; i < 50; i++) p.jobsEnqueued('emails', 1);
    p.jobsEnqueued('reports', 3);
    for (let i = 0; i < 11; i++) p.drainRequested({ queue: 'emails', generation: 1 });
    assert.equal(await p.flush(), 0);
    assert.deepEqual(rec.details('JobsEnqueued'), [
      { queue: 'emails', count: 50 },
      { queue: 'reports', count: 3 },
    ]);
    assert.deepEqual(rec.calls, [10, 3]);
    assert.ok(rec.entries.every((e) => e.EventBusName === 'bus' && e.Source === 'sluice'));
    assert.equal(await p.flush(), 0, 'nothing left to send');
    assert.deepEqual(rec.calls, [10, 3]);
  });

  it('retries entries EventBridge failed, and never throws when it stays down', async () => {
    const eb = mockClient(EventBridgeClient);
    try {
      eb.on(PutEventsCommand)
        .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }] })
        .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }] });
      const p = new EventPublisher({
        sink: eventBridgeSink(new EventBridgeClient({ region: 'eu-west-1' })),
        busName: 'bus',
        source: 'sluice',
        logger: silentLogger,
      });
      p.jobsEnqueued('a', 1);
      p.jobsEnqueued('b', 1);
      assert.equal(await p.flush(), 0);
      const calls = eb
        .commandCalls(PutEventsCommand)
        .map((c) => (c.args[0].input.Entries ?? []).map((e) => JSON.parse(e.Detail as string).queue));
      assert.deepEqual(calls, [['a', 'b'], ['b']], 'only the failed entry was sent again');

      eb.reset();
      eb.on(PutEventsCommand).rejects(new Error('EventBridge is down'));
      p.jobDeadLettered({ jobId: '1', type: 't', queue: 'q', attempts: 3, lastError: 'x'.repeat(5000) });
      assert.equal(await p.flush(), 1);
      assert.equal(p.failedEntries, 1);
      assert.equal(eb.commandCalls(PutEventsCommand).length, 3, 'three attempts');
      const sent = JSON.parse(eb.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.Detail as string);
      assert.ok(sent.lastError.length <= 1024, 'lastError is truncated');
    } finally {
      eb.restore();
    }
  });

  it('across requests of a container, wakes a queue at most once per window and carries the held count', async () => {
    const rec = recordingSink();
    let now = 1_000_000;
    const p = new EventPublisher({
      sink: rec.sink,
      busName: 'bus',
      source: 'sluice',
      logger: silentLogger,
      wakeCoalesceMs: 1_000,
      now: () => now,
    });
    p.jobsEnqueued('emails', 1);
    await p.flush(); // request 1: wakes emails
    now += 200;
    p.jobsEnqueued('emails', 2);
    p.jobsEnqueued('reports', 1);
    await p.flush(); // request 2: emails held (woken 200 ms ago), reports woken
    now += 900;
    p.jobsEnqueued('emails', 1);
    await p.flush(); // request 3: the window has passed: emails again, with the held count
    assert.deepEqual(rec.details('JobsEnqueued'), [
      { queue: 'emails', count: 1 },
      { queue: 'reports', count: 1 },
      { queue: 'emails', count: 3 },
    ]);
  });

  it('without a bus, nothing is sent and nothing fails', async () => {
    const p = new EventPublisher({ sink: undefined, busName: undefined, source: 'sluice', logger: silentLogger });
    p.jobsEnqueued('a', 1);
    assert.equal(p.enabled, false);
    assert.equal(await p.flush(), 0);
  });
});

describe('EventPublisher deadline', () => {
  it('gives up on an EventBridge that never answers within the flush timeout', async () => {
    const hung: import('../functions/shared/events.js').EventSink = {
      put: (_entries, signal) =>
        new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
    };
    const p = new EventPublisher({ sink: hung, busName: 'bus', source: 'sluice', logger: silentLogger });
    p.jobsEnqueued('emails', 1);
    const started = Date.now();
    assert.equal(await p.flush({ timeoutMs: 300 }), 1);
    assert.ok(Date.now() - started < 1_500, `flush returned after ${Date.now() - started} ms`);
  });
});
