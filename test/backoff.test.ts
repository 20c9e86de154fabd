import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { backoffCeilingMs, backoffDelayMs, retryPresets } from '../src/backoff.js';
import { defineJob } from '../src/define.js';

describe('backoff', () => {
  const b = { baseMs: 1000, maxMs: 30_000 };
  it('doubles the ceiling per retry up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeilingMs(b, n)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
  });
  it('draws with full jitter between 0 and the ceiling', () => {
    assert.equal(
      backoffDelayMs(b, 3, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(b, 3, () => 0.5),
      2000,
    );
    assert.equal(
      backoffDelayMs(b, 3, () => 0.999999),
      3999,
    );
  });
  it('never overflows for huge retry counts', () => {
    assert.equal(backoffCeilingMs(b, 10_000), 30_000);
  });
  it('presets follow the design note (attempts = retries + 1)', () => {
    assert.equal(retryPresets.invalidInput.maxAttempts, 1);
    assert.equal(retryPresets.externalApi.maxAttempts, 4);
    assert.ok(retryPresets.network.maxAttempts >= 4 && retryPresets.network.maxAttempts <= 6);
    assert.ok(retryPresets.rateLimit.maxAttempts >= 6 && retryPresets.rateLimit.maxAttempts <= 11);
  });
  it('defineJob rejects a cap below the base and names the key', () => {
    assert.throws(() => defineJob({ type: 'x', schema: z.object({}), backoff: { baseMs: 10, maxMs: 5 } }), /maxMs/);
  });
  it('defineJob rejects unknown options (strict)', () => {
    // @ts-expect-error: not an option
    assert.throws(() => defineJob({ type: 'x', schema: z.object({}), retries: 3 }), /retries/);
  });
});

describe('isTransientDatabaseError', () => {
  it('classifies by SQLSTATE and errno, and knows node-postgres connection failures', async () => {
    const { isTransientDatabaseError } = await import('../src/errors.js');
    const coded = (code: string) => Object.assign(new Error('x'), { code });
    for (const code of ['08006', '08001', '57P01', '40001', '40P01', '53300', 'ECONNREFUSED', 'ECONNRESET']) {
      assert.equal(isTransientDatabaseError(coded(code)), true, code);
    }
    for (const code of ['23505', '22P02', '42P01', 'XX000']) assert.equal(isTransientDatabaseError(coded(code)), false, code);
    assert.equal(isTransientDatabaseError(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isTransientDatabaseError(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isTransientDatabaseError(new Error('boom')), false);
    assert.equal(isTransientDatabaseError('08006'), false);
  });
});
