/**
 * test/run.ts finds the test files itself, so none can be left out of `npm test` or `npm run test:faults`:
 * the runner runs as a child on a temporary test folder (with this run's DATABASE_URL, so it starts no
 * server), and on this repository with `--list`, against package.json's scripts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RUN = join(REPO, 'test', 'run.ts');

/** Run test/run.ts in the repository with `args`; node's TAP output (the child's stdout is not a terminal). */
function run(...args: string[]) {
  assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is set: the runner under test must not start a server');
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // else the nested node --test reports to this one's runner instead of stdout
  const r = spawnSync(process.execPath, ['--import', 'tsx', RUN, ...args], { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const testCount = (out: string) => Number(out.match(/^# tests (\d+)$/m)?.[1]);
const listed = (out: string) => out.split('\n').filter(Boolean);

describe('the test runner (test/run.ts)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-runner-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const passing = (name: string) => `import { it } from 'node:test';\nit(${JSON.stringify(name)}, () => {});\n`;
  write('a.test.ts', passing('found a'));
  write('nested/deeper/b.test.ts', passing('found b'));
  write('nested/helper.ts', 'export const notATest = 1;\n');
  write('faults/f.test.ts', passing('found fault f'));
  write('faults/fixtures/helper.ts', 'export const notATest = 1;\n');
  mkdirSync(join(root, 'empty'));

  it('runs every *.test.ts below the root but the fault suite, and picks up a new one without a list', () => {
    const first = run(`--root=${root}`);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^ok \d+ - found a$/m);
    assert.match(first.out, /^ok \d+ - found b$/m);
    assert.doesNotMatch(first.out, /found fault f/);
    assert.equal(testCount(first.out), 2);

    write('nested/c.test.ts', passing('found c, listed nowhere'));
    const again = run(`--root=${root}`);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /^ok \d+ - found c, listed nowhere$/m);
    assert.equal(testCount(again.out), 3);
  });

  it('--suite=faults runs the fault suite only', () => {
    const r = run(`--root=${root}`, '--suite=faults', '--concurrency=1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ok \d+ - found fault f$/m);
    assert.equal(testCount(r.out), 1);
  });

  it('runs a selection: a file, a directory or a pattern', () => {
    const one = run(join(root, 'nested/deeper/b.test.ts'));
    assert.equal(one.code, 0, one.err);
    assert.equal(testCount(one.out), 1);
    for (const [selection, files] of [
      [join(root, 'a.test.ts'), ['a.test.ts']],
      [join(root, 'nested'), ['nested/c.test.ts', 'nested/deeper/b.test.ts']],
      [join(root, 'faults'), ['faults/f.test.ts']],
      [`${root}/**/b.*`, ['nested/deeper/b.test.ts']],
      [`${root}/*.test.ts`, ['a.test.ts']],
      [`${root}/nested/**/*.test.ts`, ['nested/c.test.ts', 'nested/deeper/b.test.ts']],
    ] as const) {
      const r = run('--list', selection);
      assert.equal(r.code, 0, `${selection}: ${r.err}`);
      assert.deepEqual(
        listed(r.out).map((f) => resolve(REPO, f)),
        files.map((f) => join(root, f)),
        selection,
      );
    }
  });

  it('fails, naming it, when a selection or a suite matches no test file', () => {
    for (const selection of [join(root, 'nope.test.ts'), join(root, 'empty'), join(root, 'nowhere'), `${root}/**/*.nothing.test.ts`]) {
      const r = run(selection);
      assert.equal(r.code, 2, selection);
      assert.match(r.err, /no test file matches/, selection);
      assert.ok(r.err.includes(JSON.stringify(selection)), r.err);
      assert.doesNotMatch(r.out, /^# tests/m, 'nothing ran');
    }
    const mixed = run(join(root, 'a.test.ts'), join(root, 'nope.test.ts'));
    assert.equal(mixed.code, 2, 'one good selection does not excuse a bad one');
    for (const args of [[`--root=${join(root, 'empty')}`], [`--root=${join(root, 'nested')}`, '--suite=faults']]) {
      const r = run(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /suite matches no test file/);
    }
    const typo = run('--suit=faults');
    assert.equal(typo.code, 2);
    assert.match(typo.err, /unknown or malformed option --suit=faults/);
  });

  it('npm test runs typecheck and every test file but the other suites; test:faults and test:package each run every file of theirs', () => {
    const { scripts } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    /** The runner's arguments in a script. */
    const runnerArgs = (script: string) => {
      const at = script.indexOf('tsx test/run.ts');
      assert.ok(at >= 0, script);
      return script
        .slice(at + 'tsx test/run.ts'.length)
        .split(' ')
        .filter(Boolean);
    };
    const testFiles = (under: string) =>
      readdirSync(join(REPO, under), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => join(under, f))
        .sort();
    assert.ok(scripts.test?.startsWith('npm run typecheck && '), scripts.test);

    const all = run(...runnerArgs(scripts.test ?? ''), '--list');
    assert.equal(all.code, 0, all.err);
    const faults = testFiles('test/faults');
    const packaged = testFiles('test/package');
    const expected = testFiles('test').filter((f) => !faults.includes(f) && !packaged.includes(f));
    assert.deepEqual(listed(all.out), expected);
    assert.ok(expected.includes('test/runner.test.ts') && expected.includes('test/api/enqueue.test.ts'));

    const faultRun = run(...runnerArgs(scripts['test:faults'] ?? ''), '--list');
    assert.equal(faultRun.code, 0, faultRun.err);
    assert.deepEqual(listed(faultRun.out), faults);
    assert.ok(faults.length >= 8, faults.join(' '));

    const packageRun = run(...runnerArgs(scripts['test:package'] ?? ''), '--list');
    assert.equal(packageRun.code, 0, packageRun.err);
    assert.deepEqual(listed(packageRun.out), packaged);
    assert.ok(packaged.length >= 1);
  });
});
