/**
 * The example jobs show the design note's patterns; these tests hold them to it: transient vs permanent
 * errors, durable steps, bounded and idempotent fan-out, a saga that compensates, a long job that stops
 * when cancelled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateReport, onUserSignup, processPayment, sendEmail } from '../examples/definitions.js';
import { createHandlers, type Enqueuer } from '../examples/handlers.js';
import type { Logger } from '../src/index.js';
import { sleep, testSluice } from './helpers/db.js';

function recordingLogger() {
  const lines: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const log = (message: string, fields?: Record<string, unknown>) => void lines.push({ message, ...(fields ? { fields } : {}) });
  const logger: Logger = { debug: log, info: log, warn: log, error: log };
  return { logger, lines };
}

describe('example jobs', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice();
  // A limited job (send_email) waits parked: its due time is on its flow row, and its live row stays parked.
  const dueNow = async (id: string) => {
    await pool.query(`UPDATE "${schema}".active_jobs SET run_at = now() WHERE id = $1 AND run_at <> 'infinity'`, [id]);
    await pool.query(`UPDATE "${schema}".flow_jobs SET run_at = now() WHERE job_id = $1`, [id]);
  };
  const drain = (queue: string, enqueue: Enqueuer = sluice, logger?: Logger) =>
    sluice
      .worker({ queue, handlers: createHandlers({ enqueue }), ...(logger ? { logger } : {}), leaseMs: 2_000 })
      .drain({ remainingTimeMs: 300_000 });

  it('send_email: a refused domain is dead at once; a flaky provider retries until it works', async () => {
    const refused = await sluice.enqueue(sendEmail, { userId: 'e1', to: 'a@nowhere.invalid', template: 'welcome' });
    const flaky = await sluice.enqueue(sendEmail, { userId: 'e2', to: 'b@flaky.example', template: 'receipt' });
    await drain('emails');
    const dead = await sluice.getJob(refused.id);
    assert.deepEqual([dead?.state, dead?.attempt], ['dead', 1]);
    for (let i = 0; i < 3 && (await sluice.getJob(flaky.id))?.state !== 'succeeded'; i++) {
      await dueNow(flaky.id);
      await drain('emails');
    }
    const ok = await sluice.getJob(flaky.id);
    assert.deepEqual([ok?.state, ok?.attempt], ['succeeded', 3]);
  });

  it('send_email: a 429 snoozes the job, attempt unspent, and cools its domain down; the next drain waits it out', async () => {
    const first = await sluice.enqueue(sendEmail, { userId: 'e3', to: 'c@busy.example', template: 'receipt' });
    const limited = await drain('emails');
    assert.deepEqual([limited.succeeded, limited.snoozed], [0, 1], JSON.stringify(limited));
    // Another send to the domain, due now, waits for the cooldown (Retry-After: 2 s), within the drain.
    const second = await sluice.enqueue(sendEmail, { userId: 'e4', to: 'd@busy.example', template: 'receipt' });
    const t0 = Date.now();
    const summary = await drain('emails');
    assert.ok(summary.succeeded >= 1, JSON.stringify(summary));
    assert.ok(Date.now() - t0 >= 1_500, `it waited for the cooldown (${Date.now() - t0} ms)`);
    for (let i = 0; i < 3 && (await sluice.getJob(first.id))?.state !== 'succeeded'; i++) {
      await dueNow(first.id);
      await drain('emails');
    }
    for (const j of [first, second]) {
      const v = await sluice.getJob(j.id);
      assert.deepEqual([v?.state, v?.attempt], ['succeeded', 1]);
    }
    const kinds = (await sluice.jobTimeline(first.id)).map((e) => (e.kind === 'attempt' ? e.outcome : e.kind));
    assert.deepEqual(kinds, ['snoozed', 'succeeded']);
  });

  it('on_user_signup: enqueues its bounded follow-ups once, even when it fails after enqueuing and retries', async () => {
    const signup = await sluice.enqueue(onUserSignup, { userId: 's1', email: 's1@example.com' });
    let crash = true;
    const crashing: Enqueuer = {
      enqueueMany: async (items) => {
        const jobs = await sluice.enqueueMany(items);
        if (crash) {
          crash = false;
          throw new Error('lost the connection after the commit (simulated)');
        }
        return jobs;
      },
    };
    await drain('default', crashing);
    assert.equal((await sluice.getJob(signup.id))?.state, 'scheduled', 'the failed attempt will retry after its backoff');
    await dueNow(signup.id);
    await drain('default', crashing);
    assert.equal((await sluice.getJob(signup.id))?.state, 'succeeded');
    const children = await pool.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM "${schema}".jobs WHERE idempotency_key LIKE $1 GROUP BY type ORDER BY type`,
      [`signup:${signup.id}:%`],
    );
    assert.deepEqual(children.rows, [
      { type: 'generate_report', n: 1 },
      { type: 'send_email', n: 2 },
    ]);
  });

  it('process_payment: a declined capture kills the job and voids the authorization; a good one records all steps', async () => {
    const { logger, lines } = recordingLogger();
    const declined = await sluice.enqueue(processPayment, { paymentId: 'p1', amountCents: 1200, currency: 'EUR', declineCapture: true });
    const paid = await sluice.enqueue(processPayment, { paymentId: 'p2', amountCents: 990, currency: 'USD' });
    await drain('default', sluice, logger);
    assert.equal((await sluice.getJob(declined.id))?.state, 'dead');
    assert.equal((await sluice.getJob(paid.id))?.state, 'succeeded');
    const voided = lines.filter((l) => l.message === 'authorization voided (simulated)');
    assert.deepEqual(
      voided.map((l) => l.fields?.authorization_id),
      ['auth-p1'],
    );
    const steps = await pool.query<{ name: string }>(`SELECT name FROM "${schema}".job_steps WHERE job_id = $1 ORDER BY seq`, [paid.id]);
    assert.deepEqual(
      steps.rows.map((r) => r.name),
      ['authorize', 'capture', 'record_ledger'],
    );
  });

  it('generate_report: runs past its lease on heartbeats, and stops promptly when cancelled', async () => {
    const long = await sluice.enqueue(generateReport, { reportId: 'r1', pages: 8 });
    const draining = drain('reports');
    await sleep(1_000);
    assert.equal((await sluice.getJob(long.id))?.state, 'running');
    const started = Date.now();
    assert.deepEqual(await sluice.cancel([long.id]), { [long.id]: 'cancelling' });
    await draining;
    assert.equal((await sluice.getJob(long.id))?.state, 'cancelled');
    assert.ok(Date.now() - started < 2_000, 'the handler honoured its signal');
    const done = await sluice.enqueue(generateReport, { reportId: 'r2', pages: 6 }); // 2.4 s against a 2 s lease
    await drain('reports');
    const view = await sluice.getJob(done.id);
    assert.deepEqual([view?.state, view?.attempt], ['succeeded', 1]);
  });
});
