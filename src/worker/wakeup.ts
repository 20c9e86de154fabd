/**
 * A sticky wake-up: `notify()` wakes every waiter, or, with none waiting, the next `wait()` returns at
 * once. So a notification that lands between a check and a wait is never lost.
 */
export class Wakeup {
  #pending = false;
  #waiters = new Set<() => void>();

  notify(): void {
    if (this.#waiters.size === 0) {
      this.#pending = true;
      return;
    }
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolve on the next notify, after `ms`, or when `signal` aborts, whichever is first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2_147_483_647)));
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }
}
