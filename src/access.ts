import { type ConnectionSource, type Queryable, quoteSchema, SQL_IDENTIFIER, withLockedTransaction } from './db.js';
import { ConfigError } from './errors.js';

/** A table privilege, or UPDATE of some columns only (which also allows locking the table's rows). */
type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'UPDATE (priority, run_at)';
type Table =
  | 'jobs'
  | 'active_jobs'
  | 'job_steps'
  | 'paused_queues'
  | 'job_events'
  | 'job_counts'
  | 'bulk_requests'
  | 'replace_keys'
  | 'flow_queues'
  | 'flow_keys'
  | 'flow_jobs'
  | 'flow_state'
  | 'job_costs';

/**
 * What each kind of caller does to the queue's tables: the least that sluice's SQL needs. A database user
 * gets the union of its profiles; nothing else (no DDL, no TRUNCATE, no migrations table).
 */
export const ACCESS_PROFILES = {
  /**
   * `enqueue`/`enqueueMany`, including the release of an expired idempotency key and the read-back of the
   * existing job when a key replays (a job's view joins its live row), and an enqueue under a replace key
   * (it locks the key and the queued job's live row, and replaces that job's payload and due time); a job
   * of a limited type also gets its flow row, key and queue (docs/flow-control.md).
   */
  producer: {
    jobs: ['SELECT', 'INSERT', 'UPDATE'],
    // Only a queued job's due time and priority: a producer can never touch a lease or an attempt.
    active_jobs: ['SELECT', 'INSERT', 'UPDATE (priority, run_at)'],
    job_events: ['SELECT'],
    replace_keys: ['SELECT', 'INSERT', 'UPDATE'],
    flow_queues: ['SELECT', 'INSERT'],
    flow_keys: ['SELECT', 'INSERT'],
    flow_jobs: ['SELECT', 'INSERT'],
  },
  /**
   * `getJob(s)`, `jobTimeline`, listing and counting jobs, `cancel`, `stats`, `activity`, pause and resume,
   * the dead-letter operations (list, redrive, purge) and the bulk actions with their idempotency records;
   * cancel and redrive write their markers on the timeline.
   */
  operator: {
    jobs: ['SELECT', 'UPDATE', 'DELETE'],
    active_jobs: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    job_steps: ['SELECT', 'DELETE'],
    paused_queues: ['SELECT', 'INSERT', 'DELETE'],
    job_events: ['SELECT', 'INSERT', 'DELETE'],
    job_counts: ['SELECT'],
    bulk_requests: ['SELECT', 'INSERT', 'UPDATE'],
    // A cancelled limited job leaves its flow row; a redriven one is registered again.
    flow_queues: ['SELECT', 'INSERT'],
    flow_keys: ['SELECT', 'INSERT'],
    flow_jobs: ['SELECT', 'INSERT', 'DELETE'],
    // stats() carries the last hour's costs.
    job_costs: ['SELECT'],
  },
  /**
   * A worker's claim (which skips a paused queue), heartbeats, durable steps and outcomes; an outcome
   * appends to the timeline and adds to the per-minute counts (an upsert: it reads the row it adds to).
   */
  consumer: {
    jobs: ['SELECT', 'UPDATE'],
    active_jobs: ['SELECT', 'UPDATE', 'DELETE'],
    job_steps: ['SELECT', 'INSERT'],
    paused_queues: ['SELECT'],
    job_events: ['INSERT'],
    job_counts: ['SELECT', 'INSERT', 'UPDATE'],
    // The flow claim takes turns on its queue's row (a row lock, which needs UPDATE) and moves its cursor.
    flow_queues: ['SELECT', 'UPDATE'],
    flow_keys: ['SELECT'],
    flow_jobs: ['SELECT', 'UPDATE', 'DELETE'],
    // Cooldowns after a 429, and the rate limits' buckets the claim spends.
    flow_state: ['SELECT', 'INSERT', 'UPDATE'],
    // What drains cost, added once a drain (recordCosts, an upsert).
    job_costs: ['SELECT', 'INSERT', 'UPDATE'],
  },
  /**
   * `prune` (with the timelines of what it deletes, expired bulk-request keys and stale replace keys),
   * `compactActivity` and `stats` (prune locks its victims FOR UPDATE, which needs UPDATE).
   */
  maintainer: {
    jobs: ['SELECT', 'UPDATE', 'DELETE'],
    active_jobs: ['SELECT'],
    job_steps: ['SELECT', 'DELETE'],
    paused_queues: ['SELECT'],
    job_events: ['SELECT', 'DELETE'],
    job_counts: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    bulk_requests: ['SELECT', 'UPDATE', 'DELETE'],
    replace_keys: ['SELECT', 'UPDATE', 'DELETE'],
    // Keys no job holds are deleted, and any key a job holds without its row is put back.
    flow_keys: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    flow_jobs: ['SELECT'],
    flow_state: ['SELECT', 'UPDATE', 'DELETE'],
    // stats() reads the last hour's costs; compactActivity deletes old minutes.
    job_costs: ['SELECT', 'DELETE'],
  },
} as const satisfies Record<string, Partial<Record<Table, readonly Privilege[]>>>;

export type AccessProfile = keyof typeof ACCESS_PROFILES;

/** Every column-level privilege a profile above grants: `grantAccess` revokes each before granting anew. */
const COLUMN_GRANTS = [{ table: 'active_jobs', privilege: 'UPDATE (priority, run_at)' }] as const;

/** The tables the profiles cover: every table a migration creates, except the migrations' own record. */
export const ACCESS_TABLES: readonly Table[] = [
  'jobs',
  'active_jobs',
  'job_steps',
  'paused_queues',
  'job_events',
  'job_counts',
  'bulk_requests',
  'replace_keys',
  'flow_queues',
  'flow_keys',
  'flow_jobs',
  'flow_state',
  'job_costs',
];

function quoteRole(name: string): string {
  if (!SQL_IDENTIFIER.test(name)) throw new ConfigError(`database user name must match ${SQL_IDENTIFIER}, got ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** The table privileges a set of profiles adds up to, e.g. `{ jobs: ['INSERT', 'SELECT', 'UPDATE'], … }`. */
export function privilegesOf(profiles: readonly AccessProfile[]): Record<Table, Privilege[]> {
  const out = {} as Record<Table, Privilege[]>;
  for (const table of ACCESS_TABLES) {
    const set = new Set<Privilege>();
    for (const p of profiles)
      for (const priv of (ACCESS_PROFILES[p] as Partial<Record<Table, readonly Privilege[]>>)[table] ?? []) set.add(priv);
    // UPDATE of the whole table covers UPDATE of some of its columns.
    if (set.has('UPDATE')) for (const priv of set) if (priv.startsWith('UPDATE (')) set.delete(priv);
    out[table] = [...set].sort();
  }
  return out;
}

export interface GrantAccessOptions {
  db: ConnectionSource;
  /** The queue's schema. Default `sluice`. */
  schema?: string;
  /** Each database user and the profiles it gets. A user that does not exist is created (LOGIN, no password). */
  users: Record<string, readonly AccessProfile[]>;
  /** Roles every user is made a member of, e.g. `['rds_iam']` so that RDS accepts IAM auth tokens for it. */
  memberOf?: readonly string[];
}

/**
 * Give each database user exactly the privileges of its profiles on the schema's tables, creating users
 * that are missing. Run it as the schema's owner after `migrate()`. It is idempotent, and it converges:
 * privileges a user holds beyond its profiles are revoked, in the same transaction as the grants, so no
 * session ever sees a user with too little. Creating roles needs CREATEROLE (the RDS master user has it).
 *
 * @example
 * await grantAccess({ db: pool, users: { sluice_api: ['producer', 'operator'], sluice_worker: ['producer', 'consumer'] }, memberOf: ['rds_iam'] });
 */
export async function grantAccess(options: GrantAccessOptions): Promise<void> {
  const s = quoteSchema(options.schema ?? 'sluice');
  const entries = Object.entries(options.users).map(([name, profiles]) => {
    for (const p of profiles) {
      if (!Object.hasOwn(ACCESS_PROFILES, p))
        throw new ConfigError(`unknown access profile ${JSON.stringify(p)} for ${name}; known: ${Object.keys(ACCESS_PROFILES).join(', ')}`);
    }
    return { name, role: quoteRole(name), privileges: privilegesOf(profiles), monitors: profiles.includes('maintainer') };
  });
  const memberOf = (options.memberOf ?? []).map((name) => ({ name, role: quoteRole(name) }));
  // Roles are cluster-wide: serialise concurrent runs so two never race to create the same user.
  await withLockedTransaction(options.db, 'sluice.grantAccess', async (client) => {
    const me = await client.query<{ name: string }>('SELECT current_user AS name');
    const existing = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [
      [...entries.map((e) => e.name), ...memberOf.map((m) => m.name)],
    ]);
    const exists = new Set(existing.rows.map((r) => r.rolname));
    for (const m of memberOf) {
      if (!exists.has(m.name)) throw new ConfigError(`role ${m.name} does not exist in this database server (rds_iam exists only on RDS)`);
    }
    for (const e of entries) {
      if (e.name === me.rows[0]?.name)
        throw new ConfigError(`refusing to restrict ${e.name}: it is the user running grantAccess (the owner)`);
      if (!exists.has(e.name)) await client.query(`CREATE ROLE ${e.role} LOGIN`);
      await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${e.role}`);
      // Column privileges outlive REVOKE ALL on the table: revoke the ones a profile may have given.
      for (const c of COLUMN_GRANTS) await client.query(`REVOKE ${c.privilege} ON ${s}.${c.table} FROM ${e.role}`);
      await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${e.role}`);
      await client.query(`REVOKE CREATE ON SCHEMA ${s} FROM ${e.role}`);
      await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${e.role}`);
      for (const table of ACCESS_TABLES) {
        const privileges = e.privileges[table];
        if (privileges.length > 0) await client.query(`GRANT ${privileges.join(', ')} ON ${s}.${table} TO ${e.role}`);
      }
      for (const m of memberOf) await client.query(`GRANT ${m.role} TO ${e.role}`);
      await monitorRole(client, e.monitors ? `GRANT pg_monitor TO ${e.role}` : `REVOKE pg_monitor FROM ${e.role}`);
    }
  });
}

/**
 * A maintainer reads the server's statistics of every session (`health()`: the oldest transaction holding
 * back vacuum), which takes the predefined role `pg_monitor`; any other user loses it. A user running
 * grantAccess that may not grant it (no admin option on it) leaves it as it is: `health()` then reports
 * the oldest transaction's age as unknown, and the rest of the grants stand.
 */
async function monitorRole(client: Queryable, grantOrRevoke: string): Promise<void> {
  await client.query('SAVEPOINT sluice_monitor');
  try {
    await client.query(grantOrRevoke);
    await client.query('RELEASE SAVEPOINT sluice_monitor');
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
    await client.query('ROLLBACK TO SAVEPOINT sluice_monitor');
  }
}
