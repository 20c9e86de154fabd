/**
 * Example handlers: worker code only. The "services" here are simulated (they log what a real one would
 * do), so a first run does visible work without credentials.
 */
import { defineHandler, PermanentJobError } from '../src/index.js';
import { processOrder, sendEmail } from './definitions.js';

export const sendEmailHandler = defineHandler(sendEmail, async ({ to, template, userId }, ctx) => {
  if (to.endsWith('.invalid')) throw new PermanentJobError(`recipient domain does not accept mail: ${to.split('@')[1]}`);
  ctx.logger.info('email sent (simulated provider)', { template, user_id: userId });
});

export const processOrderHandler = defineHandler(processOrder, async ({ orderId }, ctx) => {
  const reservation = await ctx.step('reserve_inventory', () => ({ reservationId: `res-${orderId}` }), {
    compensate: (r) => ctx.logger.info('inventory released (simulated)', { reservation_id: r.reservationId }),
  });
  await ctx.step('confirm_order', () =>
    ctx.logger.info('order confirmed (simulated)', { order_id: orderId, reservation_id: reservation.reservationId }),
  );
});

export const handlers = [sendEmailHandler, processOrderHandler];
