/** Lambda entry point of maintenance (a schedule): prune, then per-queue metrics. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { databaseConfigSchema, loadConfig } from '../shared/config.js';
import { containerSluice } from '../shared/container.js';
import type { MetricsSink } from '../shared/metricsSink.js';
import { logger, metrics, sluiceLogger } from '../shared/observability.js';
import { createMaintenance } from './app.js';

const maintenanceConfigSchema = z.intersection(
  databaseConfigSchema,
  z.object({ MAX_PRUNE_BATCHES: z.coerce.number().int().min(1).max(10_000).default(50) }),
);

/**
 * Build the maintenance handler from an environment (Lambda: `process.env`; the dev server: its own).
 *
 * @example
 * await maintenanceHandler({ ...process.env, MAX_PRUNE_BATCHES: '5' })({}, context);
 */
export function maintenanceHandler(env: NodeJS.ProcessEnv = process.env, deps: { metrics?: MetricsSink } = {}) {
  const config = loadConfig(maintenanceConfigSchema, env);
  const run = createMaintenance({
    sluice: containerSluice(config),
    metrics: deps.metrics ?? metrics,
    logger: sluiceLogger,
    maxPruneBatches: config.MAX_PRUNE_BATCHES,
  });
  return middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (_event, context) => {
    logger.addContext(context);
    return run();
  });
}

export const handler = maintenanceHandler();
