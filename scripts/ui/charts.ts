/**
 * The overview's charts: finished attempts and failures per step for each queue, drawn in the browser by
 * uPlot (a small, well-kept time-series library, served from the package's own dependency, nothing from
 * a CDN). The server embeds the figures as JSON; `CHART_SCRIPT` (served as /assets/charts.js, allowed by
 * the page's `script-src 'self'`) draws them. Without script the page still shows every figure in its
 * tables.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { QueueActivity } from '../../src/index.js';
import { esc } from './html.js';

const require = createRequire(import.meta.url);

/** The static files the console serves: uPlot's script and style, and the console's own chart script. */
export function assets(): Record<string, { type: string; body: string }> {
  const file = (name: string) => readFileSync(require.resolve(`uplot/dist/${name}`), 'utf8');
  return {
    '/assets/uplot.js': { type: 'text/javascript; charset=utf-8', body: file('uPlot.iife.min.js') },
    '/assets/uplot.css': { type: 'text/css; charset=utf-8', body: file('uPlot.min.css') },
    '/assets/charts.js': { type: 'text/javascript; charset=utf-8', body: CHART_SCRIPT },
  };
}

/** JSON that is safe inside a <script type="application/json"> element (no `</script>`, no `<!--`). */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

export interface ChartWindow {
  name: 'hour' | 'day';
  label: string;
}

/** The charts' containers, their figures as JSON, and the scripts that draw them. */
export function chartsHtml(activity: readonly QueueActivity[], window: ChartWindow): string {
  const data = {
    window: window.name,
    times: (activity[0]?.points ?? []).map((p) => p.at.getTime() / 1000),
    queues: activity.map((q) => ({
      queue: q.queue,
      succeeded: q.points.map((p) => p.succeeded),
      failures: q.points.map((p) => p.failed + p.dead),
    })),
  };
  const other: ChartWindow['name'] = window.name === 'hour' ? 'day' : 'hour';
  return `<h2>Activity, ${esc(window.label)} <a class="muted" id="window-other" href="/?window=${other}">(the last ${other})</a></h2>
<link rel="stylesheet" href="/assets/uplot.css">
<div class="charts"><div class="chart box" id="chart-throughput" data-title="Succeeded per minute"></div>
<div class="chart box" id="chart-failures" data-title="Failures per minute (retried or dead)"></div></div>
<script type="application/json" id="activity-data">${scriptJson(data)}</script>
<script src="/assets/uplot.js"></script><script src="/assets/charts.js"></script>`;
}

/**
 * Runs in the browser: one uPlot chart per container, a series per queue. Each chart is kept on
 * `window.sluiceCharts` (the browser test reads what was drawn from there).
 */
export const CHART_SCRIPT = `(() => {
  const data = JSON.parse(document.getElementById('activity-data').textContent);
  const palette = ['#2f6fdf', '#1f9d55', '#c77c02', '#8e44ad', '#d3455b', '#138496', '#6b7383'];
  const fmt = (t) => new Date(t * 1000).toISOString().slice(data.window === 'day' ? 5 : 11, 16).replace('T', ' ');
  window.sluiceCharts = {};
  for (const [id, field] of [['chart-throughput', 'succeeded'], ['chart-failures', 'failures']]) {
    const el = document.getElementById(id);
    if (!el || data.times.length === 0) continue;
    const series = [{ value: (u, t) => (t == null ? '' : fmt(t)) }].concat(
      data.queues.map((q, i) => ({ label: q.queue, stroke: palette[i % palette.length], width: 1.5, points: { show: false } })),
    );
    const opts = {
      title: el.dataset.title,
      width: Math.max(320, el.clientWidth - 24),
      height: 180,
      series,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ values: (u, ticks) => ticks.map(fmt) }, {}],
    };
    window.sluiceCharts[id] = new uPlot(opts, [data.times].concat(data.queues.map((q) => q[field])), el);
  }
})();
`;
