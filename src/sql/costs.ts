import type { Queryable, SchemaName } from '../db.js';

/** One type's share of what drains cost: its attempts, their attributed time, and that time in GB-milliseconds. */
export interface CostRow {
  queue: string;
  type: string;
  attempts: number;
  billedMs: number;
  gbMs: number;
}

/** Add each share to the current minute's row of its queue and type, in one statement. */
export async function addCosts(db: Queryable, s: SchemaName, rows: readonly CostRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO ${s}.job_costs AS c (minute, queue, type, attempts, billed_ms, gb_ms)
     SELECT date_trunc('minute', now()), queue, type, attempts, billed_ms, gb_ms
     FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::float8[]) AS r(queue, type, attempts, billed_ms, gb_ms)
     ORDER BY queue, type
     ON CONFLICT (minute, queue, type) DO UPDATE
       SET attempts = c.attempts + excluded.attempts, billed_ms = c.billed_ms + excluded.billed_ms, gb_ms = c.gb_ms + excluded.gb_ms`,
    [rows.map((r) => r.queue), rows.map((r) => r.type), rows.map((r) => r.attempts), rows.map((r) => r.billedMs), rows.map((r) => r.gbMs)],
  );
}

/** The shares of the last `sinceSeconds`, summed per queue and type, in queue and type order. */
export async function readCosts(db: Queryable, s: SchemaName, sinceSeconds: number): Promise<CostRow[]> {
  const res = await db.query<{ queue: string; type: string; attempts: number; billed_ms: number; gb_ms: number }>(
    `SELECT queue, type, sum(attempts)::float8 AS attempts, sum(billed_ms)::float8 AS billed_ms, sum(gb_ms)::float8 AS gb_ms
     FROM ${s}.job_costs WHERE minute >= date_trunc('minute', now() - make_interval(secs => $1))
     GROUP BY queue, type ORDER BY queue, type`,
    [sinceSeconds],
  );
  return res.rows.map((r) => ({ queue: r.queue, type: r.type, attempts: r.attempts, billedMs: r.billed_ms, gbMs: r.gb_ms }));
}

/** Delete the minutes older than `keepSeconds`; returns how many rows. */
export async function pruneCosts(db: Queryable, s: SchemaName, keepSeconds: number): Promise<number> {
  const res = await db.query(`DELETE FROM ${s}.job_costs WHERE minute < now() - make_interval(secs => $1)`, [keepSeconds]);
  return res.rowCount ?? 0;
}
