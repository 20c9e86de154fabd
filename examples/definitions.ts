/**
 * Example job types: what producers import (the API validates against these very schemas). Replace them
 * with your own; keep definitions apart from handlers so producers never bundle handler code.
 */
import { z } from 'zod';
import { defineJob, retryPresets } from '../src/index.js';

/** Send one templated email. Transient provider errors retry; a rejected address is permanent. */
export const sendEmail = defineJob({
  type: 'send_email',
  schema: z.object({
    userId: z.string().min(1).max(128),
    to: z.email().max(254),
    template: z.enum(['welcome', 'password_reset', 'receipt']),
  }),
  queue: 'emails',
  timeout: 15_000,
  ...retryPresets.network,
});

/** Process a placed order: idempotent by order id, with durable steps. Store ids, not objects. */
export const processOrder = defineJob({
  type: 'process_order',
  schema: z.object({ orderId: z.string().min(1).max(64) }),
  queue: 'default',
  timeout: 30_000,
  ...retryPresets.externalApi,
});

export const definitions = [sendEmail, processOrder];
