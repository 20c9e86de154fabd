import type { Queryable, SchemaName } from '../db.js';

/**
 * What became of one claimed job.
 * - success: the live row is deleted (the record is rewritten only if the job had failed before).
 * - dead / cancelled: the live row is deleted; the record gets its terminal state.
 * - retry: due again after `delaySeconds`; the attempt stays spent.
 * - snooze: due again after `delaySeconds`; the attempt is given back.
 * - release: due again at once (unstarted at a deadline); the attempt is given back.
 */
export type OutcomeKind = 'success' | 'dead' | 'cancelled' | 'retry' | 'snooze' | 'release';

export interface Outcome {
  id: string;
  token: string;
  kind: OutcomeKind;
  delaySeconds: number;
  /** The job's type, for the per-minute counts. */
  type: string;
  /** The attempt's error, as stored in the history (`at` is added from the database clock). */
  error: Record<string, unknown> | null;
  /** A success's result, as JSON text: kept on its timeline row as `{"result": …}`. */
  resultJson?: string | undefined;
  /** A limited job (claimed by the flow claim): the batch goes through `record_flow_outcomes`. */
  limited?: boolean | undefined;
}

/**
 * A success writes the record only when the job had failed before, or finished more than half the
 * retention after it was due (so prune, which counts a first-try success from its due time, still keeps
 * it at least half the retention after it finished).
 *
 * Write a whole batch of outcomes in one round trip, each only where the claim token still matches: an
 * outcome from a worker that lost its lease changes nothing. Returns the ids that were applied; any other
 * id in the batch was fenced off (lost).
 *
 * The same statement appends each applied outcome to the job's timeline (`job_events`: when the attempt
 * started and ended, and its error) and adds it to the per-minute counts (`job_counts`, one upsert per
 * queue, type and duration bucket of the batch, its rows in key order so concurrent batches lock them in
 * one order and cannot deadlock). Fenced-off outcomes write neither.
 *
 * The statement lives in a PL/pgSQL function (`record_outcomes`, created by migrations/0008_outcome_function.sql, its
 * body now that of 0011_stored_results.sql, where a success's detail is its result), so a
 * backend plans it once and keeps the plan, without PREPARE or any session state (safe behind RDS Proxy).
 * Its CTEs, in order: `o` (the batch), `gone` (success, dead, cancelled: the live row deleted where the
 * token matches), `again` (retry, snooze, release: rescheduled where the token matches), `record` (the job
 * record, only on the rarer paths), `events` (the timeline row), `counts` (the per-minute counts, duration
 * bucket 4 an octave of milliseconds, -1 when the start is unknown).
 */
export async function recordOutcomes(
  db: Queryable,
  s: SchemaName,
  outcomes: readonly Outcome[],
  options: {
    maxErrorsKept: number;
    retentionSeconds: number;
    /** @internal false only in the bench, which measures what the timeline and the counts cost. */
    history?: boolean;
  },
): Promise<Set<string>> {
  if (outcomes.length === 0) return new Set();
  // A batch with a limited job also frees its flow slot or parks it again, in the same transaction
  // (record_flow_outcomes in migrations/0013_flow_control.sql); any other batch pays nothing for limits.
  const fn = outcomes.some((o) => o.limited) ? 'record_flow_outcomes' : 'record_outcomes';
  const res = await db.query<{ id: string }>(
    `SELECT id FROM ${s}.${fn}($1::bigint[], $2::uuid[], $3::text[], $4::float8[], $5::jsonb[], $6::text[], $7, $8, $9)`,
    [
      outcomes.map((o) => o.id),
      outcomes.map((o) => o.token),
      outcomes.map((o) => o.kind),
      outcomes.map((o) => o.delaySeconds),
      // The detail of each outcome's timeline row: its error, or a success's result (never both).
      outcomes.map((o) => (o.error ? JSON.stringify(o.error) : o.resultJson !== undefined ? `{"result":${o.resultJson}}` : null)),
      outcomes.map((o) => o.type),
      options.maxErrorsKept,
      options.retentionSeconds,
      options.history !== false,
    ],
  );
  return new Set(res.rows.map((r) => r.id));
}
