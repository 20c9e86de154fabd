import type { Queryable } from '../db.js';
import type { JobDefinition, PayloadInput } from '../define.js';
import type { EnqueuedJob, EnqueueItem, EnqueueOptions } from '../enqueue.js';
import { LeaseLostError } from '../errors.js';
import type { Outcome } from '../sql/outcomes.js';
import { formatTraceparent } from '../trace.js';
import type { HeldJob } from './context.js';
import { storableResult } from './results.js';

/** A connection of its own for `ctx.transaction`, and the statements it runs on it. */
export interface TransactionOps {
  connect(): Promise<Queryable & { release(err?: Error | boolean): void }>;
  /** The outcome statement, on the transaction's connection. */
  record(client: Queryable, outcomes: readonly Outcome[]): Promise<Set<string>>;
  /** Enqueue, on the transaction's connection. */
  enqueue(client: Queryable, items: readonly EnqueueItem[]): Promise<EnqueuedJob[]>;
  /** Told of the jobs `tx.enqueue` added, once they committed (to wake their queues); its failure is ignored. */
  committed?: ((jobs: EnqueuedJob[]) => void) | undefined;
}

/** What `ctx.transaction(fn)` gives `fn`: the transaction's connection and an enqueue inside it. */
export interface JobTransaction {
  /** A query inside the transaction. */
  query: Queryable['query'];
  /** Enqueue a follow-up job that commits, or rolls back, with this transaction and the job's success. */
  enqueue<D extends JobDefinition>(job: D, payload: PayloadInput<D>, options?: EnqueueOptions): Promise<EnqueuedJob>;
}

/**
 * `ctx.transaction(fn)`: `fn`'s writes and the job's success in one transaction on a connection of its
 * own, fenced by the lease. BEGIN; `fn`; the outcome statement for this job's success (its result is what
 * `fn` returned), which applies only where the claim's token still holds the job; COMMIT if it applied,
 * ROLLBACK otherwise (the lease was lost: `LeaseLostError`, nothing `fn` wrote persists) or if `fn` threw, the
 * result cannot be stored, or the attempt was aborted meanwhile (timeout, cancel). While the outcome holds the
 * job's row, heartbeats pass the job over (`finishing`), so they cannot wait on it and read it as lost. One
 * transaction, no session state: safe through RDS Proxy.
 */
export async function runJobTransaction<T>(
  ops: TransactionOps,
  job: HeldJob,
  fn: (tx: JobTransaction) => Promise<T>,
  maxResultBytes: number,
): Promise<T> {
  const client = await ops.connect();
  let committed = false;
  const enqueued: EnqueuedJob[] = [];
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const tx: JobTransaction = {
      query: (text, values) => client.query(text, values),
      enqueue: async (def, payload, options) => {
        // A follow-up continues the attempt's trace unless it is given its own.
        const trace = options?.trace ?? (job.trace && formatTraceparent(job.trace));
        const opts = trace === undefined ? options : { ...options, trace };
        const added = (await ops.enqueue(client, [{ job: def, payload, options: opts }]))[0] as EnqueuedJob;
        enqueued.push(added);
        return added;
      },
    };
    const value = await fn(tx);
    const resultJson = storableResult(value, maxResultBytes);
    job.controller.signal.throwIfAborted();
    job.finishing = true;
    const outcome: Outcome = {
      id: job.row.id,
      token: job.token,
      type: job.row.type,
      kind: 'success',
      delaySeconds: 0,
      error: null,
      resultJson,
      limited: job.row.limited,
    };
    const applied = await ops.record(client, [outcome]);
    if (!applied.has(job.row.id)) throw new LeaseLostError(`lease of job ${job.row.id} was lost: its transaction was rolled back`);
    await client.query('COMMIT');
    committed = true;
    job.recorded = resultJson === undefined ? {} : { resultJson };
    if (enqueued.length > 0 && ops.committed) {
      try {
        ops.committed(enqueued);
      } catch {
        // A wake-up that fails costs the follow-ups their head start only: the schedule drains them.
      }
    }
    return value;
  } catch (err) {
    if (!committed) {
      try {
        await client.query('ROLLBACK');
      } catch (rollback) {
        broken = rollback as Error; // the connection is unusable: the pool drops it
      }
    }
    job.finishing = false;
    throw err;
  } finally {
    client.release(broken ?? false);
  }
}
