/**
 * `sluice/lambda`: the Lambda handler factories an app calls from its own entry files, and the wake-up a
 * producer calls after its own commit. Importing this module reads no environment and connects to
 * nothing: each factory parses the environment once, when it is called.
 *
 * @example
 * // functions/worker.ts
 * import { createWorkerHandler } from 'sluice/lambda';
 * import { handlers } from '../src/handlers.js';
 * export const handler = createWorkerHandler({ handlers });
 */
export { type ApiHandlerOptions, createApiHandler } from './api/handler.js';
export { createMaintenanceHandler, type MaintenanceHandlerOptions } from './maintenance/handler.js';
export { createMigrateHandler } from './migrate/handler.js';
export { createPeriodicHandler, type PeriodicHandlerOptions } from './periodic/handler.js';
export type { EventSink } from './shared/events.js';
export type { MetricsSink } from './shared/metricsSink.js';
export { xrayTracing } from './shared/tracing.js';
export { createWakeUp, type WakeUp } from './shared/wakeUp.js';
export { createWorkerHandler, type Enqueuer, type WorkerHandlerOptions } from './worker/handler.js';
