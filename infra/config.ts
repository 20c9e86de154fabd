/**
 * `sluice/config`: what a team's app declares in one file at its root, `sluice.config.ts` — its job types,
 * its Lambda entry files, its queues and its periodic jobs. The CDK construct, `sluice dev`, `sluice status`
 * and the rest of the CLI all read that file; there is no other copy. Parsed with `.strict()` when the file
 * loads, so a typo fails at once with the key's name. Imports zod and sluice's core only (no CDK).
 */
import { z } from 'zod';
import type { DatabaseUserFunction } from '../functions/shared/access.js';
import { JobRegistry } from '../src/define.js';
import type { JobDefinition } from '../src/index.js';
import { describeIssues } from '../src/text.js';

const name = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, _ and -, starting with a letter');

export const queueConfigSchema = z
  .object({
    /** The queue name, as job definitions use it. */
    name,
    /** The worker function's timeout: must exceed every job type's timeout on this queue plus the drain margin. */
    workerTimeoutSeconds: z.number().int().min(10).max(900).default(120),
    memoryMb: z.number().int().min(128).max(10_240).default(256),
    /** Reserved concurrency of the worker: the most drains of this queue at once (bounds DrainRequested fan-out). */
    reservedConcurrency: z.number().int().min(1).max(1000).default(5),
    /** Jobs per claim: `'auto'` (about a second of work for the worker's slots, up to 1000) or a fixed number. */
    batchSize: z.union([z.literal('auto'), z.number().int().min(1).max(1000)]).default('auto'),
    /** The safety-net schedule, in minutes. */
    scheduleMinutes: z.number().int().min(1).max(1440).default(1),
    /** Alarm when the oldest ready job is older than this. */
    oldestJobAgeAlarmSeconds: z.number().int().min(10).default(900),
  })
  .strict();

export const periodicJobSchema = z
  .object({
    /** A stable name: part of the idempotency key, so a duplicate delivery enqueues once. */
    name,
    /** An EventBridge schedule expression, e.g. `cron(0 3 * * ? *)` or `rate(1 hour)`. */
    schedule: z.string().regex(/^(cron|rate)\(.+\)$/),
    type: z.string().min(1),
    payload: z.record(z.string(), z.unknown()).default({}),
    queue: name.optional(),
  })
  .strict();

/** A path to a TypeScript or JavaScript file, relative to the folder of `sluice.config.ts`. */
const entryFile = z.string().regex(/\.(ts|mts|js|mjs)$/, 'a .ts, .mts, .js or .mjs file, relative to sluice.config.ts');

/**
 * The app's own Lambda entry files. Each exports `handler`, made by the matching factory of `sluice/lambda`
 * (`createApiHandler`, `createWorkerHandler`, `createPeriodicHandler`). Maintenance and migrations need no
 * code of the app's: sluice ships those entry points.
 */
export const functionsConfigSchema = z
  .object({
    api: entryFile,
    worker: entryFile,
    /** Needed when `periodicJobs` is not empty. */
    periodic: entryFile.optional(),
  })
  .strict();

const jobDefinition = z.custom<JobDefinition>(
  (d) => typeof d === 'object' && d !== null && typeof (d as JobDefinition).type === 'string' && 'schema' in d,
  'a job definition made by defineJob',
);

export const sluiceConfigSchema = z
  .object({
    /** Every job type of the app (what `defineJob` returned): the API, the CLI and synth checks use them. */
    jobs: z.array(jobDefinition).default([]),
    functions: functionsConfigSchema.optional(),
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
export type FunctionsConfig = z.output<typeof functionsConfigSchema>;
export type SluiceConfig = z.output<typeof sluiceConfigSchema>;
export type SluiceConfigInput = z.input<typeof sluiceConfigSchema>;
/** A config that can run: its job types and entry files are declared (what `defineConfig` returns). */
export type SluiceAppConfig = SluiceConfig & { functions: FunctionsConfig };

/** Parse the queue settings alone (no job types or entry files needed): for tools and tests. */
export function parseSluiceConfig(input: SluiceConfigInput): SluiceConfig {
  const res = sluiceConfigSchema.safeParse(input);
  if (!res.success) throw new Error(`invalid sluice config: ${z.prettifyError(res.error)}`);
  return res.data;
}

/**
 * The default export of an app's `sluice.config.ts`. Checks, when the file loads, everything that can be
 * checked before deploying: the keys and values; each job type's queue has a worker whose timeout fits the
 * job's; periodic jobs name known types with payloads their schema accepts, and have an entry file.
 *
 * @example
 * // sluice.config.ts, at the app's root
 * import { defineConfig } from 'sluice/config';
 * import { jobs } from './src/jobs.js';
 *
 * export default defineConfig({
 *   jobs,
 *   functions: { api: 'functions/api.ts', worker: 'functions/worker.ts' },
 *   queues: [{ name: 'default', workerTimeoutSeconds: 120 }],
 * });
 */
export function defineConfig(input: SluiceConfigInput & { functions: z.input<typeof functionsConfigSchema> }): SluiceAppConfig {
  const config = parseSluiceConfig(input);
  const problems: string[] = [];
  if (!config.functions) problems.push('functions: name the api and worker entry files');
  if (config.jobs.length === 0) problems.push('jobs: list the job types (what defineJob returned)');
  const registry = new JobRegistry();
  for (const def of config.jobs) {
    if (registry.has(def.type)) problems.push(`jobs: job type ${def.type} is listed twice`);
    else registry.add(def);
  }
  problems.push(...jobsMisfits(config, config.jobs));
  for (const p of config.periodicJobs) {
    if (!registry.has(p.type)) {
      problems.push(`periodicJobs.${p.name}: unknown job type ${p.type} (known: ${registry.types().join(', ')})`);
      continue;
    }
    const parsed = registry.get(p.type).schema.safeParse(p.payload);
    if (!parsed.success)
      problems.push(`periodicJobs.${p.name}: invalid ${p.type} payload: ${describeIssues(parsed.error.issues, '(payload)')}`);
    if (p.queue && !config.queues.some((q) => q.name === p.queue))
      problems.push(`periodicJobs.${p.name}: queue ${p.queue} declares no worker`);
  }
  if (config.periodicJobs.length > 0 && !config.functions?.periodic) problems.push('functions.periodic: periodic jobs need an entry file');
  if (problems.length > 0) throw new Error(`invalid sluice config: ${problems.join('; ')}`);
  return config as SluiceAppConfig;
}

/** The margin the worker keeps back from its remaining time (functions/worker/handler.ts's default). */
export const DRAIN_SAFETY_MARGIN_MS = 3_000;

function jobsMisfits(config: SluiceConfig, definitions: ReadonlyArray<{ type: string; queue: string; timeout: number }>): string[] {
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
  return problems;
}

/**
 * Refuse a config where a queue's worker could never start one of its job types: the Lambda timeout must
 * exceed the longest job timeout on that queue plus the drain margin (and the drain's 250 ms reserve).
 * Jobs of a queue with no declared worker would never run at all. (`defineConfig` runs this already; the
 * construct runs it again at synth on whatever config it is given.)
 */
export function checkJobsFitWorkers(
  config: SluiceConfig,
  definitions: ReadonlyArray<{ type: string; queue: string; timeout: number }> = config.jobs,
): void {
  const problems = jobsMisfits(config, definitions);
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
