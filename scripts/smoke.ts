/**
 * `sluice smoke`: prove a deployment works, after `cdk deploy`. From the stack's outputs (or `--api`):
 * 1. a probe job (`sluice.probe`) enqueued through the API, SigV4-signed, runs and succeeds, and reads back
 *    with the trace id it was sent with;
 * 2. a probe asked to fail is dead-lettered, listed among the dead letters, redriven, dead again, and purged;
 * 3. the stack's alarms exist and are in OK.
 * Each step is a check with a status; the exit code says how it went (see `SMOKE_EXIT`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchClient, DescribeAlarmsCommandOutput } from '@aws-sdk/client-cloudwatch';
import { signRequest } from '../functions/shared/iamAuthToken.js';

/** 0 every check passed (a warning included); 1 a check failed; 2 bad input; 3 the API or AWS could not be reached. */
export const SMOKE_EXIT = { passed: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export interface SmokeOptions {
  /** The CloudFormation stack holding a SluiceQueue: its outputs name the API and the queues, its resources the alarms. */
  stack?: string | undefined;
  /** The enqueue API's base URL, when there is no stack (e.g. `sluice dev`'s), or to override the stack's. */
  api?: string | undefined;
  /** The queue to probe; default the first of the stack's queues, else `default`. */
  queue?: string | undefined;
  region?: string | undefined;
  /** How long each wait may take. */
  timeoutMs: number;
  /** Sign API requests with SigV4 (IAM auth); default: unless the API is on this machine. */
  sign?: boolean | undefined;
  deadLetters: boolean;
  alarms: boolean;
}

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export interface SmokeCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  ms: number;
}
export interface SmokeResult {
  ok: boolean;
  exitCode: number;
  api: string | undefined;
  queue: string | undefined;
  checks: SmokeCheck[];
}

export interface SmokeDeps {
  fetch?: typeof fetch;
  cloudFormation?: () => Promise<CloudFormationClient>;
  cloudWatch?: () => Promise<CloudWatchClient>;
  /** Where signing credentials come from (default: the AWS SDK's chain: env, profile, SSO, role). */
  credentials?: Credentials;
  /** Between polls. */
  pollMs?: number;
}

/** AWS credentials, as the SDK's providers give them. */
export type Credentials = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }>;

class Unreachable extends Error {}
class Failed extends Error {}

const LOCAL = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/;

/** Run the checks; never throws for what it checks (a failure is a check), only for a bug. */
export async function smoke(o: SmokeOptions, deps: SmokeDeps = {}): Promise<SmokeResult> {
  const checks: SmokeCheck[] = [];
  let exit: number = SMOKE_EXIT.passed;
  const step = async (name: string, run: () => Promise<{ status?: CheckStatus; detail: string }>) => {
    const t0 = performance.now();
    try {
      const r = await run();
      checks.push({ name, status: r.status ?? 'pass', detail: r.detail, ms: Math.round(performance.now() - t0) });
      if (r.status === 'fail') exit = Math.max(exit, SMOKE_EXIT.failed);
      return true;
    } catch (err) {
      const unreachable = err instanceof Unreachable;
      checks.push({ name, status: 'fail', detail: (err as Error).message, ms: Math.round(performance.now() - t0) });
      exit = Math.max(exit, unreachable ? SMOKE_EXIT.unreachable : SMOKE_EXIT.failed);
      return false;
    }
  };
  const result = (): SmokeResult => ({ ok: exit === SMOKE_EXIT.passed, exitCode: exit, api, queue, checks });

  let api = o.api;
  let queue = o.queue;
  let alarmNames: string[] | undefined;
  if (o.stack) {
    const found = await step('stack', async () => {
      const cf = await (deps.cloudFormation ?? defaultCloudFormation(o.region))();
      const out = await stackOutputs(cf, o.stack as string);
      api ??= out.api;
      queue ??= out.queues[0];
      if (o.alarms) alarmNames = await stackAlarms(cf, o.stack as string);
      if (!api) throw new Failed(`stack ${o.stack} has no SluiceApiUrl output: is it a stack with a SluiceQueue?`);
      return {
        detail: `${o.stack}: API ${api}, queues ${out.queues.join(', ') || '(none)'}${alarmNames ? `, ${alarmNames.length} alarms` : ''}`,
      };
    });
    if (!found) return result();
  }
  queue ??= 'default';
  if (!api) {
    checks.push({ name: 'api', status: 'fail', detail: 'give --stack (a deployed stack) or --api (an API base URL)', ms: 0 });
    return { ...result(), ok: false, exitCode: SMOKE_EXIT.usage };
  }
  const http = apiClient(api, o.sign ?? !LOCAL.test(api), o.region, deps);
  const pollMs = deps.pollMs ?? 500;
  const waitFor = async (id: string, states: string[]) => {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const r = await http('GET', `/v1/jobs/${id}`);
      if (r.status !== 200) throw new Failed(`GET /v1/jobs/${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
      const job = r.body as { state: string; result?: unknown; traceId?: string | null };
      if (states.includes(job.state)) return job;
      if (Date.now() > deadline)
        throw new Failed(`job ${id} still ${job.state} after ${o.timeoutMs / 1000} s: is a worker draining ${queue}?`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const enqueue = async (payload: { probe: string; fail?: boolean }, traceparent?: string) => {
    const r = await http('POST', '/v1/jobs', { type: 'sluice.probe', payload, queue }, traceparent ? { traceparent } : {});
    if (r.status !== 201) throw new Failed(`POST /v1/jobs answered ${r.status}: ${JSON.stringify(r.body)}`);
    return (r.body as { id: string }).id;
  };

  const probe = `smoke-${randomUUID()}`;
  const traceId = randomBytes(16).toString('hex');
  await step('probe job succeeds', async () => {
    const id = await enqueue({ probe }, `00-${traceId}-${randomBytes(8).toString('hex')}-01`);
    const job = await waitFor(id, ['succeeded', 'dead', 'cancelled']);
    if (job.state !== 'succeeded') throw new Failed(`job ${id} ended ${job.state}`);
    const got = job.result as { probe?: string } | undefined;
    if (got?.probe !== probe) throw new Failed(`job ${id} succeeded with result ${JSON.stringify(job.result)}, not its probe ${probe}`);
    if (job.traceId !== traceId) throw new Failed(`job ${id} reads back trace ${job.traceId}, not the ${traceId} it was sent with`);
    return { detail: `job ${id} on ${queue} succeeded, trace ${traceId}` };
  });

  if (o.deadLetters) {
    await step('dead-letter round trip', async () => {
      const id = await enqueue({ probe: `${probe}-dead`, fail: true });
      if ((await waitFor(id, ['dead', 'succeeded'])).state !== 'dead') throw new Failed(`job ${id} was asked to fail, and did not die`);
      // The page that starts at this id (keyset: `after` the id before it), however many dead letters precede it.
      const after = (BigInt(id) - 1n).toString();
      const listed = await http(
        'GET',
        `/v1/dead-letters?type=sluice.probe&queue=${encodeURIComponent(queue as string)}&after=${after}&limit=1`,
      );
      const ids = ((listed.body as { deadLetters?: Array<{ id: string }> }).deadLetters ?? []).map((j) => j.id);
      if (!ids.includes(id)) throw new Failed(`dead letter ${id} is not listed by GET /v1/dead-letters`);
      const redriven = await http('POST', '/v1/dead-letters/redrive', { ids: [id] });
      if (redriven.status !== 200 || !(redriven.body as { redriven?: string[] }).redriven?.includes(id))
        throw new Failed(`redrive of ${id} answered ${redriven.status}: ${JSON.stringify(redriven.body)}`);
      if ((await waitFor(id, ['dead', 'succeeded'])).state !== 'dead') throw new Failed(`redriven job ${id} did not run to its end`);
      const purged = await http('POST', '/v1/dead-letters/purge', { ids: [id] });
      if (purged.status !== 200 || !(purged.body as { purged?: string[] }).purged?.includes(id))
        throw new Failed(`purge of ${id} answered ${purged.status}: ${JSON.stringify(purged.body)}`);
      const gone = await http('GET', `/v1/jobs/${id}`);
      if (gone.status !== 404) throw new Failed(`purged job ${id} still reads back (${gone.status})`);
      return { detail: `job ${id}: dead, listed, redriven, dead again, purged` };
    });
  }

  if (o.alarms && alarmNames) {
    const names = alarmNames;
    await step('alarms in OK', async () => {
      if (names.length === 0) return { status: 'fail', detail: `stack ${o.stack} holds no alarm` };
      const cw = await (deps.cloudWatch ?? defaultCloudWatch(o.region))();
      const states = await alarmStates(cw, names);
      const missing = names.filter((n) => !states.has(n));
      const firing = [...states].filter(([, s]) => s === 'ALARM').map(([n]) => n);
      const pending = [...states].filter(([, s]) => s === 'INSUFFICIENT_DATA').map(([n]) => n);
      if (missing.length > 0 || firing.length > 0) {
        return {
          status: 'fail',
          detail: [firing.length > 0 && `in ALARM: ${firing.join(', ')}`, missing.length > 0 && `missing: ${missing.join(', ')}`]
            .filter(Boolean)
            .join('; '),
        };
      }
      if (pending.length > 0) return { status: 'warn', detail: `${names.length - pending.length} OK; no data yet: ${pending.join(', ')}` };
      return { detail: `${names.length} alarms, every one OK` };
    });
  } else {
    checks.push({
      name: 'alarms in OK',
      status: 'skip',
      detail: o.alarms ? 'no stack given: nothing to read alarms from' : '--no-alarms',
      ms: 0,
    });
  }
  return result();
}

/** The text report: one line a check, then the verdict. */
export function smokeText(r: SmokeResult): string {
  const mark: Record<CheckStatus, string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };
  const lines = r.checks.map((c) => `${mark[c.status]}  ${c.name} (${c.ms} ms): ${c.detail}`);
  lines.push(r.ok ? 'smoke passed' : `smoke failed (exit ${r.exitCode})`);
  return lines.join('\n');
}

interface Answer {
  status: number;
  body: unknown;
}

/** Requests to the API, SigV4-signed for `execute-api` when `sign`; a network failure is `Unreachable`. */
function apiClient(base: string, sign: boolean, region: string | undefined, deps: SmokeDeps) {
  const doFetch = deps.fetch ?? fetch;
  const root = base.replace(/\/+$/, '');
  return async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Answer> => {
    const url = new URL(root + path);
    const text = body === undefined ? undefined : JSON.stringify(body);
    let headers: Record<string, string> = { accept: 'application/json', ...extra, ...(text ? { 'content-type': 'application/json' } : {}) };
    if (sign) headers = await signed(url, method, headers, text, region ?? regionOf(url), deps.credentials);
    let res: Response;
    try {
      res = await doFetch(url, { method, headers, ...(text ? { body: text } : {}) });
    } catch (err) {
      throw new Unreachable(`${method} ${url.origin}${path}: ${(err as Error).message}`);
    }
    const raw = await res.text();
    let parsed: unknown = raw;
    try {
      parsed = raw ? JSON.parse(raw) : null;
    } catch {}
    return { status: res.status, body: parsed };
  };
}

/** The region of an `execute-api` URL (`https://abc.execute-api.eu-west-1.amazonaws.com`), else AWS_REGION. */
function regionOf(url: URL): string {
  const m = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname);
  const region = m?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Failed(`no region for ${url.host}: pass --region`);
  return region;
}

async function signed(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  region: string,
  credentials: Credentials | undefined,
): Promise<Record<string, string>> {
  let creds: Awaited<ReturnType<Credentials>>;
  try {
    creds = await (credentials ?? (await import('@aws-sdk/credential-provider-node')).defaultProvider())();
  } catch (err) {
    throw new Unreachable(`no AWS credentials to sign with: ${(err as Error).message}`);
  }
  return signRequest({ method, url, headers, body, region, service: 'execute-api', credentials: creds });
}

function defaultCloudFormation(region: string | undefined) {
  return async () => new (await import('@aws-sdk/client-cloudformation')).CloudFormationClient(region ? { region } : {});
}

function defaultCloudWatch(region: string | undefined) {
  return async () => new (await import('@aws-sdk/client-cloudwatch')).CloudWatchClient(region ? { region } : {});
}

/** The API URL and queues a SluiceQueue put in the stack's outputs. */
async function stackOutputs(cf: CloudFormationClient, stack: string): Promise<{ api: string | undefined; queues: string[] }> {
  const { DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  let outputs: Array<{ OutputKey?: string; OutputValue?: string }>;
  try {
    const res = await cf.send(new DescribeStacksCommand({ StackName: stack }));
    outputs = res.Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'ValidationError') throw new Failed(`stack ${stack} not found: ${(err as Error).message}`);
    throw new Unreachable(`CloudFormation: ${(err as Error).message}`);
  }
  const value = (key: RegExp) => outputs.filter((x) => key.test(x.OutputKey ?? '')).map((x) => x.OutputValue ?? '');
  const apis = value(/SluiceApiUrl[0-9A-F]{8}$/);
  if (apis.length > 1) throw new Failed(`stack ${stack} holds ${apis.length} SluiceQueues: pass --api to say which`);
  return { api: apis[0], queues: (value(/SluiceQueues[0-9A-F]{8}$/)[0] ?? '').split(',').filter(Boolean) };
}

/** The names of the stack's CloudWatch alarms (its resources of that type). */
async function stackAlarms(cf: CloudFormationClient, stack: string): Promise<string[]> {
  const { ListStackResourcesCommand } = await import('@aws-sdk/client-cloudformation');
  const names: string[] = [];
  let next: string | undefined;
  do {
    const res = await cf.send(new ListStackResourcesCommand({ StackName: stack, NextToken: next }));
    for (const r of res.StackResourceSummaries ?? [])
      if (r.ResourceType === 'AWS::CloudWatch::Alarm' && r.PhysicalResourceId) names.push(r.PhysicalResourceId);
    next = res.NextToken;
  } while (next);
  return names;
}

/** Each alarm's state, 100 names a call. */
async function alarmStates(cw: CloudWatchClient, names: readonly string[]): Promise<Map<string, string>> {
  const { DescribeAlarmsCommand } = await import('@aws-sdk/client-cloudwatch');
  const states = new Map<string, string>();
  for (let i = 0; i < names.length; i += 100) {
    let next: string | undefined;
    do {
      let res: DescribeAlarmsCommandOutput;
      try {
        res = await cw.send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), MaxRecords: 100, NextToken: next }));
      } catch (err) {
        throw new Unreachable(`CloudWatch: ${(err as Error).message}`);
      }
      for (const a of res.MetricAlarms ?? []) if (a.AlarmName) states.set(a.AlarmName, a.StateValue ?? 'UNKNOWN');
      next = res.NextToken;
    } while (next);
  }
  return states;
}

const SMOKE_USAGE = `usage: sluice smoke (--stack S | --api URL) [--queue Q] [--region R] [--timeout 60s] [--no-dead-letters] [--no-alarms] [--sign | --no-sign] [--json]

Proves a deployment works, after cdk deploy. With --stack, reads the stack's outputs (the API's URL and the
queues) and its alarms; with --api, probes that API alone (e.g. sluice dev's: http://localhost:8787).
  1. a probe job (sluice.probe) is enqueued through the API, SigV4-signed with your AWS credentials, on the
     queue (--queue; default the stack's first), runs and succeeds, and reads back with its trace id;
  2. a probe asked to fail is dead-lettered, listed, redriven, dead again, and purged (--no-dead-letters: not);
  3. the stack's alarms exist and are in OK (no data yet is a warning; --no-alarms: not checked).
  --timeout D    how long each wait may take (default 60s)
  --sign         sign requests (default: unless the API is on this machine)

exit codes: 0 passed, 1 a check failed, 2 bad input, 3 the API or AWS could not be reached`;

/** `sluice smoke …`: parse, run, report; returns the exit code. */
export async function runSmoke(
  argv: string[],
  io: { write: (s: string) => unknown; fail: (s: string) => unknown },
  deps: SmokeDeps = {},
): Promise<number> {
  const { parseArgs } = await import('node:util');
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: 'string' },
        api: { type: 'string' },
        queue: { type: 'string' },
        region: { type: 'string' },
        timeout: { type: 'string', default: '60s' },
        'no-dead-letters': { type: 'boolean', default: false },
        'no-alarms': { type: 'boolean', default: false },
        sign: { type: 'boolean' },
        'no-sign': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    io.fail(`sluice smoke: ${(err as Error).message}\n\n${SMOKE_USAGE}\n`);
    return SMOKE_EXIT.usage;
  }
  if (values.help) {
    io.write(`${SMOKE_USAGE}\n`);
    return SMOKE_EXIT.passed;
  }
  const usage = (message: string) => {
    if (values.json) io.write(`${JSON.stringify({ error: { code: 'USAGE', message } })}\n`);
    else io.fail(`sluice smoke: ${message}\n\n${SMOKE_USAGE}\n`);
    return SMOKE_EXIT.usage;
  };
  const timeout = /^(\d+)(ms|s|m)?$/.exec(String(values.timeout));
  if (!timeout) return usage(`--timeout is a duration such as 60s, 500ms or 2m, got ${JSON.stringify(values.timeout)}`);
  const timeoutMs = Number(timeout[1]) * { ms: 1, s: 1_000, m: 60_000 }[(timeout[2] ?? 's') as 'ms' | 's' | 'm'];
  if (!values.stack && !values.api) return usage('give --stack (a deployed stack) or --api (an API base URL)');
  if (values.api) {
    try {
      const u = new URL(String(values.api));
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      return usage(`--api is an http(s) URL, got ${JSON.stringify(values.api)}`);
    }
  }
  if (values.queue !== undefined && !/^[a-z][a-z0-9_-]{0,62}$/.test(String(values.queue)))
    return usage(`--queue is a queue name, got ${JSON.stringify(values.queue)}`);
  if (values.sign && values['no-sign']) return usage('--sign or --no-sign, not both');
  const result = await smoke(
    {
      stack: values.stack as string | undefined,
      api: values.api as string | undefined,
      queue: values.queue as string | undefined,
      region: values.region as string | undefined,
      timeoutMs,
      sign: values.sign ? true : values['no-sign'] ? false : undefined,
      deadLetters: !values['no-dead-letters'],
      alarms: !values['no-alarms'],
    },
    deps,
  );
  io.write(values.json ? `${JSON.stringify(result)}\n` : `${smokeText(result)}\n`);
  return result.exitCode;
}
