import { LONE_SURROGATE } from './text.js';

/**
 * The logger sluice writes to: structured, one object of fields per line. Powertools for AWS Lambda's
 * `Logger`, pino (`(obj, msg)` aside) and `console` adapters all fit. Job lines carry `job_id`,
 * `job_type` and `attempt`; payloads are never logged.
 *
 * @example
 * const logger: Logger = { debug() {}, info: (m, f) => console.log(JSON.stringify({ level: 'info', message: m, ...f })),
 *   warn: (m, f) => console.warn(JSON.stringify({ level: 'warn', message: m, ...f })),
 *   error: (m, f) => console.error(JSON.stringify({ level: 'error', message: m, ...f })) };
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Discards everything: the default. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Fields that identify a job in every log line about it. */
export function jobFields(job: { id: string; type: string; attempt: number }): Record<string, unknown> {
  return { job_id: job.id, job_type: job.type, attempt: job.attempt };
}

/** The parts of an error worth logging or storing: never a payload. Safe to store as jsonb. */
export function errorFields(err: unknown, maxMessageLength = 2048): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: truncate(err.name, 200),
      ...(typeof code === 'string' || typeof code === 'number' ? { code: truncate(String(code), 200) } : {}),
      message: truncate(err.message, maxMessageLength),
    };
  }
  return { name: 'NonError', message: truncate(String(err), maxMessageLength) };
}

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * Cut text to at most `max` characters on a code-point boundary, without NUL characters or lone
 * surrogates (which jsonb refuses), marking a cut with an ellipsis.
 */
export function truncate(text: string, max: number): string {
  const clean = String(text).replaceAll('\u0000', '').replace(LONE_SURROGATES, '\uFFFD');
  if (clean.length <= max) return clean;
  let end = max - 1;
  const code = clean.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--; // do not split a surrogate pair
  return `${clean.slice(0, end)}…`;
}
