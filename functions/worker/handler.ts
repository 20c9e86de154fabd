/**
 * Lambda entry point of the drain worker (one function per queue). Invoked by the queue's schedule, by
 * `JobsEnqueued` and by `DrainRequested` events on the sluice bus.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createHandlers } from '../../examples/handlers.js';
import { QUEUE_NAME } from '../../src/define.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import type { MetricsSink } from '../shared/metricsSink.js';
import { logger, metrics, sluiceLogger } from '../shared/observability.js';
import { createWorker, type WorkerEvent } from './app.js';

const workerConfigSchema = z.intersection(
  z.intersection(databaseConfigSchema, eventsConfigSchema),
  z.object({
    QUEUE: z.string().regex(QUEUE_NAME, 'QUEUE must be a queue name: lower-case letters, digits, _ and -').default('default'),
    DRAIN_SAFETY_MARGIN_MS: z.coerce.number().int().min(0).max(60_000).default(3_000),
    MAX_FANOUT_GENERATION: z.coerce.number().int().min(0).max(10).default(3),
    BATCH_SIZE: z.coerce.number().int().min(1).max(1000).optional(),
    CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
    LEASE_MS: z.coerce.number().int().min(500).optional(),
  }),
);

/**
 * Build the worker's Lambda handler from an environment: Lambda builds one from `process.env` below; the
 * local dev server builds one per queue, as the CDK stack deploys one function per queue.
 *
 * @example
 * const drainEmails = workerHandler({ ...process.env, QUEUE: 'emails' });
 */
export function workerHandler(env: NodeJS.ProcessEnv = process.env, deps: { metrics?: MetricsSink } = {}) {
  const config = loadConfig(workerConfigSchema, env);
  const sluice = containerSluice(config);
  const publisher = containerPublisher(config);
  // Jobs a handler enqueues (fan-out) wake their queue's worker too, when this drain flushes its events.
  const enqueue = {
    enqueueMany: async (items: Parameters<typeof sluice.enqueueMany>[0]) => {
      const jobs = await sluice.enqueueMany(items);
      for (const job of jobs) if (!job.replayed) publisher.jobsEnqueued(job.queue, 1);
      return jobs;
    },
  };
  const drain = createWorker({
    sluice,
    handlers: createHandlers({ enqueue }),
    publisher,
    metrics: deps.metrics ?? metrics,
    logger: sluiceLogger,
    defaultQueue: config.QUEUE,
    safetyMarginMs: config.DRAIN_SAFETY_MARGIN_MS,
    maxFanoutGeneration: config.MAX_FANOUT_GENERATION,
    batchSize: config.BATCH_SIZE,
    concurrency: config.CONCURRENCY,
    leaseMs: config.LEASE_MS,
  });
  return middy<WorkerEvent, Awaited<ReturnType<typeof drain>>, Error, Context>().handler(async (event, context) => {
    logger.addContext(context);
    return drain(event, context);
  });
}

export const handler = workerHandler();
