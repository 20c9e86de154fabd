/**
 * A stand-in for the Lambda service: each function runs its real handler in this process, at most
 * `concurrency` invocations at once (further events wait their turn, as throttled async invocations are
 * retried), each with a Lambda-shaped context whose remaining time counts down from the function's timeout.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export type LocalHandler = (event: never, context: Context & { signal?: AbortSignal }) => Promise<unknown>;

export interface LocalFunctionOptions {
  name: string;
  handler: LocalHandler;
  timeoutMs: number;
  concurrency: number;
  /** Aborted when the host shuts down: drains stop claiming and finish what runs. */
  shutdown: AbortSignal;
  onError: (name: string, err: unknown) => void;
  onResult?: (name: string, result: unknown) => void;
}

const MAX_WAITING = 1000;

export class LocalFunction {
  readonly name: string;
  readonly #o: LocalFunctionOptions;
  readonly #running = new Set<Promise<void>>();
  readonly #waiting: unknown[] = [];

  constructor(options: LocalFunctionOptions) {
    this.name = options.name;
    this.#o = options;
  }

  /** Invoke asynchronously (like EventBridge does): returns at once. */
  invoke(event: unknown): void {
    if (this.#o.shutdown.aborted) return;
    if (this.#running.size >= this.#o.concurrency) {
      if (this.#waiting.length < MAX_WAITING) this.#waiting.push(event);
      return;
    }
    const run = this.#run(event).finally(() => {
      this.#running.delete(run);
      const next = this.#waiting.shift();
      if (next !== undefined) this.invoke(next);
    });
    this.#running.add(run);
  }

  /** Invoke and wait for the result (the dev API server answers each request this way). */
  async call(event: unknown): Promise<unknown> {
    return this.#o.handler(event as never, this.#context());
  }

  get running(): number {
    return this.#running.size;
  }

  /** Resolves when every invocation in flight has returned (events still waiting are dropped). */
  async settle(): Promise<void> {
    this.#waiting.length = 0;
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async #run(event: unknown): Promise<void> {
    try {
      const result = await this.#o.handler(event as never, this.#context());
      this.#o.onResult?.(this.name, result);
    } catch (err) {
      this.#o.onError(this.name, err);
    }
  }

  #context(): Context & { signal: AbortSignal } {
    const deadline = Date.now() + this.#o.timeoutMs;
    const requestId = randomUUID();
    return {
      callbackWaitsForEmptyEventLoop: false,
      functionName: this.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${this.name}`,
      memoryLimitInMB: '256',
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${this.name}`,
      logStreamName: 'local',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => {},
      fail: () => {},
      succeed: () => {},
      signal: this.#o.shutdown,
    };
  }
}
