/** The API's Lambda handler (middy) end to end: the container's pool, EventBridge (mocked) and its logs. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { send } from '../helpers/api.js';
import { httpEvent, lambdaContext } from '../helpers/aws.js';
import { testSluice } from '../helpers/db.js';

describe('the Lambda handler (middy)', async () => {
  const { sluice, schema, url } = await testSluice();
  const eventBridge = mockClient(EventBridgeClient);
  Object.assign(process.env, {
    DATABASE_URL: url,
    SLUICE_SCHEMA: schema,
    EVENT_BUS_NAME: 'sluice-test-bus',
    EVENT_SOURCE: 'sluice.test',
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    WAKE_COALESCE_MS: '0', // one JobsEnqueued per request here; coalescing across requests is tested in shared.fn
  });
  const { handler } = await import('../../examples/functions/api.js');
  const { closePool } = await import('../../functions/shared/db.js');
  after(async () => {
    eventBridge.restore();
    await closePool();
  });

  const invoke = (event: APIGatewayProxyEventV2) => send(async (e) => handler(e, lambdaContext(10_000, 'sluice-api')), event);
  const body = { type: 'send_email', payload: { userId: 'h1', to: 'h1@example.com', template: 'receipt' } };

  it('enqueues end to end and puts one JobsEnqueued event on the bus after the response, with the request id on logs', async () => {
    eventBridge.reset();
    let correlation: unknown;
    eventBridge.on(PutEventsCommand).callsFake(() => {
      correlation = handler.logger.getCorrelationId();
      return { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };
    });
    const event = httpEvent('POST', '/v1/jobs', { body });
    const r = await invoke(event);
    assert.equal(r.status, 201);
    assert.equal((await sluice.getJob(r.body.id))?.state, 'available');
    const calls = eventBridge.commandCalls(PutEventsCommand);
    assert.equal(calls.length, 1);
    const entries = calls[0]?.args[0].input.Entries ?? [];
    assert.deepEqual(
      entries.map((e) => [e.EventBusName, e.Source, e.DetailType, JSON.parse(e.Detail ?? '')]),
      [['sluice-test-bus', 'sluice.test', 'JobsEnqueued', { queue: 'emails', count: 1 }]],
    );
    assert.equal(correlation, event.requestContext.requestId);
    const got = await invoke(httpEvent('GET', `/v1/jobs/${r.body.id}`));
    assert.equal(got.status, 200);
    assert.equal(eventBridge.commandCalls(PutEventsCommand).length, 1, 'a read publishes nothing');
  });

  it('still answers 201 when EventBridge fails, and the job exists', async () => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge is down'));
    const r = await invoke(httpEvent('POST', '/v1/jobs', { body: { ...body, payload: { ...body.payload, userId: 'h2' } } }));
    assert.equal(r.status, 201);
    assert.ok(eventBridge.commandCalls(PutEventsCommand).length >= 1, 'the publish was attempted');
    const job = await sluice.getJob(r.body.id);
    assert.deepEqual(job?.payload, { userId: 'h2', to: 'h1@example.com', template: 'receipt' });
  });

  it('maps errors through the handler too', async () => {
    eventBridge.reset();
    const r = await invoke(httpEvent('POST', '/v1/jobs', { body: { type: 'send_email', payload: {} } }));
    assert.equal(r.status, 400);
    assert.equal(eventBridge.commandCalls(PutEventsCommand).length, 0);
    assert.equal((await invoke(httpEvent('GET', '/nowhere'))).status, 404);
  });
});
