/**
 * Lambda entry point that applies migrations at deploy time (a CDK trigger). Idempotent: re-running it
 * applies nothing; concurrent runs serialise on a transaction-scoped advisory lock.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { isTransientDatabaseError, loadMigrations, migrate } from '../../src/index.js';
import { databaseConfigSchema, loadConfig } from '../shared/config.js';
import { getPool } from '../shared/db.js';
import { logger, logIdlePoolError } from '../shared/observability.js';

const config = loadConfig(z.intersection(databaseConfigSchema, z.object({ SLUICE_MIGRATIONS_DIR: z.string().min(1).optional() })));

/** `npm run build` copies migrations/ beside the bundle; from source, the repository's folder is used. */
const BUNDLED = fileURLToPath(new URL('./migrations/', import.meta.url));

export const handler = middy<unknown, { applied: number[]; current: number }, Error, Context>().handler(async (_event, context) => {
  logger.addContext(context);
  const migrations = await loadMigrations(config.SLUICE_MIGRATIONS_DIR ?? (existsSync(BUNDLED) ? BUNDLED : undefined));
  // At deploy time the proxy may not reach its database yet: retry connection failures while time allows.
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await migrate({ db: getPool(config, logIdlePoolError), schema: config.SLUICE_SCHEMA, migrations });
      logger.info('migrations applied', { schema: config.SLUICE_SCHEMA, attempt, ...result });
      return result;
    } catch (err) {
      const waitMs = Math.min(15_000, 500 * 2 ** attempt);
      if (!isTransientDatabaseError(err) || context.getRemainingTimeInMillis() < waitMs + 5_000) throw err;
      logger.warn('database not reachable yet; retrying migrations', {
        attempt,
        retry_in_ms: waitMs,
        error: { name: (err as Error).name, message: (err as Error).message },
      });
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
});
