import { JobTimeoutError, LeaseLostError, SluiceError } from '../errors.js';
import type { JobContext, StepOptions } from '../handler.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import type { ClaimedRow } from '../sql/claim.js';
import type { TraceContext } from '../trace.js';
import type { WorkerStore } from './store.js';
import { type JobTransaction, runJobTransaction, type TransactionOps } from './transaction.js';

interface CompletedStep {
  name: string;
  seq: number;
  result: unknown;
  compensate?: ((result: never) => Promise<void> | void) | undefined;
}

/** What running the compensations of a dying job did. */
export interface CompensationReport {
  /** Steps whose compensation ran and returned, newest first. */
  compensated: string[];
  failures: Array<{ step: string; error: ReturnType<typeof errorFields> }>;
  /** Stored steps the final attempt did not reach: not compensated. */
  notReached: string[];
}

/** The live state of one claimed job inside a drain. */
export interface HeldJob {
  readonly row: ClaimedRow;
  readonly token: string;
  readonly controller: AbortController;
  lost: boolean;
  cancelRequested: boolean;
  /** performance.now() when the handler started; unset until then. */
  startedAt?: number;
  /** performance.now() when the claim or extend that last confirmed the lease was sent: it runs leaseMs from then at least. */
  leaseSentAt: number;
  /** `ctx.transaction` is writing the job's success: heartbeats pass it over (its row is held until the commit). */
  finishing?: boolean;
  /** `ctx.transaction` committed the job's success (and its result): nothing more may be written for this attempt. */
  recorded?: { resultJson?: string };
  /** The attempt's point in its trace (its span's, or the job's stored context), set as it starts. */
  trace?: TraceContext | undefined;
}

/** `ctx` for one attempt: heartbeats, durable steps, and the compensations to run if the job dies. */
export class AttemptContext implements JobContext {
  readonly id: string;
  readonly type: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly createdAt: Date;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly #steps: Pick<WorkerStore, 'loadSteps' | 'saveStep'>;
  readonly #job: HeldJob;
  readonly #heartbeat: (job: HeldJob) => Promise<void>;
  readonly #tx: { ops: TransactionOps | undefined; maxResultBytes: number };
  #transacted = false;
  /** `ctx.transaction`'s callback is running: its connection is held, so a step (another connection) is refused. */
  #inTransaction = false;
  #stored: Promise<Map<string, { seq: number; result: unknown }>> | undefined;
  #lastSeq = 0;
  #completed: CompletedStep[] = [];

  constructor(args: {
    steps: Pick<WorkerStore, 'loadSteps' | 'saveStep'>;
    job: HeldJob;
    logger: Logger;
    heartbeat: (job: HeldJob) => Promise<void>;
    /** `ctx.transaction`'s connection and statements (absent when the database is not a pool). */
    transaction?: TransactionOps | undefined;
    maxResultBytes: number;
  }) {
    const { row } = args.job;
    this.id = row.id;
    this.type = row.type;
    this.queue = row.queue;
    this.attempt = row.attempt;
    this.maxAttempts = row.max_attempts;
    this.createdAt = row.created_at;
    this.signal = args.job.controller.signal;
    this.#steps = args.steps;
    this.#job = args.job;
    this.#heartbeat = args.heartbeat;
    this.#tx = { ops: args.transaction, maxResultBytes: args.maxResultBytes };
    this.logger = bindFields(args.logger, jobFields({ id: row.id, type: row.type, attempt: row.attempt }));
  }

  get trace(): TraceContext | undefined {
    return this.#job.trace;
  }

  heartbeat(): Promise<void> {
    return this.#heartbeat(this.#job);
  }

  transaction<T>(fn: (tx: JobTransaction) => Promise<T>): Promise<T> {
    if (this.#transacted) return Promise.reject(new SluiceError("ctx.transaction runs once per attempt: it records the job's success"));
    const ops = this.#tx.ops;
    if (!ops) {
      return Promise.reject(new SluiceError('ctx.transaction needs the worker to have a pg.Pool: it takes a connection of its own'));
    }
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    this.#transacted = true;
    this.#inTransaction = true;
    return runJobTransaction(ops, this.#job, fn, this.#tx.maxResultBytes).finally(() => {
      this.#inTransaction = false;
    });
  }

  async step<T>(name: string, fn: () => Promise<T> | T, options?: StepOptions<T>): Promise<T> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200)
      throw new TypeError('step name must be a string of 1 to 200 characters');
    if (this.#inTransaction) {
      // It would wait for a second connection while the transaction holds one: with a small pool, forever.
      throw new SluiceError(
        `ctx.step(${JSON.stringify(name)}) inside ctx.transaction: do the work with tx, or make it a step before the transaction`,
      );
    }
    const storedSteps = await this.#storedSteps();
    const stored = storedSteps.get(name);
    if (stored) {
      this.#completed.push({ name, seq: stored.seq, result: stored.result, compensate: options?.compensate });
      return stored.result as T;
    }
    this.signal.throwIfAborted();
    const value = await fn();
    // Stored as {"v": value} so that undefined and null both come back as they went in.
    const json = JSON.stringify({ v: value });
    const result = (JSON.parse(json) as { v?: unknown }).v;
    const seq = ++this.#lastSeq; // assigned synchronously: parallel steps get distinct, completion-ordered numbers
    const saved = await this.#steps.saveStep({ jobId: this.id, token: this.#job.token, name, seq, resultJson: json });
    if (!saved) throw new LeaseLostError(`step ${JSON.stringify(name)} of job ${this.id} was not stored: the lease is no longer held`);
    storedSteps.set(name, { seq, result });
    this.#completed.push({ name, seq, result, compensate: options?.compensate });
    return result as T;
  }

  /** The job's stored steps, loaded once (concurrent steps share the one load). */
  #storedSteps(): Promise<Map<string, { seq: number; result: unknown }>> {
    this.#stored ??= this.#steps.loadSteps(this.id).then((rows) => {
      this.#lastSeq = Math.max(0, ...rows.map((r) => r.seq));
      return new Map(rows.map((r) => [r.name, { seq: r.seq, result: (r.result as { v?: unknown } | null)?.v }]));
    });
    return this.#stored;
  }

  /**
   * Run the compensations of completed steps, newest first. Returns the failures (each is also logged)
   * and the stored steps this attempt never reached, whose compensations could not run (their closures
   * live in the handler code that did not get that far).
   */
  async compensate(boundMs: number): Promise<CompensationReport> {
    const failures: CompensationReport['failures'] = [];
    const compensated: string[] = [];
    const steps = [...this.#completed].sort((a, b) => b.seq - a.seq);
    for (const step of steps) {
      if (!step.compensate) continue;
      try {
        await withinMs(
          Promise.resolve().then(() => step.compensate?.(step.result as never)),
          boundMs,
          `compensation of step ${step.name}`,
        );
        compensated.push(step.name);
        this.logger.info('step compensated', { step: step.name });
      } catch (err) {
        const error = errorFields(err);
        failures.push({ step: step.name, error });
        this.logger.error('step compensation failed', { step: step.name, error });
      }
    }
    const reached = new Set(this.#completed.map((c) => c.name));
    const notReached = [...(await this.#storedSteps()).entries()]
      .filter(([name]) => !reached.has(name))
      .sort((a, b) => b[1].seq - a[1].seq)
      .map(([name]) => name);
    if (notReached.length > 0) this.logger.error('steps left uncompensated: the final attempt never reached them', { steps: notReached });
    return { compensated, failures, notReached };
  }
}

/** Await `work`, or fail with a timeout after `ms`. */
async function withinMs(work: Promise<unknown>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new JobTimeoutError(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function bindFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (m, f) => logger.debug(m, { ...fields, ...f }),
    info: (m, f) => logger.info(m, { ...fields, ...f }),
    warn: (m, f) => logger.warn(m, { ...fields, ...f }),
    error: (m, f) => logger.error(m, { ...fields, ...f }),
  };
}
