import { randomUUID } from 'node:crypto';
import type { SluiceSettings } from '../config.js';
import type { Queryable, SchemaName } from '../db.js';
import { isTransientDatabaseError, JobCancelledError, JobTimeoutError, LeaseLostError, PermanentJobError, SluiceError } from '../errors.js';
import type { JobHandler } from '../handler.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import { type ClaimedRow, claimJobs } from '../sql/claim.js';
import { extendLeases } from '../sql/heartbeat.js';
import { type Outcome, type OutcomeKind, recordOutcomes } from '../sql/outcomes.js';
import { describeIssues } from '../text.js';
import { AttemptContext, type HeldJob } from './context.js';
import { type Decision, decide, MAX_DELAY_MS } from './decide.js';
import { Wakeup } from './wakeup.js';

/** What one drain did. */
export interface DrainSummary {
  claimed: number;
  succeeded: number;
  retried: number;
  dead: number;
  snoozed: number;
  cancelled: number;
  /** Claimed but not started (time ran out or the worker stopped): back in the queue, attempt unspent. */
  released: number;
  /** Jobs whose lease this worker lost (their outcome was not written; another worker may run them). */
  lostLeases: number;
  durationMs: number;
  /** True when the drain stopped (time, budget or signal) while jobs may still be due: drain again soon. */
  moreDue: boolean;
}

/**
 * One written outcome, reported to `WorkerOptions.onOutcome` after it is stored: for metrics and events.
 * Never carries the payload.
 */
export interface OutcomeEvent {
  jobId: string;
  type: string;
  queue: string;
  kind: OutcomeKind;
  attempt: number;
  maxAttempts: number;
  /** How long the handler ran, for attempts that ran; null for releases and jobs that never started. */
  durationMs: number | null;
  /** The attempt's error as stored (truncated), for failures. */
  error: Record<string, unknown> | null;
}

/** A summary with every count at zero. */
export function emptySummary(): DrainSummary {
  return {
    claimed: 0,
    succeeded: 0,
    retried: 0,
    dead: 0,
    snoozed: 0,
    cancelled: 0,
    released: 0,
    lostLeases: 0,
    durationMs: 0,
    moreDue: false,
  };
}

export interface DrainerConfig {
  db: Queryable;
  s: SchemaName;
  settings: SluiceSettings;
  queue: string;
  handlers: ReadonlyMap<string, JobHandler>;
  logger: Logger;
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

/** How long a job that timed out on its final attempt may take to settle before its compensations run. */
const COMPENSATION_GRACE_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The longest an outcome waits to be batched with others before it is written. */
const FLUSH_DELAY_MS = 50;

const SUMMARY_FOR: Record<OutcomeKind, keyof DrainSummary> = {
  success: 'succeeded',
  retry: 'retried',
  dead: 'dead',
  snooze: 'snoozed',
  cancelled: 'cancelled',
  release: 'released',
};

/**
 * One drain: claims batches, runs handlers up to a concurrency limit, heartbeats leases, and writes
 * outcomes a batch at a time. All clocks that decide a job's fate are the database's; the local clock
 * only measures this process's own time budget.
 */
export class Drainer {
  readonly #c: DrainerConfig;
  readonly #limits: DrainLimits;
  readonly #summary: DrainSummary = emptySummary();
  readonly #held = new Map<string, HeldJob>();
  readonly #waiting: HeldJob[] = [];
  readonly #running = new Set<HeldJob>();
  readonly #jobDone = new Wakeup();
  #outcomes: Array<Outcome & { row: ClaimedRow; durationMs: number | null }> = [];
  #oldestOutcomeAt = 0;
  /** Set when a flush put jobs back in the queue (retry, snooze): worth claiming again. */
  #requeued = false;
  #heartbeating: Promise<void> = Promise.resolve();

  constructor(config: DrainerConfig, limits: DrainLimits) {
    this.#c = config;
    this.#limits = limits;
  }

  async run(): Promise<DrainSummary> {
    const started = performance.now();
    const stop = () => this.#jobDone.notify();
    this.#limits.signal?.addEventListener('abort', stop, { once: true });
    const timer = setInterval(() => {
      this.#heartbeating = this.#heartbeating.then(() => this.#heartbeatAll());
    }, this.#c.heartbeatMs);
    let failure: unknown;
    try {
      await this.#loop();
    } catch (err) {
      failure = err;
    }
    // Jobs still running finish, heartbeated (they fit the budget); unstarted ones go back.
    this.#releaseWaiting();
    while (this.#running.size > 0) await this.#jobDone.wait(this.#c.heartbeatMs);
    clearInterval(timer);
    this.#limits.signal?.removeEventListener('abort', stop);
    await this.#heartbeating;
    try {
      await this.#flush();
    } catch (err) {
      failure ??= err;
    }
    this.#summary.durationMs = Math.round(performance.now() - started);
    if (failure !== undefined) throw failure;
    return { ...this.#summary };
  }

  async #loop(): Promise<void> {
    const { batchSize, concurrency, idle } = this.#limits;
    let exhausted = false;
    // Set once a claimed job did not fit the time left: the next claim would fetch it again.
    let noMoreClaims = false;
    for (;;) {
      const stopping = () =>
        (idle?.signal.aborted ?? false) || (this.#limits.signal?.aborted ?? false) || this.#timeLeft() <= this.#c.reserveMs;
      while (!stopping() && this.#waiting.length > 0 && this.#running.size < concurrency) {
        const job = this.#waiting.shift() as HeldJob;
        const timeout = this.#c.handlers.get(job.row.type)?.definition.timeout ?? 0;
        if (Date.now() + timeout <= this.#limits.deadline - this.#c.reserveMs) {
          this.#start(job);
          continue;
        }
        // Each job is judged on its own timeout: this one will not fit later in this drain either (time only
        // shrinks), so it goes back at once, attempt unspent, while shorter jobs behind it still start.
        this.#settle(job, { kind: 'release', delaySeconds: 0, error: null });
        noMoreClaims = true;
        this.#summary.moreDue = true;
      }
      if (stopping()) {
        if (!exhausted || this.#waiting.length > 0) this.#summary.moreDue = true;
        this.#releaseWaiting();
        if (this.#running.size === 0) return;
        await this.#flushIfDue();
        await this.#jobDone.wait(this.#outcomes.length > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs);
        continue;
      }
      if (this.#requeued) {
        this.#requeued = false;
        exhausted = false;
      }
      if (!exhausted && !noMoreClaims && this.#waiting.length < concurrency) {
        // Outcomes and the next claim go out together, on two connections when the pool has them.
        // Both settle before an error surfaces, so no claimed row arrives after the drain stopped looking.
        const [flushed, claimed] = await Promise.allSettled([this.#flush(), this.#claim(batchSize)]);
        if (flushed.status === 'rejected') throw flushed.reason;
        if (claimed.status === 'rejected') throw claimed.reason;
        if (claimed.value === 0) exhausted = true;
        continue;
      }
      if (this.#waiting.length === 0 && this.#running.size === 0) {
        await this.#flush();
        if (this.#requeued) continue;
        if (!idle) return;
        await idle.wakeup.wait(idle.pollIntervalMs, idle.signal);
        exhausted = false;
        continue;
      }
      await this.#flushIfDue();
      const flushIn = this.#outcomes.length > 0 ? FLUSH_DELAY_MS : this.#c.heartbeatMs;
      await this.#jobDone.wait(Math.min(flushIn, Math.max(1, this.#timeLeft() - this.#c.reserveMs)));
    }
  }

  /** How long each compensation of a dying job may take: its type's timeout (the drain's budget caps it too). */
  #compensationBoundMs(job: HeldJob): number {
    return this.#c.handlers.get(job.row.type)?.definition.timeout ?? 0;
  }

  #timeLeft(): number {
    return this.#limits.deadline - Date.now();
  }

  async #claim(limit: number): Promise<number> {
    const token = randomUUID();
    const rows = await claimJobs(this.#c.db, this.#c.s, { queue: this.#c.queue, limit, leaseSeconds: this.#c.leaseMs / 1000, token });
    this.#summary.claimed += rows.length;
    for (const row of rows) {
      const job: HeldJob = { row, token, controller: new AbortController(), lost: false, cancelRequested: row.cancel_requested };
      // Our own earlier attempt at this job lost its lease (heartbeats failed) and we just claimed it anew:
      // the old attempt is fenced off from here on.
      const stale = this.#held.get(row.id);
      if (stale) {
        stale.lost = true;
        stale.controller.abort(new LeaseLostError(`lease of job ${row.id} lapsed and it was claimed again`));
        this.#lose(stale);
      }
      this.#held.set(row.id, job);
      this.#waiting.push(job);
    }
    return rows.length;
  }

  #releaseWaiting(): void {
    for (const job of this.#waiting.splice(0)) this.#settle(job, { kind: 'release', delaySeconds: 0, error: null });
  }

  #start(job: HeldJob): void {
    this.#running.add(job);
    this.#attempt(job)
      .catch((err) => {
        // #attempt handles handler errors; reaching here is a bug in sluice itself. Keep the job safe.
        this.#c.logger.error('sluice internal error while running a job', { ...jobFields(job.row), error: errorFields(err) });
        this.#settle(job, decide(err, job.row.attempt, job.row.max_attempts, undefined, this.#c.settings.maxErrorMessageLength));
      })
      .finally(() => {
        this.#running.delete(job);
        this.#jobDone.notify();
      });
  }

  async #attempt(job: HeldJob): Promise<void> {
    const { row } = job;
    const maxLen = this.#c.settings.maxErrorMessageLength;
    if (job.lost) return this.#lose(job);
    if (job.cancelRequested)
      return this.#settle(
        job,
        decide(new JobCancelledError('cancelled before it started'), row.attempt, row.max_attempts, undefined, maxLen),
      );
    const handler = this.#c.handlers.get(row.type);
    if (!handler) {
      const err = new SluiceError(
        `no handler registered for job type ${JSON.stringify(row.type)} on queue ${JSON.stringify(this.#c.queue)}`,
      );
      return this.#settle(job, decide(err, row.attempt, row.max_attempts, undefined, maxLen));
    }
    const def = handler.definition;
    const ctx = new AttemptContext({ db: this.#c.db, s: this.#c.s, job, logger: this.#c.logger, heartbeat: (j) => this.#heartbeatOne(j) });
    if (row.attempt > row.max_attempts) {
      const err = new PermanentJobError(`attempts exhausted: the lease of attempt ${row.max_attempts} lapsed before it reported`);
      return this.#fail(job, ctx, err, decide(err, row.attempt - 1, row.max_attempts, def, maxLen));
    }
    const parsed = def.schema.safeParse(row.payload);
    if (!parsed.success) {
      const issues = describeIssues(parsed.error.issues, '(root)');
      const err = new PermanentJobError(`stored payload no longer matches the schema of ${row.type}: ${issues}`);
      return this.#fail(job, ctx, err, decide(err, row.attempt, row.max_attempts, def, maxLen));
    }
    const timer = setTimeout(() => job.controller.abort(new JobTimeoutError(`timed out after ${def.timeout} ms`)), def.timeout);
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(job.controller.signal.reason);
      if (job.controller.signal.aborted) onAbort();
      else job.controller.signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    job.startedAt = performance.now();
    const running = Promise.resolve().then(() => handler.handle(parsed.data, ctx));
    try {
      await Promise.race([running, aborted]);
      if (job.lost) return this.#lose(job);
      this.#settle(job, { kind: 'success', delaySeconds: 0, error: null });
    } catch (err) {
      if (job.lost || err instanceof LeaseLostError) return this.#lose(job);
      const decision = decide(err, row.attempt, row.max_attempts, def, maxLen);
      if (decision.kind === 'dead' && job.controller.signal.aborted) {
        // Aborted (timed out) on the final attempt: give a step in flight a moment to land, so it is compensated too.
        await Promise.race([
          running.catch(() => {}),
          sleep(Math.min(COMPENSATION_GRACE_MS, Math.max(0, this.#timeLeft() - this.#c.reserveMs))),
        ]);
      }
      await this.#fail(job, ctx, err, decision);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Log a failed attempt and queue its outcome; a dying job's completed steps are compensated first. */
  async #fail(job: HeldJob, ctx: AttemptContext, err: unknown, decision: Decision): Promise<void> {
    if (decision.kind === 'dead') {
      const bound = Math.min(this.#compensationBoundMs(job), this.#timeLeft() - this.#c.reserveMs);
      const { compensated, failures, notReached } = await ctx.compensate(Math.max(0, bound));
      if (compensated.length > 0) decision.error = { ...decision.error, compensated };
      if (failures.length > 0) decision.error = { ...decision.error, compensationFailures: failures };
      if (notReached.length > 0) decision.error = { ...decision.error, uncompensatedSteps: notReached };
    }
    this.#c.logger[decision.kind === 'dead' ? 'error' : 'warn'](`job attempt failed: ${decision.kind}`, {
      ...jobFields(job.row),
      error: errorFields(err, this.#c.settings.maxErrorMessageLength),
      delay_ms: Math.round(decision.delaySeconds * 1000),
    });
    this.#settle(job, decision);
  }

  /** Forget a held job; false if this attempt was no longer the one held (settled, lost or superseded). */
  #drop(job: HeldJob): boolean {
    if (this.#held.get(job.row.id) !== job) return false;
    this.#held.delete(job.row.id);
    return true;
  }

  #settle(job: HeldJob, decision: Decision): void {
    if (!this.#drop(job)) return;
    if (this.#outcomes.length === 0) this.#oldestOutcomeAt = Date.now();
    this.#outcomes.push({
      row: job.row,
      durationMs: job.startedAt === undefined ? null : Math.round(performance.now() - job.startedAt),
      id: job.row.id,
      token: job.token,
      type: job.row.type,
      kind: decision.kind,
      delaySeconds: decision.delaySeconds,
      error: decision.error,
    });
  }

  #lose(job: HeldJob): void {
    if (!this.#drop(job)) return;
    this.#summary.lostLeases++;
    this.#c.logger.warn('job lease lost: outcome not recorded', jobFields(job.row));
  }

  /** Flush when a batch is pending, or the oldest pending outcome has waited FLUSH_DELAY_MS. */
  async #flushIfDue(): Promise<void> {
    if (this.#outcomes.length === 0) return;
    if (this.#outcomes.length >= this.#limits.batchSize || Date.now() - this.#oldestOutcomeAt >= FLUSH_DELAY_MS) {
      await this.#flush();
    }
  }

  /** Write pending outcomes in one round trip; on failure they stay pending for the next try. */
  async #flush(): Promise<void> {
    if (this.#outcomes.length === 0) return;
    const batch = this.#outcomes;
    this.#outcomes = [];
    this.#oldestOutcomeAt = Date.now();
    let applied: Set<string>;
    try {
      applied = await this.#record(batch);
    } catch (err) {
      if (isTransientDatabaseError(err)) {
        this.#outcomes = batch.concat(this.#outcomes);
        throw err;
      }
      // The database refused the statement itself: find the outcome it refused, so one bad outcome
      // cannot hold back the rest of the batch.
      applied = await this.#recordOneByOne(batch);
    }
    for (const o of batch) {
      if (applied.has(o.id)) {
        this.#summary[SUMMARY_FOR[o.kind]]++;
        this.#report(o);
        // A retry may be due at once: claim again. A snooze is not (it waits for the next claim or poll),
        // so a handler that snoozes with no delay cannot spin this loop.
        if (o.kind === 'retry') this.#requeued = true;
      } else {
        this.#summary.lostLeases++;
        this.#c.logger.warn('outcome fenced off: the lease was lost before it was written', { ...jobFields(o.row), outcome: o.kind });
      }
    }
  }

  /** Tell `onOutcome` about a written outcome; its failures are logged, never thrown. */
  #report(o: Outcome & { row: ClaimedRow; durationMs: number | null }): void {
    const hook = this.#c.onOutcome;
    if (!hook) return;
    const event: OutcomeEvent = {
      jobId: o.id,
      type: o.row.type,
      queue: o.row.queue,
      kind: o.kind,
      attempt: o.kind === 'release' || o.kind === 'snooze' ? o.row.attempt - 1 : o.row.attempt,
      maxAttempts: o.row.max_attempts,
      durationMs: o.durationMs,
      error: o.error,
    };
    const failed = (err: unknown) => this.#c.logger.warn('onOutcome hook failed', { ...jobFields(o.row), error: errorFields(err) });
    try {
      const result = hook(event);
      if (result instanceof Promise) result.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #record(batch: readonly Outcome[]): Promise<Set<string>> {
    return recordOutcomes(this.#c.db, this.#c.s, batch, {
      maxErrorsKept: this.#c.settings.maxErrorsKept,
      retentionSeconds: this.#c.settings.retentionMs / 1000,
    });
  }

  /**
   * Write outcomes one at a time. One the database still refuses is written again as a plain failure that
   * names the refusal; if even that fails, it is logged and left to its lease (the job runs again).
   */
  async #recordOneByOne(batch: ReadonlyArray<Outcome & { row: ClaimedRow; durationMs: number | null }>): Promise<Set<string>> {
    const applied = new Set<string>();
    for (const o of batch) {
      try {
        for (const id of await this.#record([o])) applied.add(id);
      } catch (err) {
        if (isTransientDatabaseError(err)) throw err;
        const code = (err as { code?: unknown }).code;
        const plain: Outcome = {
          ...o,
          delaySeconds: Number.isFinite(o.delaySeconds) ? Math.min(Math.max(o.delaySeconds, 0), MAX_DELAY_MS / 1000) : 0,
          error: { name: 'SluiceError', code: 'OUTCOME_REFUSED', message: `the database refused this outcome (SQLSTATE ${String(code)})` },
        };
        try {
          for (const id of await this.#record([plain])) applied.add(id);
          this.#c.logger.error('outcome refused by the database; stored a plain failure instead', {
            ...jobFields(o.row),
            error: errorFields(err),
          });
        } catch (again) {
          if (isTransientDatabaseError(again)) throw again;
          this.#c.logger.error('outcome could not be stored; the job will run again when its lease lapses', {
            ...jobFields(o.row),
            error: errorFields(again),
          });
        }
      }
    }
    return applied;
  }

  async #heartbeatAll(): Promise<void> {
    const held = [...this.#held.values()].filter((j) => !j.lost);
    if (held.length === 0) return;
    try {
      this.#applyHeartbeat(held, await extendLeases(this.#c.db, this.#c.s, held.map(leaseOf), this.#c.leaseMs / 1000));
    } catch (err) {
      this.#c.logger.warn('heartbeat failed; leases may lapse', { queue: this.#c.queue, jobs: held.length, error: errorFields(err) });
    }
  }

  async #heartbeatOne(job: HeldJob): Promise<void> {
    this.#applyHeartbeat([job], await extendLeases(this.#c.db, this.#c.s, [leaseOf(job)], this.#c.leaseMs / 1000));
    if (job.lost) throw new LeaseLostError(`lease of job ${job.row.id} was lost`);
  }

  #applyHeartbeat(sent: HeldJob[], alive: Map<string, { cancelRequested: boolean }>): void {
    for (const job of sent) {
      const state = alive.get(job.row.id);
      if (!state) {
        job.lost = true;
        job.controller.abort(new LeaseLostError(`lease of job ${job.row.id} was lost`));
      } else if (state.cancelRequested && !job.cancelRequested) {
        job.cancelRequested = true;
        job.controller.abort(new JobCancelledError(`job ${job.row.id} was cancelled`));
      }
    }
  }
}

function leaseOf(job: HeldJob): { id: string; token: string } {
  return { id: job.row.id, token: job.token };
}

export type { ClaimedRow };
