import type { HandlerFn, JobContext, Middleware } from './handler.js';
import { errorFields, jobFields, type Logger } from './logger.js';

/**
 * Compose middleware around a handler; the first runs outermost.
 *
 * @example
 * defineHandler(sendEmail, chain(metricsMiddleware(callbacks), loggingMiddleware(logger))(sendEmailFn));
 */
export function chain(...middleware: Middleware[]): <P>(handler: HandlerFn<P>) => HandlerFn<P> {
  return <P>(handler: HandlerFn<P>) =>
    middleware.reduceRight<HandlerFn<unknown>>((next, mw) => mw(next), handler as HandlerFn<unknown>) as HandlerFn<P>;
}

/** Callbacks for your metrics system. Durations are in milliseconds. */
export interface MetricsCallbacks {
  onJobStarted?(type: string, ctx: JobContext): void | Promise<void>;
  onJobCompleted?(type: string, durationMs: number, ctx: JobContext): void | Promise<void>;
  onJobFailed?(type: string, durationMs: number, error: unknown, ctx: JobContext): void | Promise<void>;
}

/**
 * Report each run's start, success and failure with its duration. A throwing callback never fails a job.
 *
 * @example
 * metricsMiddleware({ onJobCompleted: (type, ms) => metrics.addMetric('JobDurationMs', 'Milliseconds', ms) })
 */
export function metricsMiddleware(callbacks: MetricsCallbacks): Middleware {
  // Metrics must never change a job's outcome, nor crash the process: catch sync throws and async rejections.
  const safe = (fn: () => unknown) => {
    try {
      const result = fn();
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // ignored, as above
    }
  };
  return (next) => async (payload, ctx) => {
    const start = performance.now();
    safe(() => callbacks.onJobStarted?.(ctx.type, ctx));
    let result: unknown;
    try {
      result = await next(payload, ctx);
    } catch (err) {
      safe(() => callbacks.onJobFailed?.(ctx.type, performance.now() - start, err, ctx));
      throw err;
    }
    safe(() => callbacks.onJobCompleted?.(ctx.type, performance.now() - start, ctx));
    return result; // the job's result passes through
  };
}

/**
 * Log each run's start and end with `job_id`, `job_type`, `attempt` and the duration. Never logs payloads.
 *
 * @example
 * defineHandler(report, chain(loggingMiddleware(logger))(generateReport));
 */
export function loggingMiddleware(logger: Logger): Middleware {
  return (next) => async (payload, ctx) => {
    const fields = { ...jobFields(ctx), queue: ctx.queue };
    const start = performance.now();
    logger.info('job started', fields);
    let result: unknown;
    try {
      result = await next(payload, ctx);
    } catch (err) {
      logger.warn('job failed', { ...fields, duration_ms: Math.round(performance.now() - start), error: errorFields(err) });
      throw err;
    }
    logger.info('job succeeded', { ...fields, duration_ms: Math.round(performance.now() - start) });
    return result; // the job's result passes through, never logged
  };
}
