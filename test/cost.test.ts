/** Cost per job type (issue 16, item 3): a drain's cost split over its types, stored per minute, read by stats(). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { attributeCost, defineJob, gbSecondsPer1000, ValidationError } from '../src/index.js';
import { testSluice } from './helpers/db.js';

describe('attributeCost', () => {
  it("splits a drain's time over the types by their attempts' run time, and by count when none ran measurably", () => {
    const shares = attributeCost(
      [
        { queue: 'q', type: 'a', durationMs: 30 },
        { queue: 'q', type: 'a', durationMs: 30 },
        { queue: 'q', type: 'b', durationMs: 20 },
        { queue: 'r', type: 'a', durationMs: 0 },
      ],
      1_000,
      2_048,
    );
    assert.deepEqual(shares, [
      { queue: 'q', type: 'a', attempts: 2, billedMs: 750, gbMs: 1_500 },
      { queue: 'q', type: 'b', attempts: 1, billedMs: 250, gbMs: 500 },
      { queue: 'r', type: 'a', attempts: 1, billedMs: 0, gbMs: 0 },
    ]);
    assert.deepEqual(
      attributeCost(
        [
          { queue: 'q', type: 'a', durationMs: 0 },
          { queue: 'q', type: 'b', durationMs: 0 },
          { queue: 'q', type: 'b', durationMs: 0 },
        ],
        300,
        1_024,
      ).map((s) => s.billedMs),
      [100, 200],
    );
    assert.deepEqual(attributeCost([], 100, 128), []);
    assert.throws(() => attributeCost([], -1, 128), RangeError);
    assert.throws(() => attributeCost([], 1, 0), RangeError);
    assert.equal(gbSecondsPer1000({ attempts: 4, gbMs: 2_000 }), 500, '2 GB-s over 4 attempts: 0.5 each, 500 per 1,000');
    assert.equal(gbSecondsPer1000({ attempts: 0, gbMs: 0 }), 0);
  });
});

describe('recordCosts, costs() and stats()', async () => {
  const { sluice, pool, schema } = await testSluice();
  const job = defineJob({ type: 'cost_a', schema: z.object({ n: z.number() }), queue: 'cost' });

  it('adds shares up per minute, queue and type, and stats() carries the last hour per queue', async () => {
    await sluice.enqueue(job, { n: 1 }); // the queue holds a job, so stats() lists it
    await sluice.recordCosts([
      { queue: 'cost', type: 'cost_a', attempts: 10, billedMs: 400, gbMs: 100 },
      { queue: 'cost', type: 'cost_b', attempts: 1, billedMs: 100, gbMs: 25 },
    ]);
    await sluice.recordCosts([{ queue: 'cost', type: 'cost_a', attempts: 10, billedMs: 400, gbMs: 100 }]);
    const rows = await pool.query(`SELECT type, attempts, gb_ms FROM "${schema}".job_costs ORDER BY type`);
    assert.deepEqual(rows.rows, [
      { type: 'cost_a', attempts: 20, gb_ms: 200 },
      { type: 'cost_b', attempts: 1, gb_ms: 25 },
    ]);
    assert.deepEqual(await sluice.costs(), [
      { queue: 'cost', type: 'cost_a', attempts: 20, gbSeconds: 0.2, gbSecondsPer1000: 10 },
      { queue: 'cost', type: 'cost_b', attempts: 1, gbSeconds: 0.025, gbSecondsPer1000: 25 },
    ]);
    const [stats] = await sluice.stats();
    assert.deepEqual(stats?.costs, [
      { type: 'cost_a', attempts: 20, gbSeconds: 0.2, gbSecondsPer1000: 10 },
      { type: 'cost_b', attempts: 1, gbSeconds: 0.025, gbSecondsPer1000: 25 },
    ]);
    // Older than the window: not in stats(); older than compactActivity's keep window: gone.
    await pool.query(`UPDATE "${schema}".job_costs SET minute = minute - interval '3 days' WHERE type = 'cost_b'`);
    assert.deepEqual(
      (await sluice.stats())[0]?.costs?.map((c) => c.type),
      ['cost_a'],
    );
    assert.equal((await sluice.costs({ sinceMs: 4 * 86_400_000 })).length, 2);
    await sluice.compactActivity();
    assert.equal((await sluice.costs({ sinceMs: 4 * 86_400_000 })).length, 1);
  });

  it('refuses a bad share with a clear error and writes none of the batch', async () => {
    const before = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".job_costs`);
    for (const bad of [
      { queue: 'cost', type: 'cost_a', attempts: -1, billedMs: 1, gbMs: 1 },
      { queue: 'Cost!', type: 'cost_a', attempts: 1, billedMs: 1, gbMs: 1 },
      { queue: 'cost', type: 'cost_a', attempts: 1, billedMs: Number.NaN, gbMs: 1 },
      { queue: 'cost', type: 'cost_a', attempts: 1, billedMs: 1, gbMs: 1, extra: true },
    ]) {
      await assert.rejects(
        sluice.recordCosts([{ queue: 'cost', type: 'cost_ok', attempts: 1, billedMs: 1, gbMs: 1 }, bad as never]),
        ValidationError,
      );
    }
    const after = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".job_costs`);
    assert.equal(after.rows[0].n, before.rows[0].n);
    await sluice.recordCosts([]);
  });
});
