import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CfnOutput, Duration, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { DatabaseUserFunction } from '../../functions/shared/access.js';
import { checkJobsFitWorkers, DATABASE_USERS, type SluiceAppConfig } from '../config.js';
import { type EventPattern, ruleInput, sluiceRules } from '../rules.js';
import { SluiceDatabase } from './database.js';
import type { DatabaseAccess } from './databaseAccess.js';
import { type HealthAlarms, SluiceMonitoring } from './monitoring.js';
import { projectRoot, SluiceFunction, sluiceEntry } from './sluiceFunction.js';

export interface SluiceQueueProps {
  /** The app's config: the default export of its `sluice.config.ts` (what `defineConfig` returned). */
  config: SluiceAppConfig;
  /**
   * The folder of `sluice.config.ts`, which its entry files are relative to. Default: the working
   * directory, where `cdk` runs (the app's root, with cdk.json). esbuild runs in the nearest folder at or
   * above it that holds a lock file.
   */
  configDir?: string;
  /** A `SluiceDatabase` (sluice creates the data tier), or `existingDatabase(...)` (the team's own). */
  database: SluiceDatabase | DatabaseAccess;
  /** Subscribed to the alarm topic when given (the recipient confirms by email). */
  alarmEmail?: string | undefined;
  /** Alarms go to this topic instead of one the construct creates. */
  alarmTopic?: sns.ITopic;
  /** The database user of each function (default `DATABASE_USERS`); they must be the database's proxy users. */
  databaseUsers?: Record<DatabaseUserFunction, string>;
  /** API throttling: steady requests per second and burst. */
  apiRateLimit?: number;
  apiBurstLimit?: number;
  /**
   * The database health alarms' thresholds (`HEALTH_ALARM_DEFAULTS`), each overridable, or `false` to leave
   * one out: e.g. `{ oldestTransactionSeconds: 300, liveTableRowsPerJob: false }` (docs/operations.md).
   */
  healthAlarms?: HealthAlarms;
}

const SOURCE = 'sluice';

/**
 * The queue tier of an app, as a construct in one of its own stacks: the sluice event bus, the enqueue API
 * (IAM-authorized HTTP API), one worker per declared queue with its schedule and wake-up rules,
 * maintenance on a schedule, migrations on deploy, periodic jobs, and the monitoring around them. The
 * app's entry files are bundled with esbuild; maintenance and migrations are sluice's own.
 *
 * @example
 * import config from '../sluice.config.js';
 * const data = new SluiceDatabase(stack, 'Db');
 * new SluiceQueue(stack, 'Jobs', { config, database: data, alarmEmail: 'oncall@example.com' });
 */
export class SluiceQueue extends Construct {
  readonly bus: events.EventBus;
  readonly httpApi: apigwv2.HttpApi;
  readonly workers: Record<string, lambda.IFunction> = {};
  readonly ruleDeadLetterQueue: sqs.Queue;

  readonly alarmTopic: sns.ITopic;
  private readonly migrateTrigger: triggers.Trigger;
  readonly monitoring: SluiceMonitoring;
  /** The environment a producer of the app's own needs to wake the workers (`createWakeUp`). */
  readonly wakeUpEnvironment: Record<string, string>;

  constructor(scope: Construct, id: string, props: SluiceQueueProps) {
    super(scope, id);
    // The synth-time checks, on whatever config this is given: a job that cannot fit its worker, a queue without one.
    checkJobsFitWorkers(props.config);
    const db = props.database instanceof SluiceDatabase ? props.database.access() : props.database;
    const users = props.databaseUsers ?? DATABASE_USERS;
    const configDir = props.configDir ?? process.cwd();
    const root = projectRoot(configDir);
    const appEntry = (file: string) => {
      const path = isAbsolute(file) ? file : join(configDir, file);
      if (!existsSync(path))
        throw new Error(`sluice config: entry file ${file} not found in ${configDir} (set configDir to the folder of sluice.config.ts)`);
      return path;
    };
    this.bus = new events.EventBus(this, 'Bus');
    this.ruleDeadLetterQueue = new sqs.Queue(this, 'RuleTargetDlq', {
      // SQS-managed keys: EventBridge can write to it (an AWS-managed KMS key's policy cannot allow EventBridge).
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.ruleDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the rule targets; its depth alarms.',
    });
    const common = {
      vpc: db.vpc,
      securityGroups: [db.clientSecurityGroup],
      environment: {
        DB_HOST: db.proxyEndpoint,
        DB_PORT: String(db.dbPort),
        DB_NAME: db.databaseName,
        EVENT_BUS_NAME: this.bus.eventBusName,
        EVENT_SOURCE: SOURCE,
        // Enqueue and redrive refuse a queue without a worker, where a job would wait forever.
        SLUICE_QUEUES: props.config.queues.map((q) => q.name).join(','),
      },
    };
    const target = (fn: lambda.IFunction, event?: events.RuleTargetInput) =>
      new targets.LambdaFunction(fn, {
        event,
        retryAttempts: 4,
        maxEventAge: Duration.hours(2),
        deadLetterQueue: this.ruleDeadLetterQueue,
      });
    // Each function connects as its own database user, and may connect as no other.
    const withDb = (fn: SluiceFunction, user: DatabaseUserFunction, publishes: boolean) => {
      fn.addEnvironment('DB_USER', users[user]);
      db.grantConnect(fn, users[user]);
      if (publishes) this.bus.grantPutEventsTo(fn);
      return fn;
    };

    for (const q of props.config.queues) {
      const worker = withDb(
        new SluiceFunction(this, `Worker-${q.name}`, {
          ...common,
          entry: appEntry(props.config.functions.worker),
          projectRoot: root,
          description: `sluice worker: drains queue ${q.name}`,
          timeout: Duration.seconds(q.workerTimeoutSeconds),
          memorySize: q.memoryMb,
          reservedConcurrentExecutions: q.reservedConcurrency,
          environment: { ...common.environment, QUEUE: q.name, BATCH_SIZE: String(q.batchSize) },
        }),
        'worker',
        true,
      );
      this.workers[q.name] = worker;
    }

    const api = withDb(
      new SluiceFunction(this, 'Api', {
        ...common,
        entry: appEntry(props.config.functions.api),
        projectRoot: root,
        description: 'sluice enqueue API',
        timeout: Duration.seconds(29),
        memorySize: 512,
      }),
      'api',
      true,
    );
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'sluice enqueue API',
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: false,
    });
    new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.apiRateLimit ?? 100, burstLimit: props.apiBurstLimit ?? 200 },
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs) },
    });
    this.httpApi.addRoutes({
      path: '/v1/{proxy+}',
      methods: [apigwv2.HttpMethod.ANY],
      integration: new HttpLambdaIntegration('ApiIntegration', api),
    });

    const maintenance = withDb(
      new SluiceFunction(this, 'Maintenance', {
        ...common,
        entry: sluiceEntry('maintenance'),
        projectRoot: root,
        description: 'sluice prune and stats',
        timeout: Duration.minutes(5),
      }),
      'maintenance',
      false,
    );
    // The schema's owner: connects to the instance itself with the admin secret (read at each run, so a
    // rotation never breaks it), migrates, then creates the function users and grants each its access.
    const migrate = new SluiceFunction(this, 'Migrate', {
      vpc: db.vpc,
      securityGroups: [db.adminSecurityGroup],
      entry: sluiceEntry('migrate'),
      projectRoot: root,
      withMigrations: true,
      description: 'sluice migrations and database users (deploy trigger)',
      timeout: Duration.minutes(5),
      environment: {
        DB_SECRET_ARN: db.adminSecret.secretArn,
        DB_NAME: db.databaseName,
        DB_USERS: JSON.stringify(users),
        // RDS grants IAM login to members of rds_iam; the proxy logs in as these users with IAM.
        DB_USER_ROLES: 'rds_iam',
        // Node 20+ Lambda runtimes load no Amazon CAs by default; the instance's certificate needs the RDS ones.
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      },
    });
    db.adminSecret.grantRead(migrate);
    // Functions are created or updated only after the migrations ran and their database users exist.
    const migrateTrigger = new triggers.Trigger(this, 'MigrateOnDeploy', {
      handler: migrate,
      executeOnHandlerChange: true,
      executeAfter: db.readyAfter,
      timeout: Duration.minutes(5), // as long as the function, which retries while the proxy comes up
    });

    const others: lambda.IFunction[] = [maintenance, migrate];
    let periodicFn: lambda.IFunction | undefined;
    if (props.config.periodicJobs.length > 0) {
      if (!props.config.functions.periodic) throw new Error('sluice config: periodic jobs need a functions.periodic entry file');
      const periodic = withDb(
        new SluiceFunction(this, 'Periodic', {
          ...common,
          entry: appEntry(props.config.functions.periodic),
          projectRoot: root,
          description: 'sluice periodic jobs',
          timeout: Duration.seconds(30),
        }),
        'periodic',
        true,
      );
      others.push(periodic);
      periodicFn = periodic;
    }

    this.migrateTrigger = migrateTrigger;
    migrateTrigger.executeBefore(...Object.values(this.workers), api, maintenance, ...(periodicFn ? [periodicFn] : []));

    // Every rule, from the same list the local dev server routes by (infra/rules.ts).
    for (const rule of sluiceRules(props.config, SOURCE)) {
      const fn =
        rule.target.function === 'worker'
          ? this.workers[rule.target.queue]
          : rule.target.function === 'maintenance'
            ? maintenance
            : periodicFn;
      if (!fn) throw new Error(`rule ${rule.id} targets a function this stack does not define`);
      new events.Rule(this, rule.id, {
        description: rule.description,
        ...(rule.schedule
          ? {
              schedule:
                'rateMinutes' in rule.schedule
                  ? events.Schedule.rate(Duration.minutes(rule.schedule.rateMinutes))
                  : events.Schedule.expression(rule.schedule.expression),
            }
          : { eventBus: this.bus, eventPattern: toCdkPattern(rule.eventPattern ?? {}) }),
        targets: [target(fn, rule.input ? events.RuleTargetInput.fromObject(ruleInput(rule, events.EventField.time)) : undefined)],
      });
    }

    this.wakeUpEnvironment = { EVENT_BUS_NAME: this.bus.eventBusName, EVENT_SOURCE: SOURCE };
    this.monitoring = new SluiceMonitoring(this, 'Monitoring', {
      queues: props.config.queues,
      workers: this.workers,
      apiFunction: api,
      otherFunctions: others,
      httpApi: this.httpApi,
      deadLetterQueues: [this.ruleDeadLetterQueue],
      alarmEmail: props.alarmEmail,
      alarmTopic: props.alarmTopic,
      healthAlarms: props.healthAlarms,
    });
    this.alarmTopic = this.monitoring.alarmTopic;

    // What `sluice smoke --stack` reads to probe the deployment (it finds them by these ids).
    new CfnOutput(this, 'SluiceApiUrl', { value: this.httpApi.apiEndpoint, description: 'sluice: the enqueue API (IAM-authorized)' });
    new CfnOutput(this, 'SluiceQueues', {
      value: props.config.queues.map((q) => q.name).join(','),
      description: 'sluice: the queues with a worker',
    });
    new CfnOutput(this, 'SluiceAlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'sluice: where alarms go' });
  }

  /**
   * Let an app's own function wake the workers after it enqueues in its own transaction (`createWakeUp`
   * from `sluice/lambda`): it may put events on the sluice bus, and gets `EVENT_BUS_NAME` and `EVENT_SOURCE`.
   */
  grantWakeUp(fn: lambda.Function): void {
    this.bus.grantPutEventsTo(fn);
    for (const [k, v] of Object.entries(this.wakeUpEnvironment)) fn.addEnvironment(k, v);
    this.afterMigrations(fn);
  }

  /** Create or update `constructs` (an app's own producers, say) only after the migrations ran on deploy. */
  afterMigrations(...constructs: Construct[]): void {
    this.migrateTrigger.executeBefore(...constructs);
  }
}

/** The pattern in CDK's shape (camelCase top-level keys such as detailType). */
function toCdkPattern(pattern: EventPattern): events.EventPattern {
  const keys: Record<string, keyof events.EventPattern> = { 'detail-type': 'detailType' };
  return Object.fromEntries(Object.entries(pattern).map(([k, v]) => [keys[k] ?? k, v])) as events.EventPattern;
}
