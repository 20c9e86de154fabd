import { backoffDelayMs, DEFAULT_BACKOFF } from '../backoff.js';
import type { JobDefinition } from '../define.js';
import { JobCancelledError, PermanentJobError, RateLimitedError, RetryableJobError, SnoozeJobError } from '../errors.js';
import { errorFields } from '../logger.js';
import type { OutcomeKind } from '../sql/outcomes.js';

/** The longest delay an outcome may ask for: longer asks are capped, invalid ones get the backoff. */
export const MAX_DELAY_MS = 365 * 86_400_000;

export interface Decision {
  kind: OutcomeKind;
  delaySeconds: number;
  error: Record<string, unknown> | null;
  /** A success's result, as JSON text (checked: storable and within `maxResultBytes`); absent when none. */
  resultJson?: string | undefined;
  /** Already written, by `ctx.transaction` with the handler's own writes: count and report it, write nothing. */
  recorded?: true;
  /** A RateLimitedError: its key or its type cools down for every worker, for the snooze's delay. */
  cooldown?: RateLimitedError['scope'];
}

/**
 * What a failed attempt leads to, given the error the handler threw (or the abort reason):
 *
 * | error                         | outcome                                         |
 * |-------------------------------|-------------------------------------------------|
 * | PermanentJobError             | dead at once                                    |
 * | SnoozeJobError(delayMs)       | due again after delayMs, attempt given back     |
 * | RateLimitedError(retryAfter)  | the same, and its key or type cools down        |
 * | JobCancelledError             | cancelled                                       |
 * | RetryableJobError({delayMs})  | retry after delayMs (or backoff); dead if spent |
 * | anything else, timeouts too   | retry after backoff; dead if attempts are spent |
 *
 * Without a definition (no handler for the type on this worker) the default backoff applies.
 */
export function decide(
  err: unknown,
  attempt: number,
  maxAttempts: number,
  def: JobDefinition | undefined,
  maxMessageLength: number,
): Decision {
  const error = errorFields(err, maxMessageLength);
  if (err instanceof SnoozeJobError) {
    const snooze: Decision = { kind: 'snooze', delaySeconds: Math.min(err.delayMs, MAX_DELAY_MS) / 1000, error: null };
    return err instanceof RateLimitedError ? { ...snooze, cooldown: err.scope } : snooze;
  }
  if (err instanceof JobCancelledError) return { kind: 'cancelled', delaySeconds: 0, error };
  if (err instanceof PermanentJobError || attempt >= maxAttempts) return { kind: 'dead', delaySeconds: 0, error };
  const asked = err instanceof RetryableJobError ? err.delayMs : undefined;
  const delayMs =
    asked !== undefined && Number.isFinite(asked) && asked >= 0
      ? Math.min(asked, MAX_DELAY_MS)
      : backoffDelayMs(def?.backoff ?? DEFAULT_BACKOFF, attempt);
  return { kind: 'retry', delaySeconds: delayMs / 1000, error };
}
