export { ACCESS_PROFILES, type AccessProfile, type GrantAccessOptions, grantAccess, privilegesOf } from './access.js';
export type { ActivityPoint, QueueActivity } from './activity.js';
export { type Backoff, backoffCeilingMs, backoffDelayMs, DEFAULT_BACKOFF, retryPresets } from './backoff.js';
export { type SluiceSettings, type SluiceSettingsInput, sluiceOptionsSchema } from './config.js';
export { type AttemptTime, attributeCost, type CostShare, gbSecondsPer1000 } from './cost.js';
export { type ConnectionSource, type Queryable, quoteSchema } from './db.js';
export {
  defineJob,
  defineQueue,
  type JobDefinition,
  type JobLimits,
  type JobOptions,
  JobRegistry,
  type Payload,
  type PayloadInput,
  type QueueDefinition,
  type QueueLimits,
  type RateLimit,
} from './define.js';
export { type EnqueuedJob, type EnqueueItem, type EnqueueOptions, enqueueItem, enqueueOptionsSchema } from './enqueue.js';
export * from './errors.js';
export {
  type AnyJobHandler,
  defineHandler,
  type HandlerFn,
  type JobContext,
  type JobHandler,
  type Middleware,
  type StepOptions,
} from './handler.js';
export type { JobAttemptError, JobState, JobView } from './job.js';
export { type Logger, silentLogger } from './logger.js';
export { chain, loggingMiddleware, type MetricsCallbacks, metricsMiddleware } from './middleware.js';
export { loadMigrations, type MigrateResult, type Migration, migrate } from './migrate.js';
export type { BulkOptions, DeadLetterListOptions, JobListOptions } from './options.js';
export { probeHandler, probeJob } from './probe.js';
export { type DatabaseHealth, type QueueStats, Sluice, type TypeCost, VACUUM_WORTHY_DEAD_ROWS, type WithClient } from './sluice.js';
export { type BulkFilter, type DeadLetterFilter, JOB_STATES, type JobFilter, LIVE_STATES } from './sql/jobFilter.js';
export { type AttemptOutcome, type TimelineEntry, timelineTime } from './timeline.js';
export {
  formatTraceparent,
  formatXrayHeader,
  MAX_TRACE_HEADER,
  parseTraceContext,
  type TraceContext,
  withParent,
  xrayTraceId,
} from './trace.js';
export type { ClaimEvent } from './worker/drainer.js';
export { type OpenTelemetryApi, openTelemetryTracing } from './worker/openTelemetry.js';
export type { WorkerCore } from './worker/store.js';
export type { DrainSummary, OutcomeEvent } from './worker/summary.js';
export type { AttemptEnd, AttemptInfo, AttemptSpan, AttemptTracing } from './worker/tracing.js';
export type { JobTransaction } from './worker/transaction.js';
export { type DrainOptions, Worker, type WorkerOptions, workerOptionsSchema } from './worker/worker.js';
