/**
 * The example app's one config file, as an outside team writes theirs at its app's root: its job types,
 * its entry files (relative to this file), its queues and periodic jobs. The CDK app (examples/cdk.ts),
 * `npm run dev` and the `sluice` CLI all read it. Each queue gets a worker function, a safety-net schedule
 * and wake-up rules; each periodic job an EventBridge rule that enqueues it with an idempotency key
 * derived from the scheduled time.
 */
import { defineConfig } from 'sluice/config';
import { definitions } from './definitions.js';

export default defineConfig({
  jobs: definitions,
  functions: { api: 'functions/api.ts', worker: 'functions/worker.ts', periodic: 'functions/periodic.ts' },
  queues: [
    { name: 'default', workerTimeoutSeconds: 120, reservedConcurrency: 5 },
    { name: 'emails', workerTimeoutSeconds: 60, reservedConcurrency: 10, oldestJobAgeAlarmSeconds: 300 },
    // generate_report runs for minutes: a long worker timeout, few at once, a small batch.
    { name: 'reports', workerTimeoutSeconds: 300, reservedConcurrency: 2, batchSize: 10, oldestJobAgeAlarmSeconds: 1800 },
  ],
  periodicJobs: [
    {
      name: 'daily-receipts-digest',
      schedule: 'cron(0 6 * * ? *)',
      type: 'send_email',
      payload: { userId: 'ops', to: 'ops@example.com', template: 'receipt' },
    },
  ],
  maintenanceScheduleMinutes: 5,
});
