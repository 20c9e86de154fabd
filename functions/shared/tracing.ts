/**
 * X-Ray spans for the worker's attempts, through Powertools Tracer and the X-Ray SDK under it. Each
 * attempt gets:
 * - a subsegment `## <type>` of the worker invocation's trace, annotated with the job, so the invocation's
 *   trace shows what it ran (and, as `sluice_trace_id`, which trace each job continues);
 * - when the job carries a sampled trace context: a segment `sluice <queue>` in that trace, a child of the
 *   span that enqueued it, so the request and the jobs it caused are one trace. It is current while the
 *   handler runs (the handler's traced calls hang under it), and follow-up jobs hang under it.
 * Both carry the annotations `sluice_job_id`, `sluice_job_type`, `sluice_queue`, `sluice_attempt` and
 * `sluice_outcome`; a retry, a dead letter or a lost lease marks them as errors. An invocation that runs
 * thousands of jobs records the first `maxSubsegments` of them in its own trace (default 200), so a sampled
 * invocation of a fast queue stays one readable trace; the segments in the jobs' own traces are bounded by
 * the producers' sampling instead.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import AWSXRay from 'aws-xray-sdk-core';
import { type AttemptTracing, xrayTraceId } from '../../src/index.js';

type SegmentLike = AWSXRay.Segment | AWSXRay.Subsegment;

let tracer: Tracer | undefined;

/**
 * The container's Powertools tracer (X-Ray; disabled outside Lambda and with `POWERTOOLS_TRACE_ENABLED=false`),
 * made on first use. It does not patch http or fetch: a handler that wants its calls traced wraps its
 * clients (`tracer.captureAWSv3Client`), and they hang under the attempt's segment. Only the worker loads
 * this module: the X-Ray SDK stays out of the API's bundle and its cold start.
 */
export function powertoolsTracer(): Tracer {
  tracer ??= new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice', captureHTTPsRequests: false });
  return tracer;
}

const FAILED = new Set(['retry', 'dead', 'lost']);

/**
 * The worker's attempt tracing over a Powertools tracer: none when the tracer is disabled (outside Lambda,
 * or `POWERTOOLS_TRACE_ENABLED=false`).
 *
 * @example
 * const tracer = new Tracer({ serviceName: 'sluice' });
 * sluice.worker({ queue, handlers, tracing: xrayTracing(tracer) });
 */
export function xrayTracing(
  tracer: Pick<Tracer, 'isTracingEnabled' | 'getSegment'>,
  options: { maxSubsegments?: number } = {},
): AttemptTracing {
  const max = options.maxSubsegments ?? 200;
  /** Subsegments added under each invocation's segment (the handler's, new each invocation). */
  const added = new WeakMap<object, number>();
  return {
    start(info) {
      if (!tracer.isTracingEnabled()) return undefined;
      const annotate = (s: SegmentLike) => {
        s.addAnnotation('sluice_job_id', info.jobId);
        s.addAnnotation('sluice_job_type', info.type);
        s.addAnnotation('sluice_queue', info.queue);
        s.addAnnotation('sluice_attempt', info.attempt);
      };
      const invocation = tracer.getSegment();
      const count = invocation ? (added.get(invocation) ?? 0) : 0;
      if (invocation) added.set(invocation, count + 1);
      const sub = invocation && count < max ? invocation.addNewSubsegment(`## ${info.type}`) : undefined;
      if (sub) {
        annotate(sub);
        if (info.trace) sub.addAnnotation('sluice_trace_id', xrayTraceId(info.trace));
      }
      // The job's own trace goes on only where the enqueuer sampled it (X-Ray's Sampled=1).
      const job = info.trace?.sampled
        ? new AWSXRay.Segment(`sluice ${info.queue}`, xrayTraceId(info.trace), info.trace.parentId)
        : undefined;
      if (job) annotate(job);
      const current = job ?? sub;
      return {
        trace: job && info.trace ? { traceId: info.trace.traceId, parentId: job.id, sampled: true } : info.trace,
        run: current
          ? (fn) =>
              AWSXRay.getNamespace().runAndReturn(() => {
                AWSXRay.setSegment(current);
                return fn();
              })
          : undefined,
        end({ outcome, error }) {
          for (const s of [job, sub]) {
            if (!s) continue;
            s.addAnnotation('sluice_outcome', outcome);
            if (FAILED.has(outcome)) {
              s.addErrorFlag();
              if (error?.message) s.addMetadata('error', { name: error.name, message: error.message, code: error.code }, 'sluice');
            }
            s.close();
          }
        },
      };
    },
  };
}
