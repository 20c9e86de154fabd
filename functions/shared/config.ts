import { z } from 'zod';
import { describeIssues } from '../../src/text.js';

/**
 * Environment of the Lambda functions, parsed once per container. Each function reads the part it needs
 * through `loadConfig(schema)`; a missing or invalid variable fails the cold start with its name.
 */
const databaseEnv = z
  .object({
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
    SLUICE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/)
      .default('sluice'),
  })
  .refine((e) => e.DATABASE_URL || (e.DB_HOST && e.DB_USER && e.AWS_REGION), {
    message: 'set DATABASE_URL, or DB_HOST, DB_USER and AWS_REGION for IAM authentication through RDS Proxy',
    path: ['DATABASE_URL'],
  });

export const databaseConfigSchema = databaseEnv;
export type DatabaseConfig = z.output<typeof databaseEnv>;

export type EventsConfig = z.output<typeof eventsConfigSchema>;

export const eventsConfigSchema = z.object({
  /** The sluice event bus. Unset: no events are published (the schedule still drains every queue). */
  EVENT_BUS_NAME: z.string().min(1).optional(),
  /** The `source` of sluice's events on the bus. */
  EVENT_SOURCE: z.string().min(1).default('sluice'),
});

/** Parse `env` (default `process.env`) with `schema`, naming every bad variable in one error. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const res = schema.safeParse(env);
  if (!res.success) {
    throw new Error(`invalid environment: ${describeIssues(res.error.issues, 'environment')}`);
  }
  return res.data;
}
