/**
 * Request and response schemas of the enqueue HTTP API (`/v1`). Each carries zod metadata (`id`,
 * `description`) so an OpenAPI document can be generated from them (`z.toJSONSchema`). Payloads are not
 * described here: each job type's own schema (its `defineJob`) validates them, in the library.
 */
import { z } from 'zod';
import { PRIORITY, QUEUE_NAME } from '../../src/define.js';
import { jobIdSchema, unstorableText } from '../../src/text.js';

/** The most jobs one `POST /v1/jobs/batch` may carry. */
export const MAX_BATCH = 500;
/** The largest request body accepted, in bytes (after base64 decoding). */
export const MAX_BODY_BYTES = 1024 * 1024;
const YEAR_SECONDS = 365 * 86_400;

/** A job or dead-letter id: a positive integer (a Postgres bigint), as a string. */
export const JobId = jobIdSchema.meta({
  id: 'JobId',
  description: 'A job id: a positive 64-bit integer, as a decimal string.',
  example: '42',
});

export const QueueName = z
  .string()
  .regex(QUEUE_NAME, 'queue: lower-case letters, digits, _ and - only, starting with a letter, at most 63')
  .meta({ id: 'QueueName', description: 'A queue name; each queue gets its own worker.', example: 'emails' });

/** The latest instant an ISO 8601 date-time with a four-digit year can name, in UTC. */
const LATEST_RUN_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const IdempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .refine((k) => !unstorableText(k), 'the key may not contain NUL or lone UTF-16 surrogates')
  .meta({
    id: 'IdempotencyKey',
    description: 'Enqueuing the same key again within the idempotency window (24 h) returns the first job instead of a new one.',
  });

/** Fields of one job to enqueue, shared by `POST /v1/jobs` and each item of a batch. */
const enqueueFields = {
  type: z.string().min(1).max(128).meta({ description: 'The job type, as registered (e.g. `send_email`).' }),
  payload: z.unknown().meta({ description: "The job's payload, validated against its type's schema." }),
  queue: QueueName.optional().meta({ description: "Overrides the job type's queue." }),
  runAt: z.iso
    .datetime({ offset: true, message: 'runAt must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z' })
    // A later offset can push 9999-12-31 into year 10000, which an ISO 8601 answer cannot show.
    .refine((v) => Date.parse(v) <= LATEST_RUN_AT, 'runAt must be no later than 9999-12-31T23:59:59.999Z')
    .optional()
    .meta({ description: 'When the job becomes due (absolute). Not with `delaySeconds`.' }),
  delaySeconds: z
    .number()
    .int()
    .min(0)
    .max(YEAR_SECONDS)
    .optional()
    .meta({ description: 'Delay from now, in whole seconds, on the database clock. Not with `runAt`.' }),
  priority: z.number().int().min(PRIORITY.min).max(PRIORITY.max).optional().meta({ description: 'Lower runs first; default 0.' }),
  maxAttempts: z.number().int().min(1).max(1000).optional().meta({ description: 'Attempts in all, the first included.' }),
};

const notBoth = (o: { runAt?: string | undefined; delaySeconds?: number | undefined }) =>
  !(o.runAt !== undefined && o.delaySeconds !== undefined);
const notBothError = { message: 'give runAt or delaySeconds, not both', path: ['delaySeconds'] };

export const EnqueueRequest = z
  .strictObject({
    ...enqueueFields,
    replaceKey: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .meta({
        description:
          'Replace instead of add: if a job of this type and queue holding this key has not started, its payload, due time, ' +
          'priority and attempts become these, and no job is added (answered 200 with `replaced: true`). With `delaySeconds`, ' +
          'each request pushes the start out again (a debounce). Not with an `Idempotency-Key` header.',
      }),
  })
  .refine(notBoth, notBothError)
  .meta({
    id: 'EnqueueRequest',
    description: 'One job to enqueue. Send an `Idempotency-Key` header to make retries safe. Unknown keys are rejected.',
  });
export type EnqueueRequest = z.output<typeof EnqueueRequest>;

export const BatchEnqueueItem = z
  .strictObject({ ...enqueueFields, idempotencyKey: IdempotencyKey.optional() })
  .refine(notBoth, notBothError)
  .meta({ id: 'BatchEnqueueItem', description: 'One job of a batch, with its own optional idempotency key.' });
export type BatchEnqueueItem = z.output<typeof BatchEnqueueItem>;

export const BatchEnqueueRequest = z
  .strictObject({
    jobs: z
      .array(z.unknown())
      .min(1, 'a batch holds at least one job')
      .max(MAX_BATCH, `a batch holds at most ${MAX_BATCH} jobs`)
      .meta({ description: `1 to ${MAX_BATCH} jobs (each a BatchEnqueueItem). Atomic: if any is invalid, none is enqueued.` }),
  })
  .meta({ id: 'BatchEnqueueRequest', description: 'Jobs to enqueue in one atomic request.' });

/** The envelope of a batch with typed items: what a client sends (for the OpenAPI document). */
export const BatchEnqueueRequestDoc = z
  .strictObject({ jobs: z.array(BatchEnqueueItem).min(1).max(MAX_BATCH) })
  .meta({ id: 'BatchEnqueueRequestDoc', description: 'Jobs to enqueue in one atomic request.' });

const JobState = z
  .enum(['available', 'scheduled', 'running', 'succeeded', 'dead', 'cancelled'])
  .meta({ id: 'JobState', description: 'Where a job is in its life (see docs/queue.md).' });

const IsoDate = z.iso.datetime({ offset: true });

export const EnqueuedJob = z
  .object({
    id: JobId,
    type: z.string(),
    queue: z.string(),
    state: JobState,
    priority: z.number().int(),
    attempt: z.number().int(),
    maxAttempts: z.number().int(),
    runAt: IsoDate,
    createdAt: IsoDate,
    idempotencyKey: z.string().nullable(),
    replaced: z
      .literal(true)
      .optional()
      .meta({ description: 'Present when a `replaceKey` matched a queued job: that job, its payload and due time replaced.' }),
  })
  .meta({
    id: 'EnqueuedJob',
    description: 'A job as enqueued. On an idempotent replay, the first job with its current state.',
  });
export type EnqueuedJob = z.output<typeof EnqueuedJob>;

export const BatchEnqueuedJob = EnqueuedJob.extend({
  replayed: z.boolean().meta({ description: 'True when the idempotency key matched an earlier job (nothing was inserted).' }),
}).meta({ id: 'BatchEnqueuedJob', description: 'One job of a batch response.' });
export type BatchEnqueuedJob = z.output<typeof BatchEnqueuedJob>;

export const BatchEnqueueResponse = z
  .object({ jobs: z.array(BatchEnqueuedJob) })
  .meta({ id: 'BatchEnqueueResponse', description: 'The jobs in input order.' });

export const JobAttemptError = z
  .object({ attempt: z.number().int(), at: z.string(), name: z.string(), code: z.string().optional(), message: z.string() })
  .meta({ id: 'JobAttemptError', description: 'One failed attempt from the job history (the latest 20 are kept).' });

export const JobDetail = EnqueuedJob.extend({
  finishedAt: IsoDate.nullable(),
  payload: z.unknown(),
  errors: z.array(JobAttemptError),
  traceId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .nullable()
    .meta({
      description:
        'The trace the job continues (32 hex digits; the X-Ray trace id without its dashes): the trace of the request that enqueued it. Null when it had none.',
    }),
  result: z.unknown().optional().meta({
    description: 'What the handler returned, when the job succeeded and its handler returned a value; absent otherwise.',
  }),
}).meta({ id: 'JobDetail', description: 'A job as stored, with its current state, payload, error history and result.' });
export type JobDetail = z.output<typeof JobDetail>;

const Attempt = z.number().int();
export const TimelineEntry = z
  .union([
    z.object({
      kind: z.literal('attempt'),
      attempt: Attempt,
      outcome: z.enum(['succeeded', 'failed', 'dead', 'cancelled', 'snoozed', 'lost', 'running']),
      startedAt: IsoDate.nullable(),
      finishedAt: IsoDate.nullable(),
      durationMs: z.number().int().nullable(),
      error: JobAttemptError.nullable(),
    }),
    z.object({ kind: z.literal('step'), name: z.string(), at: IsoDate }),
    z.object({
      kind: z.literal('compensation'),
      step: z.string(),
      result: z.enum(['compensated', 'failed', 'not_reached']),
      at: IsoDate,
      error: z.unknown().optional(),
    }),
    z.object({ kind: z.enum(['cancel_requested', 'cancelled']), attempt: Attempt, at: IsoDate }),
    z.object({ kind: z.literal('redriven'), attempt: Attempt, at: IsoDate, fromQueue: z.string(), toQueue: z.string() }),
  ])
  .meta({
    id: 'TimelineEntry',
    description:
      'One entry of a job history: an attempt (start, end, duration, outcome, error), a completed step, a compensation after the job died, or an operator marker (cancel_requested, cancelled, redriven).',
  });
export type TimelineEntry = z.output<typeof TimelineEntry>;

export const JobWithTimeline = JobDetail.extend({ timeline: z.array(TimelineEntry) }).meta({
  id: 'JobWithTimeline',
  description: 'A job as stored, with its current state, payload, error history and timeline (oldest first).',
});
export type JobWithTimeline = z.output<typeof JobWithTimeline>;

export const CancelResponse = z.object({ id: JobId, result: z.enum(['cancelled', 'cancelling']) }).meta({
  id: 'CancelResponse',
  description:
    '`cancelled`: it was not running and is cancelled now. `cancelling`: it is running; its worker stops it at the next heartbeat.',
});

export const QueueStatsView = z
  .object({
    queue: z.string(),
    ready: z.number().int(),
    scheduled: z.number().int().meta({ description: 'Jobs due later, counted up to 10,000.' }),
    scheduledCapped: z
      .boolean()
      .meta({ description: 'True when counting the scheduled jobs stopped at 10,000: there are at least that many.' }),
    running: z.number().int(),
    dead: z.number().int(),
    oldestReadyAgeSeconds: z
      .number()
      .nullable()
      .meta({ description: 'How long the oldest ready job has waited; null when nothing is ready.' }),
    paused: z.boolean().meta({ description: 'Its workers claim nothing until it is resumed; enqueue still works.' }),
    costs: z
      .array(
        z.object({
          type: z.string(),
          attempts: z.number().int(),
          gbSeconds: z.number(),
          gbSecondsPer1000: z.number().meta({ description: 'GB-seconds per 1,000 attempts of the type.' }),
        }),
      )
      .optional()
      .meta({ description: "What each job type cost over the last hour, from the workers' billed duration; absent when none reported." }),
  })
  .meta({ id: 'QueueStats', description: 'Counts of one queue, and what its job types cost.' });

export const QueuePauseResponse = z
  .object({
    queue: z.string(),
    paused: z.boolean(),
    changed: z.boolean().meta({ description: 'false: the queue was in that state already.' }),
  })
  .meta({ id: 'QueuePauseResponse', description: 'The queue after a pause or a resume.' });

export const QueuesResponse = z
  .object({ queues: z.array(QueueStatsView) })
  .meta({ id: 'QueuesResponse', description: 'Per-queue counts.' });

export const DeadLetterListQuery = z
  .strictObject({
    queue: z.string().max(63).optional(),
    type: z.string().max(128).optional(),
    after: JobId.optional().meta({ description: 'The `next` of the previous page.' }),
    limit: z
      .string()
      .regex(/^[0-9]{1,3}$/, 'limit is a whole number from 1 to 100')
      .transform(Number)
      .pipe(z.number().int().min(1, 'limit is a whole number from 1 to 100').max(100, 'limit is a whole number from 1 to 100'))
      .default(50),
  })
  .meta({ id: 'DeadLetterListQuery', description: 'Filters and keyset pagination of the dead letters.' });

export const DeadLetterListResponse = z
  .object({
    deadLetters: z.array(JobDetail),
    next: JobId.nullable().meta({ description: 'Pass as `after` for the next page; null when this is the last page.' }),
  })
  .meta({ id: 'DeadLetterListResponse', description: 'A page of dead letters in id order.' });

const FILTER_LIMIT = 'limit is a whole number from 1 to 1000';
const filterDate = (what: string) =>
  z.iso.datetime({ offset: true, message: `${what} must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z` }).optional();

/** The fields of a job filter, shared by the listing's query and the bulk actions' bodies. */
const filterFields = {
  queue: z.string().min(1).max(63).optional(),
  type: z.string().min(1).max(128).optional(),
  createdAfter: filterDate('createdAfter').meta({ description: 'Created at or after this instant.' }),
  createdBefore: filterDate('createdBefore').meta({ description: 'Created before this instant.' }),
  finishedAfter: filterDate('finishedAfter').meta({ description: 'Finished (succeeded, dead or cancelled) at or after this instant.' }),
  finishedBefore: filterDate('finishedBefore').meta({ description: 'Finished before this instant.' }),
  idempotencyKey: z.string().min(1).max(255).optional().meta({ description: "The job's own idempotency key." }),
  idFrom: JobId.optional().meta({ description: 'The lowest id, inclusive.' }),
  idTo: JobId.optional().meta({ description: 'The highest id, inclusive.' }),
};
const idOrder = (f: { idFrom?: string | undefined; idTo?: string | undefined }) =>
  f.idFrom === undefined || f.idTo === undefined || BigInt(f.idFrom) <= BigInt(f.idTo);
const idOrderError = { message: 'idFrom must be <= idTo', path: ['idTo'] };

/** `state=dead&state=cancelled` or `state=dead,cancelled` (the query reader joins repeats with commas). */
const stateList = z
  .string()
  .transform((v) => v.split(',').filter((s) => s !== ''))
  .pipe(z.array(JobState).min(1, 'name at least one state'));

export const JobCountQuery = z
  .strictObject({ ...filterFields, state: stateList.optional() })
  .refine(idOrder, idOrderError)
  .meta({ id: 'JobCountQuery', description: 'A job filter; no field means every job.' });

export const JobListQuery = z
  .strictObject({
    ...filterFields,
    state: stateList.optional(),
    before: JobId.optional().meta({ description: 'The `next` of the previous page.' }),
    limit: z
      .string()
      .regex(/^[0-9]{1,4}$/, FILTER_LIMIT)
      .transform(Number)
      .pipe(z.number().int().min(1, FILTER_LIMIT).max(1000, FILTER_LIMIT))
      .default(50),
  })
  .refine(idOrder, idOrderError)
  .meta({ id: 'JobListQuery', description: 'A job filter and keyset pagination, newest first.' });

export const JobListResponse = z
  .object({
    jobs: z.array(JobDetail),
    next: JobId.nullable().meta({ description: 'Pass as `before` for the next page; null when this is the last page.' }),
  })
  .meta({ id: 'JobListResponse', description: 'A page of jobs, newest first (id descending).' });

export const JobCountResponse = z
  .object({ count: z.number().int() })
  .meta({ id: 'JobCountResponse', description: 'How many jobs the filter matches.' });

/** A bulk action's filter must name something, or say `all: true`. */
const namesSomething = (r: Record<string, unknown>) =>
  Object.entries(r).some(([k, v]) => v !== undefined && k !== 'toQueue' && (k !== 'all' || v === true));
const namesSomethingError = {
  message: 'name which jobs (ids, queue, type, a time or id range, a key), or give all: true for every one',
  path: [],
};
const bulkFields = {
  ...filterFields,
  queue: QueueName.optional(),
  all: z
    .literal(true)
    .optional()
    .meta({ description: 'Every job (of the state the action applies to): required when nothing else is named.' }),
};

export const CancelMatchingRequest = z
  .strictObject({
    ...bulkFields,
    state: z
      .array(z.enum(['available', 'scheduled', 'running']))
      .min(1)
      .optional()
      .meta({ description: 'Which live states; default all three.' }),
  })
  .refine(idOrder, idOrderError)
  .refine(namesSomething, namesSomethingError)
  .meta({
    id: 'CancelMatchingRequest',
    description: 'Which live jobs to cancel. Send an `Idempotency-Key` header to make a retry answer the first answer.',
  });

export const CancelMatchingResponse = z
  .object({
    cancelled: z.array(JobId).meta({ description: 'Cancelled at once (they were not running).' }),
    cancelling: z.array(JobId).meta({ description: 'Running: each stops at its next heartbeat.' }),
  })
  .meta({ id: 'CancelMatchingResponse', description: 'The jobs cancelled, in id order.' });

const idsAlone = {
  message: 'give ids, or a filter, not both',
  path: ['ids'],
};
const alone = (r: Record<string, unknown>) =>
  r.ids === undefined || Object.entries(r).every(([k, v]) => v === undefined || k === 'ids' || k === 'toQueue');

export const RedriveRequest = z
  .strictObject({
    ids: z.array(JobId).min(1).max(1000).optional(),
    ...bulkFields,
    toQueue: QueueName.optional().meta({ description: 'Move the redriven jobs to this queue.' }),
  })
  .refine(idOrder, idOrderError)
  .refine(namesSomething, namesSomethingError)
  .refine(alone, idsAlone)
  .meta({
    id: 'RedriveRequest',
    description:
      'Which dead letters to put back in the queue (attempts reset): by ids, or all matching a filter. Send an `Idempotency-Key` header to make a retry answer the first answer.',
  });

export const PurgeRequest = z
  .strictObject({ ids: z.array(JobId).min(1).max(1000).optional(), ...bulkFields })
  .refine(idOrder, idOrderError)
  .refine(namesSomething, namesSomethingError)
  .refine(alone, idsAlone)
  .meta({
    id: 'PurgeRequest',
    description:
      'Which dead letters to delete for good: by ids, or all matching a filter. Send an `Idempotency-Key` header, as for a redrive.',
  });

export const PurgeMatchingResponse = z
  .object({ purged: z.array(JobId) })
  .meta({ id: 'PurgeMatchingResponse', description: 'The ids purged, in id order.' });

export const RedriveResponse = z.object({ redriven: z.array(JobId) }).meta({ id: 'RedriveResponse', description: 'The ids redriven.' });

export const PurgeResponse = z.object({ purged: JobId }).meta({ id: 'PurgeResponse', description: 'The dead letter deleted.' });

export const ApiIssue = z
  .object({
    path: z.array(z.union([z.string(), z.number()])),
    message: z.string(),
    code: z.string(),
  })
  .meta({ id: 'ApiIssue', description: 'One problem with the request; `path` points into the JSON body (or query).' });
export type ApiIssue = z.output<typeof ApiIssue>;

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().meta({
        description:
          'Stable: VALIDATION, UNKNOWN_TYPE, INVALID_JSON, FORBIDDEN_KEY, UNSUPPORTED_MEDIA_TYPE, REQUEST_TOO_LARGE, PAYLOAD_TOO_LARGE, BATCH_TOO_LARGE, NOT_FOUND, ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED, NOT_CANCELLABLE, IDEMPOTENCY_CONFLICT, UNAVAILABLE, INTERNAL.',
      }),
      message: z.string(),
      issues: z.array(ApiIssue).optional(),
    }),
  })
  .meta({ id: 'ErrorResponse', description: 'Every failure has this shape.' });
export type ErrorResponse = z.output<typeof ErrorResponse>;
