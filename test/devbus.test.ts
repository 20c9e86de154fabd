/**
 * The dev server's stand-ins: the EventBridge endpoint routes by the stack's own rules (infra/rules.ts),
 * the cron clock reads EventBridge expressions, and HTTP requests become API Gateway v2 events.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { parseSluiceConfig } from '../infra/config.js';
import { matchesPattern, type RuleSpec, type RuleTarget, ruleInput, sluiceRules } from '../infra/rules.js';
import { LocalBus } from '../scripts/dev/bus.js';
import { cronMatches, nextCronRun, parseCron } from '../scripts/dev/cron.js';
import { serveApi } from '../scripts/dev/http.js';
import { compactLogLine, fit, frame, QueueActivity, renderPlain, renderTable, viewRows } from '../scripts/dev/view.js';

const config = parseSluiceConfig({
  queues: [{ name: 'default' }, { name: 'emails' }],
  periodicJobs: [{ name: 'digest', schedule: 'cron(0 6 * * ? *)', type: 'send_email', payload: { to: 'ops@example.com' } }],
});

describe('rules (one list for the stack and the dev bus)', () => {
  const rules = sluiceRules(config, 'sluice');

  it('has per queue a schedule and a wake-up pattern, maintenance, and one rule per periodic job', () => {
    assert.deepEqual(
      rules.map((r) => r.id),
      ['Schedule-default', 'Wake-default', 'Schedule-emails', 'Wake-emails', 'MaintenanceSchedule', 'Periodic-digest'],
    );
  });

  it('matches events by exact values, nested', () => {
    const wake = rules.find((r) => r.id === 'Wake-emails')?.eventPattern ?? {};
    const event = { source: 'sluice', 'detail-type': 'JobsEnqueued', detail: { queue: 'emails', count: 3 } };
    assert.equal(matchesPattern(wake, event), true);
    assert.equal(matchesPattern(wake, { ...event, detail: { queue: 'default' } }), false);
    assert.equal(matchesPattern(wake, { ...event, source: 'other' }), false);
    assert.equal(matchesPattern(wake, { ...event, 'detail-type': 'JobDeadLettered' }), false);
    assert.equal(matchesPattern(wake, null), false);
  });

  it("fills the schedule's time into a rule's input and drops undefined fields", () => {
    const periodic = rules.find((r) => r.id === 'Periodic-digest') as RuleSpec;
    assert.deepEqual(ruleInput(periodic, new Date('2030-01-01T06:00:00Z').toISOString()), {
      name: 'digest',
      type: 'send_email',
      payload: { to: 'ops@example.com' },
      time: '2030-01-01T06:00:00.000Z',
    });
  });
});

describe('dev bus', () => {
  it('routes PutEvents from the real SDK client by the rules, on its own bus only', async () => {
    const delivered: Array<{ target: RuleTarget; event: unknown }> = [];
    const bus = new LocalBus({
      rules: sluiceRules(config, 'sluice'),
      busName: 'dev-bus',
      rateEveryMs: 60_000,
      onWarning: () => {},
      deliver: (target, event) => void delivered.push({ target, event }),
    });
    const url = await bus.listen();
    try {
      const client = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const res = await client.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: 'dev-bus', Source: 'sluice', DetailType: 'JobsEnqueued', Detail: '{"queue":"emails","count":2}' },
            { EventBusName: 'dev-bus', Source: 'sluice', DetailType: 'JobDeadLettered', Detail: '{"queue":"emails"}' },
            { EventBusName: 'another-bus', Source: 'sluice', DetailType: 'DrainRequested', Detail: '{"queue":"default"}' },
          ],
        }),
      );
      assert.equal(res.FailedEntryCount, 0);
      assert.equal(res.Entries?.length, 3);
      assert.deepEqual(
        delivered.map((d) => d.target),
        [{ function: 'worker', queue: 'emails' }],
      );
      assert.deepEqual((delivered[0]?.event as { detail?: unknown } | undefined)?.detail, { queue: 'emails', count: 2 });
    } finally {
      await bus.close();
    }
  });

  it('fires rate() schedules with each rule input, and warns about a cron it cannot read', async () => {
    const delivered: Array<{ target: RuleTarget; event: unknown }> = [];
    const warnings: string[] = [];
    const rules: RuleSpec[] = [
      ...sluiceRules(config, 'sluice').filter((r) => r.id === 'Schedule-emails'),
      { id: 'Odd', description: '', target: { function: 'periodic' }, schedule: { expression: 'cron(0 6 L * ? *)' } },
    ];
    const bus = new LocalBus({
      rules,
      busName: 'b',
      rateEveryMs: 50,
      onWarning: (m) => warnings.push(m),
      deliver: (target, event) => void delivered.push({ target, event }),
    });
    bus.startSchedules();
    await new Promise((r) => setTimeout(r, 130));
    await bus.close();
    assert.ok(delivered.length >= 2, `fired at start and every 50 ms: ${delivered.length}`);
    const first = delivered[0]?.event as { 'detail-type': string; detail: unknown; time: string };
    assert.deepEqual([first['detail-type'], first.detail], ['Scheduled Event', { queue: 'emails' }]);
    assert.ok(!Number.isNaN(Date.parse(first.time)));
    assert.match(warnings[0] ?? '', /rule Odd: .*L, W or #.*will not fire locally/);
  });
});

describe('dev cron clock', () => {
  const at = (iso: string) => new Date(iso);
  it('reads EventBridge cron: minutes hours day-of-month month day-of-week year, in UTC', () => {
    const daily = parseCron('cron(0 6 * * ? *)');
    assert.equal(cronMatches(daily, at('2030-01-01T06:00:00Z')), true);
    assert.equal(cronMatches(daily, at('2030-01-01T06:01:00Z')), false);
    const weekdays = parseCron('cron(*/15 9-17 ? * MON-FRI *)');
    assert.equal(cronMatches(weekdays, at('2030-01-02T09:45:00Z')), true, 'a Wednesday');
    assert.equal(cronMatches(weekdays, at('2030-01-05T09:45:00Z')), false, 'a Saturday');
    assert.equal(cronMatches(weekdays, at('2030-01-02T09:50:00Z')), false);
    const listed = parseCron('cron(0,30 0 1,15 JAN,JUL ? 2030-2031)');
    assert.equal(cronMatches(listed, at('2030-07-15T00:30:00Z')), true);
    assert.equal(cronMatches(listed, at('2032-07-15T00:30:00Z')), false);
  });

  it('tells the next run: the first matching minute at or after a time, or none', () => {
    const iso = (d: Date | undefined) => d?.toISOString();
    assert.equal(iso(nextCronRun(parseCron('cron(0 6 * * ? *)'), at('2030-01-01T05:30:00Z'))), '2030-01-01T06:00:00.000Z');
    assert.equal(iso(nextCronRun(parseCron('cron(0 6 * * ? *)'), at('2030-01-01T06:00:00Z'))), '2030-01-01T06:00:00.000Z', 'at it counts');
    assert.equal(iso(nextCronRun(parseCron('cron(0 6 * * ? *)'), at('2030-01-01T06:00:01Z'))), '2030-01-02T06:00:00.000Z');
    assert.equal(
      iso(nextCronRun(parseCron('cron(*/15 9-17 ? * MON-FRI *)'), at('2030-01-04T17:50:00Z'))),
      '2030-01-07T09:00:00.000Z',
      'past the weekend',
    );
    assert.equal(nextCronRun(parseCron('cron(0 0 1 1 ? 2029)'), at('2030-01-01T00:00:00Z')), undefined, 'a year gone by');
  });

  it('refuses what it cannot read, with the reason', () => {
    assert.throws(() => parseCron('rate(5 minutes)'), /is not cron\(minutes hours/);
    assert.throws(() => parseCron('cron(0 6 * *)'), /is not cron/);
    assert.throws(() => parseCron('cron(61 6 * * ? *)'), /outside 0-59/);
    assert.throws(() => parseCron('cron(0 6 ? * 2#1 *)'), /L, W or #/);
    assert.throws(() => parseCron('cron(*/0 6 * * ? *)'), /step/);
  });
});

describe('dev API server', () => {
  it('turns each request into an API Gateway v2 event and the result into the response', async () => {
    let seen: Record<string, unknown> = {};
    const server = await serveApi(0, async (event) => {
      seen = event as unknown as Record<string, unknown>;
      return { statusCode: 201, headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body: '{"ok":true}' };
    });
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/v1/jobs?a=1&a=2&b=x`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
        body: '{"type":"send_email"}',
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-test'), 'yes');
      assert.deepEqual(await res.json(), { ok: true });
      const ctx = seen.requestContext as { http: { method: string; path: string } };
      assert.deepEqual(
        [seen.version, seen.rawPath, seen.rawQueryString, ctx.http.method, ctx.http.path, seen.body, seen.isBase64Encoded],
        ['2.0', '/v1/jobs', 'a=1&a=2&b=x', 'POST', '/v1/jobs', '{"type":"send_email"}', false],
      );
      assert.deepEqual(seen.queryStringParameters, { a: '1,2', b: 'x' });
      assert.equal((seen.headers as Record<string, string>)['idempotency-key'], 'k1');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('dev live view', () => {
  it('counts jobs per second over 5 s and the p95 duration over a minute, per queue, and draws the table', () => {
    const activity = new QueueActivity();
    const sink = activity.sinkFor('emails');
    for (let i = 1; i <= 20; i++) {
      sink.addMetric('JobDurationMs', 'Milliseconds', i * 10);
      sink.addMetric(i % 4 === 0 ? 'JobsFailed' : 'JobsSucceeded', 'Count', 1);
    }
    sink.addMetric('QueueDepth', 'Count', 99); // not a completion
    assert.equal(activity.rate('emails'), 4); // 20 completions in the 5 s window
    assert.equal(activity.p95('emails'), 190);
    assert.equal(activity.p95('default'), null);
    assert.equal(activity.rate('emails', Date.now() + 6_000), 0, 'the rate window moves on');
    const rows = viewRows(
      ['default', 'emails'],
      [{ queue: 'emails', ready: 3, scheduled: 1, scheduledCapped: false, running: 2, dead: 1, oldestReadyAgeSeconds: 4, paused: true }],
      activity,
    );
    // The columns of sluice status and GET /v1/queues, in their order; no age when nothing is ready.
    assert.deepEqual(renderTable(rows), [
      'queue    ready  scheduled  running  dead  oldest ready  paused  jobs/s     p95',
      'default      0          0        0     0                           0.0       -',
      'emails       3          1        2     1           4 s  paused     4.0  190 ms',
    ]);
    assert.match(
      renderPlain(rows)[1] ?? '',
      /^\[sluice dev\] queue=emails ready=3 scheduled=1 running=2 dead=1 oldest_ready_s=4 paused jobs_per_s=4\.0 p95_ms=190$/,
    );
  });
});

describe('dev log lines on a terminal', () => {
  it('shortens a JSON log line to time, level, message and the fields that say something', () => {
    const line = JSON.stringify({
      level: 'INFO',
      message: 'drain finished',
      timestamp: '2030-01-01T10:00:00.000Z',
      service: 'sluice',
      function_name: 'maintenance',
      queue: 'emails',
      claimed: 3,
      dead: 0,
      moreDue: false,
      error: { name: 'Error' },
    });
    assert.equal(compactLogLine(line), '10:00:00 INFO maintenance drain finished queue=emails claimed=3 error={"name":"Error"}');
    assert.equal(compactLogLine('[sluice dev] plain text'), '[sluice dev] plain text');
    assert.equal(compactLogLine('42'), '42');
  });

  it('shows a failure as one line: the function, the job, its attempt and the error (name and message, no stack)', () => {
    const line = JSON.stringify({
      level: 'ERROR',
      message: 'job dead-lettered',
      timestamp: '2030-01-01T10:00:01.000Z',
      function_name: 'worker-emails',
      job_id: '7',
      job_type: 'send_email',
      attempt: 1,
      error: {
        name: 'PermanentJobError',
        message: 'recipient refused',
        stack: 'PermanentJobError: recipient refused\n    at x (y.js:1:1)',
      },
    });
    assert.equal(
      compactLogLine(line),
      '10:00:01 ERROR worker-emails job dead-lettered job_id=7 job_type=send_email attempt=1 error=PermanentJobError: recipient refused',
    );
  });

  it('leaves idle lines out: a drain that claimed nothing, maintenance that pruned nothing', () => {
    const entry = (message: string, fields: object, level = 'INFO') => JSON.stringify({ level, message, ...fields });
    assert.equal(compactLogLine(entry('drain finished', { claimed: 0, queue: 'emails' })), null);
    assert.equal(compactLogLine(entry('maintenance finished', { pruned: 0, queues: 3 })), null);
    assert.notEqual(compactLogLine(entry('drain finished', { claimed: 1 })), null);
    assert.notEqual(compactLogLine(entry('maintenance finished', { pruned: 12 })), null);
    assert.notEqual(compactLogLine(entry('drain finished', { claimed: 0 }, 'ERROR')), null, 'never a warning or an error');
  });

  it('draws a frame in place, each line cut to the width', () => {
    assert.equal(fit('abcdef', 4), 'abc…');
    assert.equal(fit('abc', 4), 'abc');
    assert.equal(frame(['title that is long', 'x'], 8), '\x1b[Htitle t…\x1b[K\nx\x1b[K\n\x1b[J');
  });
});
