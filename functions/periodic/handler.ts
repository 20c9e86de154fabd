/** Lambda entry point of periodic jobs: each configured schedule's rule invokes it with its job and tick time. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { definitions } from '../../examples/definitions.js';
import { JobRegistry, Sluice } from '../../src/index.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { getPool } from '../shared/db.js';
import { EventPublisher, eventBridgeSink } from '../shared/events.js';
import { logger, logIdlePoolError, sluiceLogger } from '../shared/observability.js';
import { createPeriodic } from './app.js';

const config = loadConfig(z.intersection(databaseConfigSchema, eventsConfigSchema));
const run = createPeriodic({
  sluice: new Sluice({ db: getPool(config, logIdlePoolError), schema: config.SLUICE_SCHEMA }),
  registry: new JobRegistry(definitions),
  publisher: new EventPublisher({
    sink: config.EVENT_BUS_NAME ? eventBridgeSink() : undefined,
    busName: config.EVENT_BUS_NAME,
    source: config.EVENT_SOURCE,
    logger: sluiceLogger,
  }),
  logger: sluiceLogger,
});

export const handler = middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (event, context) => {
  logger.addContext(context);
  return run(event);
});
