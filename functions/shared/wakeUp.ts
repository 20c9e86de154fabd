import type { EnqueuedJob } from '../../src/index.js';
import { loadConfig, producerEventsConfigSchema } from './config.js';
import { containerPublisher } from './container.js';
import type { EventSink } from './events.js';
import { powertools } from './observability.js';

/** Wakes the workers of the queues a producer just enqueued to. */
export interface WakeUp {
  /** Note jobs that were just committed (replayed ones are skipped: they woke their queue the first time). */
  enqueued(jobs: EnqueuedJob | readonly EnqueuedJob[]): void;
  /** Publish what was noted: one `JobsEnqueued` per queue. Never throws; resolves with the entries not delivered. */
  flush(): Promise<number>;
  /** `enqueued(jobs)` then `flush()`: call it right after your `COMMIT`, never before. */
  afterCommit(jobs: EnqueuedJob | readonly EnqueuedJob[]): Promise<number>;
}

/**
 * For an app's own Lambda that enqueues with the library inside its own transaction: publish `JobsEnqueued`
 * after the commit, so the queue's worker starts within a second, as it does for jobs enqueued through the
 * API, instead of at the queue's next scheduled drain. Coalesced per queue across calls in one container
 * (at most one event per queue per `WAKE_COALESCE_MS`, default 1 s; what is held back goes with the next
 * flush, and the schedule drains every queue regardless). Reads `EVENT_BUS_NAME` and `EVENT_SOURCE` once,
 * now (the construct's `grantWakeUp(fn)` sets them); with no bus configured it does nothing.
 *
 * @example
 * import { createWakeUp } from 'sluice/lambda';
 * const wakeUp = createWakeUp(); // once per container, beside your pool
 *
 * await client.query('BEGIN');
 * await client.query('INSERT INTO invoices (id) VALUES ($1)', [invoiceId]);
 * const job = await sluice.enqueue(sendInvoice, { invoiceId }, { client });
 * await client.query('COMMIT');
 * await wakeUp.afterCommit(job);
 */
export function createWakeUp(options: { env?: NodeJS.ProcessEnv; sink?: EventSink; now?: () => number } = {}): WakeUp {
  const config = loadConfig(producerEventsConfigSchema, options.env ?? process.env);
  const publisher = containerPublisher(config, {
    wakeCoalesceMs: config.WAKE_COALESCE_MS,
    ...(options.sink ? { sink: options.sink } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const wake: WakeUp = {
    enqueued(jobs) {
      publisher.jobsCommitted(Array.isArray(jobs) ? jobs : [jobs as EnqueuedJob]);
    },
    async flush() {
      try {
        return await publisher.flush();
      } catch (err) {
        powertools().logger.warn('wake-up flush failed', { error: { name: (err as Error)?.name, message: (err as Error)?.message } });
        return 0;
      }
    },
    async afterCommit(jobs) {
      wake.enqueued(jobs);
      return wake.flush();
    },
  };
  return wake;
}
