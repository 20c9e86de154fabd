/** Lambda entry point of maintenance (a schedule): prune, then per-queue metrics. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { databaseConfigSchema, loadConfig } from '../shared/config.js';
import { containerSluice } from '../shared/container.js';
import { logger, metrics, sluiceLogger } from '../shared/observability.js';
import { createMaintenance } from './app.js';

const config = loadConfig(
  z.intersection(databaseConfigSchema, z.object({ MAX_PRUNE_BATCHES: z.coerce.number().int().min(1).max(10_000).default(50) })),
);
const run = createMaintenance({
  sluice: containerSluice(config),
  metrics,
  logger: sluiceLogger,
  maxPruneBatches: config.MAX_PRUNE_BATCHES,
});

export const handler = middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (_event, context) => {
  logger.addContext(context);
  return run();
});
