import type { OutcomeKind } from '../sql/outcomes.js';

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

/** The summary count each written outcome adds to. */
export const SUMMARY_FOR: Record<OutcomeKind, keyof DrainSummary> = {
  success: 'succeeded',
  retry: 'retried',
  dead: 'dead',
  snooze: 'snoozed',
  cancelled: 'cancelled',
  release: 'released',
};
