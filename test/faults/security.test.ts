/**
 * Security checks.
 *
 * 1. Logs: the real Lambda handlers (API, worker, migrate) with their real Powertools logger run in a child
 *    process that is set up as a deployment is (no log level set: Powertools' default, INFO), and everything
 *    the child writes to stdout and stderr is captured, failed invocations logged as Lambda's runtime logs
 *    them. Through an enqueue, a bad payload, bad JSON, an idempotent replay, a drain with a retry and dead
 *    jobs, a database outage (API and worker) and the migrate function on malformed or wrong secrets and an
 *    unreachable database, no payload marker, password marker or connection string reaches the output. The
 *    same holds with POWERTOOLS_LOGGER_LOG_EVENT=true; the same run at DEBUG is only reported (diagnostics).
 * 2. Stored errors: a 1 MB message, a 1 MB stack, a huge name and code and a 1 MB compensation error are
 *    stored cut to the limits in src/logger.ts and src/config.ts (2048 / 200 / 200), read back through
 *    getJob, the HTTP API and SQL; the stack is never stored.
 * 3. SQL: hostile values (quotes, a statement) travel as bound parameters and never appear in SQL text,
 *    across enqueue, replay, claim, steps, outcomes, reads, cancel and the dead-letter calls.
 * 4. TLS: adminPoolConfig verifies the server on AWS (secret and IAM paths; poolConfig is covered by
 *    test/shared.fn.test.ts), DB_TLS accepts nothing but its two values, and no line of functions/, src/
 *    or infra/ touches TLS settings besides the three known ones (the opt-out is DB_TLS=disable).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { z } from 'zod';
import { createApi } from '../../functions/api/app.js';
import { adminPoolConfig } from '../../functions/shared/adminDb.js';
import { adminDatabaseConfigSchema, loadConfig } from '../../functions/shared/config.js';
import { defineHandler } from '../../src/handler.js';
import { defineJob, JobRegistry, PermanentJobError, type Queryable, Sluice, silentLogger } from '../../src/index.js';
import { LONE_SURROGATE } from '../../src/text.js';
import { eventBridgeEvent, httpEvent, lambdaContext } from '../helpers/aws.js';
import { q, testSluice } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// ---- 1. the child: a Lambda container running the scenarios ------------------------------------------

interface ChildConfig {
  /** Markers in client data: payload fields, the idempotency key, bad bodies. */
  payload: { flaky: string; dead: string; stale: string; key: string; bad: string; badJson: string; outage: string };
  /** Markers that are passwords: in the outage URL, the migrate URL and the admin secret. */
  outageUrl: string;
  migrateUrl: string;
  secretPassword: string;
  /** In the userId of a job that succeeds: the example handler itself logs `user_id` (observed, not asserted). */
  handlerLogged: string;
}

interface ChildResult {
  statuses: Record<string, number | string>;
  worker: { succeeded: number; retried: number; dead: number } | string;
  outageWorker: string;
  migrate: Record<string, string>;
  busDetails: string[];
}

const describeError = (e: Error) => `${(e as { code?: string }).code ?? e.name}: ${e.message}`;

/** Run a handler as Lambda does: a failed invocation is logged as Lambda's Node.js runtime logs it. */
async function invoke<T>(run: () => Promise<T>): Promise<T | Error> {
  try {
    return await run();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const line = { level: 'ERROR', message: 'Invoke Error', errorType: e.name, errorMessage: e.message, stackTrace: e.stack?.split('\n') };
    process.stderr.write(`${JSON.stringify(line)}\n`);
    return e;
  }
}

async function child(cfg: ChildConfig): Promise<ChildResult> {
  const bus = mockClient(EventBridgeClient);
  bus.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
  const secrets = mockClient(SecretsManagerClient);
  const ctx = (name: string, ms = 10_000) => lambdaContext(ms, name);
  const statuses: ChildResult['statuses'] = {};
  const base = { ...process.env };

  const apiModule = await import('../../examples/functions/api.js');
  const { originOf } = await import('../../functions/shared/rebuild.js');
  const rebuilt = <H>(handler: H, env: NodeJS.ProcessEnv): H => originOf(handler)?.rebuild(env) as unknown as H;
  const post = async (label: string, body: string, headers: Record<string, string> = {}, api = apiModule.handler) => {
    const res = await invoke(() => api(httpEvent('POST', '/v1/jobs', { body, headers }), ctx('sluice-api')));
    statuses[label] = res instanceof Error ? describeError(res) : (res.statusCode ?? 0);
    if (!(res instanceof Error) && res.headers?.['idempotent-replayed'])
      statuses[`${label}:replayed`] = String(res.headers['idempotent-replayed']);
  };
  const p = cfg.payload;
  const email = (userId: string, to: string, template = 'welcome') =>
    JSON.stringify({ type: 'send_email', payload: { userId, to, template } });
  await post('enqueue', email('user-1', `${p.flaky}@flaky.example`), { 'idempotency-key': p.key });
  await post('replay', email('user-1', `${p.flaky}@flaky.example`), { 'idempotency-key': p.key });
  await post('enqueueDead', email('user-2', `${p.dead}@nomail.invalid`, 'receipt'));
  await post('enqueueLogged', email(cfg.handlerLogged, 'ada@example.com'));
  await post(
    'badPayload',
    JSON.stringify({ type: 'send_email', payload: { userId: p.bad, to: `no-${p.bad}`, template: p.bad, [p.bad]: 1 } }),
  );
  await post('badJson', `{"type":"send_email","payload":{"userId":"${p.badJson}"`);

  const workerModule = await import('../../examples/functions/worker.js');
  const drained = await invoke(() => workerModule.handler(eventBridgeEvent('Scheduled Event', {}), ctx('sluice-worker-emails', 20_000)));
  const worker = drained instanceof Error ? describeError(drained) : drained;

  // A database outage: a new container whose DATABASE_URL points at a closed port.
  const { closePool } = await import('../../functions/shared/db.js');
  await closePool();
  const down = { ...base, DATABASE_URL: cfg.outageUrl };
  await post('outageEnqueue', email('user-4', `${p.outage}@example.com`), {}, rebuilt(apiModule.handler, down));
  const downWorker = await invoke(() =>
    rebuilt(workerModule.handler, down)(eventBridgeEvent('Scheduled Event', {}), ctx('sluice-worker-emails')),
  );
  const outageWorker = downWorker instanceof Error ? describeError(downWorker) : 'drained?';
  await closePool();

  // The migrate function: each run is a new container reading its environment at load.
  const migrate: Record<string, string> = {};
  const db = new URL(base.DATABASE_URL as string);
  const onAws = { DATABASE_URL: undefined, DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sluice-admin-AbCdEf' };
  const runMigrate = async (label: string, env: Record<string, string | undefined>, secret?: string) => {
    process.env = { ...base, DB_NAME: db.pathname.slice(1), DB_TLS: 'disable' };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    secrets.reset();
    if (secret !== undefined) secrets.on(GetSecretValueCommand).resolves({ SecretString: secret });
    const mod = await import(`../../functions/migrate/entry.js?${label}=${Date.now()}`);
    const r = await invoke(() => mod.handler({}, ctx('sluice-migrate', 8_000)));
    migrate[label] = r instanceof Error ? describeError(r) : JSON.stringify(r);
  };
  const pw = cfg.secretPassword;
  await runMigrate('secretNotJson', onAws, `{"username":"admin","password":"${pw}"`);
  await runMigrate('secretBadPort', onAws, JSON.stringify({ host: 'db.internal', port: 'x', username: 'admin', password: pw }));
  const wrong = { host: db.hostname, port: Number(db.port), username: db.username, password: pw };
  await runMigrate('secretWrongPassword', onAws, JSON.stringify(wrong));
  await runMigrate('urlClosedPort', { DATABASE_URL: cfg.migrateUrl, DB_SECRET_ARN: undefined });
  process.env = base;

  const busDetails = bus.commandCalls(PutEventsCommand).flatMap((c) => (c.args[0].input.Entries ?? []).map((e) => e.Detail ?? ''));
  bus.restore();
  secrets.restore();
  return { statuses, worker, outageWorker, migrate, busDetails };
}

if (process.env.SLUICE_SECURITY_CHILD) {
  const result = await child(JSON.parse(process.env.SLUICE_SECURITY_CHILD) as ChildConfig);
  await new Promise<void>((resolve) => (process.send ? process.send(result, () => resolve()) : resolve()));
  process.exit(0); // the child never reaches the tests below
}

interface ChildRun {
  code: number | null;
  output: string;
  result: ChildResult | undefined;
}

/** Start the child with a clean, deployment-like environment; collect all it writes. */
function runChild(cfg: ChildConfig, env: Record<string, string>): Promise<ChildRun> {
  const clean = Object.fromEntries(['PATH', 'HOME', 'TMPDIR'].flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])));
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--conditions=sluice-source', '--import', 'tsx', fileURLToPath(import.meta.url)], {
      cwd: ROOT,
      env: { ...clean, ...env, SLUICE_SECURITY_CHILD: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    let result: ChildResult | undefined;
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.stdout?.on('data', (c) => (output += c));
    proc.stderr?.on('data', (c) => (output += c));
    proc.on('message', (m) => (result = m as ChildResult));
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, result });
    });
  });
}

/** The log lines (by message) that contain each marker. */
function leaks(output: string, markers: Record<string, string>): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const line of output.split('\n')) {
    for (const [label, marker] of Object.entries(markers)) {
      if (!line.includes(marker)) continue;
      let message = line.slice(0, 80);
      try {
        message = String(JSON.parse(line).message);
      } catch {}
      found[label] = [...new Set([...(found[label] ?? []), message])];
    }
  }
  return found;
}

const CREDENTIALS_IN_URL = /postgres(?:ql)?:\/\/[^\s"'@/]+:[^\s"'@/]+@/;

describe('payloads, secrets and connection strings stay out of the logs', async () => {
  const scenario = async (extra: Record<string, string>) => {
    const { sluice, url, schema } = await testSluice();
    const m = (what: string) => `Sec${what}${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const cfg: ChildConfig = {
      payload: {
        flaky: m('flaky'),
        dead: m('dead'),
        stale: m('stale'),
        key: m('key'),
        bad: m('bad'),
        badJson: m('json'),
        outage: m('out'),
      },
      outageUrl: `postgres://sluice_app:${m('PwOutage')}@127.0.0.1:1/sluice`,
      migrateUrl: `postgres://sluice_admin:${m('PwMigrate')}@127.0.0.1:1/sluice`,
      secretPassword: m('PwSecret'),
      handlerLogged: m('logged'),
    };
    // A payload stored under an older, looser schema: the worker's definition refuses it, so the job goes dead.
    const loose = z.object({ userId: z.string(), to: z.string(), template: z.string() });
    await sluice.enqueue(defineJob({ type: 'send_email', schema: loose, queue: 'emails' }), {
      userId: 'user-3',
      to: `${cfg.payload.stale}-not-an-email`,
      template: 'welcome',
    });
    const env = {
      DATABASE_URL: url,
      SLUICE_SCHEMA: schema,
      QUEUE: 'emails',
      EVENT_BUS_NAME: 'sluice-bus',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_SERVICE_NAME: 'sluice',
      POWERTOOLS_METRICS_NAMESPACE: 'Sluice',
      ...extra,
    };
    const run = await runChild(cfg, env);
    const secretsOf = {
      ...cfg.payload,
      outagePassword: new URL(cfg.outageUrl).password,
      migratePassword: new URL(cfg.migrateUrl).password,
      secretPassword: cfg.secretPassword,
      outageUrl: cfg.outageUrl,
      migrateUrl: cfg.migrateUrl,
      databaseUrl: url,
    };
    return { run, cfg, secretsOf };
  };

  // The three containers run at once: each has its own schema and markers.
  const [info, debug, logEvent] = await Promise.all([
    scenario({}),
    scenario({ POWERTOOLS_LOG_LEVEL: 'DEBUG' }),
    scenario({ POWERTOOLS_LOGGER_LOG_EVENT: 'true' }),
  ]);

  it('every scenario ran as intended (so the capture below saw what it claims to)', () => {
    const { run } = info;
    assert.equal(run.code, 0, run.output.slice(-2000));
    const r = run.result as ChildResult;
    assert.deepEqual(r.statuses, {
      enqueue: 201,
      replay: 200,
      'replay:replayed': 'true',
      enqueueDead: 201,
      enqueueLogged: 201,
      badPayload: 400,
      badJson: 400,
      outageEnqueue: 503,
    });
    assert.equal(typeof r.worker, 'object', String(r.worker));
    const w = r.worker as Exclude<ChildResult['worker'], string>;
    assert.ok(w.dead === 2 && w.retried >= 1 && w.succeeded >= 1, JSON.stringify(w));
    assert.match(r.outageWorker, /^ECONNREFUSED/);
    assert.match(r.migrate.secretNotJson ?? '', /is not JSON/);
    assert.match(r.migrate.secretBadPort ?? '', /lacks port/);
    // 28P01 where the server checks passwords (embedded Postgres does); a trusting server just migrates.
    assert.match(r.migrate.secretWrongPassword ?? '', /^28P01|"applied":\[\]/);
    assert.match(r.migrate.urlClosedPort ?? '', /^ECONNREFUSED/);
    // The capture holds the lines these paths log.
    for (const line of [
      'job attempt failed: dead',
      'job attempt failed: retry',
      'database unavailable',
      'Invoke Error',
      'retrying migrations',
    ]) {
      assert.ok(run.output.includes(line), `captured: ${line}`);
    }
  });

  it('at the default level (INFO): no payload marker, password or connection string in the output', () => {
    const { run, secretsOf } = info;
    assert.deepEqual(leaks(run.output, secretsOf), {});
    assert.doesNotMatch(run.output, CREDENTIALS_IN_URL);
  });

  it('events on the bus carry no payload either', () => {
    const details = info.run.result?.busDetails ?? [];
    assert.ok(
      details.some((d) => d.includes('JobDeadLettered') || d.includes('lastError')),
      'a JobDeadLettered event was sent',
    );
    assert.deepEqual(leaks(details.join('\n'), info.cfg.payload), {});
  });

  it('POWERTOOLS_LOGGER_LOG_EVENT=true does not make the API log request bodies (the handler turns logEvent off)', () => {
    assert.equal(logEvent.run.code, 0, logEvent.run.output.slice(-2000));
    assert.deepEqual(leaks(logEvent.run.output, logEvent.secretsOf), {});
    assert.doesNotMatch(logEvent.run.output, CREDENTIALS_IN_URL);
  });

  it('reported, not asserted: what DEBUG and the example handlers show', (t) => {
    assert.equal(debug.run.code, 0, debug.run.output.slice(-2000));
    t.diagnostic(
      `DEBUG: ${JSON.stringify(leaks(debug.run.output, debug.secretsOf))}; credentials in a URL: ${CREDENTIALS_IN_URL.test(debug.run.output)}`,
    );
    t.diagnostic(
      `example handler logs payload fields at INFO: ${JSON.stringify(leaks(info.run.output, { userId: info.cfg.handlerLogged }))}`,
    );
  });
});

// ---- 2. stored errors are bounded ---------------------------------------------------------------------

describe('errors stored with a job are bounded', async () => {
  const { sluice, pool, schema } = await testSluice();
  const MB = 1 << 20;

  it('a 1 MB message and stack, a huge name and code and a 1 MB compensation error are cut to 2048 / 200 / 200', async () => {
    const def = defineJob({
      type: 'sec_huge_error',
      schema: z.object({ emoji: z.boolean() }),
      queue: 'sec_huge',
      maxAttempts: 1,
      timeout: 2_000,
    });
    class HugeError extends Error {
      override name = 'N'.repeat(10_000);
      code = 'C'.repeat(10_000);
    }
    const handler = defineHandler(def, async ({ emoji }, ctx) => {
      await ctx.step('charge', () => 1, {
        compensate: () => {
          throw new Error('c'.repeat(MB));
        },
      });
      const err = new HugeError(emoji ? '😀'.repeat(MB / 2) : 'm'.repeat(MB));
      err.stack = 's'.repeat(MB);
      throw err;
    });
    const ascii = await sluice.enqueue(def, { emoji: false });
    const astral = await sluice.enqueue(def, { emoji: true });
    const res = await sluice.worker({ queue: 'sec_huge', handlers: [handler] }).drain({ remainingTimeMs: 10_000 });
    assert.equal(res.dead, 2);

    const api = createApi({ sluice, registry: new JobRegistry([def]), publisher: { jobsEnqueued() {} }, logger: silentLogger });
    const viaHttp = JSON.parse((await api(httpEvent('GET', `/v1/jobs/${ascii.id}`))).body as string).errors;
    const viaLib = (await sluice.getJob(ascii.id))?.errors;
    const { rows } = await pool.query(`SELECT errors, octet_length(errors::text) AS bytes FROM ${q(schema)('jobs')} WHERE id = $1`, [
      ascii.id,
    ]);
    const viaSql = rows[0].errors;
    for (const errors of [viaHttp, viaLib, viaSql]) {
      assert.equal(errors.length, 1);
      const [e] = errors;
      assert.equal(e.message, `${'m'.repeat(2047)}…`, 'the message: 2048 characters, the last an ellipsis');
      assert.equal(e.name, `${'N'.repeat(199)}…`);
      assert.equal(e.code, `${'C'.repeat(199)}…`);
      assert.equal(e.compensationFailures[0].error.message, `${'c'.repeat(2047)}…`);
      assert.ok(!JSON.stringify(e).includes('sss'), 'no stack is stored');
    }
    assert.ok(rows[0].bytes < 8_192, `the whole history is ${rows[0].bytes} bytes`);

    // Astral characters: cut before a surrogate pair would be split, so nothing unstorable is left.
    const emojiMessage = (await sluice.getJob(astral.id))?.errors[0]?.message ?? '';
    assert.equal(emojiMessage, `${'😀'.repeat(1023)}…`);
    assert.ok(!LONE_SURROGATE.test(emojiMessage));
  });
});

// ---- 3. values are bound, never spliced into SQL -----------------------------------------------------

describe('SQL carries values only as bound parameters', async () => {
  const { pool, schema } = await testSluice();

  it('hostile strings reach the database as parameters and never appear in any statement text', async () => {
    const marker = `x'); DROP TABLE jobs; --${randomUUID()}`;
    const texts: string[] = [];
    const values: unknown[] = [];
    const db: Queryable = {
      query: (text: string, vals?: unknown[]) => {
        texts.push(text);
        values.push(...(vals ?? []));
        return pool.query(text, vals);
      },
    } as Queryable;
    const sluice = new Sluice({ db, schema });
    const def = defineJob({ type: 'sec_wire', schema: z.object({ note: z.string() }), queue: 'sec_wire', maxAttempts: 1, timeout: 2_000 });
    const job = await sluice.enqueue(def, { note: marker }, { idempotencyKey: marker });
    await sluice.enqueue(def, { note: marker }, { idempotencyKey: marker });
    const handler = defineHandler(def, async ({ note }, ctx) => {
      await ctx.step(note.slice(0, 200), () => note);
      throw new PermanentJobError(note);
    });
    assert.equal((await sluice.worker({ queue: 'sec_wire', handlers: [handler] }).drain({ remainingTimeMs: 5_000 })).dead, 1);
    await sluice.getJob(job.id);
    await sluice.listDeadLetters({ type: marker });
    await sluice.redriveDeadLetters({ queue: 'sec_wire' });
    await sluice.cancel([job.id]);
    await sluice.purgeDeadLetters({ type: marker });
    await sluice.stats();
    const sent = values.flat().filter((v) => typeof v === 'string' && v.includes(marker));
    assert.ok(sent.length >= 5, `the marker went to the database as parameters (${sent.length} times)`);
    assert.deepEqual(
      texts.filter((t) => t.includes(marker) || t.includes('DROP TABLE')),
      [],
    );
  });
});

// ---- 4. TLS to the database --------------------------------------------------------------------------

describe('TLS to the database verifies the server certificate on AWS', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sluice-admin-AbCdEf';
  const iam = { DB_HOST: 'proxy.example.eu-west-1.rds.amazonaws.com', DB_USER: 'sluice_worker', AWS_REGION: 'eu-west-1' };

  it('adminPoolConfig verifies on the admin-secret path and the IAM path; only DB_TLS=disable on the secret path turns it off', async () => {
    const secrets = mockClient(SecretsManagerClient);
    const host = 'sluice.abc.eu-west-1.rds.amazonaws.com';
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host, port: 5432, username: 'admin', password: 'pw' }) });
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    try {
      const admin = await adminPoolConfig(loadConfig(adminDatabaseConfigSchema, { DB_SECRET_ARN: arn, AWS_REGION: 'eu-west-1' }), client);
      assert.deepEqual([admin.host, admin.ssl], [host, { rejectUnauthorized: true }]);
      // The IAM path (no secret) takes the functions' settings: DB_TLS cannot weaken it.
      const viaIam = await adminPoolConfig(loadConfig(adminDatabaseConfigSchema, { ...iam, DB_TLS: 'disable' }));
      assert.deepEqual([viaIam.host, viaIam.ssl], [iam.DB_HOST, { rejectUnauthorized: true }]);
      const optOut = await adminPoolConfig(
        loadConfig(adminDatabaseConfigSchema, { DB_SECRET_ARN: arn, AWS_REGION: 'eu-west-1', DB_TLS: 'disable' }),
        client,
      );
      assert.equal(optOut.ssl, false, 'the explicit opt-out, for a local server without TLS');
      for (const value of ['require', 'no-verify', 'prefer', 'allow', 'false', '0', 'DISABLE']) {
        assert.throws(() => loadConfig(adminDatabaseConfigSchema, { DB_SECRET_ARN: arn, DB_TLS: value }), /DB_TLS/, value);
      }
    } finally {
      secrets.restore();
    }
  });

  it('no line in functions/, src/ or infra/ touches TLS verification besides the three known ones', () => {
    const TLS = /rejectUnauthorized|NODE_TLS_REJECT_UNAUTHORIZED|sslmode|checkServerIdentity|\bssl\s*:|\bDB_TLS\b|secureContext|\bssl=/;
    const files = (dir: string): string[] =>
      readdirSync(join(ROOT, dir)).flatMap((name) => {
        const path = join(dir, name);
        return statSync(join(ROOT, path)).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
      });
    const found = ['functions', 'src', 'infra'].flatMap(files).flatMap((file) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .filter((line) => TLS.test(line))
        .map((line) => `${file}: ${line.trim()}`),
    );
    assert.ok(found.length > 0, 'the scan reads the sources');
    assert.deepEqual(found.sort(), [
      "functions/shared/adminDb.ts: ssl: config.DB_TLS === 'disable' ? false : { rejectUnauthorized: true },",
      "functions/shared/config.ts: DB_TLS: z.enum(['verify-full', 'disable']).default('verify-full'),",
      'functions/shared/db.ts: ssl: { rejectUnauthorized: true },',
    ]);
  });
});
