import { parseTraceContext } from './trace.js';

/** Where a job is in its life. See docs/queue.md for the state diagram. */
export type JobState = 'available' | 'scheduled' | 'running' | 'succeeded' | 'dead' | 'cancelled';

/** One failed attempt, as kept in the job's error history (the latest 20, messages truncated). */
export interface JobAttemptError {
  attempt: number;
  at: string;
  name: string;
  code?: string;
  message: string;
}

/**
 * A job as stored, with its current state.
 *
 * `attempt` counts attempts started (a snooze or a release at a deadline gives its attempt back).
 * `finishedAt` is when a finished job (succeeded, dead or cancelled) ended, null while it is live. A job
 * that succeeds on its first attempt is not rewritten (that keeps its record out of the hot path): its
 * finish time comes from its timeline (`sluice.jobTimeline(id)`), which also tells how long each attempt ran.
 */
export interface JobView {
  id: string;
  type: string;
  queue: string;
  state: JobState;
  priority: number;
  attempt: number;
  maxAttempts: number;
  createdAt: Date;
  runAt: Date;
  finishedAt: Date | null;
  idempotencyKey: string | null;
  errors: JobAttemptError[];
  payload: unknown;
  /**
   * The trace the job continues (32 hex digits, the W3C and X-Ray trace id without its dashes): the trace
   * of the request that enqueued it, or of the job whose transaction did. Null when it was enqueued
   * without one.
   */
  traceId: string | null;
  /**
   * What the handler returned, when the job succeeded and its handler returned a value (JSON, at most
   * `maxResultBytes`); absent otherwise. Read by `getJob` and `getJobs`, not by list pages.
   */
  result?: unknown;
}

export interface JobRow {
  id: string;
  type: string;
  queue: string;
  state: JobState;
  priority: number;
  attempt: number;
  max_attempts: number;
  created_at: Date;
  run_at: Date;
  finished_at: Date | null;
  idempotency_key: string | null;
  errors: JobAttemptError[] | null;
  payload: unknown;
  /** The stored trace context (a W3C traceparent), or null. */
  trace?: string | null;
  /** The `succeeded` timeline row's detail, when the read asked for it. */
  success_detail?: Record<string, unknown> | null;
}

export function toJobView(row: JobRow): JobView {
  return {
    id: row.id,
    type: row.type,
    queue: row.queue,
    state: row.state,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    createdAt: row.created_at,
    runAt: row.run_at,
    finishedAt: row.finished_at,
    idempotencyKey: row.idempotency_key,
    errors: row.errors ?? [],
    payload: row.payload,
    traceId: parseTraceContext(row.trace)?.traceId ?? null,
    ...(row.success_detail && 'result' in row.success_detail ? { result: row.success_detail.result } : {}),
  };
}
