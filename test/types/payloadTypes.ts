/**
 * Type tests, checked by `npm run typecheck` (part of `npm test`): each `@ts-expect-error` line must be a
 * compile error, or the typecheck fails ("unused @ts-expect-error"). Nothing here runs.
 */
import type pg from 'pg';
import { z } from 'zod';
import { defineJob } from '../../src/define.js';
import { enqueueItem } from '../../src/enqueue.js';
import { defineHandler } from '../../src/handler.js';
import type { Sluice } from '../../src/sluice.js';

const sendEmail = defineJob({ type: 'send_email', schema: z.object({ userId: z.string(), retries: z.number().default(0) }) });

export async function typeTests(sluice: Sluice, client: pg.PoolClient) {
  await sluice.enqueue(sendEmail, { userId: 'u1' }); // defaults may be omitted on input
  await sluice.enqueue(sendEmail, { userId: 'u1', retries: 2 }, { client, idempotencyKey: 'k' });
  // @ts-expect-error: userId must be a string
  await sluice.enqueue(sendEmail, { userId: 1 });
  // @ts-expect-error: userId is required
  await sluice.enqueue(sendEmail, {});
  // @ts-expect-error: priority is a number
  await sluice.enqueue(sendEmail, { userId: 'u1' }, { priority: 'high' });
  // @ts-expect-error: wrong payload in a batch item
  enqueueItem(sendEmail, { user: 'u1' });

  defineHandler(sendEmail, (payload) => {
    const id: string = payload.userId;
    const n: number = payload.retries; // the handler sees parsed output: defaults applied
    // @ts-expect-error: no such field on the payload
    payload.email;
    void id;
    void n;
  });
}
