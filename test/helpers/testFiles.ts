/**
 * Which test files a run of test/run.ts covers. No selection: every `*.test.ts` below the root but those of
 * the other suites, each a folder of its own (`faults/`: the fault suite; `package/`: the installed
 * package, tried from outside the repository), or with suite `faults` or `package` every `*.test.ts` below
 * that folder. A selection is a
 * file, a directory (every `*.test.ts` below it) or a pattern (`*` within a name, `**` across folders,
 * `?` one character: the `*.test.ts` files whose path matches). Each selection must match at least one
 * file, and so must the suite without one: a run that would test nothing is refused. Selections, when
 * given, replace the suite.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

export const SUITES = ['default', 'faults', 'package'] as const;
export type Suite = (typeof SUITES)[number];

const TEST_FILE = /\.test\.ts$/;

/** The files below `dir`, recursively, skipping node_modules and dot folders (fs.glob is not stable on Node 20). */
export function walk(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) files.push(...walk(path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

const testFilesIn = (dir: string) => walk(dir).filter((f) => TEST_FILE.test(f));

/** A glob as a regular expression over `/`-separated paths. */
function globRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[\\^$.+()[\]{}|]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** A path as the messages show it: relative when it is below `cwd`. */
const shown = (path: string, cwd: string) => (path.startsWith(cwd + sep) ? relative(cwd, path) : path);
const isPattern = (s: string) => /[*?]/.test(s);
const posix = (path: string) => path.split(sep).join('/');

/** The files one selection names, as absolute paths. */
function selected(selection: string, cwd: string): string[] {
  if (!isPattern(selection)) {
    const path = resolve(cwd, selection);
    if (!existsSync(path)) return [];
    return statSync(path).isDirectory() ? testFilesIn(path) : [path];
  }
  // Walk from the pattern's leading folders without wildcards, and match the rest.
  const parts = posix(selection).split('/');
  const fixed = parts.slice(0, parts.findIndex(isPattern)).join('/');
  const base = resolve(cwd, fixed || '.');
  if (!existsSync(base) || !statSync(base).isDirectory()) return [];
  const match = globRegExp(posix(resolve(cwd, selection)));
  return testFilesIn(base).filter((f) => match.test(posix(f)));
}

/**
 * The test files to run, sorted, as paths relative to `cwd`; throws naming every selection (or the suite)
 * that matches no file.
 */
export function selectTestFiles(options: { root: string; suite: Suite; selections: readonly string[]; cwd: string }): string[] {
  const { root, suite, selections, cwd } = options;
  let files: string[];
  if (selections.length === 0) {
    const suiteOf = (f: string): Suite => SUITES.find((s) => s !== 'default' && f.startsWith(join(root, s) + sep)) ?? 'default';
    files = (existsSync(root) ? testFilesIn(root) : []).filter((f) => suiteOf(f) === suite);
    if (files.length === 0)
      throw new Error(
        `the ${suite} suite matches no test file (*.test.ts) in ${shown(suite === 'default' ? root : join(root, suite), cwd)}`,
      );
  } else {
    const empty: string[] = [];
    files = [];
    for (const selection of selections) {
      const found = selected(selection, cwd);
      if (found.length === 0) empty.push(selection);
      files.push(...found);
    }
    if (empty.length > 0) throw new Error(`no test file matches ${empty.map((s) => JSON.stringify(s)).join(', ')}`);
  }
  return [...new Set(files.map((f) => relative(cwd, f) || f))].sort();
}
