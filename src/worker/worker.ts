import { z } from 'zod';
import { parseOptions } from '../config.js';
import { QUEUE_NAME } from '../define.js';
import type { EnqueuedJob } from '../enqueue.js';
import { ConfigError, isTransientDatabaseError } from '../errors.js';
import type { AnyJobHandler, JobHandler } from '../handler.js';
import { errorFields, type Logger, silentLogger } from '../logger.js';
import { type ClaimEvent, Drainer, type DrainerConfig, type DrainSummary, emptySummary, type OutcomeEvent } from './drainer.js';
import { flowLimitsOf, postgresStore, type WorkerCore, type WorkerStore } from './store.js';
import type { AttemptTracing } from './tracing.js';
import { Wakeup } from './wakeup.js';

export const workerOptionsSchema = z
  .object({
    /** The queue this worker drains. */
    queue: z.string().regex(QUEUE_NAME).default('default'),
    /** How long a claim holds a job before another worker may take it, unless heartbeats extend it. */
    leaseMs: z.number().int().min(500).max(3_600_000).default(30_000),
    /** How often held leases are extended. Default a third of `leaseMs`. */
    heartbeatMs: z.number().int().min(50).optional(),
    /**
     * Jobs claimed per round trip: a number, or `'auto'` (the default), which claims about a second of
     * work for the slots at the attempt times seen so far, between `concurrency` and 1000 (see batchSize.ts).
     */
    batchSize: z.union([z.literal('auto'), z.number().int().min(1).max(1000)]).default('auto'),
    /** Handlers running at once. */
    concurrency: z.number().int().min(1).max(1000).default(10),
    /** How long `run()` sleeps when nothing is due, unless woken by `wake()`. */
    pollIntervalMs: z.number().int().min(10).max(600_000).default(1000),
    /** Time kept at the end of a drain's budget to release unstarted jobs and write outcomes. */
    reserveMs: z.number().int().min(0).max(60_000).default(250),
  })
  .strict()
  .refine((o) => o.heartbeatMs === undefined || o.heartbeatMs < o.leaseMs, {
    message: 'heartbeatMs must be below leaseMs',
    path: ['heartbeatMs'],
  });

export type WorkerOptions = z.input<typeof workerOptionsSchema> & {
  /** The handlers this worker runs, built with `defineHandler`. Every job type on the queue needs one. */
  handlers: ReadonlyArray<AnyJobHandler>;
  logger?: Logger | undefined;
  /** Called after each outcome is written (success, retry, dead, …): for metrics and events. */
  onOutcome?: ((event: OutcomeEvent) => void | Promise<void>) | undefined;
  /** A span for each attempt, continuing the job's trace (`openTelemetryTracing`, or sluice/lambda's X-Ray one). */
  tracing?: AttemptTracing | undefined;
  /** Called after each claim statement with its latency: the Lambda worker publishes it as `ClaimLatencyMs`. */
  onClaim?: ((event: ClaimEvent) => void) | undefined;
  /**
   * Called with the follow-up jobs a `ctx.transaction` enqueued (`tx.enqueue`), once its commit made them
   * real: the Lambda worker wakes their queues with it.
   */
  onEnqueued?: ((jobs: EnqueuedJob[]) => void) | undefined;
};

/** Limits of one `drain()`: a time budget (remainingTimeMs or an absolute deadline) and optional overrides. */
export interface DrainOptions {
  /** Milliseconds this drain may take, e.g. Lambda's `getRemainingTimeInMillis()` less a margin. */
  remainingTimeMs?: number;
  /** Epoch milliseconds by which the drain returns. */
  deadline?: number;
  batchSize?: number | 'auto';
  concurrency?: number;
  /** Aborting stops the drain early: no more claims, unstarted jobs released (attempt unspent), running ones finish. */
  signal?: AbortSignal;
}

/**
 * Runs the handlers of one queue: `drain()` for a bounded budget (a Lambda invocation), `run()` as a
 * long-lived loop (local, containers).
 *
 * @example
 * const worker = sluice.worker({ queue: 'emails', handlers: [sendEmailHandler] });
 * const summary = await worker.drain({ remainingTimeMs: context.getRemainingTimeInMillis() - 2_000 });
 */
export class Worker {
  readonly queue: string;
  readonly #store: WorkerStore;
  readonly #maxErrorMessageLength: number;
  readonly #maxResultBytes: number;
  readonly #options: z.output<typeof workerOptionsSchema>;
  readonly #handlers: Map<string, JobHandler>;
  readonly #logger: Logger;
  readonly #wakeup = new Wakeup();
  readonly #onOutcome: WorkerOptions['onOutcome'];
  readonly #tracing: AttemptTracing | undefined;
  readonly #onClaim: WorkerOptions['onClaim'];

  /** `core` is the database, schema and settings of a `Sluice`; `sluice.worker(options)` passes its own. */
  constructor(core: WorkerCore, options: WorkerOptions) {
    const { handlers, logger, onOutcome, tracing, onClaim, onEnqueued, ...rest } = options;
    this.#onOutcome = onOutcome;
    this.#tracing = tracing;
    this.#onClaim = onClaim;
    this.#options = parseOptions(workerOptionsSchema, rest, 'worker options');
    this.queue = this.#options.queue;
    this.#maxErrorMessageLength = core.settings.maxErrorMessageLength;
    this.#maxResultBytes = core.settings.maxResultBytes;
    this.#logger = logger ?? silentLogger;
    this.#handlers = new Map();
    for (const h of handlers as ReadonlyArray<JobHandler>) {
      if (this.#handlers.has(h.definition.type)) throw new ConfigError(`two handlers for job type ${JSON.stringify(h.definition.type)}`);
      this.#handlers.set(h.definition.type, h);
    }
    this.#store = postgresStore(
      core,
      flowLimitsOf(
        [...this.#handlers.values()].map((h) => h.definition),
        this.queue,
      ),
    );
    if (onEnqueued && this.#store.transaction) this.#store.transaction = { ...this.#store.transaction, committed: onEnqueued };
  }

  #config(): DrainerConfig {
    return {
      store: this.#store,
      maxErrorMessageLength: this.#maxErrorMessageLength,
      maxResultBytes: this.#maxResultBytes,
      queue: this.queue,
      handlers: this.#handlers,
      logger: this.#logger,
      leaseMs: this.#options.leaseMs,
      heartbeatMs: this.#options.heartbeatMs ?? Math.floor(this.#options.leaseMs / 3),
      reserveMs: this.#options.reserveMs,
      onOutcome: this.#onOutcome,
      tracing: this.#tracing,
      onClaim: this.#onClaim,
    };
  }

  /**
   * Drain due jobs within a time budget. Never starts a job whose timeout does not fit in the time left;
   * returns claimed but unstarted jobs to the queue without spending their attempt.
   */
  async drain(options: DrainOptions = {}): Promise<DrainSummary> {
    const deadline = options.deadline ?? (options.remainingTimeMs !== undefined ? Date.now() + options.remainingTimeMs : undefined);
    if (deadline === undefined || !Number.isFinite(deadline))
      throw new ConfigError('drain needs remainingTimeMs or deadline (a finite number)');
    return new Drainer(this.#config(), {
      deadline,
      batchSize: options.batchSize ?? this.#options.batchSize,
      concurrency: options.concurrency ?? this.#options.concurrency,
      signal: options.signal,
    }).run();
  }

  /**
   * Work until `signal` aborts: claim when jobs are due, sleep `pollIntervalMs` (or until `wake()`) when
   * none are. On abort, unstarted jobs are released and running ones finish. Database outages are logged
   * and retried with backoff. Resolves with the totals.
   */
  async run(options: { signal: AbortSignal }): Promise<DrainSummary> {
    const total = emptySummary();
    const started = performance.now();
    let failures = 0;
    while (!options.signal.aborted) {
      try {
        const s = await new Drainer(this.#config(), {
          deadline: Number.POSITIVE_INFINITY,
          batchSize: this.#options.batchSize,
          concurrency: this.#options.concurrency,
          idle: { signal: options.signal, wakeup: this.#wakeup, pollIntervalMs: this.#options.pollIntervalMs },
        }).run();
        for (const k of Object.keys(total) as Array<keyof DrainSummary>) {
          if (k !== 'moreDue') total[k] += s[k];
        }
        failures = 0;
      } catch (err) {
        failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        this.#logger[isTransientDatabaseError(err) ? 'warn' : 'error']('worker loop failed; retrying', {
          queue: this.queue,
          retry_in_ms: delay,
          error: errorFields(err),
        });
        await this.#wakeup.wait(delay, options.signal);
      }
    }
    total.durationMs = Math.round(performance.now() - started);
    return total;
  }

  /** Claim now instead of at the next poll: call it when jobs were just enqueued in this process. */
  wake(): void {
    this.#wakeup.notify();
  }
}
