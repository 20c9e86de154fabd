/**
 * Example handlers: worker code only. The "services" here are simulated (they log what a real one would
 * do), so a first run does visible work without credentials.
 */
import { defineHandler, type EnqueueItem, enqueueItem, PermanentJobError, RateLimitedError, RetryableJobError } from 'sluice';
import { generateReport, onUserSignup, processOrder, processPayment, sendEmail } from './definitions.js';

/**
 * What the fan-out example needs: a Sluice, or anything with the same `enqueueMany` — on Lambda, the
 * worker's own enqueuer (`createWorkerHandler({ handlers: ({ enqueue }) => … })`), which wakes the queues.
 */
export interface Enqueuer {
  enqueueMany(items: readonly EnqueueItem[]): Promise<unknown>;
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** The simulated provider's 429: the first send to `@busy.example` in each ten seconds is refused. */
let busyUntil = 0;

/**
 * Transient vs permanent: a refused domain never succeeds (dead letter at once); a flaky provider retries.
 * A 429 (`@busy.example`, simulated) snoozes the job without spending an attempt and cools its recipient
 * domain down for every worker until `Retry-After` (RateLimitedError: the other Lambdas stop sending too).
 */
export const sendEmailHandler = defineHandler(sendEmail, async ({ to, template, userId }, ctx) => {
  const domain = to.split('@')[1] ?? '';
  if (domain.endsWith('.invalid')) throw new PermanentJobError('recipient domain does not accept mail (a .invalid domain)'); // no address: errors are stored and alarmed on
  if (domain === 'flaky.example' && ctx.attempt < 3) throw new RetryableJobError('mail provider timed out (simulated)');
  if (domain === 'busy.example' && Date.now() >= busyUntil) {
    busyUntil = Date.now() + 10_000;
    throw new RateLimitedError({ retryAfter: '2' }); // as from `res.headers.get('retry-after')`
  }
  await pause(50, ctx.signal);
  ctx.logger.info('email sent (simulated provider)', { template, user_id: userId });
});

/**
 * Idempotent with durable steps: a retry skips the steps already done. The receipt is enqueued exactly once,
 * in one transaction with this job's success (`ctx.transaction`): if this worker lost the job to another, the
 * transaction rolls back and no receipt is sent twice. An app's own writes (`tx.query`) would commit with it.
 */
export const processOrderHandler = defineHandler(processOrder, async ({ orderId }, ctx) => {
  const reservation = await ctx.step('reserve_inventory', () => ({ reservationId: `res-${orderId}` }), {
    compensate: (r) => ctx.logger.info('inventory released (simulated)', { reservation_id: r.reservationId }),
  });
  await ctx.step('confirm_order', () =>
    ctx.logger.info('order confirmed (simulated)', { order_id: orderId, reservation_id: reservation.reservationId }),
  );
  return ctx.transaction(async (tx) => {
    const receipt = await tx.enqueue(sendEmail, { userId: `order-${orderId}`, to: `orders@example.com`, template: 'receipt' });
    return { reservationId: reservation.reservationId, receiptJob: receipt.id };
  });
});

/** Long-running: a heartbeat per page keeps the lease; the signal stops it on timeout, cancel or shutdown. */
export const generateReportHandler = defineHandler(generateReport, async ({ reportId, pages }, ctx) => {
  for (let page = 1; page <= pages; page++) {
    await pause(400, ctx.signal); // rendering a page (simulated)
    await ctx.heartbeat();
  }
  ctx.logger.info('report ready (simulated storage)', { report_id: reportId, pages });
  // The job's result: `sluice jobs get <id>`, GET /v1/jobs/{id} and the console show where the report is.
  return { location: `reports/${reportId}.pdf`, pages };
});

/**
 * Bounded fan-out: a fixed set of follow-ups, enqueued in one statement with keys derived from this job's
 * id, so a retry of this job (or a duplicate delivery) never enqueues them twice.
 */
export function onUserSignupHandler(sluice: Enqueuer) {
  return defineHandler(onUserSignup, async ({ userId, email }, ctx) => {
    const key = (what: string) => `signup:${ctx.id}:${what}`;
    await sluice.enqueueMany([
      enqueueItem(sendEmail, { userId, to: email, template: 'welcome' }, { idempotencyKey: key('welcome') }),
      enqueueItem(sendEmail, { userId, to: email, template: 'getting_started' }, { idempotencyKey: key('tips'), delayMs: 60_000 }),
      enqueueItem(generateReport, { reportId: `onboarding-${userId}`, pages: 3 }, { idempotencyKey: key('report') }),
    ]);
    ctx.logger.info('signup follow-ups enqueued', { user_id: userId, count: 3 });
  });
}

/**
 * A saga: each step is durable and names its compensation. When the job dies (a permanent error, or its
 * last attempt fails), the steps it completed are undone in reverse order.
 */
export const processPaymentHandler = defineHandler(processPayment, async ({ paymentId, amountCents, currency, declineCapture }, ctx) => {
  const auth = await ctx.step('authorize', () => ({ authorizationId: `auth-${paymentId}`, amountCents, currency }), {
    compensate: (a) => ctx.logger.info('authorization voided (simulated)', { authorization_id: a.authorizationId }),
  });
  await ctx.step('capture', () => {
    if (declineCapture) throw new PermanentJobError('card network declined the capture (simulated)');
    return { captureId: `cap-${paymentId}`, authorizationId: auth.authorizationId };
  });
  await ctx.step('record_ledger', () =>
    ctx.logger.info('payment recorded (simulated ledger)', { payment_id: paymentId, amount_cents: amountCents }),
  );
});

/** Every handler the workers run. `sluice` lets handlers enqueue follow-up jobs. */
export function createHandlers(deps: { enqueue: Enqueuer }) {
  return [sendEmailHandler, processOrderHandler, generateReportHandler, onUserSignupHandler(deps.enqueue), processPaymentHandler];
}
