/** The most intervals [start, end) of each group open at once (from the database's own timestamps). */
export function maxOverlap(rows: ReadonlyArray<{ group: string; start: Date; end: Date }>): Map<string, number> {
  const byGroup = new Map<string, Array<[number, number]>>();
  for (const r of rows) {
    const list = byGroup.get(r.group) ?? [];
    list.push([r.start.getTime(), 1], [r.end.getTime(), -1]);
    byGroup.set(r.group, list);
  }
  const out = new Map<string, number>();
  for (const [group, edges] of byGroup) {
    // An end at the same instant as a start closes first: the slot was free again.
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let open = 0;
    let max = 0;
    for (const [, d] of edges) {
      open += d;
      max = Math.max(max, open);
    }
    out.set(group, max);
  }
  return out;
}

/** The most of `intervals` open at once, over all of them. */
export function maxOpen(intervals: ReadonlyArray<{ start: Date; end: Date }>): number {
  return maxOverlap(intervals.map((r) => ({ group: '', start: r.start, end: r.end }))).get('') ?? 0;
}
