import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

/** What the queue tier needs of a database: `SluiceDatabase.access()`, or `existingDatabase(...)` for one you have. */
export interface DatabaseAccess {
  vpc: ec2.IVpc;
  proxyEndpoint: string;
  dbPort: number;
  databaseName: string;
  /** Attached to every function with a database user: reaches the proxy and the EventBridge endpoint. */
  clientSecurityGroup: ec2.ISecurityGroup;
  /** Allow `grantee` to connect to the proxy as `user`. */
  grantConnect(grantee: iam.IGrantable, user: string): void;
  /** The admin credentials: only the migrate function reads them, to connect to the instance as the owner. */
  adminSecret: secretsmanager.ISecret;
  /** Lets the migrate function reach the instance and the Secrets Manager endpoint. */
  adminSecurityGroup: ec2.ISecurityGroup;
  /** What the migrations must wait for (the instance and the proxy, ready to accept connections). */
  readyAfter: Construct[];
}

export interface ExistingDatabaseProps {
  vpc: ec2.IVpc;
  /** An RDS Proxy for PostgreSQL with end-to-end IAM auth, allowed to log in as sluice's database users. */
  proxy: rds.IDatabaseProxy;
  /** The secret of a user that owns (or may create) the sluice schema: JSON with host, port, username, password. */
  adminSecret: secretsmanager.ISecret;
  /** Attached to the functions: must reach the proxy on 5432 (and the EventBridge endpoint, if any). */
  clientSecurityGroup: ec2.ISecurityGroup;
  /** Attached to the migrate function: must reach the instance and Secrets Manager. */
  adminSecurityGroup: ec2.ISecurityGroup;
  /** Default `sluice`. */
  databaseName?: string;
  /** Default 5432 (RDS Proxy for PostgreSQL listens there). */
  proxyPort?: number;
  readyAfter?: Construct[];
}

/**
 * A database tier the team already runs, in the shape `SluiceQueue` takes. The proxy must use end-to-end
 * IAM auth and its role must be allowed to log in as sluice's users (`DATABASE_USERS`), which the migrate
 * function creates and grants on deploy (with `rds_iam`, so the proxy can log them in with IAM).
 *
 * @example
 * new SluiceQueue(stack, 'Jobs', {
 *   config,
 *   database: existingDatabase({ vpc, proxy, adminSecret, clientSecurityGroup, adminSecurityGroup }),
 * });
 */
export function existingDatabase(props: ExistingDatabaseProps): DatabaseAccess {
  return {
    vpc: props.vpc,
    proxyEndpoint: props.proxy.endpoint,
    dbPort: props.proxyPort ?? 5432,
    databaseName: props.databaseName ?? 'sluice',
    clientSecurityGroup: props.clientSecurityGroup,
    grantConnect: (grantee, user) => void props.proxy.grantConnect(grantee, user),
    adminSecret: props.adminSecret,
    adminSecurityGroup: props.adminSecurityGroup,
    readyAfter: props.readyAfter ?? [],
  };
}
