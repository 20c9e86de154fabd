/**
 * Lambda entry point of the enqueue HTTP API (API Gateway HTTP API, payload format 2.0). The route logic
 * lives in `app.ts`; this wires it to the container's pool, the job definitions, the event bus and the
 * Powertools logger, and flushes events once the response is computed.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { definitions } from '../../examples/definitions.js';
import { JobRegistry } from '../../src/index.js';
import { databaseConfigSchema, eventsConfigSchema, loadConfig } from '../shared/config.js';
import { containerPublisher, containerSluice } from '../shared/container.js';
import { logger, metrics, sluiceLogger } from '../shared/observability.js';
import { createApi } from './app.js';

const config = loadConfig(
  z.intersection(
    z.intersection(databaseConfigSchema, eventsConfigSchema),
    z.object({ WAKE_COALESCE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000) }),
  ),
);

/** Events of this container; exported for tests. */
export const publisher = containerPublisher(config, { wakeCoalesceMs: config.WAKE_COALESCE_MS });

const app = createApi({
  sluice: containerSluice(config),
  registry: new JobRegistry(definitions),
  publisher,
  logger: sluiceLogger,
});

/** The API Gateway request id on every log line of the request (Powertools `correlation_id`). */
const requestIdOnLogs: MiddlewareObj<APIGatewayProxyEventV2> = {
  before: (request) => {
    const id = request.event.requestContext?.requestId;
    if (id) logger.setCorrelationId(id);
  },
};

/**
 * Send the coalesced `JobsEnqueued` events after the response is computed. `flush()` never throws, and
 * this guards it anyway: the jobs are committed, so an EventBridge failure must not fail the request
 * (the schedule drains every queue regardless).
 */
const flushEvents: MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = {
  after: async () => {
    await flushQuietly();
  },
  onError: async () => {
    await flushQuietly();
  },
};

async function flushQuietly(): Promise<void> {
  try {
    const undelivered = await publisher.flush();
    if (undelivered > 0) {
      metrics.addMetric('EventsNotDelivered', 'Count', undelivered);
      metrics.publishStoredMetrics();
    }
  } catch (err) {
    logger.warn('event flush failed', { error: { name: (err as Error)?.name, message: (err as Error)?.message } });
  }
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(requestIdOnLogs)
  .use(flushEvents)
  .handler((event, context) => app(event, context));
