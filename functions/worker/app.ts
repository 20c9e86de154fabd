import type { Context, EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { QUEUE_NAME } from '../../src/define.js';
import {
  type AnyJobHandler,
  type AttemptTime,
  type AttemptTracing,
  attributeCost,
  type DrainSummary,
  type Logger,
  type OutcomeEvent,
  type Sluice,
} from '../../src/index.js';
import { errorFields } from '../../src/logger.js';
import { describeIssues } from '../../src/text.js';
import { DETAIL_TYPES, type EventPublisher } from '../shared/events.js';
import type { MetricsSink } from '../shared/metricsSink.js';

/** The three ways the worker is invoked; each names the queue it drains. */
const queueName = z.string().regex(QUEUE_NAME);
/** Continuation generations are counted up to here, then stay (the count only steers doubling). */
const MAX_GENERATION = 1000;
export const workerEventSchema = z.discriminatedUnion('detail-type', [
  z.object({ 'detail-type': z.literal('Scheduled Event'), detail: z.object({ queue: queueName.optional() }).loose() }).loose(),
  z
    .object({
      'detail-type': z.literal(DETAIL_TYPES.jobsEnqueued),
      detail: z.object({ queue: queueName, count: z.number().int().min(0) }).loose(),
    })
    .loose(),
  z
    .object({
      'detail-type': z.literal(DETAIL_TYPES.drainRequested),
      detail: z.object({ queue: queueName, generation: z.number().int().min(0).max(MAX_GENERATION).default(0) }).loose(),
    })
    .loose(),
]);
export type WorkerEvent = EventBridgeEvent<string, unknown>;

export interface WorkerAppOptions {
  sluice: Sluice;
  handlers: ReadonlyArray<AnyJobHandler>;
  publisher: EventPublisher;
  metrics: MetricsSink;
  logger: Logger;
  /** The queue this function drains when a scheduled event names none. */
  defaultQueue: string;
  /**
   * Queues this function may drain. An event naming another queue is refused rather than drained with
   * handlers that may not know its job types (which would burn their attempts). Default: `[defaultQueue]`.
   */
  queues?: readonly string[] | undefined;
  /** Time kept back from Lambda's remaining time: for writing outcomes, events and metrics. */
  safetyMarginMs: number;
  /** Continuations double (2 events each) until this generation; after it, each chain continues alone. */
  maxFanoutGeneration: number;
  batchSize?: number | 'auto' | undefined;
  concurrency?: number | undefined;
  leaseMs?: number | undefined;
  /** A span for each attempt (the handler passes X-Ray's, functions/shared/tracing.ts). */
  tracing?: AttemptTracing | undefined;
}

/**
 * The drain worker: drains the named queue within the invocation's remaining time less a margin, reports
 * per-job metrics and dead letters, and — when time ran out with work still due — publishes
 * `DrainRequested` so the backlog keeps moving, fanning out to at most 2^maxFanoutGeneration chains.
 * With the invocation's memory known (Lambda's `memoryLimitInMB`), it also splits the invocation's duration
 * over the job types it ran (`attributeCost`), publishes each type's share (`AttributedGbSeconds` and
 * `AttributedAttempts`, dimensions `{ service, queue, type }`) and adds it to the database's cost
 * (`recordCosts`, read back by `stats()`).
 */
export function createWorker(options: WorkerAppOptions) {
  /**
   * `context.signal` is not Lambda's: a local host (the dev server) sets it to stop a drain early when it
   * shuts down. Lambda ends invocations by their timeout alone.
   */
  return async (
    event: WorkerEvent,
    context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'memoryLimitInMB'>> & { signal?: AbortSignal },
  ): Promise<DrainSummary & { queue: string }> => {
    const invokedAt = performance.now();
    const attempts: AttemptTime[] = [];
    const parsed = workerEventSchema.safeParse(event);
    if (!parsed.success) {
      const issues = describeIssues(parsed.error.issues);
      options.logger.error('worker event rejected', { detail_type: event?.['detail-type'], issues });
      throw new Error(`unsupported worker event: ${issues}`);
    }
    const e = parsed.data;
    const queue = e.detail.queue ?? options.defaultQueue;
    const allowed = options.queues ?? [options.defaultQueue];
    if (!allowed.includes(queue)) {
      options.logger.error('worker event names a queue this function does not drain', { queue, drains: allowed });
      throw new Error(`this worker drains ${allowed.join(', ')}, not ${queue}: check the rule that sent the event`);
    }
    const generation = e['detail-type'] === DETAIL_TYPES.drainRequested ? e.detail.generation : 0;
    // Default dimensions survive Powertools' automatic flush at 100 values, unlike addDimension.
    options.metrics.setDefaultDimensions({ queue });
    const budgetMs = context.getRemainingTimeInMillis() - options.safetyMarginMs;
    if (budgetMs <= 0) {
      options.logger.error('no time to drain: the function timeout must exceed DRAIN_SAFETY_MARGIN_MS', {
        queue,
        remaining_ms: context.getRemainingTimeInMillis(),
        margin_ms: options.safetyMarginMs,
      });
    }
    const worker = options.sluice.worker({
      queue,
      handlers: options.handlers,
      logger: options.logger,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      leaseMs: options.leaseMs,
      tracing: options.tracing,
      onOutcome: (o) => {
        if (o.durationMs !== null) attempts.push({ queue: o.queue, type: o.type, durationMs: o.durationMs });
        record(options, o);
      },
      // The claim's latency at the client, a sample a claim: the dashboard's p95, and its alarm.
      onClaim: (c) => options.metrics.addMetric('ClaimLatencyMs', 'Milliseconds', c.ms),
      // Follow-ups that ctx.transaction committed wake their queues, as the API's jobs do.
      onEnqueued: (jobs) => options.publisher.jobsCommitted(jobs),
    });
    let summary: DrainSummary;
    try {
      summary = await worker.drain({ remainingTimeMs: Math.max(0, budgetMs), ...(context.signal ? { signal: context.signal } : {}) });
      // Continue only when this drain got work done: a job whose timeout never fits the budget would
      // otherwise be claimed and released by an endless chain (the schedule still retries it).
      if (summary.moreDue && summary.claimed > summary.released) {
        // Chains double from the schedule and from continuations, up to the bound; a wake-up continues alone.
        const doubling = e['detail-type'] !== DETAIL_TYPES.jobsEnqueued && generation < options.maxFanoutGeneration;
        const next = Math.min(generation + 1, MAX_GENERATION);
        for (let i = 0; i < (doubling ? 2 : 1); i++) options.publisher.drainRequested({ queue, generation: next });
      } else if (summary.moreDue && summary.claimed > 0) {
        options.logger.error('claimed jobs could not start within the time budget; is a job timeout longer than the worker timeout?', {
          queue,
          budget_ms: budgetMs,
          released: summary.released,
        });
      }
    } finally {
      // Whatever was recorded (dead letters, metrics) goes out even when the drain failed.
      const undelivered = await options.publisher.flush({
        timeoutMs: Math.max(500, Math.min(3_000, context.getRemainingTimeInMillis() - 500)),
      });
      if (undelivered > 0) options.metrics.addMetric('EventsNotDelivered', 'Count', undelivered);
      options.metrics.publishStoredMetrics();
      await recordCost(options, attempts, performance.now() - invokedAt, Number(context.memoryLimitInMB));
    }
    options.logger.info('drain finished', { queue, trigger: e['detail-type'], generation, ...summary });
    return { queue, ...summary };
  };
}

/**
 * The invocation's cost, split over the types it ran: one EMF document per type (its `type` dimension beside
 * the queue's) and one upsert. Lambda bills from the handler's start to its end, which is about
 * `billedMs`; a cost that cannot be written is logged, never thrown.
 */
async function recordCost(options: WorkerAppOptions, attempts: readonly AttemptTime[], billedMs: number, memoryMb: number) {
  if (attempts.length === 0 || !(memoryMb > 0)) return;
  const shares = attributeCost(attempts, billedMs, memoryMb);
  for (const s of shares) {
    options.metrics.addDimension('type', s.type);
    options.metrics.addMetric('AttributedGbSeconds', 'Count', s.gbMs / 1000);
    options.metrics.addMetric('AttributedAttempts', 'Count', s.attempts);
    options.metrics.publishStoredMetrics();
  }
  await options.sluice.recordCosts(shares).catch((error: unknown) => {
    options.logger.warn('could not record the cost of the drain', { error: errorFields(error) });
  });
}

function record(options: WorkerAppOptions, o: OutcomeEvent): void {
  const { metrics } = options;
  // One line per failed attempt: which job, which attempt, what went wrong (the stored error, never the payload).
  if (o.kind === 'retry' || o.kind === 'dead') {
    const err = o.error as { name?: string; message?: string } | null;
    // (The error before the rest: a terminal line that is cut keeps what went wrong.)
    const fields = {
      job_id: o.jobId,
      job_type: o.type,
      attempt: o.attempt,
      error: err ? `${err.name ?? 'Error'}: ${err.message ?? ''}` : 'unknown',
      max_attempts: o.maxAttempts,
      queue: o.queue,
    };
    if (o.kind === 'retry') options.logger.warn('job attempt failed; it will be retried', fields);
    else options.logger.error('job dead-lettered', fields);
  }
  if (o.durationMs !== null) metrics.addMetric('JobDurationMs', 'Milliseconds', o.durationMs);
  if (o.kind === 'success') metrics.addMetric('JobsSucceeded', 'Count', 1);
  if (o.kind === 'retry' || o.kind === 'dead') metrics.addMetric('JobsFailed', 'Count', 1);
  if (o.kind === 'dead') {
    metrics.addMetric('JobsDeadLettered', 'Count', 1);
    const err = o.error as { name?: string; message?: string } | null;
    options.publisher.jobDeadLettered({
      jobId: o.jobId,
      type: o.type,
      queue: o.queue,
      attempts: o.attempt,
      lastError: err ? `${err.name ?? 'Error'}: ${err.message ?? ''}` : 'unknown',
    });
  }
}
