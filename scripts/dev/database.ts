/**
 * The dev database: an embedded PostgreSQL whose data lives in `.sluice/pg` (git-ignored), so jobs survive
 * a restart, or `DATABASE_URL` when set. While `npm run dev` runs, `.sluice/dev.json` says where it is, so
 * the `sluice` CLI finds the same database. As root, from a checkout the `postgres` user cannot enter, the
 * data lives outside it (devData.ts) and the binaries run from a copy it can reach (pgBinaries.ts).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { placeDevData } from './devData.js';
import { freePort } from './net.js';
import { postgresBinaries } from './pgBinaries.js';
import { initCluster, PASSWORD, SUPERUSER, startPostgres } from './pgCluster.js';
import { serverUser } from './serverUser.js';

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
  /** The embedded server's data directory: `.sluice/pg`, or where that links to (see devData.ts). */
  dataDir?: string;
  /** Set when the data lives outside `.sluice`: where, and why. */
  notice?: string;
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
  mkdirSync(dir, { recursive: true });
  const release = claimFolder(dir);
  try {
    return await startIn(dir, options, release);
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Take `.sluice/dev.lock` for this process, atomically (created with O_EXCL): two `sluice dev` started at
 * the same instant cannot both pass, as a check of `dev.json` followed by its write could. A lock whose
 * process is gone (kill -9, a reboot) is taken over. Returns its release.
 */
function claimFolder(dir: string): () => void {
  const lock = join(dir, 'dev.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${JSON.stringify(thisProcess())}\n`, { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: { pid?: unknown; started?: unknown } = {};
    try {
      holder = JSON.parse(readFileSync(lock, 'utf8')) as typeof holder;
    } catch {
      // unreadable (being written, or torn): treated as stale below only once its writer is gone
    }
    if (holder.pid !== process.pid && stillRunning(holder)) {
      throw new Error(`another \`sluice dev\` (pid ${holder.pid}) is using ${dir}: stop it first, or set SLUICE_DEV_DIR for a second one`);
    }
    rmSync(lock, { force: true }); // its process is gone: take it over (a racing taker loses at the O_EXCL create)
  }
  throw new Error(`another \`sluice dev\` is starting in ${dir}: stop it first, or set SLUICE_DEV_DIR for a second one`);
}

async function startIn(dir: string, options: { fresh?: boolean }, release: () => void): Promise<DevDatabase> {
  const user = serverUser(); // as root, the server runs as `postgres`
  if (user.uid !== undefined) chmodSync(dir, 0o755); // so that user may enter it (unless a directory above is closed)
  const { dataDir, notice } = placeDevData(dir, user, { fresh: options.fresh });
  if (existsSync(dataDir) && !existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Error(`${dataDir} holds a database whose creation was interrupted: start with --fresh to create it anew`);
  }
  const { initdb, postgres } = await postgresBinaries(user);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    try {
      await initCluster({ initdb, dataDir, user });
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true }); // never leave a half-created cluster behind
      throw err;
    }
  }
  await stopLeftover(dataDir);
  // The server runs in its own process group, so a Ctrl-C on the terminal reaches only the dev server,
  // which then lets running jobs finish before it stops the database.
  const port = await freePort();
  const server = await startPostgres({ postgres, dataDir, port, user, flags: ['-c', 'listen_addresses=127.0.0.1'], detached: true });
  const url = `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  writeFileSync(stateFile(), `${JSON.stringify({ url, ...thisProcess() }, null, 2)}\n`);
  return {
    url,
    embedded: true,
    dataDir,
    notice,
    stop: async () => {
      rmSync(stateFile(), { force: true });
      await server.stop();
      release();
    },
  };
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

/**
 * Where the CLI connects: `DATABASE_URL`, else the running dev server's database. Throws a message that
 * says what to do when there is neither.
 */
export function devDatabaseUrl(): string {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  try {
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as { url?: unknown; pid?: unknown };
    if (typeof state.url === 'string' && stillRunning(state)) return state.url;
  } catch {
    // no dev server running
  }
  throw new Error('no database: set DATABASE_URL, or start `sluice dev` (its database is used while it runs)');
}

const busFile = () => join(devDir(), 'bus.json');

/** While `sluice dev` runs: where its EventBridge stand-in listens, so the CLI can wake the workers too. */
export function recordDevBus(bus: { url: string; name: string }): () => void {
  writeFileSync(busFile(), `${JSON.stringify({ ...bus, ...thisProcess() }, null, 2)}\n`);
  return () => rmSync(busFile(), { force: true });
}

/** The running dev server's bus, if any. */
export function devBus(): { url: string; name: string } | undefined {
  try {
    const state = JSON.parse(readFileSync(busFile(), 'utf8')) as { url?: unknown; name?: unknown; pid?: unknown };
    if (typeof state.url === 'string' && typeof state.name === 'string' && stillRunning(state)) {
      return { url: state.url, name: state.name };
    }
  } catch {
    // no dev server running
  }
  return undefined;
}

/** This process, as a state file records it: its pid, and when it started (so a reused pid is told apart). */
function thisProcess(): { pid: number; started?: string } {
  const started = startTime(process.pid);
  return { pid: process.pid, ...(started ? { started } : {}) };
}

/**
 * Whether the process a state file names still runs: its pid is alive and, where /proc tells, it started
 * when the file says. After a reboot or a container restart, the pid may belong to anything now.
 */
export function stillRunning(state: { pid?: unknown; started?: unknown }): boolean {
  if (typeof state.pid !== 'number' || !Number.isInteger(state.pid) || state.pid <= 0 || !isAlive(state.pid)) return false;
  const now = startTime(state.pid);
  return now === undefined || state.started === now;
}

/** A process's start time in clock ticks since boot (/proc/PID/stat, field 22), or undefined without /proc. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
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
