/**
 * The console's activity charts and a job's timeline, in Chromium, with figures made the real way: jobs
 * drained by a worker, so the per-minute counts and the timeline are what the outcome statements wrote.
 * Screenshots of the overview and a job page go to a temporary folder, or to docs/ with
 * SLUICE_SCREENSHOTS=docs (how the README's pictures are made).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { z } from 'zod';
import { startConsole } from '../scripts/ui/server.js';
import { defineHandler, defineJob, Sluice } from '../src/index.js';
import { launchChromium, screenshotDir, skipWithoutChromium } from './helpers/browser.js';
import { sleep, testSluice } from './helpers/db.js';

const shots = screenshotDir();

describe('the console: charts and timelines, in Chromium', { skip: skipWithoutChromium, concurrency: 1 }, async () => {
  const { pool, schema } = await testSluice();
  const sluice = new Sluice({ db: pool, schema, queues: ['emails', 'reports'] });
  const sendEmail = defineJob({
    type: 'send_email',
    queue: 'emails',
    schema: z.object({ to: z.string(), n: z.number() }),
    backoff: { baseMs: 0, maxMs: 0 },
    maxAttempts: 2,
    timeout: 2_000,
  });
  const report = defineJob({ type: 'build_report', queue: 'reports', schema: z.object({ n: z.number() }), timeout: 2_000 });
  // 40 emails: every 8th fails its first attempt; n = 0 fails both and dies. Reports take about 40 ms.
  // The one the job page test opens came from a traced request.
  const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await sluice.enqueueMany(
    Array.from({ length: 40 }, (_, n) => ({ job: sendEmail, payload: { to: `u${n}@example.com`, n }, options: n === 8 ? { trace } : {} })),
  );
  await sluice.enqueueMany(Array.from({ length: 6 }, (_, n) => ({ job: report, payload: { n } })));
  const emailHandler = defineHandler(sendEmail, async ({ n }, ctx) => {
    await ctx.step('render', () => `template-${n}`);
    await sleep(2 + (n % 5));
    if (n === 0 || (n % 8 === 0 && ctx.attempt === 1)) throw new Error(`the mail server said 451 (try ${ctx.attempt})`);
    await ctx.step('send', () => `message-${n}`);
  });
  await sluice.worker({ queue: 'emails', handlers: [emailHandler], concurrency: 8 }).drain({ remainingTimeMs: 10_000 });
  await sluice.worker({ queue: 'reports', handlers: [defineHandler(report, () => sleep(40))] }).drain({ remainingTimeMs: 10_000 });
  const [emailJob] = (
    await pool.query<{ id: string }>(`SELECT id::text FROM "${schema}".jobs WHERE payload->>'n' = '8' AND type = 'send_email'`)
  ).rows as [{ id: string }];

  // What a Lambda worker reports of its drains' cost (the console shows it where a worker reported it).
  await sluice.recordCosts([{ queue: 'emails', type: 'send_email', attempts: 46, billedMs: 920, gbMs: 230 }]);
  const ui = await startConsole({ sluice });
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  });
  after(async () => {
    await browser?.close();
    await ui.close();
    if (process.env.SLUICE_SCREENSHOTS !== 'docs') rmSync(shots, { recursive: true, force: true });
  });
  const cells = (selector: string) => page.locator(selector).allInnerTexts();

  it('draws the last hour per queue from the database’s counts, with duration percentiles', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(ui.url);
    await page.waitForFunction("window.sluiceCharts && window.sluiceCharts['chart-failures']");
    // (Expressions as strings: the page runs them as they are, not as this file's compiled code.)
    const drawn = (await page.evaluate(`(() => {
      const charts = window.sluiceCharts;
      const sums = (id) => charts[id].data.slice(1).map((s) => s.reduce((a, b) => a + (b ?? 0), 0));
      return {
        labels: charts['chart-throughput'].series.slice(1).map((s) => s.label),
        throughput: sums('chart-throughput'),
        failures: sums('chart-failures'),
        points: charts['chart-throughput'].data[0].length,
        canvases: document.querySelectorAll('.uplot canvas').length,
      };
    })()`)) as { labels: string[]; throughput: number[]; failures: number[]; points: number; canvases: number };
    assert.deepEqual(errors, [], 'no script error, nothing refused by the content security policy');
    assert.deepEqual(drawn.labels, ['emails', 'reports']);
    // emails: 39 succeeded; failures: 4 first attempts (n = 8, 16, 24, 32) + n = 0 twice (failed, then dead).
    assert.deepEqual(drawn.throughput, [39, 6]);
    assert.deepEqual(drawn.failures, [6, 0]);
    assert.equal(drawn.points, 61, 'a point a minute over the hour');
    assert.equal(drawn.canvases, 2);
    const row = (queue: string, stat: string) => page.locator(`tr[data-queue="${queue}"] [data-stat="${stat}"]`).innerText();
    assert.deepEqual([await row('emails', 'succeeded'), await row('emails', 'failures')], ['39', '6']);
    assert.match(await row('reports', 'p50'), /^\d+ ms$/);
    const p50 = Number.parseInt(await row('reports', 'p50'), 10);
    assert.ok(p50 >= 40 && p50 < 400, `reports take about 40 ms: p50 ${p50}`);
    assert.deepEqual(await cells('#costs tbody tr[data-cost="emails/send_email"] td'), ['emails', 'send_email', '46', '0.230', '5.000']);
    assert.equal(await page.locator('#costs tbody tr').count(), 1, 'reports had no cost reported');
    await page.screenshot({ path: join(shots, 'console-overview.png'), fullPage: true });

    await page.click('#window-other');
    await page.waitForFunction("window.sluiceCharts && window.sluiceCharts['chart-throughput']");
    assert.match(await page.locator('h2').first().innerText(), /the last day/);
    assert.equal(await page.evaluate("window.sluiceCharts['chart-throughput'].data[0].length"), 1441);
  });

  it('shows a job’s timeline: attempts with durations and errors, and its steps', async () => {
    await page.goto(`${ui.url}jobs/${emailJob.id}`);
    assert.equal(await page.locator('[data-fact="state"]').innerText(), 'succeeded');
    assert.match(await page.locator('[data-fact="finished"]').innerText(), /^\d{4}-\d\d-\d\dT/);
    assert.match(await page.locator('[data-fact="ran for"]').innerText(), /^\d+ ms$/);
    assert.equal(
      await page.locator('[data-fact="trace"]').textContent(),
      '4bf92f3577b34da6a3ce929d0e0e4736 (X-Ray 1-4bf92f35-77b34da6a3ce929d0e0e4736)',
    );
    const what = await page.locator('#timeline tbody tr td:nth-child(2)').allInnerTexts();
    assert.deepEqual(what, [
      'enqueued on emails',
      'attempt 1 failed: Error: the mail server said 451 (try 1)',
      'step render completed',
      'attempt 2 succeeded',
      'step send completed',
    ]);
    await page.screenshot({ path: join(shots, 'console-job.png'), fullPage: true });
  });

  it('cancels a waiting job from its page; the timeline shows it', async () => {
    const later = await sluice.enqueue(report, { n: 99 }, { delayMs: 3_600_000 });
    await page.goto(`${ui.url}jobs/${later.id}`);
    assert.equal(await page.locator('[data-fact="state"]').innerText(), 'scheduled');
    assert.equal(await page.locator('[data-fact="trace"]').textContent(), '', 'enqueued without a trace');
    await page.click('button:has-text("Cancel")');
    await page.waitForURL(`${ui.url}jobs/${later.id}`);
    assert.equal(await page.locator('[data-fact="state"]').innerText(), 'cancelled');
    assert.deepEqual(await page.locator('#timeline tbody tr td:nth-child(2)').allInnerTexts(), [
      'enqueued on reports',
      'cancelled before it ran',
    ]);
    assert.equal(await page.locator('button:has-text("Cancel")').count(), 0, 'nothing to cancel any more');
  });

  it('filters the jobs list, pages through it, and opens a job', async () => {
    await page.goto(`${ui.url}jobs`);
    assert.equal(await page.locator('h1').innerText(), 'Jobs (47)', '40 emails, 6 reports and the cancelled one');
    const ids = await cells('#jobs tbody tr td:first-child');
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => Number(b) - Number(a)),
      'newest first',
    );
    await page.screenshot({ path: join(shots, 'console-jobs.png') });
    await page.selectOption('select[name="state"]', 'dead');
    await page.click('button:has-text("Filter")');
    assert.equal(await page.locator('h1').innerText(), 'Jobs (1 matching)');
    assert.match((await cells('#jobs tbody tr td:last-child'))[0] ?? '', /the mail server said 451 \(try 2\)/);
    await page.click('#jobs tbody tr a');
    assert.equal(await page.locator('[data-fact="state"]').innerText(), 'dead');
    await page.goto(`${ui.url}jobs?queue=reports&state=succeeded`);
    assert.equal(await page.locator('#jobs tbody tr').count(), 6);
    await page.goto(`${ui.url}jobs?createdAfter=2999-01-01T00:00`);
    assert.equal(await page.locator('#none').innerText(), 'No job matches.');
    await page.goto(`${ui.url}jobs?idFrom=9&idTo=3`);
    assert.match(await page.locator('.err').innerText(), /idFrom must be <= idTo/);
  });

  it('cancels every live job a filter names after showing how many, once however often the form is sent', async () => {
    await sluice.enqueueMany(Array.from({ length: 55 }, (_, n) => ({ job: report, payload: { n }, options: { delayMs: 3_600_000 } })));
    await page.goto(`${ui.url}jobs?state=scheduled&queue=reports`);
    assert.equal(await page.locator('h1').innerText(), 'Jobs (55 matching)');
    assert.equal(await page.locator('#jobs tbody tr').count(), 50);
    const first = await cells('#jobs tbody tr td:first-child');
    await page.click('#next');
    const second = await cells('#jobs tbody tr td:first-child');
    assert.equal(second.length, 5);
    assert.equal(new Set([...first, ...second]).size, 55, 'no job twice across the pages');
    await page.goto(`${ui.url}jobs?state=scheduled&queue=reports`);
    await page.click('button:has-text("Cancel the 55 live jobs matching")');
    assert.match(await page.locator('#confirm-count').innerText(), /^Cancel 55 live jobs \(state scheduled, queue reports\)\?/);
    assert.equal(await sluice.countJobs({ state: 'scheduled', queue: 'reports' }), 55, 'nothing changed before the confirmation');
    const form = await page.evaluate(`new URLSearchParams(new FormData(document.querySelector('form[action="/jobs/cancel"]'))).toString()`);
    await page.click('button:has-text("Cancel 55")');
    assert.equal(await page.locator('#done').innerText(), 'Cancelled: 55 jobs.');
    assert.equal(await sluice.countJobs({ state: 'scheduled', queue: 'reports' }), 0);
    // The same confirmation sent again (a double click, a reload): the first answer, nothing more changed.
    const again = await fetch(`${ui.url}jobs/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: String(form),
    }).then((r) => r.text());
    assert.match(String(again), /Already done: Cancelled: 55 jobs\./);
    const [one] = second;
    assert.deepEqual(await page.goto(`${ui.url}jobs/${one}`).then(() => cells('#timeline tbody tr td:nth-child(2)')), [
      'enqueued on reports',
      'cancelled before it ran',
    ]);
  });

  it('left real PNG screenshots of the overview and a job page', () => {
    for (const name of ['console-overview.png', 'console-jobs.png', 'console-job.png']) {
      const png = readFileSync(join(shots, name));
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${name} is a PNG`);
      assert.ok(png.length > 5_000, `${name} shows something`);
    }
  });
});
