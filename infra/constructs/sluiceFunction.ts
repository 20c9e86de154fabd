import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BUNDLE_OPTIONS, MIGRATIONS_DIR } from '../bundling.js';

export { sluiceEntry } from '../bundling.js';

/** The lock files esbuild's bundling may find at an app's root, in the order NodejsFunction prefers them. */
const LOCK_FILES = ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock'];

export interface SluiceFunctionProps {
  /** The entry file (absolute): one of the app's, or one of sluice's own (`sluiceEntry`). */
  entry: string;
  /** The app's root: esbuild runs there, and its lock file is there. */
  projectRoot: string;
  /** Copy sluice's migrations beside the bundle (the migrate function). */
  withMigrations?: boolean;
  description: string;
  timeout: Duration;
  memorySize?: number | undefined;
  reservedConcurrentExecutions?: number | undefined;
  environment: Record<string, string>;
  vpc: ec2.IVpc;
  securityGroups: ec2.ISecurityGroup[];
}

/** `BUNDLE_OPTIONS` in NodejsFunction's shape: the locally installed esbuild, never Docker. */
export function nodejsBundling(): nodejs.BundlingOptions {
  const o = BUNDLE_OPTIONS;
  return {
    format: o.format === 'esm' ? nodejs.OutputFormat.ESM : nodejs.OutputFormat.CJS,
    platform: o.platform,
    target: o.target,
    minify: o.minify,
    sourceMap: o.sourcemap,
    externalModules: [...o.external],
    banner: o.banner,
    forceDockerBundling: false,
    esbuildArgs: { '--legal-comments': o.legalComments, ...(o.conditions.length > 0 ? { '--conditions': o.conditions.join(',') } : {}) },
  };
}

function migrationsHook(withMigrations: boolean): nodejs.ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) =>
      withMigrations ? [`cp -r "${MIGRATIONS_DIR}" "${outputDir}/migrations"`] : [],
  };
}

function lockFile(root: string): string {
  return LOCK_FILES.map((f) => join(root, f)).find((f) => existsSync(f)) as string;
}

/** The nearest folder at or above `dir` with a lock file: where the app's package.json and node_modules are. */
export function projectRoot(dir: string): string {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (LOCK_FILES.some((f) => existsSync(join(d, f)))) return d;
    if (dirname(d) === d)
      throw new Error(`no lock file (${LOCK_FILES.join(', ')}) in ${dir} or above it: install the app's dependencies first`);
  }
}

/**
 * Every sluice Lambda, with the house defaults in one place: a current Node.js runtime on arm64, JSON logs
 * kept 30 days, source maps, and esbuild bundling (`BUNDLE_OPTIONS`) into an ESM bundle with the
 * createRequire banner, leaving the SDK's clients to the runtime. The migrate function gets sluice's
 * migrations copied beside its bundle.
 */
export class SluiceFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: lockFile(props.projectRoot),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: props.securityGroups,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'sluice',
        POWERTOOLS_METRICS_NAMESPACE: 'Sluice',
        ...props.environment,
      },
      bundling: { ...nodejsBundling(), commandHooks: migrationsHook(Boolean(props.withMigrations)) },
    });
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "Lambda's minimal logging grant (CreateLogStream/PutLogEvents); the function writes only to its own log group.",
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'The minimal grant for a function in a VPC (create, describe and delete its ENIs); these EC2 actions take no resource scoping.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords), which supports no resource-level permissions.',
      },
    );
  }
}
