/**
 * An app's `sluice.config.ts`: `defineConfig` refuses what could only fail later (on deploy, or at 3 a.m.),
 * and the CLI's loader finds the file from the working directory upward and loads TypeScript with no
 * loader at run time (esbuild), with clear errors for a missing file, a missing default export or a bad
 * config.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defineJob } from 'sluice';
import { defineConfig } from 'sluice/config';
import { z } from 'zod';
import { ConfigFileError, findConfigFile, loadAppConfig } from '../scripts/config/load.js';

const digest = defineJob({ type: 'digest', schema: z.object({ to: z.email() }), queue: 'mail', timeout: 5_000 });
const functions = { api: 'functions/api.ts', worker: 'functions/worker.ts' };
const queues = [{ name: 'mail' }];

describe('defineConfig', () => {
  it('accepts a whole app and fills in the defaults', () => {
    const c = defineConfig({ jobs: [digest], functions, queues });
    assert.deepEqual(c.queues[0], {
      name: 'mail',
      workerTimeoutSeconds: 120,
      memoryMb: 256,
      reservedConcurrency: 5,
      batchSize: 'auto',
      scheduleMinutes: 1,
      oldestJobAgeAlarmSeconds: 900,
    });
    assert.deepEqual([c.periodicJobs, c.maintenanceScheduleMinutes], [[], 5]);
  });

  it('refuses, naming each problem: periodic jobs of unknown types, bad payloads, no entry file; a type listed twice', () => {
    const periodic = (p: object) =>
      defineConfig({ jobs: [digest], functions, queues, periodicJobs: [{ name: 'p', schedule: 'rate(1 hour)', ...p }] as never });
    assert.throws(() => periodic({ type: 'nope' }), /periodicJobs\.p: unknown job type nope \(known: digest\)/);
    assert.throws(() => periodic({ type: 'digest', payload: { to: 'not-an-address' } }), /periodicJobs\.p: invalid digest payload: to:/);
    assert.throws(
      () => periodic({ type: 'digest', payload: { to: 'a@example.com' } }),
      /functions\.periodic: periodic jobs need an entry file/,
    );
    assert.throws(() => defineConfig({ jobs: [digest, digest], functions, queues }), /job type digest is listed twice/);
    assert.throws(() => defineConfig({ jobs: [], functions, queues }), /jobs: list the job types/);
    assert.throws(() => defineConfig({ jobs: [digest], functions: { api: 'api.py', worker: 'w.ts' }, queues }), /functions\.api/);
    assert.throws(() => defineConfig({ jobs: [digest], functions, queues, typo: 1 } as never), /typo/);
  });
});

describe('the config loader', () => {
  const dir = realpathSync(mkdtempSync(join(import.meta.dirname, '..', '.sluice-config-test-')));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  it('finds sluice.config.ts from a folder below, and loads its TypeScript and what it imports', async () => {
    write('app/package.json', '{"type":"module"}');
    // As installed: the app's node_modules holds sluice (here, this checkout).
    mkdirSync(join(dir, 'app', 'node_modules'), { recursive: true });
    symlinkSync(join(import.meta.dirname, '..'), join(dir, 'app', 'node_modules', 'sluice'));
    write(
      'app/src/jobs.ts',
      "import { defineJob } from 'sluice';\nimport { z } from 'zod';\nexport const ping = defineJob({ type: 'ping', schema: z.object({ n: z.number() }) });\n",
    );
    write(
      'app/sluice.config.ts',
      "import { defineConfig } from 'sluice/config';\nimport { ping } from './src/jobs.js';\nexport default defineConfig({ jobs: [ping], functions: { api: 'a.ts', worker: 'w.ts' }, queues: [{ name: 'default' }] });\n",
    );
    mkdirSync(join(dir, 'app', 'src', 'deep'), { recursive: true });
    assert.equal(findConfigFile(join(dir, 'app', 'src', 'deep'), undefined), join(dir, 'app', 'sluice.config.ts'));
    const loaded = await loadAppConfig({ cwd: join(dir, 'app', 'src', 'deep') });
    assert.deepEqual([loaded.dir, loaded.root, loaded.config.jobs.map((j) => j.type)], [join(dir, 'app'), join(dir, 'app'), ['ping']]);
    assert.equal(loaded.config.jobs[0]?.schema.safeParse({ n: 1 }).success, true);
  });

  it('follows a package.json naming the file ("sluice": { "config": … }), and an explicit --config', () => {
    write('named/package.json', '{"sluice":{"config":"deploy/jobs.config.ts"}}');
    write('named/deploy/jobs.config.ts', 'export default {};');
    assert.equal(findConfigFile(join(dir, 'named'), undefined), join(dir, 'named', 'deploy', 'jobs.config.ts'));
    assert.equal(findConfigFile(dir, 'named/deploy/jobs.config.ts'), join(dir, 'named', 'deploy', 'jobs.config.ts'));
    assert.throws(() => findConfigFile(dir, 'missing.ts'), /config file missing\.ts not found/);
  });

  it('says what is wrong: no file, no default export, a bad config, a file that does not compile', async () => {
    mkdirSync(join(dir, 'empty'), { recursive: true });
    assert.throws(
      () => findConfigFile('/', undefined),
      (e: Error) => e instanceof ConfigFileError && /no sluice\.config\.ts in \/ or above it/.test(e.message),
    );
    write('nodefault/sluice.config.ts', 'export const x = 1;\n');
    await assert.rejects(loadAppConfig({ cwd: join(dir, 'nodefault') }), /has no default export: end it with `export default defineConfig/);
    write('bad/sluice.config.ts', "export default { jobs: [], queues: [{ name: 'Bad Name' }] };\n");
    await assert.rejects(loadAppConfig({ cwd: join(dir, 'bad') }), /bad\/sluice\.config\.ts: invalid sluice config/);
    write('broken/sluice.config.ts', 'export default {\n');
    await assert.rejects(loadAppConfig({ cwd: join(dir, 'broken') }), /cannot load .*broken\/sluice\.config\.ts: .*sluice\.config\.ts:2/);
  });
});
