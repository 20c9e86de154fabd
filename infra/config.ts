import { z } from 'zod';
import type { DatabaseUserFunction } from '../functions/shared/access.js';

/**
 * What a deployment declares in one place (infra/sluice.config.ts): its queues and periodic jobs.
 * Parsed with `.strict()` at synth time, so a typo fails the synth with the key's name.
 */
export const queueConfigSchema = z
  .object({
    /** The queue name, as job definitions use it. */
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
    /** The worker function's timeout: must exceed every job type's timeout on this queue plus the drain margin. */
    workerTimeoutSeconds: z.number().int().min(10).max(900).default(120),
    memoryMb: z.number().int().min(128).max(10_240).default(256),
    /** Reserved concurrency of the worker: the most drains of this queue at once (bounds DrainRequested fan-out). */
    reservedConcurrency: z.number().int().min(1).max(1000).default(5),
    batchSize: z.number().int().min(1).max(1000).default(100),
    /** The safety-net schedule, in minutes. */
    scheduleMinutes: z.number().int().min(1).max(1440).default(1),
    /** Alarm when the oldest ready job is older than this. */
    oldestJobAgeAlarmSeconds: z.number().int().min(10).default(900),
  })
  .strict();

export const periodicJobSchema = z
  .object({
    /** A stable name: part of the idempotency key, so a duplicate delivery enqueues once. */
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
    /** An EventBridge schedule expression, e.g. `cron(0 3 * * ? *)` or `rate(1 hour)`. */
    schedule: z.string().regex(/^(cron|rate)\(.+\)$/),
    type: z.string().min(1),
    payload: z.record(z.string(), z.unknown()).default({}),
    queue: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,62}$/)
      .optional(),
  })
  .strict();

export const sluiceConfigSchema = z
  .object({
    queues: z.array(queueConfigSchema).min(1),
    periodicJobs: z.array(periodicJobSchema).default([]),
    maintenanceScheduleMinutes: z.number().int().min(1).max(1440).default(5),
  })
  .strict()
  .refine((c) => new Set(c.queues.map((q) => q.name)).size === c.queues.length, { message: 'queue names must be unique', path: ['queues'] })
  .refine((c) => new Set(c.periodicJobs.map((p) => p.name)).size === c.periodicJobs.length, {
    message: 'periodic job names must be unique',
    path: ['periodicJobs'],
  });

export type QueueConfig = z.output<typeof queueConfigSchema>;
export type PeriodicJobConfig = z.output<typeof periodicJobSchema>;
export type SluiceConfig = z.output<typeof sluiceConfigSchema>;

export function parseSluiceConfig(input: z.input<typeof sluiceConfigSchema>): SluiceConfig {
  const res = sluiceConfigSchema.safeParse(input);
  if (!res.success) throw new Error(`invalid sluice config: ${z.prettifyError(res.error)}`);
  return res.data;
}

/** The margin the worker keeps back from its remaining time (functions/worker/handler.ts's default). */
export const DRAIN_SAFETY_MARGIN_MS = 3_000;

/**
 * Refuse a config where a queue's worker could never start one of its job types: the Lambda timeout must
 * exceed the longest job timeout on that queue plus the drain margin (and the drain's 250 ms reserve).
 * Jobs of a queue with no declared worker would never run at all.
 */
export function checkJobsFitWorkers(
  config: SluiceConfig,
  definitions: ReadonlyArray<{ type: string; queue: string; timeout: number }>,
): void {
  const problems: string[] = [];
  for (const def of definitions) {
    const q = config.queues.find((x) => x.name === def.queue);
    if (!q) {
      problems.push(`job type ${def.type} uses queue ${def.queue}, which declares no worker`);
      continue;
    }
    const budgetMs = q.workerTimeoutSeconds * 1000 - DRAIN_SAFETY_MARGIN_MS - 250;
    if (def.timeout > budgetMs) {
      problems.push(
        `job type ${def.type} (timeout ${def.timeout} ms) cannot start on queue ${q.name}: raise workerTimeoutSeconds above ${Math.ceil((def.timeout + DRAIN_SAFETY_MARGIN_MS + 250) / 1000)}`,
      );
    }
  }
  if (problems.length > 0) throw new Error(`sluice config does not fit its job types: ${problems.join('; ')}`);
}

/**
 * The database user each function connects as (the migrate function creates them and grants each its
 * access, functions/shared/access.ts). Every queue's worker shares the worker user.
 */
export const DATABASE_USERS = {
  api: 'sluice_api',
  worker: 'sluice_worker',
  maintenance: 'sluice_maintenance',
  periodic: 'sluice_periodic',
} as const satisfies Record<DatabaseUserFunction, string>;
