import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob, type JobDefinition, type JobOptions } from '../src/define.js';
import { PermanentJobError, ValidationError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { testSluice } from './helpers/db.js';
import { insertJob, insertJobs, type JobInit } from './helpers/jobs.js';

const payloadSchema = z.object({ n: z.number(), note: z.string().optional() });
type Def = JobDefinition<typeof payloadSchema>;

/** A job type whose attempts fit a 3 s drain (a drain never starts a job whose timeout does not fit). */
const job = (type: string, queue: string, extra: Omit<JobOptions<typeof payloadSchema>, 'type' | 'schema' | 'queue'> = {}): Def =>
  defineJob({ type, schema: payloadSchema, queue, timeout: 1_000, maxAttempts: 3, backoff: { baseMs: 0, maxMs: 0 }, ...extra });

const DRAIN = { remainingTimeMs: 3_000 };

describe('dead letters', async () => {
  const { sluice, pool, schema } = await testSluice();

  /** Enqueue one job per payload and return the ids, in enqueue order. */
  async function enqueue(def: Def, ns: number[]): Promise<string[]> {
    return (await sluice.enqueueMany(ns.map((n) => ({ job: def, payload: { n } })))).map((j) => j.id);
  }

  /** One dead letter of `def` per payload, as a worker that refused each at its first attempt leaves it: the ids, in order. */
  const deadLetters = (def: Def, ns: number[], init: Partial<JobInit> = {}) =>
    insertJobs(
      pool,
      schema,
      ns.map((n) => ({ state: 'dead', job: def, payload: { n }, ...init })),
    );

  const idsOf = (views: Array<{ id: string }>) => views.map((v) => v.id);
  const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

  it('lists dead letters by queue, by type, and by both; live and succeeded jobs are not listed', async () => {
    const a = job('dl_list_a', 'dl-list');
    const b = job('dl_list_b', 'dl-list');
    const c = job('dl_list_c', 'dl-list-other');
    const aIds = await deadLetters(a, [1, 2, 3, 4]);
    const bIds = await deadLetters(b, [1, 2, 3]);
    const cIds = await deadLetters(c, [1, 2]);
    // Not dead: one that succeeded, one scheduled for later.
    const ok = await insertJob(pool, schema, { state: 'succeeded', job: a, payload: { n: 99 } });
    assert.equal((await sluice.getJob(ok))?.state, 'succeeded');
    const later = await sluice.enqueue(a, { n: 100 }, { delayMs: 60_000 });

    const inQueue = await sluice.listDeadLetters({ queue: 'dl-list' });
    assert.deepEqual(idsOf(inQueue), [...aIds, ...bIds].sort(byId));
    assert.ok(inQueue.every((v) => v.state === 'dead' && v.queue === 'dl-list'));
    assert.ok(!idsOf(inQueue).includes(ok) && !idsOf(inQueue).includes(later.id));

    assert.deepEqual(idsOf(await sluice.listDeadLetters({ type: 'dl_list_a' })), aIds);
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ type: 'dl_list_c' })), cIds);
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-list', type: 'dl_list_b' })), bIds);
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-list-other' })), cIds);
    assert.deepEqual(await sluice.listDeadLetters({ queue: 'dl-list-other', type: 'dl_list_a' }), []);
    assert.deepEqual(await sluice.listDeadLetters({ queue: 'no-such-queue' }), []);
  });

  it('paginates with after + limit: pages in id order, no overlap, every dead letter seen once', async () => {
    const p = job('dl_page', 'dl-page');
    const other = job('dl_page_other', 'dl-page');
    const ids = await deadLetters(p, [1, 2, 3, 4, 5, 6, 7]);
    const otherIds = await deadLetters(other, [1, 2]);

    const all = idsOf(await sluice.listDeadLetters({ type: 'dl_page' }));
    assert.deepEqual(all, ids);

    const pages: string[][] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = idsOf(await sluice.listDeadLetters({ type: 'dl_page', limit: 3, ...(after ? { after } : {}) }));
      if (page.length === 0) break;
      if (after !== undefined)
        assert.ok(
          page.every((id) => BigInt(id) > BigInt(after as string)),
          'a page starts after the cursor',
        );
      pages.push(page);
      after = page.at(-1);
    }
    assert.deepEqual(
      pages.map((pg) => pg.length),
      [3, 3, 1],
    );
    const seen = pages.flat();
    assert.equal(new Set(seen).size, seen.length, 'no id on two pages');
    assert.deepEqual(seen, ids, 'every dead letter seen, in id order');

    // deadLetterPage gives the same pages, each with the cursor of the next (null on the last).
    const first = await sluice.deadLetterPage({ type: 'dl_page', limit: 3 });
    assert.deepEqual([idsOf(first.jobs), first.next], [pages[0], pages[0]?.at(-1)]);
    const last = await sluice.deadLetterPage({ type: 'dl_page', limit: 3, after: pages[1]?.at(-1) as string });
    assert.deepEqual([idsOf(last.jobs), last.next], [pages[2], null]);
    const exact = await sluice.deadLetterPage({ type: 'dl_page', limit: 7 });
    assert.deepEqual([exact.jobs.length, exact.next], [7, null], 'a full last page has no next');

    // Keyset on a queue filter spanning two types, from a cursor in the middle.
    const queueAll = [...ids, ...otherIds].sort(byId);
    const cursor = queueAll[3] as string;
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-page', after: cursor, limit: 2 })), queueAll.slice(4, 6));
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-page', after: queueAll.at(-1) as string })), []);

    await assert.rejects(sluice.listDeadLetters({ limit: 0 }), ValidationError);
    await assert.rejects(sluice.listDeadLetters({ after: 'abc' }), ValidationError);
  });

  it('a dead letter keeps its payload and its error history', async () => {
    const h = job('dl_history', 'dl-history');
    const dead = await sluice.enqueue(h, { n: 5, note: 'keep me' });
    const handler = defineHandler(h, (_, ctx) => {
      if (ctx.attempt === 1) throw Object.assign(new Error('upstream down'), { code: 'E_UPSTREAM' });
      throw new PermanentJobError('bad recipient');
    });
    const s = await sluice.worker({ queue: 'dl-history', handlers: [handler] }).drain(DRAIN);
    assert.deepEqual([s.retried, s.dead], [1, 1]);

    const [listed] = await sluice.listDeadLetters({ queue: 'dl-history' });
    assert.ok(listed);
    assert.equal(listed.id, dead.id);
    assert.equal(listed.state, 'dead');
    assert.equal(listed.type, 'dl_history');
    assert.deepEqual(listed.payload, { n: 5, note: 'keep me' });
    assert.equal(listed.attempt, 2);
    assert.equal(listed.maxAttempts, 3);
    assert.ok(listed.finishedAt instanceof Date);
    assert.deepEqual(
      listed.errors.map((e) => [e.attempt, e.name, e.code, e.message]),
      [
        [1, 'Error', 'E_UPSTREAM', 'upstream down'],
        [2, 'PermanentJobError', 'PERMANENT', 'bad recipient'],
      ],
    );
    assert.ok(listed.errors.every((e) => !Number.isNaN(Date.parse(e.at))));
    assert.deepEqual(await sluice.getJob(dead.id), listed, 'getJob and listDeadLetters show the same record');
  });

  it('redrives one dead letter by id: available, attempt 0, history kept; a worker then runs it to success', async () => {
    const r = job('dl_redrive_one', 'dl-redrive-one');
    const [first, second] = (await enqueue(r, [1, 2])) as [string, string];
    // Each dies on its second attempt: one retryable failure, then a permanent one.
    const dying = defineHandler(r, (_, ctx) => {
      if (ctx.attempt === 1) throw new Error('flaky');
      throw new PermanentJobError('gave up');
    });
    const killed = await sluice.worker({ queue: 'dl-redrive-one', handlers: [dying] }).drain(DRAIN);
    assert.deepEqual([killed.retried, killed.dead], [2, 2]);
    assert.equal((await sluice.getJob(first))?.attempt, 2);

    assert.deepEqual(await sluice.redriveDeadLetters({ ids: [first] }), [first]);
    const revived = await sluice.getJob(first);
    assert.equal(revived?.state, 'available');
    assert.equal(revived?.attempt, 0);
    assert.equal(revived?.queue, 'dl-redrive-one');
    assert.equal(revived?.finishedAt, null);
    assert.deepEqual(revived?.payload, { n: 1 });
    assert.deepEqual(
      revived?.errors.map((e) => [e.attempt, e.name, e.message]),
      [
        [1, 'Error', 'flaky'],
        [2, 'PermanentJobError', 'gave up'],
      ],
      'error history kept',
    );
    assert.equal((await sluice.getJob(second))?.state, 'dead', 'only the named id was redriven');
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-redrive-one' })), [second]);
    assert.deepEqual(await sluice.redriveDeadLetters({ ids: [first] }), [], 'a job that is not dead is not redriven');

    const ran: Array<{ n: number; attempt: number }> = [];
    const s = await sluice
      .worker({ queue: 'dl-redrive-one', handlers: [defineHandler(r, ({ n }, ctx) => void ran.push({ n, attempt: ctx.attempt }))] })
      .drain(DRAIN);
    assert.deepEqual([s.claimed, s.succeeded], [1, 1]);
    assert.deepEqual(ran, [{ n: 1, attempt: 1 }], 'it starts again from attempt 1');
    const done = await sluice.getJob(first);
    assert.deepEqual([done?.state, done?.attempt], ['succeeded', 1], 'one attempt since the redrive');
    assert.equal((await sluice.getJob(second))?.state, 'dead');
  });

  it('redrives many by type with toQueue: they move to the new queue and a worker there runs them', async () => {
    const move = job('dl_move', 'dl-src');
    const stay = job('dl_stay', 'dl-src');
    const moveIds = await deadLetters(move, [1, 2, 3]);
    const stayIds = await deadLetters(stay, [4, 5]);

    await assert.rejects(sluice.redriveDeadLetters({ type: 'dl_move' }, { toQueue: 'Not A Queue' }), ValidationError);
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ type: 'dl_move' })), moveIds, 'an invalid toQueue redrives nothing');

    const redriven = await sluice.redriveDeadLetters({ type: 'dl_move' }, { toQueue: 'dl-dest' });
    assert.deepEqual(redriven, moveIds);
    for (const view of await sluice.getJobs(moveIds)) {
      assert.equal(view.queue, 'dl-dest');
      assert.equal(view.state, 'available');
      assert.equal(view.attempt, 0);
    }
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-src' })), stayIds, 'the other type stays dead');
    assert.deepEqual(await sluice.listDeadLetters({ type: 'dl_move' }), []);

    const ranOnSource: number[] = [];
    const src = await sluice
      .worker({ queue: 'dl-src', handlers: [defineHandler(move, ({ n }) => void ranOnSource.push(n)), defineHandler(stay, () => {})] })
      .drain(DRAIN);
    assert.equal(src.claimed, 0, 'nothing left to claim on the old queue');
    assert.deepEqual(ranOnSource, []);

    const ranOnDest: number[] = [];
    const dest = await sluice.worker({ queue: 'dl-dest', handlers: [defineHandler(move, ({ n }) => void ranOnDest.push(n))] }).drain(DRAIN);
    assert.deepEqual([dest.claimed, dest.succeeded], [3, 3]);
    assert.deepEqual(ranOnDest.sort(), [1, 2, 3]);
    for (const view of await sluice.getJobs(moveIds)) assert.deepEqual([view.state, view.queue], ['succeeded', 'dl-dest']);
    for (const view of await sluice.getJobs(stayIds)) assert.deepEqual([view.state, view.queue], ['dead', 'dl-src']);
  });

  it('purges by id and by filter: the records (and their steps) are gone, other dead letters and live jobs stay', async () => {
    const x = job('dl_purge_x', 'dl-purge');
    const y = job('dl_purge_y', 'dl-purge');
    // The x jobs each stored a step before they died.
    const [x1, x2, x3] = (await deadLetters(x, [1, 2, 3], { steps: { reserve: { held: true } } })) as [string, string, string];
    const yIds = await deadLetters(y, [4, 5]);
    const live = await sluice.enqueue(x, { n: 6 }, { delayMs: 60_000 });
    const stepsOf = async (id: string) =>
      (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".job_steps WHERE job_id = $1`, [id])).rows[0].n as number;
    assert.equal(await stepsOf(x1), 1, 'the dead job stored a step');

    assert.deepEqual(await sluice.purgeDeadLetters({ ids: [x1] }), [x1]);
    assert.equal(await sluice.getJob(x1), null);
    assert.equal(await stepsOf(x1), 0, 'its steps went with it');
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-purge' })), [x2, x3, ...yIds].sort(byId));

    // ids and a filter together: both must match.
    assert.deepEqual(await sluice.purgeDeadLetters({ ids: [x2, yIds[0] as string], type: 'dl_purge_y' }), [yIds[0]]);
    assert.equal((await sluice.getJob(x2))?.state, 'dead');

    assert.deepEqual(await sluice.purgeDeadLetters({ queue: 'dl-purge', type: 'dl_purge_x' }), [x2, x3]);
    assert.deepEqual(await sluice.getJobs([x1, x2, x3]), []);
    assert.equal(await stepsOf(x3), 0);
    assert.deepEqual(idsOf(await sluice.listDeadLetters({ queue: 'dl-purge' })), [yIds[1]]);
    assert.equal((await sluice.getJob(live.id))?.state, 'scheduled', 'a live job of the purged type is untouched');
    assert.deepEqual(await sluice.purgeDeadLetters({ ids: [live.id] }), [], 'only dead letters are purged');
    assert.equal((await sluice.getJob(live.id))?.state, 'scheduled');
  });

  it('a filter that names nothing is rejected (all: true is needed for every one) and changes nothing', async () => {
    const f = job('dl_filter', 'dl-filter');
    const ids = await deadLetters(f, [1, 2]);
    const before = await sluice.listDeadLetters({ queue: 'dl-filter' });
    const deadBefore = (await sluice.stats()).find((s) => s.queue === 'dl-filter')?.dead;
    assert.equal(deadBefore, 2);

    await assert.rejects(
      sluice.redriveDeadLetters({}),
      (err: unknown) => err instanceof ValidationError && /name which jobs .*or give all: true/.test(err.message),
    );
    await assert.rejects(
      sluice.purgeDeadLetters({}),
      (err: unknown) => err instanceof ValidationError && /name which jobs .*or give all: true/.test(err.message),
    );
    await assert.rejects(sluice.redriveDeadLetters({ ids: undefined, queue: undefined, type: undefined }), ValidationError);
    await assert.rejects(sluice.purgeDeadLetters({ queue: '' }), ValidationError);
    await assert.rejects(sluice.purgeDeadLetters({ ids: ['0'] }), ValidationError);
    // @ts-expect-error: state is not a filter key
    await assert.rejects(sluice.purgeDeadLetters({ state: 'dead' }), ValidationError);

    assert.deepEqual(await sluice.listDeadLetters({ queue: 'dl-filter' }), before);
    assert.deepEqual(idsOf(before), ids);
    assert.equal((await sluice.stats()).find((s) => s.queue === 'dl-filter')?.dead, 2);
  });
});
