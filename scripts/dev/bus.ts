/**
 * A stand-in for EventBridge: an HTTP endpoint that speaks `PutEvents` (the functions' own SDK client is
 * pointed at it with `AWS_ENDPOINT_URL_EVENTBRIDGE`), routing each event by the rules the CDK stack
 * declares (infra/rules.ts), and a clock that fires the same rules' schedules.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { matchesPattern, type RuleSpec, type RuleTarget, ruleInput } from '../../infra/rules.js';
import { cronMatches, parseCron } from './cron.js';

export interface LocalBusOptions {
  rules: RuleSpec[];
  busName: string;
  /** Deliver an event (or a rule's input) to a rule's target. */
  deliver: (target: RuleTarget, event: unknown, rule: RuleSpec) => void;
  /** rate() schedules fire this often instead of every N minutes, so a first run shows them. */
  rateEveryMs: number;
  onWarning: (message: string) => void;
}

interface Entry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Resources?: string[];
  Time?: string;
}

const ACCOUNT = '000000000000';

/** An EventBridge event as targets receive it, in the local account and region. */
function envelope(fields: {
  'detail-type': string | undefined;
  source: string | undefined;
  time: string;
  resources: string[];
  detail: unknown;
}) {
  return { version: '0', id: randomUUID(), account: ACCOUNT, region: 'local', ...fields };
}

export class LocalBus {
  readonly #o: LocalBusOptions;
  #server: Server | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Events routed, for the dev view. */
  delivered = 0;

  constructor(options: LocalBusOptions) {
    this.#o = options;
  }

  /** Start the endpoint on a loopback port; returns its URL. */
  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify(body));
        };
        if (req.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
          reply(400, { __type: 'UnknownOperationException', message: 'the dev bus serves PutEvents only' });
          return;
        }
        try {
          const { Entries = [] } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries?: Entry[] };
          reply(200, { FailedEntryCount: 0, Entries: Entries.map((e) => ({ EventId: this.put(e) })) });
        } catch (err) {
          reply(400, { __type: 'ValidationException', message: (err as Error).message });
        }
      });
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  /** Route one PutEvents entry by every pattern rule on its bus; returns the event id. */
  put(entry: Entry): string {
    const event = envelope({
      'detail-type': entry.DetailType,
      source: entry.Source,
      time: entry.Time ?? new Date().toISOString(),
      resources: entry.Resources ?? [],
      detail: entry.Detail ? JSON.parse(entry.Detail) : {},
    });
    if ((entry.EventBusName ?? 'default') !== this.#o.busName) return event.id;
    for (const rule of this.#o.rules) {
      if (rule.eventPattern && matchesPattern(rule.eventPattern, event)) {
        this.delivered++;
        this.#o.deliver(rule.target, rule.input ? ruleInput(rule, new Date(event.time).toISOString()) : event, rule);
      }
    }
    return event.id;
  }

  /** Fire the schedules: rate() rules every `rateEveryMs`, cron() rules at their minutes. */
  startSchedules(): void {
    const fire = (rule: RuleSpec, at: Date) => {
      const scheduled = envelope({
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        time: at.toISOString(),
        resources: [`arn:aws:events:local:${ACCOUNT}:rule/${rule.id}`],
        detail: {},
      });
      this.delivered++;
      this.#o.deliver(rule.target, rule.input ? ruleInput(rule, at.toISOString()) : scheduled, rule);
    };
    const crons: Array<{ rule: RuleSpec; cron: ReturnType<typeof parseCron> }> = [];
    for (const rule of this.#o.rules) {
      if (!rule.schedule) continue;
      if ('rateMinutes' in rule.schedule) {
        fire(rule, new Date());
        this.#timers.push(setInterval(() => fire(rule, new Date()), this.#o.rateEveryMs));
        continue;
      }
      const expr = rule.schedule.expression;
      if (expr.startsWith('rate(')) {
        this.#timers.push(setInterval(() => fire(rule, new Date()), this.#o.rateEveryMs));
        continue;
      }
      try {
        crons.push({ rule, cron: parseCron(expr) });
      } catch (err) {
        this.#o.onWarning(`rule ${rule.id}: ${(err as Error).message}; it will not fire locally`);
      }
    }
    if (crons.length === 0) return;
    // Check each wall-clock minute once, just after it starts (EventBridge cron has minute resolution).
    let last = Math.floor(Date.now() / 60_000);
    this.#timers.push(
      setInterval(() => {
        const minute = Math.floor(Date.now() / 60_000);
        if (minute === last) return;
        last = minute;
        const at = new Date(minute * 60_000);
        for (const c of crons) if (cronMatches(c.cron, at)) fire(c.rule, at);
      }, 1_000),
    );
  }

  stopSchedules(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }

  async close(): Promise<void> {
    this.stopSchedules();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
