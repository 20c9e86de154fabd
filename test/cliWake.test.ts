/**
 * While `sluice dev` runs, `sluice enqueue` wakes the job's queue at once through the dev server's
 * EventBridge stand-in, as the API does, instead of leaving it to the next scheduled drain; with no dev
 * server running it publishes nothing and still enqueues.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import config from '../examples/sluice.config.js';
import { sluiceRules } from '../infra/rules.js';
import { main } from '../scripts/cli.js';
import { LocalBus } from '../scripts/dev/bus.js';
import { recordDevBus } from '../scripts/dev/database.js';
import { testSluice } from './helpers/db.js';

const quiet = { write: () => {}, fail: () => {} };

describe('sluice enqueue during sluice dev', async () => {
  const { schema, sluice } = await testSluice();
  const savedDir = process.env.SLUICE_DEV_DIR;
  process.env.SLUICE_DEV_DIR = mkdtempSync(join(tmpdir(), 'sluice-cli-wake-'));
  after(() => {
    rmSync(process.env.SLUICE_DEV_DIR as string, { recursive: true, force: true });
    if (savedDir === undefined) delete process.env.SLUICE_DEV_DIR;
    else process.env.SLUICE_DEV_DIR = savedDir;
  });
  const enqueue = (userId: string) =>
    main(
      ['enqueue', 'send_email', JSON.stringify({ userId, to: `${userId}@example.com`, template: 'welcome' }), '--schema', schema],
      quiet,
    );

  it('publishes JobsEnqueued for the queue to the running dev bus, which routes it to that queue worker', async () => {
    const delivered: Array<{ target: unknown; detail: unknown }> = [];
    const bus = new LocalBus({
      rules: sluiceRules(config, 'sluice'),
      busName: 'sluice-dev',
      rateEveryMs: 3_600_000,
      onWarning: () => {},
      deliver: (target, event) => delivered.push({ target, detail: (event as { detail: unknown }).detail }),
    });
    const forget = recordDevBus({ url: await bus.listen(), name: 'sluice-dev' });
    try {
      assert.equal(await enqueue('wake-1'), 0);
      assert.deepEqual(delivered, [{ target: { function: 'worker', queue: 'emails' }, detail: { queue: 'emails', count: 1 } }]);
    } finally {
      forget();
      await bus.close();
    }
  });

  it('without a dev server, enqueues and publishes nothing', async () => {
    assert.equal(await enqueue('wake-2'), 0);
    assert.equal((await sluice.stats()).find((q) => q.queue === 'emails')?.ready, 2);
  });
});
