/**
 * Every bundle `npm run build` makes loads in a fresh Node process (from a real .mjs runner, as Lambda
 * loads it) and answers a realistic event against a real Postgres.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sendEmail } from '../examples/definitions.js';
import { buildAll, FUNCTIONS } from '../scripts/bundle.js';
import { eventBridgeEvent, httpEvent } from './helpers/aws.js';
import { testSluice } from './helpers/db.js';

const runner = fileURLToPath(new URL('./fixtures/invoke-bundle.mjs', import.meta.url));

/**
 * Bundles run from a copy outside the repository, beside a node_modules that holds only @aws-sdk (what the
 * Lambda runtime provides): a dependency left out of a bundle fails to load here as it would on Lambda.
 */
const lambdaRoot = mkdtempSync(join(tmpdir(), 'sluice-lambda-'));
const repoNodeModules = fileURLToPath(new URL('../node_modules/', import.meta.url));

describe('bundles', async () => {
  const { sluice, url, schema } = await testSluice();
  const invoke = (name: string, event: unknown, env: Record<string, string> = {}) => {
    const res = spawnSync(process.execPath, [runner, join(lambdaRoot, name, 'index.mjs'), JSON.stringify(event), '30000'], {
      cwd: '/',
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: url,
        SLUICE_SCHEMA: schema,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        ...env,
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const line = res.stdout.trim().split('\n').at(-1) ?? '';
    assert.ok(line.startsWith('{'), `runner printed no result; stderr: ${res.stderr}`);
    const out = JSON.parse(line);
    assert.equal(out.ok, true, out.error);
    return out.result;
  };

  before(async () => {
    await buildAll(FUNCTIONS, lambdaRoot); // built straight outside the repository: no shared dist/ between runs
    mkdirSync(join(lambdaRoot, 'node_modules'), { recursive: true });
    symlinkSync(join(repoNodeModules, '@aws-sdk'), join(lambdaRoot, 'node_modules', '@aws-sdk'));
  });
  after(() => rmSync(lambdaRoot, { recursive: true, force: true }));

  it('migrate applies nothing new to a migrated schema, with the migrations shipped beside the bundle', () => {
    assert.deepEqual(invoke('migrate', {}), { applied: [], current: 5, users: [] });
  });

  it('worker drains a queue from a scheduled event', async () => {
    const job = await sluice.enqueue(sendEmail, { userId: 'u1', to: 'ada@example.com', template: 'welcome' });
    const res = invoke('worker', eventBridgeEvent('Scheduled Event', {}), { QUEUE: 'emails' });
    assert.deepEqual([res.queue, res.succeeded], ['emails', 1]);
    assert.equal((await sluice.getJob(job.id))?.state, 'succeeded');
  });

  it('api answers HTTP API v2 requests: enqueue, then read back', () => {
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'bundle-smoke-1' };
    const event = (method: string, path: string, body?: unknown) =>
      httpEvent(method, path, { headers, ...(body === undefined ? {} : { body }) });
    const created = invoke(
      'api',
      event('POST', '/v1/jobs', { type: 'send_email', payload: { userId: 'u9', to: 'u9@example.com', template: 'receipt' } }),
    );
    assert.equal(created.statusCode, 201, created.body);
    const job = JSON.parse(created.body);
    const read = invoke('api', event('GET', `/v1/jobs/${job.id}`));
    assert.equal(read.statusCode, 200);
    assert.deepEqual(JSON.parse(read.body).payload, { userId: 'u9', to: 'u9@example.com', template: 'receipt' });
  });

  it('maintenance reports per-queue stats', () => {
    const res = invoke('maintenance', eventBridgeEvent('Scheduled Event', {}));
    assert.ok(Array.isArray(res.queues));
    assert.equal(typeof res.pruned, 'number');
  });

  it('a missing variable fails the cold start naming it', () => {
    const res = spawnSync(process.execPath, [runner, join(lambdaRoot, 'worker', 'index.mjs'), '{}'], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
    });
    assert.notEqual(res.status, 0);
    assert.match(res.stdout, /DATABASE_URL/);
  });
});
