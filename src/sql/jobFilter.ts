import { z } from 'zod';
import { joinSql, type SchemaName, type SqlFragment, sql } from '../db.js';
import type { JobState } from '../job.js';
import { jobIdSchema } from '../text.js';
import { liveDueAt } from './jobColumns.js';

/**
 * Which jobs a listing, a count or a bulk action applies to: one zod schema (parsed once, `.strict()`) and
 * one SQL predicate builder, shared by `listJobs`, `countJobs`, the dead-letter operations and the bulk
 * cancel, redrive and purge. Every value is bound as a numbered `$n` parameter; the SQL text holds only
 * the schema name and constants.
 *
 * The builder picks the table a query is driven from (migrations/0004_job_listing.sql says which index
 * serves which filter): only live states → `active_jobs` (small: live work only), joined to the records;
 * anything else → `jobs`, where dead and cancelled are read from partial indexes, succeeded is a record
 * with state NULL and no live row, and queue, type and id ranges are read in id order.
 */

export const JOB_STATES = ['available', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'] as const satisfies readonly JobState[];
export const LIVE_STATES = ['available', 'scheduled', 'running'] as const satisfies readonly JobState[];

const state = z.enum(JOB_STATES);
/** An instant: a Date, or an ISO 8601 date-time with a time zone. */
const instant = z
  .union([z.date(), z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z' })])
  .transform((v) => new Date(v))
  .refine((d) => !Number.isNaN(d.getTime()), 'not a valid date');

/** The fields of a job filter, for schemas that add their own (a page's cursor, a redrive's queue). */
export const jobFilterFields = {
  /** Explicit ids (at most 10,000). */
  ids: z.array(jobIdSchema).max(10_000).optional(),
  /** One state or several (any of them). */
  state: z.union([state, z.array(state).min(1)]).optional(),
  queue: z.string().min(1).max(63).optional(),
  type: z.string().min(1).max(128).optional(),
  /** Created at or after this instant. */
  createdAfter: instant.optional(),
  /** Created before this instant (so `createdAfter: t` and `createdBefore: t` never both match a job). */
  createdBefore: instant.optional(),
  /** Finished (succeeded, dead or cancelled) at or after this instant. */
  finishedAfter: instant.optional(),
  /** Finished before this instant. */
  finishedBefore: instant.optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
  /** The lowest id, inclusive. */
  idFrom: jobIdSchema.optional(),
  /** The highest id, inclusive. */
  idTo: jobIdSchema.optional(),
};

/** An id range runs upwards. */
export const idOrder = (f: { idFrom?: string | undefined; idTo?: string | undefined }) =>
  f.idFrom === undefined || f.idTo === undefined || BigInt(f.idFrom) <= BigInt(f.idTo);
export const idOrderError = { message: 'idFrom must be <= idTo', path: ['idTo'] };

/** The filter of a listing or a count: every field optional; no field means every job. */
export const jobFilterSchema = z.object(jobFilterFields).strict().refine(idOrder, idOrderError);
export type JobFilter = z.input<typeof jobFilterSchema>;
export type ParsedJobFilter = z.output<typeof jobFilterSchema>;

/** The fields a bulk action's filter names, besides `all`. */
const named = (f: Record<string, unknown>) => Object.entries(f).some(([k, v]) => k !== 'all' && v !== undefined);
const bulkFields = { ...jobFilterFields, all: z.literal(true).optional() };
const refuseNothing = { message: 'name which jobs (ids, state, queue, type, a time or id range, a key), or give all: true for every one' };

/**
 * The filter of a bulk action: as a listing's, but a filter that names nothing is refused unless it says
 * `all: true`, so that a slip (an empty form, a missing flag) never acts on everything.
 */
export const bulkFilterSchema = z
  .object(bulkFields)
  .strict()
  .refine(idOrder, idOrderError)
  .refine((f) => f.all === true || named(f), refuseNothing);
export type BulkFilter = z.input<typeof bulkFilterSchema>;

/** A bulk action on dead letters (redrive, purge): the state is theirs, so the filter names none. */
export const deadLetterFilterSchema = z
  .object({ ...bulkFields, state: z.never({ error: 'a dead-letter filter names no state: its jobs are dead' }).optional() })
  .strict()
  .refine(idOrder, idOrderError)
  .refine((f) => f.all === true || named(f), refuseNothing);
export type DeadLetterFilter = Omit<BulkFilter, 'state'>;

/** Numbered parameters, in the order a statement binds them. */
export class SqlParams {
  readonly values: unknown[] = [];
  /** The placeholder of `value`, cast to `type` (a constant type name): `$n::type`. */
  add(value: unknown, type: 'bigint' | 'bigint[]' | 'text' | 'text[]' | 'timestamptz' | 'int'): SqlFragment {
    this.values.push(value);
    return `$${this.values.length}::${type}` as SqlFragment;
  }
}

export interface FilterSql {
  /** The FROM clause: `jobs j`, or `active_jobs a JOIN jobs j` when only live states are asked for. */
  from: SqlFragment;
  /** The WHERE predicate (`true` when the filter names nothing). */
  where: SqlFragment;
  /** The id column to order and page by (`a.id` or `j.id`): the driving table's primary key. */
  key: SqlFragment;
}

/** A live row's state, as `jobSelect` reads it (a lapsed lease reads as available). */
function liveSql(s: SchemaName) {
  return {
    running: sql`a.lease_expires_at > now()`,
    scheduled: sql`(a.lease_expires_at IS NULL OR a.lease_expires_at <= now()) AND ${liveDueAt(s)} > now()`,
    available: sql`(a.lease_expires_at IS NULL OR a.lease_expires_at <= now()) AND ${liveDueAt(s)} <= now()`,
  };
}
type LiveState = keyof ReturnType<typeof liveSql>;

/** Constant text, so the planner matches the partial indexes (`WHERE state = 'dead'`). */
const TERMINAL_SQL = { dead: sql`j.state = 'dead'`, cancelled: sql`j.state = 'cancelled'` };

/**
 * Finished in [after, before): its record's finish time when the record was rewritten (dead, cancelled, a
 * success after a failure); else, for a first-try success, its `succeeded` event on the timeline (found by
 * the events' BRIN index on `at`). This is the one place.
 */
function finishedSql(s: SchemaName, f: ParsedJobFilter, p: SqlParams): SqlFragment {
  const after = f.finishedAfter ? p.add(f.finishedAfter, 'timestamptz') : undefined;
  const before = f.finishedBefore ? p.add(f.finishedBefore, 'timestamptz') : undefined;
  const range = (col: SqlFragment) =>
    joinSql([...(after ? [sql`${col} >= ${after}`] : []), ...(before ? [sql`${col} < ${before}`] : [])], ' AND ');
  return sql`((${range(sql`j.finished_at`)}) OR (j.finished_at IS NULL AND j.id IN (
    SELECT e.job_id FROM ${s}.job_events e WHERE e.kind = 'succeeded' AND ${range(sql`e.at`)})))`;
}

const or = (parts: readonly SqlFragment[]): SqlFragment =>
  parts.length === 1
    ? (parts[0] as SqlFragment)
    : sql`(${joinSql(
        parts.map((x) => sql`(${x})`),
        ' OR ',
      )})`;

/** The states asked for, each once, in a stable order; undefined when any state will do. */
export function statesOf(f: { state?: JobState | readonly JobState[] | undefined }): JobState[] | undefined {
  if (f.state === undefined) return undefined;
  const asked = new Set<JobState>(typeof f.state === 'string' ? [f.state] : f.state);
  return JOB_STATES.filter((s) => asked.has(s));
}

/** The FROM, WHERE and key of the jobs `f` names; its values are added to `p`. */
export function filterSql(s: SchemaName, f: ParsedJobFilter, p: SqlParams): FilterSql {
  const states = statesOf(f);
  const LIVE_SQL = liveSql(s);
  const live = (states ?? []).filter((x): x is LiveState => x in LIVE_SQL);
  const conds: SqlFragment[] = [];
  let from: SqlFragment;
  let key: SqlFragment;
  if (states && live.length === states.length) {
    // Live only: every live job has a row in active_jobs, which holds nothing else.
    from = sql`${s}.active_jobs a JOIN ${s}.jobs j ON j.id = a.id`;
    key = sql`a.id`;
    if (live.length < LIVE_STATES.length) conds.push(or(live.map((x) => LIVE_SQL[x])));
  } else {
    from = sql`${s}.jobs j`;
    key = sql`j.id`;
    if (states) {
      const parts: SqlFragment[] = [];
      for (const x of states) if (x === 'dead' || x === 'cancelled') parts.push(TERMINAL_SQL[x]);
      if (states.includes('succeeded'))
        parts.push(sql`j.state IS NULL AND NOT EXISTS (SELECT 1 FROM ${s}.active_jobs a WHERE a.id = j.id)`);
      if (live.length > 0) {
        const which = live.length < LIVE_STATES.length ? sql` AND ${or(live.map((x) => LIVE_SQL[x]))}` : sql``;
        parts.push(sql`j.state IS NULL AND EXISTS (SELECT 1 FROM ${s}.active_jobs a WHERE a.id = j.id${which})`);
      }
      conds.push(or(parts));
    }
  }
  if (f.ids) conds.push(sql`j.id = ANY(${p.add(f.ids, 'bigint[]')})`);
  if (f.queue !== undefined) conds.push(sql`j.queue = ${p.add(f.queue, 'text')}`);
  if (f.type !== undefined) conds.push(sql`j.type = ${p.add(f.type, 'text')}`);
  if (f.idempotencyKey !== undefined) conds.push(sql`j.idempotency_key = ${p.add(f.idempotencyKey, 'text')}`);
  if (f.createdAfter) conds.push(sql`j.created_at >= ${p.add(f.createdAfter, 'timestamptz')}`);
  if (f.createdBefore) conds.push(sql`j.created_at < ${p.add(f.createdBefore, 'timestamptz')}`);
  if (f.finishedAfter || f.finishedBefore) conds.push(finishedSql(s, f, p));
  // On the driving table's key, so that an id range is a range of its primary key.
  if (f.idFrom !== undefined) conds.push(sql`${key} >= ${p.add(f.idFrom, 'bigint')}`);
  if (f.idTo !== undefined) conds.push(sql`${key} <= ${p.add(f.idTo, 'bigint')}`);
  return { from, where: conds.length > 0 ? joinSql(conds, ' AND ') : sql`true`, key };
}

/**
 * A filter in one canonical form (states in a fixed order, ids sorted, instants as ISO text, absent
 * fields left out, keys in a fixed order): what a bulk request's idempotency hash is taken over.
 */
export function canonicalFilter(f: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(f).sort()) {
    const v = f[k];
    if (v === undefined) continue;
    if (k === 'state') out[k] = statesOf(f as { state: JobState | JobState[] });
    else if (k === 'ids') out[k] = [...new Set(v as string[])].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    else out[k] = v instanceof Date ? v.toISOString() : v;
  }
  return out;
}
