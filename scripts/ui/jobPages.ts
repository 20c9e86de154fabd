/** The console's job page: a job with its facts, its actions and its timeline. */
import { type JobView, type TimelineEntry, timelineTime, xrayTraceId } from '../../src/index.js';
import { describeEntry, humanMs } from '../timeline.js';
import { action, esc, layout, type PageContext } from './html.js';

const OUTCOME_CLASS: Record<string, string> = { succeeded: 'ok', failed: 'err', dead: 'err', cancelled: 'muted' };

function timelineTable(job: JobView, timeline: readonly TimelineEntry[]): string {
  const rows = [
    `<tr data-kind="enqueued"><td class="t">${esc(job.createdAt.toISOString())}</td><td class="t">enqueued on ${esc(job.queue)}</td><td></td></tr>`,
    ...timeline.map((e) => {
      const cls =
        e.kind === 'attempt' ? (OUTCOME_CLASS[e.outcome] ?? '') : e.kind === 'compensation' && e.result !== 'compensated' ? 'err' : '';
      const took = e.kind === 'attempt' && e.durationMs !== null ? humanMs(e.durationMs) : '';
      return `<tr data-kind="${esc(e.kind)}"${e.kind === 'attempt' ? ` data-outcome="${esc(e.outcome)}"` : ''}><td class="t">${esc(timelineTime(e)?.toISOString() ?? '')}</td><td class="t ${cls}">${esc(describeEntry(e, { withDuration: false }))}</td><td>${esc(took)}</td></tr>`;
    }),
  ];
  // Jobs finished before the timeline existed (migration 0003) have only their error history.
  const older =
    timeline.some((e) => e.kind === 'attempt') || job.errors.length === 0
      ? ''
      : `<h2>Failed attempts</h2><table><tbody>${job.errors
          .map(
            (e) => `<tr><td>${e.attempt}</td><td class="t">${esc(e.at)}</td><td class="t err">${esc(`${e.name}: ${e.message}`)}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<h2>Timeline</h2><table id="timeline" class="timeline"><thead><tr><th class="t">when (UTC)</th><th class="t">what</th><th>took</th></tr></thead><tbody>${rows.join('')}</tbody></table>${older}`;
}

export function jobPage(job: JobView, timeline: readonly TimelineEntry[], showPayload: boolean, ctx: PageContext): string {
  const ran = timeline.reduce((n, e) => n + (e.kind === 'attempt' && e.durationMs !== null ? e.durationMs : 0), 0);
  const facts: Array<[string, unknown]> = [
    ['state', job.state],
    ['type', job.type],
    ['queue', job.queue],
    ['attempt', `${job.attempt} of ${job.maxAttempts}`],
    ['priority', job.priority],
    ['created', job.createdAt.toISOString()],
    ['run at', job.runAt.toISOString()],
    ['finished', job.finishedAt ? job.finishedAt.toISOString() : ''],
    ['ran for', ran > 0 ? humanMs(ran) : ''],
    ['idempotency key', job.idempotencyKey ?? ''],
    ['trace', job.traceId ? `${job.traceId} (X-Ray ${xrayTraceId({ traceId: job.traceId })})` : ''],
  ];
  const list = `<table id="job"><tbody>${facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="t" data-fact="${esc(k)}">${esc(v)}</td></tr>`).join('')}</tbody></table>`;
  const result = 'result' in job ? `<h2>Result</h2><pre id="result">${esc(JSON.stringify(job.result, null, 2))}</pre>` : '';
  const payload = showPayload
    ? `<h2>Payload</h2><pre id="payload">${esc(JSON.stringify(job.payload, null, 2))}</pre>${result}`
    : `<p><a id="show-payload" href="/jobs/${esc(job.id)}?payload=1">Show the payload</a> <span class="muted">(it${result ? ' and the result' : ''} may hold personal data)</span></p>`;
  const live = job.state === 'available' || job.state === 'scheduled' || job.state === 'running';
  const actions =
    job.state === 'dead'
      ? `<p>${action(ctx, '/dead-letters/redrive', 'Redrive', { id: job.id })} ${action(ctx, '/dead-letters/purge', 'Purge', { id: job.id }, true)}</p>`
      : live
        ? `<p>${action(ctx, `/jobs/${job.id}/cancel`, job.state === 'running' ? 'Ask it to stop (cancel)' : 'Cancel', {}, true)}</p>`
        : '';
  return layout(`Job ${job.id}`, `${list}${actions}${timelineTable(job, timeline)}${payload}`, ctx);
}
