/**
 * The README cannot drift from the code: every code block carries a marker saying which test exercises it
 * (test/helpers/readme.ts), and each of those tests does. This file runs the library program as written
 * (typechecked, then run against a fresh database) and checks the blocks that CI or AWS stand for.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import ts from 'typescript';
import { Sluice } from '../src/index.js';
import { blocksOf, KINDS, type Kind, readmeBlocks, shellCommands } from './helpers/readme.js';

const ROOT = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Typecheck `files` with the repository's compiler options (`sluice` resolves to its sources here). */
function typecheck(files: string[]): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  assert.ok(config, 'tsconfig.json parses');
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || files.includes(d.file.fileName))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('README code blocks', () => {
  const blocks = readmeBlocks();

  it('each carry a marker, and each kind is exercised by the test it names', () => {
    assert.ok(blocks.length >= 10, `found ${blocks.length} blocks`);
    for (const kind of new Set(blocks.map((b) => b.kind))) {
      const runner = KINDS[kind as Kind];
      assert.match(read(runner), new RegExp(`blocksOf\\('${kind}'`), `${runner} runs the README's ${kind} blocks`);
    }
    const files = blocksOf('file', blocks).map((b) => b.arg);
    assert.deepEqual(files, [...new Set(files)], 'each quick-start file once');
    assert.ok(files.every((f) => f && /\.ts$/.test(f)));
  });

  it('the library program runs as written, and its job succeeds', async () => {
    const [script] = blocksOf('script', blocks);
    assert.ok(script);
    const base = process.env.DATABASE_URL as string;
    const dbName = `readme_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    // Inside the repository, so that `sluice` resolves to this checkout (its own package, by name).
    const dir = join(ROOT, '.sluice', `readme-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    after(async () => {
      rmSync(dir, { recursive: true, force: true });
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    });
    const file = join(dir, 'library.ts');
    writeFileSync(file, script.code);
    assert.deepEqual(typecheck([file]), [], 'the program typechecks');
    const url = new URL(base);
    url.pathname = `/${dbName}`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, DATABASE_URL: url.href },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /claimed: 1,[\s\S]*succeeded: 1,/, run.stdout);
    const db = new pg.Client({ connectionString: url.href });
    await db.connect();
    try {
      const { rows } = await db.query(`SELECT id FROM sluice.jobs WHERE type = 'send_receipt'`);
      assert.equal(rows.length, 1, 'one job');
      const job = await new Sluice({ db }).getJob(String(rows[0].id));
      assert.equal(job?.state, 'succeeded');
      assert.equal((await db.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 1, 'the order committed with its job');
    } finally {
      await db.end();
    }
  });

  it("this repository's two commands are what CI runs, and scripts of package.json", () => {
    const [block] = blocksOf('repo-commands', blocks);
    assert.ok(block);
    const commands = shellCommands(block.code);
    assert.deepEqual(commands, ['npm ci && npm run dev', 'npm ci && npm test']);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    assert.ok(scripts.dev && scripts.test);
    const ci = read('.ci/run');
    assert.match(ci, /^npm ci\b/m, '.ci/run installs with npm ci');
    assert.match(ci, /^npm test$/m, '.ci/run runs the README test command');
    assert.match(read('test/dev.e2e.test.ts'), /'run', 'dev'/, 'the dev test runs npm run dev');
  });

  it('blocks that need an AWS account say so, and what is run instead', () => {
    const aws = blocksOf('needs-aws', blocks);
    assert.ok(aws.length > 0);
    const ci = read('.ci/run');
    for (const b of aws) {
      assert.match(b.note ?? '', /AWS/, `README.md:${b.line} says why it is not run`);
      for (const c of shellCommands(b.code)) {
        if (c.startsWith('npm run ')) assert.ok(ci.includes(c), `${c} runs in .ci/run`);
        else assert.match(c, /^npx cdk (deploy|destroy)\b/, `only deploying is left to the reader: ${c}`);
      }
    }
  });

  it('a block without a marker is refused, naming its line', () => {
    assert.throws(() => readmeBlocks('# x\n\n```sh\nls\n```\n'), /README\.md:3: the code block has no/);
    assert.throws(() => readmeBlocks('<!-- readme: nonsense -->\n```sh\nls\n```\n'), /README\.md:2/);
  });
});
