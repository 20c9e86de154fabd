import { z } from 'zod';
import { JOB_TYPE, QUEUE_NAME } from './define.js';

/**
 * Cost per job type. A drain's host knows what the drain cost (on Lambda: the invocation's billed duration
 * and its memory), not what each job did; sluice splits it over the job types by the run time of their
 * attempts, so the time around them (claims, outcome writes, waits) is shared in proportion. A drain whose
 * attempts took no measurable time splits it by their count.
 */

/** One attempt the drain ran: its queue and type, and how long its handler ran (ms). */
export interface AttemptTime {
  queue: string;
  type: string;
  durationMs: number;
}

/** One job type's share of a drain's cost. */
export interface CostShare {
  queue: string;
  type: string;
  attempts: number;
  /** The drain time attributed to these attempts, in ms. */
  billedMs: number;
  /** `billedMs` times the host's memory, in GB-milliseconds (Lambda bills GB-seconds). */
  gbMs: number;
}

/**
 * Split `billedMs` of a drain with `memoryMb` of memory over the types of its attempts.
 *
 * @example
 * attributeCost([{ queue: 'q', type: 'a', durationMs: 30 }, { queue: 'q', type: 'b', durationMs: 10 }], 100, 1024);
 * // [{ queue: 'q', type: 'a', attempts: 1, billedMs: 75, gbMs: 75 }, { queue: 'q', type: 'b', attempts: 1, billedMs: 25, gbMs: 25 }]
 */
export function attributeCost(attempts: readonly AttemptTime[], billedMs: number, memoryMb: number): CostShare[] {
  if (!(Number.isFinite(billedMs) && billedMs >= 0)) throw new RangeError(`billedMs must be a finite number >= 0, got ${billedMs}`);
  if (!(Number.isFinite(memoryMb) && memoryMb > 0)) throw new RangeError(`memoryMb must be a finite number > 0, got ${memoryMb}`);
  const byType = new Map<string, { queue: string; type: string; attempts: number; ms: number }>();
  let total = 0;
  for (const a of attempts) {
    const key = `${a.queue}\u0000${a.type}`;
    const entry = byType.get(key) ?? { queue: a.queue, type: a.type, attempts: 0, ms: 0 };
    const ms = Number.isFinite(a.durationMs) && a.durationMs > 0 ? a.durationMs : 0;
    entry.attempts++;
    entry.ms += ms;
    total += ms;
    byType.set(key, entry);
  }
  const gb = memoryMb / 1024;
  return [...byType.values()].map((e) => {
    const share = total > 0 ? e.ms / total : e.attempts / attempts.length;
    const ms = billedMs * share;
    return { queue: e.queue, type: e.type, attempts: e.attempts, billedMs: ms, gbMs: ms * gb };
  });
}

/** A share as `recordCosts` takes it: checked, since it comes from the host. */
export const costShareSchema = z
  .object({
    queue: z.string().regex(QUEUE_NAME),
    type: z.string().regex(JOB_TYPE),
    attempts: z.number().int().min(0).max(1_000_000),
    billedMs: z.number().finite().min(0).max(86_400_000),
    gbMs: z
      .number()
      .finite()
      .min(0)
      .max(86_400_000 * 10_240),
  })
  .strict();

/** GB-seconds per 1,000 attempts of a type, from its summed shares (0 when it ran none). */
export function gbSecondsPer1000(share: Pick<CostShare, 'attempts' | 'gbMs'>): number {
  // (gbMs / 1000) GB-seconds over `attempts`, times 1,000: the milliseconds and the thousand cancel.
  return share.attempts === 0 ? 0 : share.gbMs / share.attempts;
}
