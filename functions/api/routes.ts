/**
 * The routes of the enqueue API (`/v1`): the route table and each route's handler (enqueue, batch enqueue,
 * list, count, get and cancel jobs, queues, dead letters list/redrive/purge), the checking of enqueue requests before
 * the library enqueues them, and the JSON views of jobs.
 */
import type { z } from 'zod';
import type { JobDefinition } from '../../src/define.js';
import { type EnqueueOptions, enqueueItem, type EnqueuedJob as LibEnqueuedJob } from '../../src/enqueue.js';
import { JobNotFoundError } from '../../src/errors.js';
import type { JobView } from '../../src/job.js';
import type { TimelineEntry as LibTimelineEntry } from '../../src/timeline.js';
import { formatTraceparent, parseTraceContext } from '../../src/trace.js';
import type { ApiOptions } from './app.js';
import {
  type ApiResult,
  fromLibraryValidation,
  HttpError,
  isRecord,
  json,
  parseQuery,
  pathId,
  type Request,
  readJson,
  requiredMessage,
  toIssues,
  validation,
} from './http.js';
import {
  type ApiIssue,
  type BatchEnqueuedJob,
  BatchEnqueueItem,
  CancelMatchingRequest,
  DeadLetterListQuery,
  type EnqueuedJob,
  EnqueueRequest,
  IdempotencyKey,
  JobCountQuery,
  type JobDetail,
  JobListQuery,
  type JobWithTimeline,
  MAX_BATCH,
  PurgeRequest,
  RedriveRequest,
  type TimelineEntry,
} from './schemas.js';
import { type OperationId, ROUTES } from './spec.js';

export type Route = (req: Request) => Promise<ApiResult>;

/**
 * The router's table, from the spec: per path pattern (`{id}` read as a parameter), its methods' handlers,
 * in the spec's order (static paths before those with parameters that could match them).
 */
export function routeTable(handlers: Record<OperationId, Route>): Array<{ pattern: string[]; methods: Record<string, Route> }> {
  const table: Array<{ pattern: string[]; methods: Record<string, Route> }> = [];
  // A route that declares a body gets it read and scanned (size, type, syntax, keys, depth, text) before it runs.
  const withBody =
    (route: Route): Route =>
    (req) =>
      route({ ...req, body: readJson(req) });
  for (const spec of ROUTES) {
    const pattern = spec.path
      .split('/')
      .slice(1)
      .map((seg) => (seg.startsWith('{') ? `:${seg.slice(1, -1)}` : seg));
    let entry = table.find((t) => t.pattern.join('/') === pattern.join('/'));
    if (!entry) {
      entry = { pattern, methods: {} };
      table.push(entry);
    }
    const handler = handlers[spec.operationId];
    entry.methods[spec.method] = 'requestBody' in spec ? withBody(handler) : handler;
  }
  return table;
}

/** The route table, its handlers bound to the API's sluice, job types and publisher. */
export function createRoutes(options: ApiOptions) {
  const { sluice, registry, publisher } = options;

  // ---- routes ------------------------------------------------------------------------------------

  const enqueueOne: Route = async (req) => {
    const body = req.body;
    const rawKey = req.headers['idempotency-key'];
    const key = rawKey === undefined ? undefined : IdempotencyKey.safeParse(rawKey);
    const headerIssues: ApiIssue[] = key && !key.success ? toIssues(key.error, ['headers', 'idempotency-key']) : [];
    const [item] = prepare([body], () => [], EnqueueRequest, headerIssues);
    const p = item as Prepared;
    const trace = requestTrace(req);
    const options = { ...p.options, ...(key?.success ? { idempotencyKey: key.data } : {}), ...(trace && { trace }) };
    let job: LibEnqueuedJob;
    try {
      job = await sluice.enqueue(p.def, p.payload, options);
    } catch (err) {
      throw fromLibraryValidation(err, () => [], 'single');
    }
    if (!job.replayed) publisher.jobsEnqueued(job.queue, 1);
    if (job.replaced) return json(200, { ...enqueuedView(job), replaced: true });
    return job.replayed
      ? json(200, enqueuedView(job), { 'idempotent-replayed': 'true' })
      : json(201, enqueuedView(job), { location: `/v1/jobs/${job.id}` });
  };

  const enqueueBatch: Route = async (req) => {
    if (req.headers['idempotency-key'] !== undefined) {
      throw new HttpError(400, 'VALIDATION', 'a batch takes no Idempotency-Key header: give each job its own idempotencyKey', [
        { path: ['headers', 'idempotency-key'], message: 'not supported on a batch; use jobs[i].idempotencyKey', code: 'unsupported' },
      ]);
    }
    const body = req.body;
    if (!isRecord(body)) throw validation([{ path: [], message: 'expected an object { jobs: [...] }', code: 'invalid_type' }]);
    const unknownKeys = Object.keys(body).filter((k) => k !== 'jobs');
    if (unknownKeys.length > 0) {
      throw validation(
        unknownKeys.map((k) => ({ path: [k], message: `Unrecognized key: ${JSON.stringify(k)}`, code: 'unrecognized_keys' })),
      );
    }
    const jobs = body.jobs;
    if (!Array.isArray(jobs)) throw validation([{ path: ['jobs'], message: 'expected an array of jobs', code: 'invalid_type' }]);
    if (jobs.length === 0) throw validation([{ path: ['jobs'], message: 'a batch holds at least one job', code: 'too_small' }]);
    if (jobs.length > MAX_BATCH) {
      throw new HttpError(400, 'BATCH_TOO_LARGE', `a batch holds at most ${MAX_BATCH} jobs; got ${jobs.length}`, [
        { path: ['jobs'], message: `at most ${MAX_BATCH} jobs per batch, got ${jobs.length}`, code: 'too_big' },
      ]);
    }
    const prefix = (i: number) => ['jobs', i];
    const prepared = prepare(jobs, prefix, BatchEnqueueItem, []);
    let results: LibEnqueuedJob[];
    try {
      const trace = requestTrace(req);
      results = await sluice.enqueueMany(prepared.map((p) => enqueueItem(p.def, p.payload, trace ? { ...p.options, trace } : p.options)));
    } catch (err) {
      throw fromLibraryValidation(err, prefix, 'batch');
    }
    const fresh = new Map<string, number>();
    for (const j of results) if (!j.replayed) fresh.set(j.queue, (fresh.get(j.queue) ?? 0) + 1);
    for (const [queue, count] of fresh) publisher.jobsEnqueued(queue, count);
    const view = { jobs: results.map((j): BatchEnqueuedJob => ({ ...enqueuedView(j), replayed: j.replayed })) };
    // A batch that created nothing (every key replayed) answers like a single replay.
    return fresh.size === 0 ? json(200, view, { 'idempotent-replayed': 'true' }) : json(201, view);
  };

  const getJob: Route = async (req) => {
    const id = pathId(req.params.id);
    const [job, timeline] = await Promise.all([sluice.getJob(id), sluice.jobTimeline(id)]);
    if (!job) throw new JobNotFoundError(`no job with id ${id}`);
    return json(200, { ...detailView(job), timeline: timeline.map(timelineView) } satisfies JobWithTimeline);
  };

  const cancelJob: Route = async (req) => {
    const id = pathId(req.params.id);
    const job = await sluice.getJob(id);
    if (!job) throw new JobNotFoundError(`no job with id ${id}`);
    const result = (await sluice.cancel([id]))[id];
    if (result === 'cancelled' || result === 'cancelling') return json(200, { id, result });
    throw new HttpError(409, 'NOT_CANCELLABLE', `job ${id} has already finished and cannot be cancelled`);
  };

  const listQueues: Route = async () => json(200, { queues: await sluice.stats() });

  /** Pause or resume a queue (the library checks its name and, with SLUICE_QUEUES, that it has a worker). */
  const setPaused =
    (paused: boolean): Route =>
    async (req) => {
      const queue = req.params.queue as string;
      const changed = paused ? await sluice.pauseQueue(queue) : await sluice.resumeQueue(queue);
      return json(200, { queue, paused, changed });
    };

  const listDeadLetters: Route = async (req) => {
    const query = parseQuery(req.event.rawQueryString ?? '');
    const parsed = DeadLetterListQuery.safeParse(query, { error: requiredMessage });
    if (!parsed.success) throw validation(toIssues(parsed.error, ['query']));
    const { limit, ...filter } = parsed.data;
    const page = await sluice.deadLetterPage({ ...filter, limit });
    return json(200, { deadLetters: page.jobs.map(detailView), next: page.next });
  };

  /** A query's job filter, or a 400 naming each bad parameter. */
  function filterQuery<S extends typeof JobListQuery | typeof JobCountQuery>(req: Request, schema: S): z.output<S> {
    const parsed = schema.safeParse(parseQuery(req.event.rawQueryString ?? '', ['state']), { error: requiredMessage });
    if (!parsed.success) throw validation(toIssues(parsed.error, ['query']));
    return parsed.data as z.output<S>;
  }

  /** A body, or a 400 with its issues; and the Idempotency-Key header, or a 400 naming it. */
  function bulkRequest<S extends typeof CancelMatchingRequest | typeof RedriveRequest | typeof PurgeRequest>(
    req: Request,
    schema: S,
  ): { body: z.output<S>; idempotencyKey?: string } {
    const rawKey = req.headers['idempotency-key'];
    const key = rawKey === undefined ? undefined : IdempotencyKey.safeParse(rawKey);
    const parsed = schema.safeParse(req.body, { error: requiredMessage });
    const issues = [
      ...(key && !key.success ? toIssues(key.error, ['headers', 'idempotency-key']) : []),
      ...(parsed.success ? [] : toIssues(parsed.error, [])),
    ];
    if (issues.length > 0 || !parsed.success) throw validation(issues);
    return { body: parsed.data as z.output<S>, ...(key?.success ? { idempotencyKey: key.data } : {}) };
  }

  const answer = (body: unknown, replayed: boolean) => json(200, body, replayed ? { 'idempotent-replayed': 'true' } : {});

  const listJobs: Route = async (req) => {
    const page = await sluice.jobPage(filterQuery(req, JobListQuery));
    return json(200, { jobs: page.jobs.map(detailView), next: page.next });
  };

  const countJobs: Route = async (req) => json(200, { count: await sluice.countJobs(filterQuery(req, JobCountQuery)) });

  const cancelMatching: Route = async (req) => {
    const { body, idempotencyKey } = bulkRequest(req, CancelMatchingRequest);
    const r = await sluice.cancelMatching(body, idempotencyKey === undefined ? {} : { idempotencyKey });
    return answer({ cancelled: r.cancelled, cancelling: r.cancelling }, r.replayed);
  };

  const redrive: Route = async (req) => {
    const { body, idempotencyKey } = bulkRequest(req, RedriveRequest);
    const { toQueue, ...filter } = body;
    const r = await sluice.redriveMatching(filter, {
      ...(toQueue === undefined ? {} : { toQueue }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    });
    return answer({ redriven: r.redriven }, r.replayed);
  };

  const purgeMatching: Route = async (req) => {
    const { body, idempotencyKey } = bulkRequest(req, PurgeRequest);
    const r = await sluice.purgeMatching(body, idempotencyKey === undefined ? {} : { idempotencyKey });
    return answer({ purged: r.purged }, r.replayed);
  };

  const purge: Route = async (req) => {
    const id = pathId(req.params.id);
    const [purged] = await sluice.purgeDeadLetters({ ids: [id] });
    if (purged === undefined) throw new JobNotFoundError(`no dead letter with id ${id}`);
    return json(200, { purged });
  };

  /** One handler per route of the spec (functions/api/spec.ts): the compiler refuses a missing or an extra one. */
  const handlers: Record<OperationId, Route> = {
    enqueueJob: enqueueOne,
    listJobs,
    countJobs,
    cancelMatchingJobs: cancelMatching,
    enqueueJobs: enqueueBatch,
    getJob,
    cancelJob,
    listQueues,
    pauseQueue: setPaused(true),
    resumeQueue: setPaused(false),
    listDeadLetters,
    redriveDeadLetters: redrive,
    purgeDeadLetters: purgeMatching,
    purgeDeadLetter: purge,
  };
  const routes = routeTable(handlers);

  // ---- payload preparation -------------------------------------------------------------------------

  interface Prepared {
    def: JobDefinition;
    payload: unknown;
    options: EnqueueOptions;
  }

  /**
   * Check every item's envelope and type, naming every bad item. When any is bad, the payloads of the
   * others are checked too (for the report only) so one response names every bad index; otherwise the
   * library validates the payloads as it enqueues.
   */
  function prepare(
    items: readonly unknown[],
    prefix: (i: number) => Array<string | number>,
    schema: typeof EnqueueRequest | typeof BatchEnqueueItem,
    extraIssues: ApiIssue[],
  ): Prepared[] {
    const issues: ApiIssue[] = [...extraIssues];
    const unknownTypes = new Set<string>();
    const defs: Array<JobDefinition | undefined> = [];
    const prepared: Prepared[] = [];
    items.forEach((item, i) => {
      const env = schema.safeParse(item, { error: requiredMessage });
      if (!env.success) issues.push(...toIssues(env.error, prefix(i)));
      const type = isRecord(item) ? item.type : undefined;
      let def: JobDefinition | undefined;
      if (typeof type === 'string' && type.length > 0 && type.length <= 128) {
        if (registry.has(type)) def = registry.get(type);
        else {
          unknownTypes.add(type);
          issues.push({ path: [...prefix(i), 'type'], message: unknownTypeMessage(type), code: 'unknown_type' });
        }
      }
      defs[i] = def;
      if (env.success && def) {
        const e = env.data as z.output<typeof BatchEnqueueItem> & { replaceKey?: string };
        prepared.push({
          def,
          payload: e.payload,
          options: {
            ...(e.queue !== undefined && { queue: e.queue }),
            ...(e.runAt !== undefined && { runAt: new Date(e.runAt) }),
            ...(e.delaySeconds !== undefined && { delayMs: e.delaySeconds * 1000 }),
            ...(e.priority !== undefined && { priority: e.priority }),
            ...(e.maxAttempts !== undefined && { maxAttempts: e.maxAttempts }),
            ...(e.idempotencyKey !== undefined && { idempotencyKey: e.idempotencyKey }),
            ...(e.replaceKey !== undefined && { replaceKey: e.replaceKey }),
          },
        });
      }
    });
    if (issues.length === 0) return prepared;
    items.forEach((item, i) => {
      const def = defs[i];
      if (!def || !isRecord(item) || !('payload' in item)) return;
      const res = def.schema.safeParse(item.payload);
      if (!res.success) issues.push(...toIssues(res.error, [...prefix(i), 'payload']));
    });
    issues.sort((a, b) => indexOf(a) - indexOf(b));
    if (issues.every((is) => is.code === 'unknown_type')) {
      const types = [...unknownTypes].map((t) => JSON.stringify(t)).join(', ');
      throw new HttpError(400, 'UNKNOWN_TYPE', `unknown job type ${types}; known types: ${known()}`, issues);
    }
    throw validation(issues);
  }

  const known = () => registry.types().join(', ') || '(none)';
  const unknownTypeMessage = (type: string) => `unknown job type ${JSON.stringify(type)}; known types: ${known()}`;

  return routes;
}

function indexOf(issue: ApiIssue): number {
  return issue.path[0] === 'jobs' && typeof issue.path[1] === 'number' ? issue.path[1] : -1;
}

/**
 * The trace the request's jobs continue: the caller's W3C `traceparent` header when it is valid (an
 * OpenTelemetry client), otherwise this function's own X-Ray context (`_X_AMZN_TRACE_ID`, with tracing
 * on), otherwise the `X-Amzn-Trace-Id` header API Gateway passes. An invalid header is ignored, as W3C
 * Trace Context says, never refused. Never read from the body.
 */
export function requestTrace(req: Pick<Request, 'headers'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const header of [req.headers.traceparent, env._X_AMZN_TRACE_ID, req.headers['x-amzn-trace-id']]) {
    const t = parseTraceContext(header);
    if (t) return formatTraceparent(t);
  }
  return undefined;
}

function iso(d: Date): string {
  return d.toISOString();
}

function enqueuedView(j: Omit<LibEnqueuedJob, 'replayed' | 'replaced'>): EnqueuedJob {
  return {
    id: j.id,
    type: j.type,
    queue: j.queue,
    state: j.state,
    priority: j.priority,
    attempt: j.attempt,
    maxAttempts: j.maxAttempts,
    runAt: iso(j.runAt),
    createdAt: iso(j.createdAt),
    idempotencyKey: j.idempotencyKey,
  };
}

/** A timeline entry as JSON: its times as ISO strings. */
function timelineView(e: LibTimelineEntry): TimelineEntry {
  if (e.kind !== 'attempt') return { ...e, at: iso(e.at) } as TimelineEntry;
  return { ...e, startedAt: e.startedAt && iso(e.startedAt), finishedAt: e.finishedAt && iso(e.finishedAt) };
}

function detailView(j: JobView): JobDetail {
  return {
    ...enqueuedView(j),
    finishedAt: j.finishedAt ? iso(j.finishedAt) : null,
    payload: j.payload,
    errors: j.errors,
    traceId: j.traceId,
    ...('result' in j ? { result: j.result } : {}),
  };
}
