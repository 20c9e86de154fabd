/**
 * The CLI's job filter flags, shared by `sluice jobs list|count|cancel` and `sluice dead-letters
 * redrive|purge`, and the listing and the bulk cancel by filter (a count first, then a confirmation
 * unless `--yes`). The library parses and checks the filter; these only map flags to its fields.
 */
import { type BulkFilter, type JobFilter, type JobView, LIVE_STATES, type Sluice } from '../src/index.js';
import { alignColumns } from './table.js';

export class UsageError extends Error {}

/** The flags of a job filter, as parseArgs gives them. */
export interface FilterFlags {
  state?: string[] | undefined;
  queue?: string | undefined;
  type?: string | undefined;
  'created-after'?: string | undefined;
  'created-before'?: string | undefined;
  'finished-after'?: string | undefined;
  'finished-before'?: string | undefined;
  key?: string | undefined;
  'id-from'?: string | undefined;
  'id-to'?: string | undefined;
  id?: string[] | undefined;
  all?: boolean | undefined;
}

export const FILTER_OPTIONS = {
  state: { type: 'string', multiple: true },
  'created-after': { type: 'string' },
  'created-before': { type: 'string' },
  'finished-after': { type: 'string' },
  'finished-before': { type: 'string' },
  'id-from': { type: 'string' },
  'id-to': { type: 'string' },
  before: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'idempotency-key': { type: 'string' },
} as const;

export const FILTER_USAGE = `filters: [--state S]... (available|scheduled|running|succeeded|dead|cancelled, repeat or comma-separate)
         [--queue Q] [--type T] [--created-after ISO] [--created-before ISO] [--finished-after ISO]
         [--finished-before ISO] [--key K] (the job's idempotency key) [--id-from ID] [--id-to ID] [--id ID]...`;

export const JOBS_HELP = `usage: sluice jobs get <id> [--json]
       sluice jobs list [filters] [--before ID] [--limit N] [--json]
       sluice jobs count [filters] [--json]
       sluice jobs cancel <id> [--json]
       sluice jobs cancel (filters | --all) [--yes] [--idempotency-key K] [--json]

${FILTER_USAGE}

list: newest first, --limit at a time (default 50, at most 1000); the hint (and --json's next) gives
  the --before of the next page. after is inclusive, before exclusive.
cancel by filter: the live jobs that match (available, scheduled, running), counted first and cancelled
  after a confirmation (--yes to skip it; required when stdin is not a terminal), 1,000 per statement.
  --idempotency-key K: the same key again answers the first answer (or finishes an interrupted cancel).`;

/** The filter the flags name (`ids` and `all` included when given). */
export function filterFromFlags(o: FilterFlags): JobFilter & { all?: true } {
  const states = o.state?.flatMap((s) => s.split(',')).filter((s) => s !== '');
  const f: Record<string, unknown> = {
    ids: o.id,
    state: states,
    queue: o.queue,
    type: o.type,
    createdAfter: o['created-after'],
    createdBefore: o['created-before'],
    finishedAfter: o['finished-after'],
    finishedBefore: o['finished-before'],
    idempotencyKey: o.key,
    idFrom: o['id-from'],
    idTo: o['id-to'],
    all: o.all ? true : undefined,
  };
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as JobFilter & { all?: true };
}

/** One line per job: id, state, queue, type, attempt, created. */
export function jobLines(jobs: readonly JobView[]): string[] {
  return alignColumns([
    ['id', 'state', 'queue', 'type', 'attempt', 'created'],
    ...jobs.map((j) => [j.id, j.state, j.queue, j.type, `${j.attempt}/${j.maxAttempts}`, j.createdAt.toISOString()]),
  ]);
}

export type Confirm = (question: string) => Promise<boolean>;
type Result = { out: unknown; text: string; code?: number };

/** `sluice jobs list` and `sluice jobs count`. */
export async function listOrCount(
  sluice: Sluice,
  sub: 'list' | 'count',
  o: FilterFlags & { before?: string | undefined },
  limit: number | undefined,
): Promise<Result> {
  if (o.all) throw new UsageError(`--all is for a bulk action; sluice jobs ${sub} without a filter covers every job`);
  const filter = filterFromFlags(o);
  if (sub === 'count') {
    const count = await sluice.countJobs(filter);
    return { out: { count }, text: String(count) };
  }
  const { jobs, next } = await sluice.jobPage({
    ...filter,
    ...(o.before ? { before: o.before } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  const more = next ? `\nmore: --before ${next}` : '';
  return { out: { jobs, next }, text: jobs.length === 0 ? 'no jobs match' : `${jobLines(jobs).join('\n')}${more}` };
}

/** `sluice jobs cancel` by filter: count, confirm (unless --yes), cancel. */
export async function cancelByFilter(
  sluice: Sluice,
  o: FilterFlags & { yes?: boolean | undefined; 'idempotency-key'?: string | undefined },
  confirm: Confirm | undefined,
): Promise<Result> {
  const filter = filterFromFlags(o);
  if (Object.keys(filter).length === 0)
    throw new UsageError('name which jobs to cancel (see sluice jobs --help), or --all for every live job');
  const key = o['idempotency-key'];
  const { all: _all, ...named } = filter;
  const n = await sluice.countJobs({ ...named, state: named.state ?? [...LIVE_STATES] });
  const none = { out: { cancelled: [], cancelling: [], replayed: false }, code: 1 };
  // With a key and nothing left to cancel, this may be a retry: ask for the stored answer, without a question.
  if (n === 0 && key === undefined) return { ...none, text: 'no live jobs match' };
  if (n > 0 && !o.yes) {
    if (!confirm) throw new UsageError(`${n} live jobs match; add --yes to cancel them (stdin is not a terminal)`);
    if (!(await confirm(`Cancel ${n} jobs? [y/N] `))) return { ...none, text: 'nothing cancelled' };
  }
  const r = await sluice.cancelMatching(filter as BulkFilter, key === undefined ? {} : { idempotencyKey: key });
  const text = `cancelled: ${r.cancelled.length}; running, asked to stop: ${r.cancelling.length}${r.replayed ? ' (the answer of the earlier request with this key)' : ''}`;
  return { out: r, text, ...(r.cancelled.length + r.cancelling.length === 0 ? { code: 1 } : {}) };
}
