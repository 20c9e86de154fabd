import { errorFields, jobFields, type Logger } from '../logger.js';
import type { OutcomeKind } from '../sql/outcomes.js';
import { parseTraceContext, type TraceContext } from '../trace.js';
import type { HeldJob } from './context.js';

/** What an attempt's span is told when it starts. */
export interface AttemptInfo {
  readonly jobId: string;
  readonly type: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The trace the job was enqueued in (the request's, or a parent job's attempt), if any. */
  readonly trace: TraceContext | undefined;
}

/** How an attempt ended: an outcome, or `lost` (its lease was lost, nothing written). */
export type AttemptEnd = { outcome: OutcomeKind | 'lost'; error?: { name?: string; message?: string; code?: string } | undefined };

/** One attempt's span, from its start to its outcome. */
export interface AttemptSpan {
  /**
   * The attempt's own point in the trace (its span as parent): `ctx.trace`, and what `tx.enqueue` gives
   * the follow-up jobs. Absent: the job's stored context is used.
   */
  readonly trace?: TraceContext | undefined;
  /** Run the attempt with this span current, for instrumentation of the handler's own calls. */
  run?<T>(fn: () => Promise<T>): Promise<T>;
  end(end: AttemptEnd): void;
}

/**
 * A tracing backend for the worker: a span for each attempt, continuing the job's trace. sluice's Lambda
 * worker passes one for X-Ray (`sluice/lambda`); `openTelemetryTracing` makes one from the OpenTelemetry
 * API. A tracing that throws never fails a job: the drain logs it once and goes on without the span.
 *
 * @example
 * const tracing: AttemptTracing = {
 *   start: (a) => {
 *     const t0 = Date.now();
 *     return { end: ({ outcome }) => console.log(a.type, a.jobId, outcome, Date.now() - t0, a.trace?.traceId) };
 *   },
 * };
 * sluice.worker({ queue: 'emails', handlers, tracing });
 */
export interface AttemptTracing {
  start(info: AttemptInfo): AttemptSpan | undefined;
}

/** The tracing of one drain: starts and ends spans around attempts, and keeps a broken tracing from hurting a job. */
export class AttemptTracer {
  readonly #tracing: AttemptTracing | undefined;
  readonly #logger: Logger;
  #warned = false;

  constructor(tracing: AttemptTracing | undefined, logger: Logger) {
    this.#tracing = tracing;
    this.#logger = logger;
  }

  /**
   * Run `attempt` of `job` inside its span (if the worker traces), setting `job.trace` to the attempt's
   * point in the trace first, and end the span with what `attempt` returned.
   */
  around<R extends Attempted>(job: HeldJob, attempt: () => Promise<R>): Promise<R> {
    // Not async: without a tracing, the attempt's own promise is all there is (no wrapper on the hot path).
    job.trace = job.row.trace ? parseTraceContext(job.row.trace) : undefined;
    return this.#tracing ? this.#traced(job, attempt) : attempt();
  }

  async #traced<R extends Attempted>(job: HeldJob, attempt: () => Promise<R>): Promise<R> {
    const stored = job.trace;
    const span = this.#guard(job, () =>
      this.#tracing?.start({
        jobId: job.row.id,
        type: job.row.type,
        queue: job.row.queue,
        attempt: job.row.attempt,
        maxAttempts: job.row.max_attempts,
        trace: stored,
      }),
    );
    if (!span) return attempt();
    if (span.trace) job.trace = span.trace;
    let result: R | undefined;
    let running: Promise<R> | undefined;
    const once = () => {
      running = attempt();
      return running;
    };
    try {
      try {
        result = await (span.run ? span.run(once) : once());
      } catch (error) {
        // The span's run failed, not the attempt (which never throws): the attempt's own outcome stands,
        // and one that never started runs bare.
        this.#guard(job, () => {
          throw error;
        });
        result = await (running ?? attempt());
      }
      return result;
    } finally {
      const end: AttemptEnd =
        result === undefined
          ? { outcome: 'lost' }
          : result === 'lost'
            ? { outcome: 'lost' }
            : { outcome: result.kind, error: errorOf(result.error) };
      this.#guard(job, () => span.end(end));
    }
  }

  #guard<T>(job: HeldJob, f: () => T): T | undefined {
    try {
      return f();
    } catch (error) {
      if (!this.#warned) {
        this.#warned = true;
        this.#logger.warn('tracing failed: this drain goes on without its spans where it fails', {
          ...jobFields(job.row),
          error: errorFields(error),
        });
      }
      return undefined;
    }
  }
}

type Attempted = { kind: OutcomeKind; error: Record<string, unknown> | null } | 'lost';

function errorOf(error: Record<string, unknown> | null): AttemptEnd['error'] {
  if (!error) return undefined;
  const pick = (k: string) => (typeof error[k] === 'string' ? (error[k] as string) : undefined);
  return { name: pick('name'), message: pick('message'), code: pick('code') };
}
