import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { z } from 'zod';
import { describeIssues } from '../../src/text.js';
import type { AdminDatabaseConfig } from './config.js';
import { poolConfig } from './db.js';

/** The fields of an RDS-generated admin secret that a connection needs. */
const adminSecretSchema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(1).max(65_535),
  username: z.string().min(1),
  password: z.string().min(1),
});

/**
 * The pool settings of the schema owner. With `DB_SECRET_ARN` (on AWS) the admin secret is read now, so a
 * rotated password is picked up at the next run, and the connection goes straight to the instance over
 * TLS that verifies the server against the RDS certificate authorities (the CDK stack points
 * `NODE_EXTRA_CA_CERTS` at the runtime's bundle of them). Without it, the same settings as every function.
 *
 * @example
 * const pool = new pg.Pool(await adminPoolConfig(loadConfig(adminDatabaseConfigSchema)));
 */
export async function adminPoolConfig(config: AdminDatabaseConfig, secrets?: SecretsManagerClient): Promise<pg.PoolConfig> {
  if (config.DATABASE_URL || !config.DB_SECRET_ARN) return { ...poolConfig(config), max: 1 };
  const client = secrets ?? new SecretsManagerClient({ region: config.AWS_REGION });
  const res = await client.send(new GetSecretValueCommand({ SecretId: config.DB_SECRET_ARN }));
  let json: unknown;
  try {
    json = JSON.parse(res.SecretString ?? '');
  } catch {
    throw new Error(`the secret ${config.DB_SECRET_ARN} is not JSON (expected RDS credentials)`);
  }
  const parsed = adminSecretSchema.safeParse(json);
  // Never echo the secret: name the missing fields only.
  if (!parsed.success) throw new Error(`the secret ${config.DB_SECRET_ARN} lacks ${describeIssues(parsed.error.issues, 'secret')}`);
  const { host, port, username, password } = parsed.data;
  return {
    max: 1,
    connectionTimeoutMillis: 5_000,
    host,
    port,
    database: config.DB_NAME,
    user: username,
    password,
    ssl: config.DB_TLS === 'disable' ? false : { rejectUnauthorized: true },
  };
}
