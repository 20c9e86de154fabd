import type { Logger, Sluice } from '../../src/index.js';
import type { MetricsSink } from '../shared/metricsSink.js';

/**
 * Maintenance on a schedule: prune finished records past retention (in bounded batches), compact the
 * per-minute counts behind the console's charts, then publish
 * per-queue metrics from `stats()`: QueueDepth (ready jobs), OldestJobAgeSeconds, DeadLetterCount.
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
    options.logger.info('maintenance finished', { pruned: pruned.deleted, queues: stats.length });
    return { pruned: pruned.deleted, queues: stats };
  };
}
