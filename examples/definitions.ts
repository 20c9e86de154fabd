/**
 * Example job types: what producers import (the API validates against these very schemas). Replace them
 * with your own; keep definitions apart from handlers so producers never bundle handler code.
 */

import { defineJob, retryPresets } from 'sluice';
import { z } from 'zod';

/** Send one templated email. Transient provider errors retry; a rejected address is permanent. */
export const sendEmail = defineJob({
  type: 'send_email',
  schema: z.object({
    userId: z.string().min(1).max(128),
    to: z.email().max(254),
    template: z.enum(['welcome', 'password_reset', 'receipt', 'getting_started']),
  }),
  queue: 'emails',
  timeout: 15_000,
  ...retryPresets.network,
  // The provider takes 20 sends at once from us, and mail servers frown on more than 2 at once to one domain.
  limits: { concurrency: 20, key: (p) => p.to.slice(p.to.lastIndexOf('@') + 1).toLowerCase(), perKey: { concurrency: 2 } },
});

/** Process a placed order: idempotent by order id, with durable steps. Store ids, not objects. */
export const processOrder = defineJob({
  type: 'process_order',
  schema: z.object({ orderId: z.string().min(1).max(64) }),
  queue: 'default',
  timeout: 30_000,
  ...retryPresets.externalApi,
});

/** Build a report page by page: long-running, so it heartbeats and honours cancellation. */
export const generateReport = defineJob({
  type: 'generate_report',
  schema: z.object({ reportId: z.string().min(1).max(64), pages: z.number().int().min(1).max(200).default(5) }),
  queue: 'reports',
  timeout: 240_000,
  maxAttempts: 3,
});

/** A new user signed up: fan out a bounded set of follow-up jobs, once, however often this job retries. */
export const onUserSignup = defineJob({
  type: 'on_user_signup',
  schema: z.object({ userId: z.string().min(1).max(128), email: z.email().max(254) }),
  queue: 'default',
  timeout: 10_000,
  ...retryPresets.network,
});

/** Take a payment as a saga: authorize, capture, record; a permanent failure undoes the steps taken. */
export const processPayment = defineJob({
  type: 'process_payment',
  schema: z.object({
    paymentId: z.string().min(1).max(64),
    amountCents: z.number().int().min(1).max(100_000_000),
    currency: z.enum(['EUR', 'USD', 'GBP']),
    /** For trying the saga out: the card network declines the capture (permanently). */
    declineCapture: z.boolean().default(false),
  }),
  queue: 'default',
  timeout: 30_000,
  ...retryPresets.externalApi,
});

export const definitions = [sendEmail, processOrder, generateReport, onUserSignup, processPayment];
