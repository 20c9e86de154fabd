/**
 * `npx sluice …`: the queue from a terminal, against `DATABASE_URL` or the running `sluice dev` database,
 * for the app whose `sluice.config.ts` is in the working directory or above it (or `--config FILE`).
 * Exit codes: 0 done; 1 the operation found nothing to do it to (no such job, not cancellable); 2 bad
 * usage or input, or no usable config (nothing was written); 3 the database is unreachable or refused.
 */
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { eventBridgeSink } from '../functions/shared/events.js';
import { createWakeUp } from '../functions/shared/wakeUp.js';
import { refuseUnknownQueue } from '../src/enqueue.js';
import {
  ConfigError,
  type DeadLetterFilter,
  type EnqueuedJob,
  IdempotencyConflictError,
  isTransientDatabaseError,
  JobRegistry,
  type JobView,
  loadMigrations,
  migrate,
  type QueueStats,
  Sluice,
  UnknownJobTypeError,
  ValidationError,
} from '../src/index.js';
import { describeIssues } from '../src/text.js';
import {
  type Confirm,
  cancelByFilter,
  FILTER_OPTIONS,
  FILTER_USAGE,
  filterFromFlags,
  JOBS_HELP,
  listOrCount,
  UsageError,
} from './cliJobs.js';
import { appRoot, ConfigFileError, findConfigFile, type LoadedConfig, loadAppConfig } from './config/load.js';
import { actOnDeadLetters } from './deadLetters.js';
import { devBus, devDatabaseUrl, toolPool } from './dev/database.js';
import { alignColumns, STATUS_HEADER, statusCells } from './table.js';
import { timelineLines } from './timeline.js';

const COMMANDS = `usage: sluice <command> [options]

commands:
  dev                          run the app locally: database, API, workers, live view (sluice dev --help)
  ui                           the web console (sluice ui --help)
  enqueue <type> <json>        enqueue a job      [--queue Q] [--delay 30s|500ms|5m] [--priority N] [--key K] [--trace T]
  jobs get <id>                show a job
  jobs list                    list jobs, newest first   [--state S]... [--queue Q] [--type T] [--key K] …
  jobs count                   count the jobs a filter matches
  jobs cancel <id>             cancel a job (at once, or flagged if it is running)
  jobs cancel (filter | --all) cancel the live jobs that match, after a count and a confirmation [--yes]
  status                       per queue: ready, scheduled, running, dead, oldest ready age, paused
  queues pause <queue>         pause a queue: workers claim nothing (running jobs finish); enqueue still works
  queues resume <queue>        resume a paused queue
  dead-letters list            list dead letters  [--queue Q] [--type T] [--limit N] [--after ID]
  dead-letters redrive         requeue them       (--queue Q | --type T | --id ID… | filters | --all) [--to-queue Q]
  dead-letters purge           delete them        (--queue Q | --type T | --id ID… | filters | --all)
  migrate                      apply pending migrations
  prune                        delete finished jobs past retention
  smoke                        prove a deployment works: a probe job, a dead-letter round trip, the alarms
                               (--stack S | --api URL) [--queue Q] … (sluice smoke --help)

options everywhere: --json (machine-readable output), --schema S (default SLUICE_SCHEMA or sluice),
  --config FILE (default: sluice.config.ts here or above; SLUICE_CONFIG), -h/--help
database: DATABASE_URL, or the database of a running \`sluice dev\``;

const HELP: Record<string, string> = {
  enqueue: `usage: sluice enqueue <type> <json> [--queue Q] [--delay D] [--priority N] [--key K | --replace-key K] [--trace T] [--json]

Validates <json> against the type's schema (the config's jobs) and enqueues it.
  --queue Q      another queue than the type's own
  --delay D      run later: 30s, 500ms, 5m, 2h, or plain seconds
  --priority N   -100 (first) to 100 (last), default 0
  --key K        idempotency key: the same key again returns the first job
  --replace-key K  replace the queued job holding K (if it has not started) instead of adding one;
                 with --delay, each enqueue pushes it out again (a debounce)
  --trace T      the trace the job continues: a W3C traceparent or an X-Ray trace header`,
  jobs: JOBS_HELP,
  status: 'usage: sluice status [--json]',
  queues: `usage: sluice queues pause <queue> [--json]
       sluice queues resume <queue> [--json]

A paused queue's workers claim nothing until it is resumed (jobs already running finish); enqueue still
works, and the state survives restarts. Exit code 1 when the queue was in that state already.`,
  'dead-letters': `usage: sluice dead-letters list [--queue Q] [--type T] [--limit N] [--after ID] [--json]
       sluice dead-letters redrive (--id ID… | filters | --all) [--to-queue Q] [--idempotency-key K] [--json]
       sluice dead-letters purge (--id ID… | filters | --all) [--idempotency-key K] [--json]

${FILTER_USAGE.replace(/\[--state S\]\.\.\. \([^)]*\)\n\s*/, '')}

redrive and purge act 1,000 dead letters per statement. --idempotency-key K: the same key again answers
the first answer (or finishes an interrupted redrive or purge and answers the union).`,
  migrate: 'usage: sluice migrate [--json]',
  prune: 'usage: sluice prune [--json]',
};

const OPTIONS = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  schema: { type: 'string' },
  queue: { type: 'string' },
  type: { type: 'string' },
  delay: { type: 'string' },
  priority: { type: 'string' },
  key: { type: 'string' },
  'replace-key': { type: 'string' },
  trace: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  id: { type: 'string', multiple: true },
  all: { type: 'boolean', default: false },
  'to-queue': { type: 'string' },
  config: { type: 'string' },
  ...FILTER_OPTIONS,
} as const;

type Options = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** `--priority -5` means the value -5, not an option: join such pairs as `--priority=-5` for parseArgs. */
function withNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (/^--[a-z-]+$/.test(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function parseDelayMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--delay must look like 30s, 500ms, 5m or 2h, got ${JSON.stringify(text)}`);
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

function int(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A job as text; `withErrors: false` leaves out its error history (its timeline shows each failed attempt). */
function view(job: JobView, options: { withErrors?: boolean } = {}): string {
  const lines = [
    `job ${job.id}: ${job.type} on ${job.queue} — ${job.state}`,
    `  attempt ${job.attempt} of ${job.maxAttempts}, priority ${job.priority}, run at ${job.runAt.toISOString()}`,
  ];
  if (job.idempotencyKey) lines.push(`  idempotency key ${job.idempotencyKey}`);
  if (job.finishedAt) lines.push(`  finished at ${job.finishedAt.toISOString()}`);
  if (job.traceId) lines.push(`  trace ${job.traceId}`);
  if ('payload' in job) lines.push(`  payload ${JSON.stringify((job as { payload?: unknown }).payload)}`);
  if ('result' in job) lines.push(`  result ${JSON.stringify(job.result)}`);
  for (const e of options.withErrors === false ? [] : job.errors) {
    lines.push(`  attempt ${e.attempt} failed: ${e.name ?? 'Error'}: ${e.message ?? ''}`);
  }
  return lines.join('\n');
}

function statusTable(stats: QueueStats[]): string {
  if (stats.length === 0) return 'no jobs in any queue';
  return alignColumns([[...STATUS_HEADER], ...stats.map(statusCells)]).join('\n');
}

function deadLetterFilter(o: Options): DeadLetterFilter {
  if (o.state) throw new UsageError('dead letters take no --state: they are dead');
  const { all: _all, ...filter } = filterFromFlags(o);
  if (Object.keys(filter).length === 0 && !o.all)
    throw new UsageError('name what to act on: --queue, --type, --id, another filter, or --all for every dead letter');
  return filter as DeadLetterFilter;
}

async function run(argv: string[], confirm: Confirm | undefined): Promise<{ out: unknown; text: string; code?: number }> {
  const { values: o, positionals } = parseArgs({ args: withNegativeValues(argv), options: OPTIONS, allowPositionals: true, strict: true });
  if (o.key === '') throw new UsageError('--key must not be empty');
  if (o['replace-key'] === '') throw new UsageError('--replace-key must not be empty');
  const [command, ...rest] = positionals;
  if (!command) {
    if (o.help) return { out: null, text: COMMANDS };
    throw new UsageError(COMMANDS);
  }
  const sub = rest[0];
  if (!(command in HELP)) throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${COMMANDS}`);
  if (o.help) return { out: null, text: HELP[command] as string };
  const arity = (n: number, usage: string) => {
    if (rest.length !== n) throw new UsageError(usage);
  };

  // Check the input before connecting, so bad usage never waits on a database. Commands that need to know
  // the app's job types or queues read its config; the others work without one (on any database).
  // enqueue and redrive need the app's job types and queues; status uses them when there is a config.
  const needsConfig = command === 'enqueue' || command === 'queues' || (command === 'dead-letters' && sub === 'redrive');
  const app = needsConfig || (command === 'status' && configExists(o.config)) ? await loadApp(o.config) : undefined;
  const registry = new JobRegistry(app?.config.jobs ?? []);
  let enqueueArgs: { def: ReturnType<JobRegistry['get']>; payload: unknown } | undefined;
  if (command === 'enqueue') {
    arity(2, HELP.enqueue as string);
    const def = registry.get(rest[0] as string);
    let payload: unknown;
    try {
      payload = JSON.parse(rest[1] as string);
    } catch (err) {
      throw new UsageError(`<json> is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = def.schema.safeParse(payload);
    if (!parsed.success) {
      throw new ValidationError(`invalid ${def.type} payload: ${describeIssues(parsed.error.issues, '(payload)')}`, parsed.error.issues);
    }
    enqueueArgs = { def, payload };
  }
  const jobsByFilter = command === 'jobs' && rest.length === 1 && (sub === 'list' || sub === 'count' || sub === 'cancel');
  if (command === 'jobs' && !jobsByFilter && (rest.length !== 2 || (sub !== 'get' && sub !== 'cancel')))
    throw new UsageError(HELP.jobs as string);
  if (command === 'queues' && (rest.length !== 2 || (sub !== 'pause' && sub !== 'resume'))) throw new UsageError(HELP.queues as string);
  if (command === 'dead-letters' && !['list', 'redrive', 'purge'].includes(sub ?? '')) throw new UsageError(HELP['dead-letters'] as string);
  if (['status', 'migrate', 'prune'].includes(command)) arity(0, HELP[command] as string);
  const delayMs = o.delay === undefined ? undefined : parseDelayMs(o.delay);
  const priority = int(o.priority, 'priority');
  const limit = int(o.limit, 'limit');
  // The app's queues (its sluice.config.ts): a job for a queue without a worker would never run.
  const queues = app?.config.queues.map((q) => q.name);
  if (queues) refuseUnknownQueue(o['to-queue'], queues, '--to-queue'); // before connecting: `--all` may find no queue to redrive

  if (!app) locateDevDir(o.config);
  const url = devDatabaseUrl();
  const pool = toolPool(url);
  const schema = o.schema ?? process.env.SLUICE_SCHEMA ?? 'sluice';
  const sluice = new Sluice({ db: pool, schema, ...(queues ? { queues } : {}) });
  try {
    switch (command) {
      case 'enqueue': {
        const { def, payload } = enqueueArgs as { def: ReturnType<JobRegistry['get']>; payload: unknown };
        const job = await sluice.enqueue(def, payload as never, {
          ...(o.queue ? { queue: o.queue } : {}),
          ...(delayMs !== undefined ? { delayMs } : {}),
          ...(priority !== undefined ? { priority } : {}),
          ...(o.key ? { idempotencyKey: o.key } : {}),
          ...(o['replace-key'] !== undefined ? { replaceKey: o['replace-key'] } : {}),
          ...(o.trace !== undefined ? { trace: o.trace } : {}),
        });
        await wakeDevWorkers(job);
        return {
          out: job,
          text: `${job.replayed ? 'already enqueued' : job.replaced ? 'replaced' : 'enqueued'}: job ${job.id} (${job.type} on ${job.queue}, ${job.state === 'scheduled' ? `runs at ${job.runAt.toISOString()}` : job.state})`,
        };
      }
      case 'queues': {
        const queue = rest[1] as string;
        const paused = sub === 'pause';
        const changed = paused ? await sluice.pauseQueue(queue) : await sluice.resumeQueue(queue);
        const text = changed
          ? `queue ${queue} ${paused ? 'paused' : 'resumed'}`
          : `queue ${queue} was ${paused ? 'paused' : 'not paused'} already`;
        return { out: { queue, paused, changed }, text, ...(changed ? {} : { code: 1 }) };
      }
      case 'jobs': {
        if (jobsByFilter && sub === 'cancel') return await cancelByFilter(sluice, o, confirm);
        if (jobsByFilter) return await listOrCount(sluice, sub as 'list' | 'count', o, limit);
        const id = rest[1] as string;
        if (sub === 'get') {
          const [job, timeline] = await Promise.all([sluice.getJob(id), sluice.jobTimeline(id)]);
          if (!job) return { out: { error: { code: 'NOT_FOUND', message: `no job ${id}` } }, text: `no job ${id}`, code: 1 };
          const history = timeline.length === 0 ? '' : `\n  timeline:\n${timelineLines(timeline).join('\n')}`;
          // Jobs finished before the timeline existed (migration 0003) have only their error history.
          const withErrors = !timeline.some((e) => e.kind === 'attempt');
          return { out: { ...job, timeline }, text: `${view(job, { withErrors })}${history}` };
        }
        const result = (await sluice.cancel([id]))[id];
        if (result === 'not_cancellable' || result === undefined) {
          const message = `job ${id} does not exist or has already finished`;
          return { out: { error: { code: 'NOT_CANCELLABLE', message } }, text: message, code: 1 };
        }
        return {
          out: { id, result },
          text: result === 'cancelled' ? `job ${id} cancelled` : `job ${id} is running: asked to stop (cancelling)`,
        };
      }
      case 'status': {
        const stats = await sluice.stats();
        return { out: stats, text: statusTable(stats) };
      }
      case 'dead-letters': {
        if (sub === 'list') {
          // --json carries the next page's cursor, as the API does.
          const { jobs, next } = await sluice.deadLetterPage({
            ...(o.queue ? { queue: o.queue } : {}),
            ...(o.type ? { type: o.type } : {}),
            ...(o.after ? { after: o.after } : {}),
            ...(limit !== undefined ? { limit } : {}),
          });
          const more = next ? `\nmore: --after ${next}` : '';
          return {
            out: { deadLetters: jobs, next },
            text: jobs.length === 0 ? 'no dead letters' : `${jobs.map((j) => view(j)).join('\n')}${more}`,
          };
        }
        const filter = deadLetterFilter(o);
        // --all: every dead letter, queue by queue.
        const ids = await actOnDeadLetters(sluice, sub as 'redrive' | 'purge', filter, {
          ...(o['to-queue'] ? { toQueue: o['to-queue'] } : {}),
          ...(o['idempotency-key'] !== undefined ? { idempotencyKey: o['idempotency-key'] } : {}),
        });
        const verb = sub === 'redrive' ? 'redriven' : 'purged';
        // Exit 1 when nothing matched: "nothing to act on", as for a job that does not exist.
        return {
          out: { [verb]: ids },
          text: `${verb}: ${ids.length}${ids.length ? ` (${ids.join(', ')})` : ''}`,
          ...(ids.length === 0 ? { code: 1 } : {}),
        };
      }
      case 'migrate': {
        const result = await migrate({ db: pool, schema, migrations: await loadMigrations() });
        return {
          out: result,
          text: result.applied.length ? `applied ${result.applied.join(', ')}; now at ${result.current}` : `up to date (${result.current})`,
        };
      }
      default: {
        const result = await sluice.prune();
        return { out: result, text: `pruned ${result.deleted} finished jobs` };
      }
    }
  } finally {
    await pool.end();
  }
}

/** The app's config; the dev database of that app (`<root>/.sluice`) unless SLUICE_DEV_DIR says otherwise. */
async function loadApp(file: string | undefined): Promise<LoadedConfig> {
  const app = await loadAppConfig(file ? { file } : {});
  process.env.SLUICE_DEV_DIR ??= join(app.root, '.sluice');
  return app;
}

/**
 * While `sluice dev` runs, a job the CLI enqueues wakes its queue's worker at once, as the API's jobs do
 * (`JobsEnqueued` to the dev server's EventBridge stand-in); otherwise the queue's schedule finds it.
 */
async function wakeDevWorkers(job: EnqueuedJob): Promise<void> {
  const bus = devBus();
  if (!bus) return;
  const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
  const client = new EventBridgeClient({
    endpoint: bus.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'sluice-dev', secretAccessKey: 'sluice-dev' },
    maxAttempts: 1,
  });
  await createWakeUp({ env: { EVENT_BUS_NAME: bus.name, WAKE_COALESCE_MS: '0' }, sink: eventBridgeSink(client) }).afterCommit(job);
  client.destroy();
}

function configExists(file: string | undefined): boolean {
  try {
    findConfigFile(process.cwd(), file ?? process.env.SLUICE_CONFIG);
    return true;
  } catch {
    return false;
  }
}

/** Where the app's dev database is, when no config was loaded: beside its config file if there is one. */
function locateDevDir(file: string | undefined): void {
  if (process.env.SLUICE_DEV_DIR) return;
  try {
    process.env.SLUICE_DEV_DIR = join(appRoot(dirname(findConfigFile(process.cwd(), file ?? process.env.SLUICE_CONFIG))), '.sluice');
  } catch {
    // no config: the working directory's .sluice/
  }
}

/** A yes/no question on the terminal, or undefined when stdin is not one (then --yes is required). */
function terminalConfirm(): Confirm | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async (question) => {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim());
    } finally {
      rl.close();
    }
  };
}

/** Runs the CLI; returns the exit code. Output goes through `write` (stdout) and `fail` (stderr). */
export async function main(
  argv: string[],
  io: { write: (s: string) => unknown; fail: (s: string) => unknown; confirm?: Confirm } = {
    write: (s) => process.stdout.write(s),
    fail: (s) => process.stderr.write(s),
  },
): Promise<number> {
  if (argv[0] === 'ui') {
    // Runs until a signal stops it; the app's queues, when it has a config, bound what may be paused.
    const { runUi } = await import('./ui/command.js');
    try {
      return await runUi(argv.slice(1), async (file) => {
        const config = configExists(file) ? (await loadApp(file)).config : undefined;
        return config ? { queues: config.queues.map((q) => q.name), periodicJobs: config.periodicJobs } : undefined;
      });
    } catch (err) {
      process.stderr.write(`sluice ui: ${(err as Error).message}\n`);
      return (err as Error).message.startsWith('no database:') ? 3 : 2;
    }
  }
  if (argv[0] === 'smoke') {
    // Needs no database: it probes a deployed stack (or an API) from outside.
    const { runSmoke } = await import('./smoke.js');
    return runSmoke(argv.slice(1), io);
  }
  if (argv[0] === 'dev') {
    // Runs until a signal stops it (and exits the process then); returns once it is up.
    const { runDev } = await import('./dev.js');
    await runDev(argv.slice(1));
    return 0;
  }
  const json = argv.includes('--json');
  const error = (code: number, kind: string, message: string, issues?: unknown) => {
    if (json) io.write(`${JSON.stringify({ error: { code: kind, message, ...(issues ? { issues } : {}) } })}\n`);
    else io.fail(`sluice: ${message}\n`);
    return code;
  };
  try {
    const { out, text, code } = await run(argv, io.confirm ?? terminalConfirm());
    io.write(json && out !== null ? `${JSON.stringify(out, null, 2)}\n` : `${text}\n`);
    return code ?? 0;
  } catch (err) {
    if (err instanceof ConfigFileError) return error(2, 'CONFIG', err.message);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      return error(2, 'USAGE', (err as Error).message);
    if (err instanceof UnknownJobTypeError) return error(2, 'UNKNOWN_TYPE', err.message);
    if (err instanceof ValidationError) return error(2, 'VALIDATION', err.message, err.issues);
    if (err instanceof IdempotencyConflictError) return error(2, 'IDEMPOTENCY_CONFLICT', err.message);
    if ((err as Error).message?.startsWith('no database:')) return error(3, 'NO_DATABASE', (err as Error).message);
    if (err instanceof ConfigError || (err instanceof TypeError && /schema name must match|Invalid URL/.test(err.message)))
      return error(2, 'USAGE', (err as Error).message);
    if (isTransientDatabaseError(err)) return error(3, 'UNAVAILABLE', `database unreachable: ${(err as Error).message}`);
    const code = (err as { code?: string }).code;
    if (code === '28P01' || code === '28000' || code === '3D000')
      return error(3, 'DATABASE_REFUSED', `the database refused the connection: ${(err as Error).message}`);
    if (code === '3F000' || code === '42P01')
      return error(3, 'NOT_MIGRATED', `the queue's tables are missing: run \`sluice migrate\` (${(err as Error).message})`);
    return error(1, 'FAILED', (err as Error).message ?? String(err));
  }
}
