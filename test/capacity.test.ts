import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../scripts/capacity.ts', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/capacity-bench.json', import.meta.url));
const run = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8' });

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) <= Math.abs(expected) * 1e-9, `${what}: ${actual}, expected ${expected}`);

describe('scripts/capacity.ts (docs/capacity.md)', () => {
  it('recomputes the capacity and cost figures from a bench JSON', () => {
    // Prepare: a bench of round numbers (2 cores; one drainer 20,000 jobs/s; four 40,000; 1,000 WAL bytes a job).
    // Act
    const c = JSON.parse(run(fixture, '--json'));

    // Assess: a drainer pays two 1 ms round trips per batch of 1000 (what 'auto' claims for fast jobs): 1000 / (1000 / 20,000 + 0.002) jobs/s.
    close(c.jobsPerSecPerDrainer, 1000 / 0.052, 'jobs/s per drainer');
    close(c.jobsPerSecPerDbVcpu, 20_000, 'jobs/s per database vCPU (40,000 over 2 cores)');
    assert.equal(c.connections.perQueue, 10, 'reserved concurrency 5 × DB_POOL_MAX 2');
    assert.equal(c.connections.maxConnections['db.t4g.micro'], 112, '1 GiB / 9,531,392');

    const [low, mid, high] = c.levels;
    assert.deepEqual(
      c.levels.map((r: { jobsPerSec: number; instanceClass: string; drainers: number }) => [r.jobsPerSec, r.instanceClass, r.drainers]),
      [
        [100, 'db.t4g.micro', 1],
        [1_000, 'db.t4g.micro', 1],
        [10_000, 'db.m7g.large', 1], // 1 vCPU needed: half a 2-vCPU instance, past the burstable 20%
      ],
    );
    close(low.jobsPerMonthMillions, 262.8, 'jobs a month at 100/s (730 h)');
    close(high.dbVcpusNeeded, 1, '10,000 / 20,000 per vCPU / 0.5 utilisation');
    close(high.walMbPerSec, 10, 'WAL at 10,000 jobs/s');
    close(mid.retainedGb, 30.24, '1,000/s × 24 h × 350 bytes');
    // db.t4g.micro for 730 h and 20 GB of gp3, over 262.8M jobs; at 1,000/s the 30.24 GB retained are billed.
    close(low.sluiceDbPerMillion, (0.016 * 730 + 20 * 0.115) / 262.8, 'database $ per million at 100/s');
    close(mid.sluiceDbPerMillion, (0.016 * 730 + 30.24 * 0.115) / 2628, 'database $ per million at 1,000/s');
    assert.equal(high.sluiceDbPerMillion, null, 'no verified price for db.m7g.large: left out, not guessed');
    assert.equal(high.sluicePerMillion, null);
    close(low.sluiceLambdaGbSecondsPerMillion, 0.25e6 / (1000 / 0.052), 'GB-s per million: 0.25 GB × 1M / jobs per second');
    close(low.sluiceLambdaPerMillion, 13 * 0.0000133334 + 1_000 * 0.2e-6, 'GB-s and one invocation per batch of 1000');
    close(low.sqsLambdaPerMillion, 1.2 * 0.4 + 0.1 * 0.2, 'SQS: 1 send + receive and delete per 10; Lambda: an invocation per 10');
  });

  it('prints the tables, saying where a price is not verified', () => {
    const text = run(fixture);

    assert.match(text, /\| 10,000 \| 26,280 \| 1 \| 1\.00 \| db\.m7g\.large \| 10\.0 \| 864 \| 302 \| not verified \|/);
    assert.match(text, /\| db\.t4g\.micro \| 112 \| 11 \|/);
  });

  it('refuses to run without a bench file', () => {
    assert.throws(() => run(), /usage: npx tsx scripts\/capacity\.ts bench\.json/);
  });
});
