/**
 * The console's queue pages, rendered on the server as HTML (the overview's charts are the only script,
 * nothing from a CDN): every value is escaped, every action is a form that posts back with the console's
 * CSRF token, and an action that changes many jobs first shows how many it will change and asks to confirm.
 */
import type { JobView, QueueActivity, QueueStats } from '../../src/index.js';
import { humanMs } from '../timeline.js';
import { type ChartWindow, chartsHtml } from './charts.js';
import { action, age, esc, layout, type PageContext } from './html.js';

export type { PageContext } from './html.js';

export interface PeriodicRow {
  name: string;
  schedule: string;
  type: string;
  queue?: string | undefined;
  /** The next tick (UTC), or why it cannot be told. */
  next: Date | string;
}

export { esc, layout } from './html.js';

const ms = (v: number | null) => (v === null ? '' : humanMs(v));

export function overviewPage(
  stats: readonly QueueStats[],
  activity: readonly QueueActivity[],
  window: ChartWindow,
  ctx: PageContext,
): string {
  const rows = stats
    .map((q) => {
      const a = activity.find((x) => x.queue === q.queue);
      const done = a?.points.reduce((n, p) => n + p.succeeded, 0) ?? 0;
      const failed = a?.points.reduce((n, p) => n + p.failed + p.dead, 0) ?? 0;
      return `<tr data-queue="${esc(q.queue)}"><td>${esc(q.queue)}</td><td>${q.ready}</td><td>${q.scheduled}${q.scheduledCapped ? '+' : ''}</td><td>${q.running}</td>
<td>${q.dead > 0 ? `<a href="/dead-letters?queue=${encodeURIComponent(q.queue)}">${q.dead}</a>` : '0'}</td><td>${age(q.oldestReadyAgeSeconds)}</td>
<td class="t">${q.paused ? '<span class="paused">paused</span>' : ''}</td>
<td data-stat="succeeded">${done}</td><td data-stat="failures">${failed}</td><td data-stat="p50">${ms(a?.p50Ms ?? null)}</td><td data-stat="p95">${ms(a?.p95Ms ?? null)}</td><td data-stat="p99">${ms(a?.p99Ms ?? null)}</td>
<td class="t">${q.paused ? action(ctx, `/queues/${encodeURIComponent(q.queue)}/resume`, 'Resume') : action(ctx, `/queues/${encodeURIComponent(q.queue)}/pause`, 'Pause')}</td></tr>`;
    })
    .join('');
  const table = `<table id="queues"><thead><tr><th>queue</th><th>ready</th><th>scheduled</th><th>running</th><th>dead</th><th>oldest ready</th><th class="t">state</th>
<th title="finished attempts, ${esc(window.label)}">succeeded</th><th title="${esc(window.label)}">failures</th><th title="attempt durations, ${esc(window.label)}">p50</th><th>p95</th><th>p99</th><th></th></tr></thead><tbody>${rows}</tbody></table>
<p class="muted">Succeeded, failures and durations: ${esc(window.label)}, from the counts each outcome batch writes (durations exact to within 19%).</p>`;
  return layout(
    'Queues',
    stats.length === 0 ? '<p class="muted">No queue holds a job yet.</p>' : `${table}${chartsHtml(activity, window)}${costsTable(stats)}`,
    ctx,
  );
}

/** What each job type cost over the last hour, where the workers report it (the Lambda worker does). */
function costsTable(stats: readonly QueueStats[]): string {
  const rows = stats.flatMap((q) =>
    (q.costs ?? []).map(
      (c) =>
        `<tr data-cost="${esc(`${q.queue}/${c.type}`)}"><td>${esc(q.queue)}</td><td class="t">${esc(c.type)}</td><td>${c.attempts}</td><td>${c.gbSeconds.toFixed(3)}</td><td data-stat="per1000">${c.gbSecondsPer1000.toFixed(3)}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '';
  return `<h2>Cost, the last hour</h2><table id="costs"><thead><tr><th>queue</th><th class="t">type</th><th>attempts</th><th>GB-seconds</th><th>per 1,000 attempts</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="muted">The workers' billed duration and memory, split over the types by their attempts' run time.</p>`;
}

export interface DeadLetterPage {
  jobs: readonly JobView[];
  next: string | null;
  filter: { queue?: string | undefined; type?: string | undefined };
  total: number;
}

export function deadLettersPage(page: DeadLetterPage, ctx: PageContext): string {
  const f = page.filter;
  const filterForm = `<form method="get" action="/dead-letters" class="box"><label>queue <input name="queue" value="${esc(f.queue ?? '')}"></label>
<label>type <input name="type" value="${esc(f.type ?? '')}"></label><button type="submit">Filter</button></form>`;
  const scope = { ...(f.queue ? { queue: f.queue } : {}), ...(f.type ? { type: f.type } : {}) };
  const bulk =
    page.total > 0
      ? `<p>${action(ctx, '/dead-letters/redrive', `Redrive all ${page.total}`, scope)} ${action(ctx, '/dead-letters/purge', `Purge all ${page.total}`, scope, true)}</p>`
      : '';
  const rows = page.jobs
    .map((j) => {
      const last = j.errors.at(-1);
      return `<tr data-id="${esc(j.id)}"><td><a href="/jobs/${esc(j.id)}">${esc(j.id)}</a></td><td class="t">${esc(j.type)}</td><td class="t">${esc(j.queue)}</td>
<td>${j.attempt}</td><td class="t err">${last ? esc(`${last.name}: ${last.message}`) : ''}</td></tr>`;
    })
    .join('');
  const table =
    page.jobs.length === 0
      ? '<p class="muted" id="none">No dead letters.</p>'
      : `<table id="dead-letters"><thead><tr><th>id</th><th class="t">type</th><th class="t">queue</th><th>attempts</th><th class="t">last error</th></tr></thead><tbody>${rows}</tbody></table>`;
  const more = page.next
    ? `<p><a href="/dead-letters?${new URLSearchParams({ ...scope, after: page.next }).toString()}">Next page</a></p>`
    : '';
  return layout(`Dead letters (${page.total})`, `${filterForm}${bulk}${table}${more}`, ctx);
}

/** Before a bulk action: how many jobs it changes, and a button to go ahead (or a link back). */
/**
 * Before a bulk dead-letter action: how many it changes, and a button to go ahead carrying its own
 * idempotency key, so a confirmation sent twice (a double click, a reload) acts once and answers the same.
 */
export function confirmPage(
  what: 'redrive' | 'purge',
  count: number,
  fields: Record<string, string>,
  requestKey: string,
  ctx: PageContext,
): string {
  const scope = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const verb = what === 'redrive' ? 'Redrive' : 'Purge';
  const body =
    count === 0
      ? '<p id="confirm-count">Nothing matches: no dead letter would change.</p><p><a href="/dead-letters">Back</a></p>'
      : `<p id="confirm-count">${verb} <strong>${count}</strong> dead letter${count === 1 ? '' : 's'}${scope ? ` (${esc(scope)})` : ''}?${what === 'purge' ? ' They are deleted for good.' : ' They run again, attempts reset.'}</p>
<p>${action(ctx, `/dead-letters/${what}`, `${verb} ${count}`, { ...fields, confirm: '1', requestKey }, what === 'purge')} <a href="/dead-letters">Cancel</a></p>`;
  return layout(`${verb} dead letters`, body, ctx);
}

export function periodicPage(rows: readonly PeriodicRow[], ctx: PageContext): string {
  const body =
    rows.length === 0
      ? '<p class="muted">The app declares no periodic jobs.</p>'
      : `<table id="periodic"><thead><tr><th>name</th><th class="t">schedule</th><th class="t">type</th><th class="t">queue</th><th class="t">next run (UTC)</th></tr></thead><tbody>${rows
          .map(
            (r) =>
              `<tr data-name="${esc(r.name)}"><td>${esc(r.name)}</td><td class="t">${esc(r.schedule)}</td><td class="t">${esc(r.type)}</td><td class="t">${esc(r.queue ?? '')}</td><td class="t" data-next>${esc(typeof r.next === 'string' ? r.next : r.next.toISOString())}</td></tr>`,
          )
          .join('')}</tbody></table><p class="muted">Each tick enqueues once, with the key periodic:&lt;name&gt;:&lt;tick time&gt;.</p>`;
  return layout('Periodic jobs', body, ctx);
}

export function donePage(message: string, back: string, ctx: PageContext): string {
  return layout('Done', `<p id="done">${esc(message)}</p><p><a href="${esc(back)}">Back</a></p>`, ctx);
}
