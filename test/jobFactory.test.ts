/**
 * test/helpers/jobs.ts writes a job in a state straight into the tables; each state here is also reached the
 * real way (enqueue, claim, drain, cancel), and the rows of both must be the same but for ids, clocks and
 * lease tokens, so that a test set up with the factory sees what it would after the real path.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { Queryable, SchemaName } from '../src/db.js';
import { defineJob } from '../src/define.js';
import { PermanentJobError, RetryableJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import type { Sluice } from '../src/index.js';
import { claimJobs } from '../src/sql/claim.js';
import { testSluice } from './helpers/db.js';
import { insertJob, type JobInit } from './helpers/jobs.js';

const twin = defineJob({
  type: 'twin',
  schema: z.object({ n: z.number() }),
  queue: 'twin',
  priority: 3,
  maxAttempts: 3,
  backoff: { baseMs: 0, maxMs: 0 },
  timeout: 1_000,
});
type Twin = typeof twin;

/** The test schema's pool and quoted name, for claiming as a worker would (set once the schema exists). */
let core: { db: Queryable; s: SchemaName };

/** Drain `def`'s queue with a handler that runs `run` and stores one step first when `step` is set. */
async function drain(sluice: Sluice, def: Twin, run: (attempt: number) => void, step = false) {
  const handler = defineHandler(def, async (_, ctx) => {
    if (step) await ctx.step('reserve', () => ({ held: true }));
    run(ctx.attempt);
  });
  await sluice.worker({ queue: def.queue, handlers: [handler] }).drain({ remainingTimeMs: 3_000 });
}

const fail = (err: Error) => () => {
  throw err;
};

/** Each state reached the real way (given the job type to use, with its own queue), and its factory twin. */
const CASES: Array<{ name: string; real: (sluice: Sluice, def: Twin) => Promise<string>; init: Omit<JobInit, 'job' | 'payload'> }> = [
  { name: 'ready', real: async (sluice, def) => (await sluice.enqueue(def, { n: 1 })).id, init: { state: 'ready' } },
  {
    name: 'scheduled',
    real: async (sluice, def) => (await sluice.enqueue(def, { n: 1 }, { delayMs: 3_600_000 })).id,
    init: { state: 'scheduled' },
  },
  {
    name: 'scheduled again after a failed attempt',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await drain(sluice, def, fail(new RetryableJobError('later', { delayMs: 3_600_000 })));
      return id;
    },
    init: { state: 'scheduled', attempt: 1, errors: [{ name: 'RetryableJobError', code: 'RETRYABLE', message: 'later' }] },
  },
  {
    name: 'running',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await claimJobs(core.db, core.s, { queue: def.queue, limit: 1, leaseSeconds: 60, token: randomUUID() });
      return id;
    },
    init: { state: 'running' },
  },
  {
    name: 'succeeded at the first attempt',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await drain(sluice, def, () => {});
      return id;
    },
    init: { state: 'succeeded' },
  },
  {
    name: 'succeeded after a failed attempt',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await drain(sluice, def, (attempt) => {
        if (attempt === 1) throw new Error('flaky');
      });
      return id;
    },
    init: { state: 'succeeded', attempt: 2, errors: [{ name: 'Error', message: 'flaky' }] },
  },
  {
    name: 'dead at the first attempt',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await drain(sluice, def, fail(new PermanentJobError('refused')));
      return id;
    },
    init: { state: 'dead' },
  },
  {
    name: 'dead with every attempt spent, keeping its step',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await drain(sluice, def, (attempt) => fail(Object.assign(new Error(`boom ${attempt}`), { code: 'E_BOOM' }))(), true);
      return id;
    },
    init: {
      state: 'dead',
      attempt: 3,
      errors: [1, 2, 3].map((n) => ({ name: 'Error', code: 'E_BOOM', message: `boom ${n}` })),
      steps: { reserve: { held: true } },
    },
  },
  {
    name: 'cancelled while waiting',
    real: async (sluice, def) => {
      const { id } = await sluice.enqueue(def, { n: 1 });
      await sluice.cancel([id]);
      return id;
    },
    init: { state: 'cancelled' },
  },
];

describe('job factory (test/helpers/jobs.ts)', async () => {
  const { sluice, pool, schema, s } = await testSluice();
  core = { db: pool, s };

  /** Everything stored about a job but its id, its clocks and its lease token. */
  const rows = async (id: string) =>
    (
      await pool.query(
        `SELECT j.type, j.queue, j.priority, j.max_attempts, j.idempotency_key, j.state, j.attempts, j.finished_at IS NOT NULL AS finished,
           j.payload, (SELECT jsonb_agg(e - 'at' ORDER BY i) FROM jsonb_array_elements(j.errors) WITH ORDINALITY AS x(e, i)) AS errors,
           (SELECT bool_and(e ? 'at') FROM jsonb_array_elements(j.errors) AS e) AS errors_stamped,
           a.id IS NOT NULL AS live, a.queue AS live_queue, a.priority AS live_priority, a.attempt AS live_attempt,
           a.run_at > now() AS due_later, a.lease_expires_at > now() AS leased, a.lease_token IS NOT NULL AS has_token, a.cancel_requested,
           (SELECT jsonb_agg(jsonb_build_array(st.name, st.seq, st.result) ORDER BY st.seq) FROM "${schema}".job_steps st WHERE st.job_id = j.id) AS steps
         FROM "${schema}".jobs j LEFT JOIN "${schema}".active_jobs a ON a.id = j.id WHERE j.id = $1`,
        [id],
      )
    ).rows[0];
  /** The job as the library shows it, but for its id and clocks. */
  const view = async (id: string) => {
    const job = await sluice.getJob(id);
    assert.ok(job, `job ${id}`);
    const { id: _, createdAt, runAt, finishedAt, ...rest } = job;
    return { ...rest, finished: finishedAt !== null, errors: job.errors.map(({ at, ...e }) => e) };
  };

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the factory stores what the real code leaves`, async () => {
      const def = { ...twin, queue: `twin-${i}` };
      const real = await c.real(sluice, def);
      const made = await insertJob(pool, schema, { job: def, payload: { n: 1 }, ...c.init });
      assert.deepEqual(await rows(made), await rows(real));
      assert.deepEqual(await view(made), await view(real));
      const state = c.init.state === 'ready' ? 'available' : c.init.state;
      assert.equal((await sluice.getJob(made))?.state, state);
    });
  }

  it('refuses a job that no real path leaves', async () => {
    await assert.rejects(
      insertJob(pool, schema, { state: 'ready', errors: [{ name: 'Error', message: 'never ran' }] }),
      /cannot be a ready job/,
    );
    await assert.rejects(insertJob(pool, schema, { state: 'running', attempt: 0 }), /cannot be a running job/);
    await assert.rejects(insertJob(pool, schema, { state: 'dead', attempt: 4, maxAttempts: 3 }), /cannot be a dead job/);
  });
});
