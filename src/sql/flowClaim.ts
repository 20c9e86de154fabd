import type { Queryable, SchemaName } from '../db.js';
import { type ClaimedRow, claimOrder } from './claim.js';

/** A job type's limits as the flow claim takes them (type '' for the queue's own): `null` for none. */
export interface FlowLimitRow {
  type: string;
  total: number | null;
  perKey: number | null;
  /** Starts a second allowed in total, and the bucket's size (null for no rate). */
  rate: number | null;
  burst: number | null;
  /** The same, for each key. */
  keyRate: number | null;
  keyBurst: number | null;
}

export interface FlowClaim {
  rows: ClaimedRow[];
  /** Nothing was claimed although due jobs wait: their limits are full (the queue is held, not empty). */
  held: boolean;
  /** When held: in how many ms a cooldown or a rate lets one start (undefined when only concurrency holds them). */
  retryInMs?: number | undefined;
}

/**
 * Claim up to `limit` due jobs of limited types (a queue's parked jobs, in `flow_jobs`) in one statement,
 * within each type's and each key's concurrency limit, the keys taking turns.
 *
 * - Flow claims of a queue take turns on its `flow_queues` row (a row lock held for the statement, not a
 *   session lock: safe behind RDS Proxy), so each counts what runs after the one before it committed.
 * - Running means started with a lease that has not lapsed: a worker that dies gives its slots back when
 *   its lease lapses, and such a job is offered again first in its key's turn (its lost attempt noted).
 * - A key's room is the least of its concurrency left, its type's, the whole tokens of its and its type's
 *   rate buckets (refilled at the rate since last spent, up to the burst), and none while it or its type
 *   cools down; started jobs spend their buckets in the same statement.
 * - Each key with room offers its due jobs in priority and due order, up to its even share of the batch;
 *   the batch takes every key's first job, then every key's second, and so on, starting after the key the
 *   last claim ended with, so a key with 100,000 jobs queued cannot starve one with ten. With at least as
 *   many keys with room as the batch, keys are probed in that order only until the batch is full.
 * - Its clock is read once, after its snapshot (`clock_timestamp()`): a start is then later than the end of
 *   every outcome the claim saw, which `now()`, the transaction's start, would not be.
 *
 * The statement lives in `claim_flow_jobs` (migrations/0013_flow_control.sql; its body now with queue limits
 * in 0014_queue_limits_trace.sql), planned once per backend.
 */
export async function claimFlowJobs(
  db: Queryable,
  s: SchemaName,
  args: { queue: string; limit: number; leaseSeconds: number; token: string; limits: readonly FlowLimitRow[] },
): Promise<FlowClaim> {
  const res = await db.query<ClaimedRow>(`SELECT * FROM ${s}.claim_flow_jobs($1, $2, $3, $4::uuid, $5::jsonb)`, [
    args.queue,
    args.limit,
    args.leaseSeconds,
    args.token,
    JSON.stringify(args.limits),
  ]);
  const rows = res.rows.filter((r) => r.id !== null);
  for (const r of rows) r.limited = true;
  rows.sort(claimOrder);
  // The status row: the database's now (created_at) and the earliest start a cooldown or a rate allows.
  const status = res.rows.find((r) => r.id === null);
  const retryInMs = status?.run_at ? Math.max(0, status.run_at.getTime() - status.created_at.getTime()) : undefined;
  return { rows, held: rows.length === 0 && status !== undefined, retryInMs };
}

/** Whether a queue has ever held limited jobs (a worker without limits of its own still drains those). */
export async function hasFlowJobs(db: Queryable, s: SchemaName, queue: string): Promise<boolean> {
  const res = await db.query(`SELECT 1 FROM ${s}.flow_queues WHERE queue = $1`, [queue]);
  return res.rows.length > 0;
}
