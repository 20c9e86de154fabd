/**
 * Align rows of text into columns for a terminal: the first column (a name) left-aligned, the others
 * (figures) right-aligned, two spaces apart. The first row is usually the header.
 *
 * @example
 * alignColumns([['queue', 'ready'], ['emails', '3']]); // ['queue   ready', 'emails      3']
 */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
}
