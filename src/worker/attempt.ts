import { JobCancelledError, JobTimeoutError, LeaseLostError, PermanentJobError, SluiceError } from '../errors.js';
import type { JobHandler } from '../handler.js';
import { errorFields, jobFields, type Logger } from '../logger.js';
import { describeIssues } from '../text.js';
import { AttemptContext, type HeldJob } from './context.js';
import { type Decision, decide } from './decide.js';
import { storableResult } from './results.js';
import type { WorkerStore } from './store.js';
import type { TransactionOps } from './transaction.js';

/** What one attempt needs; nothing here touches the queue's tables but through `steps`. */
export interface AttemptDeps {
  queue: string;
  handlers: ReadonlyMap<string, JobHandler>;
  steps: Pick<WorkerStore, 'loadSteps' | 'saveStep'>;
  logger: Logger;
  maxErrorMessageLength: number;
  /** The largest result a handler may return, in bytes of JSON. */
  maxResultBytes: number;
  /** Milliseconds the drain has left for this job's own clean-up (the time left less the reserve). */
  timeLeftMs: () => number;
  /** `ctx.heartbeat()`: the lease keeper's. */
  heartbeat: (job: HeldJob) => Promise<void>;
  /** `ctx.transaction`'s connection and statements; absent when the database lends no connection. */
  transaction?: TransactionOps | undefined;
}

/** The outcome to write for an attempt, or `lost` when its lease was lost (nothing may be written). */
export type AttemptResult = Decision | 'lost';

/** How long a job that timed out on its final attempt may take to settle before its compensations run. */
const COMPENSATION_GRACE_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run one attempt of a claimed job and decide its outcome. Before the handler: a requested cancel, a
 * missing handler, spent attempts and a payload that no longer parses each end the attempt. The handler
 * runs until it returns, throws, or `ctx.signal` aborts (its timeout, a cancel, a lost lease). A job that
 * dies has its completed steps compensated first; each failed attempt logs one line (error when dead,
 * warning otherwise). Never throws for a handler's error.
 */
export async function runAttempt(job: HeldJob, deps: AttemptDeps): Promise<AttemptResult> {
  const { row } = job;
  const maxLen = deps.maxErrorMessageLength;
  if (job.lost) return 'lost';
  if (job.cancelRequested)
    return decide(new JobCancelledError('cancelled before it started'), row.attempt, row.max_attempts, undefined, maxLen);
  const handler = deps.handlers.get(row.type);
  if (!handler) {
    const err = new SluiceError(`no handler registered for job type ${JSON.stringify(row.type)} on queue ${JSON.stringify(deps.queue)}`);
    return decide(err, row.attempt, row.max_attempts, undefined, maxLen);
  }
  const def = handler.definition;
  const ctx = new AttemptContext({
    steps: deps.steps,
    job,
    logger: deps.logger,
    heartbeat: deps.heartbeat,
    transaction: deps.transaction,
    maxResultBytes: deps.maxResultBytes,
  });
  const fail = (err: unknown, decision: Decision) => failed(job, ctx, err, decision, deps, def.timeout);
  if (row.attempt > row.max_attempts) {
    const err = new PermanentJobError(`attempts exhausted: the lease of attempt ${row.max_attempts} lapsed before it reported`);
    return fail(err, decide(err, row.attempt - 1, row.max_attempts, def, maxLen));
  }
  const parsed = def.schema.safeParse(row.payload);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error.issues, '(root)');
    const err = new PermanentJobError(`stored payload no longer matches the schema of ${row.type}: ${issues}`);
    return fail(err, decide(err, row.attempt, row.max_attempts, def, maxLen));
  }
  const timer = setTimeout(() => job.controller.abort(new JobTimeoutError(`timed out after ${def.timeout} ms`)), def.timeout);
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(job.controller.signal.reason);
    if (job.controller.signal.aborted) onAbort();
    else job.controller.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  job.startedAt = performance.now();
  const running = Promise.resolve().then(() => handler.handle(parsed.data, ctx));
  try {
    const value = await Promise.race([running, aborted]);
    if (job.recorded) return recordedSuccess(job);
    if (job.lost) return 'lost';
    return success(storableResult(value, deps.maxResultBytes));
  } catch (err) {
    if (job.recorded) {
      // ctx.transaction committed the success: the job is done, whatever the handler did after it.
      deps.logger.warn('handler failed after its ctx.transaction committed; the job succeeded', {
        ...jobFields(row),
        error: errorFields(err, maxLen),
      });
      return recordedSuccess(job);
    }
    if (job.lost || err instanceof LeaseLostError) return 'lost';
    const decision = decide(err, row.attempt, row.max_attempts, def, maxLen);
    if (decision.kind === 'dead' && job.controller.signal.aborted) {
      // Aborted (timed out) on the final attempt: give a step in flight a moment to land, so it is compensated too.
      await Promise.race([running.catch(() => {}), sleep(Math.min(COMPENSATION_GRACE_MS, Math.max(0, deps.timeLeftMs())))]);
    }
    return await fail(err, decision);
  } finally {
    clearTimeout(timer);
  }
}

/** A success, with its result when there is one (no `resultJson` key when there is none). */
function success(resultJson: string | undefined): Decision {
  const decision: Decision = { kind: 'success', delaySeconds: 0, error: null };
  return resultJson === undefined ? decision : { ...decision, resultJson };
}

/** The success `ctx.transaction` already wrote: the drain counts and reports it, and writes nothing. */
function recordedSuccess(job: HeldJob): Decision {
  return { ...success(job.recorded?.resultJson), recorded: true };
}

/**
 * A failed attempt: a dying job's completed steps are compensated first (each within the type's timeout
 * and the time left), then one log line.
 */
async function failed(
  job: HeldJob,
  ctx: AttemptContext,
  err: unknown,
  decision: Decision,
  deps: AttemptDeps,
  timeoutMs: number,
): Promise<Decision> {
  if (decision.kind === 'dead') {
    const { compensated, failures, notReached } = await ctx.compensate(Math.max(0, Math.min(timeoutMs, deps.timeLeftMs())));
    if (compensated.length > 0) decision.error = { ...decision.error, compensated };
    if (failures.length > 0) decision.error = { ...decision.error, compensationFailures: failures };
    if (notReached.length > 0) decision.error = { ...decision.error, uncompensatedSteps: notReached };
  }
  deps.logger[decision.kind === 'dead' ? 'error' : 'warn'](`job attempt failed: ${decision.kind}`, {
    ...jobFields(job.row),
    error: errorFields(err, deps.maxErrorMessageLength),
    delay_ms: Math.round(decision.delaySeconds * 1000),
  });
  return decision;
}
