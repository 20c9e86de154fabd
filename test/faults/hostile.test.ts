/**
 * Fault suite: hostile input. Proves that the enqueue API (functions/api/app.ts), called in-process with API
 * Gateway HTTP API v2 events against a real PostgreSQL schema, refuses 10,500 generated bad requests (fast-check,
 * fixed seed, printed) with a 4xx that the API documents, in the one error shape, and writes nothing.
 *
 * Every request is a valid one plus one mutation known to make it invalid: unknown routes and wrong methods, bad
 * job ids in paths and queries, malformed / truncated / oversized / mis-typed / base64 (valid and invalid) bodies,
 * deep nesting, prototype keys, lone surrogates and NUL, unknown types, payloads failing their schema, wrong types
 * and out-of-range values for every field, runAt with delaySeconds, bad Idempotency-Keys, and batches with one bad
 * item among good ones (refused whole, the issues naming only that item). A control property first shows the
 * unmutated requests are accepted (on another schema), so each refusal is the mutation's doing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ApiHandler, createApi } from '../../functions/api/app.js';
import { ErrorResponse } from '../../functions/api/schemas.js';
import { ACCESS_TABLES } from '../../src/access.js';
import type { Logger } from '../../src/index.js';
import { testSluice } from '../helpers/db.js';
import {
  batchRequests,
  cancelRequests,
  deadLetterRequests,
  goodQuery,
  headerRequests,
  idRequests,
  purgeRequests,
  redriveRequests,
  routeRequests,
  singleRequests,
  validBatch,
  validCancel,
  validPurge,
  validRedrive,
} from './fixtures/hostile-cases.js';
import { documented, STABLE_CODES, STATUS_OF_CODE } from './fixtures/hostile-expect.js';
import { ct } from './fixtures/hostile-mutations.js';
import {
  describeReq,
  goodHeaders,
  idemKey,
  KNOWN,
  PAYLOADS,
  type Rec,
  type Req,
  registry,
  req,
  toEvent,
  validJob,
} from './fixtures/hostile-requests.js';
import { stringify } from './fixtures/hostile-values.js';

const SEED = Number(process.env.HOSTILE_SEED ?? 20_240_611);

// ---- the suite -------------------------------------------------------------------------------------------------

interface Tally {
  status: Map<number, number>;
  code: Map<string, number>;
  n: number;
}
const newTally = (): Tally => ({ status: new Map(), code: new Map(), n: 0 });
const show = <K>(m: Map<K, number>) =>
  [...m.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

function quietLogger() {
  const errors: string[] = [];
  const noop = () => {};
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: noop,
    error: (m, f) => void errors.push(`${m} ${JSON.stringify(f).slice(0, 500)}`),
  };
  return { logger, errors };
}

describe('hostile input: the API refuses bad requests in the documented shape and writes nothing', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice({ poolSize: 4 });
  const log = quietLogger();
  let published = 0;
  const api: ApiHandler = createApi({ sluice, registry, publisher: { jobsEnqueued: () => void published++ }, logger: log.logger });
  const total = newTally();
  assert.deepEqual(Object.keys(PAYLOADS).sort(), KNOWN, 'a payload generator for every registered type');

  /** Send one hostile request and check everything a refusal must be. */
  async function refused(r: Req, tally: Tally): Promise<void> {
    const res = await api(toEvent(r));
    const status = res.statusCode ?? 0;
    const what = describeReq(r);
    assert.ok(status >= 400 && status < 500, `${status} for ${what}: ${res.body}`);
    assert.equal(res.headers?.['content-type'], 'application/json', what);
    const body = ErrorResponse.strict().parse(JSON.parse(res.body ?? ''));
    assert.deepEqual(
      Object.keys(body.error).filter((k) => !['code', 'message', 'issues'].includes(k)),
      [],
      what,
    );
    const { code, issues } = body.error;
    assert.ok(STABLE_CODES.has(code), `undocumented code ${code}: ${what}`);
    assert.equal(STATUS_OF_CODE.get(code), status, `code ${code} with status ${status}: ${what}`);
    assert.ok(r.expect.includes(status), `${status} ${code} (${body.error.message.slice(0, 200)}), expected ${r.expect}: ${what}`);
    const op = documented(r.path);
    const documentedStatuses = op?.methods[r.method.toUpperCase()];
    if (documentedStatuses) assert.ok(documentedStatuses.includes(status), `${status} is not documented for ${r.method} ${r.path}`);
    else if (op) assert.deepEqual([status, res.headers?.allow], [405, Object.keys(op.methods).join(', ')], what);
    else assert.equal(status, 404, what);
    if (r.badIndex !== undefined) {
      for (const is of issues ?? [])
        assert.deepEqual(is.path.slice(0, 2), ['jobs', r.badIndex], `issue ${JSON.stringify(is)} outside the bad item: ${what}`);
    }
    if (r.issuePath)
      assert.deepEqual(
        (issues ?? []).map((is) => is.path),
        [r.issuePath],
        what,
      );
    for (const t of [tally, total]) {
      t.n++;
      t.status.set(status, (t.status.get(status) ?? 0) + 1);
      t.code.set(code, (t.code.get(code) ?? 0) + 1);
    }
  }

  const rows = async () => {
    const { rows } = await pool.query(
      `SELECT (SELECT count(*) FROM "${schema}".jobs)::int AS jobs, (SELECT count(*) FROM "${schema}".active_jobs)::int AS active,
              (SELECT count(*) FROM "${schema}".job_steps)::int AS steps`,
    );
    return rows[0] as { jobs: number; active: number; steps: number };
  };

  const properties: Array<[string, fc.Arbitrary<Req>, number]> = [
    ['unknown routes and wrong methods', routeRequests, 1500],
    ['job ids in paths', idRequests, 1500],
    ['dead-letter query strings', deadLetterRequests, 1000],
    ['POST /v1/jobs bodies', singleRequests, 3000],
    ['Idempotency-Key headers', headerRequests, 500],
    ['POST /v1/jobs/batch', batchRequests, 2000],
    ['POST /v1/dead-letters/redrive', redriveRequests, 1000],
    ['POST /v1/dead-letters/purge', purgeRequests, 500],
    ['POST /v1/jobs/cancel', cancelRequests, 500],
  ];

  it('control: the unmutated requests are accepted (on another schema), so every refusal below is the mutation', async (t) => {
    const control = await testSluice({ poolSize: 2 });
    const ok = createApi({ sluice: control.sluice, registry, publisher: { jobsEnqueued: () => {} }, logger: log.logger });
    const accepted = async (r: Req, statuses: number[]) => {
      const res = await ok(toEvent(r));
      assert.ok(statuses.includes(res.statusCode ?? 0), `${res.statusCode} ${res.body?.slice(0, 300)} for ${describeReq(r)}`);
    };
    const post = (path: string, v: Rec, b64: boolean, headers: Record<string, string>) =>
      req({ method: 'POST', path, headers, body: stringify(v), base64: b64, expect: [], label: 'valid' });
    const cases = fc.oneof(
      fc
        .tuple(validJob, fc.boolean(), goodHeaders, fc.option(idemKey, { nil: undefined }))
        .map(([v, b, h, k]) => [post('/v1/jobs', v, b, k ? { ...h, 'Idempotency-Key': k } : h), [200, 201]] as const),
      fc.tuple(validBatch, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/jobs/batch', v, b, h), [200, 201]] as const),
      fc.tuple(validRedrive, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/dead-letters/redrive', v, b, h), [200]] as const),
      fc.tuple(validPurge, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/dead-letters/purge', v, b, h), [200]] as const),
      fc.tuple(validCancel, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/jobs/cancel', v, b, h), [200]] as const),
      goodQuery.map(
        (q) =>
          [
            req({
              method: 'GET',
              path: '/v1/dead-letters',
              query: new URLSearchParams(q).toString(),
              headers: {},
              expect: [],
              label: 'valid',
            }),
            [200],
          ] as const,
      ),
    );
    await fc.assert(
      fc.asyncProperty(cases, ([r, statuses]) => accepted(r, [...statuses])),
      { numRuns: 200, seed: SEED, includeErrorInReport: true },
    );
    const { rows: n } = await control.pool.query(`SELECT count(*)::int AS n FROM "${control.schema}".jobs`);
    assert.ok(n[0].n > 0, 'the control wrote jobs');
    t.diagnostic(`figure: control requests accepted=200, jobs written on the control schema=${n[0].n}`);
  });

  for (const [name, arbitrary, numRuns] of properties) {
    it(`refuses ${numRuns} generated bad requests: ${name}`, async (t) => {
      t.diagnostic(`seed ${SEED} (set HOSTILE_SEED to change)`);
      const tally = newTally();
      const before = await rows();
      await fc.assert(
        fc.asyncProperty(arbitrary, (r) => refused(r, tally)),
        { numRuns, seed: SEED, includeErrorInReport: true },
      );
      assert.equal(tally.n, numRuns);
      assert.deepEqual(await rows(), before, 'nothing written');
      t.diagnostic(`figure: ${name}: ${tally.n} requests; status ${show(tally.status)}; code ${show(tally.code)}`);
    });
  }

  it('refuses an Idempotency-Key header holding a lone surrogate, writing nothing (bug: 500 after committing a job)', async () => {
    // Postgres text cannot hold a lone surrogate: pg sends it as U+FFFD, so the stored key differs from the one
    // given, enqueue never finds "its" row, gives up after 5 rounds (500) and leaves the job it inserted behind.
    const before = await rows();
    const r = req({
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...ct, 'idempotency-key': 'order-42\ud83d' },
      body: stringify({ type: 'process_order', payload: { orderId: '42' } }),
      expect: [400],
      label: 'lone surrogate key',
      issuePath: ['headers', 'idempotency-key'],
    });
    const res = await api(toEvent(r));
    const after = await rows();
    assert.deepEqual([res.statusCode, after], [400, before], `answered ${res.statusCode} ${res.body}`);
  });

  it('after every run: zero rows in every table of the schema, nothing published, nothing logged as an error', async (t) => {
    const { rows: tables } = await pool.query(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'sluice_migrations' ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      tables.map((r) => r.name),
      [...ACCESS_TABLES].sort(),
      'every table of the schema is checked',
    );
    for (const { name } of tables) {
      const { rows: n } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."${name}"`);
      assert.equal(n[0].n, 0, `${name} is empty`);
    }
    const { rows: s } = await pool.query(`SELECT is_called FROM "${schema}".jobs_id_seq`);
    assert.equal(published, 0, 'no JobsEnqueued event');
    assert.deepEqual(log.errors, [], 'no unhandled error');
    const sum = properties.reduce((a, [, , n]) => a + n, 0);
    assert.equal(total.n, sum);
    t.diagnostic(
      `figure: hostile requests=${total.n}; status ${show(total.status)}; code ${show(total.code)}; jobs id sequence used=${s[0].is_called}`,
    );
  });
});
