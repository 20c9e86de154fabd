import type { QueueStats } from '../src/sluice.js';

/**
 * Align rows of text into columns for a terminal: the first column (a name) left-aligned, the others
 * (figures) right-aligned, two spaces apart. The first row is usually the header.
 *
 * @example
 * alignColumns([['queue', 'ready'], ['emails', '3']]); // ['queue   ready', 'emails      3']
 */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The per-queue columns of `sluice status`, the dev view and `GET /v1/queues`, in one order. */
export const STATUS_HEADER = ['queue', 'ready', 'scheduled', 'running', 'dead', 'oldest ready', 'paused'] as const;

/** One queue's cells in `STATUS_HEADER`'s order; the oldest ready age is blank when nothing is ready. */
export function statusCells(q: QueueStats): string[] {
  const age = q.oldestReadyAgeSeconds === null ? '' : `${Math.round(q.oldestReadyAgeSeconds)} s`;
  return [
    q.queue,
    String(q.ready),
    `${q.scheduled}${q.scheduledCapped ? '+' : ''}`,
    String(q.running),
    String(q.dead),
    age,
    q.paused ? 'paused' : '',
  ];
}
