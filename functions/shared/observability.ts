import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from '../../src/logger.js';

let made: { logger: PowertoolsLogger; metrics: Metrics } | undefined;

/**
 * The container's Powertools logger (JSON lines, with the request id and cold start once `addContext` ran)
 * and EMF metrics (namespace `Sluice` unless configured), made on first use — when a handler factory is
 * called, not when the module is imported — and shared by every function of the process.
 */
export function powertools(): { logger: PowertoolsLogger; metrics: Metrics } {
  made ??= {
    logger: new PowertoolsLogger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice' }),
    metrics: new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Sluice',
      serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice',
    }),
  };
  return made;
}

/** sluice's Logger interface over a Powertools logger (default: the container's). */
export function asSluiceLogger(of: () => PowertoolsLogger = () => powertools().logger): Logger {
  return {
    debug: (message, fields) => of().debug(message, fields ?? {}),
    info: (message, fields) => of().info(message, fields ?? {}),
    warn: (message, fields) => of().warn(message, fields ?? {}),
    error: (message, fields) => of().error(message, fields ?? {}),
  };
}

/** sluice's Logger interface over the container's Powertools logger. */
export const sluiceLogger: Logger = asSluiceLogger();

/**
 * The logger of one function: a child of the container's, with a Lambda context of its own. On Lambda a
 * container runs one function; `sluice dev` runs every function in one process, and each line must still
 * name the function that wrote it.
 */
export function functionLogging(): { logger: PowertoolsLogger; sluiceLogger: Logger } {
  const logger = powertools().logger.createChild();
  return { logger, sluiceLogger: asSluiceLogger(() => logger) };
}

/** For the pool's 'error' event: an idle connection was closed under us; the pool replaces it. */
export function logIdlePoolError(err: Error): void {
  powertools().logger.warn('idle database connection lost; it will be replaced', { error: { name: err.name, message: err.message } });
}
