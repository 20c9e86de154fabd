/**
 * `createWorkerHandler`: the drain worker's Lambda handler (one function per queue, same code). Invoked by
 * the queue's schedule, by `JobsEnqueued` and by `DrainRequested` events on the sluice bus.
 */
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { QUEUE_NAME } from '../../src/define.js';
import type { AnyJobHandler, EnqueuedJob, EnqueueItem } from '../../src/index.js';
import { probeHandler, probeJob } from '../../src/probe.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import type { MetricsSink } from '../shared/metricsSink.js';
import { functionLogging, powertools } from '../shared/observability.js';
import { type AnyLambdaHandler, withOrigin } from '../shared/rebuild.js';
import { powertoolsTracer, xrayTracing } from '../shared/tracing.js';
import { createWorker, type WorkerEvent } from './app.js';

const workerConfigSchema = z.intersection(
  z.intersection(databaseConfigSchema, eventsConfigSchema),
  z.object({
    QUEUE: z.string().regex(QUEUE_NAME, 'QUEUE must be a queue name: lower-case letters, digits, _ and -').default('default'),
    DRAIN_SAFETY_MARGIN_MS: z.coerce.number().int().min(0).max(60_000).default(3_000),
    MAX_FANOUT_GENERATION: z.coerce.number().int().min(0).max(10).default(3),
    BATCH_SIZE: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(1000)]).optional(),
    CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
    LEASE_MS: z.coerce.number().int().min(500).optional(),
  }),
);

/** What handlers get to enqueue follow-up jobs: the container's Sluice, waking each job's queue after the drain. */
export interface Enqueuer {
  enqueueMany(items: readonly EnqueueItem[]): Promise<EnqueuedJob[]>;
}

export interface WorkerHandlerOptions {
  /**
   * The handlers this worker runs (`defineHandler`), or a function that makes them from an `Enqueuer`, for
   * handlers that enqueue follow-up jobs (fan-out): those wake their queue's worker when the drain ends.
   */
  handlers: ReadonlyArray<AnyJobHandler> | ((deps: { enqueue: Enqueuer }) => ReadonlyArray<AnyJobHandler>);
  /** The environment to read (default `process.env`), once, now. */
  env?: NodeJS.ProcessEnv;
  /** Where metrics go (default: Powertools' EMF metrics). */
  metrics?: MetricsSink;
}

/**
 * Build the worker's Lambda handler. The environment is parsed once, here: a missing or invalid variable
 * fails the cold start naming it. The construct deploys one function per queue with this entry file and
 * `QUEUE` set; `sluice dev` does the same locally.
 *
 * @example
 * // functions/worker.ts — the app's worker entry file
 * import { createWorkerHandler } from 'sluice/lambda';
 * import { sendInvoiceHandler } from '../src/handlers.js';
 *
 * export const handler = createWorkerHandler({ handlers: [sendInvoiceHandler] });
 */
export function createWorkerHandler(options: WorkerHandlerOptions) {
  const env = options.env ?? process.env;
  const config = loadConfig(workerConfigSchema, env);
  const { metrics } = powertools();
  const { logger, sluiceLogger } = functionLogging();
  const tracer = powertoolsTracer();
  const sluice = containerSluice(config);
  const publisher = containerPublisher(config, { logger: sluiceLogger });
  const enqueue: Enqueuer = {
    enqueueMany: async (items) => {
      const jobs = await sluice.enqueueMany(items);
      publisher.jobsCommitted(jobs);
      return jobs;
    },
  };
  const own = typeof options.handlers === 'function' ? options.handlers({ enqueue }) : options.handlers;
  // `sluice smoke`'s probe runs on every worker, beside the app's own types (src/probe.ts).
  const handlers = own.some((h) => h.definition.type === probeJob.type) ? own : [...own, probeHandler];
  const drain = createWorker({
    sluice,
    handlers,
    publisher,
    metrics: options.metrics ?? metrics,
    logger: sluiceLogger,
    defaultQueue: config.QUEUE,
    safetyMarginMs: config.DRAIN_SAFETY_MARGIN_MS,
    maxFanoutGeneration: config.MAX_FANOUT_GENERATION,
    batchSize: config.BATCH_SIZE,
    concurrency: config.CONCURRENCY,
    leaseMs: config.LEASE_MS,
    tracing: xrayTracing(tracer),
  });
  const handler = middy<WorkerEvent, Awaited<ReturnType<typeof drain>>, Error, Context>()
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .handler(async (event, context) => {
      logger.addContext(context);
      return drain(event, context);
    });
  return withOrigin(handler, {
    kind: 'worker',
    rebuild: (rebuildEnv: NodeJS.ProcessEnv, deps?: { metrics?: MetricsSink }): AnyLambdaHandler =>
      createWorkerHandler({ ...options, env: rebuildEnv, ...(deps?.metrics ? { metrics: deps.metrics } : {}) }),
  });
}
