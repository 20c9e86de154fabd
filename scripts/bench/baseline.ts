/**
 * The baseline: the plainest SKIP LOCKED queue on a minimal table, measured in the same run as sluice.
 * Claim a batch with one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING, then one
 * DELETE … WHERE id = ANY($1) per batch.
 */
import type pg from 'pg';
import { inParallel, settle, timed, walBytes } from './measure.js';

const T = 'bench_baseline.q';

export async function setupBaseline(db: pg.Pool): Promise<void> {
  await db.query('DROP SCHEMA IF EXISTS bench_baseline CASCADE');
  await db.query('CREATE SCHEMA bench_baseline');
  await db.query(`CREATE TABLE ${T} (id bigserial PRIMARY KEY, payload jsonb NOT NULL, locked_at timestamptz)`);
}

const payload = (i: number) => JSON.stringify({ n: i });

/** Enqueue `n` jobs one INSERT each, `inFlight` at a time; jobs per second and WAL bytes per job. */
export async function baselineEnqueueOne(db: pg.Pool, n: number, inFlight: number) {
  await db.query(`TRUNCATE ${T}`);
  const { result, bytes } = await walBytes(db, () =>
    timed(() => inParallel(n, inFlight, (i) => db.query(`INSERT INTO ${T} (payload) VALUES ($1::jsonb)`, [payload(i)]))),
  );
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** Enqueue `n` jobs `batch` per INSERT … SELECT unnest. */
export async function baselineEnqueueBulk(db: pg.Pool, n: number, batch: number) {
  await db.query(`TRUNCATE ${T}`);
  const { result, bytes } = await walBytes(db, () =>
    timed(async () => {
      for (let i = 0; i < n; i += batch) {
        const rows = Array.from({ length: Math.min(batch, n - i) }, (_, k) => payload(i + k));
        await db.query(`INSERT INTO ${T} (payload) SELECT * FROM unnest($1::jsonb[])`, [rows]);
      }
    }),
  );
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}

/** Drain `n` queued jobs with `claimers` loops claiming `batch` at a time. */
export async function baselineDrain(db: pg.Pool, n: number, claimers: number, batch: number) {
  await baselineEnqueueBulk(db, n, 1000);
  await settle(db, [T]);
  const { result, bytes } = await walBytes(db, () =>
    timed(() =>
      Promise.all(
        Array.from({ length: claimers }, async () => {
          for (;;) {
            const claimed = await db.query<{ id: string }>(
              `UPDATE ${T} SET locked_at = now()
               WHERE id IN (SELECT id FROM ${T} WHERE locked_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING id, payload`,
              [batch],
            );
            if (claimed.rows.length === 0) return;
            await db.query(`DELETE FROM ${T} WHERE id = ANY($1::bigint[])`, [claimed.rows.map((r) => r.id)]);
          }
        }),
      ),
    ),
  );
  const left = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${T}`);
  if (left.rows[0]?.n !== 0) throw new Error(`baseline drain left ${left.rows[0]?.n} jobs`);
  return { jobsPerSec: n / result.seconds, walBytesPerJob: bytes / n };
}
