/**
 * `npm run dev` on a real terminal (tmux), at 160×45 and 80×24: the header and its hints stay on screen and
 * fit the width; each failure is one line in the pane naming the function, the job, its attempt and the
 * error; idle lines are left out; the view redraws on the alternate screen, so the scrollback stays empty;
 * Ctrl-C still stops it cleanly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../scripts/dev/net.js';
import { sleep } from './helpers/db.js';

const root = join(import.meta.dirname, '..');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
// CI installs tmux (.ci/run); a developer's machine without it skips, saying why.
const skip = hasTmux || process.env.CI ? false : 'needs tmux (apt-get install tmux)';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (session: string) => tmux('capture-pane', '-p', '-t', session).replace(/\s+$/, '').split('\n');

describe('the dev view on a terminal', { skip, concurrency: 1 }, async () => {
  const session = `sluice-view-${process.pid}`;
  const devDir = mkdtempSync(join(tmpdir(), 'sluice-dev-view-'));
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  after(() => {
    spawnSync('tmux', ['kill-session', '-t', session]);
    rmSync(devDir, { recursive: true, force: true });
  });
  const until = async (what: string, check: () => boolean, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!check()) {
      assert.ok(Date.now() < end, `timed out waiting for ${what}; the screen:\n${screen(session).join('\n')}`);
      await sleep(200);
    }
  };
  const post = async (payload: object) => {
    const res = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'send_email', payload }),
    });
    assert.equal(res.status, 201);
    return ((await res.json()) as { id: string }).id;
  };

  it('on a terminal, a failure to start is shown as it is (the view has not taken the screen yet)', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    const busy = (taken.address() as { port: number }).port;
    const name = `${session}-busy`;
    try {
      const command = [
        'env',
        '-u',
        'DATABASE_URL',
        '-u',
        'NODE_OPTIONS',
        `SLUICE_DEV_DIR=${devDir}-busy`,
        'npm',
        'run',
        'dev',
        '--',
        '--port',
        String(busy),
      ];
      tmux(
        'new-session',
        '-d',
        '-s',
        name,
        '-x',
        '120',
        '-y',
        '30',
        '-c',
        root,
        command.join(' '),
        ';',
        'set-option',
        '-t',
        name,
        'remain-on-exit',
        'on',
      );
      await until('the refusal', () => screen(name).some((l) => l.includes(`port ${busy} is in use`)), 60_000);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', name]);
      taken.close();
      rmSync(`${devDir}-busy`, { recursive: true, force: true });
    }
  });

  it('at 160×45: the header on top, one line per failure with its function, job, attempt and error; no idle lines', async () => {
    const env = ['env', '-u', 'DATABASE_URL', '-u', 'NODE_OPTIONS', `SLUICE_DEV_DIR=${devDir}`];
    const command = [...env, 'npm', 'run', 'dev', '--', '--port', String(port), '--tick-seconds', '1', '--fresh'].join(' ');
    // (remain-on-exit, set in the same call: the pane stays readable after the stop.)
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '160',
      '-y',
      '45',
      '-c',
      root,
      command,
      ';',
      'set-option',
      '-t',
      session,
      'remain-on-exit',
      'on',
    );
    await until('the view', () => screen(session)[0]?.startsWith('sluice dev  http://localhost:') ?? false, 120_000);
    const dead = await post({ userId: 'v1', to: 'v1@nowhere.invalid', template: 'welcome' });
    await post({ userId: 'v2', to: 'v2@flaky.example', template: 'welcome' });
    await until('the dead job in the pane', () => screen(session).some((l) => l.includes(`job dead-lettered job_id=${dead}`)));
    await until('a retry warning in the pane', () => screen(session).some((l) => / WARN worker-emails job attempt failed/.test(l)));
    const lines = screen(session);
    assert.match(
      lines[0] ?? '',
      new RegExp(`^sluice dev  http://localhost:${port}  console http://127\\.0\\.0\\.1:\\d+/  Ctrl-C to stop$`),
    );
    assert.match(lines[1] ?? '', /^config examples\/sluice\.config\.ts {2}database /);
    assert.match(lines[2] ?? '', /^try: POST http:\/\/localhost:\d+\/v1\/jobs .*npx sluice status$/, 'the hint, whole at this width');
    assert.ok(lines.some((l) => /^queue\s+ready\s+scheduled\s+running\s+dead\s+oldest ready\s+paused\s+jobs\/s\s+p95$/.test(l)));
    const deadLine = lines.find((l) => l.includes(`job dead-lettered job_id=${dead}`)) ?? '';
    assert.match(
      deadLine,
      /^\d\d:\d\d:\d\d ERROR worker-emails job dead-lettered job_id=\d+ job_type=send_email attempt=1 error=PermanentJobError: recipient domain does not accept mail/,
    );
    assert.ok(!lines.some((l) => /drain finished(?!.*claimed=)/.test(l)), 'no drain that claimed nothing');
    assert.ok(!lines.some((l) => /maintenance finished(?!.*pruned=)/.test(l)), 'no maintenance that pruned nothing');
    assert.ok(lines.length <= 45);
    assert.ok(!lines.some((l) => l.startsWith('{')), 'no raw JSON over the view');
  });

  it('at 80×24: every line fits, the header stays on top, and the scrollback stays empty', async () => {
    tmux('resize-window', '-t', session, '-x', '80', '-y', '24');
    await sleep(2_500); // a redraw or two
    const lines = screen(session);
    assert.ok(lines.length <= 24, `${lines.length} lines`);
    for (const l of lines) assert.ok(l.length <= 80, `a line wider than the terminal: ${l}`);
    assert.match(lines[0] ?? '', /^sluice dev {2}http:\/\/localhost:\d+ {2}console /, 'the title, cut at the width if need be');
    assert.match(lines[2] ?? '', /^try: POST .*…$/, 'the hint cut at the width, not wrapped');
    assert.ok(lines.some((l) => l.startsWith('queue ')));
    assert.equal(tmux('display-message', '-p', '-t', session, '#{history_size}').trim(), '0', 'redrawn in place: no scrollback');
  });

  it('Ctrl-C leaves the view for the terminal and stops cleanly', async () => {
    tmux('send-keys', '-t', session, 'C-c');
    await until('the clean stop', () => screen(session).some((l) => l.includes('[sluice dev] stopped cleanly')), 60_000);
    assert.ok(!screen(session).some((l) => l.startsWith('queue ')), 'back on the terminal’s own screen');
  });
});
