/** The enqueue API records the caller's trace context (issue 16, item 1), and GET shows its trace id. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { JobWithTimeline } from '../../functions/api/schemas.js';
import { call, email, testApi } from '../helpers/api.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const XRAY_TRACE = '5759e988bd862e3fe1be46a994272793';
const XRAY = `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`;

describe('enqueue API: trace context', async () => {
  const { api, pool, schema } = await testApi();
  const stored = async (id: string) => (await pool.query(`SELECT trace FROM "${schema}".jobs WHERE id = $1`, [id])).rows[0]?.trace;
  const traceIdOf = async (id: string) => JobWithTimeline.strict().parse((await call(api, 'GET', `/v1/jobs/${id}`)).body).traceId;
  afterEach(() => {
    delete process.env._X_AMZN_TRACE_ID;
  });

  it("takes a valid traceparent header, else the function's own X-Ray context, else API Gateway's header", async () => {
    const w3c = await call(api, 'POST', '/v1/jobs', { body: email('t1'), headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } });
    assert.equal(w3c.status, 201);
    assert.equal(await stored(w3c.body.id), `00-${TRACE}-00f067aa0ba902b7-01`);
    assert.equal(await traceIdOf(w3c.body.id), TRACE);

    process.env._X_AMZN_TRACE_ID = XRAY;
    const own = await call(api, 'POST', '/v1/jobs', { body: email('t2') });
    assert.equal(await stored(own.body.id), `00-${XRAY_TRACE}-53995c3f42cd8ad8-01`, 'the API function is the parent');
    const both = await call(api, 'POST', '/v1/jobs', { body: email('t3'), headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } });
    assert.equal(await traceIdOf(both.body.id), TRACE, "the caller's traceparent wins");
    delete process.env._X_AMZN_TRACE_ID;

    const gateway = await call(api, 'POST', '/v1/jobs', { body: email('t4'), headers: { 'x-amzn-trace-id': XRAY } });
    assert.equal(await traceIdOf(gateway.body.id), XRAY_TRACE);

    const batch = await call(api, 'POST', '/v1/jobs/batch', {
      body: { jobs: [email('t5'), email('t6')] },
      headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-00` },
    });
    assert.equal(batch.status, 201);
    for (const j of batch.body.jobs) assert.equal(await stored(j.id), `00-${TRACE}-00f067aa0ba902b7-00`);
  });

  it('ignores a malformed trace header (W3C Trace Context: never refused), and shows null for a job without one', async () => {
    const r = await call(api, 'POST', '/v1/jobs', {
      body: email('t7'),
      headers: { traceparent: 'garbage', 'x-amzn-trace-id': 'Root=nope' },
    });
    assert.equal(r.status, 201);
    assert.equal(await stored(r.body.id), null);
    assert.equal(await traceIdOf(r.body.id), null);
    const body = await call(api, 'POST', '/v1/jobs', { body: { ...email('t8'), trace: `00-${TRACE}-00f067aa0ba902b7-01` } });
    assert.equal(body.status, 400, 'a trace is never taken from the body');
  });
});
