import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targets } from '../scripts/bench/targets.js';

const figures = {
  baseline: { drainJobsPerSec: 200_000, enqueueOneJobsPerSec: 10_000, enqueueBulkJobsPerSec: 300_000, walBytesPerJobProcessed: 470 },
  sluice: {
    drainJobsPerSec: 100_000,
    drainJobsPerSecWithHistory: 89,
    drainJobsPerSecEmptyBeforeHistory: 100,
    enqueueOneJobsPerSec: 6_000,
    enqueueBulkJobsPerSec: 100_000,
    walBytesPerJobProcessed: 471,
    latencyP50Ms: 5,
    apiColdStartMs: 151,
    drainPeakRssMb: 127.9,
    flowDrainJobsPerSecPerKey: 69,
    flowDrainJobsPerSecUnlimited: 100,
  },
};

describe('bench targets (scripts/bench/targets.ts)', () => {
  it('writes each target as a ratio of the same run, and says which held, at their edges', () => {
    const t = targets(figures);
    assert.deepEqual(
      targets(figures).map((x) => [x.target, x.held]),
      [
        ['≥ 50%', true], // drain 50% exactly
        ['≥ 60%', true], // one by one 60% exactly
        ['≥ 50%', false], // bulk 33%
        ['≤ 100%', false], // WAL 471 of 470
        ['≥ 90%', false], // beside history 89%
        ['≤ 5 ms', true],
        ['≤ 150 ms', false],
        ['< 128 MB', true],
        ['≥ 70%', false], // a per-key limit over 1,000 keys at 69% of no limits
      ],
    );
    assert.deepEqual([t[0]?.value, t[0]?.against, t[0]?.ratio], [100_000, 200_000, 0.5], 'the drain against the baseline');
    assert.deepEqual([t[4]?.against, t[4]?.ratio], [100, 0.89], 'beside history, against the empty table of the same run');
  });
});
