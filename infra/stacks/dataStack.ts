import { Fn, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SluiceDatabase, type SluiceDatabaseProps } from '../constructs/database.js';

export interface SluiceDataStackProps extends StackProps, SluiceDatabaseProps {}

/**
 * `SluiceDatabase` in a stack of its own, for apps that keep the data tier apart from the queue tier (as
 * the example app does): the data stack changes rarely, and never with a code deploy.
 */
export class SluiceDataStack extends Stack {
  readonly database: SluiceDatabase;
  private readonly azs: string[];

  constructor(scope: Construct, id: string, props: SluiceDataStackProps = {}) {
    super(scope, id, props);
    this.azs = props.availabilityZones ?? [0, 1].map((i) => Fn.select(i, Fn.getAzs()));
    this.database = new SluiceDatabase(this, 'Database', { ...props, availabilityZones: undefined });
  }

  /**
   * Never a context lookup: a stack with a concrete env would otherwise ask the account for its AZs at
   * synth time, which needs credentials.
   */
  override get availabilityZones(): string[] {
    return this.azs;
  }
}
