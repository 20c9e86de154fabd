/** The dead-letter routes: list (filters, keyset pages), redrive and purge. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DeadLetterListResponse, PurgeResponse, RedriveResponse } from '../../functions/api/schemas.js';
import { call, dlA, dlB, paths, testApi } from '../helpers/api.js';
import { insertJob } from '../helpers/jobs.js';

describe('enqueue API', async () => {
  const { sluice, pool, schema, api, flushed } = await testApi();

  describe('dead letters', () => {
    const ids: { a: string[]; b: string[] } = { a: [], b: [] };

    /** Four dead letters of dl-api, as a worker that refused each at its first (and only) attempt leaves them. */
    before(async () => {
      const dead = (job: typeof dlA, n: number) => insertJob(pool, schema, { state: 'dead', job, payload: { n } });
      ids.a.push(await dead(dlA, 1), await dead(dlA, 2));
      ids.b.push(await dead(dlB, 3));
      ids.a.push(await dead(dlA, 4));
    });

    it('lists with filters and keyset pages', async () => {
      const page1 = await call(api, 'GET', '/v1/dead-letters?queue=dl-api&limit=2');
      assert.equal(page1.status, 200);
      const p1 = DeadLetterListResponse.parse(page1.body);
      const all = [...ids.a, ...ids.b].sort((x, y) => Number(BigInt(x) - BigInt(y)));
      assert.deepEqual(
        p1.deadLetters.map((d) => d.id),
        all.slice(0, 2),
      );
      assert.equal(p1.next, all[1]);
      assert.ok(p1.deadLetters.every((d) => d.state === 'dead' && d.errors.length === 1 && d.errors[0]?.message === 'refused'));
      const page2 = await call(api, 'GET', `/v1/dead-letters?queue=dl-api&limit=2&after=${p1.next}`);
      assert.deepEqual(
        page2.body.deadLetters.map((d: { id: string }) => d.id),
        all.slice(2),
      );
      assert.equal(page2.body.next, null, 'the last page');
      const byType = await call(api, 'GET', '/v1/dead-letters?type=dl_b&queue=');
      assert.deepEqual(
        byType.body.deadLetters.map((d: { id: string }) => d.id),
        ids.b,
      );
      const dflt = await call(api, 'GET', '/v1/dead-letters');
      assert.equal(dflt.status, 200);
      assert.ok(dflt.body.deadLetters.length >= 4 && dflt.body.deadLetters.length <= 50);
    });

    it('rejects a bad limit, after, unknown or repeated parameter', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=5.5', 'after=xyz', 'colour=red', 'limit=1&limit=2']) {
        const r = await call(api, 'GET', `/v1/dead-letters?${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.body.error.code, 'VALIDATION');
        assert.ok(paths(r)[0]?.startsWith('query.'), `${q}: ${paths(r)}`);
      }
    });

    it('redrives by ids, or by queue and type to another queue; an empty filter is a 400', async () => {
      const [first] = ids.a;
      const byId = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { ids: [first] } });
      assert.equal(byId.status, 200);
      assert.deepEqual(RedriveResponse.strict().parse(byId.body), { redriven: [first] });
      assert.equal((await sluice.getJob(first as string))?.state, 'available');
      assert.deepEqual(await flushed(), [], 'a redrive is not an enqueue');

      const moved = await call(api, 'POST', '/v1/dead-letters/redrive', { body: { queue: 'dl-api', type: 'dl_b', toQueue: 'dl-other' } });
      assert.deepEqual(moved.body, { redriven: ids.b });
      const job = await sluice.getJob(ids.b[0] as string);
      assert.deepEqual([job?.state, job?.queue], ['available', 'dl-other']);

      for (const body of [
        {},
        { toQueue: 'dl-api' },
        { ids: [] },
        { ids: ['abc'] },
        { ids: [ids.a[1]], queue: 'dl-api' },
        { queue: 'dl-api', extra: 1 },
      ]) {
        const r = await call(api, 'POST', '/v1/dead-letters/redrive', { body });
        assert.equal(r.status, 400, JSON.stringify(body));
      }
      assert.equal((await sluice.getJob(ids.a[1] as string))?.state, 'dead', 'nothing redriven by the refused requests');
    });

    it('purges one dead letter; 404 when it is not a dead letter', async () => {
      const job = { ...dlA, queue: 'dl-purge' };
      const id = await insertJob(pool, schema, { state: 'dead', job, payload: { n: 5 } });
      const r = await call(api, 'DELETE', `/v1/dead-letters/${id}`);
      assert.equal(r.status, 200);
      assert.deepEqual(PurgeResponse.strict().parse(r.body), { purged: id });
      assert.equal(await sluice.getJob(id), null);
      assert.equal((await call(api, 'DELETE', `/v1/dead-letters/${id}`)).status, 404);
      const live = await insertJob(pool, schema, { state: 'ready', job, payload: { n: 6 } }); // available, not dead
      const notDead = await call(api, 'DELETE', `/v1/dead-letters/${live}`);
      assert.equal(notDead.status, 404);
      assert.equal((await sluice.getJob(live))?.state, 'available');
    });
  });
});
