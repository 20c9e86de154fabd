import type { AttemptTracing } from './tracing.js';

/**
 * The part of `@opentelemetry/api` this file uses, so that sluice needs no OpenTelemetry package of its
 * own: the host passes the one it has registered its SDK with.
 */
export interface OpenTelemetryApi {
  trace: {
    getTracer(
      name: string,
      version?: string,
    ): {
      startSpan(
        name: string,
        options?: { kind?: number; attributes?: Record<string, string | number | boolean> },
        context?: unknown,
      ): OtelSpan;
    };
    setSpanContext(context: unknown, spanContext: { traceId: string; spanId: string; traceFlags: number; isRemote?: boolean }): unknown;
    setSpan(context: unknown, span: OtelSpan): unknown;
  };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
}

interface OtelSpan {
  spanContext(): { traceId: string; spanId: string; traceFlags: number };
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

const SPAN_KIND_CONSUMER = 4;
const STATUS_ERROR = 2;
const INVALID_SPAN = '0000000000000000';

/**
 * Attempt spans through the OpenTelemetry API the host registered (its SDK, exporter and sampler): each
 * attempt is a CONSUMER span named `<type> process`, a child of the job's stored trace context (the
 * request's span), and current while the handler runs, so the handler's instrumented calls hang under it.
 * Attributes follow OpenTelemetry's messaging conventions (`messaging.system` `sluice`, the queue as
 * `messaging.destination.name`, the job id as `messaging.message.id`), plus `sluice.job.type`,
 * `sluice.attempt` and `sluice.outcome`; a retry, a dead letter or a lost lease sets the span's status to
 * error.
 *
 * @example
 * import * as otel from '@opentelemetry/api';
 * const worker = sluice.worker({ queue: 'emails', handlers, tracing: openTelemetryTracing(otel) });
 */
export function openTelemetryTracing(api: OpenTelemetryApi, options: { tracerName?: string } = {}): AttemptTracing {
  const tracer = api.trace.getTracer(options.tracerName ?? 'sluice');
  return {
    start(info) {
      let parent = api.context.active();
      if (info.trace) {
        parent = api.trace.setSpanContext(parent, {
          traceId: info.trace.traceId,
          spanId: info.trace.parentId,
          traceFlags: info.trace.sampled ? 1 : 0,
          isRemote: true,
        });
      }
      const span = tracer.startSpan(
        `${info.type} process`,
        {
          kind: SPAN_KIND_CONSUMER,
          attributes: {
            'messaging.system': 'sluice',
            'messaging.operation.type': 'process',
            'messaging.destination.name': info.queue,
            'messaging.message.id': info.jobId,
            'sluice.job.type': info.type,
            'sluice.attempt': info.attempt,
            'sluice.max_attempts': info.maxAttempts,
          },
        },
        parent,
      );
      const own = span.spanContext();
      const current = api.trace.setSpan(parent, span);
      return {
        trace:
          own.spanId === INVALID_SPAN ? undefined : { traceId: own.traceId, parentId: own.spanId, sampled: (own.traceFlags & 1) === 1 },
        run: (fn) => api.context.with(current, fn),
        end({ outcome, error }) {
          span.setAttribute('sluice.outcome', outcome);
          if (outcome === 'retry' || outcome === 'dead' || outcome === 'lost') {
            span.setStatus({ code: STATUS_ERROR, message: error?.message ?? outcome });
          }
          span.end();
        },
      };
    },
  };
}
