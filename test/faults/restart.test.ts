/**
 * Fault: PostgreSQL restarts in the middle of enqueuing and draining, once with a fast shutdown and once
 * with a crash (SIGKILL of the postmaster and its processes, so the next start runs crash recovery).
 *
 * Proves, against a dedicated PostgreSQL that the test stops and starts on the same port and data dir:
 * - the API handler (`createApiHandler`, in-process) answers only 201, or 503 with `Retry-After` while the
 *   database is down: never a 500, never a 201 for a job that was not stored;
 * - a client retrying a 503 with the same Idempotency-Key never creates a second job; and, made to happen
 *   on purpose (a proxy cuts the connection once the INSERT committed), a 503 can follow a commit: the job
 *   was stored, and the retry with the same key is answered 200 with that job;
 * - two worker containers (`createWorkerHandler`, each in its own process) keep being invoked through the
 *   outage and drain again after it, without being rebuilt; the API handler likewise;
 * - nothing is lost: every job answered 201 exists after both restarts and ends succeeded, and the table
 *   holds exactly one job per request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { definitions } from '../../examples/definitions.js';
import { createApi } from '../../functions/api/app.js';
import { JobRegistry, Sluice, silentLogger } from '../../src/index.js';
import { migrate } from '../../src/migrate.js';
import { ApiCaller, type Exchange, postJob, WorkerProcess } from './fixtures/restart-clients.js';
import { RestartablePostgres } from './fixtures/restart-postgres.js';
import { AnswerDroppingProxy } from './fixtures/restart-proxy.js';

const SCHEMA = 'sluice_restart';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `p`, or `fallback` after `ms`; the timer does not outlive the race. */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((r) => {
    timer = setTimeout(() => r(fallback), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` until it holds; fail with `what` and the state `explain` gives after `limitMs`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, limitMs: number, explain: () => string = () => '') {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${limitMs} ms waiting for ${what}. ${explain()}`);
    await sleep(50);
  }
}

describe('PostgreSQL restarts while the API enqueues and workers drain', { timeout: 240_000 }, () => {
  let server: RestartablePostgres;
  let pool: pg.Pool;
  let callers: ApiCaller[] = [];
  let workers: WorkerProcess[] = [];
  /** Jobs leased to a worker just before a stop: their outcomes may not have been written. */
  const heldAtStop: string[] = [];
  /** Set when a hook or test failed: the after hook then prints the server's and the workers' logs. */
  let failed = false;
  const guarded =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      try {
        await fn(...args);
      } catch (err) {
        failed = true;
        throw err;
      }
    };
  const exchanges = (): Exchange[] => callers.flatMap((c) => c.exchanges);
  const created = (since = 0) => exchanges().filter((e) => e.status === 201 && e.sentAt >= since);
  const state = () => {
    const statuses = new Map<number, number>();
    for (const e of exchanges()) statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
    const last = workers.map((w, i) => `worker ${i}: ${w.invocations.length} invocations, last ${JSON.stringify(w.invocations.at(-1))}`);
    return `answers by status: ${JSON.stringify([...statuses])}; ${last.join('; ')}`;
  };

  before(
    guarded(async () => {
      server = await RestartablePostgres.create();
      pool = new pg.Pool({ connectionString: server.url, max: 2 });
      pool.on('error', () => {}); // its idle connections die with the server
      await migrate({ db: pool, schema: SCHEMA });
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: server.url,
        SLUICE_SCHEMA: SCHEMA,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        WAKE_COALESCE_MS: '0',
        DB_POOL_MAX: '2',
        QUEUE: 'emails',
        // Leases short enough that jobs claimed when the server went down run again within the test.
        LEASE_MS: '2000',
        DRAIN_SAFETY_MARGIN_MS: '1000',
      };
      delete env.EVENT_BUS_NAME; // no bus: nothing is published
      delete env.NODE_TEST_CONTEXT;
      workers = [new WorkerProcess(env), new WorkerProcess(env)];
      // The API container: its modules read the environment when loaded, so set it first.
      Object.assign(process.env, env);
      delete process.env.EVENT_BUS_NAME;
      const { createApiHandler } = await import('../../functions/api/handler.js');
      const api = createApiHandler({ jobs: definitions, env }); // built once, never rebuilt
      await Promise.all(workers.map((w) => w.ready));
      const options = { pauseMs: 10, retryPauseMs: 100, giveUpMs: 90_000 };
      callers = ['a', 'b', 'c'].map((name) => new ApiCaller(name, api, options));
      for (const c of callers) c.start();
    }),
  );

  after(async () => {
    await Promise.all(callers.map((c) => c.stop()));
    if (server && !server.running) await server.start().catch(() => {});
    await Promise.all(workers.map((w) => within(w.stop(), 60_000, undefined)));
    for (const [i, w] of workers.entries()) {
      w.kill();
      if (failed) console.error(`worker ${i} stderr:\n${w.stderr.slice(-4000)}`);
    }
    if (failed) console.error(`postgres log (tail):\n${server?.log.slice(-4000)}`);
    const { closePool } = await import('../../functions/shared/db.js');
    await closePool().catch(() => {});
    await pool?.end().catch(() => {});
    await server?.destroy();
  });

  /** Traffic flows, the server goes down for at least 2 s and comes back, traffic flows again. */
  async function outage(t: TestContext, kind: 'fast shutdown' | 'crash', stop: () => Promise<void>) {
    const settled = Date.now();
    await waitFor(
      '20 jobs enqueued and both workers draining before the outage',
      () => created(settled).length >= 20 && workers.every((w) => w.workedSince(settled).length > 0),
      60_000,
      state,
    );
    // Stop while the workers hold jobs (claimed, running or with outcomes not yet written).
    let held: string[] = [];
    await waitFor(
      'workers holding 3 jobs or more',
      async () => {
        held = (await pool.query(`SELECT id::text AS id FROM ${SCHEMA}.active_jobs WHERE lease_expires_at > now()`)).rows.map((r) => r.id);
        return held.length >= 3;
      },
      30_000,
      state,
    );
    heldAtStop.push(...held);
    const seen503 = exchanges().filter((e) => e.status === 503).length;
    const downAt = Date.now();
    await stop();
    const stoppedAt = Date.now();
    await sleep(2_000);
    await waitFor('a 503 during the outage', () => exchanges().filter((e) => e.status === 503).length > seen503, 30_000, state);
    await waitFor(
      'both workers to fail an invocation during the outage',
      () => workers.every((w) => w.failedBetween(stoppedAt, Date.now()).length > 0),
      30_000,
      state,
    );
    const restartAt = Date.now();
    await server.start();
    const readyAt = Date.now();
    await waitFor('20 jobs enqueued after the restart', () => created(readyAt).length >= 20, 60_000, state);
    await waitFor('both workers draining after the restart', () => workers.every((w) => w.workedSince(readyAt).length > 0), 60_000, state);

    const during = exchanges().filter((e) => e.answeredAt >= downAt && e.sentAt <= readyAt);
    const first201 = Math.min(
      ...exchanges()
        .filter((e) => e.status === 201 && e.answeredAt > stoppedAt)
        .map((e) => e.answeredAt),
    );
    t.diagnostic(
      `figure: ${kind}: outage ${readyAt - downAt} ms (stop ${stoppedAt - downAt} ms, down ${restartAt - stoppedAt} ms, start ${readyAt - restartAt} ms)`,
    );
    t.diagnostic(`figure: ${kind}: ${held.length} jobs held by the workers just before the stop`);
    t.diagnostic(`figure: ${kind}: ${during.filter((e) => e.status === 503).length} answers 503 during the outage`);
    t.diagnostic(`figure: ${kind}: first 201 ${first201 - restartAt} ms after the start command (${first201 - readyAt} ms after ready)`);
    t.diagnostic(
      `figure: ${kind}: worker invocations failed during the outage: ${workers.map((w) => w.failedBetween(downAt, readyAt).length).join(', ')}`,
    );
    return { downAt, readyAt };
  }

  it(
    'recovers from a fast shutdown',
    guarded(async (t) => {
      await outage(t, 'fast shutdown', () => server.stopFast());
    }),
  );

  it(
    'recovers from a crash (SIGKILL of the postmaster: crash recovery on start)',
    guarded(async (t) => {
      const logFrom = server.log.length;
      await outage(t, 'crash', () => server.crash());
      assert.match(server.log.slice(logFrom), /not properly shut down; automatic recovery in progress/, 'the start ran crash recovery');
    }),
  );

  it(
    'lost nothing: one job per request, every 201 stored and succeeded, only 201, 200-after-503 or 503 with Retry-After',
    guarded(async (t) => {
      await Promise.all(callers.map((c) => c.stop()));
      const all = exchanges();
      const byKey = new Map<string, Exchange[]>();
      for (const e of all) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);

      // Every answer is 201, 503 with Retry-After, or a 200 replay of a key that was answered 503 before.
      const odd = all.filter((e) => ![201, 200, 503].includes(e.status));
      assert.deepEqual(odd, [], 'no answer other than 201, 200 or 503');
      const bad503 = all.filter(
        (e) => e.status === 503 && !(e.retryAfter && /^[1-9]\d*$/.test(e.retryAfter) && e.errorCode === 'UNAVAILABLE'),
      );
      assert.deepEqual(bad503, [], 'every 503 is UNAVAILABLE with a Retry-After in seconds');
      const replays = all.filter((e) => e.status === 200);
      for (const r of replays) {
        assert.ok(
          (byKey.get(r.key) ?? []).some((e) => e.status === 503 && e.tryNo < r.tryNo),
          `200 for ${r.key} follows a 503 of that key`,
        );
      }
      const unsettled = [...byKey].filter(([, es]) => !es.some((e) => e.status === 201 || e.status === 200)).map(([k]) => k);
      assert.deepEqual(unsettled, [], 'every request was answered 201 or 200 in the end');
      for (const [key, es] of byKey) {
        assert.ok(es.filter((e) => e.status === 201 || e.status === 200).length === 1, `${key}: exactly one success`);
      }
      const idOfKey = new Map(all.filter((e) => e.id !== undefined).map((e) => [e.key, e.id as string]));

      // Drain until done: every job succeeded (no live row, no terminal state).
      const notDone = async () =>
        Number(
          (
            await pool.query(
              `SELECT count(*) AS n FROM ${SCHEMA}.jobs j WHERE j.state IS NOT NULL OR EXISTS (SELECT 1 FROM ${SCHEMA}.active_jobs a WHERE a.id = j.id)`,
            )
          ).rows[0].n,
        );
      await waitFor('every job to succeed', async () => (await notDone()) === 0, 90_000, state);

      // One row per request, carrying that request's key and the id it was answered with.
      const rows = (await pool.query(`SELECT id::text AS id, idempotency_key AS key, state FROM ${SCHEMA}.jobs j ORDER BY j.id`))
        .rows as Array<{
        id: string;
        key: string | null;
        state: string | null;
      }>;
      assert.equal(rows.length, byKey.size, 'as many jobs as requests');
      assert.equal(rows.length, created().length + replays.length, 'jobs = 201s + replays of a job committed before its 503');
      assert.deepEqual(
        rows.map((r) => [r.key, r.id]),
        [...idOfKey].sort((x, y) => Number(BigInt(x[1]) - BigInt(y[1]))),
        'each job has the key of its request and the id the API answered',
      );
      const ids = new Set(rows.map((r) => r.id));
      assert.deepEqual(
        heldAtStop.filter((id) => !ids.has(id) || rows.find((r) => r.id === id)?.state !== null),
        [],
        'the jobs held at a stop succeeded too',
      );
      assert.deepEqual(
        created()
          .map((e) => e.id)
          .filter((id) => !ids.has(id as string)),
        [],
        'every job answered 201 exists',
      );

      // The same containers worked throughout, and stop cleanly: never rebuilt, never crashed.
      for (const [i, w] of workers.entries()) {
        assert.ok(w.alive, `worker ${i} is still running`);
        assert.deepEqual(await within(w.stop(), 60_000, 'no exit within 60 s'), { code: 0, signal: null }, `worker ${i} exits cleanly`);
        assert.equal(w.stopped?.instance, w.instance, `worker ${i} kept one handler`);
        const errors = w.invocations.filter((v) => v.error);
        assert.deepEqual(
          errors.filter((v) => !v.error?.transient),
          [],
          `worker ${i}: every failed invocation failed on a transient database error`,
        );
      }
      const causes = new Map<string, number>();
      for (const v of workers.flatMap((w) => w.invocations)) {
        if (!v.error) continue;
        const cause = typeof v.error.code === 'string' ? v.error.code : v.error.message.slice(0, 60);
        causes.set(cause, (causes.get(cause) ?? 0) + 1);
      }
      t.diagnostic(`figure: worker invocation errors by cause: ${[...causes].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
      const succeeded = workers.reduce((n, w) => n + w.invocations.reduce((m, v) => m + (v.summary?.succeeded ?? 0), 0), 0);
      const lost = workers.reduce((n, w) => n + w.invocations.reduce((m, v) => m + (v.summary?.lostLeases ?? 0), 0), 0);
      t.diagnostic(
        `figure: requests ${byKey.size}, answers 201 ${created().length}, 503 ${all.filter((e) => e.status === 503).length}, 200 replays after a 503 ${replays.length}`,
      );
      t.diagnostic(
        `figure: jobs enqueued ${rows.length}, succeeded ${rows.length}; successes written by the workers ${succeeded} lost leases ${lost}`,
      );
      t.diagnostic(
        `figure: worker invocations ${workers.map((w) => `${w.invocations.length} (${w.invocations.filter((v) => v.error).length} failed)`).join(', ')}`,
      );
    }),
  );

  it(
    'a 503 can follow a commit (connection cut after COMMIT): the retry with the same Idempotency-Key answers 200 with that job',
    guarded(async () => {
      const proxy = await AnswerDroppingProxy.start({ host: '127.0.0.1', port: server.port });
      const proxied = new pg.Pool({ connectionString: `postgres://postgres:postgres@127.0.0.1:${proxy.port}/postgres`, max: 1 });
      proxied.on('error', () => {});
      try {
        // The API's routes and error mapping (createApi) over a pool through the proxy: apiHandler's container
        // pool is bound to the direct address.
        const app = createApi({
          sluice: new Sluice({ db: proxied, schema: SCHEMA }),
          registry: new JobRegistry(definitions),
          publisher: { jobsEnqueued: () => {} },
          logger: silentLogger,
        });
        const key = 'cut-after-commit';
        const dropped = proxy.dropAnswerTo('INSERT INTO');
        const first = await app(postJob(key, 1));
        await within(dropped, 10_000, undefined);
        assert.equal(first.statusCode, 503, first.body);
        assert.equal(first.headers?.['retry-after'], '5');
        const stored = (await pool.query(`SELECT id::text AS id FROM ${SCHEMA}.jobs WHERE idempotency_key = $1`, [key])).rows;
        assert.equal(stored.length, 1, 'the job was committed although the answer was 503');

        const retry = await app(postJob(key, 1));
        assert.equal(retry.statusCode, 200, retry.body);
        assert.equal(retry.headers?.['idempotent-replayed'], 'true');
        assert.equal(JSON.parse(retry.body ?? '{}').id, stored[0]?.id, 'the retry answers the stored job');
        const count = (await pool.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.jobs WHERE idempotency_key = $1`, [key])).rows[0].n;
        assert.equal(count, 1, 'no second job');
      } finally {
        await proxied.end();
        await proxy.close();
      }
    }),
  );
});
