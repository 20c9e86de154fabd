import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../examples/cdk.js';
import sluiceConfig from '../examples/sluice.config.js';
import { checkJobsFitWorkers, DATABASE_USERS, parseSluiceConfig } from '../infra/config.js';

/** The whole app, synthesised offline with bundling skipped (as unit tests should). */
function synth(context: Record<string, unknown> = {}) {
  const { app, data, queue, sluice } = buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } }));
  app.synth();
  return { data, queue, sluice, t: Template.fromStack(queue) };
}

describe('queue stack', () => {
  const { t, sluice } = synth({ alarmEmail: 'ops@example.com' });

  const functionsWith = (env: Record<string, unknown>) =>
    Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike(env) } } }));

  it('gives each declared queue a worker on Node 24 (the latest), arm64, with its timeout, memory and reserved concurrency', () => {
    for (const q of sluiceConfig.queues) {
      const [worker] = functionsWith({ QUEUE: q.name });
      assert.ok(worker, `a worker for ${q.name}`);
      const p = worker.Properties;
      assert.deepEqual(
        [p.Runtime, p.Architectures, p.Timeout, p.MemorySize, p.ReservedConcurrentExecutions],
        ['nodejs24.x', ['arm64'], q.workerTimeoutSeconds, q.memoryMb, q.reservedConcurrency],
      );
      assert.equal(p.Environment.Variables.NODE_OPTIONS, '--enable-source-maps');
      assert.ok(p.VpcConfig, 'in the VPC, to reach the proxy');
      assert.equal(p.Environment.Variables.DB_PORT, '5432', 'RDS Proxy listens on 5432');
    }
    // Every function that enqueues or redrives knows the queues with a worker, and refuses the others.
    const queues = sluiceConfig.queues.map((q) => q.name).join(',');
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
      const vars = (fn.Properties.Environment?.Variables ?? {}) as Record<string, string>;
      if (vars.DB_USER) assert.equal(vars.SLUICE_QUEUES, queues, vars.DB_USER);
    }
  });

  it('wakes each worker by schedule and by JobsEnqueued / DrainRequested for its queue only, with retries and a DLQ', () => {
    for (const q of sluiceConfig.queues) {
      t.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: `rate(${q.scheduleMinutes} minute${q.scheduleMinutes === 1 ? '' : 's'})`,
        Targets: [
          Match.objectLike({
            InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp(`"detail":\\{"queue":"${q.name}"\\}`) }),
            RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 4 }),
            DeadLetterConfig: Match.anyValue(),
          }),
        ],
      });
      t.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: Match.anyValue(),
        EventPattern: { source: ['sluice'], 'detail-type': ['JobsEnqueued', 'DrainRequested'], detail: { queue: [q.name] } },
        Targets: [Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 4 }), DeadLetterConfig: Match.anyValue() })],
      });
    }
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('outputs what sluice smoke reads: the API URL, the queues and the alarm topic', () => {
    const outputs = t.findOutputs('*');
    const byId = (id: string) => Object.entries(outputs).filter(([key]) => new RegExp(`${id}[0-9A-F]{8}$`).test(key));
    const [api] = byId('SluiceApiUrl');
    assert.ok(api, `an output SluiceApiUrl among ${Object.keys(outputs).join(', ')}`);
    assert.deepEqual(Object.keys(api[1].Value), ['Fn::GetAtt'], 'the HTTP API endpoint');
    assert.equal(byId('SluiceQueues')[0]?.[1].Value, sluiceConfig.queues.map((q) => q.name).join(','));
    assert.equal(byId('SluiceAlarmTopicArn').length, 1);
  });

  it('functions may put events on the sluice bus only, and nothing is unscoped but X-Ray', () => {
    type Statement = { Action: string | string[]; Resource: unknown };
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Statement[],
    );
    const withAction = (a: string) => statements.filter((st) => ([] as string[]).concat(st.Action).includes(a));
    assert.ok(withAction('events:PutEvents').length >= sluiceConfig.queues.length);
    for (const st of withAction('events:PutEvents')) {
      assert.notEqual(st.Resource, '*', 'PutEvents is scoped');
      assert.match(JSON.stringify(st.Resource), /Bus/, 'to the sluice bus');
    }
    const wildcards = statements.filter((st) => st.Resource === '*').flatMap((st) => ([] as string[]).concat(st.Action));
    assert.deepEqual([...new Set(wildcards)].sort(), ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], 'only X-Ray is unscoped');
  });

  it('each function connects to the proxy as its own database user, and as no other', () => {
    const roleOf = (fn: { Properties: { Role: { 'Fn::GetAtt': [string, string] } } }) => fn.Properties.Role['Fn::GetAtt'][0];
    const connectUsers = (role: string) =>
      Object.values(t.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string; Resource: { 'Fn::Join': [string, unknown[]] } }>)
        .filter((st) => st.Action === 'rds-db:connect')
        .map((st) => {
          assert.match(JSON.stringify(st.Resource), /dbuser:.*DBProxyArn/, 'on the proxy');
          return String(st.Resource['Fn::Join'][1].at(-1));
        });
    const byDescription = (d: string) => {
      const fns = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Description: d } }));
      assert.equal(fns.length, 1, d);
      return fns[0] as never;
    };
    const expectations: Array<[unknown, string]> = [
      ...sluiceConfig.queues.map((q) => [functionsWith({ QUEUE: q.name })[0], DATABASE_USERS.worker] as [unknown, string]),
      [byDescription('sluice enqueue API'), DATABASE_USERS.api],
      [byDescription('sluice prune and stats'), DATABASE_USERS.maintenance],
      [byDescription('sluice periodic jobs'), DATABASE_USERS.periodic],
    ];
    for (const [fn, user] of expectations) {
      const f = fn as { Properties: { Role: { 'Fn::GetAtt': [string, string] }; Environment: { Variables: Record<string, string> } } };
      assert.deepEqual(connectUsers(roleOf(f)), [`/${user}`], `${f.Properties.Environment.Variables.QUEUE ?? ''} ${user}`);
      assert.equal(f.Properties.Environment.Variables.DB_USER, user);
    }
    assert.deepEqual(
      connectUsers(roleOf(byDescription('sluice migrations and database users (deploy trigger)'))),
      [],
      'migrate uses no proxy',
    );
  });

  it('every function that connects as a database user is created or updated only after the migrate trigger ran', () => {
    const trigger = Object.keys(t.findResources('Custom::Trigger'));
    assert.equal(trigger.length, 1);
    const users = Object.values(t.findResources('AWS::Lambda::Function')).filter((fn) => fn.Properties.Environment?.Variables?.DB_USER);
    assert.equal(users.length, sluiceConfig.queues.length + 3);
    for (const fn of users) assert.ok((fn.DependsOn ?? []).includes(trigger[0]), fn.Properties.Description);
  });

  it('the migrate function alone reads the admin secret, reaches the instance with verified TLS, and creates the users', () => {
    const migrate = Object.values(
      t.findResources('AWS::Lambda::Function', { Properties: { Description: 'sluice migrations and database users (deploy trigger)' } }),
    )[0]!;
    const vars = migrate.Properties.Environment.Variables;
    assert.deepEqual(JSON.parse(vars.DB_USERS), DATABASE_USERS);
    assert.equal(vars.DB_USER_ROLES, 'rds_iam');
    assert.equal(vars.NODE_EXTRA_CA_CERTS, '/var/runtime/ca-cert.pem');
    assert.equal(vars.DB_TLS, undefined, 'TLS is verified (the default)');
    assert.equal(vars.DB_HOST, undefined);
    assert.match(JSON.stringify(vars.DB_SECRET_ARN), /SluiceData/);
    assert.match(JSON.stringify(migrate.Properties.VpcConfig.SecurityGroupIds), /AdminClients/);
    const readers = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) =>
        (p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[] }>).some((st) =>
          ([] as string[]).concat(st.Action).includes('secretsmanager:GetSecretValue'),
        ),
      )
      .map((p) => p.Properties.Roles[0].Ref);
    assert.deepEqual(readers, [migrate.Properties.Role['Fn::GetAtt'][0]]);
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
      assert.equal(fn.Properties.Environment?.Variables?.DB_TLS, undefined, 'no function turns TLS verification off');
    }
  });

  it('serves the API through an IAM-authorized HTTP API with throttling and access logs', () => {
    t.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /v1/{proxy+}', AuthorizationType: 'AWS_IAM' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }),
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
  });

  it('runs maintenance on its schedule, migrations on deploy, and each periodic job with a tick-derived key input', () => {
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: `rate(${sluiceConfig.maintenanceScheduleMinutes} minutes)` });
    t.hasResourceProperties('Custom::Trigger', { Timeout: String(5 * 60_000) });
    for (const p of sluiceConfig.periodicJobs) {
      t.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: p.schedule,
        Targets: [
          Match.objectLike({
            InputTransformer: Match.objectLike({
              InputPathsMap: { time: '$.time' },
              InputTemplate: Match.stringLikeRegexp(`"name":"${p.name}","type":"${p.type}","payload":`),
            }),
          }),
        ],
      });
    }
  });

  it('exposes one worker per queue to the monitoring', () => {
    assert.deepEqual(Object.keys(sluice.workers).sort(), sluiceConfig.queues.map((q) => q.name).sort());
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it('leaves no unacknowledged finding in either stack', () => {
    const { data, queue } = synth();
    for (const stack of [data, queue]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
      assert.deepEqual(findings, [], `findings in ${stack.stackName}`);
    }
  });
});

describe('sluice config', () => {
  it('refuses a worker timeout too short for a job type on its queue, and a job type whose queue has no worker', () => {
    const config = parseSluiceConfig({ queues: [{ name: 'emails', workerTimeoutSeconds: 15 }] });
    assert.doesNotThrow(() => checkJobsFitWorkers(config, [{ type: 'send_email', queue: 'emails', timeout: 11_000 }]));
    assert.throws(
      () => checkJobsFitWorkers(config, [{ type: 'send_email', queue: 'emails', timeout: 15_000 }]),
      /send_email .*raise workerTimeoutSeconds above 19/,
    );
    assert.throws(
      () => checkJobsFitWorkers(config, [{ type: 'report', queue: 'reports', timeout: 1_000 }]),
      /queue reports, which declares no worker/,
    );
  });

  it('rejects unknown keys and duplicate queues, naming them', () => {
    assert.throws(() => parseSluiceConfig({ queues: [{ name: 'a', timeout: 5 } as never] }), /timeout/);
    assert.throws(() => parseSluiceConfig({ queues: [{ name: 'a' }, { name: 'a' }] }), /queue names must be unique/);
  });
});
