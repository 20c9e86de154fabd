/**
 * Where the dev server keeps its cluster: `.sluice/pg`, unless the server's user cannot enter `.sluice`
 * (as root, from a checkout inside a private directory such as /root or a `mktemp -d` folder). Then the
 * data lives in `/var/tmp/sluice-dev-<hash of the .sluice path>/pg` (a root-owned 755 folder holding a
 * data directory only `postgres` may enter), and `.sluice/pg` is a symlink to it: the note that says
 * where the data is, and what a later start (or `--fresh`) follows.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { canEnter, type ServerUser, scratchBase } from './serverUser.js';

export interface DevDataPlace {
  dataDir: string;
  /** Set when the data lives outside `.sluice`: says where and why, for the dev server to print. */
  notice?: string;
}

/** The data directory for the dev folder `dir` (which exists); `fresh` deletes the cluster first. */
export function placeDevData(dir: string, user: ServerUser, options: { fresh?: boolean } = {}): DevDataPlace {
  const local = join(dir, 'pg');
  const linked = lstatSync(local, { throwIfNoEntry: false })?.isSymbolicLink() ? resolve(dir, readlinkSync(local)) : undefined;
  if (options.fresh) {
    if (linked) rmSync(ownFolder(linked), { recursive: true, force: true });
    rmSync(local, { recursive: true, force: true });
  } else if (linked) {
    return { dataDir: ownFolder(linked), notice: noticeFor(local, linked) };
  }
  if (canEnter(user, dir)) return { dataDir: local };
  if (existsSync(local)) {
    throw new Error(
      `${local} holds a database that the \`${user.name}\` user running PostgreSQL cannot reach (a directory above ${dir} is closed to it): start with --fresh to create a new one outside this checkout, or move the checkout to a directory that user can enter`,
    );
  }
  const hash = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12);
  const dataDir = ownFolder(join(scratchBase(user, ['/var/tmp', tmpdir(), '/tmp']), `sluice-dev-${hash}`, 'pg'));
  symlinkSync(dataDir, local);
  return { dataDir, notice: noticeFor(local, dataDir) };
}

/**
 * Make (or check) the folder holding `dataDir`: owned by root and writable by nobody else, so no other
 * user can swap the data directory for something else in the shared /var/tmp.
 */
function ownFolder(dataDir: string): string {
  const parent = dirname(dataDir);
  if (basename(dataDir) !== 'pg' || !basename(parent).startsWith('sluice-dev-')) {
    throw new Error(`${dataDir} is not a folder the dev server made: remove the .sluice/pg symlink that points there`);
  }
  if (!existsSync(parent)) {
    mkdirSync(parent, { recursive: true });
    chmodSync(parent, 0o755);
  }
  const st = lstatSync(parent);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new Error(
      `${parent} is not a folder the dev server made (it must be a directory owned by root, writable only by it): remove it, or start with --fresh`,
    );
  }
  return dataDir;
}

function noticeFor(local: string, dataDir: string): string {
  return `the database lives in ${dataDir} (${local} links there): the \`postgres\` user that runs it cannot enter this checkout's directories`;
}
