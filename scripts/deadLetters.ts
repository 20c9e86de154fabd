import type { DeadLetterFilter, Sluice } from '../src/index.js';

/**
 * Redrive or purge the dead letters `filter` names, for the CLI and the console. An empty filter means
 * every dead letter, taken queue by queue: the library refuses an empty filter, so that a slip in code
 * cannot act on everything. Returns the ids acted on.
 */
export async function actOnDeadLetters(
  sluice: Sluice,
  what: 'redrive' | 'purge',
  filter: DeadLetterFilter,
  options: { toQueue?: string } = {},
): Promise<string[]> {
  const filters =
    Object.keys(filter).length > 0 ? [filter] : (await sluice.stats()).filter((q) => q.dead > 0).map((q) => ({ queue: q.queue }));
  const ids: string[] = [];
  for (const f of filters)
    ids.push(...(what === 'redrive' ? await sluice.redriveDeadLetters(f, options) : await sluice.purgeDeadLetters(f)));
  return ids;
}
