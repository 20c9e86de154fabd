import type { Queryable, SchemaName } from '../db.js';

/**
 * Pause `queues` (a row each in `paused_queues`): their workers claim nothing from the next claim on;
 * running jobs finish. Returns the queues that were not paused before. Idempotent.
 */
export async function pauseQueues(db: Queryable, s: SchemaName, queues: readonly string[]): Promise<string[]> {
  const res = await db.query<{ queue: string }>(
    `INSERT INTO ${s}.paused_queues (queue) SELECT unnest($1::text[]) ON CONFLICT (queue) DO NOTHING RETURNING queue`,
    [queues],
  );
  return res.rows.map((r) => r.queue);
}

/** Resume `queues`: their workers claim again. Returns the queues that were paused. Idempotent. */
export async function resumeQueues(db: Queryable, s: SchemaName, queues: readonly string[]): Promise<string[]> {
  const res = await db.query<{ queue: string }>(`DELETE FROM ${s}.paused_queues WHERE queue = ANY($1::text[]) RETURNING queue`, [queues]);
  return res.rows.map((r) => r.queue);
}
