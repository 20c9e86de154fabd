import { z } from 'zod';

/**
 * Exponential backoff with full jitter and a cap: the delay before retry n (n = 1 after the first failed
 * attempt) is uniform in [0, min(maxMs, baseMs * 2^(n-1))].
 *
 * @example
 * defineJob({ type: 'call_partner_api', schema, backoff: { baseMs: 2_000, maxMs: 600_000 } });
 */
export const backoffSchema = z
  .object({
    baseMs: z.number().int().min(0).max(86_400_000),
    maxMs: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400_000),
  })
  .strict()
  .refine((b) => b.maxMs >= b.baseMs, { message: 'backoff.maxMs must be >= backoff.baseMs', path: ['maxMs'] });

export type Backoff = z.infer<typeof backoffSchema>;

export const DEFAULT_BACKOFF: Backoff = { baseMs: 10_000, maxMs: 3_600_000 };

/** The upper bound of the delay before retry n (the jitter draws from 0 up to it). */
export function backoffCeilingMs(backoff: Backoff, retry: number): number {
  const exp = Math.min(Math.max(retry - 1, 0), 52);
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** exp);
}

/** The delay before retry n, drawn with full jitter. `random` is injectable for tests. */
export function backoffDelayMs(backoff: Backoff, retry: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingMs(backoff, retry));
}

/**
 * Attempt budgets by failure mode (attempts = retries + 1); docs/patterns.md says which to pick when.
 *
 * @example
 * defineJob({ type: 'send_email', schema, ...retryPresets.network });
 */
export const retryPresets = {
  /** Network timeouts: transient, will recover. 4 retries. */
  network: { maxAttempts: 5 },
  /** Rate limits: backoff helps. 8 retries; prefer SnoozeJobError when the API says how long. */
  rateLimit: { maxAttempts: 9 },
  /** Invalid input never succeeds: no retry. */
  invalidInput: { maxAttempts: 1 },
  /** Errors from an external API: may be temporary. 3 retries. */
  externalApi: { maxAttempts: 4 },
} as const satisfies Record<string, { maxAttempts: number }>;
