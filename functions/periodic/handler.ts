/** `createPeriodicHandler`: each configured schedule's rule invokes it with its job and tick time. */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { type JobDefinition, JobRegistry } from '../../src/index.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import { functionLogging } from '../shared/observability.js';
import { type AnyLambdaHandler, withOrigin } from '../shared/rebuild.js';
import { createPeriodic } from './app.js';

export interface PeriodicHandlerOptions {
  /** The job types periodic jobs may name (the app's `jobs`). */
  jobs: readonly JobDefinition[];
  /** The environment to read (default `process.env`), once, now. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Build the periodic-jobs handler (needed when the config declares `periodicJobs`).
 *
 * @example
 * // functions/periodic.ts
 * import { createPeriodicHandler } from 'sluice/lambda';
 * import { jobs } from '../src/jobs.js';
 *
 * export const handler = createPeriodicHandler({ jobs });
 */
export function createPeriodicHandler(options: PeriodicHandlerOptions) {
  const config = loadConfig(z.intersection(databaseConfigSchema, eventsConfigSchema), options.env ?? process.env);
  const { logger, sluiceLogger } = functionLogging();
  const run = createPeriodic({
    sluice: containerSluice(config),
    registry: new JobRegistry(options.jobs),
    publisher: containerPublisher(config, { logger: sluiceLogger }),
    logger: sluiceLogger,
  });
  const handler = middy<unknown, Awaited<ReturnType<typeof run>>, Error, Context>().handler(async (event, context) => {
    logger.addContext(context);
    return run(event);
  });
  return withOrigin(handler, {
    kind: 'periodic',
    rebuild: (env: NodeJS.ProcessEnv): AnyLambdaHandler => createPeriodicHandler({ ...options, env }),
  });
}
