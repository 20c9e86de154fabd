/** Flow control (issue 15, items 1, 3 and 8): concurrency limits per type and per key, fairness across keys. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import {
  ConfigError,
  defineHandler,
  defineJob,
  type JobDefinition,
  parseRetryAfter,
  RateLimitedError,
  Sluice,
  ValidationError,
} from '../src/index.js';
import { sleep, testSluice } from './helpers/db.js';
import { maxOverlap } from './helpers/overlap.js';

const schema = z.object({ tenant: z.string(), n: z.number() });
const fast = { maxAttempts: 3, backoff: { baseMs: 0, maxMs: 0 }, timeout: 2_000 } as const;

describe('flow control', async () => {
  const { sluice, pool, s, url, schema: dbSchema } = await testSluice({ poolSize: 12 });
  const count = async (sqlText: string, values: unknown[] = []) => Number((await pool.query(sqlText, values)).rows[0].n);

  it('several drainers in parallel never run more than the per-key or the total limit, from the database timestamps', async () => {
    const job = defineJob({
      type: 'fc_keyed',
      schema,
      queue: 'fc-keyed',
      ...fast,
      limits: { concurrency: 6, key: (p) => p.tenant, perKey: { concurrency: 2 } },
    });
    const tenants = ['a', 'b', 'c', 'd', 'e'];
    await sluice.enqueueMany(tenants.flatMap((tenant) => Array.from({ length: 12 }, (_, n) => ({ job, payload: { tenant, n } }))));
    let running = 0;
    let maxRunning = 0;
    const perKey = new Map<string, number>();
    let maxPerKey = 0;
    const handler = defineHandler(job, async ({ tenant }) => {
      running++;
      perKey.set(tenant, (perKey.get(tenant) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, running);
      maxPerKey = Math.max(maxPerKey, perKey.get(tenant) ?? 0);
      await sleep(25);
      running--;
      perKey.set(tenant, (perKey.get(tenant) ?? 0) - 1);
    });
    // Four workers, each with its own pool (as four Lambdas would be), each with room for ten at once.
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: url, max: 3 }));
    try {
      const workers = pools.map((db) =>
        new Sluice({ db, schema: dbSchema }).worker({ queue: 'fc-keyed', handlers: [handler], concurrency: 10 }),
      );
      const deadline = Date.now() + 20_000;
      while ((await count(`SELECT count(*) AS n FROM ${s}.active_jobs`)) > 0 && Date.now() < deadline) {
        await Promise.all(workers.map((w) => w.drain({ remainingTimeMs: 5_000 })));
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.active_jobs`), 0, 'every job ran');
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.flow_jobs WHERE queue = 'fc-keyed'`), 0, 'no flow row is left behind');
    assert.equal(maxPerKey, 2, 'each key ran at most 2 at once, and reached 2');
    assert.equal(maxRunning, 6, 'at most 6 ran at once in total, and 6 did');
    const intervals = (
      await pool.query(
        `SELECT j.payload->>'tenant' AS tenant, e.started_at AS start, e.at AS end
         FROM ${s}.job_events e JOIN ${s}.jobs j ON j.id = e.job_id WHERE j.type = 'fc_keyed' AND e.kind = 'succeeded'`,
      )
    ).rows as Array<{ tenant: string; start: Date; end: Date }>;
    assert.equal(intervals.length, 60);
    const keyMax = maxOverlap(intervals.map((r) => ({ group: r.tenant, start: r.start, end: r.end })));
    for (const t of tenants) assert.ok((keyMax.get(t) ?? 0) <= 2, `key ${t}: ${keyMax.get(t)} leased at once`);
    const total = maxOverlap(intervals.map((r) => ({ group: 'all', start: r.start, end: r.end }))).get('all') ?? 0;
    assert.ok(total <= 6, `${total} leased at once in total`);
  });

  it('one drain keeps claiming a held key as its own jobs finish, and a drain whose slots others hold returns at once', async () => {
    const job = defineJob({
      type: 'fc_single',
      schema,
      queue: 'fc-single',
      ...fast,
      limits: { key: (p) => p.tenant, perKey: { concurrency: 1 } },
    });
    await sluice.enqueueMany([0, 1, 2].map((n) => ({ job, payload: { tenant: 'x', n } })));
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const blocking = defineHandler(job, async ({ n }) => {
      if (n === 0) await gate;
    });
    const first = sluice.worker({ queue: 'fc-single', handlers: [blocking] }).drain({ remainingTimeMs: 10_000 });
    await sleep(300);
    const t0 = Date.now();
    const second = await sluice.worker({ queue: 'fc-single', handlers: [blocking] }).drain({ remainingTimeMs: 10_000 });
    assert.equal(second.claimed, 0, 'the key is held by the first drain');
    assert.equal(second.moreDue, false);
    assert.ok(Date.now() - t0 < 2_000, 'it returned instead of waiting for the slot');
    release();
    const summary = await first;
    assert.equal(summary.succeeded, 3, 'the first drain ran all three, one after another');
  });

  it("a lapsed lease gives its slot back: the job is offered again first in its key's turn, its lost attempt noted", async () => {
    const job = defineJob({
      type: 'fc_lapse',
      schema,
      queue: 'fc-lapse',
      ...fast,
      limits: { key: (p) => p.tenant, perKey: { concurrency: 1 } },
    });
    const [a, b] = await sluice.enqueueMany([0, 1].map((n) => ({ job, payload: { tenant: 'k', n } })));
    const limits = JSON.stringify([{ type: 'fc_lapse', total: null, perKey: 1 }]);
    // A worker claims the first and dies.
    const claimed = await pool.query(`SELECT id FROM ${s}.claim_flow_jobs('fc-lapse', 10, 1, gen_random_uuid(), $1::jsonb)`, [limits]);
    assert.deepEqual(
      claimed.rows.map((r) => r.id),
      [a?.id],
    );
    const order: number[] = [];
    const h = defineHandler(job, ({ n }) => {
      order.push(n);
    });
    const held = await sluice.worker({ queue: 'fc-lapse', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(held.claimed, 0, 'its slot is taken while the lease lasts');
    await sleep(1_100); // its lease of a second lapses
    const summary = await sluice.worker({ queue: 'fc-lapse', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(summary.succeeded, 2);
    assert.deepEqual(order, [0, 1]);
    const kinds = (await sluice.jobTimeline(a?.id as string)).map((e) => (e.kind === 'attempt' ? e.outcome : e.kind));
    assert.deepEqual(kinds, ['lost', 'succeeded']);
    assert.equal((await sluice.getJob(b?.id as string))?.state, 'succeeded');
  });

  it("fairness: 10 jobs of key B queued behind 200 of key A start within A's first few", async () => {
    const job = defineJob({
      type: 'fc_fair',
      schema,
      queue: 'fc-fair',
      ...fast,
      limits: { key: (p) => p.tenant, perKey: { concurrency: 5 } },
    });
    await sluice.enqueueMany(Array.from({ length: 200 }, (_, n) => ({ job, payload: { tenant: 'A', n } })));
    await sluice.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ job, payload: { tenant: 'B', n } })));
    const starts: string[] = [];
    const h = defineHandler(job, ({ tenant }) => {
      starts.push(tenant);
    });
    await sluice.worker({ queue: 'fc-fair', handlers: [h], concurrency: 10 }).drain({ remainingTimeMs: 15_000 });
    assert.equal(starts.length, 210);
    const lastB = starts.lastIndexOf('B');
    const aBefore = starts.slice(0, lastB).filter((t) => t === 'A').length;
    // Round robin with 5 a key at once: B's ten start beside about ten of A's. First come, first served would start all 200 first.
    assert.ok(aBefore <= 20, `${aBefore} of A's jobs started before B's last`);
  });

  it('a limited job retried waits parked under its limits; unlimited types in the same queue still run', async () => {
    const limited = defineJob({ type: 'fc_retry', schema, queue: 'fc-mixed', ...fast, limits: { concurrency: 1 } });
    const plain = defineJob({ type: 'fc_plain', schema, queue: 'fc-mixed', ...fast });
    const l = await sluice.enqueue(limited, { tenant: 't', n: 1 });
    await sluice.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ job: plain, payload: { tenant: 't', n } })));
    let tries = 0;
    const hl = defineHandler(limited, async () => {
      if (++tries === 1) throw new Error('first try fails');
    });
    const hp = defineHandler(plain, () => {});
    const worker = sluice.worker({ queue: 'fc-mixed', handlers: [hl, hp] });
    const parked = async () =>
      (await pool.query(`SELECT run_at = 'infinity' AS parked FROM ${s}.active_jobs WHERE id = $1`, [l.id])).rows[0]?.parked;
    assert.equal(await parked(), true, 'a queued limited job is parked out of the plain claim’s reach');
    // The plain claim alone never takes it.
    const plainOnly = await pool.query(`SELECT id FROM ${s}.claim_jobs('fc-mixed', 100, 60, gen_random_uuid())`);
    assert.ok(!plainOnly.rows.some((r) => r.id === l.id));
    await pool.query(`UPDATE ${s}.active_jobs SET lease_token = NULL, lease_expires_at = NULL, attempt = 0 WHERE id <> $1`, [l.id]);
    const summary = await worker.drain({ remainingTimeMs: 8_000 });
    assert.equal(tries, 2);
    assert.equal(summary.succeeded, 6);
    assert.equal(summary.retried, 1);
    assert.equal((await sluice.getJob(l.id))?.state, 'succeeded');
  });

  it('a worker whose plain claim found nothing before still takes an unlimited job that arrives later', async () => {
    const limited = defineJob({ type: 'fc_idle_l', schema, queue: 'fc-idle', ...fast, limits: { concurrency: 5 } });
    const plain = defineJob({ type: 'fc_idle_p', schema, queue: 'fc-idle', ...fast });
    const worker = sluice.worker({ queue: 'fc-idle', handlers: [defineHandler(limited, () => {}), defineHandler(plain, () => {})] });
    await sluice.enqueue(limited, { tenant: 't', n: 1 });
    assert.equal((await worker.drain({ remainingTimeMs: 5_000 })).succeeded, 1);
    await sluice.enqueue(plain, { tenant: 't', n: 2 });
    assert.equal((await worker.drain({ remainingTimeMs: 5_000 })).succeeded, 1, 'the unlimited job ran');
  });

  /** Start times (the claims' own, from the database) of the succeeded jobs of a type, by key, in order. */
  const startsOf = async (type: string) => {
    const rows = (
      await pool.query(
        `SELECT j.payload->>'tenant' AS tenant, e.started_at AS start, extract(epoch FROM e.started_at)::float8 AS epoch
         FROM ${s}.job_events e JOIN ${s}.jobs j ON j.id = e.job_id WHERE j.type = $1 AND e.kind = 'succeeded' ORDER BY e.started_at`,
        [type],
      )
    ).rows as Array<{ tenant: string; start: Date; epoch: number }>;
    return rows;
  };
  /** The most starts in any window of `T` seconds, against the bucket's bound burst + rate × T. */
  const withinBucket = (starts: readonly number[], rate: number, burst: number) => {
    const t = starts;
    for (let i = 0; i < t.length; i++)
      for (let j = i; j < t.length; j++) {
        const n = j - i + 1;
        const bound = burst + rate * ((t[j] as number) - (t[i] as number));
        if (n > bound + 1e-6) return `${n} starts in ${((t[j] as number) - (t[i] as number)).toFixed(3)} s, over ${bound.toFixed(2)}`;
      }
    return null;
  };

  it('a rate limit with a burst: starts, read from the database, stay within the bucket; the drain waits for the window', async () => {
    const job = defineJob({ type: 'fc_rate', schema, queue: 'fc-rate', ...fast, limits: { rate: { limit: 10, per: 'second', burst: 4 } } });
    await sluice.enqueueMany(Array.from({ length: 24 }, (_, n) => ({ job, payload: { tenant: 't', n } })));
    const summary = await sluice.worker({ queue: 'fc-rate', handlers: [defineHandler(job, () => {})] }).drain({ remainingTimeMs: 8_000 });
    assert.equal(summary.succeeded, 24, 'one drain ran them all, waiting for the rate between claims');
    const starts = (await startsOf('fc_rate')).map((r) => r.epoch);
    assert.equal(withinBucket(starts, 10, 4), null);
    const span = (starts.at(-1) as number) - (starts[0] as number);
    assert.ok(span >= 1.9, `24 starts at 10 a second with a burst of 4 take at least 2 s; took ${span} s`);
    const attempts = await pool.query(
      `SELECT max(e.attempt) AS n FROM ${s}.job_events e JOIN ${s}.jobs j ON j.id = e.job_id WHERE j.type = 'fc_rate'`,
    );
    assert.equal(Number(attempts.rows[0].n), 1, 'held jobs spent no attempt: each succeeded on its first');
  });

  it('a per-key rate holds each key to its own bucket, under several drainers', async () => {
    const job = defineJob({
      type: 'fc_key_rate',
      schema,
      queue: 'fc-key-rate',
      ...fast,
      limits: { key: (p) => p.tenant, perKey: { rate: { limit: 5, per: 'second', burst: 2 } } },
    });
    await sluice.enqueueMany(['a', 'b'].flatMap((tenant) => Array.from({ length: 8 }, (_, n) => ({ job, payload: { tenant, n } }))));
    const h = defineHandler(job, () => {});
    await Promise.all([0, 1, 2].map(() => sluice.worker({ queue: 'fc-key-rate', handlers: [h] }).drain({ remainingTimeMs: 6_000 })));
    const rows = await startsOf('fc_key_rate');
    assert.equal(rows.length, 16);
    for (const tenant of ['a', 'b']) {
      const starts = rows.filter((r) => r.tenant === tenant).map((r) => r.epoch);
      assert.equal(withinBucket(starts, 5, 2), null, `key ${tenant}`);
    }
  });

  it('RateLimitedError: the job is snoozed, attempt unspent, and its key starts nothing before the cooldown ends; other keys go on', async () => {
    const job = defineJob({
      type: 'fc_429',
      schema,
      queue: 'fc-429',
      ...fast,
      limits: { key: (p) => p.tenant, perKey: { concurrency: 5 } },
    });
    // Keys in this order, so the first job claimed is hot's first; cold's jobs take a while each.
    await sluice.enqueueMany(
      ['a-hot', 'b-cold'].flatMap((tenant) => Array.from({ length: 4 }, (_, n) => ({ job, payload: { tenant, n } }))),
    );
    let limitedAt = 0;
    const coldStarts: number[] = [];
    const h = defineHandler(job, async ({ tenant, n }) => {
      if (tenant === 'a-hot' && n === 0 && limitedAt === 0) {
        limitedAt = Date.now();
        throw new RateLimitedError({ retryAfter: '1' });
      }
      if (tenant === 'b-cold') {
        coldStarts.push(Date.now());
        await sleep(150);
      }
    });
    const summary = await sluice.worker({ queue: 'fc-429', handlers: [h], concurrency: 1 }).drain({ remainingTimeMs: 8_000 });
    assert.equal(summary.succeeded, 8, 'the drain waited out the cooldown and ran everything');
    assert.equal(summary.snoozed, 1);
    const cool = (await pool.query(`SELECT cool_until FROM ${s}.flow_state WHERE queue = 'fc-429' AND key = 'a-hot'`)).rows[0]
      ?.cool_until as Date;
    assert.ok(cool, 'the cooldown is in the database, for every worker');
    const rows = await startsOf('fc_429');
    const began = cool.getTime() - 1000;
    const hot = rows.filter((r) => r.tenant === 'a-hot');
    assert.equal(hot.length, 4);
    assert.ok(
      hot.every((r) => r.start.getTime() >= cool.getTime() || r.start.getTime() < began),
      `no hot job started during its cooldown: ${hot.map((r) => r.start.getTime() - began).join(', ')} ms after it began`,
    );
    assert.ok(
      coldStarts.some((at) => at > limitedAt && at < limitedAt + 900),
      `a cold job ran while hot cooled down: ${coldStarts.map((at) => at - limitedAt).join(', ')} ms after the 429`,
    );
    const attempts = await pool.query(
      `SELECT max(e.attempt) AS n FROM ${s}.job_events e JOIN ${s}.jobs j ON j.id = e.job_id WHERE j.type = 'fc_429' AND e.kind = 'succeeded'`,
    );
    assert.equal(Number(attempts.rows[0].n), 1, 'the snoozed attempt was given back: every job succeeded on attempt 1');
  });

  it("RateLimitedError with scope 'type' pauses every key of the type for every worker", async () => {
    const job = defineJob({ type: 'fc_429_type', schema, queue: 'fc-429-type', ...fast, limits: { key: (p) => p.tenant } });
    await sluice.enqueueMany(['a', 'b', 'c'].map((tenant, n) => ({ job, payload: { tenant, n } })));
    let first = true;
    const h = defineHandler(job, () => {
      if (first) {
        first = false;
        throw new RateLimitedError({ retryAfterMs: 60_000, scope: 'type' });
      }
    });
    const summary = await sluice.worker({ queue: 'fc-429-type', handlers: [h], concurrency: 1 }).drain({ remainingTimeMs: 3_000 });
    assert.deepEqual([summary.succeeded, summary.snoozed], [0, 1], JSON.stringify(summary));
    const other = await sluice.worker({ queue: 'fc-429-type', handlers: [h] }).drain({ remainingTimeMs: 3_000 });
    assert.equal(other.claimed, 0, 'another worker claims nothing of the type while it cools down');
    assert.equal(other.moreDue, false);
  });

  it('parseRetryAfter reads delta seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter(1.5), 1500);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:30 GMT')), 30_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(new RateLimitedError({ retryAfter: 'soon', fallbackMs: 250 }).delayMs, 250);
    assert.throws(() => new RateLimitedError({ scope: 'tenant' as never }), /scope is 'key', 'type' or 'queue'/);
  });

  it('ctx.transaction of a limited job commits its success and frees its slot in the same transaction', async () => {
    const job = defineJob({ type: 'fc_tx', schema, queue: 'fc-tx', ...fast, limits: { key: (p) => p.tenant, perKey: { concurrency: 1 } } });
    const [a, b] = await sluice.enqueueMany([1, 2].map((n) => ({ job, payload: { tenant: 'k', n } })));
    const h = defineHandler(job, (_p, ctx) => ctx.transaction(async (tx) => (await tx.query('SELECT 1 AS one')).rows[0]));
    const summary = await sluice.worker({ queue: 'fc-tx', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(summary.succeeded, 2, 'the second ran after the first freed the key: one drain');
    for (const j of [a, b]) assert.deepEqual((await sluice.getJob(j?.id as string))?.result, { one: 1 });
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.flow_jobs WHERE queue = 'fc-tx'`), 0);
  });

  it('a running limited job reads as running, and stats count it', async () => {
    const job = defineJob({ type: 'fc_running', schema, queue: 'fc-running', ...fast, limits: { concurrency: 2 } });
    const j = await sluice.enqueue(job, { tenant: 't', n: 1 });
    let seen: [string | undefined, number | undefined] = [undefined, undefined];
    const h = defineHandler(job, async () => {
      seen = [(await sluice.getJob(j.id))?.state, (await sluice.stats()).find((q) => q.queue === 'fc-running')?.running];
    });
    await sluice.worker({ queue: 'fc-running', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.deepEqual(seen, ['running', 1]);
  });

  it('reads show a waiting limited job as it is: available, due when enqueued, counted as ready by stats', async () => {
    const job = defineJob({ type: 'fc_read', schema, queue: 'fc-read', ...fast, limits: { concurrency: 1 } });
    const now = await sluice.enqueue(job, { tenant: 't', n: 1 });
    const later = await sluice.enqueue(job, { tenant: 't', n: 2 }, { delayMs: 3_600_000 });
    const v = await sluice.getJob(now.id);
    assert.equal(v?.state, 'available');
    assert.ok(Math.abs((v?.runAt.getTime() ?? 0) - now.runAt.getTime()) < 1000);
    assert.equal((await sluice.getJob(later.id))?.state, 'scheduled');
    const listed = await sluice.listJobs({ queue: 'fc-read', state: 'available' });
    assert.deepEqual(
      listed.map((j) => j.id),
      [now.id],
    );
    const stats = (await sluice.stats()).find((q) => q.queue === 'fc-read');
    assert.deepEqual([stats?.ready, stats?.scheduled, stats?.running], [1, 1, 0]);
    assert.ok((stats?.oldestReadyAgeSeconds ?? -1) >= 0);
  });

  it('cancel removes a waiting limited job from its limits; a redriven dead letter is parked under them again', async () => {
    const job = defineJob({
      type: 'fc_dead',
      schema,
      queue: 'fc-dead',
      maxAttempts: 1,
      timeout: 2_000,
      limits: { key: (p) => p.tenant, perKey: { concurrency: 1 } },
    });
    const [x, y] = await sluice.enqueueMany([1, 2].map((n) => ({ job, payload: { tenant: 'd', n } })));
    assert.equal((await sluice.cancel([y?.id as string]))[y?.id as string], 'cancelled');
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.flow_jobs WHERE job_id = $1`, [y?.id]), 0);
    const failing = defineHandler(job, () => {
      throw new Error('boom');
    });
    await sluice.worker({ queue: 'fc-dead', handlers: [failing] }).drain({ remainingTimeMs: 5_000 });
    assert.equal((await sluice.getJob(x?.id as string))?.state, 'dead');
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.flow_jobs WHERE queue = 'fc-dead'`), 0, 'a dead letter leaves its flow row');
    await sluice.redriveDeadLetters({ ids: [x?.id as string] });
    const row = (
      await pool.query(
        `SELECT a.run_at = 'infinity' AS parked, f.key FROM ${s}.active_jobs a JOIN ${s}.flow_jobs f ON f.job_id = a.id WHERE a.id = $1`,
        [x?.id],
      )
    ).rows[0];
    assert.deepEqual(row, { parked: true, key: 'd' });
    let ran = 0;
    await sluice.worker({ queue: 'fc-dead', handlers: [defineHandler(job, () => void ran++)] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(ran, 1);
    assert.equal((await sluice.getJob(x?.id as string))?.state, 'succeeded');
  });

  it('prune deletes keys no job holds and puts back a key a job holds without its row', async () => {
    const job = defineJob({ type: 'fc_prune', schema, queue: 'fc-prune', ...fast, limits: { key: (p) => p.tenant } });
    await sluice.enqueue(job, { tenant: 'gone', n: 1 });
    const kept = await sluice.enqueue(job, { tenant: 'kept', n: 1 });
    await sluice.worker({ queue: 'fc-prune', handlers: [defineHandler(job, () => {})] }).drain({ remainingTimeMs: 5_000 });
    const again = await sluice.enqueue(job, { tenant: 'kept', n: 2 });
    await pool.query(`DELETE FROM ${s}.flow_keys WHERE key = 'kept'`);
    const pruned = await sluice.prune();
    assert.ok(pruned.staleFlowKeys >= 1, JSON.stringify(pruned));
    const keys = (await pool.query(`SELECT key FROM ${s}.flow_keys WHERE queue = 'fc-prune' ORDER BY key`)).rows.map((r) => r.key);
    assert.deepEqual(keys, ['kept']);
    assert.ok(kept.id && again.id);
    let ran = 0;
    await sluice.worker({ queue: 'fc-prune', handlers: [defineHandler(job, () => void ran++)] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(ran, 1, 'the job whose key was put back runs');
  });

  it('configuration errors are refused at defineJob, naming the option', () => {
    const bad = (limits: unknown, message: RegExp) =>
      assert.throws(
        () => defineJob({ type: 'fc_bad', schema, limits } as Parameters<typeof defineJob>[0]),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match((err as Error).message, message);
          return true;
        },
      );
    bad({ concurrency: 0 }, /at least 1/);
    bad({ concurrency: -3 }, /at least 1/);
    bad({ concurrency: 1.5 }, /whole number/);
    bad({ concurrency: 1e9 }, /at most 100000/);
    bad({ perKey: { concurrency: 2 } }, /perKey needs limits.key/);
    bad({ key: 'tenantId' }, /limits.key must be a function/);
    bad({}, /limits needs concurrency, a rate, or a key/);
    bad({ rate: { limit: 0, per: 'second' } }, /a rate limit is at least 1/);
    bad({ rate: { limit: 10 } }, /a rate needs per or periodMs/);
    bad({ rate: { limit: 10, per: 'second', periodMs: 1000 } }, /a rate needs per or periodMs/);
    bad({ rate: { limit: 10, per: 'fortnight' } }, /per is .second./);
    bad({ rate: { limit: 10, periodMs: 5 } }, /periodMs is at least 10 ms/);
    bad({ rate: { limit: 10, periodMs: 172_800_000 } }, /periodMs is at most a day/);
    bad({ rate: { limit: 10, per: 'second', burst: 0 } }, /burst is at least 1/);
    bad({ rate: { limit: 10, per: 'second', burst: 71 } }, /burst is at most 7 times the limit/);
    bad({ key: () => 'k', perKey: { rate: { limit: 1.5, per: 'minute' } } }, /a rate limit is a whole number/);
    bad({ concurrency: 2, perKey: { concurrency: 0 }, key: () => 'k' }, /at least 1/);
    bad({ concurrency: 2, burst: 3 }, /burst/);
  });

  it('a key function that throws or returns no key refuses the enqueue, naming the type; nothing is written', async () => {
    const mk = (type: string, key: (p: { tenant: string }) => string | number) =>
      defineJob({ type, schema, queue: 'fc-keys', limits: { key } }) as JobDefinition<typeof schema>;
    const throws = mk('fc_key_throws', () => {
      throw new Error('no tenant');
    });
    const empty = mk('fc_key_empty', () => '');
    const obj = mk('fc_key_obj', () => ({}) as unknown as string);
    const ok = mk('fc_key_ok', (p) => p.tenant.length);
    for (const [def, message] of [
      [throws, /limits.key of job type fc_key_throws threw: no tenant/],
      [empty, /fc_key_empty returned an empty string/],
      [obj, /fc_key_obj returned object/],
    ] as const) {
      await assert.rejects(
        sluice.enqueueMany([
          { job: ok, payload: { tenant: 'abc', n: 1 } },
          { job: def, payload: { tenant: 't', n: 1 } },
        ]),
        (err: unknown) => {
          assert.ok(err instanceof ValidationError, String(err));
          assert.match((err as Error).message, message);
          return true;
        },
      );
    }
    assert.equal(await count(`SELECT count(*) AS n FROM ${s}.jobs WHERE queue = 'fc-keys'`), 0);
    const j = await sluice.enqueue(ok, { tenant: 'abcd', n: 1 });
    assert.equal(
      await count(`SELECT count(*) AS n FROM ${s}.flow_jobs WHERE job_id = $1 AND key = '4'`, [j.id]),
      1,
      'a number key is kept as text',
    );
    await assert.rejects(
      sluice.enqueue(ok, { tenant: 'a', n: 1 }, { replaceKey: 'r1' }),
      /replaceKey does not work with a job type that has limits/,
    );
  });
});
