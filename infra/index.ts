/**
 * `sluice/cdk`: the constructs an app adds to its own CDK app. `aws-cdk-lib` and `constructs` are peer
 * dependencies: install them in the app (nothing a producer or a handler imports pulls this module in).
 *
 * @example
 * // infra/app.ts — the app's CDK app
 * import { App, Stack } from 'aws-cdk-lib';
 * import { SluiceDatabase, SluiceQueue } from 'sluice/cdk';
 * import config from '../sluice.config.js';
 *
 * const app = new App();
 * const stack = new Stack(app, 'Jobs');
 * new SluiceQueue(stack, 'Queue', { config, database: new SluiceDatabase(stack, 'Db'), alarmEmail: 'oncall@example.com' });
 */
export { BUNDLE_OPTIONS } from './bundling.js';
export { checkJobsFitWorkers, DATABASE_USERS } from './config.js';
export { SluiceDatabase, type SluiceDatabaseProps } from './constructs/database.js';
export { type DatabaseAccess, type ExistingDatabaseProps, existingDatabase } from './constructs/databaseAccess.js';
export { HEALTH_ALARM_DEFAULTS, type HealthAlarms, SluiceMonitoring, type SluiceMonitoringProps } from './constructs/monitoring.js';
export { SluiceQueue, type SluiceQueueProps } from './constructs/queue.js';
export { type RuleSpec, sluiceRules } from './rules.js';
export { SluiceDataStack, type SluiceDataStackProps } from './stacks/dataStack.js';
