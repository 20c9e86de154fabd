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

/** The parts of an error worth logging or storing: never a payload. */
export function errorFields(err: unknown, maxMessageLength = 2048): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
      message: truncate(err.message, maxMessageLength),
    };
  }
  return { name: 'NonError', message: truncate(String(err), maxMessageLength) };
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
