/** The console's jobs list: the filter form, a page of jobs newest first, and cancel-by-filter after a count. */
import { JOB_STATES, type JobFilter, type JobView } from '../../src/index.js';
import { action, esc, layout, type PageContext } from './html.js';

/** The list's filter as the page's query string holds it (form field → library filter field). */
export const LIST_FIELDS = {
  state: 'state',
  queue: 'queue',
  type: 'type',
  key: 'idempotencyKey',
  createdAfter: 'createdAfter',
  createdBefore: 'createdBefore',
  finishedAfter: 'finishedAfter',
  finishedBefore: 'finishedBefore',
  idFrom: 'idFrom',
  idTo: 'idTo',
} as const;
export type ListFields = Partial<Record<keyof typeof LIST_FIELDS, string>>;

/** The form fields given (non-empty), from a query string or a posted form. */
export function listFieldsOf(params: URLSearchParams): ListFields {
  const out: ListFields = {};
  for (const k of Object.keys(LIST_FIELDS) as Array<keyof typeof LIST_FIELDS>) {
    const v = params.get(k)?.trim();
    if (v) out[k] = v;
  }
  return out;
}

/**
 * The library filter of the form's fields. A time typed without a zone (the form's datetime-local input)
 * is read as UTC, as the page shows every time.
 */
export function filterOf(fields: ListFields): JobFilter {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields) as Array<[keyof typeof LIST_FIELDS, string]>) {
    const name = LIST_FIELDS[k];
    if (k === 'state') out[name] = v.split(',').map((s) => s.trim());
    else if (/^(created|finished)/.test(k) && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v))
      out[name] = `${v.length === 16 ? `${v}:00` : v}Z`;
    else out[name] = v;
  }
  return out as JobFilter; // the library checks it
}

export interface JobsListPage {
  jobs: readonly JobView[];
  next: string | null;
  fields: ListFields;
  total: number;
  /** How many of them are live (what a cancel by this filter would change). */
  live: number;
}

const query = (fields: ListFields, extra: Record<string, string> = {}) => new URLSearchParams({ ...fields, ...extra }).toString();

export function jobsListPage(page: JobsListPage, ctx: PageContext, message = ''): string {
  const f = page.fields;
  const input = (name: keyof ListFields, label: string, type = 'text') =>
    `<label>${esc(label)} <input name="${name}" type="${type}" value="${esc(f[name] ?? '')}"${type === 'datetime-local' ? ' step="1"' : ''}></label>`;
  const states = ['', ...JOB_STATES]
    .map((s) => `<option value="${s}"${(f.state ?? '') === s ? ' selected' : ''}>${s || 'any state'}</option>`)
    .join('');
  const form = `<form method="get" action="/jobs" class="box filters" id="filter"><label>state <select name="state">${states}</select></label>
${input('queue', 'queue')}${input('type', 'type')}${input('key', 'idempotency key')}
${input('createdAfter', 'created after (UTC)', 'datetime-local')}${input('createdBefore', 'created before', 'datetime-local')}
${input('finishedAfter', 'finished after (UTC)', 'datetime-local')}${input('finishedBefore', 'finished before', 'datetime-local')}
${input('idFrom', 'ids from')}${input('idTo', 'ids to')}<span><button type="submit">Filter</button> <a href="/jobs">Clear</a></span></form>
<form method="get" action="/jobs" class="box filters"><label>Open job id <input name="id" inputmode="numeric"></label><button type="submit">Open</button></form>`;
  const filtered = Object.keys(f).length > 0;
  const bulk =
    filtered && page.live > 0
      ? `<p>${action(ctx, '/jobs/cancel', `Cancel the ${page.live} live job${page.live === 1 ? '' : 's'} matching`, f, true)}</p>`
      : '';
  const rows = page.jobs
    .map((j) => {
      const last = j.errors.at(-1);
      return `<tr data-id="${esc(j.id)}"><td><a href="/jobs/${esc(j.id)}">${esc(j.id)}</a></td><td class="t">${esc(j.type)}</td><td class="t">${esc(j.queue)}</td>
<td class="t" data-state>${esc(j.state)}</td><td>${j.attempt}</td><td class="t">${esc(j.createdAt.toISOString())}</td><td class="t">${esc(j.finishedAt?.toISOString() ?? '')}</td>
<td class="t err">${last ? esc(`${last.name}: ${last.message}`) : ''}</td></tr>`;
    })
    .join('');
  const table =
    page.jobs.length === 0
      ? '<p class="muted" id="none">No job matches.</p>'
      : `<table id="jobs"><thead><tr><th>id</th><th class="t">type</th><th class="t">queue</th><th class="t">state</th><th>attempt</th><th class="t">created (UTC)</th><th class="t">finished</th><th class="t">last error</th></tr></thead><tbody>${rows}</tbody></table>`;
  const more = page.next ? `<p><a id="next" href="/jobs?${query(f, { before: page.next })}">Older jobs</a></p>` : '';
  return layout(
    `Jobs (${page.total.toLocaleString('en-US')}${filtered ? ' matching' : ''})`,
    `${message ? `<p class="err">${esc(message)}</p>` : ''}${form}${bulk}${table}${more}`,
    ctx,
  );
}

/** Before a cancel by filter: how many live jobs it changes, and a button (with a fresh idempotency key) to go ahead. */
export function confirmCancelPage(count: number, fields: ListFields, key: string, ctx: PageContext): string {
  const scope = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const back = `/jobs?${query(fields)}`;
  const body =
    count === 0
      ? `<p id="confirm-count">Nothing matches: no live job would change.</p><p><a href="${esc(back)}">Back</a></p>`
      : `<p id="confirm-count">Cancel <strong>${count}</strong> live job${count === 1 ? '' : 's'} (${esc(scope)})? Those not running are cancelled at once; running ones are asked to stop.</p>
<p>${action(ctx, '/jobs/cancel', `Cancel ${count}`, { ...fields, confirm: '1', requestKey: key }, true)} <a href="${esc(back)}">Back</a></p>`;
  return layout('Cancel jobs', body, ctx);
}
