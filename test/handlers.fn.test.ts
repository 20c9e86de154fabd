/**
 * The Lambda entry points themselves (middy, configuration from the environment, the container's pool),
 * invoked with realistic events against a real Postgres. Only the AWS SDK is mocked.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { sendEmail } from '../examples/definitions.js';
import { closePool } from '../functions/shared/db.js';
import { eventBridgeEvent, lambdaContext } from './helpers/aws.js';
import { testSluice } from './helpers/db.js';

describe('Lambda entry points', async () => {
  const { sluice, url, schema, pool } = await testSluice();
  const bus = mockClient(EventBridgeClient);
  bus.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
  Object.assign(process.env, {
    DATABASE_URL: url,
    SLUICE_SCHEMA: schema,
    EVENT_BUS_NAME: 'sluice-bus',
    QUEUE: 'emails',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_REGION: 'eu-west-1',
  });
  after(async () => {
    bus.restore();
    await closePool();
  });

  it('the worker drains its queue on a scheduled event and publishes JobDeadLettered to the bus', async () => {
    const { handler } = await import('../examples/functions/worker.js');
    const ok = await sluice.enqueue(sendEmail, { userId: 'u1', to: 'ada@example.com', template: 'welcome' });
    const bad = await sluice.enqueue(sendEmail, { userId: 'u2', to: 'bob@nowhere.invalid', template: 'welcome' });
    const res = await handler(eventBridgeEvent('Scheduled Event', {}), lambdaContext(30_000, 'sluice-worker-emails'));
    assert.deepEqual([res.queue, res.succeeded, res.dead], ['emails', 1, 1]);
    assert.equal((await sluice.getJob(ok.id))?.state, 'succeeded');
    const sent = bus.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    const dead = sent.filter((e) => e.DetailType === 'JobDeadLettered');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.EventBusName, 'sluice-bus');
    assert.equal(JSON.parse(dead[0]?.Detail as string).jobId, bad.id);
  });

  it('maintenance prunes and reports; migrate is idempotent', async () => {
    const maintenance = await import('../functions/maintenance/entry.js');
    const res = await maintenance.handler({}, lambdaContext(10_000, 'sluice-maintenance'));
    assert.ok(res.queues.some((q) => q.queue === 'emails' && q.dead === 1));
    const migrateFn = await import('../functions/migrate/entry.js');
    const again = await migrateFn.handler({}, lambdaContext(10_000, 'sluice-migrate'));
    assert.deepEqual(again, { applied: [], current: 5, users: [] });
    await pool.query('DROP SCHEMA IF EXISTS fresh_migrate CASCADE');
    process.env.SLUICE_SCHEMA = 'fresh_migrate';
    try {
      // A new container reads its configuration anew: load the module again under a fresh URL.
      const fresh = await import(`../functions/migrate/entry.js?fresh=${Date.now()}`);
      await closePool();
      assert.deepEqual(await fresh.handler({}, lambdaContext(10_000, 'sluice-migrate')), {
        applied: [1, 2, 3, 4, 5],
        current: 5,
        users: [],
      });
    } finally {
      process.env.SLUICE_SCHEMA = schema;
      await pool.query('DROP SCHEMA IF EXISTS fresh_migrate CASCADE');
    }
  });
});

describe('migrate at deploy time', () => {
  it('on AWS: reads the admin secret, connects as the owner, migrates and grants each function user its access', async () => {
    const { url, schema, pool } = await testSluice();
    const saved = { ...process.env };
    const secrets = mockClient(SecretsManagerClient);
    const u = new URL(url);
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sluice-admin-AbCdEf';
    secrets.on(GetSecretValueCommand, { SecretId: secretArn }).resolves({
      SecretString: JSON.stringify({
        engine: 'postgres',
        host: u.hostname,
        port: Number(u.port),
        username: u.username,
        password: u.password || 'unused-under-trust-auth',
        dbname: 'x',
      }),
    });
    const users = { api: `${schema}_api`, worker: `${schema}_worker` };
    const iam = `${schema}_iam`;
    await pool.query(`CREATE ROLE "${iam}" NOLOGIN`);
    for (const k of ['DATABASE_URL', 'DB_HOST', 'DB_USER']) delete process.env[k];
    Object.assign(process.env, {
      DB_SECRET_ARN: secretArn,
      DB_NAME: u.pathname.slice(1),
      DB_TLS: 'disable',
      SLUICE_SCHEMA: schema,
      DB_USERS: JSON.stringify(users),
      DB_USER_ROLES: iam,
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    try {
      const { handler } = await import(`../functions/migrate/entry.js?secret=${Date.now()}`);
      const res = await handler({}, lambdaContext(10_000, 'sluice-migrate'));
      assert.deepEqual(res, { applied: [], current: 5, users: [users.api, users.worker] });
      assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 1);
      const grants = await pool.query<{ grantee: string; n: number }>(
        `SELECT grantee, count(*)::int AS n FROM information_schema.role_table_grants WHERE table_schema = $1 AND grantee = ANY($2) GROUP BY grantee ORDER BY grantee`,
        [schema, Object.values(users)],
      );
      assert.deepEqual(
        grants.rows.map((r) => r.grantee),
        [users.api, users.worker],
      );
      const member = await pool.query('SELECT pg_has_role($1, $2, $3) AS m', [users.worker, iam, 'MEMBER']);
      assert.equal(member.rows[0].m, true);

      // Mid-rotation the password read may already be stale (28P01): the run reads the secret again.
      const current = { host: u.hostname, port: Number(u.port), username: u.username, password: u.password || 'trust' };
      secrets.reset();
      secrets
        .on(GetSecretValueCommand)
        .resolvesOnce({ SecretString: JSON.stringify({ ...current, password: 'rotated-away' }) })
        .resolves({ SecretString: JSON.stringify(current) });
      assert.deepEqual((await handler({}, lambdaContext(10_000, 'sluice-migrate'))).applied, []);
      if (u.password) assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 2, 'the stale password was retried');

      // A secret without a password fails with the field named and nothing of the secret echoed.
      secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host: 'h', port: 5432, username: 'admin-name' }) });
      const err = await handler({}, lambdaContext(10_000, 'sluice-migrate')).catch((e: Error) => e);
      assert.match(String(err?.message), /lacks password/);
      assert.doesNotMatch(String(err?.message), /admin-name/);
    } finally {
      secrets.restore();
      process.env = saved;
      for (const role of [...Object.values(users), iam]) {
        await pool.query(`DROP OWNED BY "${role}"`).catch(() => {});
        await pool.query(`DROP ROLE IF EXISTS "${role}"`);
      }
    }
  });

  it('refuses a malformed DB_USERS at cold start, naming the variable', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db', DB_USERS: '{"api":"sluice_api","root":"x"}' });
    try {
      await assert.rejects(import(`../functions/migrate/entry.js?badusers=${Date.now()}`), /DB_USERS/);
      process.env.DB_USERS = 'not json';
      await assert.rejects(import(`../functions/migrate/entry.js?badjson=${Date.now()}`), /DB_USERS: must be a JSON object/);
      process.env.DB_USERS = '{"api":"Robert; DROP"}';
      await assert.rejects(import(`../functions/migrate/entry.js?badname=${Date.now()}`), /DB_USERS\.api/);
    } finally {
      process.env = saved;
    }
  });

  it('retries while the database is unreachable, then gives up with the connection error when time runs short', async () => {
    const saved = { ...process.env };
    const warnings: string[] = [];
    await closePool();
    Object.assign(process.env, { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db', SLUICE_SCHEMA: 'unused' });
    const { handler } = await import(`../functions/migrate/entry.js?unreachable=${Date.now()}`);
    const { logger } = handler;
    const warn = logger.warn.bind(logger);
    logger.warn = ((message: string) => void warnings.push(message)) as typeof logger.warn;
    try {
      const started = Date.now();
      await assert.rejects(handler({}, lambdaContext(10_000, 'sluice-migrate')), (err: { code?: string }) => err.code === 'ECONNREFUSED');
      assert.ok(warnings.filter((w) => /retrying migrations/.test(w)).length >= 2, 'it retried before giving up');
      assert.ok(Date.now() - started < 10_000, 'and gave up within its time');
    } finally {
      logger.warn = warn;
      await closePool();
      process.env = saved;
    }
  });
});
