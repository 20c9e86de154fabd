/**
 * The console's pages, rendered on the server as plain HTML (no script, nothing from a CDN): every value
 * is escaped, every action is a form that posts back with the console's CSRF token, and an action that
 * changes many jobs first shows how many it will change and asks to confirm.
 */
import type { JobView, QueueStats } from '../../src/index.js';

/** HTML-escape text for element content and attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export interface PageContext {
  /** Hides every action, and the server refuses them. */
  readOnly: boolean;
  csrf: string;
  /** Whether the app declares periodic jobs (their page is linked). */
  periodic?: boolean;
}

export interface PeriodicRow {
  name: string;
  schedule: string;
  type: string;
  queue?: string | undefined;
  /** The next tick (UTC), or why it cannot be told. */
  next: Date | string;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header a{color:#cfd6e4;text-decoration:none}header strong{font-size:16px}main{padding:16px 20px;max-width:1100px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 16px}th,td{padding:6px 10px;border-bottom:1px solid #e3e6ec;text-align:right}
th:first-child,td:first-child,th.t{text-align:left}th{font-weight:600;background:#eef0f4}td.t{text-align:left}
form{display:inline;margin:0}button{font:inherit;padding:3px 10px;border:1px solid #8791a3;border-radius:4px;background:#fff;cursor:pointer}
button.danger{border-color:#b3261e;color:#b3261e}.paused{color:#b3261e;font-weight:600}.muted{color:#6b7383}
pre{background:#fff;border:1px solid #e3e6ec;padding:10px;overflow:auto}.box{background:#fff;border:1px solid #e3e6ec;padding:12px 16px;margin:8px 0}
.err{color:#b3261e}label{margin-right:10px}input{font:inherit;padding:2px 6px}`;

export function layout(title: string, body: string, ctx: PageContext): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)} · sluice</title><style>${STYLE}</style></head><body>
<header><strong>sluice</strong><a href="/">Queues</a><a href="/dead-letters">Dead letters</a><a href="/jobs">Find a job</a>${ctx.periodic ? '<a href="/periodic">Periodic jobs</a>' : ''}${ctx.readOnly ? '<span class="muted">read-only</span>' : ''}</header>
<main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

/** A button that posts to `action` (with the CSRF token), or nothing in read-only mode. */
function action(ctx: PageContext, path: string, label: string, fields: Record<string, string> = {}, danger = false): string {
  if (ctx.readOnly) return '';
  const hidden = Object.entries({ ...fields, csrf: ctx.csrf })
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  return `<form method="post" action="${esc(path)}">${hidden}<button${danger ? ' class="danger"' : ''} type="submit">${esc(label)}</button></form>`;
}

const age = (s: number | null) =>
  s === null ? '' : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;

export function overviewPage(stats: readonly QueueStats[], ctx: PageContext): string {
  const rows = stats
    .map(
      (q) => `<tr data-queue="${esc(q.queue)}"><td>${esc(q.queue)}</td><td>${q.ready}</td><td>${q.scheduled}</td><td>${q.running}</td>
<td>${q.dead > 0 ? `<a href="/dead-letters?queue=${encodeURIComponent(q.queue)}">${q.dead}</a>` : '0'}</td><td>${age(q.oldestReadyAgeSeconds)}</td>
<td class="t">${q.paused ? '<span class="paused">paused</span>' : ''}</td>
<td class="t">${q.paused ? action(ctx, `/queues/${encodeURIComponent(q.queue)}/resume`, 'Resume') : action(ctx, `/queues/${encodeURIComponent(q.queue)}/pause`, 'Pause')}</td></tr>`,
    )
    .join('');
  const table = `<table id="queues"><thead><tr><th>queue</th><th>ready</th><th>scheduled</th><th>running</th><th>dead</th><th>oldest ready</th><th class="t">state</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  return layout('Queues', stats.length === 0 ? '<p class="muted">No queue holds a job yet.</p>' : table, ctx);
}

function errorsList(job: JobView): string {
  if (job.errors.length === 0) return '<p class="muted">No failed attempt.</p>';
  return `<table><thead><tr><th>attempt</th><th class="t">when</th><th class="t">error</th></tr></thead><tbody>${job.errors
    .map((e) => `<tr><td>${e.attempt}</td><td class="t">${esc(e.at)}</td><td class="t err">${esc(`${e.name}: ${e.message}`)}</td></tr>`)
    .join('')}</tbody></table>`;
}

export function jobPage(job: JobView, showPayload: boolean, ctx: PageContext): string {
  const facts: Array<[string, unknown]> = [
    ['state', job.state],
    ['type', job.type],
    ['queue', job.queue],
    ['attempt', `${job.attempt} of ${job.maxAttempts}`],
    ['priority', job.priority],
    ['created', job.createdAt.toISOString()],
    ['run at', job.runAt.toISOString()],
    ['finished', job.finishedAt ? job.finishedAt.toISOString() : ''],
    ['idempotency key', job.idempotencyKey ?? ''],
  ];
  const list = `<table id="job"><tbody>${facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="t" data-fact="${esc(k)}">${esc(v)}</td></tr>`).join('')}</tbody></table>`;
  const payload = showPayload
    ? `<h2>Payload</h2><pre id="payload">${esc(JSON.stringify(job.payload, null, 2))}</pre>`
    : `<p><a id="show-payload" href="/jobs/${esc(job.id)}?payload=1">Show the payload</a> <span class="muted">(it may hold personal data)</span></p>`;
  const actions =
    job.state === 'dead'
      ? `<p>${action(ctx, '/dead-letters/redrive', 'Redrive', { id: job.id })} ${action(ctx, '/dead-letters/purge', 'Purge', { id: job.id }, true)}</p>`
      : '';
  return layout(`Job ${job.id}`, `${list}${actions}<h2>Failed attempts</h2>${errorsList(job)}${payload}`, ctx);
}

export function findJobPage(ctx: PageContext, message = ''): string {
  return layout(
    'Find a job',
    `${message ? `<p class="err">${esc(message)}</p>` : ''}<form method="get" action="/jobs"><label>Job id <input name="id" inputmode="numeric"></label><button type="submit">Open</button></form>`,
    ctx,
  );
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
export function confirmPage(what: 'redrive' | 'purge', count: number, fields: Record<string, string>, ctx: PageContext): string {
  const scope = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const verb = what === 'redrive' ? 'Redrive' : 'Purge';
  const body =
    count === 0
      ? '<p id="confirm-count">Nothing matches: no dead letter would change.</p><p><a href="/dead-letters">Back</a></p>'
      : `<p id="confirm-count">${verb} <strong>${count}</strong> dead letter${count === 1 ? '' : 's'}${scope ? ` (${esc(scope)})` : ''}?${what === 'purge' ? ' They are deleted for good.' : ' They run again, attempts reset.'}</p>
<p>${action(ctx, `/dead-letters/${what}`, `${verb} ${count}`, { ...fields, confirm: '1' }, what === 'purge')} <a href="/dead-letters">Cancel</a></p>`;
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
