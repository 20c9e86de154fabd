/**
 * The CDK app: `npx cdk deploy --all`. Context (cdk.json or -c): `alarmEmail`, `multiAz` (false),
 * `deletionProtection` (true). Synthesises offline: no lookups.
 */
import { pathToFileURL } from 'node:url';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { definitions } from '../examples/definitions.js';
import { checkJobsFitWorkers, DATABASE_USERS } from './config.js';
import { sluiceConfig } from './sluice.config.js';
import { DataStack } from './stacks/dataStack.js';
import { QueueStack } from './stacks/queueStack.js';

export function buildApp(app: App = new App(), options: { nag?: boolean } = {}): { app: App; data: DataStack; queue: QueueStack } {
  const ctx = (key: string) => app.node.tryGetContext(key) as string | boolean | undefined;
  const bool = (key: string, fallback: boolean) => {
    const v = ctx(key);
    return v === undefined ? fallback : v === true || v === 'true';
  };
  checkJobsFitWorkers(sluiceConfig, definitions);
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const data = new DataStack(app, 'SluiceData', {
    env,
    multiAz: bool('multiAz', false),
    deletionProtection: bool('deletionProtection', true),
    databaseUsers: Object.values(DATABASE_USERS),
  });
  const queue = new QueueStack(app, 'SluiceQueue', {
    env,
    config: sluiceConfig,
    alarmEmail: (ctx('alarmEmail') as string | undefined) || undefined,
    database: {
      vpc: data.vpc,
      proxyEndpoint: data.proxy.endpoint,
      dbPort: data.proxyPort,
      databaseName: data.databaseName,
      users: DATABASE_USERS,
      clientSecurityGroup: data.proxyClientSecurityGroup,
      grantConnect: (grantee, user) => data.grantConnect(grantee, user),
      adminSecret: data.adminSecret,
      adminSecurityGroup: data.adminClientSecurityGroup,
      readyAfter: [data.instance, data.proxy],
    },
  });
  Tags.of(app).add('app', 'sluice');
  // cdk-nag 3 is a policy-validation plugin: an unacknowledged AwsSolutions finding fails the synth.
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks());
  return { app, data, queue };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) buildApp().app.synth();
