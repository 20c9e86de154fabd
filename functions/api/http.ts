/**
 * HTTP plumbing of the enqueue API: the request and result types, reading and validating a JSON body
 * (base64, size, content type, UTF-8, forbidden keys, nesting), query and path parameters, `HttpError`,
 * JSON responses with their headers, and the mapping of every failure to the one error shape.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import {
  BatchTooLargeError,
  IdempotencyConflictError,
  isTransientDatabaseError,
  JobNotFoundError,
  PayloadTooLargeError,
  UnknownJobTypeError,
  ValidationError,
} from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { errorFields, truncate } from '../../src/logger.js';
import { LONE_SURROGATE, unstorableText } from '../../src/text.js';
import { type ApiIssue, type ErrorResponse, JobId, MAX_BODY_BYTES } from './schemas.js';

export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;

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

export interface Request {
  method: string;
  path: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  params: Record<string, string>;
  event: ApiEvent;
  requestId: string | undefined;
  /** The JSON body, read and scanned once (`readJson`) before the handler, for routes that declare one. */
  body?: unknown;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 128;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export const requiredMessage = (iss: { code: string; input?: unknown }) =>
  iss.code === 'invalid_type' && iss.input === undefined ? 'Required' : undefined;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** zod issues under `prefix`; an unrecognised-keys issue becomes one issue per key, its path naming the key. */
export function toIssues(error: z.ZodError, prefix: Array<string | number>): ApiIssue[] {
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

export function validation(issues: ApiIssue[]): HttpError {
  return new HttpError(400, 'VALIDATION', summarise('invalid request', issues), issues);
}

export function pathId(raw: string | undefined): string {
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
export function readJson(req: Request): unknown {
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

/**
 * Query parameters; an empty value counts as absent, a repeated one is an error unless it is `repeatable`
 * (its values are then joined with commas: `state=a&state=b` reads as `state=a,b`).
 */
export function parseQuery(raw: string, repeatable: readonly string[] = []): Record<string, string> {
  const out = new Map<string, string>();
  const dupes: ApiIssue[] = [];
  for (const [k, v] of new URLSearchParams(raw)) {
    if (v === '') continue;
    if (unstorableText(`${k}${v}`)) {
      throw validation([{ path: ['query', k], message: 'query parameters must be valid text without NUL', code: 'invalid_string' }]);
    }
    const held = out.get(k);
    if (held !== undefined && repeatable.includes(k)) out.set(k, `${held},${v}`);
    else {
      if (held !== undefined) dupes.push({ path: ['query', k], message: `${JSON.stringify(k)} given more than once`, code: 'duplicate' });
      out.set(k, v);
    }
  }
  if (dupes.length > 0) throw validation(dupes);
  return Object.fromEntries(out);
}

/** A library ValidationError, its paths (`[i, 'payload', ...]`) rewritten to the request's. */
export function fromLibraryValidation(err: unknown, prefix: (i: number) => Array<string | number>, mode: 'single' | 'batch'): unknown {
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

const BASE_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode: status, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Map any failure to the one error shape. Only messages written for clients are ever shown. */
export function errorResponse(
  err: unknown,
  ctx: { logger: Logger; requestId: string | undefined; method: string; path: string },
): ApiResult {
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
  if (err instanceof IdempotencyConflictError) return respond(422, 'IDEMPOTENCY_CONFLICT', err.message);
  if (isTransientDatabaseError(err)) {
    ctx.logger.warn('database unavailable', { ...where, error: errorFields(err) });
    return respond(503, 'UNAVAILABLE', 'the service is temporarily unavailable; retry later', undefined, { 'retry-after': '5' });
  }
  ctx.logger.error('unhandled error', { ...where, error: { ...errorFields(err), stack: (err as Error)?.stack } });
  return respond(500, 'INTERNAL', `internal error; quote request id ${ctx.requestId ?? '(none)'}`);
}
