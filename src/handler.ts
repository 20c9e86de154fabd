import type { JobDefinition, Payload } from './define.js';
import type { Logger } from './logger.js';
import type { TraceContext } from './trace.js';
import type { JobTransaction } from './worker/transaction.js';

/** Options of `ctx.step`. */
export interface StepOptions<T> {
  /** Undo this step if the job goes dead; receives the step's stored result. Compensations run newest first. */
  compensate?: (result: T) => Promise<void> | void;
}

/** What a handler gets besides its payload. */
export interface JobContext {
  readonly id: string;
  readonly type: string;
  readonly queue: string;
  /** This attempt's number, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly createdAt: Date;
  /** Aborts on timeout, cancel or lease loss; `signal.reason` says which. Pass it to fetch and friends. */
  readonly signal: AbortSignal;
  /** Logs with `job_id`, `job_type` and `attempt` attached. */
  readonly logger: Logger;
  /**
   * This attempt's point in its trace: the worker's span for it when the worker traces, otherwise the
   * context the job was enqueued with; undefined when it has none. Send `formatTraceparent(ctx.trace)` as
   * the `traceparent` header of an outgoing request to carry the trace on.
   */
  readonly trace: TraceContext | undefined;
  /**
   * Make sure the lease is held and fresh; rejects with `LeaseLostError` if it is lost. The lease is extended
   * automatically while the handler runs, all held jobs in one statement every `heartbeatMs`: a call within
   * that interval of the last extend sends nothing, a later one extends at once, shared with every other
   * caller meanwhile. So calling it once a page costs no statement of its own.
   */
  heartbeat(): Promise<void>;
  /**
   * Run `fn` once per job across attempts: its JSON result is stored, and a retry returns the stored result
   * without running `fn` again. Names must be unique within a handler.
   */
  step<T>(name: string, fn: () => Promise<T> | T, options?: StepOptions<T>): Promise<T>;
  /**
   * Exactly-once database effects: run `fn` in one transaction that also records this job's success, fenced
   * by the lease. If the lease was lost (another worker took the job), the transaction rolls back, nothing
   * `fn` wrote persists, and this rejects with `LeaseLostError`. `tx.query` runs inside it; `tx.enqueue(def,
   * payload)` adds follow-up jobs that commit with it. `fn`'s value is the job's result. Once per attempt;
   * after it the job has succeeded, whatever the handler does next. Needs the worker's database to be a pool.
   *
   * @example
   * await ctx.transaction(async (tx) => {
   *   await tx.query('UPDATE orders SET status = $2 WHERE id = $1', [orderId, 'paid']);
   *   await tx.enqueue(sendReceipt, { orderId });
   * });
   */
  transaction<T>(fn: (tx: JobTransaction) => Promise<T>): Promise<T>;
}

/**
 * A handler: resolve to succeed, with a JSON value to keep as the job's result (`getJob(id).result`, at
 * most `maxResultBytes`) or with nothing; throw to fail (see the error types for retry, don't retry, retry
 * later). A result that cannot be stored (not JSON, too large) fails the attempt with a `PermanentJobError`.
 */
export type HandlerFn<P> = (payload: P, ctx: JobContext) => unknown;

/** Wraps a handler. Payloads are opaque to middleware. */
export type Middleware = (next: HandlerFn<unknown>) => HandlerFn<unknown>;

/** A handler attached to its job definition. */
export interface JobHandler<D extends JobDefinition = JobDefinition> {
  readonly definition: D;
  readonly handle: HandlerFn<Payload<D>>;
}

/** Any job's handler, whatever its payload type: what a worker's `handlers` list holds. */
export interface AnyJobHandler {
  readonly definition: JobDefinition;
  readonly handle: HandlerFn<never>;
}

/**
 * Attach a handler to a definition, in worker code only.
 *
 * @example
 * export const sendEmailHandler = defineHandler(sendEmail, async ({ userId, template }, ctx) => {
 *   await mailer.send(userId, template, { signal: ctx.signal });
 * });
 */
export function defineHandler<D extends JobDefinition>(definition: D, handle: HandlerFn<Payload<D>>): JobHandler<D> {
  return Object.freeze({ definition, handle });
}
