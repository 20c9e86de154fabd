/**
 * `npm run migrate`: apply sluice's migrations to DATABASE_URL (schema from SLUICE_SCHEMA, default sluice).
 */
import pg from 'pg';
import { z } from 'zod';
import { migrate } from '../src/migrate.js';

const env = z
  .object({ DATABASE_URL: z.string().min(1, 'DATABASE_URL is required'), SLUICE_SCHEMA: z.string().default('sluice') })
  .safeParse(process.env);
if (!env.success) {
  console.error(`npm run migrate: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: env.data.DATABASE_URL, max: 1 });
try {
  const result = await migrate({ db: pool, schema: env.data.SLUICE_SCHEMA });
  console.log(`schema ${env.data.SLUICE_SCHEMA}: applied [${result.applied.join(', ')}], now at version ${result.current}`);
} catch (err) {
  console.error(`npm run migrate failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
