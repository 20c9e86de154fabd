/**
 * The example app's CDK app (`npx cdk deploy --all` from the repository root, whose cdk.json runs this):
 * the data tier in one stack, the queue tier in another, both from `sluice/cdk` as an outside team
 * would. Context (cdk.json or -c): `alarmEmail`, `multiAz` (false), `deletionProtection` (true).
 * Synthesises offline: no lookups.
 */
import { pathToFileURL } from 'node:url';
import { App, Stack, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SluiceDataStack, SluiceQueue } from 'sluice/cdk';
import config from './sluice.config.js';

/** The example app's root: its entry files are relative to this folder, as sluice.config.ts says. */
const ROOT = import.meta.dirname;

export function buildApp(
  app: App = new App(),
  options: { nag?: boolean } = {},
): { app: App; data: SluiceDataStack; queue: Stack; sluice: SluiceQueue } {
  const ctx = (key: string) => app.node.tryGetContext(key) as string | boolean | undefined;
  const bool = (key: string, fallback: boolean) => {
    const v = ctx(key);
    return v === undefined ? fallback : v === true || v === 'true';
  };
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const data = new SluiceDataStack(app, 'SluiceData', {
    env,
    multiAz: bool('multiAz', false),
    deletionProtection: bool('deletionProtection', true),
  });
  const queue = new Stack(app, 'SluiceQueue', { env });
  const sluice = new SluiceQueue(queue, 'Sluice', {
    config,
    configDir: ROOT,
    database: data.database,
    alarmEmail: (ctx('alarmEmail') as string | undefined) || undefined,
  });
  Tags.of(app).add('app', 'sluice');
  // cdk-nag 3 is a policy-validation plugin: an unacknowledged AwsSolutions finding fails the synth.
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks());
  return { app, data, queue, sluice };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) buildApp().app.synth();
