import { z } from 'zod';
import type { EnqueuedJob, JobRegistry, Logger, Sluice } from '../../src/index.js';
import { enqueueItem } from '../../src/index.js';
import { describeIssues } from '../../src/text.js';
import type { EventPublisher } from '../shared/events.js';

/**
 * The input a periodic-job rule sends: the job to enqueue, and the schedule's own time (EventBridge's
 * `<aws.events.event.time>` placeholder), from which the idempotency key is derived.
 */
export const periodicEventSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
    type: z.string().min(1),
    payload: z.record(z.string(), z.unknown()).default({}),
    queue: z.string().optional(),
    time: z.iso.datetime({ offset: true }),
  })
  .strict();

/**
 * Enqueue one periodic job. The key `periodic:<name>:<scheduled time>` makes a duplicate delivery of the
 * same tick (EventBridge delivers at least once, and retries) enqueue once.
 */
export function createPeriodic(options: { sluice: Sluice; registry: JobRegistry; publisher: EventPublisher; logger: Logger }) {
  return async (event: unknown): Promise<EnqueuedJob> => {
    const parsed = periodicEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`invalid periodic job event: ${describeIssues(parsed.error.issues)}`);
    const e = parsed.data;
    const job = await options.sluice.enqueueMany([
      enqueueItem(options.registry.get(e.type), e.payload as never, {
        idempotencyKey: `periodic:${e.name}:${new Date(e.time).toISOString()}`,
        ...(e.queue ? { queue: e.queue } : {}),
      }),
    ]);
    const enqueued = job[0] as EnqueuedJob;
    options.publisher.jobsCommitted([enqueued]);
    await options.publisher.flush();
    options.logger.info('periodic job enqueued', {
      periodic: e.name,
      job_id: enqueued.id,
      job_type: enqueued.type,
      replayed: enqueued.replayed,
    });
    return enqueued;
  };
}
