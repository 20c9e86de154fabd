/**
 * The web console in a real browser: Debian's Chromium, driven by playwright-core (no browser download).
 * Load each page, filter the dead letters, open a job and its payload, pause and resume a queue, redrive
 * and purge with the count shown first, and see the read-only console hide and refuse every action; the
 * token guards it off loopback. (The charts, the jobs list and a job's timeline: consoleJobs.browser.test.ts.)
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startConsole } from '../scripts/ui/server.js';
import { Sluice } from '../src/index.js';
import { launchChromium, skipWithoutChromium } from './helpers/browser.js';
import { testSluice } from './helpers/db.js';
import { insertJob } from './helpers/jobs.js';

describe('the web console, in Chromium', { skip: skipWithoutChromium, concurrency: 1 }, async () => {
  const { pool, schema } = await testSluice();
  const known = new Sluice({ db: pool, schema, queues: ['default', 'emails', 'reports'] });
  const email = { type: 'send_email', queue: 'emails', priority: 0, maxAttempts: 5 };
  const dead: string[] = [];
  for (let i = 0; i < 3; i++) {
    dead.push(await insertJob(pool, schema, { state: 'dead', job: email, payload: { userId: `u${i}`, to: `u${i}@nowhere.invalid` } }));
  }
  const report = await insertJob(pool, schema, {
    state: 'dead',
    job: { type: 'generate_report', queue: 'reports', priority: 0, maxAttempts: 3 },
    payload: { reportId: 'r1' },
  });
  await insertJob(pool, schema, { state: 'ready', type: 'process_order', payload: { orderId: 'o1' } });
  const ui = await startConsole({ sluice: known });
  const readOnly = await startConsole({ sluice: known, readOnly: true });
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  });
  after(async () => {
    await browser?.close();
    await ui.close();
    await readOnly.close();
  });
  const cells = (selector: string) => page.locator(selector).allInnerTexts();

  it('shows every queue with its counts, and pauses and resumes one', async () => {
    await page.goto(ui.url);
    assert.equal(await page.title(), 'Queues · sluice');
    assert.deepEqual(await cells('#queues tbody tr td:first-child'), ['default', 'emails', 'reports']);
    const emails = page.locator('tr[data-queue="emails"] td');
    assert.deepEqual((await emails.allInnerTexts()).slice(0, 5), ['emails', '0', '0', '0', '3']);
    await page.locator('tr[data-queue="default"] button', { hasText: 'Pause' }).click();
    await page.waitForURL(ui.url);
    assert.equal(await page.locator('tr[data-queue="default"] .paused').innerText(), 'paused');
    assert.equal((await known.stats()).find((q) => q.queue === 'default')?.paused, true, 'through the library, in the database');
    await page.locator('tr[data-queue="default"] button', { hasText: 'Resume' }).click();
    await page.waitForURL(ui.url);
    assert.equal(await page.locator('tr[data-queue="default"] .paused').count(), 0);
  });

  it('filters the dead letters, opens a job, and shows its payload only on request', async () => {
    await page.goto(`${ui.url}dead-letters`);
    assert.equal(await page.locator('#dead-letters tbody tr').count(), 4);
    await page.fill('input[name="queue"]', 'emails');
    await page.click('button:has-text("Filter")');
    assert.deepEqual((await cells('#dead-letters tbody tr td:first-child')).sort(), [...dead].sort());
    assert.match(await page.locator('h1').innerText(), /Dead letters \(3\)/);
    await page.click(`#dead-letters a:has-text("${dead[0]}")`);
    assert.equal(await page.locator('[data-fact="state"]').innerText(), 'dead');
    assert.match(await page.locator('body').innerText(), /PermanentJobError: refused/);
    assert.equal(await page.locator('#payload').count(), 0, 'no payload until asked');
    await page.click('#show-payload');
    assert.match(await page.locator('#payload').innerText(), /"userId": "u0"/);
  });

  it('redrives by filter after showing how many will change, and purges one after the same', async () => {
    await page.goto(`${ui.url}dead-letters?queue=emails`);
    await page.click('button:has-text("Redrive all 3")');
    assert.match(await page.locator('#confirm-count').innerText(), /^Redrive 3 dead letters \(queue emails\)\?/);
    assert.equal(await known.countDeadLetters({ queue: 'emails' }), 3, 'nothing changed before the confirmation');
    const form = await page.evaluate(
      `new URLSearchParams(new FormData(document.querySelector('form[action="/dead-letters/redrive"]'))).toString()`,
    );
    await page.click('button:has-text("Redrive 3")');
    assert.equal(await page.locator('#done').innerText(), 'Redriven: 3 dead letters.');
    // The confirmation sent again (a double click, a reload): the same answer, nothing redriven twice.
    const again = await fetch(`${ui.url}dead-letters/redrive`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: String(form),
    }).then((r) => r.text());
    assert.match(again, /Redriven: 3 dead letters\./);
    const timeline = await known.jobTimeline(dead[0] as string);
    assert.equal(timeline.filter((e) => e.kind === 'redriven').length, 1, 'one redrive on the timeline');
    assert.equal(await known.countDeadLetters({ queue: 'emails' }), 0);
    assert.equal((await known.getJob(dead[0] as string))?.state, 'available');

    await page.goto(`${ui.url}jobs/${report}`);
    await page.click('button:has-text("Purge")');
    assert.match(await page.locator('#confirm-count').innerText(), /^Purge 1 dead letter \(id \d+\)\? They are deleted for good\./);
    await page.click('button:has-text("Purge 1")');
    assert.equal(await page.locator('#done').innerText(), 'Purged: 1 dead letter.');
    assert.equal(await known.getJob(report), null);
  });

  it('read-only: shows the same pages without a single action, and refuses a forged one', async () => {
    await page.goto(readOnly.url);
    assert.equal(await page.locator('button').count(), 0);
    assert.match(await page.locator('header').innerText(), /read-only/);
    const forged = await fetch(`${readOnly.url}queues/default/pause`, { method: 'POST', body: 'csrf=x' });
    assert.equal(forged.status, 403);
    assert.equal((await known.stats()).find((q) => q.queue === 'default')?.paused, false);
  });

  it('refuses a post without the page’s token, and needs a token off loopback', async () => {
    const forged = await fetch(`${ui.url}queues/default/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=guess',
    });
    assert.equal(forged.status, 403);
    await assert.rejects(startConsole({ sluice: known, host: '0.0.0.0' }), /give it a token/);
    const guarded = await startConsole({ sluice: known, token: 's3cret-token' });
    try {
      assert.equal((await fetch(guarded.url)).status, 401);
      assert.equal((await fetch(guarded.url, { headers: { authorization: 'Bearer s3cret-token' } })).status, 200);
      await page.goto(`${guarded.url}?token=s3cret-token`);
      assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar for a cookie');
      assert.equal(await page.title(), 'Queues · sluice');
    } finally {
      await guarded.close();
    }
  });

  it('answers only requests that name this machine (no DNS rebinding), and survives odd credentials', async () => {
    const port = new URL(ui.url).port;
    const raw = (path: string, headers: Record<string, string>, method = 'GET', body = '') =>
      new Promise<{ status: number; location?: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) });
        });
        req.on('error', reject);
        req.end(body);
      });
    assert.equal((await raw('/', { host: `attacker.example:${port}` })).status, 421, 'a rebound name is refused');
    assert.equal((await raw('/', { host: `localhost:${port}` })).status, 200);
    const post = await raw(
      '/queues/default/pause',
      { host: `127.0.0.1:${port}`, origin: 'http://attacker.example', 'content-type': 'application/x-www-form-urlencoded' },
      'POST',
      'csrf=x',
    );
    assert.equal(post.status, 421, 'a form from another origin is refused');
    const guarded = await startConsole({ sluice: known, token: 'tökén-ü' });
    try {
      const gport = new URL(guarded.url).port;
      const g = (path: string, headers: Record<string, string>) =>
        new Promise<{ status: number; location?: string }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: gport, path, headers }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) });
          });
          req.on('error', reject);
          req.end();
        });
      assert.equal((await g('/', { authorization: 'Bearer abcde' })).status, 401, 'a wrong token of another byte length');
      assert.equal((await g('/', { cookie: 'sluice_console=%E0' })).status, 401, 'a malformed cookie');
      const hop = await g(`/x/..//evil.example/?token=${encodeURIComponent('tökén-ü')}`, {});
      assert.equal(hop.status, 303);
      assert.ok(hop.location?.startsWith('/') && !hop.location.startsWith('//'), `stays on this site: ${hop.location}`);
    } finally {
      await guarded.close();
    }
  });

  it('lists the periodic jobs with their schedules and next runs', async () => {
    const withPeriodic = await startConsole({
      sluice: known,
      now: () => new Date('2030-01-01T05:30:00Z'),
      periodicJobs: [
        { name: 'daily-digest', schedule: 'cron(0 6 * * ? *)', type: 'send_email' },
        { name: 'hourly-sweep', schedule: 'rate(1 hour)', type: 'process_order', queue: 'default' },
      ],
    });
    try {
      await page.goto(withPeriodic.url);
      await page.click('header a:has-text("Periodic jobs")');
      assert.deepEqual(await cells('#periodic tbody tr td:first-child'), ['daily-digest', 'hourly-sweep']);
      assert.equal(await page.locator('tr[data-name="daily-digest"] [data-next]').innerText(), '2030-01-01T06:00:00.000Z');
      assert.match(await page.locator('tr[data-name="hourly-sweep"] [data-next]').innerText(), /^every 1 hour/);
    } finally {
      await withPeriodic.close();
    }
    await page.goto(ui.url);
    assert.equal(await page.locator('header a:has-text("Periodic jobs")').count(), 0, 'no link without periodic jobs');
  });
});
