/**
 * `.sluice/dev.json` names the running `sluice dev`. After a power cut, a reboot or a container restart its
 * pid may belong to any other process now: the pid alone is not trusted, its start time must match too, so
 * the CLI does not use a dead server's database and a new `sluice dev` is not refused.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { devBus, devDatabaseUrl, startDevDatabase, stillRunning } from '../scripts/dev/database.js';

const started = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

describe('the dev server state file', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  const saved = { dir: process.env.SLUICE_DEV_DIR, url: process.env.DATABASE_URL };
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dev-state-'));
  process.env.SLUICE_DEV_DIR = dir;
  delete process.env.DATABASE_URL;
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    process.env.SLUICE_DEV_DIR = saved.dir;
    if (saved.url !== undefined) process.env.DATABASE_URL = saved.url;
    if (saved.dir === undefined) delete process.env.SLUICE_DEV_DIR;
  });
  // A live process that is not a dev server: this test's parent.
  const other = process.ppid;
  const write = (file: string, state: object) => writeFileSync(join(dir, file), JSON.stringify(state));

  it('trusts a pid only with the start time it had when the file was written', () => {
    assert.equal(stillRunning({ pid: other, started: started(other) }), true);
    assert.equal(stillRunning({ pid: other, started: '1' }), false, 'a reused pid');
    assert.equal(stillRunning({ pid: other }), false, 'no start time recorded, though /proc has one');
    assert.equal(stillRunning({ pid: 2 ** 22 + 7 }), false, 'no such process');
    assert.equal(stillRunning({ pid: 'x' }), false);
  });

  it('one sluice dev per folder, by an atomic lock: a live holder refuses a second, a dead one is taken over', async () => {
    write('dev.lock', { pid: other, started: started(other) });
    await assert.rejects(startDevDatabase(), /another `sluice dev` \(pid \d+\) is using/);
    write('dev.lock', { pid: 2 ** 22 + 7, started: '1' }); // a process gone (kill -9, a reboot)
    const db = await startDevDatabase();
    try {
      assert.equal(JSON.parse(readFileSync(join(dir, 'dev.lock'), 'utf8')).pid, process.pid, 'taken over');
      assert.equal(devDatabaseUrl(), db.url);
    } finally {
      await db.stop();
    }
    assert.ok(!existsSync(join(dir, 'dev.lock')), 'released on stop');
  });

  it('the CLI ignores a dev.json whose pid now belongs to another process', () => {
    write('dev.json', { url: 'postgres://u:p@127.0.0.1:1/db', pid: other, started: '1' });
    assert.throws(() => devDatabaseUrl(), /no database: set DATABASE_URL, or start `sluice dev`/);
    write('dev.json', { url: 'postgres://u:p@127.0.0.1:1/db', pid: other, started: started(other) });
    assert.equal(devDatabaseUrl(), 'postgres://u:p@127.0.0.1:1/db');
    write('bus.json', { url: 'http://127.0.0.1:1', name: 'sluice-dev', pid: other, started: '1' });
    assert.equal(devBus(), undefined);
  });
});
