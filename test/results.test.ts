/** Stored results (issue 15, item 7): what a handler returns is kept with the job and read back everywhere. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createApi } from '../functions/api/app.js';
import { JobWithTimeline } from '../functions/api/schemas.js';
import { EventPublisher } from '../functions/shared/events.js';
import { jobPage } from '../scripts/ui/jobPages.js';
import { chain, defineHandler, defineJob, JobRegistry, loggingMiddleware, silentLogger } from '../src/index.js';
import { call } from './helpers/api.js';
import { recordingSink } from './helpers/aws.js';
import { runCli } from './helpers/cli.js';
import { testSluice } from './helpers/db.js';

const schema = z.object({ n: z.number() });
const job = (type: string, extra: { maxAttempts?: number } = {}) =>
  defineJob({ type, schema, queue: type.replace(/_/g, '-'), timeout: 2_000, backoff: { baseMs: 0, maxMs: 0 }, ...extra });

describe('stored results', async () => {
  const { sluice, pool, schema: dbSchema } = await testSluice({ maxResultBytes: 1024 });

  it('a returned value is the job’s result in getJob and getJobs; nothing returned, no result', async () => {
    const report = job('result_report');
    const quiet = job('result_quiet');
    const [a, b] = await sluice.enqueueMany([
      { job: report, payload: { n: 2 } },
      { job: report, payload: { n: 3 } },
    ]);
    const q = await sluice.enqueue(quiet, { n: 1 });
    const h = defineHandler(report, async ({ n }) => ({ rows: n * 100, file: `s3://reports/${n}.csv`, empty: null }));
    const s = await sluice.worker({ queue: 'result-report', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.equal(s.succeeded, 2);
    await sluice.worker({ queue: 'result-quiet', handlers: [defineHandler(quiet, () => {})] }).drain({ remainingTimeMs: 5_000 });
    assert.deepEqual((await sluice.getJob(a?.id as string))?.result, { rows: 200, file: 's3://reports/2.csv', empty: null });
    assert.deepEqual(
      (await sluice.getJobs([a?.id as string, b?.id as string])).map((j) => j.result),
      [
        { rows: 200, file: 's3://reports/2.csv', empty: null },
        { rows: 300, file: 's3://reports/3.csv', empty: null },
      ],
    );
    const none = await sluice.getJob(q.id);
    assert.equal(none?.state, 'succeeded');
    assert.ok(!('result' in (none ?? {})), 'a handler that returns nothing leaves no result key');
    // The timeline's succeeded attempt carries no error: the row's detail was the result.
    const timeline = await sluice.jobTimeline(a?.id as string);
    assert.deepEqual(
      timeline.map((e) => (e.kind === 'attempt' ? [e.outcome, e.error] : e.kind)),
      [['succeeded', null]],
    );
    // The first-try success did not rewrite the record.
    const rec = await pool.query(`SELECT finished_at, errors FROM "${dbSchema}".jobs WHERE id = $1`, [a?.id]);
    assert.deepEqual(rec.rows[0], { finished_at: null, errors: null });
  });

  it('a success after failures stores its result and keeps the error history as it was', async () => {
    const flaky = job('result_flaky', { maxAttempts: 3 });
    const j = await sluice.enqueue(flaky, { n: 1 });
    let runs = 0;
    const h = defineHandler(flaky, () => {
      runs++;
      if (runs < 3) throw new Error(`upstream ${runs}`);
      return 'third time';
    });
    await sluice.worker({ queue: 'result-flaky', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    const view = await sluice.getJob(j.id);
    assert.equal(view?.state, 'succeeded');
    assert.equal(view?.result, 'third time');
    assert.deepEqual(
      view?.errors.map((e) => e.message),
      ['upstream 1', 'upstream 2'],
      'the result is not appended to the errors',
    );
    assert.ok(view?.finishedAt instanceof Date);
  });

  it('passes through middleware; a result over maxResultBytes sends the job dead, naming the limit', async () => {
    const big = job('result_big', { maxAttempts: 5 });
    const ok = await sluice.enqueue(big, { n: 10 });
    const tooBig = await sluice.enqueue(big, { n: 2000 });
    const h = defineHandler(
      big,
      chain(loggingMiddleware(silentLogger))(({ n }: { n: number }) => 'x'.repeat(n)),
    );
    await sluice.worker({ queue: 'result-big', handlers: [h] }).drain({ remainingTimeMs: 5_000 });
    assert.equal((await sluice.getJob(ok.id))?.result, 'x'.repeat(10), 'through loggingMiddleware');
    const dead = await sluice.getJob(tooBig.id);
    assert.equal(dead?.state, 'dead', 'at once: the same result would be refused again');
    assert.equal(dead?.attempt, 1);
    assert.match(dead?.errors[0]?.message ?? '', /result is 2002 bytes of JSON; maxResultBytes is 1024/);
    assert.ok(!('result' in (dead ?? {})));
  });

  it('GET /v1/jobs/{id} and `sluice jobs get` show it', async () => {
    const report = job('result_api');
    const j = await sluice.enqueue(report, { n: 7 });
    await sluice.worker({ queue: 'result-api', handlers: [defineHandler(report, () => ({ rows: 7 }))] }).drain({ remainingTimeMs: 5_000 });
    const api = createApi({
      sluice,
      registry: new JobRegistry([report]),
      publisher: new EventPublisher({ sink: recordingSink().sink, busName: 'b', source: 'sluice', logger: silentLogger }),
      logger: silentLogger,
    });
    const r = await call(api, 'GET', `/v1/jobs/${j.id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(JobWithTimeline.strict().parse(r.body).result, { rows: 7 });
    const text = (await runCli(['jobs', 'get', j.id, '--schema', dbSchema])).out;
    assert.match(text, /\n {2}result \{"rows":7\}\n/);
    const json = JSON.parse((await runCli(['jobs', 'get', j.id, '--schema', dbSchema, '--json'])).out);
    assert.deepEqual(json.result, { rows: 7 });
    // The console's job page: beside the payload, which it shows only when asked (either may hold personal data).
    const view = await sluice.getJob(j.id);
    const ctx = { readOnly: true, csrf: 'x' };
    const shown = jobPage(view as NonNullable<typeof view>, [], true, ctx);
    assert.match(shown, /<h2>Result<\/h2><pre id="result">\{\n {2}&quot;rows&quot;: 7\n\}<\/pre>/);
    const hidden = jobPage(view as NonNullable<typeof view>, [], false, ctx);
    assert.doesNotMatch(hidden, /id="result"/);
    assert.match(hidden, /it and the result may hold personal data/);
  });
});
