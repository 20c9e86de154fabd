/**
 * What Lambda bills and users wait for: each bundle's size, a fresh Node process's time to its first
 * answered API event (against a warm database), and the worker's peak memory over a 10,000-job drain.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { processOrder } from '../../examples/definitions.js';
import { enqueueItem, type Sluice } from '../../src/index.js';
import { buildAll } from '../bundle.js';
import { LocalBus } from '../dev/bus.js';
import { quantile } from './measure.js';

const RUNNER = fileURLToPath(new URL('../../test/fixtures/invoke-bundle.mjs', import.meta.url));

interface Invocation {
  ok: boolean;
  result?: unknown;
  error?: string;
  loadMs: number;
  invokeMs: number;
  maxRssMb: number;
  wallMs: number;
}

/** Invoke `bundle` once in a fresh Node process; wall time from spawn to the answer. */
function invoke(bundle: string, event: unknown, env: NodeJS.ProcessEnv, remainingMs = 60_000): Promise<Invocation> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [RUNNER, bundle, JSON.stringify(event), String(remainingMs)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    child.once('close', () => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        const parsed = JSON.parse(line) as Omit<Invocation, 'wallMs'>;
        if (!parsed.ok) return reject(new Error(`${bundle} failed: ${parsed.error}`));
        resolve({ ...parsed, wallMs: performance.now() - t0 });
      } catch {
        reject(new Error(`${bundle} printed no result: ${out}${err}`));
      }
    });
  });
}

export async function lambdaFigures(options: {
  url: string;
  schema: string;
  sluice: Sluice;
  db: pg.Pool;
  drainJobs: number;
  coldStarts: number;
}) {
  // Inside the project, so the bundles resolve the SDK clients from node_modules as Lambda's runtime provides them.
  const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'sluice-bench-dist-'));
  // The dev server's EventBridge stand-in, so the API publishes its wake-up in the cold start as it does on AWS
  // (SDK loaded, request signed and sent); its one rule counts the JobsEnqueued events.
  const bus = new LocalBus({
    rules: [
      {
        id: 'bench-wake',
        description: 'counts wake-ups',
        target: { function: 'worker', queue: 'default' },
        eventPattern: { 'detail-type': ['JobsEnqueued'] },
      },
    ],
    busName: 'sluice-bench',
    deliver: () => {},
    rateEveryMs: 60_000,
    onWarning: () => {},
  });
  const busUrl = await bus.listen();
  try {
    const bundles = await buildAll(undefined, dir);
    const env = {
      ...process.env,
      DATABASE_URL: options.url,
      SLUICE_SCHEMA: options.schema,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
      // As on AWS, the API publishes JobsEnqueued before it answers: to the local stand-in, with dummy credentials.
      EVENT_BUS_NAME: 'sluice-bench',
      AWS_ENDPOINT_URL_EVENTBRIDGE: busUrl,
      AWS_ACCESS_KEY_ID: 'AKIDBENCH',
      AWS_SECRET_ACCESS_KEY: 'bench',
    } as NodeJS.ProcessEnv;
    delete env.AWS_SESSION_TOKEN;
    delete env.AWS_PROFILE;
    const enqueue = {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/v1/jobs',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/v1/jobs' }, requestId: 'bench' },
      body: JSON.stringify({ type: 'process_order', payload: { orderId: 'cold-start' } }),
      isBase64Encoded: false,
    };
    const colds: Invocation[] = [];
    for (let i = 0; i < options.coldStarts; i++) {
      const res = await invoke(join(dir, 'api', 'index.mjs'), enqueue, env);
      if ((res.result as { statusCode?: number }).statusCode !== 201) throw new Error(`cold start answered ${JSON.stringify(res.result)}`);
      colds.push(res);
    }
    if (bus.delivered < options.coldStarts)
      throw new Error(`the API published ${bus.delivered} wake-ups in ${options.coldStarts} cold starts`);
    await options.db.query(`TRUNCATE ${options.schema}.jobs, ${options.schema}.active_jobs, ${options.schema}.job_steps`);
    for (let i = 0; i < options.drainJobs; i += 1000) {
      await options.sluice.enqueueMany(
        Array.from({ length: Math.min(1000, options.drainJobs - i) }, (_, k) => enqueueItem(processOrder, { orderId: `rss-${i + k}` })),
      );
    }
    const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: { queue: 'default' } };
    const drain = await invoke(join(dir, 'worker', 'index.mjs'), scheduled, { ...env, QUEUE: 'default' }, 600_000);
    const drained = (drain.result as { succeeded?: number }).succeeded;
    if (drained !== options.drainJobs) throw new Error(`the worker bundle drained ${drained} of ${options.drainJobs}`);
    return {
      bundleBytes: Object.fromEntries(bundles.map((b) => [b.name, b.bytes])),
      apiColdStartMs: quantile(
        colds.map((c) => c.wallMs),
        0.5,
      ),
      apiColdStartLoadMs: quantile(
        colds.map((c) => c.loadMs),
        0.5,
      ),
      drainPeakRssMb: drain.maxRssMb,
      drainJobsPerSecBundle: options.drainJobs / (drain.invokeMs / 1000),
    };
  } finally {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
