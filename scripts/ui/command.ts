/**
 * `sluice ui`: the web console against `DATABASE_URL` or the running `sluice dev` database, until Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { Sluice } from '../../src/index.js';
import { devDatabaseUrl, toolPool } from '../dev/database.js';
import { startConsole } from './server.js';

export const UI_HELP = `usage: sluice ui [--port N] [--host H] [--token T] [--read-only] [--schema S] [--config FILE]

The web console: queues (pause, resume), dead letters (redrive, purge, each after a count and a
confirmation), a job's page. Against DATABASE_URL, or the database of a running \`sluice dev\`.
  --port N      default 4000 (0: any free port)
  --host H      default 127.0.0.1; any other address needs --token (or SLUICE_CONSOLE_TOKEN)
  --token T     required to open it: Authorization: Bearer T, or once ?token=T
  --read-only   show, never change: every action is hidden and refused`;

export interface UiApp {
  queues: readonly string[];
  periodicJobs: ReadonlyArray<{ name: string; schedule: string; type: string; queue?: string | undefined }>;
}

/** Runs until a signal stops it; returns 2 on bad usage. `loadApp` reads the app's config (`--config`), if any. */
export async function runUi(argv: string[], loadApp: (file: string | undefined) => Promise<UiApp | undefined>): Promise<number> {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string' },
      'read-only': { type: 'boolean', default: false },
      schema: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (o.help) {
    console.log(UI_HELP);
    return 0;
  }
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`sluice ui: --port must be a number from 0 to 65535, got ${JSON.stringify(o.port)}`);
    return 2;
  }
  const app = await loadApp(o.config);
  const queues = app?.queues;
  const pool = toolPool(devDatabaseUrl());
  const sluice = new Sluice({
    db: pool,
    schema: o.schema ?? process.env.SLUICE_SCHEMA ?? 'sluice',
    ...(queues ? { queues: [...queues] } : {}),
  });
  const ui = await startConsole({
    sluice,
    host: o.host,
    port,
    token: o.token ?? process.env.SLUICE_CONSOLE_TOKEN,
    readOnly: o['read-only'],
    ...(app ? { periodicJobs: app.periodicJobs } : {}),
  });
  console.log(`[sluice ui] ${ui.url}${o['read-only'] ? ' (read-only)' : ''}  Ctrl-C to stop`);
  const stop = async () => {
    await ui.close();
    await pool.end();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void stop());
  return 0;
}
