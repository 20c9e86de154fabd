/**
 * What `sluice dev` shows: per queue ready / scheduled / running / dead, the oldest ready job's age (the
 * column order of `sluice status` and `GET /v1/queues`), jobs per second and p95
 * duration, redrawn about once a second on a terminal (with the latest log lines under it), or as plain
 * status lines when the output is not a terminal.
 */

import type { MetricsSink } from '../../functions/shared/metricsSink.js';
import type { QueueStats } from '../../src/index.js';
import { alignColumns, STATUS_HEADER, statusCells } from '../table.js';

const RATE_WINDOW_MS = 5_000;
const DURATION_WINDOW_MS = 60_000;

/** A MetricsSink that keeps what the view needs: completions and durations, per queue, for a minute. */
export class QueueActivity {
  readonly #done = new Map<string, number[]>();
  readonly #durations = new Map<string, Array<{ t: number; ms: number }>>();

  sinkFor(queue: string): MetricsSink {
    return {
      addDimension: () => {},
      setDefaultDimensions: () => {},
      publishStoredMetrics: () => {},
      addMetric: (name, _unit, value) => {
        const now = Date.now();
        if (name === 'JobDurationMs') this.#push(this.#durations, queue, { t: now, ms: value });
        if (name === 'JobsSucceeded' || name === 'JobsFailed') this.#push(this.#done, queue, now);
      },
    };
  }

  #push<T>(map: Map<string, T[]>, queue: string, v: T): void {
    const list = map.get(queue) ?? [];
    list.push(v);
    map.set(queue, list);
  }

  /** Jobs finished (succeeded or failed) per second over the last 5 s. */
  rate(queue: string, now = Date.now()): number {
    const list = (this.#done.get(queue) ?? []).filter((t) => now - t < DURATION_WINDOW_MS);
    this.#done.set(queue, list);
    return list.filter((t) => now - t < RATE_WINDOW_MS).length / (RATE_WINDOW_MS / 1000);
  }

  /** p95 of handler durations over the last minute, or null with none. */
  p95(queue: string, now = Date.now()): number | null {
    const list = (this.#durations.get(queue) ?? []).filter((d) => now - d.t < DURATION_WINDOW_MS);
    this.#durations.set(queue, list);
    if (list.length === 0) return null;
    const sorted = list.map((d) => d.ms).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number;
  }
}

/** A queue's counts (`QueueStats`) and, from this process's functions, jobs per second and p95 duration. */
export interface ViewRow extends QueueStats {
  perSecond: number;
  p95Ms: number | null;
}

export function viewRows(queues: readonly string[], stats: readonly QueueStats[], activity: QueueActivity): ViewRow[] {
  const names = [...new Set([...queues, ...stats.map((s) => s.queue)])];
  return names.map((queue) => {
    const s = stats.find((x) => x.queue === queue);
    return {
      queue,
      ready: s?.ready ?? 0,
      scheduled: s?.scheduled ?? 0,
      scheduledCapped: s?.scheduledCapped ?? false,
      running: s?.running ?? 0,
      dead: s?.dead ?? 0,
      oldestReadyAgeSeconds: s?.oldestReadyAgeSeconds ?? null,
      paused: s?.paused ?? false,
      perSecond: activity.rate(queue),
      p95Ms: activity.p95(queue),
    };
  });
}

/** The table, as lines. */
export function renderTable(rows: readonly ViewRow[]): string[] {
  const header = [...STATUS_HEADER, 'jobs/s', 'p95'];
  const cells = rows.map((r) => [...statusCells(r), r.perSecond.toFixed(1), r.p95Ms === null ? '-' : `${Math.round(r.p95Ms)} ms`]);
  return alignColumns([header, ...cells]);
}

/** One plain status line per queue (non-terminal output). */
export function renderPlain(rows: readonly ViewRow[]): string[] {
  return rows.map(
    (r) =>
      `[sluice dev] queue=${r.queue} ready=${r.ready} scheduled=${r.scheduled}${r.scheduledCapped ? '+' : ''} running=${r.running} dead=${r.dead} oldest_ready_s=${r.oldestReadyAgeSeconds === null ? '-' : Math.round(r.oldestReadyAgeSeconds)}${r.paused ? ' paused' : ''} jobs_per_s=${r.perSecond.toFixed(1)} p95_ms=${r.p95Ms === null ? '-' : Math.round(r.p95Ms)}`,
  );
}

/** Powertools' per-invocation fields: noise on a local terminal (one process plays every function). */
const NOISE = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
]);

/** Routine lines that say nothing happened: a drain that claimed nothing, maintenance that pruned nothing. */
function idle(entry: Record<string, unknown>): boolean {
  if (entry.level !== 'INFO' && entry.level !== 'DEBUG') return false;
  return (entry.message === 'drain finished' && entry.claimed === 0) || (entry.message === 'maintenance finished' && entry.pruned === 0);
}

/** A field's value as a short word: an error object as `Name: message` (never its stack). */
function shown(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'message' in v) {
    const e = v as { name?: unknown; message?: unknown };
    return `${typeof e.name === 'string' ? e.name : 'Error'}: ${String(e.message)}`;
  }
  return JSON.stringify(v);
}

/**
 * A JSON log line as one short line for the terminal: time, level, the function that wrote it, message,
 * then the fields that say something (zeros, false and null left out; an error as its name and message).
 * Idle lines give null: the pane is for what happened. Other lines pass through, one line each.
 *
 * @example
 * compactLogLine('{"level":"INFO","message":"drain finished","timestamp":"2030-01-01T10:00:00.000Z","function_name":"worker-emails","claimed":3,"dead":0}');
 * // '10:00:00 INFO worker-emails drain finished claimed=3'
 */
export function compactLogLine(line: string): string | null {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || typeof entry.message !== 'string') return line;
  if (idle(entry)) return null;
  const time = typeof entry.timestamp === 'string' ? entry.timestamp.slice(11, 19) : '';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !NOISE.has(k) && v !== 0 && v !== false && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${shown(v)}`);
  const fn = typeof entry.function_name === 'string' ? entry.function_name : '';
  return [time, entry.level, fn, entry.message, ...fields].filter(Boolean).join(' ');
}

/** `line` cut to `width` columns (an ellipsis marks the cut): a terminal line that never wraps. */
export function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

/** The screen, drawn over the last one in place: home, each line cleared to its end, the rest cleared. */
export function frame(lines: readonly string[], width: number): string {
  return `\x1b[H${lines.map((l) => `${fit(l, width)}\x1b[K`).join('\n')}\n\x1b[J`;
}

/** The alternate screen (as full-screen programs use): the view never fills the scrollback. */
export const ALTERNATE_SCREEN = { enter: '\x1b[?1049h\x1b[?25l', leave: '\x1b[?25h\x1b[?1049l' };
