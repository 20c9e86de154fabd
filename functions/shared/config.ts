import { z } from 'zod';
import { SQL_IDENTIFIER } from '../../src/db.js';
import { QUEUE_NAME } from '../../src/define.js';
import { describeIssues } from '../../src/text.js';
import { type DatabaseUserFunction, FUNCTION_ACCESS } from './access.js';

/**
 * Environment of the Lambda functions, parsed once per container. Each function reads the part it needs
 * through `loadConfig(schema)`; a missing or invalid variable fails the cold start with its name.
 */
const databaseFields = z.object({
  /** A full connection string: local runs and tests. When set, the RDS variables below are ignored. */
  DATABASE_URL: z.string().min(1).optional(),
  /** On AWS: the RDS Proxy endpoint, reached with an IAM auth token over TLS that verifies the server. */
  DB_HOST: z.string().min(1).optional(),
  DB_PORT: z.coerce.number().int().min(1).max(65_535).default(5432),
  DB_NAME: z.string().min(1).default('sluice'),
  DB_USER: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  /** Connections per container: Lambda serves one request at a time, so 1 or 2 is enough. */
  DB_POOL_MAX: z.coerce.number().int().min(1).max(4).default(2),
  SLUICE_SCHEMA: z.string().regex(SQL_IDENTIFIER).default('sluice'),
  /** The queues that have a worker, comma-separated (the stack sets it): enqueue and redrive refuse any other. */
  SLUICE_QUEUES: z
    .string()
    .transform((v) => v.split(','))
    .pipe(z.array(z.string().regex(QUEUE_NAME, 'a queue name: lower-case letters, digits, _ and -')).min(1))
    .optional(),
});

export const databaseConfigSchema = databaseFields.refine((e) => e.DATABASE_URL || (e.DB_HOST && e.DB_USER && e.AWS_REGION), {
  message: 'set DATABASE_URL, or DB_HOST, DB_USER and AWS_REGION for IAM authentication through RDS Proxy',
  path: ['DATABASE_URL'],
});
export type DatabaseConfig = z.output<typeof databaseConfigSchema>;

/** `{"api":"sluice_api",…}`: the database user of each function, which the migrate function creates and grants. */
const databaseUsers = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"api":"sluice_api"}' });
      return z.NEVER;
    }
  })
  .pipe(z.partialRecord(z.enum(Object.keys(FUNCTION_ACCESS) as [DatabaseUserFunction]), z.string().regex(SQL_IDENTIFIER)));

/**
 * The migrate function's environment: it connects as the schema's owner, either with `DATABASE_URL` or,
 * on AWS, directly to the instance with the admin credentials read from Secrets Manager at each run (so a
 * rotation never breaks it). Then it grants each function's database user its access.
 */
export const adminDatabaseConfigSchema = databaseFields
  .extend({
    /** The RDS admin secret (`host`, `port`, `username`, `password`), as RDS generates it. */
    DB_SECRET_ARN: z.string().min(1).optional(),
    /** `verify-full` (default; AWS); `disable` only for tests against a local server without TLS. */
    DB_TLS: z.enum(['verify-full', 'disable']).default('verify-full'),
    DB_USERS: databaseUsers.optional(),
    /** Comma-separated roles each function user joins: `rds_iam` on RDS, so it may log in with IAM tokens. */
    DB_USER_ROLES: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(SQL_IDENTIFIER)))
      .default([]),
    SLUICE_MIGRATIONS_DIR: z.string().min(1).optional(),
  })
  .refine((e) => e.DATABASE_URL || e.DB_SECRET_ARN || (e.DB_HOST && e.DB_USER && e.AWS_REGION), {
    message: 'set DATABASE_URL, or DB_SECRET_ARN (the admin secret), or DB_HOST, DB_USER and AWS_REGION',
    path: ['DATABASE_URL'],
  });
export type AdminDatabaseConfig = z.output<typeof adminDatabaseConfigSchema>;

export type EventsConfig = z.output<typeof eventsConfigSchema>;

export const eventsConfigSchema = z.object({
  /** The sluice event bus. Unset: no events are published (the schedule still drains every queue). */
  EVENT_BUS_NAME: z.string().min(1).optional(),
  /** The `source` of sluice's events on the bus. */
  EVENT_SOURCE: z.string().min(1).default('sluice'),
});

/** A producer's events (the API, `createWakeUp`): at most one `JobsEnqueued` per queue per `WAKE_COALESCE_MS`. */
export const producerEventsConfigSchema = eventsConfigSchema.extend({
  WAKE_COALESCE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
});

/** Parse `env` (default `process.env`) with `schema`, naming every bad variable in one error. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const res = schema.safeParse(env);
  if (!res.success) {
    throw new Error(`invalid environment: ${describeIssues(res.error.issues, 'environment')}`);
  }
  return res.data;
}
