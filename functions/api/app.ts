/**
 * The enqueue HTTP API (`/v1`) as a plain function of an API Gateway HTTP API (payload format 2.0) event:
 * no AWS needed, so tests call it directly and a local server can reuse it. `handler.ts` wraps it for Lambda.
 *
 * Every failure has one shape, `{ error: { code, message, issues? } }`. Payloads are validated by the
 * library against each job type's own schema (`sluice.enqueue` / `enqueueMany`), so the API and the
 * worker share definitions. All SQL is parameterised in the library; nothing here builds SQL.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import type { JobDefinition, JobRegistry } from '../../src/define.js';
import { type EnqueueOptions, enqueueItem, type EnqueuedJob as LibEnqueuedJob } from '../../src/enqueue.js';
import {
  BatchTooLargeError,
  isTransientDatabaseError,
  JobNotFoundError,
  PayloadTooLargeError,
  UnknownJobTypeError,
  ValidationError,
} from '../../src/errors.js';
import type { JobView } from '../../src/job.js';
import type { Logger } from '../../src/logger.js';
import { errorFields, truncate } from '../../src/logger.js';
import type { Sluice } from '../../src/sluice.js';
import { LONE_SURROGATE, unstorableText } from '../../src/text.js';
import {
  type ApiIssue,
  type BatchEnqueuedJob,
  BatchEnqueueItem,
  DeadLetterListQuery,
  type EnqueuedJob,
  EnqueueRequest,
  type ErrorResponse,
  IdempotencyKey,
  type JobDetail,
  JobId,
  MAX_BATCH,
  MAX_BODY_BYTES,
  RedriveRequest,
} from './schemas.js';

export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;
export type ApiHandler = (event: ApiEvent, context?: Context) => Promise<ApiResult>;

export interface ApiOptions {
  sluice: Sluice;
  /** The job types this API accepts, by name. */
  registry: JobRegistry;
  /** Told about committed new jobs (`jobsEnqueued`); the caller flushes it after the response. */
  publisher: { jobsEnqueued(queue: string, count: number): void };
  logger: Logger;
}

/** A failure with its HTTP status, already safe to show the client. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: ApiIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Request {
  method: string;
  path: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  params: Record<string, string>;
  event: ApiEvent;
  requestId: string | undefined;
}

type Route = (req: Request) => Promise<ApiResult>;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 128;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Build the API. The returned function never throws: every failure becomes an error response. */
export function createApi(options: ApiOptions): ApiHandler {
  const { sluice, registry, publisher, logger } = options;

  // ---- routes ------------------------------------------------------------------------------------

  const enqueueOne: Route = async (req) => {
    const body = readJson(req);
    const rawKey = req.headers['idempotency-key'];
    const key = rawKey === undefined ? undefined : IdempotencyKey.safeParse(rawKey);
    const headerIssues: ApiIssue[] = key && !key.success ? toIssues(key.error, ['headers', 'idempotency-key']) : [];
    const [item] = prepare([body], () => [], EnqueueRequest, headerIssues);
    const p = item as Prepared;
    const options = { ...p.options, ...(key?.success ? { idempotencyKey: key.data } : {}) };
    let job: LibEnqueuedJob;
    try {
      job = await sluice.enqueue(p.def, p.payload, options);
    } catch (err) {
      throw fromLibraryValidation(err, () => [], 'single');
    }
    if (!job.replayed) publisher.jobsEnqueued(job.queue, 1);
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
    const body = readJson(req);
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
      results = await sluice.enqueueMany(prepared.map((p) => enqueueItem(p.def, p.payload, p.options)));
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
    const job = await sluice.getJob(id);
    if (!job) throw new JobNotFoundError(`no job with id ${id}`);
    return json(200, detailView(job));
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

  const listDeadLetters: Route = async (req) => {
    const query = parseQuery(req.event.rawQueryString ?? '');
    const parsed = DeadLetterListQuery.safeParse(query, { error: requiredMessage });
    if (!parsed.success) throw validation(toIssues(parsed.error, ['query']));
    const { limit, ...filter } = parsed.data;
    const page = await sluice.listDeadLetters({ ...filter, limit: limit + 1 });
    const shown = page.slice(0, limit);
    return json(200, { deadLetters: shown.map(detailView), next: page.length > limit ? (shown.at(-1)?.id ?? null) : null });
  };

  const redrive: Route = async (req) => {
    const parsed = RedriveRequest.safeParse(readJson(req), { error: requiredMessage });
    if (!parsed.success) throw validation(toIssues(parsed.error, []));
    const { toQueue, ...filter } = parsed.data;
    const redriven = await sluice.redriveDeadLetters(filter, toQueue === undefined ? {} : { toQueue });
    return json(200, { redriven });
  };

  const purge: Route = async (req) => {
    const id = pathId(req.params.id);
    const [purged] = await sluice.purgeDeadLetters({ ids: [id] });
    if (purged === undefined) throw new JobNotFoundError(`no dead letter with id ${id}`);
    return json(200, { purged });
  };

  /** Static segments before parameters, so `/v1/jobs/batch` is never read as a job id. */
  const routes: Array<{ pattern: string[]; methods: Record<string, Route>; body: boolean }> = [
    { pattern: ['v1', 'jobs'], methods: { POST: enqueueOne }, body: true },
    { pattern: ['v1', 'jobs', 'batch'], methods: { POST: enqueueBatch }, body: true },
    { pattern: ['v1', 'jobs', ':id'], methods: { GET: getJob }, body: false },
    { pattern: ['v1', 'jobs', ':id', 'cancel'], methods: { POST: cancelJob }, body: false },
    { pattern: ['v1', 'queues'], methods: { GET: listQueues }, body: false },
    { pattern: ['v1', 'dead-letters'], methods: { GET: listDeadLetters }, body: false },
    { pattern: ['v1', 'dead-letters', 'redrive'], methods: { POST: redrive }, body: true },
    { pattern: ['v1', 'dead-letters', ':id'], methods: { DELETE: purge }, body: false },
  ];

  function match(path: string): { methods: Record<string, Route>; params: Record<string, string> } | undefined {
    const segments = path.split('/').slice(1);
    if (!path.startsWith('/')) return undefined;
    for (const r of routes) {
      if (r.pattern.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const ok = r.pattern.every((p, i) => {
        const s = segments[i] as string;
        if (p.startsWith(':')) {
          params[p.slice(1)] = s;
          return s.length > 0;
        }
        return p === s;
      });
      if (ok) return { methods: r.methods, params };
    }
    return undefined;
  }

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
        const e = env.data as z.output<typeof BatchEnqueueItem>;
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

  /** A library ValidationError, its paths (`[i, 'payload', ...]`) rewritten to the request's. */
  function fromLibraryValidation(err: unknown, prefix: (i: number) => Array<string | number>, mode: 'single' | 'batch'): unknown {
    if (!(err instanceof ValidationError) || err instanceof UnknownJobTypeError) return err;
    const issues = err.issues.map((is): ApiIssue => {
      const [i, part, field, ...rest] = is.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      const at = typeof i === 'number' ? prefix(i) : [];
      let path: Array<string | number>;
      if (part === 'options' && field === 'delayMs') path = [...at, 'delaySeconds', ...rest];
      else if (part === 'options' && field === 'idempotencyKey' && mode === 'single') path = ['headers', 'idempotency-key'];
      else if (part === 'options') path = [...at, ...(field === undefined ? [] : [field]), ...rest];
      else path = [...at, ...[part, field, ...rest].filter((p) => p !== undefined)];
      return { path, message: is.message, code: is.code ?? 'custom' };
    });
    if (err instanceof PayloadTooLargeError) {
      return new HttpError(413, 'PAYLOAD_TOO_LARGE', summarise('payload too large', issues), issues);
    }
    if (err instanceof BatchTooLargeError) return new HttpError(400, 'BATCH_TOO_LARGE', err.message, issues);
    return validation(issues);
  }

  // ---- dispatch ----------------------------------------------------------------------------------

  return async (event, context) => {
    const requestId = event.requestContext?.requestId ?? context?.awsRequestId;
    const method = (event.requestContext?.http?.method ?? '').toUpperCase();
    const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
    try {
      const found = match(path);
      if (!found) throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${truncate(path, 200)}`);
      const route = found.methods[method];
      if (!route) {
        const allow = Object.keys(found.methods).join(', ');
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allow}`, undefined, { allow });
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
      return await route({ method, path, headers, params: found.params, event, requestId });
    } catch (err) {
      return errorResponse(err, { logger, requestId, method, path });
    }
  };
}

// ---- helpers (pure) ----------------------------------------------------------------------------------

const requiredMessage = (iss: { code: string; input?: unknown }) =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'Required' : undefined;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function indexOf(issue: ApiIssue): number {
  return issue.path[0] === 'jobs' && typeof issue.path[1] === 'number' ? issue.path[1] : -1;
}

/** zod issues under `prefix`; an unrecognised-keys issue becomes one issue per key, its path naming the key. */
function toIssues(error: z.ZodError, prefix: Array<string | number>): ApiIssue[] {
  return error.issues.flatMap((is): ApiIssue[] => {
    const path = [...prefix, ...is.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (is.code === 'unrecognized_keys') {
      return is.keys.map((k) => ({ path: [...path, k], message: `Unrecognized key: ${JSON.stringify(k)}`, code: is.code }));
    }
    return [{ path, message: is.message, code: is.code }];
  });
}

function summarise(what: string, issues: ApiIssue[]): string {
  const shown = issues.slice(0, 5).map((is) => `${is.path.join('.') || '(body)'}: ${is.message}`);
  const more = issues.length > 5 ? `; and ${issues.length - 5} more` : '';
  return `${what}: ${shown.join('; ')}${more}`;
}

function validation(issues: ApiIssue[]): HttpError {
  return new HttpError(400, 'VALIDATION', summarise('invalid request', issues), issues);
}

function pathId(raw: string | undefined): string {
  const res = JobId.safeParse(raw);
  if (!res.success) throw validation(toIssues(res.error, ['id']));
  return res.data;
}

/** `application/json`, optionally with `charset=utf-8` (JSON is UTF-8). */
function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const [type, ...params] = value.split(';');
  if (type?.trim().toLowerCase() !== 'application/json') return false;
  return params.every((p) => {
    const [k, v = ''] = p.split('=');
    if (k?.trim().toLowerCase() !== 'charset') return true;
    return ['utf-8', 'utf8'].includes(
      v
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase(),
    );
  });
}

/** The JSON body: size (decoded bytes), content type, syntax, then no prototype-bearing keys anywhere. */
function readJson(req: Request): unknown {
  const raw = req.event.body ?? '';
  const bytes = req.event.isBase64Encoded ? Buffer.from(raw, 'base64') : undefined;
  const size = bytes ? bytes.length : Buffer.byteLength(raw, 'utf8');
  if (size > MAX_BODY_BYTES) {
    throw new HttpError(413, 'REQUEST_TOO_LARGE', `the request body is ${size} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  if (size === 0) throw new HttpError(400, 'INVALID_JSON', 'a JSON request body is required');
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json (UTF-8)');
  }
  let text: string;
  try {
    text = bytes ? utf8.decode(bytes) : raw;
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'the request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'INVALID_JSON', `the request body is not valid JSON: ${truncate((err as Error).message, 200)}`);
  }
  scan(value);
  return value;
}

/**
 * Refuse keys that could reach an object's prototype (`__proto__`, `constructor`, `prototype`), nesting
 * deeper than 128, and strings with lone surrogates or NUL (Postgres text and jsonb refuse both). `JSON.parse` defines such keys
 * as own properties, so nothing was polluted; refusing them keeps them out of every later merge.
 */
function scan(root: unknown): void {
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: Array<string | number> };
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) throw badBody(path, 'strings must be valid Unicode (no lone surrogates)', 'invalid_string');
      if (value.includes('\u0000')) throw badBody(path, 'strings may not contain NUL (\\u0000)', 'invalid_string');
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= MAX_DEPTH) throw badBody(path, `nested deeper than ${MAX_DEPTH} levels`, 'too_deep');
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        stack.push({ value: v, path: [...path, i] });
      });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new HttpError(400, 'FORBIDDEN_KEY', `the key ${JSON.stringify(key)} is not allowed`, [
          { path: [...path, key], message: `the key ${JSON.stringify(key)} is not allowed`, code: 'forbidden_key' },
        ]);
      }
      if (LONE_SURROGATE.test(key)) throw badBody([...path, key], 'keys must be valid Unicode (no lone surrogates)', 'invalid_string');
      if (key.includes('\u0000')) throw badBody([...path, key], 'keys may not contain NUL (\\u0000)', 'invalid_string');
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
}

function badBody(path: Array<string | number>, message: string, code: string): HttpError {
  return new HttpError(400, 'INVALID_JSON', message, [{ path, message, code }]);
}

/** Query parameters; an empty value counts as absent, a repeated one is an error. */
function parseQuery(raw: string): Record<string, string> {
  const out = new Map<string, string>();
  const dupes: ApiIssue[] = [];
  for (const [k, v] of new URLSearchParams(raw)) {
    if (v === '') continue;
    if (unstorableText(`${k}${v}`)) {
      throw validation([{ path: ['query', k], message: 'query parameters must be valid text without NUL', code: 'invalid_string' }]);
    }
    if (out.has(k)) dupes.push({ path: ['query', k], message: `${JSON.stringify(k)} given more than once`, code: 'duplicate' });
    out.set(k, v);
  }
  if (dupes.length > 0) throw validation(dupes);
  return Object.fromEntries(out);
}

function iso(d: Date): string {
  return d.toISOString();
}

function enqueuedView(j: Omit<LibEnqueuedJob, 'replayed'>): EnqueuedJob {
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

function detailView(j: JobView): JobDetail {
  return {
    ...enqueuedView(j),
    finishedAt: j.finishedAt ? iso(j.finishedAt) : null,
    payload: j.payload,
    errors: j.errors,
  };
}

const BASE_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode: status, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Map any failure to the one error shape. Only messages written for clients are ever shown. */
function errorResponse(err: unknown, ctx: { logger: Logger; requestId: string | undefined; method: string; path: string }): ApiResult {
  const respond = (status: number, code: string, message: string, issues?: ApiIssue[], headers?: Record<string, string>) => {
    const body: ErrorResponse = { error: { code, message, ...(issues && issues.length > 0 ? { issues } : {}) } };
    return json(status, body, headers);
  };
  const where = { request_id: ctx.requestId, method: ctx.method, path: truncate(ctx.path, 200) };
  if (err instanceof HttpError) return respond(err.status, err.code, err.message, err.issues, err.headers);
  if (err instanceof UnknownJobTypeError) return respond(400, 'UNKNOWN_TYPE', err.message);
  if (err instanceof ValidationError) {
    const issues = err.issues.map((is) => ({
      path: is.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
      message: is.message,
      code: is.code ?? 'custom',
    }));
    if (err instanceof PayloadTooLargeError) return respond(413, 'PAYLOAD_TOO_LARGE', err.message, issues);
    return respond(400, err instanceof BatchTooLargeError ? 'BATCH_TOO_LARGE' : 'VALIDATION', err.message, issues);
  }
  if (err instanceof JobNotFoundError) return respond(404, 'NOT_FOUND', err.message);
  if (isTransientDatabaseError(err)) {
    ctx.logger.warn('database unavailable', { ...where, error: errorFields(err) });
    return respond(503, 'UNAVAILABLE', 'the service is temporarily unavailable; retry later', undefined, { 'retry-after': '5' });
  }
  ctx.logger.error('unhandled error', { ...where, error: { ...errorFields(err), stack: (err as Error)?.stack } });
  return respond(500, 'INTERNAL', `internal error; quote request id ${ctx.requestId ?? '(none)'}`);
}
