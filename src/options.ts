/**
 * The options of `Sluice`'s methods, as zod schemas parsed once per call (`.strict()`: an unknown option
 * is an error, not ignored), and the types callers write them in.
 */
import { z } from 'zod';
import { idOrder, idOrderError, type JobFilter, jobFilterFields } from './sql/jobFilter.js';
import { jobIdSchema } from './text.js';

export const ID = jobIdSchema;
export const ids = z.array(ID).max(10_000);
export const deadLetterListSchema = z
  .object({
    queue: z.string().optional(),
    type: z.string().optional(),
    after: ID.optional(),
    limit: z.number().int().min(1).max(1000).default(50),
  })
  .strict();

/** Which dead letters to list, and how many at a time. */
export type DeadLetterListOptions = z.input<typeof deadLetterListSchema>;

/** A page of jobs: `jobFilterSchema`'s fields, and where the page starts. */
export const jobListSchema = z
  .object({
    ...jobFilterFields,
    before: ID.optional(),
    limit: z.number().int().min(1).max(1000).default(50),
  })
  .strict()
  .refine(idOrder, idOrderError);
/** Which jobs to list (any filter field of `JobFilter`), before which id, and how many. */
export type JobListOptions = JobFilter & { before?: string; limit?: number };

const MINUTE = 60_000;
export const activitySchema = z
  .object({
    sinceMs: z
      .number()
      .int()
      .min(MINUTE)
      .max(7 * 86_400_000)
      .default(3_600_000),
    stepMs: z.number().int().min(MINUTE).max(86_400_000).multipleOf(MINUTE).default(MINUTE),
    queue: z.string().optional(),
  })
  .strict();

/** What an idempotent bulk action takes: a key under which its answer is kept (24 h by default). */
export interface BulkOptions {
  idempotencyKey?: string;
}
export const bulkOptions = {
  idempotencyKey: z
    .string()
    .min(1)
    .max(255)
    .refine((k) => !k.includes('\u0000'), 'the key may not contain NUL')
    .optional(),
};
