import { z } from 'zod';
import { SQL_IDENTIFIER } from './db.js';
import { QUEUE_NAME } from './define.js';
import { ConfigError, ValidationError } from './errors.js';

const HOUR = 3_600_000;

/** Options of a `Sluice` client, parsed once with `.strict()`: an unknown key is an error. */
export const sluiceOptionsSchema = z
  .object({
    /** The Postgres schema holding sluice's tables. */
    schema: z.string().regex(SQL_IDENTIFIER).default('sluice'),
    /** The largest payload accepted, in bytes of JSON. */
    maxPayloadBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(256 * 1024),
    /** The most jobs one `enqueueMany` call may insert. */
    maxBatchSize: z.number().int().min(1).max(10_000).default(1000),
    /** How long an idempotency key dedupes, from the first enqueue. */
    idempotencyWindowMs: z
      .number()
      .int()
      .min(1000)
      .default(24 * HOUR),
    /** How long succeeded and cancelled records are kept before `prune()` deletes them. */
    retentionMs: z
      .number()
      .int()
      .min(1000)
      .default(24 * HOUR),
    /** How many errors each job's history keeps (the latest). */
    maxErrorsKept: z.number().int().min(1).max(1000).default(20),
    /** The largest result a handler may return, in bytes of JSON (stored on the job's timeline). */
    maxResultBytes: z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
    /** How long a stored error message may be, in characters. */
    maxErrorMessageLength: z.number().int().min(64).max(65_536).default(2048),
    /**
     * The queues that have a worker. When given, enqueue and redrive refuse any other queue, where a job
     * would wait forever. Unset, every well-formed queue name is accepted.
     */
    queues: z.array(z.string().regex(QUEUE_NAME)).min(1).optional(),
  })
  .strict()
  .refine((o) => o.retentionMs >= o.idempotencyWindowMs, {
    message: 'retentionMs must be >= idempotencyWindowMs, or a replay could miss a pruned job',
    path: ['retentionMs'],
  });

export type SluiceSettings = z.output<typeof sluiceOptionsSchema>;
export type SluiceSettingsInput = z.input<typeof sluiceOptionsSchema>;

/** Parse options, naming each bad key in the error. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const res = schema.safeParse(input);
  if (!res.success) throw new ConfigError(`invalid ${what}: ${z.prettifyError(res.error)}`);
  return res.data;
}

/** Parse a call's arguments: bad input is a `ValidationError` (a client error) with zod's issues. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const res = schema.safeParse(input);
  if (!res.success) {
    throw new ValidationError(
      `invalid ${what}: ${z.prettifyError(res.error)}`,
      res.error.issues.map((i) => ({ path: i.path, message: i.message, code: i.code })),
    );
  }
  return res.data;
}
