import { Duration, Names, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DATABASE_USERS } from '../config.js';
import type { DatabaseAccess } from './databaseAccess.js';

export interface SluiceDatabaseProps {
  /** A standby instance in a second AZ (doubles the instance cost). Default false. */
  multiAz?: boolean;
  /** Refuse to delete the instance (turn off before tearing down). Default true. */
  deletionProtection?: boolean;
  /** The database port; deliberately not 5432. Default 5433. */
  dbPort?: number;
  /** The availability zones of the VPC. Default: the stack's first two (`Fn::GetAZs` in an environment-agnostic stack). */
  availabilityZones?: string[];
  /** The instance class. Default t4g.micro. */
  instanceType?: ec2.InstanceType;
  /**
   * The database users the functions connect as through the proxy (the migrate function creates them).
   * The proxy may log in as these, and no other, with end-to-end IAM auth. Default: `DATABASE_USERS`.
   */
  databaseUsers?: readonly string[];
}

/**
 * The data tier: a VPC with isolated subnets only (no NAT; AWS APIs through interface endpoints),
 * RDS PostgreSQL with IAM authentication, and an RDS Proxy that requires TLS and end-to-end IAM auth:
 * each function connects to the proxy as its own database user with an IAM token, and the proxy logs in to
 * the database as that user with IAM too, so no function user has a password. The admin credentials live
 * in Secrets Manager and rotate; only the migrate function reads them, and it connects to the instance
 * directly (the proxy knows no password).
 */
export class SluiceDatabase extends Construct {
  readonly vpc: ec2.Vpc;
  readonly instance: rds.DatabaseInstance;
  readonly proxy: rds.DatabaseProxy;
  /** Attach to every sluice function: reaches the proxy on the database port and the EventBridge endpoint. */
  readonly proxyClientSecurityGroup: ec2.SecurityGroup;
  /** Attach to the migrate function only: reaches the instance itself and the Secrets Manager endpoint. */
  readonly adminClientSecurityGroup: ec2.SecurityGroup;
  /** The admin credentials (RDS-generated JSON: host, port, username, password), rotated every 30 days. */
  readonly adminSecret: secretsmanager.ISecret;
  readonly databaseUsers: readonly string[];
  /** The database instance's (non-default) port: the proxy's path to it. */
  readonly dbPort: number;
  /** RDS Proxy for PostgreSQL always listens on 5432, whatever the instance's port: clients use this. */
  readonly proxyPort = 5432;
  readonly databaseName = 'sluice';
  readonly adminUser = 'sluice_admin';

  constructor(scope: Construct, id: string, props: SluiceDatabaseProps = {}) {
    super(scope, id);
    this.dbPort = props.dbPort ?? 5433;
    const multiAz = props.multiAz ?? false;
    const deletionProtection = props.deletionProtection ?? true;
    const isolated: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : { maxAzs: 2 }),
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      // Nothing uses the default security group; leaving it alone avoids a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL },
      },
    });

    // Attach to every sluice function: it may reach the proxy and the EventBridge endpoint, nothing else.
    this.proxyClientSecurityGroup = new ec2.SecurityGroup(this, 'ProxyClients', {
      vpc: this.vpc,
      description: 'sluice functions: reach the RDS Proxy and the EventBridge endpoint',
      allowAllOutbound: true,
    });
    const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
      vpc: this.vpc,
      description: 'sluice RDS Proxy',
      allowAllOutbound: false,
    });
    this.adminClientSecurityGroup = new ec2.SecurityGroup(this, 'AdminClients', {
      vpc: this.vpc,
      description: 'sluice migrate function: reach the instance as its owner and the Secrets Manager endpoint',
      allowAllOutbound: true,
    });
    const rotationSecurityGroup = new ec2.SecurityGroup(this, 'RotationSecurityGroup', {
      vpc: this.vpc,
      description: 'sluice admin secret rotation function',
      allowAllOutbound: true,
    });

    // The AWS APIs called from the isolated subnets, each open only to its callers (private DNS, so the
    // SDK's default hostnames resolve to the endpoint). RDS IAM tokens are signed locally and Lambda ships
    // its logs out of band, so neither needs an endpoint.
    const eventsEndpoint = this.vpc.addInterfaceEndpoint('EventBridgeEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
      subnets: isolated,
      open: false,
    });
    eventsEndpoint.connections.allowDefaultPortFrom(this.proxyClientSecurityGroup, 'sluice functions to EventBridge');
    const secretsEndpoint = this.vpc.addInterfaceEndpoint('SecretsManagerEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: isolated,
      open: false,
    });
    secretsEndpoint.connections.allowDefaultPortFrom(rotationSecurityGroup, 'secret rotation to Secrets Manager');
    secretsEndpoint.connections.allowDefaultPortFrom(this.adminClientSecurityGroup, 'migrate function to Secrets Manager');

    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_5 });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'sluice: TLS required for every connection',
      parameters: { 'rds.force_ssl': '1' },
    });

    this.instance = new rds.DatabaseInstance(this, 'Database', {
      engine,
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MICRO),
      vpc: this.vpc,
      vpcSubnets: isolated,
      port: this.dbPort,
      databaseName: this.databaseName,
      credentials: rds.Credentials.fromGeneratedSecret(this.adminUser),
      parameterGroup,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      iamAuthentication: true,
      multiAz,
      deletionProtection,
      backupRetention: Duration.days(7),
      removalPolicy: RemovalPolicy.SNAPSHOT,
      cloudwatchLogsExports: ['postgresql'],
      autoMinorVersionUpgrade: true,
    });

    // The SAR rotation function runs in the isolated subnets; addRotationSingleUser opens its path to the
    // instance, and it reaches Secrets Manager through the endpoint above.
    this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: isolated,
      securityGroup: rotationSecurityGroup,
    });

    this.adminSecret = this.instance.secret!;
    this.instance.connections.allowDefaultPortFrom(this.adminClientSecurityGroup, 'migrate function to the instance, as its owner');

    // End-to-end IAM: the proxy's role may log in to the instance as the function users, and as nobody else.
    this.databaseUsers = props.databaseUsers ?? Object.values(DATABASE_USERS);
    const proxyRole = new iam.Role(this, 'ProxyRole', {
      assumedBy: new iam.ServicePrincipal('rds.amazonaws.com'),
      description: 'sluice RDS Proxy: IAM login to the database as the function users',
    });
    for (const user of this.databaseUsers) this.instance.grantConnect(proxyRole, user);
    // addProxy also opens the instance's security group to the proxy on the database port.
    this.proxy = this.instance.addProxy('Proxy', {
      dbProxyName: Names.uniqueResourceName(this, { maxLength: 54, separator: '-' }) + '-proxy',
      vpc: this.vpc,
      vpcSubnets: isolated,
      defaultAuthScheme: rds.DefaultAuthScheme.IAM_AUTH,
      role: proxyRole,
      securityGroups: [proxySecurityGroup],
      requireTLS: true,
      borrowTimeout: Duration.seconds(30),
      idleClientTimeout: Duration.minutes(30),
    });
    this.proxy.connections.allowFrom(this.proxyClientSecurityGroup, ec2.Port.tcp(this.proxyPort), 'sluice functions to the proxy');

    this.acknowledgeFindings(multiAz, deletionProtection);
  }

  /** Allow `grantee` to open IAM-authenticated connections to the proxy as `dbUser`, one of `databaseUsers`. */
  grantConnect(grantee: iam.IGrantable, dbUser: string): void {
    if (!this.databaseUsers.includes(dbUser)) {
      throw new Error(`${dbUser} is not one of the proxy's database users (${this.databaseUsers.join(', ')})`);
    }
    this.proxy.grantConnect(grantee, dbUser);
  }

  /** What the queue tier needs of this database (`SluiceQueue`'s `database`). */
  access(): DatabaseAccess {
    return {
      vpc: this.vpc,
      proxyEndpoint: this.proxy.endpoint,
      dbPort: this.proxyPort,
      databaseName: this.databaseName,
      clientSecurityGroup: this.proxyClientSecurityGroup,
      grantConnect: (grantee, user) => this.grantConnect(grantee, user),
      adminSecret: this.adminSecret,
      adminSecurityGroup: this.adminClientSecurityGroup,
      readyAfter: [this.instance, this.proxy],
    };
  }

  /** cdk-nag (v3) acknowledgements: each one states why the finding is accepted. */
  private acknowledgeFindings(multiAz: boolean, deletionProtection: boolean): void {
    const db = Validations.of(this.instance);
    if (!multiAz) {
      db.acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'Multi-AZ is a deployment setting (context multiAz); off by default to halve the at-rest cost of small deployments.',
      });
    }
    if (!deletionProtection) {
      db.acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Deletion protection was turned off explicitly (context deletionProtection=false), e.g. to tear the stack down.',
      });
    }
  }
}
