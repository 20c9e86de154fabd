import { isTransientDatabaseError } from '../errors.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import type { ClaimedRow } from '../sql/claim.js';
import type { Outcome } from '../sql/outcomes.js';
import type { HeldJob } from './context.js';
import { type Decision, MAX_DELAY_MS } from './decide.js';
import type { WorkerStore } from './store.js';
import { type DrainSummary, type OutcomeEvent, SUMMARY_FOR } from './summary.js';

/** The longest an outcome waits to be batched with others before it is written. */
export const FLUSH_DELAY_MS = 50;

type Pending = Outcome & { row: ClaimedRow; durationMs: number | null };

export interface OutcomeBufferConfig {
  record: WorkerStore['record'];
  /** Flush once this many are pending (asked each time: the drain's batch size may change). */
  flushAt: () => number;
  /** The drain's summary: written outcomes and fenced-off ones are counted in it. */
  summary: DrainSummary;
  logger: Logger;
  onOutcome?: ((event: OutcomeEvent) => void | Promise<void>) | undefined;
}

/**
 * Outcomes waiting to be written, and when to write them: once `flushAt()` are pending, or the oldest has
 * waited `FLUSH_DELAY_MS`, or the drain says so. One statement writes a batch, fenced by each claim's
 * token; what it applied is counted in the summary and reported to `onOutcome`, what it fenced off is
 * counted as a lost lease.
 */
export class OutcomeBuffer {
  readonly #c: OutcomeBufferConfig;
  #pending: Pending[] = [];
  #oldestAt = 0;
  #requeued = false;

  constructor(config: OutcomeBufferConfig) {
    this.#c = config;
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Whether a written outcome put a job back in the queue due at once (a retry): worth claiming again. */
  get requeued(): boolean {
    return this.#requeued;
  }

  /** `requeued`, cleared. */
  takeRequeued(): boolean {
    const was = this.#requeued;
    this.#requeued = false;
    return was;
  }

  add(job: HeldJob, decision: Decision): void {
    if (this.#pending.length === 0) this.#oldestAt = Date.now();
    this.#pending.push(this.#pendingOf(job, decision));
  }

  /** A success `ctx.transaction` wrote with the handler's own writes: counted and reported, not written again. */
  recorded(job: HeldJob, decision: Decision): void {
    this.#c.summary.succeeded++;
    this.#report(this.#pendingOf(job, decision));
  }

  #pendingOf(job: HeldJob, decision: Decision): Pending {
    return {
      row: job.row,
      durationMs: job.startedAt === undefined ? null : Math.round(performance.now() - job.startedAt),
      id: job.row.id,
      token: job.token,
      type: job.row.type,
      kind: decision.kind,
      delaySeconds: decision.delaySeconds,
      error: decision.error,
      resultJson: decision.resultJson,
      limited: job.row.limited,
    };
  }

  /** Whether to write now: a batch is pending, or the oldest pending outcome has waited FLUSH_DELAY_MS. */
  due(): boolean {
    if (this.#pending.length === 0) return false;
    return this.#pending.length >= this.#c.flushAt() || Date.now() - this.#oldestAt >= FLUSH_DELAY_MS;
  }

  /** Write pending outcomes in one round trip; on a transient failure they stay pending for the next try. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#oldestAt = Date.now();
    let applied: Set<string>;
    try {
      applied = await this.#c.record(batch);
    } catch (err) {
      if (isTransientDatabaseError(err)) {
        this.#pending = batch.concat(this.#pending);
        throw err;
      }
      // The database refused the statement itself: find the outcome it refused, so one bad outcome
      // cannot hold back the rest of the batch.
      applied = await this.#recordOneByOne(batch);
    }
    for (const o of batch) {
      if (applied.has(o.id)) {
        this.#c.summary[SUMMARY_FOR[o.kind]]++;
        this.#report(o);
        // A retry may be due at once: claim again. A snooze is not (it waits for the next claim or poll),
        // so a handler that snoozes with no delay cannot spin the drain.
        if (o.kind === 'retry') this.#requeued = true;
      } else {
        this.#c.summary.lostLeases++;
        this.#c.logger.warn('outcome fenced off: the lease was lost before it was written', { ...jobFields(o.row), outcome: o.kind });
      }
    }
  }

  /** Tell `onOutcome` about a written outcome; its failures are logged, never thrown. */
  #report(o: Pending): void {
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

  /**
   * Write outcomes one at a time. One the database still refuses is written again as a plain failure that
   * names the refusal; if even that fails, it is logged and left to its lease (the job runs again).
   */
  async #recordOneByOne(batch: readonly Pending[]): Promise<Set<string>> {
    const applied = new Set<string>();
    for (const o of batch) {
      try {
        for (const id of await this.#c.record([o])) applied.add(id);
      } catch (err) {
        if (isTransientDatabaseError(err)) throw err;
        const code = (err as { code?: unknown }).code;
        const plain: Outcome = {
          ...o,
          resultJson: undefined,
          delaySeconds: Number.isFinite(o.delaySeconds) ? Math.min(Math.max(o.delaySeconds, 0), MAX_DELAY_MS / 1000) : 0,
          error: { name: 'SluiceError', code: 'OUTCOME_REFUSED', message: `the database refused this outcome (SQLSTATE ${String(code)})` },
        };
        try {
          for (const id of await this.#c.record([plain])) applied.add(id);
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
}
