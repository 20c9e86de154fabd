import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { Logger } from '../../src/logger.js';
import { truncate } from '../../src/logger.js';

/** The detail-types sluice puts on its bus. */
export const DETAIL_TYPES = {
  jobsEnqueued: 'JobsEnqueued',
  drainRequested: 'DrainRequested',
  jobDeadLettered: 'JobDeadLettered',
} as const;

export interface JobsEnqueuedDetail {
  queue: string;
  count: number;
}
export interface DrainRequestedDetail {
  queue: string;
  /** How many continuations deep this drain chain is; fan-out stops doubling at a bound. */
  generation: number;
}
export interface JobDeadLetteredDetail {
  jobId: string;
  type: string;
  queue: string;
  attempts: number;
  /** The last error's name and message, truncated. Never the payload. */
  lastError: string;
}

/** Where events go: EventBridge on AWS, an in-process bus locally, a recording stub in tests. */
export interface EventSink {
  put(
    entries: PutEventsRequestEntry[],
    signal?: AbortSignal,
  ): Promise<{ failed: Array<{ entry: PutEventsRequestEntry; code?: string | undefined }> }>;
}

/**
 * EventBridge PutEvents, at most 10 entries a call. The default client gives up quickly (1 s to connect,
 * 2 s per request, 2 tries): an unreachable endpoint must not hold an enqueue response for the API's
 * 30 s. The publisher retries failed entries itself. The SDK is loaded on the first put, not at start-up:
 * a container that never publishes never pays for it, and one that does pays once (docs/performance.md).
 */
export function eventBridgeSink(client?: EventBridgeClient): EventSink {
  let sdk: Promise<{ client: EventBridgeClient; PutEventsCommand: typeof import('@aws-sdk/client-eventbridge').PutEventsCommand }>;
  const load = () => {
    sdk ??= import('@aws-sdk/client-eventbridge').then((m) => ({
      client:
        client ??
        new m.EventBridgeClient({
          maxAttempts: 2,
          requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
        }),
      PutEventsCommand: m.PutEventsCommand,
    }));
    return sdk;
  };
  return {
    async put(entries, signal) {
      const { client, PutEventsCommand } = await load();
      const res = await client.send(new PutEventsCommand({ Entries: entries }), signal ? { abortSignal: signal } : {});
      const failed: Array<{ entry: PutEventsRequestEntry; code?: string | undefined }> = [];
      (res.Entries ?? []).forEach((r, i) => {
        if (r.ErrorCode) failed.push({ entry: entries[i] as PutEventsRequestEntry, code: r.ErrorCode });
      });
      return { failed };
    },
  };
}

const MAX_ENTRIES = 10;
const ATTEMPTS = 3;

/**
 * Publishes sluice's events. `jobsEnqueued` coalesces per queue until `flush()`, so a burst of enqueues
 * becomes one event per queue. `flush()` sends at most 10 entries per PutEvents, retries failed entries
 * (twice, with a short backoff) and never throws: the jobs are committed already and the schedule is the
 * safety net, so a failure is logged and counted (`failedEntries`).
 */
export class EventPublisher {
  readonly #sink: EventSink | undefined;
  readonly #busName: string | undefined;
  readonly #source: string;
  readonly #logger: Logger;
  readonly #enqueued = new Map<string, number>();
  readonly #lastWake = new Map<string, number>();
  readonly #coalesceMs: number;
  readonly #now: () => number;
  #pending: PutEventsRequestEntry[] = [];
  failedEntries = 0;

  constructor(options: {
    sink?: EventSink | undefined;
    busName?: string | undefined;
    source: string;
    logger: Logger;
    /**
     * Across requests of one container, at most one `JobsEnqueued` per queue per this many ms (0: one per
     * flush). The worker it woke drains until nothing is due, so a burst needs few wake-ups; counts held
     * back go out with the queue's next event.
     */
    wakeCoalesceMs?: number | undefined;
    now?: (() => number) | undefined;
  }) {
    this.#sink = options.sink;
    this.#busName = options.busName;
    this.#source = options.source;
    this.#logger = options.logger;
    this.#coalesceMs = options.wakeCoalesceMs ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** True when events go somewhere (a bus is configured). */
  get enabled(): boolean {
    return this.#sink !== undefined && this.#busName !== undefined;
  }

  jobsEnqueued(queue: string, count: number): void {
    if (count > 0) this.#enqueued.set(queue, (this.#enqueued.get(queue) ?? 0) + count);
  }

  /** `jobsEnqueued` for each job just committed, but a replayed one (it woke its queue the first time). */
  jobsCommitted(jobs: Iterable<{ queue: string; replayed: boolean }>): void {
    for (const job of jobs) if (!job.replayed) this.jobsEnqueued(job.queue, 1);
  }

  drainRequested(detail: DrainRequestedDetail): void {
    this.#add(DETAIL_TYPES.drainRequested, detail);
  }

  jobDeadLettered(detail: JobDeadLetteredDetail): void {
    this.#add(DETAIL_TYPES.jobDeadLettered, { ...detail, lastError: truncate(detail.lastError, 1024) });
  }

  #add(detailType: string, detail: object): void {
    this.#pending.push({ EventBusName: this.#busName, Source: this.#source, DetailType: detailType, Detail: JSON.stringify(detail) });
  }

  /**
   * Send everything pending, giving up after `timeoutMs` in all (default 3 s). Resolves with how many
   * entries could not be delivered.
   */
  async flush(options: { timeoutMs?: number } = {}): Promise<number> {
    // A ref'd timer (AbortSignal.timeout's is not): the deadline holds even when nothing else keeps the loop alive.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('event flush timed out')), options.timeoutMs ?? 3_000);
    try {
      return await this.#send(deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #send(signal: AbortSignal): Promise<number> {
    const now = this.#now();
    for (const [queue, count] of this.#enqueued) {
      if (now - (this.#lastWake.get(queue) ?? Number.NEGATIVE_INFINITY) < this.#coalesceMs) continue; // held for the next flush
      this.#add(DETAIL_TYPES.jobsEnqueued, { queue, count } satisfies JobsEnqueuedDetail);
      this.#lastWake.set(queue, now);
      this.#enqueued.delete(queue);
    }
    let todo = this.#pending;
    this.#pending = [];
    if (todo.length === 0 || !this.enabled) return 0;
    const sink = this.#sink as EventSink;
    for (let attempt = 1; attempt <= ATTEMPTS && todo.length > 0 && !signal.aborted; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
      const retry: PutEventsRequestEntry[] = [];
      for (let i = 0; i < todo.length; i += MAX_ENTRIES) {
        const chunk = todo.slice(i, i + MAX_ENTRIES);
        try {
          const { failed } = await sink.put(chunk, signal);
          retry.push(...failed.map((f) => f.entry));
        } catch (err) {
          this.#logger.warn('PutEvents failed', {
            entries: chunk.length,
            attempt,
            error: { name: (err as Error).name, message: (err as Error).message },
          });
          retry.push(...chunk);
        }
      }
      todo = retry;
    }
    if (todo.length > 0) {
      this.failedEntries += todo.length;
      this.#logger.error('events not delivered; the schedule will drain the queues', {
        entries: todo.length,
        detail_types: [...new Set(todo.map((e) => e.DetailType))],
      });
    }
    return todo.length;
  }
}
