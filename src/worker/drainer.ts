import { randomUUID } from 'node:crypto';
import { LeaseLostError } from '../errors.js';
import type { JobHandler } from '../handler.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import { type AttemptDeps, runAttempt } from './attempt.js';
import type { HeldJob } from './context.js';
import { type Decision, decide } from './decide.js';
import { LeaseKeeper } from './leases.js';
import { FLUSH_DELAY_MS, OutcomeBuffer } from './outcomeBuffer.js';
import type { WorkerStore } from './store.js';
import { type DrainSummary, emptySummary, type OutcomeEvent } from './summary.js';
import { Wakeup } from './wakeup.js';

export { type DrainSummary, emptySummary, type OutcomeEvent } from './summary.js';

export interface DrainerConfig {
  store: WorkerStore;
  queue: string;
  handlers: ReadonlyMap<string, JobHandler>;
  logger: Logger;
  maxErrorMessageLength: number;
  leaseMs: number;
  heartbeatMs: number;
  reserveMs: number;
  onOutcome?: ((event: OutcomeEvent) => void | Promise<void>) | undefined;
}

export interface DrainLimits {
  /** Epoch ms by which the drain must have returned (Infinity for none). */
  deadline: number;
  batchSize: number;
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
 * keeper (leases.ts) heartbeats what it holds. All clocks that decide a job's fate are the database's;
 * the local clock only measures this process's own time budget.
 */
export class Drainer {
  readonly #c: DrainerConfig;
  readonly #limits: DrainLimits;
  readonly #summary: DrainSummary = emptySummary();
  readonly #waiting: HeldJob[] = [];
  readonly #running = new Set<HeldJob>();
  readonly #jobDone = new Wakeup();
  readonly #leases: LeaseKeeper;
  readonly #outcomes: OutcomeBuffer;
  readonly #attempt: AttemptDeps;
  /** Set once a claimed job did not fit the time left: the next claim would fetch it again. */
  #noMoreClaims = false;

  constructor(config: DrainerConfig, limits: DrainLimits) {
    this.#c = config;
    this.#limits = limits;
    const { store, queue, logger, leaseMs, heartbeatMs } = config;
    this.#leases = new LeaseKeeper({ extend: (leases, seconds) => store.extend(leases, seconds), leaseMs, heartbeatMs, queue, logger });
    this.#outcomes = new OutcomeBuffer({
      record: (outcomes) => store.record(outcomes),
      batchSize: limits.batchSize,
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
      timeLeftMs: () => this.#timeLeft() - config.reserveMs,
      heartbeat: (job) => this.#leases.heartbeat(job),
    };
  }

  async run(): Promise<DrainSummary> {
    const started = performance.now();
    const stop = () => this.#jobDone.notify();
    this.#limits.signal?.addEventListener('abort', stop, { once: true });
    this.#leases.start();
    let failure: unknown;
    try {
      await this.#loop();
    } catch (err) {
      failure = err;
    }
    // Jobs still running finish, heartbeated (they fit the budget); unstarted ones go back.
    this.#releaseWaiting();
    while (this.#running.size > 0) await this.#jobDone.wait(this.#c.heartbeatMs);
    await this.#leases.stop();
    this.#limits.signal?.removeEventListener('abort', stop);
    try {
      await this.#outcomes.flush();
    } catch (err) {
      failure ??= err;
    }
    this.#summary.durationMs = Math.round(performance.now() - started);
    if (failure !== undefined) throw failure;
    return { ...this.#summary };
  }

  async #loop(): Promise<void> {
    const { batchSize, concurrency, idle } = this.#limits;
    const stopping = () =>
      (idle?.signal.aborted ?? false) || (this.#limits.signal?.aborted ?? false) || this.#timeLeft() <= this.#c.reserveMs;
    let exhausted = false;
    for (;;) {
      if (!stopping()) this.#startWhatFits();
      if (stopping()) {
        if (!exhausted || this.#waiting.length > 0) this.#summary.moreDue = true;
        this.#releaseWaiting();
        if (this.#running.size === 0) return;
        await this.#outcomes.flushIfDue();
        await this.#jobDone.wait(this.#outcomes.size > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs);
        continue;
      }
      if (this.#outcomes.takeRequeued()) exhausted = false;
      if (!exhausted && !this.#noMoreClaims && this.#waiting.length < concurrency) {
        // Outcomes and the next claim go out together, on two connections when the pool has them.
        // Both settle before an error surfaces, so no claimed row arrives after the drain stopped looking.
        const [flushed, claimed] = await Promise.allSettled([this.#outcomes.flush(), this.#claim(batchSize)]);
        if (flushed.status === 'rejected') throw flushed.reason;
        if (claimed.status === 'rejected') throw claimed.reason;
        if (claimed.value === 0) exhausted = true;
        continue;
      }
      if (this.#waiting.length === 0 && this.#running.size === 0) {
        await this.#outcomes.flush();
        if (this.#outcomes.requeued) continue;
        if (!idle) return;
        await idle.wakeup.wait(idle.pollIntervalMs, idle.signal);
        exhausted = false;
        continue;
      }
      await this.#outcomes.flushIfDue();
      const flushIn = this.#outcomes.size > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs;
      await this.#jobDone.wait(Math.min(flushIn, Math.max(1, this.#timeLeft() - this.#c.reserveMs)));
    }
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

  async #claim(limit: number): Promise<number> {
    const token = randomUUID();
    const leaseSentAt = performance.now();
    const rows = await this.#c.store.claim({ queue: this.#c.queue, limit, leaseSeconds: this.#c.leaseMs / 1000, token });
    this.#summary.claimed += rows.length;
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
    return rows.length;
  }

  #releaseWaiting(): void {
    for (const job of this.#waiting.splice(0)) this.#settle(job, RELEASE);
  }

  #start(job: HeldJob): void {
    this.#running.add(job);
    runAttempt(job, this.#attempt)
      .then((result) => (result === 'lost' ? this.#lose(job) : this.#settle(job, result)))
      .catch((err) => {
        // runAttempt handles handler errors; reaching here is a bug in sluice itself. Keep the job safe.
        this.#c.logger.error('sluice internal error while running a job', { ...jobFields(job.row), error: errorFields(err) });
        this.#settle(job, decide(err, job.row.attempt, job.row.max_attempts, undefined, this.#c.maxErrorMessageLength));
      })
      .finally(() => {
        this.#running.delete(job);
        this.#jobDone.notify();
      });
  }

  /** Queue a held job's outcome; nothing if this attempt no longer holds it (settled, lost or superseded). */
  #settle(job: HeldJob, decision: Decision): void {
    if (this.#leases.drop(job)) this.#outcomes.add(job, { ...decision });
  }

  #lose(job: HeldJob): void {
    if (!this.#leases.drop(job)) return;
    this.#summary.lostLeases++;
    this.#c.logger.warn('job lease lost: outcome not recorded', jobFields(job.row));
  }
}
