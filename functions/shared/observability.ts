import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from '../../src/logger.js';

/** JSON log lines (Powertools), with the request id and cold start once `addContext` ran. */
export const logger = new PowertoolsLogger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice' });

/** CloudWatch Embedded Metric Format metrics (Powertools), namespace `Sluice` unless configured. */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Sluice',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice',
});

/** sluice's Logger interface over the Powertools logger. */
export const sluiceLogger: Logger = {
  debug: (message, fields) => logger.debug(message, fields ?? {}),
  info: (message, fields) => logger.info(message, fields ?? {}),
  warn: (message, fields) => logger.warn(message, fields ?? {}),
  error: (message, fields) => logger.error(message, fields ?? {}),
};

/** For the pool's 'error' event: an idle connection was closed under us; the pool replaces it. */
export function logIdlePoolError(err: Error): void {
  logger.warn('idle database connection lost; it will be replaced', { error: { name: err.name, message: err.message } });
}
