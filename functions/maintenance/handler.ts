/** `createMaintenanceHandler`: maintenance on a schedule — prune, then per-queue metrics. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { databaseConfigSchema, loadConfig } from '../shared/config.js';
import { containerSluice } from '../shared/container.js';
import type { MetricsSink } from '../shared/metricsSink.js';
import { functionLogging, powertools } from '../shared/observability.js';
import { type AnyLambdaHandler, withOrigin } from '../shared/rebuild.js';
import { createMaintenance } from './app.js';

const maintenanceConfigSchema = z.intersection(
  databaseConfigSchema,
  z.object({ MAX_PRUNE_BATCHES: z.coerce.number().int().min(1).max(10_000).default(50) }),
);

export interface MaintenanceHandlerOptions {
  /** The environment to read (default `process.env`), once, now. */
  env?: NodeJS.ProcessEnv;
  /** Where metrics go (default: Powertools' EMF metrics). */
  metrics?: MetricsSink;
}

/**
 * Build the maintenance handler. Apps need no entry file of their own: the construct deploys sluice's
 * (`functions/maintenance/entry.ts`).
 *
 * @example
 * await createMaintenanceHandler({ env: { ...process.env, MAX_PRUNE_BATCHES: '5' } })({}, context);
 */
export function createMaintenanceHandler(options: MaintenanceHandlerOptions = {}) {
  const config = loadConfig(maintenanceConfigSchema, options.env ?? process.env);
  const { metrics } = powertools();
  const { logger, sluiceLogger } = functionLogging();
  const run = createMaintenance({
    sluice: containerSluice(config),
    metrics: options.metrics ?? metrics,
    logger: sluiceLogger,
    maxPruneBatches: config.MAX_PRUNE_BATCHES,
  });
  const handler = middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (_event, context) => {
    logger.addContext(context);
    return run();
  });
  return withOrigin(handler, {
    kind: 'maintenance',
    rebuild: (env: NodeJS.ProcessEnv, deps?: { metrics?: MetricsSink }): AnyLambdaHandler =>
      createMaintenanceHandler({ ...options, env, ...(deps?.metrics ? { metrics: deps.metrics } : {}) }),
  });
}
