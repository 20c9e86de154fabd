import { type Logger, Sluice } from '../../src/index.js';
import type { DatabaseConfig, EventsConfig } from './config.js';
import { getPool } from './db.js';
import { EventPublisher, type EventSink, eventBridgeSink } from './events.js';
import { logIdlePoolError, sluiceLogger } from './observability.js';

/**
 * The per-container wiring every handler factory shares, made when the factory is called: a Sluice over
 * the container's pool, and an event publisher to the bus (or to nowhere when no bus is configured).
 */
export function containerSluice(config: DatabaseConfig): Sluice {
  // getPool creates the pool without connecting; the first query opens a connection.
  return new Sluice({
    db: getPool(config, logIdlePoolError),
    schema: config.SLUICE_SCHEMA,
    ...(config.SLUICE_QUEUES ? { queues: config.SLUICE_QUEUES } : {}),
  });
}

export function containerPublisher(
  config: EventsConfig,
  options: { wakeCoalesceMs?: number; sink?: EventSink; now?: () => number; logger?: Logger } = {},
): EventPublisher {
  return new EventPublisher({
    sink: config.EVENT_BUS_NAME ? (options.sink ?? eventBridgeSink()) : undefined,
    busName: config.EVENT_BUS_NAME,
    source: config.EVENT_SOURCE,
    logger: options.logger ?? sluiceLogger,
    wakeCoalesceMs: options.wakeCoalesceMs,
    now: options.now,
  });
}
