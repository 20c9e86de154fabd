/**
 * The one place a deployment declares its queues and periodic jobs. Each queue gets a worker function, a
 * safety-net schedule and wake-up rules; each periodic job an EventBridge rule that enqueues it with an
 * idempotency key derived from the scheduled time. Job types live in examples/definitions.ts.
 */
import { parseSluiceConfig } from './config.js';

export const sluiceConfig = parseSluiceConfig({
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
