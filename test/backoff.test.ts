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
