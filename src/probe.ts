import { z } from 'zod';
import { defineJob } from './define.js';
import { PermanentJobError } from './errors.js';
import { defineHandler } from './handler.js';

/**
 * The probe job `sluice smoke` sends to prove a deployment works: it succeeds, returning its probe id (or,
 * asked to, dies at once, for the dead-letter round trip). The Lambda API accepts it and every Lambda
 * worker runs it, beside the app's own types; send it to a queue with `options.queue`. Its own queue,
 * `sluice-probe`, has no worker: a probe always names the queue it checks.
 */
export const probeJob = defineJob({
  type: 'sluice.probe',
  schema: z.object({ probe: z.string().min(1).max(100), fail: z.boolean().default(false) }).strict(),
  queue: 'sluice-probe',
  maxAttempts: 1,
  timeout: 10_000,
});

/** Runs `probeJob`: its result names the probe and the queue it ran on. */
export const probeHandler = defineHandler(probeJob, (p, ctx) => {
  if (p.fail) throw new PermanentJobError(`probe ${p.probe}: asked to fail (a dead-letter round trip)`);
  return { probe: p.probe, queue: ctx.queue, traceId: ctx.trace?.traceId ?? null };
});
