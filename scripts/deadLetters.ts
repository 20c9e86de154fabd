import type { DeadLetterFilter, Sluice } from '../src/index.js';

/**
 * Redrive or purge the dead letters `filter` names, for the CLI and the console. An empty filter means
 * every dead letter (`all: true`: the library refuses an empty filter, so that a slip in code cannot act
 * on everything). With `idempotencyKey`, a retry answers the first answer. Returns the ids acted on.
 */
export async function actOnDeadLetters(
  sluice: Sluice,
  what: 'redrive' | 'purge',
  filter: DeadLetterFilter,
  options: { toQueue?: string; idempotencyKey?: string } = {},
): Promise<string[]> {
  const f: DeadLetterFilter = Object.keys(filter).length > 0 ? filter : { all: true };
  const { toQueue, ...key } = options;
  return what === 'redrive' ? sluice.redriveDeadLetters(f, options) : sluice.purgeDeadLetters(f, key);
}
