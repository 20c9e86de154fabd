/** Lambda entry point of periodic jobs: each configured schedule's rule invokes it with its job and tick time. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { definitions } from '../../examples/definitions.js';
import { JobRegistry } from '../../src/index.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import { logger, sluiceLogger } from '../shared/observability.js';
import { createPeriodic } from './app.js';

const config = loadConfig(z.intersection(databaseConfigSchema, eventsConfigSchema));
const run = createPeriodic({
  sluice: containerSluice(config),
  registry: new JobRegistry(definitions),
  publisher: containerPublisher(config),
  logger: sluiceLogger,
});

export const handler = middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (event, context) => {
  logger.addContext(context);
  return run(event);
});
