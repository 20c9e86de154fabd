import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type FunctionName, LAMBDA_BANNER, RUNTIME_PROVIDED_MODULES } from '../../scripts/bundling.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SluiceFunctionProps {
  /** The folder under functions/ holding handler.ts: api, worker, maintenance, migrate or periodic. */
  entry: FunctionName;
  description: string;
  timeout: Duration;
  memorySize?: number | undefined;
  reservedConcurrentExecutions?: number | undefined;
  environment: Record<string, string>;
  vpc: ec2.IVpc;
  securityGroups: ec2.ISecurityGroup[];
}

/**
 * Every sluice Lambda, with the house defaults in one place: a current Node.js runtime on arm64, JSON logs
 * kept 30 days, source maps, and esbuild bundling with the locally installed esbuild (never Docker) into
 * an ESM bundle with the createRequire banner, leaving the SDK's clients to the runtime. The migrate
 * function gets the migrations/ folder copied beside its bundle.
 */
export class SluiceFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: `${ROOT}functions/${props.entry}/handler.ts`,
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: `${ROOT}package-lock.json`,
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
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        platform: 'node',
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        externalModules: RUNTIME_PROVIDED_MODULES,
        banner: LAMBDA_BANNER,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) =>
            props.entry === 'migrate' ? [`cp -r "${inputDir}/migrations" "${outputDir}/migrations"`] : [],
        },
      },
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
