/**
 * Every error sluice raises on purpose. Three of them are for handlers to throw and say what should happen
 * next: `PermanentJobError` (don't retry), `RetryableJobError` (retry, optionally after a set delay) and
 * `SnoozeJobError` (retry later without spending an attempt). Anything else a handler throws is retried.
 *
 * @example
 * if (res.status === 429) throw new SnoozeJobError(Number(res.headers.get('retry-after')) * 1000);
 * if (res.status === 400) throw new PermanentJobError('recipient rejected', { cause: body });
 */
export class SluiceError extends Error {
  override name = 'SluiceError';
  /** A stable, machine-readable code. */
  readonly code: string = 'SLUICE_ERROR';
}

/** The job will never succeed: it goes to the dead letters at once, whatever attempts remain. */
export class PermanentJobError extends SluiceError {
  override name = 'PermanentJobError';
  override readonly code = 'PERMANENT';
}

/** Retry with the job type's backoff, or after `delayMs` when given. Spends an attempt. */
export class RetryableJobError extends SluiceError {
  override name = 'RetryableJobError';
  override readonly code = 'RETRYABLE';
  readonly delayMs: number | undefined;
  constructor(message: string, options?: ErrorOptions & { delayMs?: number }) {
    super(message, options);
    this.delayMs = options?.delayMs;
  }
}

/** Run again after `delayMs` without spending an attempt: for rate limits and `Retry-After`. */
export class SnoozeJobError extends SluiceError {
  override name = 'SnoozeJobError';
  override readonly code: string = 'SNOOZE';
  readonly delayMs: number;
  constructor(delayMs: number, message = `snoozed for ${delayMs} ms`, options?: ErrorOptions) {
    super(message, options);
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new TypeError(`snooze delay must be a finite number of ms >= 0, got ${delayMs}`);
    this.delayMs = delayMs;
  }
}

/**
 * The API said 429: this job runs again after `retryAfterMs` (or the `Retry-After` header's value) without
 * spending an attempt, and its key (`scope: 'key'`, the default), its whole type (`scope: 'type'`) or its
 * whole queue (`scope: 'queue'`: every limited type on it) cools down until then for every worker, so that
 * no other Lambda calls the limited API meanwhile. The shared cooldown needs the type or its queue to have
 * limits (a type without them only snoozes this job). With neither
 * `retryAfterMs` nor a readable `retryAfter`, the wait is `fallbackMs` (default 1 s).
 *
 * @example
 * if (res.status === 429) throw new RateLimitedError({ retryAfter: res.headers.get('retry-after'), scope: 'type' });
 */
export class RateLimitedError extends SnoozeJobError {
  override name = 'RateLimitedError';
  override readonly code = 'RATE_LIMITED';
  readonly scope: 'key' | 'type' | 'queue';
  constructor(
    options: {
      retryAfterMs?: number;
      /** A `Retry-After` header: seconds, or an HTTP date. */
      retryAfter?: string | number | null | undefined;
      fallbackMs?: number;
      scope?: 'key' | 'type' | 'queue';
      message?: string;
    } = {},
    errorOptions?: ErrorOptions,
  ) {
    const ms = options.retryAfterMs ?? parseRetryAfter(options.retryAfter) ?? options.fallbackMs ?? 1_000;
    super(Math.max(0, ms), options.message ?? `rate limited: retry after ${Math.round(ms)} ms`, errorOptions);
    if (options.scope !== undefined && !['key', 'type', 'queue'].includes(options.scope))
      throw new TypeError(`scope is 'key', 'type' or 'queue', got ${JSON.stringify(options.scope)}`);
    this.scope = options.scope ?? 'key';
  }
}

/** A `Retry-After` value in ms from now: delta seconds or an HTTP date; undefined when unreadable. */
export function parseRetryAfter(value: string | number | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The job ran past its type's `timeout`: `ctx.signal` was aborted and the attempt counts as failed. */
export class JobTimeoutError extends SluiceError {
  override name = 'JobTimeoutError';
  override readonly code = 'TIMEOUT';
}

/** The job was cancelled while it ran: `ctx.signal` aborts with this reason. */
export class JobCancelledError extends SluiceError {
  override name = 'JobCancelledError';
  override readonly code = 'CANCELLED';
}

/** This worker no longer holds the job's lease (it expired and another worker may have it). */
export class LeaseLostError extends SluiceError {
  override name = 'LeaseLostError';
  override readonly code = 'LEASE_LOST';
}

/** Input rejected before anything was written. `issues` are zod's, with their paths. */
export class ValidationError extends SluiceError {
  override name = 'ValidationError';
  override readonly code: string = 'VALIDATION';
  readonly issues: ReadonlyArray<{ path: PropertyKey[]; message: string; code?: string }>;
  constructor(message: string, issues: ReadonlyArray<{ path: PropertyKey[]; message: string; code?: string }> = []) {
    super(message);
    this.issues = issues;
  }
}

/** A payload over the configured size limit. Nothing was written. */
export class PayloadTooLargeError extends ValidationError {
  override name = 'PayloadTooLargeError';
  override readonly code = 'PAYLOAD_TOO_LARGE';
}

/** More jobs in one `enqueueMany` than the configured bound. Nothing was written. */
export class BatchTooLargeError extends ValidationError {
  override name = 'BatchTooLargeError';
  override readonly code = 'BATCH_TOO_LARGE';
}

/** A job type no definition is registered for. `knownTypes` lists the registered ones. */
export class UnknownJobTypeError extends ValidationError {
  override name = 'UnknownJobTypeError';
  override readonly code = 'UNKNOWN_TYPE';
  readonly knownTypes: string[];
  constructor(type: string, knownTypes: string[]) {
    super(`unknown job type ${JSON.stringify(type)}; known types: ${knownTypes.join(', ') || '(none)'}`);
    this.knownTypes = knownTypes;
  }
}

/** Options or environment that failed validation; the message names the offending key. */
export class ConfigError extends SluiceError {
  override name = 'ConfigError';
  override readonly code = 'CONFIG';
}

/** A job, or a dead letter, that does not exist (or was pruned). */
export class JobNotFoundError extends SluiceError {
  override name = 'JobNotFoundError';
  override readonly code = 'NOT_FOUND';
}

/**
 * An idempotency key sent again with a different request than the one it was first sent with (within its
 * window). Nothing was done; use a new key for a new request.
 */
export class IdempotencyConflictError extends SluiceError {
  override name = 'IdempotencyConflictError';
  override readonly code = 'IDEMPOTENCY_CONFLICT';
}

/**
 * node-postgres raises a few connection failures of its own without any code; these are matched by their
 * fixed texts, as the one exception to classifying by code.
 */
const PG_CLIENT_CONNECTION_ERRORS = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
];

const TRANSIENT_SQLSTATE = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300', '53400']);

/**
 * True for database errors worth retrying after a pause: connection failures (SQLSTATE class 08, or a
 * socket error), serialization failures and deadlocks, shutdowns and "too many connections". Classifies
 * by SQLSTATE and errno; only node-postgres's own code-less connection errors are recognised by their text.
 *
 * @example
 * catch (err) { if (isTransientDatabaseError(err)) return { statusCode: 503, headers: { 'Retry-After': '5' } }; throw err; }
 */
export function isTransientDatabaseError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return err instanceof Error && PG_CLIENT_CONNECTION_ERRORS.some((re) => re.test(err.message));
  if (code.startsWith('08') || TRANSIENT_SQLSTATE.has(code)) return true;
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
}
