/** Queue limits (issue 15, item 1 "and optionally on a queue"): one bound shared by every job type on a queue. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import {
  ConfigError,
  defineHandler,
  defineJob,
  defineQueue,
  JobRegistry,
  RateLimitedError,
  Sluice,
  ValidationError,
} from '../src/index.js';
import { sleep, testSluice } from './helpers/db.js';
import { maxOpen } from './helpers/overlap.js';

const schema = z.object({ tenant: z.string(), n: z.number() });
const fast = { maxAttempts: 3, backoff: { baseMs: 0, maxMs: 0 }, timeout: 2_000 } as const;

describe('queue limits', async () => {
  const { sluice, pool, s, url, schema: dbSchema } = await testSluice({ poolSize: 12 });
  /** The attempts of a queue's succeeded jobs: type, key, and when each started and ended (the database's own clock). */
  const attemptsOf = async (queue: string) =>
    (
      await pool.query(
        `SELECT j.type, j.payload->>'tenant' AS tenant, e.started_at AS start, e.at AS end, e.attempt,
                extract(epoch FROM e.started_at)::float8 AS epoch
         FROM ${s}.job_events e JOIN ${s}.jobs j ON j.id = e.job_id
         WHERE j.queue = $1 AND e.kind = 'succeeded' ORDER BY e.started_at`,
        [queue],
      )
    ).rows as Array<{ type: string; tenant: string; start: Date; end: Date; attempt: number; epoch: number }>;

  it("a queue's concurrency bounds every type on it together, under several drainers, beside each type's own limits", async () => {
    const queue = defineQueue({ name: 'ql-conc', limits: { concurrency: 3 } });
    const keyed = defineJob({ type: 'ql_keyed', schema, queue, ...fast, limits: { key: (p) => p.tenant, perKey: { concurrency: 1 } } });
    const bare = defineJob({ type: 'ql_bare', schema, queue, ...fast });
    assert.deepEqual(bare.queueLimits, { concurrency: 3 });
    await sluice.enqueueMany([
      ...['a', 'b', 'c', 'd'].flatMap((tenant) => Array.from({ length: 4 }, (_, n) => ({ job: keyed, payload: { tenant, n } }))),
      ...Array.from({ length: 16 }, (_, n) => ({ job: bare, payload: { tenant: '-', n } })),
    ]);
    // A type without limits of its own is parked too: the queue's limits hold it.
    const parked = await pool.query(`SELECT count(*)::int AS n FROM ${s}.active_jobs WHERE queue = 'ql-conc' AND run_at = 'infinity'`);
    assert.equal(parked.rows[0].n, 32);
    let running = 0;
    let max = 0;
    const work = async () => {
      max = Math.max(max, ++running);
      await sleep(20);
      running--;
    };
    const handlers = [defineHandler(keyed, work), defineHandler(bare, work)];
    const pools = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: url, max: 3 }));
    try {
      const workers = pools.map((db) => new Sluice({ db, schema: dbSchema }).worker({ queue: 'ql-conc', handlers, concurrency: 10 }));
      const deadline = Date.now() + 20_000;
      const left = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${s}.active_jobs WHERE queue = 'ql-conc'`)).rows[0].n;
      while ((await left()) > 0 && Date.now() < deadline) await Promise.all(workers.map((w) => w.drain({ remainingTimeMs: 5_000 })));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const rows = await attemptsOf('ql-conc');
    assert.equal(rows.length, 32, 'every job ran');
    assert.equal(max, 3, 'at most 3 ran at once across both types and three workers, and 3 did');
    assert.ok(maxOpen(rows) <= 3, `${maxOpen(rows)} leased at once, from the database's timestamps`);
    for (const t of ['a', 'b', 'c', 'd']) {
      const own = rows.filter((r) => r.type === 'ql_keyed' && r.tenant === t);
      assert.ok(maxOpen(own) <= 1, `key ${t} kept its own limit of 1`);
    }
    assert.equal(Math.max(...rows.map((r) => r.attempt)), 1, 'jobs held by the queue spent no attempt');
  });

  it("a queue's rate bounds the starts of every type on it, read from the database, and the drain waits for the window", async () => {
    const queue = defineQueue({ name: 'ql-rate', limits: { rate: { limit: 10, per: 'second', burst: 3 } } });
    const one = defineJob({ type: 'ql_rate_a', schema, queue, ...fast, limits: { concurrency: 50 } });
    const two = defineJob({ type: 'ql_rate_b', schema, queue, ...fast });
    await sluice.enqueueMany([one, two].flatMap((job) => Array.from({ length: 9 }, (_, n) => ({ job, payload: { tenant: 't', n } }))));
    const h = [defineHandler(one, () => {}), defineHandler(two, () => {})];
    await Promise.all([0, 1].map(() => sluice.worker({ queue: 'ql-rate', handlers: h }).drain({ remainingTimeMs: 8_000 })));
    const starts = (await attemptsOf('ql-rate')).map((r) => r.epoch);
    assert.equal(starts.length, 18);
    for (let i = 0; i < starts.length; i++)
      for (let j = i; j < starts.length; j++) {
        const bound = 3 + 10 * ((starts[j] as number) - (starts[i] as number));
        assert.ok(j - i + 1 <= bound + 1e-6, `${j - i + 1} starts within ${((starts[j] as number) - (starts[i] as number)).toFixed(3)} s`);
      }
    const span = (starts.at(-1) as number) - (starts[0] as number);
    assert.ok(span >= 1.4, `18 starts at 10 a second after a burst of 3 take at least 1.5 s; took ${span} s`);
  });

  it("RateLimitedError with scope 'queue' pauses every type on the queue for every worker; the attempt is given back", async () => {
    const queue = defineQueue({ name: 'ql-429', limits: { concurrency: 10 } });
    const caller = defineJob({ type: 'ql_429_a', schema, queue, ...fast });
    const other = defineJob({ type: 'ql_429_b', schema, queue, ...fast });
    const first = await sluice.enqueue(caller, { tenant: 't', n: 0 }, { priority: -1 });
    await sluice.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ job: other, payload: { tenant: 't', n } })));
    let limited = false;
    const handlers = [
      defineHandler(caller, () => {
        if (!limited) {
          limited = true;
          throw new RateLimitedError({ retryAfterMs: 1_000, scope: 'queue' });
        }
      }),
      defineHandler(other, () => {}),
    ];
    const summary = await sluice.worker({ queue: 'ql-429', handlers, concurrency: 1 }).drain({ remainingTimeMs: 6_000 });
    assert.equal(summary.snoozed, 1);
    // The drain waits the cooldown out; the snoozed job may come due just after it ran dry: a next drain takes it.
    let succeeded = summary.succeeded;
    if (succeeded < 4) succeeded += (await sluice.worker({ queue: 'ql-429', handlers }).drain({ remainingTimeMs: 4_000 })).succeeded;
    assert.equal(succeeded, 4, 'everything ran');
    assert.ok(summary.succeeded >= 3, `the first drain waited the cooldown out and ran the other types' jobs (${summary.succeeded})`);
    const cool = (await pool.query(`SELECT cool_until FROM ${s}.flow_state WHERE queue = 'ql-429' AND type = '' AND key = ''`)).rows[0]
      ?.cool_until as Date;
    assert.ok(cool, "the queue's cooldown is in the database, for every worker");
    const rows = await attemptsOf('ql-429');
    assert.ok(
      rows.every((r) => r.start.getTime() >= cool.getTime()),
      `nothing on the queue started during its cooldown: ${rows.map((r) => r.start.getTime() - cool.getTime()).join(', ')} ms after its end`,
    );
    assert.equal(rows.find((r) => r.type === 'ql_429_a')?.attempt, 1, 'the snoozed attempt was given back');
    assert.equal((await sluice.getJob(first.id))?.state, 'succeeded');
  });

  it("a job of another type sent into a limited queue counts against the queue's limits too", async () => {
    const queue = defineQueue({ name: 'ql-into', limits: { concurrency: 1 } });
    const own = defineJob({ type: 'ql_into_own', schema, queue, ...fast });
    const visitor = defineJob({ type: 'ql_into_visitor', schema, queue: 'ql-elsewhere', ...fast });
    await sluice.enqueueMany([0, 1].map((n) => ({ job: own, payload: { tenant: 't', n } })));
    const sent = await sluice.enqueueMany(
      [0, 1].map((n) => ({ job: visitor, payload: { tenant: 't', n }, options: { queue: 'ql-into' } })),
    );
    const parked = await pool.query(
      `SELECT count(*)::int AS n FROM ${s}.active_jobs WHERE id = ANY($1::bigint[]) AND run_at = 'infinity'`,
      [sent.map((j) => j.id)],
    );
    assert.equal(parked.rows[0].n, 2, "the visitors are parked under the queue's limits");
    let running = 0;
    let max = 0;
    const work = async () => {
      max = Math.max(max, ++running);
      await sleep(30);
      running--;
    };
    const summary = await sluice
      .worker({ queue: 'ql-into', handlers: [defineHandler(own, work), defineHandler(visitor, work)], concurrency: 4 })
      .drain({ remainingTimeMs: 8_000 });
    assert.equal(summary.succeeded, 4);
    assert.equal(max, 1, 'one at a time across both types, as the queue says');
  });

  it('a cooled queue holds another worker, which returns at once', async () => {
    const queue = defineQueue({ name: 'ql-held', limits: { concurrency: 2 } });
    const job = defineJob({ type: 'ql_held', schema, queue, ...fast });
    await sluice.enqueue(job, { tenant: 't', n: 0 });
    await pool.query(`INSERT INTO ${s}.flow_state (queue, type, key, cool_until) VALUES ('ql-held', '', '', now() + interval '1 minute')`);
    const t0 = Date.now();
    const summary = await sluice.worker({ queue: 'ql-held', handlers: [defineHandler(job, () => {})] }).drain({ remainingTimeMs: 1_500 });
    assert.equal(summary.claimed, 0);
    assert.ok(Date.now() - t0 < 1_500, 'it did not wait out a cooldown longer than its budget');
    await pool.query(`DELETE FROM ${s}.flow_state WHERE queue = 'ql-held'`);
    const after = await sluice.worker({ queue: 'ql-held', handlers: [defineHandler(job, () => {})] }).drain({ remainingTimeMs: 3_000 });
    assert.equal(after.succeeded, 1);
  });

  it('configuration errors: a bad queue, a type naming its queue by string beside the handle, and enqueue options that would escape it', async () => {
    const refuses = (f: () => unknown, message: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof ConfigError && message.test(e.message));
    refuses(() => defineQueue({ name: 'ql-x', limits: {} }), /limits needs concurrency or a rate/);
    refuses(() => defineQueue({ name: 'ql-x', limits: { concurrency: 0 } }), /at least 1.*limits.concurrency/s);
    refuses(() => defineQueue({ name: 'Bad Name', limits: { concurrency: 1 } }), /name: lower-case/);
    refuses(() => defineQueue({ name: 'ql-x', limits: { rate: { limit: 5 } } }), /per or periodMs/);
    refuses(() => defineQueue({ name: 'ql-x', limits: { concurrency: 1, key: () => 'k' } as never }), /Unrecognized key/i);
    refuses(() => defineJob({ type: 'ql_fake', schema, queue: { name: 'ql-x', limits: { concurrency: 1 } } }), /a handle from defineQueue/);

    const queue = defineQueue({ name: 'ql-cfg', limits: { concurrency: 2 } });
    const named = defineJob({ type: 'ql_named', schema, queue, ...fast });
    const byString = defineJob({ type: 'ql_string', schema, queue: 'ql-cfg', ...fast });
    const twin = defineJob({ type: 'ql_twin', schema, queue: defineQueue({ name: 'ql-cfg', limits: { concurrency: 2 } }), ...fast });
    assert.equal(named.queue, 'ql-cfg');
    refuses(() => new JobRegistry([named, byString]), /"ql_string" names queue "ql-cfg" by string.*pass the handle/);
    refuses(() => new JobRegistry([byString, named]), /"ql_string" names queue "ql-cfg" by string/);
    refuses(() => new JobRegistry([named, twin]), /two different defineQueue handles/);
    refuses(
      () => sluice.worker({ queue: 'ql-cfg', handlers: [defineHandler(named, () => {}), defineHandler(byString, () => {})] }),
      /by string/,
    );
    assert.ok(
      new JobRegistry([named, defineJob({ type: 'ql_elsewhere', schema, queue: 'ql-other' })]),
      'other queues are not its business',
    );

    const refused = async (p: Promise<unknown>, message: RegExp) => {
      const err = await p.then(
        () => assert.fail('not refused'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ValidationError && message.test(err.message), String(err));
    };
    await refused(sluice.enqueue(named, { tenant: 't', n: 0 }, { queue: 'ql-elsewhere' }), /on queue ql-cfg, which has limits/);
    await refused(sluice.enqueue(named, { tenant: 't', n: 0 }, { replaceKey: 'r' }), /replaceKey.*its queue ql-cfg has/);
    const left = await pool.query(`SELECT count(*)::int AS n FROM ${s}.jobs WHERE type = 'ql_named'`);
    assert.equal(left.rows[0].n, 0, 'nothing was written');
  });
});
