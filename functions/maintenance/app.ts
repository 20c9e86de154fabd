import type { DatabaseHealth, Logger, Sluice } from '../../src/index.js';
import { errorFields } from '../../src/logger.js';
import type { MetricsSink } from '../shared/metricsSink.js';

/**
 * Maintenance on a schedule: prune finished records past retention (in bounded batches), compact the
 * per-minute counts behind the console's charts, then publish
 * - per-queue metrics from `stats()`: QueueDepth (ready jobs), OldestJobAgeSeconds, DeadLetterCount;
 * - the database's health from `health()`, with no queue dimension (docs/operations.md has an alarm on
 *   each): OldestTransactionAgeSeconds, XminHorizonAgeXids, LiveTableDeadRows, SecondsSinceVacuum,
 *   LiveTableRowsPerJob, DatabaseConnections and ConnectionsUsedPercent.
 * A health reading that fails is logged and skipped: it never stops the prune or the queue metrics.
 */
export function createMaintenance(options: { sluice: Sluice; metrics: MetricsSink; logger: Logger; maxPruneBatches: number }) {
  return async () => {
    const pruned = await options.sluice.prune({ maxBatches: options.maxPruneBatches });
    await options.sluice.compactActivity();
    const stats = await options.sluice.stats();
    for (const q of stats) {
      options.metrics.addDimension('queue', q.queue);
      options.metrics.addMetric('QueueDepth', 'Count', q.ready);
      options.metrics.addMetric('OldestJobAgeSeconds', 'Seconds', q.oldestReadyAgeSeconds ?? 0);
      options.metrics.addMetric('DeadLetterCount', 'Count', q.dead);
      options.metrics.publishStoredMetrics(); // one EMF document per queue, each with its own dimension
    }
    const health = await options.sluice.health({ stats }).catch((error: unknown) => {
      options.logger.warn('could not read the database health', { error: errorFields(error) });
      return undefined;
    });
    if (health) publishHealth(options.metrics, health);
    options.logger.info('maintenance finished', { pruned: pruned.deleted, queues: stats.length, ...(health && { health }) });
    return { pruned: pruned.deleted, queues: stats, health };
  };
}

/** The health readings as one EMF document without a queue dimension; a reading this user cannot see is left out. */
function publishHealth(metrics: MetricsSink, h: DatabaseHealth): void {
  if (h.oldestTransactionSeconds !== null) metrics.addMetric('OldestTransactionAgeSeconds', 'Seconds', h.oldestTransactionSeconds);
  metrics.addMetric('XminHorizonAgeXids', 'Count', h.xminHorizonAgeXids);
  metrics.addMetric('LiveTableDeadRows', 'Count', h.liveTableDeadRows);
  metrics.addMetric('SecondsSinceVacuum', 'Seconds', h.secondsSinceVacuum);
  metrics.addMetric('LiveTableRowsPerJob', 'Count', h.liveTableRowsPerJob);
  metrics.addMetric('DatabaseConnections', 'Count', h.connections);
  metrics.addMetric('ConnectionsUsedPercent', 'Percent', (100 * h.connections) / Math.max(1, h.maxConnections));
  metrics.publishStoredMetrics();
}
