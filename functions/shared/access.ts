import type { AccessProfile } from '../../src/access.js';

/**
 * The database access of each function that connects as its own user (migrate connects as the owner).
 * The migrate function grants these on every deploy; the CDK stack gives each function `rds-db:connect`
 * for its user only.
 *
 * @example
 * privilegesOf(FUNCTION_ACCESS.periodic); // { jobs: ['INSERT', 'SELECT', 'UPDATE'], active_jobs: ['INSERT', 'SELECT'], job_steps: [] }
 */
export const FUNCTION_ACCESS = {
  /** Enqueue, read, cancel, stats, dead letters. */
  api: ['producer', 'operator'],
  /** Drain; handlers may enqueue follow-up jobs (fan-out). */
  worker: ['producer', 'consumer'],
  /** Prune and stats. */
  maintenance: ['maintainer'],
  /** Enqueue the ticks of periodic jobs. */
  periodic: ['producer'],
} as const satisfies Record<'api' | 'worker' | 'maintenance' | 'periodic', readonly AccessProfile[]>;

export type DatabaseUserFunction = keyof typeof FUNCTION_ACCESS;
