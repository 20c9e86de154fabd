import { z } from 'zod';
import type { SluiceSettings } from './config.js';
import type { Queryable, SchemaName } from './db.js';
import { isLimitedQueue, type JobDefinition, type PayloadInput, PRIORITY, QUEUE_NAME } from './define.js';
import { BatchTooLargeError, PayloadTooLargeError, SluiceError, ValidationError } from './errors.js';
import type { JobView } from './job.js';
import { type EnqueueRow, type InsertedRow, insertJobs, releaseExpiredKeys } from './sql/enqueue.js';
import { getJobsByKey } from './sql/getJobs.js';
import { insertOrReplace } from './sql/replace.js';
import { describeIssues, hasLoneSurrogate, hasNul, unstorableText } from './text.js';
import { formatTraceparent, MAX_TRACE_HEADER, parseTraceContext } from './trace.js';

const DAY = 86_400_000;

/** An idempotency, replace or flow key: 1 to 255 characters that Postgres text can store. */
const jobKey = z
  .string()
  .min(1)
  .max(255)
  .refine((k) => !unstorableText(k), 'the key may not contain NUL or lone UTF-16 surrogates');

/** Per-job enqueue options; each overrides the job type's default. */
export const enqueueOptionsSchema = z
  .object({
    /** When the job becomes due (absolute). Mutually exclusive with `delayMs`. */
    runAt: z.date().optional(),
    /** Delay from now, measured on the database clock. */
    delayMs: z
      .number()
      .int()
      .min(0)
      .max(365 * DAY)
      .optional(),
    priority: z.number().int().min(PRIORITY.min).max(PRIORITY.max).optional(),
    queue: z.string().regex(QUEUE_NAME).optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    /** Enqueuing the same key again within the idempotency window returns the first job. */
    idempotencyKey: jobKey.optional(),
    /**
     * Replace instead of add: if a job of this type and queue holding this key has not started yet, its
     * payload, due time, priority and attempts become this enqueue's, and no job is added (`replaced`).
     * With `delayMs`, each enqueue pushes the job's start out again: a debounce. Once the job has started,
     * the key is free and the next enqueue adds a new job. One job at a time (`enqueue`, not in a batch).
     */
    replaceKey: jobKey.optional(),
    /**
     * The caller's trace context, which every attempt of the job continues: a W3C `traceparent` or an
     * X-Ray trace header (inside a Lambda with tracing on, `process.env._X_AMZN_TRACE_ID`). Stored as a
     * traceparent; never read from the payload. Inside `ctx.transaction`, `tx.enqueue` passes the
     * attempt's own by default.
     */
    trace: z
      .string()
      .max(MAX_TRACE_HEADER)
      .refine((t) => parseTraceContext(t) !== undefined, {
        message:
          'trace is a W3C traceparent (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>) or an X-Ray header (Root=1-…;Parent=…;Sampled=…)',
      })
      .optional(),
  })
  .strict()
  .refine((o) => !(o.runAt && o.delayMs !== undefined), { message: 'give runAt or delayMs, not both', path: ['runAt'] })
  .refine((o) => !(o.idempotencyKey !== undefined && o.replaceKey !== undefined), {
    message: 'give idempotencyKey or replaceKey, not both: one keeps the first job, the other replaces it',
    path: ['replaceKey'],
  });

export type EnqueueOptions = z.input<typeof enqueueOptionsSchema>;

/** One job to enqueue: build it with `enqueueItem` so the payload is type-checked against the definition. */
export interface EnqueueItem<D extends JobDefinition = JobDefinition> {
  job: D;
  payload: PayloadInput<D>;
  options?: EnqueueOptions | undefined;
}

/**
 * A typed item for `enqueueMany`: a payload of the wrong shape fails to compile.
 *
 * @example
 * await sluice.enqueueMany([enqueueItem(sendEmail, { userId: 'u1', template: 'welcome' }), enqueueItem(audit, { orderId })]);
 */
export function enqueueItem<D extends JobDefinition>(job: D, payload: PayloadInput<D>, options?: EnqueueOptions): EnqueueItem<D> {
  return { job, payload, options };
}

/**
 * What enqueue returns: the job as stored. `replayed` is true when an idempotency key matched an earlier
 * job; `replaced` when a replace key matched a queued one, whose payload and due time this enqueue replaced.
 */
export interface EnqueuedJob
  extends Pick<
    JobView,
    'id' | 'type' | 'queue' | 'state' | 'priority' | 'attempt' | 'maxAttempts' | 'runAt' | 'createdAt' | 'idempotencyKey'
  > {
  replayed: boolean;
  replaced: boolean;
}

type Issue = { path: PropertyKey[]; message: string; code?: string };

/** Validate every item, naming each bad index; nothing is written if any item is bad. */
function prepare(items: readonly EnqueueItem[], settings: SluiceSettings): EnqueueRow[] {
  if (items.length > settings.maxBatchSize) {
    throw new BatchTooLargeError(`at most ${settings.maxBatchSize} jobs per batch, got ${items.length}`, [
      { path: [], message: `batch of ${items.length} exceeds ${settings.maxBatchSize}`, code: 'too_big' },
    ]);
  }
  const issues: Issue[] = [];
  const tooLarge: Issue[] = [];
  const rows: EnqueueRow[] = [];
  items.forEach((item, i) => {
    const opts = enqueueOptionsSchema.safeParse(item.options ?? {});
    if (!opts.success)
      for (const is of opts.error.issues) issues.push({ path: [i, 'options', ...is.path], message: is.message, code: is.code });
    const parsed = item.job.schema.safeParse(item.payload);
    if (!parsed.success)
      for (const is of parsed.error.issues) issues.push({ path: [i, 'payload', ...is.path], message: is.message, code: is.code });
    if (!opts.success || !parsed.success) return;
    let json: string | undefined;
    try {
      json = JSON.stringify(parsed.data);
    } catch (err) {
      issues.push({ path: [i, 'payload'], message: `payload is not JSON-serialisable: ${(err as Error).message}`, code: 'custom' });
      return;
    }
    if (json === undefined) {
      issues.push({ path: [i, 'payload'], message: 'payload is not JSON-serialisable', code: 'custom' });
      return;
    }
    // In the strings themselves: the JSON text of a literal backslash followed by "u0000" is not a NUL.
    if (hasNul(parsed.data)) {
      issues.push({ path: [i, 'payload'], message: 'payload strings may not contain NUL (\\u0000)', code: 'custom' });
      return;
    }
    if (hasLoneSurrogate(parsed.data)) {
      issues.push({ path: [i, 'payload'], message: 'payload strings may not contain lone UTF-16 surrogates', code: 'custom' });
      return;
    }
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > settings.maxPayloadBytes) {
      tooLarge.push({
        path: [i, 'payload'],
        message: `payload is ${bytes} bytes; the limit is ${settings.maxPayloadBytes}`,
        code: 'too_big',
      });
      return;
    }
    const o = opts.data;
    const queue = o.queue ?? item.job.queue;
    // A job sent into a queue with limits of its own counts against them, whatever its type names.
    const flowKey = flowKeyOf(item.job, parsed.data, isLimitedQueue(queue));
    if (flowKey !== null && typeof flowKey === 'object') {
      issues.push({ path: [i, 'payload'], message: flowKey.error, code: 'custom' });
      return;
    }
    if (flowKey !== null && o.replaceKey !== undefined) {
      const message = `replaceKey does not work with a job type that has limits (${item.job.type}${item.job.limits ? '' : `: its queue ${queue} has`})`;
      issues.push({ path: [i, 'options', 'replaceKey'], message, code: 'custom' });
      return;
    }
    if (item.job.queueLimits && o.queue !== undefined && o.queue !== item.job.queue) {
      const message = `job type ${item.job.type} is on queue ${item.job.queue}, which has limits: its jobs cannot be sent to another queue`;
      issues.push({ path: [i, 'options', 'queue'], message, code: 'custom' });
      return;
    }
    if (settings.queues && !settings.queues.includes(queue)) {
      const path = o.queue === undefined ? [i, 'queue'] : [i, 'options', 'queue'];
      issues.push({ path, message: unknownQueueMessage(queue, settings.queues), code: 'custom' });
      return;
    }
    rows.push({
      type: item.job.type,
      queue,
      priority: o.priority ?? item.job.priority,
      maxAttempts: o.maxAttempts ?? item.job.maxAttempts,
      runAt: o.runAt ?? null,
      delaySeconds: (o.delayMs ?? 0) / 1000,
      idempotencyKey: o.idempotencyKey ?? null,
      replaceKey: o.replaceKey ?? null,
      flowKey,
      trace:
        o.trace === undefined ? null : formatTraceparent(parseTraceContext(o.trace) as NonNullable<ReturnType<typeof parseTraceContext>>),
      payloadJson: json,
    });
  });
  if (issues.length > 0 || tooLarge.length > 0) {
    const all = [...issues, ...tooLarge];
    const bad = [...new Set(all.map((is) => is.path[0]))].join(', ');
    const message = `invalid job${all.length > 1 ? 's' : ''} at index ${bad}: ${describeIssues(all)}`;
    throw issues.length === 0 ? new PayloadTooLargeError(message, all) : new ValidationError(message, all);
  }
  return rows;
}

/**
 * The flow key of a job of a limited type: its `limits.key` of the parsed payload, or '' when the type is
 * limited only in total (or only by its queue's limits, the queue it is sent to included); null for a type
 * without limits on a queue without. A key function that throws or returns anything
 * but a non-empty string (at most 255 characters) or a finite number is refused, naming the type.
 */
function flowKeyOf(def: JobDefinition, payload: unknown, intoLimitedQueue: boolean): string | null | { error: string } {
  const limits = def.limits;
  if (!limits) return def.queueLimits || intoLimitedQueue ? '' : null;
  if (!limits.key) return '';
  let key: unknown;
  try {
    key = limits.key(payload);
  } catch (err) {
    return { error: `limits.key of job type ${def.type} threw: ${(err as Error)?.message ?? String(err)}` };
  }
  const text = typeof key === 'number' && Number.isFinite(key) ? String(key) : key;
  // A key is held to the rules of idempotency and replace keys (`jobKey`).
  if (typeof text !== 'string' || !jobKey.safeParse(text).success) {
    return {
      error: `limits.key of job type ${def.type} returned ${describeKey(key)}: a key is a non-empty string of at most 255 characters (no NUL, no lone surrogate) or a finite number`,
    };
  }
  return text;
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return key.length === 0 ? 'an empty string' : `a string of ${key.length} characters`;
  if (typeof key === 'number') return String(key);
  return key === null ? 'null' : typeof key;
}

/** Why a queue is refused when `queues` lists the ones with a worker. */
export function unknownQueueMessage(queue: string, queues: readonly string[]): string {
  return `queue ${JSON.stringify(queue)} has no worker, so its jobs would never run; the queues are ${queues.join(', ')}`;
}

/** Refuse `queue` (a ValidationError naming `what`) when `queues` lists the ones with a worker and it is not one. */
export function refuseUnknownQueue(queue: string | undefined, queues: readonly string[] | undefined, what: string): void {
  if (queue === undefined || !queues || queues.includes(queue)) return;
  const message = unknownQueueMessage(queue, queues);
  throw new ValidationError(`invalid ${what}: ${message}`, [{ path: ['toQueue'], message, code: 'custom' }]);
}

const MAX_ROUNDS = 5;

/** One job under a replace key (src/sql/replace.ts); a key held by a queued job of another type is refused. */
async function enqueueReplacing(db: Queryable, s: SchemaName, row: EnqueueRow & { replaceKey: string }): Promise<EnqueuedJob> {
  const r = await insertOrReplace(db, s, row);
  if (r.held_elsewhere) {
    const message = `replaceKey ${JSON.stringify(row.replaceKey)} is held by a queued job of another type or queue (job ${r.id})`;
    throw new ValidationError(`invalid job at index 0: ${message}`, [{ path: [0, 'options', 'replaceKey'], message, code: 'custom' }]);
  }
  return stored(row, r, { idempotencyKey: null, replayed: false, replaced: r.replaced });
}

/** The job a statement just wrote: its fields as given, its id and times as the database set them. */
function stored(
  row: EnqueueRow,
  written: { id: string; run_at: Date; created_at: Date; scheduled: boolean },
  how: Pick<EnqueuedJob, 'idempotencyKey' | 'replayed' | 'replaced'>,
): EnqueuedJob {
  return {
    id: written.id,
    type: row.type,
    queue: row.queue,
    state: written.scheduled ? 'scheduled' : 'available',
    priority: row.priority,
    attempt: 0,
    maxAttempts: row.maxAttempts,
    runAt: written.run_at,
    createdAt: written.created_at,
    ...how,
  };
}

/**
 * Validate and insert a batch; for keys already held, return the earlier job (releasing keys whose window
 * has passed and inserting anew for those). One round trip when no key collides.
 */
export async function enqueueBatch(
  db: Queryable,
  s: SchemaName,
  settings: SluiceSettings,
  items: readonly EnqueueItem[],
): Promise<EnqueuedJob[]> {
  const rows = prepare(items, settings);
  const keyed = rows.findIndex((r) => r.replaceKey !== null);
  if (keyed >= 0) {
    const row = rows[keyed] as EnqueueRow & { replaceKey: string };
    if (rows.length > 1) {
      const message = 'replaceKey works with enqueue(), one job at a time, not in a batch';
      throw new ValidationError(`invalid job at index ${keyed}: ${message}`, [
        { path: [keyed, 'options', 'replaceKey'], message, code: 'custom' },
      ]);
    }
    return [await enqueueReplacing(db, s, row)];
  }
  const results: Array<EnqueuedJob | undefined> = new Array(rows.length);
  let pending = rows.map((_, i) => i);
  for (let round = 0; pending.length > 0; round++) {
    if (round === MAX_ROUNDS) throw new SluiceError(`enqueue did not settle after ${MAX_ROUNDS} rounds of idempotency-key conflicts`);
    const batch = pending.map((i) => rows[i] as EnqueueRow);
    const inserted = await insertJobs(db, s, batch);
    const byKey = new Map<string, InsertedRow>();
    const unkeyed: InsertedRow[] = [];
    for (const r of inserted) {
      if (r.idempotency_key === null) unkeyed.push(r);
      else byKey.set(r.idempotency_key, r);
    }
    const conflicted: number[] = [];
    const firstUse = new Set<string>();
    let u = 0;
    for (const i of pending) {
      const row = rows[i] as EnqueueRow;
      const key = row.idempotencyKey;
      const hit = key === null ? unkeyed[u++] : byKey.get(key);
      if (!hit) {
        conflicted.push(i);
        continue;
      }
      const replayed = key !== null && firstUse.has(key);
      if (key !== null) firstUse.add(key);
      results[i] = stored(row, hit, { idempotencyKey: key, replayed, replaced: false });
    }
    if (conflicted.length === 0) break;
    const keys = [...new Set(conflicted.map((i) => (rows[i] as EnqueueRow).idempotencyKey as string))];
    const released = new Set(await releaseExpiredKeys(db, s, keys, settings.idempotencyWindowMs / 1000));
    const existing = new Map(
      (
        await getJobsByKey(
          db,
          s,
          keys.filter((k) => !released.has(k)),
        )
      ).map((r) => [r.idempotency_key as string, r]),
    );
    pending = [];
    for (const i of conflicted) {
      const found = existing.get((rows[i] as EnqueueRow).idempotencyKey as string);
      if (!found) {
        pending.push(i);
        continue;
      }
      results[i] = {
        id: found.id,
        type: found.type,
        queue: found.queue,
        state: found.state,
        priority: found.priority,
        attempt: found.attempt,
        maxAttempts: found.max_attempts,
        runAt: found.run_at,
        createdAt: found.created_at,
        idempotencyKey: found.idempotency_key,
        replayed: true,
        replaced: false,
      };
    }
  }
  return results as EnqueuedJob[];
}
