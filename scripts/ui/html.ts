/**
 * What every console page shares: escaping, the layout, and the action button (a form that posts back
 * with the console's CSRF token, or nothing in read-only mode).
 */
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

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header a{color:#cfd6e4;text-decoration:none}header strong{font-size:16px}main{padding:16px 20px;max-width:1100px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 16px}th,td{padding:6px 10px;border-bottom:1px solid #e3e6ec;text-align:right}
th:first-child,td:first-child,th.t{text-align:left}th{font-weight:600;background:#eef0f4}td.t{text-align:left}
form{display:inline;margin:0}button{font:inherit;padding:3px 10px;border:1px solid #8791a3;border-radius:4px;background:#fff;cursor:pointer}
button.danger{border-color:#b3261e;color:#b3261e}.paused{color:#b3261e;font-weight:600}.muted{color:#6b7383}
pre{background:#fff;border:1px solid #e3e6ec;padding:10px;overflow:auto}.box{background:#fff;border:1px solid #e3e6ec;padding:12px 16px;margin:8px 0}
.err{color:#b3261e}label{margin-right:10px}input,select{font:inherit;padding:2px 6px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}.chart{min-height:220px}
.ok{color:#1f7a3d}form.filters{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center}form.filters input:not([type]),form.filters input[type=text]{width:11em}.timeline td{vertical-align:top}`;

export function layout(title: string, body: string, ctx: PageContext): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)} · sluice</title><style>${STYLE}</style></head><body>
<header><strong>sluice</strong><a href="/">Queues</a><a href="/dead-letters">Dead letters</a><a href="/jobs">Jobs</a>${ctx.periodic ? '<a href="/periodic">Periodic jobs</a>' : ''}${ctx.readOnly ? '<span class="muted">read-only</span>' : ''}</header>
<main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

/** A button that posts to `action` (with the CSRF token), or nothing in read-only mode. */
export function action(ctx: PageContext, path: string, label: string, fields: Record<string, string> = {}, danger = false): string {
  if (ctx.readOnly) return '';
  const hidden = Object.entries({ ...fields, csrf: ctx.csrf })
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  return `<form method="post" action="${esc(path)}">${hidden}<button${danger ? ' class="danger"' : ''} type="submit">${esc(label)}</button></form>`;
}

export const age = (s: number | null) =>
  s === null ? '' : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
