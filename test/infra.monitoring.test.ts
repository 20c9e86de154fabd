import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { QueueConfig } from '../infra/config.js';
import { SluiceMonitoring, type SluiceMonitoringProps } from '../infra/constructs/monitoring.js';

const queue = (name: string, oldestJobAgeAlarmSeconds: number): QueueConfig => ({
  name,
  workerTimeoutSeconds: 120,
  memoryMb: 256,
  reservedConcurrency: 5,
  batchSize: 100,
  scheduleMinutes: 1,
  oldestJobAgeAlarmSeconds,
});

/** A bare stack with fake functions, API and queues around the construct under test. */
function build(extra: Partial<SluiceMonitoringProps> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  const fn = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {};'),
    });
  const workers = { emails: fn('EmailsWorker'), reports: fn('ReportsWorker') };
  const api = fn('Api');
  const maintenance = fn('Maintenance');
  const httpApi = new apigwv2.HttpApi(stack, 'HttpApi');
  const dlqs = [new sqs.Queue(stack, 'EmailsDlq'), new sqs.Queue(stack, 'ReportsDlq')];
  const monitoring = new SluiceMonitoring(stack, 'Monitoring', {
    queues: [queue('emails', 900), queue('reports', 60)],
    workers,
    apiFunction: api,
    otherFunctions: [maintenance],
    httpApi,
    deadLetterQueues: dlqs,
    ...extra,
  });
  return { stack, monitoring, workers, api, maintenance, httpApi, dlqs, template: Template.fromStack(stack) };
}

const topicActions = (t: Template) => {
  const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
  assert.ok(topicId);
  return [{ Ref: topicId }];
};

describe('SluiceMonitoring alarms', () => {
  it('DeadLetterCount > 0 per queue, 2 of 3 five-minute periods, on { service, queue }, to the topic', () => {
    const { template } = build();
    for (const q of ['emails', 'reports']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Sluice',
        MetricName: 'DeadLetterCount',
        Dimensions: [
          { Name: 'queue', Value: q },
          { Name: 'service', Value: 'sluice' },
        ],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
        AlarmActions: topicActions(template),
        OKActions: topicActions(template),
      });
    }
  });

  it("OldestJobAgeSeconds over each queue's own threshold, 2 of 3 periods", () => {
    const { template } = build();
    for (const [q, threshold] of [
      ['emails', 900],
      ['reports', 60],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Sluice',
        MetricName: 'OldestJobAgeSeconds',
        Dimensions: [
          { Name: 'queue', Value: q },
          { Name: 'service', Value: 'sluice' },
        ],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        AlarmActions: topicActions(template),
      });
    }
  });

  it('uses the namespace and service name it is given', () => {
    const { template } = build({ namespace: 'Acme/Jobs', serviceName: 'acme' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Acme/Jobs',
      MetricName: 'DeadLetterCount',
      Dimensions: Match.arrayWith([{ Name: 'service', Value: 'acme' }]),
    });
    assert.deepEqual(template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'Sluice' } }), {});
  });

  it('Errors and Throttles > 0 per worker, Errors > 0 for the API and other functions', () => {
    const { stack, template, workers, api, maintenance } = build();
    const lambdaAlarm = (metric: string, fn: lambda.Function) =>
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: stack.resolve(fn.functionName) }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: topicActions(template),
      });
    for (const w of Object.values(workers)) {
      lambdaAlarm('Errors', w);
      lambdaAlarm('Throttles', w);
    }
    lambdaAlarm('Errors', api);
    lambdaAlarm('Errors', maintenance);
  });

  it('ApproximateNumberOfMessagesVisible > 0 per rule-target DLQ', () => {
    const { stack, template, dlqs } = build();
    for (const dlq of dlqs) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: stack.resolve(dlq.queueName) }],
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: topicActions(template),
      });
    }
  });

  it('API 5xx > 0 summed over 5 minutes', () => {
    const { stack, template, httpApi } = build();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: stack.resolve(httpApi.apiId) }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: topicActions(template),
    });
  });

  it('every alarm notifies the topic, and each one is exposed on .alarms', () => {
    const { template, monitoring } = build();
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // 2 queues x (dead letters, age) + 2 workers x (errors, throttles) + API and maintenance errors + 2 DLQs + API 5xx
    // + 6 database health gauges + 2 queues x claim latency
    assert.equal(alarms.length, 4 + 4 + 2 + 2 + 1 + 6 + 2);
    assert.equal(monitoring.alarms.length, alarms.length);
    for (const a of alarms) assert.deepEqual(a.Properties.AlarmActions, topicActions(template));
  });
});

describe('SluiceMonitoring database health alarms', () => {
  const alarmOn = (template: Template, metricName: string) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === metricName);

  it('alarm on each health gauge at its default threshold, on { service } only, to the topic', () => {
    const { template } = build();
    const expect = [
      ['OldestTransactionAgeSeconds', 900, 1, 1],
      ['XminHorizonAgeXids', 100_000_000, 1, 1],
      ['LiveTableDeadRows', 1_000_000, 3, 2],
      ['SecondsSinceVacuum', 3_600, 3, 2],
      ['ConnectionsUsedPercent', 80, 3, 2],
      ['LiveTableRowsPerJob', 10, 3, 2],
    ] as const;
    for (const [name, threshold, periods, points] of expect) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Sluice',
        MetricName: name,
        Dimensions: [{ Name: 'service', Value: 'sluice' }],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: periods,
        DatapointsToAlarm: points,
        TreatMissingData: 'notBreaching',
        AlarmActions: topicActions(template),
        OKActions: topicActions(template),
      });
      assert.equal(alarmOn(template, name).length, 1, name);
    }
  });

  it("alarm on each queue's claim latency p95, 2 of 3 periods", () => {
    const { template } = build();
    for (const q of ['emails', 'reports']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ClaimLatencyMs',
        Dimensions: [
          { Name: 'queue', Value: q },
          { Name: 'service', Value: 'sluice' },
        ],
        ExtendedStatistic: 'p95',
        Threshold: 1_000,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
    }
  });

  it('takes each threshold as given, leaves an alarm out for false, and refuses a bad threshold', () => {
    const { template } = build({ healthAlarms: { oldestTransactionSeconds: 120, liveTableRowsPerJob: false, claimLatencyP95Ms: false } });
    assert.equal(alarmOn(template, 'OldestTransactionAgeSeconds')[0]?.Properties.Threshold, 120);
    assert.equal(alarmOn(template, 'LiveTableRowsPerJob').length, 0);
    assert.equal(alarmOn(template, 'ClaimLatencyMs').length, 0);
    assert.equal(alarmOn(template, 'XminHorizonAgeXids')[0]?.Properties.Threshold, 100_000_000, 'the others keep their defaults');
    assert.throws(
      () => build({ healthAlarms: { connectionsUsedPercent: -1 } }),
      /healthAlarms.connectionsUsedPercent: a threshold is a number >= 0/,
    );
    assert.throws(() => build({ healthAlarms: { secondsSinceVacuum: '60' as unknown as number } }), /healthAlarms.secondsSinceVacuum/);
  });

  it('the dashboard graphs the health gauges and the claim latency', () => {
    const { template } = build();
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const name of [
      'OldestTransactionAgeSeconds',
      'XminHorizonAgeXids',
      'LiveTableDeadRows',
      'SecondsSinceVacuum',
      'ClaimLatencyMs',
      'ConnectionsUsedPercent',
      'LiveTableRowsPerJob',
    ]) {
      assert.ok(body.includes(name), `${name} on the dashboard`);
    }
  });
});

describe('SluiceMonitoring alarm topic', () => {
  it('denies publishing without TLS', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: topicActions(template),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Principal: '*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('subscribes the alarm email only when one is given', () => {
    assert.deepEqual(build().template.findResources('AWS::SNS::Subscription'), {});
    const { template } = build({ alarmEmail: 'oncall@example.com' });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: topicActions(template)[0],
    });
  });
});

describe('SluiceMonitoring dashboard', () => {
  /** The dashboard body with its tokens dropped, parsed back into widgets. */
  const body = (template: Template) => {
    const [dash] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const raw = dash?.Properties.DashboardBody;
    const text =
      typeof raw === 'string' ? raw : (raw['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    return JSON.parse(text) as { widgets: { properties: { title?: string; metrics?: unknown[][] } }[] };
  };
  const widget = (template: Template, title: RegExp) => {
    const w = body(template).widgets.find((x) => title.test(x.properties.title ?? ''));
    assert.ok(w, `no widget titled ${title}`);
    return w.properties.metrics ?? [];
  };

  it('graphs p50, p95 and p99 of JobDurationMs for each queue', () => {
    const { template } = build();
    const metrics = widget(template, /duration/i).map((m) => JSON.stringify(m));
    for (const q of ['emails', 'reports']) {
      for (const p of ['p50', 'p95', 'p99']) {
        assert.ok(
          metrics.some((m) => m.includes('"Sluice","JobDurationMs"') && m.includes(`"queue","${q}"`) && m.includes(`"stat":"${p}"`)),
          `${q} ${p}: ${metrics.join('\n')}`,
        );
      }
    }
  });

  it('graphs depth, throughput, error rate and dead letters per queue', () => {
    const { template } = build();
    const has = (title: RegExp, needle: string) =>
      assert.ok(JSON.stringify(widget(template, title)).includes(needle), `${title} lacks ${needle}`);
    has(/depth/i, '"QueueDepth","queue","reports"');
    has(/throughput/i, '"JobsSucceeded","queue","emails"');
    has(/throughput/i, '"JobsFailed","queue","reports"');
    has(/error rate/i, '100 * f1 / (s1 + f1)');
    has(/dead letters/i, '"JobsDeadLettered","queue","emails"');
    has(/dead letters/i, '"DeadLetterCount","queue","reports"');
  });
});

describe('SluiceMonitoring cdk-nag', () => {
  it('has no AwsSolutions findings', () => {
    const { stack, workers, api, maintenance, httpApi, dlqs } = build({ alarmEmail: 'oncall@example.com' });
    // The fakes stand in for resources other stacks own and check; only the construct under test is judged here.
    for (const fn of [...Object.values(workers), api, maintenance]) {
      Validations.of(fn).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'test fake: an inline function standing in for a sluice function',
        },
        { id: 'AwsSolutions-L1', reason: 'test fake: an inline function standing in for a sluice function' },
      );
    }
    for (const q of dlqs) {
      Validations.of(q).acknowledge(
        { id: 'AwsSolutions-SQS3', reason: 'test fake: stands in for a rule-target dead-letter queue' },
        { id: 'AwsSolutions-SQS4', reason: 'test fake: stands in for a rule-target dead-letter queue' },
      );
    }
    Validations.of(httpApi).acknowledge({ id: 'AwsSolutions-APIG1', reason: 'test fake: stands in for the HTTP API' });
    const report = new AwsSolutionsChecks().validateScope(stack);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    assert.deepEqual(findings, []);
    assert.equal(report.success, true);
  });
});
