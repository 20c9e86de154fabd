import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SluiceDataStack as DataStack, type SluiceDataStackProps as DataStackProps } from '../infra/stacks/dataStack.js';

const env = { account: '123456789012', region: 'eu-west-1' };
const newApp = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

const USERS = ['sluice_api', 'sluice_worker'];

function synth(props: Partial<DataStackProps> = {}) {
  const app = newApp();
  const stack = new DataStack(app, 'SluiceData', { env, databaseUsers: USERS, ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Logical id of the single resource of `type` in the template. */
function logicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  assert.equal(ids.length, 1, `expected one ${type}, found ${ids.length}`);
  return ids[0]!;
}

/** cdk-nag v3 runs as a validation plugin; validateScope is its direct entry point. */
function nagFindings(stack: Stack): string[] {
  Template.fromStack(stack); // synthesize first, so lazy values and aspects are in place
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}: ${v.description}`),
  );
}

describe('DataStack: network', () => {
  const { template, stack } = synth();

  it('has only isolated subnets, in two AZs, with no NAT or internet route', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::Route', 0);
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    assert.equal(subnets.length, 2);
    for (const subnet of subnets) {
      assert.equal(subnet.Properties.MapPublicIpOnLaunch, false);
      assert.ok(
        subnet.Properties.Tags.some((t: { Key: string; Value: string }) => t.Key === 'aws-cdk:subnet-type' && t.Value === 'Isolated'),
      );
    }
    assert.equal(new Set(subnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone))).size, 2);
    assert.equal(stack.database.vpc.publicSubnets.length + stack.database.vpc.privateSubnets.length, 0);
  });

  it('needs no context lookup even with a concrete account and region', () => {
    const { app } = synth();
    assert.deepEqual(app.synth().manifest.missing ?? [], []);
  });

  it('logs all VPC traffic to CloudWatch Logs', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceId: { Ref: logicalId(template, 'AWS::EC2::VPC') },
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
  });

  for (const [name, service] of [
    ['EventBridge', 'events'],
    ['Secrets Manager', 'secretsmanager'],
  ] as const) {
    it(`has a private-DNS interface endpoint for ${name}, closed to the rest of the VPC`, () => {
      const endpoints = template.findResources('AWS::EC2::VPCEndpoint', {
        Properties: { ServiceName: `com.amazonaws.eu-west-1.${service}`, VpcEndpointType: 'Interface', PrivateDnsEnabled: true },
      });
      assert.equal(Object.keys(endpoints).length, 1);
      const sgRef = Object.values(endpoints)[0]!.Properties.SecurityGroupIds[0]['Fn::GetAtt'][0];
      const sg = template.findResources('AWS::EC2::SecurityGroup')[sgRef]!;
      assert.equal(sg.Properties.SecurityGroupIngress, undefined, 'no CIDR ingress: callers are named by security group');
    });
  }

  it('opens the Secrets Manager endpoint to the migrate function and the rotation function only', () => {
    const ingress = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseVpcSecretsManagerEndpointSecurityGroup'), 'GroupId'] } },
    });
    const sources = Object.values(ingress).map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, ''));
    assert.deepEqual(sources.sort(), ['DatabaseAdminClients', 'DatabaseRotationSecurityGroup']);
  });

  it('opens the EventBridge endpoint to the functions security group', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      SourceSecurityGroupId: {
        'Fn::GetAtt': [stack.getLogicalId(stack.database.proxyClientSecurityGroup.node.defaultChild as ec2.CfnSecurityGroup), 'GroupId'],
      },
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseVpcEventBridgeEndpointSecurityGroup'), 'GroupId'] },
    });
  });
});

describe('DataStack: database', () => {
  it('is encrypted, IAM-authenticated, on a non-default port, backed up, with safe defaults', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      Port: '5433',
      PubliclyAccessible: false,
      DBName: 'sluice',
      MasterUsername: 'sluice_admin',
      EnableCloudwatchLogsExports: ['postgresql'],
      DeletionProtection: true,
      MultiAZ: false,
      DBInstanceClass: 'db.t4g.micro',
    });
    const db = Object.values(template.findResources('AWS::RDS::DBInstance'))[0]!;
    assert.ok(db.Properties.BackupRetentionPeriod >= 7);
    assert.equal(db.DeletionPolicy, 'Snapshot');
  });

  for (const value of [true, false]) {
    it(`takes deletionProtection=${value} and multiAz=${value} from the props`, () => {
      const { template } = synth({ deletionProtection: value, multiAz: value });
      template.hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: value, MultiAZ: value });
    });
  }

  it('uses the configured port for the instance; clients reach the proxy on 5432, where RDS Proxy listens', () => {
    const { template, stack } = synth({ dbPort: 6543 });
    assert.equal(stack.database.dbPort, 6543);
    assert.equal(stack.database.proxyPort, 5432);
    template.hasResourceProperties('AWS::RDS::DBInstance', { Port: '6543' });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseProxyClients'), 'GroupId'] },
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseProxySecurityGroup'), 'GroupId'] },
    });
  });

  it('forces TLS in the parameter group the instance uses', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', { Parameters: { 'rds.force_ssl': '1' } });
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      DBParameterGroupName: { Ref: logicalId(template, 'AWS::RDS::DBParameterGroup') },
    });
  });

  it('rotates the admin secret with a function in the isolated subnets', () => {
    const { template } = synth();
    const attachment = logicalId(template, 'AWS::SecretsManager::SecretTargetAttachment');
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: attachment },
      RotationLambdaARN: { 'Fn::GetAtt': [Match.anyValue(), 'Outputs.RotationLambdaARN'] },
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    });
    const subnetIds = Object.keys(template.findResources('AWS::EC2::Subnet')).map((id) => ({ Ref: id }));
    template.hasResourceProperties('AWS::Serverless::Application', {
      Parameters: { vpcSubnetIds: { 'Fn::Join': ['', [subnetIds[0], ',', subnetIds[1]]] } },
    });
  });
});

describe('DataStack: proxy', () => {
  it('requires TLS and end-to-end IAM auth, and knows no password', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      DefaultAuthScheme: 'IAM_AUTH',
      Auth: Match.absent(),
    });
    const proxyRole = Object.values(template.findResources('AWS::RDS::DBProxy'))[0]!.Properties.RoleArn['Fn::GetAtt'][0];
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: proxyRole }] } }));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    assert.ok(
      statements.every((st: { Action: string }) => st.Action === 'rds-db:connect'),
      'the proxy role reads no secret and does nothing but log in',
    );
    const users = statements.map((st: { Resource: { 'Fn::Join': [string, unknown[]] } }) => st.Resource['Fn::Join'][1].at(-1));
    assert.deepEqual(users.sort(), ['/sluice_api', '/sluice_worker'], 'it may log in as the function users, and as nobody else');
    const instanceId = logicalId(template, 'AWS::RDS::DBInstance');
    for (const st of statements) {
      assert.ok(JSON.stringify(st.Resource).includes(JSON.stringify({ 'Fn::GetAtt': [instanceId, 'DbiResourceId'] })), 'on this instance');
    }
  });

  it('is the only path from the clients to the instance', () => {
    const { template } = synth();
    const dbSg = Match.stringLikeRegexp('^DatabaseSecurityGroup');
    const dbIngress = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { GroupId: { 'Fn::GetAtt': [dbSg, 'GroupId'] } },
    });
    const sources = Object.values(dbIngress).map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]);
    assert.deepEqual(sources.map((s: string) => s.replace(/[0-9A-F]{8}$/, '')).sort(), [
      'DatabaseAdminClients',
      'DatabaseProxySecurityGroup',
      'DatabaseRotationSecurityGroup',
    ]);
  });

  it('grantConnect allows rds-db:connect on the proxy resource id for one function user, and refuses others', () => {
    const app = newApp();
    const stack = new DataStack(app, 'SluiceData', { env, databaseUsers: USERS });
    const role = new iam.Role(stack, 'Fn', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    stack.database.grantConnect(role, 'sluice_worker');
    assert.throws(() => stack.database.grantConnect(role, 'sluice_admin'), /sluice_admin is not one of the proxy's database users/);
    const proxyId = logicalId(Template.fromStack(stack), 'AWS::RDS::DBProxy');
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: stack.getLogicalId(role.node.defaultChild as iam.CfnRole) }],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'rds-db:connect',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([
                  Match.stringLikeRegexp(':rds-db:eu-west-1:123456789012:dbuser:$'),
                  { 'Fn::Select': [6, { 'Fn::Split': [':', { 'Fn::GetAtt': [proxyId, 'DBProxyArn'] }] }] },
                  '/sluice_worker',
                ]),
              ],
            },
          },
        ],
      },
    });
  });
});

describe('DataStack: cdk-nag AwsSolutions', () => {
  for (const props of [{}, { multiAz: true, deletionProtection: false }, { multiAz: false, deletionProtection: true }]) {
    it(`has no unacknowledged findings with ${JSON.stringify(props)}`, () => {
      assert.deepEqual(nagFindings(synth(props).stack), []);
    });
  }

  it('acknowledges only the findings the settings cause, each with a reason', () => {
    const acknowledged = (props: Partial<DataStackProps>) =>
      synth(props)
        .stack.node.findAll()
        .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
        .flatMap((m) => Object.entries(m.data as Record<string, string>))
        .map(([id, reason]) => [id.replace(/^Annotation::/, ''), reason] as const)
        .filter(([id]) => id.startsWith('AwsSolutions-'));
    assert.deepEqual(acknowledged({ multiAz: true, deletionProtection: true }), []);
    const ids = acknowledged({ multiAz: false, deletionProtection: false });
    assert.deepEqual(ids.map(([id]) => id).sort(), ['AwsSolutions-RDS10', 'AwsSolutions-RDS3']);
    for (const [, reason] of ids) assert.ok(reason.length > 30);
  });

  it('passes as a synth-time validation plugin, as the app registers it', () => {
    const app = newApp();
    new DataStack(app, 'SluiceData', { env, databaseUsers: USERS });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.doesNotThrow(() => app.synth());
  });

  it('would report a finding (control: a VPC without flow logs)', () => {
    const stack = new Stack(newApp(), 'Control');
    new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    assert.ok(nagFindings(stack).some((f) => f.includes('AwsSolutions-VPC7')));
  });
});
