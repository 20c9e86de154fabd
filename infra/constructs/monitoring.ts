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
  /** The database health alarms' thresholds, each overridable, or `false` to leave that alarm out. */
  healthAlarms?: HealthAlarms | undefined;
}

/**
 * The thresholds of the alarms for the ways a queue on Postgres fails (docs/operations.md has what each
 * means and what to do). Each alarm fires when its metric is above its threshold; `false` leaves it out.
 */
export interface HealthAlarms {
  /** Seconds the oldest transaction or snapshot has held the xmin horizon back. Default 900 (one reading). */
  oldestTransactionSeconds?: number | false;
  /** Transaction ids since the oldest held xmin (catches replication slots too). Default 100,000,000 (one reading). */
  xminHorizonAgeXids?: number | false;
  /** Dead row versions in the live table. Default 1,000,000 (2 of 3 readings). */
  liveTableDeadRows?: number | false;
  /** Seconds without a vacuum of the live table while it holds dead rows worth removing. Default 3,600 (2 of 3). */
  secondsSinceVacuum?: number | false;
  /** The p95 of each queue's claim latency, in ms, over 5 minutes. Default 1,000 (2 of 3 periods). */
  claimLatencyP95Ms?: number | false;
  /** Client connections, as a percentage of `max_connections`. Default 80 (2 of 3 readings). */
  connectionsUsedPercent?: number | false;
  /** Live table row versions per job the queues report (at least 1,000 assumed). Default 10 (2 of 3 readings). */
  liveTableRowsPerJob?: number | false;
}

/** The health alarms' defaults (docs/operations.md). */
export const HEALTH_ALARM_DEFAULTS = {
  oldestTransactionSeconds: 900,
  xminHorizonAgeXids: 100_000_000,
  liveTableDeadRows: 1_000_000,
  secondsSinceVacuum: 3_600,
  claimLatencyP95Ms: 1_000,
  connectionsUsedPercent: 80,
  liveTableRowsPerJob: 10,
} as const satisfies Required<{ [K in keyof HealthAlarms]: number }>;

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

    this.healthAlarms(props);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(...this.widgets(props));
  }

  /**
   * The database health alarms on maintenance's gauges (`{ service }` only) and each queue's claim latency.
   * A monotonic age fires on one reading; the others on 2 of 3, as the queue gauges do.
   */
  private healthAlarms(props: SluiceMonitoringProps): void {
    const h = { ...HEALTH_ALARM_DEFAULTS, ...props.healthAlarms };
    for (const [key, value] of Object.entries(h)) {
      if (value !== false && !(typeof value === 'number' && Number.isFinite(value) && value >= 0))
        throw new Error(`healthAlarms.${key}: a threshold is a number >= 0, or false to leave the alarm out; got ${JSON.stringify(value)}`);
    }
    const once = { evaluationPeriods: 1, datapointsToAlarm: 1 };
    const twoOfThree = { evaluationPeriods: 3, datapointsToAlarm: 2 };
    const gauge = (id: string, metricName: string, threshold: number | false, description: string, shape = twoOfThree) => {
      if (threshold === false) return;
      this.alarm(id, description.replace('{t}', threshold.toLocaleString('en-US')), {
        metric: this.healthMetric(metricName),
        threshold,
        ...shape,
      });
    };
    gauge(
      'OldestTransaction',
      'OldestTransactionAgeSeconds',
      h.oldestTransactionSeconds,
      'a transaction has held vacuum back for over {t}s',
      once,
    );
    gauge(
      'XminHorizon',
      'XminHorizonAgeXids',
      h.xminHorizonAgeXids,
      'the xmin horizon is over {t} transactions old (a session, prepared transaction or replication slot holds it)',
      once,
    );
    gauge('LiveTableDeadRows', 'LiveTableDeadRows', h.liveTableDeadRows, 'the live table holds over {t} dead rows');
    gauge('VacuumBehind', 'SecondsSinceVacuum', h.secondsSinceVacuum, 'the live table has dead rows and no vacuum for over {t}s');
    gauge('ConnectionsUsed', 'ConnectionsUsedPercent', h.connectionsUsedPercent, 'over {t}% of max_connections are in use');
    gauge('LiveTableBloat', 'LiveTableRowsPerJob', h.liveTableRowsPerJob, 'the live table holds over {t} row versions per live job');
    if (h.claimLatencyP95Ms !== false) {
      for (const q of props.queues) {
        this.alarm(`ClaimLatency-${q.name}`, `${q.name}: the claim's p95 latency is over ${h.claimLatencyP95Ms} ms`, {
          metric: this.jobMetric('ClaimLatencyMs', q.name, 'p95'),
          threshold: h.claimLatencyP95Ms,
          ...twoOfThree,
        });
      }
    }
  }

  /** A database health gauge as maintenance emits it: namespace, `{ service }`. */
  private healthMetric(metricName: string, statistic = 'Maximum', label?: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.serviceName },
      statistic,
      period: PERIOD,
      ...(label ? { label } : {}),
    });
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
      graph(
        'Database: oldest transaction (s, left) and xmin horizon age (xids, right)',
        [this.healthMetric('OldestTransactionAgeSeconds', 'Maximum', 'oldest transaction (s)')],
        [this.healthMetric('XminHorizonAgeXids', 'Maximum', 'xmin horizon age')],
      ),
      graph(
        'Live table: dead rows (left) and seconds since vacuum (right)',
        [this.healthMetric('LiveTableDeadRows', 'Maximum', 'dead rows')],
        [this.healthMetric('SecondsSinceVacuum', 'Maximum', 'since vacuum (s)')],
      ),
      graph(
        'Claim latency (ms): p50 / p95',
        names.flatMap((q) => ['p50', 'p95'].map((p) => this.jobMetric('ClaimLatencyMs', q, p, `${q} ${p}`))),
      ),
      graph(
        'Connections used (%, left) and live table rows per job (right)',
        [this.healthMetric('ConnectionsUsedPercent', 'Maximum', 'connections used (%)')],
        [this.healthMetric('LiveTableRowsPerJob', 'Maximum', 'rows per job')],
      ),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }),
    ];
  }
}
