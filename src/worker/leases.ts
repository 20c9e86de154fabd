import { JobCancelledError, LeaseLostError } from '../errors.js';
import { errorFields, type Logger } from '../logger.js';
import type { HeldJob } from './context.js';
import type { WorkerStore } from './store.js';

/**
 * The leases a drain holds: which attempt holds each job, a background heartbeat that extends them all in
 * one statement every `heartbeatMs`, and `ctx.heartbeat()`, debounced into that batch.
 *
 * A lease runs `leaseMs` from when its claim or extend was sent, and the background tick extends it again
 * within `heartbeatMs` (< `leaseMs`). So `ctx.heartbeat()` on a lease confirmed less than `heartbeatMs`
 * ago sends nothing: a handler calling it once a page (every 400 ms, say) costs no statement of its own.
 * Only a lease older than that (the tick is late, or failed) is extended at once, by a tick of all held
 * leases that every caller meanwhile shares. An extend that does not return a job means its lease is
 * lost: the attempt's signal aborts with `LeaseLostError`; a cancel it reports aborts with `JobCancelledError`.
 */
export class LeaseKeeper {
  readonly #held = new Map<string, HeldJob>();
  readonly #c: { extend: WorkerStore['extend']; leaseMs: number; heartbeatMs: number; queue: string; logger: Logger };
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(config: { extend: WorkerStore['extend']; leaseMs: number; heartbeatMs: number; queue: string; logger: Logger }) {
    this.#c = config;
  }

  /** The attempt that holds a job, if any. */
  get(id: string): HeldJob | undefined {
    return this.#held.get(id);
  }

  hold(job: HeldJob): void {
    this.#held.set(job.row.id, job);
  }

  /** Stop holding a job; false if this attempt was no longer the one held (settled, lost or superseded). */
  drop(job: HeldJob): boolean {
    if (this.#held.get(job.row.id) !== job) return false;
    this.#held.delete(job.row.id);
    return true;
  }

  /** Mark an attempt's lease lost and abort its signal with `reason`. */
  markLost(job: HeldJob, reason: LeaseLostError): void {
    job.lost = true;
    job.controller.abort(reason);
  }

  /** Start the background heartbeat. Its failures are logged: a lease may lapse, and the next tick tries again. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.#tick().catch((err) =>
        this.#c.logger.warn('heartbeat failed; leases may lapse', { queue: this.#c.queue, jobs: this.#held.size, error: errorFields(err) }),
      );
    }, this.#c.heartbeatMs);
  }

  /** Stop the background heartbeat and wait for an extend in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight?.catch(() => {});
  }

  /** `ctx.heartbeat()`: resolves once the lease is fresh; rejects with `LeaseLostError` when it is lost. */
  async heartbeat(job: HeldJob): Promise<void> {
    if (!job.lost && this.#held.get(job.row.id) === job && performance.now() - job.leaseSentAt >= this.#c.heartbeatMs) {
      await this.#tick();
    }
    if (job.lost || this.#held.get(job.row.id) !== job) throw new LeaseLostError(`lease of job ${job.row.id} was lost`);
  }

  /** Extend every held lease in one statement; a tick already in flight is joined, not repeated. */
  #tick(): Promise<void> {
    this.#inFlight ??= this.#extendHeld().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #extendHeld(): Promise<void> {
    // A job whose ctx.transaction is writing its success holds its row until the commit: an extend would wait on it.
    const sent = [...this.#held.values()].filter((j) => !j.lost && !j.finishing);
    if (sent.length === 0) return;
    const sentAt = performance.now();
    const alive = await this.#c.extend(
      sent.map((j) => ({ id: j.row.id, token: j.token })),
      this.#c.leaseMs / 1000,
    );
    for (const job of sent) {
      const state = alive.get(job.row.id);
      if (!state) {
        this.markLost(job, new LeaseLostError(`lease of job ${job.row.id} was lost`));
        continue;
      }
      job.leaseSentAt = sentAt;
      if (state.cancelRequested && !job.cancelRequested) {
        job.cancelRequested = true;
        job.controller.abort(new JobCancelledError(`job ${job.row.id} was cancelled`));
      }
    }
  }
}
