/**
 * `SluiceQueue` as a team uses it from `sluice/cdk`: in a stack of its own app, over a database tier the
 * team already runs (`existingDatabase`), with its own alarm topic; and the synth-time checks on the
 * team's own job types (a job that cannot fit its worker; a queue without one; a missing entry file).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defineJob } from 'sluice';
import { existingDatabase, SluiceQueue } from 'sluice/cdk';
import { defineConfig, parseSluiceConfig } from 'sluice/config';
import { z } from 'zod';

const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const report = defineJob({ type: 'team_report', schema: z.object({ id: z.string() }), queue: 'reports', timeout: 100_000 });
const functions = { api: 'functions/api.ts', worker: 'functions/worker.ts' };

function teamStack() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'TeamApp');
  const vpc = new ec2.Vpc(stack, 'TeamVpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const instance = new rds.DatabaseInstance(stack, 'TeamDb', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_5 }),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    iamAuthentication: true,
  });
  const proxy = instance.addProxy('TeamProxy', { vpc, secrets: [instance.secret as secretsmanager.ISecret], iamAuth: true });
  const clientSecurityGroup = new ec2.SecurityGroup(stack, 'Clients', { vpc });
  const adminSecurityGroup = new ec2.SecurityGroup(stack, 'Admin', { vpc });
  const database = existingDatabase({
    vpc,
    proxy,
    adminSecret: instance.secret as secretsmanager.ISecret,
    clientSecurityGroup,
    adminSecurityGroup,
  });
  return { app, stack, database, proxy };
}

describe('SluiceQueue in a team’s own stack', () => {
  it('runs over an existing database and proxy, alarming to the team’s topic', () => {
    const { stack, database } = teamStack();
    const topic = new sns.Topic(stack, 'OnCall');
    const config = defineConfig({
      jobs: [report],
      functions,
      queues: [{ name: 'reports', workerTimeoutSeconds: 300 }],
    });
    const queue = new SluiceQueue(stack, 'Jobs', { config, configDir: EXAMPLES, database, alarmTopic: topic });
    const t = Template.fromStack(stack);
    assert.deepEqual(Object.keys(queue.workers), ['reports']);
    assert.equal(queue.alarmTopic, topic);
    t.resourceCountIs('AWS::SNS::Topic', 1); // the team's, no second one
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) }],
    });
    // The workers connect through the team's proxy, as sluice's worker user.
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ QUEUE: 'reports', DB_USER: 'sluice_worker', DB_HOST: Match.anyValue() }) },
      Timeout: 300,
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'rds-db:connect',
            Resource: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('dbuser:$'), '/sluice_worker'])] },
          }),
        ]),
      },
    });
  });

  it('passes cdk-nag on sluice’s own resources', () => {
    const { stack, database } = teamStack();
    new SluiceQueue(stack, 'Jobs', {
      config: defineConfig({ jobs: [report], functions, queues: [{ name: 'reports', workerTimeoutSeconds: 300 }] }),
      configDir: EXAMPLES,
      database,
    });
    const findings = new AwsSolutionsChecks()
      .validateScope(stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`))
      .filter((f) => f.includes('/Jobs/'));
    assert.deepEqual(findings, []);
  });

  it('refuses at synth a job that cannot fit its worker, or whose queue has none, with the team’s type names', () => {
    const { stack, database } = teamStack();
    const unchecked = (queues: Array<{ name: string; workerTimeoutSeconds: number }>) =>
      ({ ...parseSluiceConfig({ jobs: [report], queues }), functions }) as Parameters<typeof defineConfig>[0] as never;
    assert.throws(
      () =>
        new SluiceQueue(stack, 'Short', {
          config: unchecked([{ name: 'reports', workerTimeoutSeconds: 60 }]),
          configDir: EXAMPLES,
          database,
        }),
      /job type team_report \(timeout 100000 ms\) cannot start on queue reports: raise workerTimeoutSeconds above 104/,
    );
    assert.throws(
      () =>
        new SluiceQueue(stack, 'None', {
          config: unchecked([{ name: 'default', workerTimeoutSeconds: 60 }]),
          configDir: EXAMPLES,
          database,
        }),
      /job type team_report uses queue reports, which declares no worker/,
    );
    const noPeriodicEntry = {
      ...parseSluiceConfig({
        jobs: [report],
        queues: [{ name: 'reports', workerTimeoutSeconds: 300 }],
        periodicJobs: [{ name: 'nightly', schedule: 'cron(0 3 * * ? *)', type: 'team_report', payload: { id: 'n' } }],
      }),
      functions,
    } as never;
    assert.throws(
      () => new SluiceQueue(stack, 'NoPeriodic', { config: noPeriodicEntry, configDir: EXAMPLES, database }),
      /periodic jobs need a functions\.periodic entry file/,
    );
    // defineConfig refuses the same when the config file loads, before any synth.
    assert.throws(
      () => defineConfig({ jobs: [report], functions, queues: [{ name: 'reports', workerTimeoutSeconds: 60 }] }),
      /cannot start/,
    );
  });

  it('refuses an entry file that does not exist, naming it and where it looked', () => {
    const { stack, database } = teamStack();
    const config = defineConfig({
      jobs: [report],
      functions: { api: 'functions/nope.ts', worker: 'functions/worker.ts' },
      queues: [{ name: 'reports', workerTimeoutSeconds: 300 }],
    });
    assert.throws(
      () => new SluiceQueue(stack, 'Jobs', { config, configDir: EXAMPLES, database }),
      /entry file functions\/nope\.ts not found in .*examples/,
    );
  });
});
