/**
 * The lease keeper on its own: extends go to a counting stub, not a database.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobCancelledError, LeaseLostError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import type { HeldJob } from '../src/worker/context.js';
import { LeaseKeeper } from '../src/worker/leases.js';
import type { Lease } from '../src/worker/store.js';

function held(id: string, leaseSentAt: number): HeldJob {
  const row = {
    id,
    type: 't',
    queue: 'q',
    priority: 0,
    attempt: 1,
    max_attempts: 3,
    cancel_requested: false,
    created_at: new Date(),
    run_at: new Date(),
    payload: {},
  };
  return { row, token: `token-${id}`, controller: new AbortController(), lost: false, cancelRequested: false, leaseSentAt };
}

/** A keeper whose extends are counted; `answer` says which leases come back, and with a cancel asked. */
function keeper(heartbeatMs: number, answer: (leases: readonly Lease[]) => Array<[string, boolean]> = (l) => l.map((x) => [x.id, false])) {
  const sent: Array<readonly Lease[]> = [];
  const leases = new LeaseKeeper({
    extend: async (l) => {
      sent.push(l);
      await new Promise((r) => setTimeout(r, 5));
      return new Map(answer(l).map(([id, cancelRequested]) => [id, { cancelRequested }]));
    },
    leaseMs: heartbeatMs * 3,
    heartbeatMs,
    queue: 'q',
    logger: silentLogger,
  });
  return { leases, sent };
}

describe('lease keeping', () => {
  it('ctx.heartbeat() called N times within the heartbeat interval sends at most one extend', async () => {
    const { leases, sent } = keeper(10_000);
    const job = held('1', performance.now()); // just claimed
    leases.hold(job);
    for (let i = 0; i < 25; i++) await leases.heartbeat(job); // a handler's page loop
    await Promise.all(Array.from({ length: 25 }, () => leases.heartbeat(job)));
    assert.ok(sent.length <= 1, `${sent.length} extends`);
  });

  it('a lease older than the interval is extended at once, in one statement every caller shares', async () => {
    const { leases, sent } = keeper(200);
    const a = held('1', performance.now() - 1_000);
    const b = held('2', performance.now() - 1_000);
    leases.hold(a);
    leases.hold(b);
    await Promise.all([...Array.from({ length: 10 }, () => leases.heartbeat(a)), leases.heartbeat(b)]);
    assert.equal(sent.length, 1);
    assert.deepEqual(
      sent[0]?.map((l) => [l.id, l.token]),
      [
        ['1', 'token-1'],
        ['2', 'token-2'],
      ],
    );
    await leases.heartbeat(a); // fresh again
    assert.equal(sent.length, 1);
  });

  it('the background tick extends every held lease; an extend that drops a job aborts it as lost, a cancel as cancelled', async () => {
    const { leases, sent } = keeper(30, (l) => l.filter((x) => x.id !== '2').map((x) => [x.id, x.id === '3']));
    const [kept, lost, cancelled] = ['1', '2', '3'].map((id) => held(id, performance.now()));
    for (const j of [kept, lost, cancelled]) leases.hold(j as HeldJob);
    leases.start();
    await new Promise((r) => setTimeout(r, 50));
    await leases.stop();
    assert.ok(sent.length >= 1);
    assert.equal(kept?.controller.signal.aborted, false);
    assert.ok(lost?.lost && lost.controller.signal.reason instanceof LeaseLostError);
    assert.ok(cancelled?.controller.signal.reason instanceof JobCancelledError);
    await assert.rejects(leases.heartbeat(lost as HeldJob), LeaseLostError);
  });
});
