/**
 * `createMigrateHandler`: applies migrations at deploy time (a CDK trigger), then gives each function's
 * database user exactly its access (`DB_USERS`). Idempotent: re-running it applies nothing and grants the
 * same; concurrent runs serialise on transaction-scoped advisory locks.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import pg from 'pg';
import { grantAccess, isTransientDatabaseError, loadMigrations, type MigrateResult, migrate } from '../../src/index.js';
import { FUNCTION_ACCESS } from '../shared/access.js';
import { adminPoolConfig } from '../shared/adminDb.js';
import { type AdminDatabaseConfig, adminDatabaseConfigSchema, loadConfig } from '../shared/config.js';
import { functionLogging, logIdlePoolError } from '../shared/observability.js';
import { type AnyLambdaHandler, withOrigin } from '../shared/rebuild.js';

/** The construct copies migrations/ beside the bundle; unbundled, sluice's own folder is used. */
const BUNDLED = fileURLToPath(new URL('./migrations/', import.meta.url));

type Result = MigrateResult & { users: string[] };

async function migrateAndGrant(config: AdminDatabaseConfig): Promise<Result> {
  const migrations = await loadMigrations(config.SLUICE_MIGRATIONS_DIR ?? (existsSync(BUNDLED) ? BUNDLED : undefined));
  // A pool per run: the admin password may have rotated since the last one, and runs are rare.
  const db = new pg.Pool(await adminPoolConfig(config));
  db.on('error', logIdlePoolError);
  try {
    const result = await migrate({ db, schema: config.SLUICE_SCHEMA, migrations });
    const users = Object.fromEntries(
      Object.entries(config.DB_USERS ?? {}).map(([fn, user]) => [user, FUNCTION_ACCESS[fn as keyof typeof FUNCTION_ACCESS]]),
    );
    if (Object.keys(users).length > 0) await grantAccess({ db, schema: config.SLUICE_SCHEMA, users, memberOf: config.DB_USER_ROLES });
    return { ...result, users: Object.keys(users) };
  } finally {
    await db.end();
  }
}

/**
 * Build the migrate handler. Apps need no entry file of their own: the construct deploys sluice's
 * (`functions/migrate/entry.ts`) as a deploy-time trigger.
 *
 * @example
 * const result = await createMigrateHandler({ env: { DATABASE_URL: url } })({}, context); // { applied, current, users }
 */
export function createMigrateHandler(options: { env?: NodeJS.ProcessEnv } = {}) {
  const config = loadConfig(adminDatabaseConfigSchema, options.env ?? process.env);
  const { logger } = functionLogging();
  const handler = middy<unknown, Result, Error, Context>().handler(async (_event, context) => {
    logger.addContext(context);
    // At deploy time the database may not accept connections yet: retry connection failures while time allows.
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await migrateAndGrant(config);
        logger.info('migrations applied', { schema: config.SLUICE_SCHEMA, attempt, ...result });
        return result;
      } catch (err) {
        const waitMs = Math.min(15_000, 500 * 2 ** attempt);
        // 28P01: the admin password was rotated between reading the secret and logging in; read it again.
        const retryable = isTransientDatabaseError(err) || (err as { code?: string }).code === '28P01';
        if (!retryable || context.getRemainingTimeInMillis() < waitMs + 5_000) throw err;
        logger.warn('database not reachable yet; retrying migrations', {
          attempt,
          retry_in_ms: waitMs,
          error: { name: (err as Error).name, message: (err as Error).message },
        });
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  });
  // `logger`: this function's (a child of the container's).
  return withOrigin(Object.assign(handler, { logger }), {
    kind: 'migrate',
    rebuild: (env: NodeJS.ProcessEnv): AnyLambdaHandler => createMigrateHandler({ env }),
  });
}
