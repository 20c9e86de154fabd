import pg from 'pg';
import type { DatabaseConfig } from './config.js';
import { credentialsFromEnv, iamAuthToken } from './iamAuthToken.js';

let pool: pg.Pool | undefined;

/**
 * The container's one pool, created on first use and reused by every invocation (never closed per call).
 * Locally it connects to `DATABASE_URL`. On AWS it connects to the RDS Proxy endpoint as `DB_USER` with a
 * fresh IAM auth token for each new connection (tokens live 15 minutes), over TLS that verifies the
 * server certificate (Lambda's Node.js runtimes trust the RDS certificate authorities).
 */
export function getPool(config: DatabaseConfig, onIdleError: (err: Error) => void = () => {}): pg.Pool {
  if (!pool) {
    pool = new pg.Pool(poolConfig(config));
    // An idle connection the server or RDS Proxy closes (idle timeout, failover, restart) emits 'error' on
    // the pool; unhandled, that would crash the container. The pool drops the client and opens another.
    pool.on('error', onIdleError);
  }
  return pool;
}

export function poolConfig(config: DatabaseConfig): pg.PoolConfig {
  const common = { max: config.DB_POOL_MAX, idleTimeoutMillis: 60_000, connectionTimeoutMillis: 5_000 };
  if (config.DATABASE_URL) return { ...common, connectionString: config.DATABASE_URL };
  const signing = {
    hostname: config.DB_HOST as string,
    port: config.DB_PORT,
    username: config.DB_USER as string,
    region: config.AWS_REGION as string,
  };
  return {
    ...common,
    host: config.DB_HOST,
    port: config.DB_PORT,
    database: config.DB_NAME,
    user: config.DB_USER,
    password: () => iamAuthToken({ ...signing, credentials: credentialsFromEnv() }),
    ssl: { rejectUnauthorized: true },
  };
}

/** For tests and graceful shutdown of long-lived hosts: close and forget the pool. */
export async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
}
