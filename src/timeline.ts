import type { JobAttemptError } from './job.js';
import type { TimelineRow } from './sql/timeline.js';

/** How an attempt ended; `lost`: its worker died and its lease lapsed; `running`: in progress now. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'cancelled' | 'snoozed' | 'lost' | 'running';

/**
 * One entry of a job's timeline (`sluice.jobTimeline(id)`), oldest first:
 * - `attempt`: when it started and ended, how long it ran, how it ended, and its error;
 * - `step`: a durable step (`ctx.step`) that completed, by name;
 * - `compensation`: after a job died, what became of each completed step's compensation;
 * - `cancel_requested`, `cancelled`, `redriven`: what an operator did.
 */
export type TimelineEntry =
  | {
      kind: 'attempt';
      attempt: number;
      outcome: AttemptOutcome;
      startedAt: Date | null;
      finishedAt: Date | null;
      durationMs: number | null;
      error: JobAttemptError | null;
    }
  | { kind: 'step'; name: string; at: Date }
  | { kind: 'compensation'; step: string; result: 'compensated' | 'failed' | 'not_reached'; at: Date; error?: unknown }
  | { kind: 'cancel_requested' | 'cancelled'; attempt: number; at: Date }
  | { kind: 'redriven'; attempt: number; at: Date; fromQueue: string; toQueue: string };

const ATTEMPT_KINDS = new Set(['succeeded', 'failed', 'dead', 'snoozed', 'lost', 'running']);
const COMPENSATION_FIELDS = ['compensated', 'compensationFailures', 'uncompensatedSteps'] as const;

/** When an entry happened: an attempt when it started (or, start unknown, ended), any other entry its time. */
export function timelineTime(e: TimelineEntry): Date | null {
  return e.kind === 'attempt' ? (e.startedAt ?? e.finishedAt) : e.at;
}

/**
 * The entries of the rows `loadTimeline` read, in time order: an attempt at its start, so the steps it
 * completed follow it, and a dead attempt's compensations (which ran as it ended) after them. A `cancelled` row with a start is a running attempt that
 * ended cancelled; without one, an operator cancelled a job that was not running.
 */
export function toTimeline(rows: readonly TimelineRow[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (const r of rows) {
    if (r.kind === 'step') {
      out.push({ kind: 'step', name: String(r.detail?.name), at: r.at });
    } else if (r.kind === 'redriven') {
      out.push({
        kind: 'redriven',
        attempt: r.attempt ?? 0,
        at: r.at,
        fromQueue: String(r.detail?.fromQueue),
        toQueue: String(r.detail?.toQueue),
      });
    } else if (r.kind === 'cancel_requested' || (r.kind === 'cancelled' && r.started_at === null)) {
      out.push({ kind: r.kind, attempt: r.attempt ?? 0, at: r.at });
    } else if (ATTEMPT_KINDS.has(r.kind) || r.kind === 'cancelled') {
      const running = r.kind === 'running';
      out.push({
        kind: 'attempt',
        attempt: r.attempt ?? 0,
        outcome: r.kind as AttemptOutcome,
        startedAt: r.started_at,
        finishedAt: running ? null : r.at,
        durationMs: running || r.started_at === null ? null : r.at.getTime() - r.started_at.getTime(),
        error: attemptError(r),
      });
      if (r.kind === 'dead') out.push(...compensations(r));
    }
  }
  // A stable sort: entries of one instant keep the order above.
  return out.sort((a, b) => (timelineTime(a)?.getTime() ?? 0) - (timelineTime(b)?.getTime() ?? 0));
}

function attemptError(r: TimelineRow): JobAttemptError | null {
  // A success's detail is its result (0011), not an error.
  if (!r.detail || (r.kind === 'succeeded' && 'result' in r.detail)) return null;
  const error: Record<string, unknown> = { ...r.detail, attempt: r.attempt ?? 0, at: r.at.toISOString() };
  for (const f of COMPENSATION_FIELDS) delete error[f];
  return error as unknown as JobAttemptError;
}

function compensations(r: TimelineRow): TimelineEntry[] {
  const d = r.detail ?? {};
  const names = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const failures = Array.isArray(d.compensationFailures) ? (d.compensationFailures as Array<{ step: string; error: unknown }>) : [];
  return [
    ...names(d.compensated).map((step) => ({ kind: 'compensation' as const, step, result: 'compensated' as const, at: r.at })),
    ...failures.map((f) => ({ kind: 'compensation' as const, step: String(f.step), result: 'failed' as const, at: r.at, error: f.error })),
    ...names(d.uncompensatedSteps).map((step) => ({ kind: 'compensation' as const, step, result: 'not_reached' as const, at: r.at })),
  ];
}
