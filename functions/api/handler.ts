/**
 * `createApiHandler`: the enqueue HTTP API's Lambda handler (API Gateway HTTP API, payload format 2.0). The
 * routes live in `routes.ts` and the HTTP plumbing in `http.ts`, joined by `app.ts`; this wires them to the
 * container's pool, the app's job types, the event bus and the Powertools logger, and flushes events once
 * the response is computed.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { type JobDefinition, JobRegistry } from '../../src/index.js';
import { probeJob } from '../../src/probe.js';
import { databaseConfigSchema, loadConfig, producerEventsConfigSchema } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import { functionLogging, powertools } from '../shared/observability.js';
import { type AnyLambdaHandler, withOrigin } from '../shared/rebuild.js';
import { createApi } from './app.js';

const apiConfigSchema = z.intersection(databaseConfigSchema, producerEventsConfigSchema);

export interface ApiHandlerOptions {
  /** The job types the API accepts (the app's `jobs`): each request's payload is checked against its schema. */
  jobs: readonly JobDefinition[];
  /** The environment to read (default `process.env`), once, now. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Build the API's Lambda handler. The environment is parsed once, here. The coalesced `JobsEnqueued`
 * events go out after the response is computed. Flushing never throws, and is guarded anyway: the jobs
 * are committed, so an EventBridge failure must not fail the request (the schedule drains every queue
 * regardless).
 *
 * @example
 * // functions/api.ts — the app's API entry file
 * import { createApiHandler } from 'sluice/lambda';
 * import { jobs } from '../src/jobs.js';
 *
 * export const handler = createApiHandler({ jobs });
 */
export function createApiHandler(options: ApiHandlerOptions) {
  const config = loadConfig(apiConfigSchema, options.env ?? process.env);
  const { metrics } = powertools();
  const { logger, sluiceLogger } = functionLogging();
  /** The API Gateway request id on every log line of the request (Powertools `correlation_id`). */
  const requestIdOnLogs: MiddlewareObj<APIGatewayProxyEventV2> = {
    before: (request) => {
      const id = request.event.requestContext?.requestId;
      if (id) logger.setCorrelationId(id);
    },
  };
  const publisher = containerPublisher(config, { wakeCoalesceMs: config.WAKE_COALESCE_MS, logger: sluiceLogger });
  const app = createApi({
    sluice: containerSluice(config),
    // `sluice smoke`'s probe beside the app's own types (src/probe.ts).
    registry: new JobRegistry(options.jobs).add(probeJob),
    publisher,
    logger: sluiceLogger,
  });
  const flushQuietly = async (): Promise<void> => {
    try {
      const undelivered = await publisher.flush();
      if (undelivered > 0) {
        metrics.addMetric('EventsNotDelivered', 'Count', undelivered);
        metrics.publishStoredMetrics();
      }
    } catch (err) {
      logger.warn('event flush failed', { error: { name: (err as Error)?.name, message: (err as Error)?.message } });
    }
  };
  const flushEvents: MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = {
    after: flushQuietly,
    onError: flushQuietly,
  };
  const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>()
    // logEvent: false overrides POWERTOOLS_LOGGER_LOG_EVENT, which would log every request body (payloads) and header.
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(requestIdOnLogs)
    .use(flushEvents)
    .handler((event, context) => app(event, context));
  // `publisher`: the container's events, for tests and hosts that flush them themselves; `logger`: this function's.
  return withOrigin(Object.assign(handler, { publisher, logger }), {
    kind: 'api',
    rebuild: (env: NodeJS.ProcessEnv): AnyLambdaHandler => createApiHandler({ ...options, env }),
  });
}
