/**
 * `createWakeUp` (sluice/lambda): a team's own Lambda enqueues inside its own transaction, then wakes the
 * queues after COMMIT, coalesced per queue as the API does. EventBridge is mocked at its client boundary;
 * the jobs are real rows in a real PostgreSQL. And the construct's `grantWakeUp` gives such a function what
 * it needs (PutEvents on the sluice bus, the bus's name).
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { buildApp } from '../examples/cdk.js';
import { processOrder, sendEmail } from '../examples/definitions.js';
import { createWakeUp } from '../functions/shared/wakeUp.js';
import { enqueueItem } from '../src/index.js';
import { testSluice } from './helpers/db.js';

const eventBridge = mockClient(EventBridgeClient);
after(() => eventBridge.restore());

/** The JobsEnqueued details EventBridge was sent, in order. */
const sent = () =>
  eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((c) => c.args[0].input.Entries ?? [])
    .map((e) => ({ bus: e.EventBusName, source: e.Source, type: e.DetailType, detail: JSON.parse(e.Detail as string) }));

describe('createWakeUp: producers wake the workers after their own commit', async () => {
  const { sluice, pool } = await testSluice();
  let clock = 1_000_000;
  const env = { EVENT_BUS_NAME: 'app-bus', EVENT_SOURCE: 'sluice', WAKE_COALESCE_MS: '1000' };
  beforeEach(() => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
  });

  it('after COMMIT, one JobsEnqueued per queue with its count; a replayed job wakes nothing', async () => {
    const wakeUp = createWakeUp({ env, now: () => clock });
    const client = await pool.connect();
    let jobs: Awaited<ReturnType<typeof sluice.enqueueMany>>;
    try {
      await client.query('BEGIN');
      jobs = await sluice.enqueueMany(
        [
          enqueueItem(sendEmail, { userId: 'w1', to: 'w1@example.com', template: 'welcome' }),
          enqueueItem(sendEmail, { userId: 'w2', to: 'w2@example.com', template: 'welcome' }),
          enqueueItem(processOrder, { orderId: 'o-wake-1' }, { idempotencyKey: 'wake:o1' }),
        ],
        { client },
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    assert.equal(await wakeUp.afterCommit(jobs), 0, 'all delivered');
    assert.deepEqual(sent(), [
      { bus: 'app-bus', source: 'sluice', type: 'JobsEnqueued', detail: { queue: 'emails', count: 2 } },
      { bus: 'app-bus', source: 'sluice', type: 'JobsEnqueued', detail: { queue: 'default', count: 1 } },
    ]);

    eventBridge.resetHistory();
    clock += 5_000;
    const again = await sluice.enqueue(processOrder, { orderId: 'o-wake-1' }, { idempotencyKey: 'wake:o1' });
    assert.equal(again.replayed, true);
    assert.equal(await wakeUp.afterCommit(again), 0);
    assert.deepEqual(sent(), [], 'the first enqueue woke its queue already');
  });

  it('coalesces per queue within WAKE_COALESCE_MS; what is held back goes with the next flush after it', async () => {
    const wakeUp = createWakeUp({ env, now: () => clock });
    const job = () => sluice.enqueue(sendEmail, { userId: 'c', to: 'c@example.com', template: 'receipt' });
    clock += 10_000;
    await wakeUp.afterCommit(await job());
    await wakeUp.afterCommit(await job()); // same second: held back
    await wakeUp.afterCommit(await job());
    assert.deepEqual(
      sent().map((e) => e.detail),
      [{ queue: 'emails', count: 1 }],
    );
    clock += 1_000;
    await wakeUp.flush();
    assert.deepEqual(
      sent().map((e) => e.detail),
      [
        { queue: 'emails', count: 1 },
        { queue: 'emails', count: 2 },
      ],
    );
  });

  it('never throws: an EventBridge failure is counted, the jobs stay committed', async () => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
    const wakeUp = createWakeUp({ env: { ...env, WAKE_COALESCE_MS: '0' } });
    const job = await sluice.enqueue(sendEmail, { userId: 'f', to: 'f@example.com', template: 'receipt' });
    assert.equal(await wakeUp.afterCommit(job), 1, 'one entry not delivered');
    assert.equal((await sluice.getJob(job.id))?.state, 'available');
  });

  it('does nothing without a bus (local runs, tests); refuses a bad setting by name', async () => {
    const wakeUp = createWakeUp({ env: {} });
    const job = await sluice.enqueue(sendEmail, { userId: 'n', to: 'n@example.com', template: 'receipt' });
    assert.equal(await wakeUp.afterCommit(job), 0);
    assert.equal(eventBridge.commandCalls(PutEventsCommand).length, 0);
    assert.throws(() => createWakeUp({ env: { EVENT_BUS_NAME: 'b', WAKE_COALESCE_MS: 'soon' } }), /WAKE_COALESCE_MS/);
  });
});

describe('SluiceQueue.grantWakeUp', () => {
  it("lets an app's own function put events on the sluice bus, with the bus's name in its environment, after the migrations", () => {
    const { app, sluice, queue } = buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), { nag: false });
    const producer = new lambda.Function(queue, 'OrdersApi', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
    });
    sluice.grantWakeUp(producer);
    app.synth();
    const t = Template.fromStack(queue);
    const busRef = { Ref: Stack.of(sluice.bus).getLogicalId(sluice.bus.node.defaultChild as never) };
    t.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: { Variables: { EVENT_BUS_NAME: busRef, EVENT_SOURCE: 'sluice' } },
    });
    const [fn] = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } }));
    assert.ok(
      ((fn?.DependsOn ?? []) as string[]).some((d) => /MigrateOnDeploy/.test(d)),
      'created or updated only after the migrations ran',
    );
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^OrdersApiServiceRole') }],
      PolicyDocument: {
        Statement: [{ Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busRef.Ref, 'Arn'] } }],
      },
    });
  });
});
