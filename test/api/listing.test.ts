/** GET /v1/jobs and /v1/jobs/count, and the bulk routes by filter with their Idempotency-Key. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  CancelMatchingResponse,
  JobCountResponse,
  JobListResponse,
  PurgeMatchingResponse,
  RedriveResponse,
} from '../../functions/api/schemas.js';
import { call, paths, testApi } from '../helpers/api.js';
import { insertJob } from '../helpers/jobs.js';

describe('enqueue API: listing and bulk actions', async () => {
  const { sluice, pool, schema, api } = await testApi();
  const ids = { ready: [] as string[], dead: [] as string[], cancelled: [] as string[], keyed: '' };
  const newestFirst = (xs: string[]) => [...xs].sort((a, b) => Number(BigInt(b) - BigInt(a)));

  before(async () => {
    for (let i = 0; i < 3; i++) {
      ids.ready.push(await insertJob(pool, schema, { state: 'ready', queue: 'api-list', type: 'list_a' }));
      ids.dead.push(await insertJob(pool, schema, { state: 'dead', queue: 'api-list', type: 'list_b' }));
      ids.cancelled.push(await insertJob(pool, schema, { state: 'cancelled', queue: 'api-list', type: 'list_a' }));
    }
    ids.keyed = await insertJob(pool, schema, { state: 'succeeded', queue: 'api-list', type: 'list_c', idempotencyKey: 'api-key-1' });
  });

  it('lists with filters, newest first, with the job view of GET /v1/jobs/{id}', async () => {
    const all = await call(api, 'GET', '/v1/jobs?queue=api-list');
    assert.equal(all.status, 200);
    const page = JobListResponse.strict().parse(all.body);
    assert.deepEqual(
      page.jobs.map((j) => j.id),
      newestFirst([...ids.ready, ...ids.dead, ...ids.cancelled, ids.keyed]),
    );
    assert.equal(page.next, null);
    const { timeline: _, ...one } = (await call(api, 'GET', `/v1/jobs/${ids.dead[0]}`)).body;
    assert.deepEqual(
      page.jobs.find((j) => j.id === ids.dead[0]),
      one,
      'the view of GET /v1/jobs/{id}, without its timeline',
    );

    const byState = async (q: string) =>
      (await call(api, 'GET', `/v1/jobs?queue=api-list&${q}`)).body.jobs.map((j: { id: string }) => j.id);
    assert.deepEqual(await byState('state=dead'), newestFirst(ids.dead));
    assert.deepEqual(await byState('state=dead&state=cancelled'), newestFirst([...ids.dead, ...ids.cancelled]), 'repeated');
    assert.deepEqual(await byState('state=dead,cancelled'), newestFirst([...ids.dead, ...ids.cancelled]), 'comma-separated');
    assert.deepEqual(await byState('state=available&type=list_a'), newestFirst(ids.ready));
    assert.deepEqual(await byState('idempotencyKey=api-key-1'), [ids.keyed]);
    assert.deepEqual(
      await byState(`idFrom=${ids.dead[1]}&idTo=${ids.dead[2]}`),
      newestFirst(ids.dead.slice(1).concat(ids.ready[2] as string, ids.cancelled[1] as string)),
    );
    assert.deepEqual(await byState('createdAfter=2000-01-01T00:00:00Z&createdBefore=2000-01-02T00:00:00Z'), []);
    assert.equal(
      (await byState('finishedAfter=2000-01-01T00:00:00Z')).length,
      7,
      'dead, cancelled and the succeeded one have a finish time',
    );

    const count = await call(api, 'GET', '/v1/jobs/count?queue=api-list&state=dead,cancelled');
    assert.deepEqual(JobCountResponse.strict().parse(count.body), { count: 6 });
  });

  it('pages by before: next is the cursor, the last page has none', async () => {
    const expected = newestFirst([...ids.ready, ...ids.dead, ...ids.cancelled, ids.keyed]);
    const seen: string[] = [];
    let target = '/v1/jobs?queue=api-list&limit=4';
    for (let i = 0; i < 5; i++) {
      const r = await call(api, 'GET', target);
      const page = JobListResponse.parse(r.body);
      seen.push(...page.jobs.map((j) => j.id));
      if (page.next === null) break;
      target = `/v1/jobs?queue=api-list&limit=4&before=${page.next}`;
    }
    assert.deepEqual(seen, expected);
  });

  it('refuses bad query parameters with 400 and their paths', async () => {
    const cases: Array<[string, string]> = [
      ['limit=0', 'query.limit'],
      ['limit=1001', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['before=xyz', 'query.before'],
      ['state=finished', 'query.state.0'],
      ['state=dead,nope', 'query.state.1'],
      ['createdAfter=yesterday', 'query.createdAfter'],
      ['idFrom=0', 'query.idFrom'],
      ['idFrom=9&idTo=3', 'query.idTo'],
      ['colour=red', 'query.colour'],
      ['queue=a&queue=b', 'query.queue'],
    ];
    for (const [q, path] of cases) {
      for (const route of ['/v1/jobs', '/v1/jobs/count']) {
        if (route.endsWith('count') && /limit|before/.test(q)) continue;
        const r = await call(api, 'GET', `${route}?${q}`);
        assert.equal(r.status, 400, `${route}?${q}`);
        assert.equal(r.body.error.code, 'VALIDATION');
        assert.ok(paths(r).includes(path), `${route}?${q}: ${paths(r)}`);
      }
    }
  });

  it('cancels by filter; refuses a filter that names nothing, or dead states', async () => {
    const running = await insertJob(pool, schema, { state: 'running', queue: 'api-cancel' });
    const ready = await insertJob(pool, schema, { state: 'ready', queue: 'api-cancel' });
    for (const body of [{}, { all: false }, { state: ['dead'] }, { queue: 'api-cancel', colour: 'red' }, { ids: [ready] }]) {
      const r = await call(api, 'POST', '/v1/jobs/cancel', { body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    assert.equal((await sluice.getJob(ready))?.state, 'available', 'nothing cancelled by the refused requests');
    const r = await call(api, 'POST', '/v1/jobs/cancel', { body: { queue: 'api-cancel' } });
    assert.equal(r.status, 200);
    assert.deepEqual(CancelMatchingResponse.strict().parse(r.body), { cancelled: [ready], cancelling: [running] });
    assert.equal(r.headers['idempotent-replayed'], undefined);
  });

  it('redrives and purges by filter; the same Idempotency-Key replays the first answer, another request is a 422', async () => {
    const dead = [
      await insertJob(pool, schema, { state: 'dead', queue: 'api-bulk', type: 'bulk_a' }),
      await insertJob(pool, schema, { state: 'dead', queue: 'api-bulk', type: 'bulk_b' }),
    ];
    const headers = { 'idempotency-key': 'api-redrive-1' };
    const first = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { queue: 'api-bulk', type: 'bulk_a' }, headers });
    assert.equal(first.status, 200);
    assert.deepEqual(RedriveResponse.strict().parse(first.body), { redriven: [dead[0]] });
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { type: 'bulk_a', queue: 'api-bulk' }, headers });
    assert.deepEqual([again.status, again.body, again.headers['idempotent-replayed']], [200, { redriven: [dead[0]] }, 'true']);
    const other = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { queue: 'api-bulk' }, headers });
    assert.deepEqual([other.status, other.body.error.code], [422, 'IDEMPOTENCY_CONFLICT']);
    assert.equal((await sluice.getJob(dead[1] as string))?.state, 'dead', 'nothing done on a conflict');
    const badKey = await call(api, 'POST', '/v1/dead-letters/redrive', {
      body: { queue: 'api-bulk' },
      headers: { 'idempotency-key': 'x'.repeat(300) },
    });
    assert.equal(badKey.status, 400);
    assert.ok(paths(badKey).includes('headers.idempotency-key'));

    const purgeHeaders = { 'idempotency-key': 'api-purge-1' };
    const purged = await call(api, 'POST', '/v1/dead-letters/purge', { body: { queue: 'api-bulk' }, headers: purgeHeaders });
    assert.deepEqual(PurgeMatchingResponse.strict().parse(purged.body), { purged: [dead[1]] });
    assert.equal(await sluice.getJob(dead[1] as string), null);
    const replay = await call(api, 'POST', '/v1/dead-letters/purge', { body: { queue: 'api-bulk' }, headers: purgeHeaders });
    assert.deepEqual([replay.body, replay.headers['idempotent-replayed']], [{ purged: [dead[1]] }, 'true']);
    for (const body of [{}, { toQueue: 'x' }, { ids: [] }, { ids: ['1'], queue: 'api-bulk' }, { state: 'dead' }]) {
      const r = await call(api, 'POST', '/v1/dead-letters/purge', { body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    const everything = await call(api, 'POST', '/v1/dead-letters/purge', { body: { all: true, queue: 'no-such-queue' } });
    assert.deepEqual(everything.body, { purged: [] });
  });
});
