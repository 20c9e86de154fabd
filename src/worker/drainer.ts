import { randomUUID } from 'node:crypto';
import { LeaseLostError } from '../errors.js';
import type { JobHandler } from '../handler.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import { type AttemptDeps, runAttempt } from './attempt.js';
import { BatchSizer, MAX_AUTO_BATCH } from './batchSize.js';
import type { HeldJob } from './context.js';
import { Cooldowns } from './cooldowns.js';
import { type Decision, decide } from './decide.js';
import { LeaseKeeper } from './leases.js';
import { FLUSH_DELAY_MS, OutcomeBuffer } from './outcomeBuffer.js';
import type { WorkerStore } from './store.js';
import { type DrainSummary, emptySummary, type OutcomeEvent } from './summary.js';
import { AttemptTracer, type AttemptTracing } from './tracing.js';
import { Wakeup } from './wakeup.js';

export { type DrainSummary, emptySummary, type OutcomeEvent } from './summary.js';

export interface DrainerConfig {
  store: WorkerStore;
  queue: string;
  handlers: ReadonlyMap<string, JobHandler>;
  logger: Logger;
  maxErrorMessageLength: number;
  /** The largest result a handler may return, in bytes of JSON. */
  maxResultBytes: number;
  leaseMs: number;
  heartbeatMs: number;
  reserveMs: number;
  onOutcome?: ((event: OutcomeEvent) => void | Promise<void>) | undefined;
  /** A span for each attempt (tracing.ts); none when absent. */
  tracing?: AttemptTracing | undefined;
  /** Told of each claim statement: how long it took at the client and what it returned (for metrics). */
  onClaim?: ((event: ClaimEvent) => void) | undefined;
}

/** One claim statement, reported to `WorkerOptions.onClaim`: its round trip and its rows. */
export interface ClaimEvent {
  queue: string;
  /** From sending the claim to its rows parsed, in ms (the statement, its commit, the round trip). */
  ms: number;
  /** Jobs asked for, and claimed. */
  limit: number;
  claimed: number;
}

export interface DrainLimits {
  /** Epoch ms by which the drain must have returned (Infinity for none). */
  deadline: number;
  /** Jobs per claim, or `'auto'`: sized from the attempt times seen (batchSize.ts). */
  batchSize: number | 'auto';
  concurrency: number;
  /** Keep going when nothing is due (the run loop) instead of returning. */
  idle?: { signal: AbortSignal; wakeup: Wakeup; pollIntervalMs: number } | undefined;
  /** Stop early (a host shutting down): claim no more, release the unstarted, let running jobs finish. */
  signal?: AbortSignal | undefined;
}

const RELEASE: Decision = { kind: 'release', delaySeconds: 0, error: null };

/**
 * One drain, the scheduler: claims batches, starts attempts (attempt.ts) up to a concurrency limit while
 * their timeouts fit the time left, and hands each outcome to the buffer (outcomeBuffer.ts) while the lease
 * keeper (leases.ts) heartbeats what it holds. The next claim and the outcome write go out while attempts
 * run (at most one of each in flight), so the database and the handlers work at the same time. All clocks
 * that decide a job's fate are the database's; the local clock only measures this process's own time budget.
 */
export class Drainer {
  readonly #c: DrainerConfig;
  readonly #limits: DrainLimits;
  readonly #summary: DrainSummary = emptySummary();
  readonly #waiting: HeldJob[] = [];
  readonly #running = new Set<HeldJob>();
  /** Notified when an attempt ends, a claim or an outcome write returns, or the drain is asked to stop. */
  readonly #event = new Wakeup();
  readonly #leases: LeaseKeeper;
  readonly #outcomes: OutcomeBuffer;
  readonly #attempt: AttemptDeps;
  readonly #tracer: AttemptTracer;
  readonly #sizer: BatchSizer;
  #claiming: Promise<void> | undefined;
  #flushing: Promise<void> | undefined;
  /** The first claim or outcome write that failed: the drain stops and throws it. */
  #failure: { error: unknown } | undefined;
  /** The last claim found nothing due. */
  #exhausted = false;
  /**
   * The last claim found nothing it could start, limits full: claim again once an outcome write frees a
   * slot, or, held by a cooldown or a rate, at `until` (the local time at which one could start).
   */
  #held: { until: number | undefined } | undefined;
  readonly #cooldowns: Cooldowns;
  /**
   * Outcome writes landed so far (batches, and ctx.transaction's own): a claim that finds nothing, or
   * finds its limits full, while one lands has not seen it, and is not believed.
   */
  #writes = 0;
  /** Set once a claimed job did not fit the time left: the next claim would fetch it again. */
  #noMoreClaims = false;

  constructor(config: DrainerConfig, limits: DrainLimits) {
    this.#c = config;
    this.#limits = limits;
    const { store, queue, logger, leaseMs, heartbeatMs } = config;
    this.#sizer = new BatchSizer(limits.batchSize, limits.concurrency, leaseMs);
    this.#cooldowns = new Cooldowns(store, logger);
    this.#tracer = new AttemptTracer(config.tracing, logger);
    this.#leases = new LeaseKeeper({ extend: (leases, seconds) => store.extend(leases, seconds), leaseMs, heartbeatMs, queue, logger });
    this.#outcomes = new OutcomeBuffer({
      record: (outcomes) => store.record(outcomes),
      // Write a batch once as many are pending as a claim takes (half, when sized automatically: the
      // write then overlaps the attempts still running).
      flushAt: () => (this.#sizer.fixed ? this.#sizer.target(0) : Math.ceil(this.#sizer.target(this.#timeLeft()) / 2)),
      summary: this.#summary,
      logger,
      onOutcome: config.onOutcome,
    });
    this.#attempt = {
      queue,
      handlers: config.handlers,
      steps: store,
      logger,
      maxErrorMessageLength: config.maxErrorMessageLength,
      maxResultBytes: config.maxResultBytes,
      timeLeftMs: () => this.#timeLeft() - config.reserveMs,
      heartbeat: (job) => this.#leases.heartbeat(job),
      transaction: store.transaction,
    };
  }

  async run(): Promise<DrainSummary> {
    const started = performance.now();
    const stop = () => this.#event.notify();
    this.#limits.signal?.addEventListener('abort', stop, { once: true });
    this.#leases.start();
    let failure: unknown;
    try {
      await this.#loop();
    } catch (err) {
      failure = err;
    }
    // A claim in flight lands before anything is released, so no claimed row arrives after the drain
    // stopped looking. Jobs still running finish, heartbeated (they fit the budget); unstarted ones go back.
    await this.#claiming;
    this.#releaseWaiting();
    while (this.#running.size > 0) await this.#event.wait(this.#c.heartbeatMs);
    await this.#leases.stop();
    this.#limits.signal?.removeEventListener('abort', stop);
    await this.#cooldowns.settled();
    await this.#flushing;
    try {
      await this.#outcomes.flush();
    } catch (err) {
      failure ??= err;
    }
    failure ??= this.#failure?.error;
    this.#summary.durationMs = Math.round(performance.now() - started);
    if (failure !== undefined) throw failure;
    return { ...this.#summary };
  }

  async #loop(): Promise<void> {
    const { idle } = this.#limits;
    const stopping = () =>
      (idle?.signal.aborted ?? false) || (this.#limits.signal?.aborted ?? false) || this.#timeLeft() <= this.#c.reserveMs;
    for (;;) {
      if (this.#failure) throw this.#failure.error;
      if (stopping()) {
        if (!this.#exhausted || this.#waiting.length > 0) this.#summary.moreDue = true;
        this.#releaseWaiting();
        if (this.#running.size === 0 && !this.#claiming) return;
        this.#flushIfDue();
        await this.#event.wait(this.#outcomes.size > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs);
        continue;
      }
      if (this.#outcomes.takeRequeued()) this.#exhausted = false;
      if (this.#held) {
        // Our own outcomes free slots only once written. With nothing of ours left to finish, a cooldown or a
        // rate that ends within the budget is waited for; otherwise others hold the slots, and the drain ends.
        if (this.#outcomes.size > 0) this.#flush();
        else if (this.#running.size === 0 && this.#waiting.length === 0 && !this.#flushing) {
          const { until } = this.#held;
          if (until !== undefined && until < this.#limits.deadline - this.#c.reserveMs) {
            if (until > Date.now()) {
              await this.#event.wait(until - Date.now());
              continue;
            }
          } else this.#exhausted = true;
          this.#held = undefined;
        }
      }
      const limit = this.#claimSize();
      if (limit > 0) {
        // Outcomes go out with the claim, on a second connection when the pool has one; both are sent
        // before the claimed jobs start, so the round trips overlap the attempts.
        this.#flush();
        this.#claiming = this.#claim(limit);
      }
      this.#startWhatFits();
      if (this.#waiting.length === 0 && this.#running.size === 0 && !this.#claiming) {
        const held = this.#held !== undefined;
        await this.#flushAll();
        // A held claim is tried again once our last outcomes are written: they may have freed its slots.
        if (this.#failure || this.#outcomes.requeued || held) continue;
        if (!idle) return;
        await idle.wakeup.wait(idle.pollIntervalMs, idle.signal);
        this.#exhausted = false;
        continue;
      }
      this.#flushIfDue();
      const flushIn = this.#outcomes.size > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs;
      await this.#event.wait(Math.min(flushIn, Math.max(1, this.#timeLeft() - this.#c.reserveMs)));
    }
  }

  /**
   * How many jobs to claim now, 0 for none: none while a claim is in flight, after the queue ran dry, or
   * once a job did not fit the time left. Otherwise a claim goes out when fewer jobs would be left
   * waiting, once the free slots are filled, than the drain keeps ready: its concurrency with a fixed
   * batch size (a claim of `batchSize`), half the automatic target otherwise (a claim topping it up).
   */
  #claimSize(): number {
    if (this.#claiming || this.#exhausted || this.#held || this.#noMoreClaims) return 0;
    const { concurrency } = this.#limits;
    const free = Math.max(0, concurrency - this.#running.size);
    const left = Math.max(0, this.#waiting.length - free);
    if (this.#sizer.fixed) return left < concurrency ? this.#sizer.target(0) : 0;
    const target = this.#sizer.target(this.#timeLeft() - this.#c.reserveMs);
    if (left >= Math.ceil(target / 2)) return 0;
    // Enough to hold `target` ready, and at least to fill the slots still free.
    return Math.min(MAX_AUTO_BATCH, Math.max(target - left, free - this.#waiting.length));
  }

  /** Write pending outcomes unless a write is in flight; a failure stops the drain. */
  #flush(): void {
    if (this.#flushing || this.#outcomes.size === 0) return;
    this.#flushing = this.#outcomes
      .flush()
      .catch((error) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        this.#flushing = undefined;
        this.#landed();
        this.#event.notify();
      });
  }

  /** An outcome write landed: it may have freed a slot, so a held claim may go again. */
  #landed(): void {
    this.#writes++;
    this.#held = undefined;
  }

  #flushIfDue(): void {
    if (this.#outcomes.due()) this.#flush();
  }

  /** Every pending outcome written (or failed): the write in flight, then the rest. */
  async #flushAll(): Promise<void> {
    await this.#flushing;
    this.#flush();
    await this.#flushing;
  }

  /**
   * Start waiting jobs in claim order (priority, then due time) while slots are free. Each is judged on
   * its own timeout: one that does not fit the time left less the reserve never will in this drain (time
   * only shrinks), so it is released at once, attempt unspent, for a worker with more time, while shorter
   * jobs behind it still start. Claiming stops then: the next claim would fetch the released job again.
   */
  #startWhatFits(): void {
    while (this.#waiting.length > 0 && this.#running.size < this.#limits.concurrency) {
      const job = this.#waiting.shift() as HeldJob;
      if (this.#cooldowns.holds(job.row)) {
        this.#settle(job, RELEASE);
        continue;
      }
      const timeout = this.#c.handlers.get(job.row.type)?.definition.timeout ?? 0;
      if (Date.now() + timeout <= this.#limits.deadline - this.#c.reserveMs) {
        this.#start(job);
        continue;
      }
      this.#settle(job, RELEASE);
      this.#noMoreClaims = true;
      this.#summary.moreDue = true;
    }
  }

  #timeLeft(): number {
    return this.#limits.deadline - Date.now();
  }

  /** Claim up to `limit` jobs into `waiting`; a failure stops the drain. */
  async #claim(limit: number): Promise<void> {
    const token = randomUUID();
    const leaseSentAt = performance.now();
    const writes = this.#writes;
    try {
      const rows = await this.#c.store.claim({ queue: this.#c.queue, limit, leaseSeconds: this.#c.leaseMs / 1000, token });
      this.#summary.claimed += rows.length;
      this.#reportClaim(performance.now() - leaseSentAt, limit, rows.length);
      // An outcome written while this claim was in flight may have made a retry due, or freed a slot, after
      // the claim's snapshot: only a claim that saw every write before it says the queue is dry or held.
      if (rows.length === 0 && writes === this.#writes) {
        if (rows.held) this.#held = { until: rows.retryInMs === undefined ? undefined : Date.now() + rows.retryInMs };
        else this.#exhausted = true;
      }
      for (const row of rows) {
        const job: HeldJob = {
          row,
          token,
          controller: new AbortController(),
          lost: false,
          cancelRequested: row.cancel_requested,
          leaseSentAt,
        };
        // Our own earlier attempt at this job lost its lease (heartbeats failed) and we just claimed it anew:
        // the old attempt is fenced off from here on.
        const stale = this.#leases.get(row.id);
        if (stale) {
          this.#leases.markLost(stale, new LeaseLostError(`lease of job ${row.id} lapsed and it was claimed again`));
          this.#lose(stale);
        }
        this.#leases.hold(job);
        this.#waiting.push(job);
      }
    } catch (error) {
      this.#failure ??= { error };
    } finally {
      this.#claiming = undefined;
      this.#event.notify();
    }
  }

  #releaseWaiting(): void {
    for (const job of this.#waiting.splice(0)) this.#settle(job, RELEASE);
  }

  #start(job: HeldJob): void {
    this.#running.add(job);
    this.#tracer
      .around(job, () => runAttempt(job, this.#attempt))
      .then((result) => (result === 'lost' ? this.#lose(job) : this.#settle(job, result)))
      .catch((err) => {
        // runAttempt handles handler errors; reaching here is a bug in sluice itself. Keep the job safe.
        this.#c.logger.error('sluice internal error while running a job', { ...jobFields(job.row), error: errorFields(err) });
        this.#settle(job, decide(err, job.row.attempt, job.row.max_attempts, undefined, this.#c.maxErrorMessageLength));
      })
      .finally(() => {
        if (job.startedAt !== undefined) this.#sizer.observe(performance.now() - job.startedAt);
        this.#running.delete(job);
        this.#event.notify();
      });
  }

  /** Queue a held job's outcome; nothing if this attempt no longer holds it (settled, lost or superseded). */
  #settle(job: HeldJob, decision: Decision): void {
    if (!this.#leases.drop(job)) return;
    if (decision.cooldown) this.#cooldowns.add(job.row, decision.cooldown, decision.delaySeconds);
    if (decision.recorded) {
      // Written already (ctx.transaction committed it): its slot is free now, so a held claim may go again.
      this.#landed();
      this.#outcomes.recorded(job, decision);
    } else this.#outcomes.add(job, { ...decision });
  }

  #reportClaim(ms: number, limit: number, claimed: number): void {
    const hook = this.#c.onClaim;
    if (!hook) return;
    try {
      hook({ queue: this.#c.queue, ms, limit, claimed });
    } catch (error) {
      this.#c.logger.warn('onClaim hook failed', { queue: this.#c.queue, error: errorFields(error) });
    }
  }

  #lose(job: HeldJob): void {
    if (!this.#leases.drop(job)) return;
    this.#summary.lostLeases++;
    this.#c.logger.warn('job lease lost: outcome not recorded', jobFields(job.row));
  }
}
