import { errorFields, jobFields, type Logger } from '../logger.js';
import type { ClaimedRow } from '../sql/claim.js';
import type { WorkerStore } from './store.js';

/**
 * The cooldowns one drain has met (a handler's RateLimitedError). Each is written at once for every worker
 * (not batched with the outcomes), and remembered here so that the drain starts nothing of a cooled key or
 * type that it claimed before the cooldown landed: such jobs go back unstarted. A type without limits has
 * no shared state to cool: only its job is snoozed, and the drain warns once.
 */
export class Cooldowns {
  readonly #store: WorkerStore;
  readonly #logger: Logger;
  /** Until when (local ms), by type and key ('' for the whole type; both '' for the whole queue). */
  readonly #until = new Map<string, number>();
  readonly #writes = new Set<Promise<void>>();
  readonly #warned = new Set<string>();

  constructor(store: WorkerStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Cool down the key of `row` (or, for `'type'`, its whole type; for `'queue'`, its whole queue) for `seconds`. */
  add(row: ClaimedRow, scope: 'key' | 'type' | 'queue', seconds: number): void {
    const write = this.#store.coolDown;
    if (!row.limited || !write) {
      if (!this.#warned.has(row.type)) {
        this.#warned.add(row.type);
        this.#logger.warn('RateLimitedError on a job type without limits: only this job is snoozed, no cooldown is shared', jobFields(row));
      }
      return;
    }
    const type = scope === 'queue' ? '' : row.type;
    const key = scope === 'key' ? (row.flow_key ?? '') : '';
    const name = `${type}\u0000${key}`;
    this.#until.set(name, Math.max(this.#until.get(name) ?? 0, Date.now() + seconds * 1000));
    const pending = write({ queue: row.queue, type, key, seconds })
      .catch((error) => this.#logger.warn('could not write a cooldown', { ...jobFields(row), error: errorFields(error) }))
      .finally(() => this.#writes.delete(pending));
    this.#writes.add(pending);
  }

  /** Whether a cooldown this drain met holds the key, the type or the queue of `row` (a drain has one queue). */
  holds(row: ClaimedRow): boolean {
    if (this.#until.size === 0 || !row.limited) return false;
    const now = Date.now();
    return [`\u0000`, `${row.type}\u0000`, `${row.type}\u0000${row.flow_key ?? ''}`].some((name) => (this.#until.get(name) ?? 0) > now);
  }

  /** Every cooldown write ended (a failed one is logged). */
  async settled(): Promise<void> {
    await Promise.all(this.#writes);
  }
}
