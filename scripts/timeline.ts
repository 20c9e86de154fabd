import { type TimelineEntry, timelineTime } from '../src/index.js';

/** A duration for people: 850 ms, 12.3 s, 4 min 05 s. */
export function humanMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/**
 * What one timeline entry says, in one line without its time (the CLI and the console both print it);
 * `withDuration: false` leaves an attempt's duration out (the console shows it in a column of its own).
 */
export function describeEntry(e: TimelineEntry, options: { withDuration?: boolean } = {}): string {
  switch (e.kind) {
    case 'attempt': {
      const took = e.durationMs === null || options.withDuration === false ? '' : ` after ${humanMs(e.durationMs)}`;
      const error = e.error ? `: ${e.error.name}: ${e.error.message}` : '';
      if (e.outcome === 'running') return `attempt ${e.attempt} running`;
      if (e.outcome === 'lost') return `attempt ${e.attempt} lost: its worker stopped answering, and its lease lapsed${took}`;
      return `attempt ${e.attempt} ${e.outcome}${took}${error}`;
    }
    case 'step':
      return `step ${e.name} completed`;
    case 'compensation':
      return e.result === 'compensated'
        ? `step ${e.step} compensated`
        : e.result === 'failed'
          ? `compensation of step ${e.step} failed`
          : `step ${e.step} left uncompensated (the final attempt never reached it)`;
    case 'cancel_requested':
      return `cancel requested during attempt ${e.attempt}`;
    case 'cancelled':
      return e.attempt === 0 ? 'cancelled before it ran' : 'cancelled before it ran again';
    case 'redriven':
      return e.fromQueue === e.toQueue ? `redriven (attempts reset)` : `redriven from ${e.fromQueue} to ${e.toQueue} (attempts reset)`;
  }
}

/** The timeline as text lines, each with its time. */
export function timelineLines(entries: readonly TimelineEntry[]): string[] {
  return entries.map((e) => `  ${timelineTime(e)?.toISOString() ?? '—'.padEnd(24)}  ${describeEntry(e)}`);
}
