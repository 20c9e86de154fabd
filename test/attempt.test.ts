/**
 * One attempt, on its own: no database, no drain. The steps live in a map; the lease keeper is a stub.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../src/define.js';
import { JobCancelledError, LeaseLostError } from '../src/errors.js';
import { defineHandler, type JobHandler } from '../src/handler.js';
import type { Logger } from '../src/logger.js';
import type { StepRow } from '../src/sql/steps.js';
import { type AttemptDeps, runAttempt } from '../src/worker/attempt.js';
import type { HeldJob } from '../src/worker/context.js';

const job = defineJob({ type: 'unit_job', schema: z.object({ n: z.number() }), queue: 'unit', timeout: 100, maxAttempts: 2 });

function held(over: { attempt?: number; payload?: unknown; cancelRequested?: boolean } = {}): HeldJob {
  const row = {
    id: '1',
    type: 'unit_job',
    queue: 'unit',
    priority: 0,
    attempt: over.attempt ?? 1,
    max_attempts: 2,
    cancel_requested: over.cancelRequested ?? false,
    created_at: new Date(),
    run_at: new Date(),
    payload: over.payload ?? { n: 1 },
  };
  return { row, token: 't', controller: new AbortController(), lost: false, cancelRequested: row.cancel_requested, leaseSentAt: 0 };
}

/** Deps with an in-memory step store and a logger that keeps its lines. */
function deps(handler: JobHandler) {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const stored: StepRow[] = [];
  const d: AttemptDeps = {
    queue: 'unit',
    handlers: new Map([[handler.definition.type, handler]]),
    steps: {
      loadSteps: async () => stored,
      saveStep: async (s) => {
        stored.push({ name: s.name, seq: s.seq, result: JSON.parse(s.resultJson ?? 'null') });
        return true;
      },
    },
    logger,
    maxErrorMessageLength: 1000,
    maxResultBytes: 64,
    timeLeftMs: () => 10_000,
    heartbeat: async () => {},
  };
  const failures = () => lines.filter((l) => l.message.startsWith('job attempt failed'));
  return { d, lines, failures };
}

describe('one attempt, without a database', () => {
  it("a handler's return value is the success's result, as JSON; one that cannot be stored fails the attempt for good", async () => {
    const returning = (value: unknown) => deps(defineHandler(job, () => value as never)).d;
    assert.deepEqual(await runAttempt(held(), returning({ sent: 3, to: ['a'] })), {
      kind: 'success',
      delaySeconds: 0,
      error: null,
      resultJson: '{"sent":3,"to":["a"]}',
    });
    assert.equal(((await runAttempt(held(), returning(null))) as { resultJson?: string }).resultJson, 'null', 'null is a result');
    const refused = async (value: unknown) => {
      const r = await runAttempt(held(), returning(value));
      assert.ok(r !== 'lost' && r.kind === 'dead', `${String(value)}: ${JSON.stringify(r)}`);
      return String(r.error?.message);
    };
    assert.match(await refused('x'.repeat(100)), /result is 102 bytes of JSON; maxResultBytes is 64/);
    assert.match(await refused({ n: 1n }), /not JSON-serialisable: Do not know how to serialize a BigInt/);
    assert.match(await refused(() => 1), /result \(a function\) is not JSON-serialisable/);
    assert.match(await refused({ s: 'a\u0000b' }), /NUL/);
    assert.match(await refused({ s: '\ud800' }), /lone UTF-16 surrogate/);
  });

  it('a handler that returns is a success, timed from its start', async () => {
    const { d, failures } = deps(defineHandler(job, () => {}));
    const j = held();
    assert.deepEqual(await runAttempt(j, d), { kind: 'success', delaySeconds: 0, error: null });
    assert.equal(typeof j.startedAt, 'number');
    assert.equal(failures().length, 0);
  });

  it('a handler that outlives its timeout sees ctx.signal abort and is retried, with one warning', async () => {
    let reason: unknown;
    const h = defineHandler(
      job,
      (_, ctx) =>
        new Promise<void>(() =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
          }),
        ),
    );
    const { d, failures } = deps(h);
    const result = await runAttempt(held(), d);
    assert.ok(result !== 'lost' && result.kind === 'retry', JSON.stringify(result));
    assert.equal(result.error?.name, 'JobTimeoutError');
    assert.equal((reason as Error).name, 'JobTimeoutError');
    assert.deepEqual(
      failures().map((l) => [l.level, l.message]),
      [['warn', 'job attempt failed: retry']],
    );
  });

  it('a job dying on its final attempt has its completed steps compensated first, with one error line', async () => {
    const undone: string[] = [];
    const h = defineHandler(job, async (_, ctx) => {
      await ctx.step('charge', () => 'ch_1', { compensate: (id) => void undone.push(id) });
      throw new Error('ship failed');
    });
    const { d, failures } = deps(h);
    const result = await runAttempt(held({ attempt: 2 }), d);
    assert.ok(result !== 'lost' && result.kind === 'dead');
    assert.deepEqual(result.error?.compensated, ['charge']);
    assert.deepEqual(undone, ['ch_1']);
    assert.deepEqual(
      failures().map((l) => [l.level, l.message]),
      [['error', 'job attempt failed: dead']],
    );
  });

  it('a cancel asked before the start, or a payload that no longer parses, ends the attempt without running the handler', async () => {
    let ran = false;
    const { d } = deps(
      defineHandler(job, () => {
        ran = true;
      }),
    );
    assert.equal(((await runAttempt(held({ cancelRequested: true }), d)) as { kind: string }).kind, 'cancelled');
    assert.equal(((await runAttempt(held({ payload: { n: 'x' } }), d)) as { kind: string }).kind, 'dead');
    assert.equal(ran, false);
  });

  it('a lease lost mid-run, or a cancel, aborts the attempt: lost writes nothing, a cancel ends cancelled', async () => {
    const h = defineHandler(
      job,
      (_, ctx) => new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    const { d } = deps(h);
    const lost = held();
    setTimeout(() => {
      lost.lost = true;
      lost.controller.abort(new LeaseLostError('gone'));
    }, 10);
    assert.equal(await runAttempt(lost, d), 'lost');
    const cancelled = held();
    setTimeout(() => cancelled.controller.abort(new JobCancelledError('cancelled')), 10);
    assert.equal(((await runAttempt(cancelled, d)) as { kind: string }).kind, 'cancelled');
  });
});
