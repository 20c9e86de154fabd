/** The largest claim `batchSize: 'auto'` makes. */
export const MAX_AUTO_BATCH = 1000;

/** How much work, in time, an automatic claim fetches for the drain's slots (bounded by the lease and the time left). */
export const LOOKAHEAD_MS = 1000;

/**
 * How many jobs a drain claims at a time: a fixed `batchSize`, or with `'auto'`, about `LOOKAHEAD_MS` of
 * work for its `concurrency` slots at the attempt time it has seen so far (a moving average). Fast jobs
 * get large claims (up to `MAX_AUTO_BATCH`), so one round trip serves many of them; slow jobs get small
 * ones, so a claim never takes more than the drain can start soon. What a drain holds unstarted is
 * therefore bounded by a second of work, half a lease and the time left, whichever is least: a Lambda
 * that dies strands at most that until its leases lapse. Before any attempt has finished, a claim
 * fills the free slots and no more.
 *
 * @example
 * const sizer = new BatchSizer('auto', 10, 30_000);
 * sizer.observe(2); // an attempt took 2 ms
 * sizer.target(60_000); // 1000: ten slots × 1000 ms / 2 ms, capped
 */
export class BatchSizer {
  readonly #fixed: number | undefined;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  #meanMs: number | undefined;

  constructor(batchSize: number | 'auto', concurrency: number, leaseMs: number) {
    this.#fixed = batchSize === 'auto' ? undefined : batchSize;
    this.#concurrency = concurrency;
    this.#leaseMs = leaseMs;
  }

  get fixed(): boolean {
    return this.#fixed !== undefined;
  }

  /** Note how long one attempt took, in milliseconds. */
  observe(ms: number): void {
    const sample = Math.max(0, ms);
    this.#meanMs = this.#meanMs === undefined ? sample : this.#meanMs + (sample - this.#meanMs) / 8;
  }

  /** How many jobs the drain should hold unstarted after a claim, with `timeLeftMs` of its budget left. */
  target(timeLeftMs: number): number {
    if (this.#fixed !== undefined) return this.#fixed;
    if (this.#meanMs === undefined) return this.#concurrency;
    const horizon = Math.max(0, Math.min(LOOKAHEAD_MS, this.#leaseMs / 2, timeLeftMs));
    const n = Math.floor((this.#concurrency * horizon) / Math.max(this.#meanMs, 0.01));
    return Math.min(MAX_AUTO_BATCH, Math.max(this.#concurrency, n));
  }
}
