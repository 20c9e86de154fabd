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

/**
 * Build the periodic-jobs handler from an environment (Lambda: `process.env`; the dev server: its own).
 *
 * @example
 * await periodicHandler()({ name: 'digest', type: 'send_email', payload, time: '2030-01-01T06:00:00Z' }, context);
 */
export function periodicHandler(env: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(z.intersection(databaseConfigSchema, eventsConfigSchema), env);
  const run = createPeriodic({
    sluice: containerSluice(config),
    registry: new JobRegistry(definitions),
    publisher: containerPublisher(config),
    logger: sluiceLogger,
  });
  return middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (event, context) => {
    logger.addContext(context);
    return run(event);
  });
}

export const handler = periodicHandler();
