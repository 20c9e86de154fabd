import { z } from 'zod';
import { type Backoff, backoffSchema, DEFAULT_BACKOFF } from './backoff.js';
import { ConfigError, UnknownJobTypeError } from './errors.js';

export const JOB_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
export const QUEUE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
export const PRIORITY = { min: -100, max: 100 } as const;

/** What `defineJob` takes. Only `type` and `schema` are required. */
export interface JobOptions<S extends z.ZodType> {
  /** The job type's stable name, e.g. `send_email`. Use the handle, never the string, in code. */
  type: string;
  /** The zod schema of the payload. Keep payloads small: ids, not objects. */
  schema: S;
  /**
   * The queue jobs of this type go to (each queue gets its own worker): its name, or a `defineQueue` handle
   * when the queue has limits of its own. Default `default`.
   */
  queue?: string | QueueDefinition;
  /** Attempts in all, the first included (retries + 1). Default 3. See `retryPresets`. */
  maxAttempts?: number;
  /** Exponential backoff with full jitter. Default `{ baseMs: 10_000, maxMs: 3_600_000 }`. */
  backoff?: Backoff;
  /** How long one attempt may run before `ctx.signal` aborts and the attempt fails. Default 60 s. */
  timeout?: number;
  /** Lower runs first, from -100 to 100. Default 0. */
  priority?: number;
  /** Flow control, enforced in the database across every worker (docs/flow-control.md). */
  limits?: JobLimits<z.output<S>>;
}

/**
 * A job type's flow control, enforced in the database across every worker and Lambda.
 *
 * - `concurrency` bounds the jobs of the type running at once.
 * - `rate` bounds their starts: at most `limit` a period, with a burst allowance (a token bucket).
 * - With a `key`, the keys take turns at each claim (fairness), and `perKey` bounds each key on its own.
 *
 * A job over a limit stays queued, its attempt unspent, and starts when a slot frees or the rate allows.
 * A type with limits also shares cooldowns: a handler that throws `RateLimitedError` pauses its key (or its
 * type) for every worker.
 *
 * @example
 * limits: { concurrency: 50, rate: { limit: 100, per: 'second' }, key: (p) => p.tenantId, perKey: { concurrency: 2 } }
 */
export interface JobLimits<P = unknown> {
  /** At most this many jobs of the type running at once, in total. */
  concurrency?: number;
  /** At most `limit` starts a period, in total. */
  rate?: RateLimit;
  /** A job's key, from its parsed payload (e.g. a tenant or partner id): a non-empty string or a number. */
  key?(payload: P): string | number;
  /** Limits of each key on its own (needs `key`). */
  perKey?: { concurrency?: number; rate?: RateLimit };
}

/**
 * At most `limit` starts a period (`per`, or `periodMs`), refilled evenly. Up to `burst` (default `limit`)
 * may start at once after a quiet spell.
 */
export interface RateLimit {
  limit: number;
  per?: keyof typeof PERIODS;
  periodMs?: number;
  burst?: number;
}

/**
 * A queue's own flow control, shared by every job type on it (e.g. several types calling one partner API):
 * at most `concurrency` of its jobs running at once, and at most `rate.limit` starts a period, in total.
 */
export interface QueueLimits {
  concurrency?: number;
  rate?: RateLimit;
}

/** A queue with limits of its own, from `defineQueue`: pass it as a job type's `queue`. */
export interface QueueDefinition {
  readonly name: string;
  readonly limits: Readonly<QueueLimits>;
}

const PERIODS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

const LIMIT = z.number().int('a limit is a whole number').min(1, 'a limit is at least 1').max(100_000, 'a limit is at most 100000');

const rateSchema = z
  .object({
    limit: z
      .number()
      .int('a rate limit is a whole number')
      .min(1, 'a rate limit is at least 1')
      .max(1_000_000, 'a rate limit is at most 1000000'),
    per: z.enum(Object.keys(PERIODS) as ['second', 'minute', 'hour', 'day'], "per is 'second', 'minute', 'hour' or 'day'").optional(),
    periodMs: z
      .number()
      .int('periodMs is a whole number of milliseconds')
      .min(10, 'periodMs is at least 10 ms')
      .max(86_400_000, 'periodMs is at most a day (86400000 ms)')
      .optional(),
    burst: z.number().int('burst is a whole number').min(1, 'burst is at least 1').optional(),
  })
  .strict()
  .refine((r) => (r.per === undefined) !== (r.periodMs === undefined), { message: 'a rate needs per or periodMs (one of them)' })
  .refine((r) => r.burst === undefined || r.burst <= r.limit * 7, { message: 'burst is at most 7 times the limit', path: ['burst'] });

const limitsSchema = z
  .object({
    concurrency: LIMIT.optional(),
    rate: rateSchema.optional(),
    key: z
      .custom<(payload: unknown) => unknown>(
        (f) => typeof f === 'function',
        'limits.key must be a function of the parsed payload, e.g. (p) => p.tenantId',
      )
      .optional(),
    perKey: z.object({ concurrency: LIMIT.optional(), rate: rateSchema.optional() }).strict().optional(),
  })
  .strict()
  .refine((l) => l.perKey === undefined || l.key !== undefined, { message: 'limits.perKey needs limits.key', path: ['perKey'] })
  .refine((l) => l.concurrency !== undefined || l.rate !== undefined || l.key !== undefined, {
    message: 'limits needs concurrency, a rate, or a key (its keys then take turns)',
  });

const queueLimitsSchema = z
  .object({ concurrency: LIMIT.optional(), rate: rateSchema.optional() })
  .strict()
  .refine((l) => l.concurrency !== undefined || l.rate !== undefined, { message: 'limits needs concurrency or a rate' });

const queueSchema = z
  .object({
    name: z.string().regex(QUEUE_NAME, 'name: lower-case letters, digits, _ and - only, starting with a letter'),
    limits: queueLimitsSchema,
  })
  .strict();

const QUEUES = new WeakSet<object>();
/** The names of the queues this process defined with limits: a job of any type sent to one is parked under them. */
const LIMITED = new Set<string>();

/**
 * Whether this process defined `queue` with `defineQueue`. A job sent into such a queue by a type that names
 * another (`options.queue`, a probe) is parked under its limits too, so nothing on the queue escapes them.
 */
export function isLimitedQueue(queue: string): boolean {
  return LIMITED.has(queue);
}

/**
 * A queue with limits of its own, enforced in the database across every worker like a type's: every job
 * type that names this handle as its `queue` counts against them (docs/flow-control.md, "Queue limits").
 * Name the queue by this handle in every definition on it: a type that names it by string is refused by
 * the worker and the registry, since its jobs would not count.
 *
 * @example
 * export const partnerApi = defineQueue({ name: 'partner-api', limits: { concurrency: 10, rate: { limit: 50, per: 'second' } } });
 * export const syncContact = defineJob({ type: 'sync_contact', schema, queue: partnerApi });
 */
export function defineQueue(options: { name: string; limits: QueueLimits }): QueueDefinition {
  const parsed = queueSchema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError(`defineQueue(${JSON.stringify((options as { name?: unknown })?.name)}): ${z.prettifyError(parsed.error)}`);
  }
  const queue = Object.freeze({ name: parsed.data.name, limits: Object.freeze(parsed.data.limits) });
  QUEUES.add(queue);
  LIMITED.add(queue.name);
  return queue;
}

/**
 * The limits of `queue`'s own, as the job types on it declare them: all of them through the same
 * `defineQueue` handle, or none. Throws a ConfigError naming the types that disagree.
 */
export function queueLimitsOf(definitions: Iterable<Pick<JobDefinition, 'type' | 'queue' | 'queueLimits'>>, queue: string) {
  let first: Pick<JobDefinition, 'type' | 'queueLimits'> | undefined;
  for (const def of definitions) {
    if (def.queue !== queue) continue;
    if (first && first.queueLimits !== def.queueLimits) {
      const [named, bare] = def.queueLimits ? [def, first] : [first, def];
      throw new ConfigError(
        bare.queueLimits
          ? `job types ${JSON.stringify(first.type)} and ${JSON.stringify(def.type)} name two different defineQueue handles for queue ${JSON.stringify(queue)}`
          : `job type ${JSON.stringify(bare.type)} names queue ${JSON.stringify(queue)} by string, but ${JSON.stringify(named.type)} names its defineQueue handle, which has limits: pass the handle, so that its jobs count against them`,
      );
    }
    first ??= def;
  }
  return first?.queueLimits;
}

/** A rate as the flow claim takes it: tokens a second and the bucket's size. */
export function ratePerSecond(rate: RateLimit): { rate: number; burst: number } {
  const periodMs = rate.periodMs ?? PERIODS[rate.per ?? 'second'];
  return { rate: rate.limit / (periodMs / 1000), burst: rate.burst ?? rate.limit };
}

const optionsSchema = z
  .object({
    type: z.string().regex(JOB_TYPE, 'type: letters, digits and _ . : - only, starting with a letter, at most 128'),
    schema: z.custom<z.ZodType>((s) => s instanceof z.ZodType, 'schema must be a zod schema'),
    queue: z.string().regex(QUEUE_NAME, 'queue: lower-case letters, digits, _ and - only, starting with a letter').default('default'),
    maxAttempts: z.number().int().min(1).max(1000).default(3),
    backoff: backoffSchema.default(DEFAULT_BACKOFF),
    timeout: z.number().int().min(1).max(86_400_000).default(60_000),
    priority: z.number().int().min(PRIORITY.min).max(PRIORITY.max).default(0),
    limits: limitsSchema.optional(),
  })
  .strict();

/**
 * A job type: its name, payload schema and defaults. Producers import definitions only; handlers are
 * attached elsewhere with `defineHandler`, so enqueuing code never bundles handler code.
 */
export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly schema: S;
  readonly queue: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly timeout: number;
  readonly priority: number;
  readonly limits?: Readonly<JobLimits<z.output<S>>> | undefined;
  /** The limits of its queue's own, when `queue` was a `defineQueue` handle. */
  readonly queueLimits?: Readonly<QueueLimits> | undefined;
}

/** The payload a producer passes (before parsing: defaults may still be missing). */
export type PayloadInput<D extends JobDefinition> = z.input<D['schema']>;
/** The payload a handler receives (after parsing). */
export type Payload<D extends JobDefinition> = z.output<D['schema']>;

/**
 * Define a job type.
 *
 * @example
 * export const sendEmail = defineJob({
 *   type: 'send_email',
 *   schema: z.object({ userId: z.string(), template: z.enum(['welcome', 'reset']) }),
 *   queue: 'emails',
 *   ...retryPresets.network,
 * });
 */
export function defineJob<S extends z.ZodType>(options: JobOptions<S>): JobDefinition<S> {
  const queue = options?.queue;
  const handle = typeof queue === 'object' && queue !== null && QUEUES.has(queue) ? queue : undefined;
  if (typeof queue === 'object' && !handle) {
    throw new ConfigError(`defineJob(${JSON.stringify(options.type)}): queue is a queue name, or a handle from defineQueue`);
  }
  const parsed = optionsSchema.safeParse(handle ? { ...options, queue: handle.name } : options);
  if (!parsed.success) {
    throw new ConfigError(`defineJob(${JSON.stringify((options as { type?: unknown })?.type)}): ${z.prettifyError(parsed.error)}`);
  }
  const { limits, ...rest } = parsed.data;
  return Object.freeze({
    ...rest,
    schema: options.schema,
    ...(limits && { limits: Object.freeze(limits) as JobLimits<z.output<S>> }),
    ...(handle && { queueLimits: handle.limits }),
  });
}

/**
 * The job types a process knows, by name: for code that receives a type as a string (an HTTP API, a CLI).
 *
 * @example
 * const registry = new JobRegistry([sendEmail, processOrder]);
 * const def = registry.get(body.type); // throws UnknownJobTypeError listing the known types
 */
export class JobRegistry {
  readonly #byType = new Map<string, JobDefinition>();

  constructor(definitions: Iterable<JobDefinition> = []) {
    for (const def of definitions) this.add(def);
  }

  add(def: JobDefinition): this {
    const existing = this.#byType.get(def.type);
    if (existing && existing !== def) throw new ConfigError(`job type ${JSON.stringify(def.type)} is defined twice`);
    queueLimitsOf([...this.#byType.values(), def], def.queue);
    this.#byType.set(def.type, def);
    return this;
  }

  get(type: string): JobDefinition {
    const def = this.#byType.get(type);
    if (!def) throw new UnknownJobTypeError(type, this.types());
    return def;
  }

  has(type: string): boolean {
    return this.#byType.has(type);
  }

  types(): string[] {
    return [...this.#byType.keys()].sort();
  }

  definitions(): JobDefinition[] {
    return [...this.#byType.values()];
  }
}
