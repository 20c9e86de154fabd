import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueConfig } from '../config.js';

export interface SluiceMonitoringProps {
  queues: QueueConfig[];
  /** The worker function of each queue, by queue name. */
  workers: Record<string, lambda.IFunction>;
  apiFunction: lambda.IFunction;
  /** Further functions whose errors page someone: maintenance, periodic jobs, … */
  otherFunctions?: lambda.IFunction[];
  httpApi: apigwv2.IHttpApi;
  /** The dead-letter queues of the EventBridge rule targets. */
  deadLetterQueues: sqs.IQueue[];
  /** Subscribed to the alarm topic when given (the recipient confirms by email). */
  alarmEmail?: string | undefined;
  /** Alarms go to this topic instead of one created here. */
  alarmTopic?: sns.ITopic | undefined;
  /** Must match the functions' POWERTOOLS_METRICS_NAMESPACE. */
  namespace?: string;
  /** Must match the functions' POWERTOOLS_SERVICE_NAME: Powertools adds it as the `service` dimension. */
  serviceName?: string;
}

/** The period of every alarm and graph; EMF metrics from maintenance arrive every few minutes. */
const PERIOD = Duration.minutes(5);

/**
 * sluice's alarms (to one SNS topic) and dashboard. The job metrics are the EMF metrics the functions emit
 * with Powertools (README "On AWS Lambda"), with the dimensions `{ service, queue }`.
 */
export class SluiceMonitoring extends Construct {
  readonly alarmTopic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  private readonly namespace: string;
  private readonly serviceName: string;

  constructor(scope: Construct, id: string, props: SluiceMonitoringProps) {
    super(scope, id);
    this.namespace = props.namespace ?? 'Sluice';
    this.serviceName = props.serviceName ?? 'sluice';

    // No KMS key: AwsSolutions asks only for TLS (SNS3), and the AWS-managed alias/aws/sns key would silently
    // drop every alarm, because its key policy does not let CloudWatch use it.
    this.alarmTopic =
      props.alarmTopic ?? new sns.Topic(this, 'AlarmTopic', { displayName: `${this.serviceName} alarms`, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    for (const q of props.queues) {
      // The maintenance function publishes a gauge every few minutes: a 5-minute period may hold no datapoint,
      // so 2 of 3 periods rather than one, and missing data is not a breach.
      this.alarm(`DeadLetters-${q.name}`, `${q.name}: dead-lettered jobs are waiting (redrive or purge them)`, {
        metric: this.jobMetric('DeadLetterCount', q.name, 'Maximum'),
        threshold: 0,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      });
      this.alarm(`OldestJobAge-${q.name}`, `${q.name}: the oldest ready job waited over ${q.oldestJobAgeAlarmSeconds}s`, {
        metric: this.jobMetric('OldestJobAgeSeconds', q.name, 'Maximum'),
        threshold: q.oldestJobAgeAlarmSeconds,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      });
    }

    for (const [queue, fn] of Object.entries(props.workers)) {
      this.alarm(`WorkerErrors-${queue}`, `${queue}: the worker function failed`, { metric: fn.metricErrors({ period: PERIOD }) });
      this.alarm(`WorkerThrottles-${queue}`, `${queue}: the worker function was throttled (reserved concurrency reached)`, {
        metric: fn.metricThrottles({ period: PERIOD }),
      });
    }
    this.alarm('ApiErrors', 'the API function failed', { metric: props.apiFunction.metricErrors({ period: PERIOD }) });
    (props.otherFunctions ?? []).forEach((fn, i) => {
      this.alarm(`FunctionErrors${i}-${fn.node.id}`, `${fn.node.id}: the function failed`, { metric: fn.metricErrors({ period: PERIOD }) });
    });

    props.deadLetterQueues.forEach((dlq, i) => {
      this.alarm(`RuleTargetDlq${i}`, 'an EventBridge rule could not deliver to its target (see the dead-letter queue)', {
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
      });
    });

    this.alarm('Api5xx', 'the HTTP API answered 5xx', { metric: props.httpApi.metricServerError({ period: PERIOD, statistic: 'Sum' }) });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(...this.widgets(props));
  }

  /** A job metric as Powertools emits it: namespace, `{ service, queue }` (no label: an alarm then keeps a plain MetricName). */
  private jobMetric(metricName: string, queue: string, statistic: string, label?: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.serviceName, queue },
      statistic,
      period: PERIOD,
      ...(label ? { label } : {}),
    });
  }

  /** An alarm on `metric > threshold` (0 unless given) that notifies the topic when it fires and when it clears. */
  private alarm(
    id: string,
    description: string,
    opts: { metric: cloudwatch.IMetric; threshold?: number; evaluationPeriods?: number; datapointsToAlarm?: number },
  ) {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: `${this.serviceName}: ${description}`,
      metric: opts.metric,
      threshold: opts.threshold ?? 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: opts.evaluationPeriods ?? 1,
      datapointsToAlarm: opts.datapointsToAlarm ?? 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const action = new actions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }

  private widgets(props: SluiceMonitoringProps): cloudwatch.IWidget[] {
    const names = props.queues.map((q) => q.name);
    const graph = (title: string, left: cloudwatch.IMetric[], right?: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, ...(right ? { right } : {}), width: 12, height: 6 });
    const functions = [...Object.values(props.workers), props.apiFunction, ...(props.otherFunctions ?? [])];
    return [
      graph(
        'Depth: ready jobs',
        names.map((q) => this.jobMetric('QueueDepth', q, 'Maximum', q)),
      ),
      graph(
        'Oldest ready job (s)',
        names.map((q) => this.jobMetric('OldestJobAgeSeconds', q, 'Maximum', q)),
      ),
      graph('Throughput: jobs per 5 min', [
        ...names.map((q) => this.jobMetric('JobsSucceeded', q, 'Sum', `${q} succeeded`)),
        ...names.map((q) => this.jobMetric('JobsFailed', q, 'Sum', `${q} failed`)),
      ]),
      graph(
        'Job duration (ms): p50 / p95 / p99',
        names.flatMap((q) => ['p50', 'p95', 'p99'].map((p) => this.jobMetric('JobDurationMs', q, p, `${q} ${p}`))),
      ),
      graph(
        'Error rate (% of attempts that failed)',
        names.map(
          (q, i) =>
            new cloudwatch.MathExpression({
              expression: `100 * f${i} / (s${i} + f${i})`,
              usingMetrics: { [`s${i}`]: this.jobMetric('JobsSucceeded', q, 'Sum'), [`f${i}`]: this.jobMetric('JobsFailed', q, 'Sum') },
              label: `${q} error rate`,
              period: PERIOD,
            }),
        ),
      ),
      graph(
        'Dead letters: new (left) and waiting (right)',
        names.map((q) => this.jobMetric('JobsDeadLettered', q, 'Sum', `${q} dead-lettered`)),
        names.map((q) => this.jobMetric('DeadLetterCount', q, 'Maximum', `${q} waiting`)),
      ),
      graph(
        'Lambda errors',
        functions.map((fn) => fn.metricErrors({ period: PERIOD, label: fn.node.id })),
      ),
      graph('API 5xx and rule-target DLQ messages', [
        props.httpApi.metricServerError({ period: PERIOD, statistic: 'Sum', label: 'API 5xx' }),
        ...props.deadLetterQueues.map((q, i) => q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: `DLQ ${i}` })),
      ]),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }),
    ];
  }
}
