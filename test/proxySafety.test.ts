import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { defineJob } from '../src/define.js';
import { enqueueItem } from '../src/enqueue.js';
import { PermanentJobError } from '../src/errors.js';
import { defineHandler } from '../src/handler.js';
import { Sluice } from '../src/sluice.js';
import { testSluice } from './helpers/db.js';

/** What went over the wire: every Parse message (extended protocol) and every simple Query. */
const sent: Array<{ kind: 'parse' | 'simple'; name: string; text: string }> = [];

interface WireConnection {
  parse(q: { text: string; name?: string }): void;
  query(text: string): void;
}

class RecordingClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config);
    const conn = (this as unknown as { connection: WireConnection }).connection;
    const parse = conn.parse.bind(conn);
    const simple = conn.query.bind(conn);
    conn.parse = (q) => {
      sent.push({ kind: 'parse', name: q.name ?? '', text: q.text });
      parse(q);
    };
    conn.query = (text) => {
      sent.push({ kind: 'simple', name: '', text });
      simple(text);
    };
  }
}

describe('safe behind RDS Proxy', async () => {
  const { schema, url } = await testSluice();
  const pool = new pg.Pool({ connectionString: url, max: 4, Client: RecordingClient });
  const sluice = new Sluice({ db: pool, schema });

  it('the hot path and admin calls send no named statements, LISTEN/NOTIFY, advisory locks or session SET', async () => {
    const def = defineJob({
      type: 'wire',
      schema: z.object({ n: z.number() }),
      queue: 'wire',
      timeout: 1_000,
      maxAttempts: 2,
      backoff: { baseMs: 0, maxMs: 0 },
    });
    const [first] = await sluice.enqueueMany([
      enqueueItem(def, { n: 1 }),
      enqueueItem(def, { n: 2 }),
      enqueueItem(def, { n: 3 }, { idempotencyKey: 'k' }),
    ]);
    await sluice.enqueue(def, { n: 3 }, { idempotencyKey: 'k' });
    const h = defineHandler(def, async ({ n }, ctx) => {
      await ctx.step('s', () => n);
      await ctx.heartbeat();
      if (n === 2) throw new PermanentJobError('dead');
      if (n === 3 && ctx.attempt === 1) throw new Error('retry');
    });
    await sluice.worker({ queue: 'wire', handlers: [h], leaseMs: 600, heartbeatMs: 100 }).drain({ remainingTimeMs: 3_000 });
    await sluice.getJob(first!.id);
    await sluice.cancel([first!.id]);
    await sluice.stats();
    await sluice.listDeadLetters({ queue: 'wire' });
    await sluice.redriveDeadLetters({ queue: 'wire' });
    await sluice.purgeDeadLetters({ type: 'nothing' });
    await sluice.prune();
    await pool.end();

    assert.ok(sent.length >= 15, `statements were recorded (${sent.length})`);
    const named = sent.filter((s) => s.name !== '');
    assert.deepEqual(named, [], 'no named prepared statements');
    for (const s of sent) {
      assert.doesNotMatch(s.text, /\b(LISTEN|UNLISTEN|NOTIFY|pg_notify)\b/i);
      assert.doesNotMatch(s.text, /pg_(try_)?advisory_(lock|unlock)/i);
      assert.doesNotMatch(s.text, /^\s*(SET|RESET)\s/i);
      assert.doesNotMatch(s.text, /^\s*(PREPARE|DECLARE)\s/i);
    }
  });
});
