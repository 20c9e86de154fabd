/**
 * `npm run bench [-- --json FILE] [-- --quick]`: sluice against the plainest SKIP LOCKED queue, measured in
 * the same run on the same server (an embedded PostgreSQL with its durable defaults, or DATABASE_URL).
 * Prints a table; `--json FILE` writes the figures. Timings are reported, never asserted.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startEmbeddedPostgres } from '../dev/embedded.js';
import { baselineDrain, baselineEnqueueBulk, baselineEnqueueOne, setupBaseline } from './baseline.js';
import { flowFigures } from './flow.js';
import { lambdaFigures } from './lambda.js';
import { listingFigures } from './listing.js';
import { median, paired } from './measure.js';
import { scaleFigures } from './scale.js';
import { drain, drainWithHistory, enqueueBulk, enqueueOne, latency, reset, SCHEMA, setupSluice } from './sluiceBench.js';
import { targets } from './targets.js';
import { outcomeLoop } from './timelineCost.js';

const { values: args } = parseArgs({
  options: { json: { type: 'string' }, quick: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  strict: true,
});
if (args.help) {
  console.log(
    'usage: npm run bench [-- --json FILE] [-- --quick]\n  --json FILE  also write the figures as JSON\n  --quick      small sizes: a smoke run, not figures to quote',
  );
  process.exit(0);
}
const q = args.quick;
const N = {
  one: q ? 500 : 4_000,
  bulk: q ? 10_000 : 100_000,
  drain: q ? 5_000 : 20_000,
  latency: q ? 50 : 300,
  history: q ? 50_000 : 1_000_000,
  scheduled: q ? 50_000 : 1_000_000,
  rss: q ? 2_000 : 10_000,
  running: q ? 1_000 : 5_000,
  listing: q ? 50_000 : 1_000_000,
  coldStarts: q ? 2 : 5,
};
const IN_FLIGHT = 16;
/** Each throughput figure is the median of this many runs. */
const REPEATS = q ? 1 : 3;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

const started = Date.now();
const server = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ durable: true });
const url = process.env.DATABASE_URL ?? (server?.url as string);
const db = new pg.Pool({ connectionString: url, max: 24 });
// An idle connection closed under the pool (the server stopping at the end) must not crash the bench.
let ending = false;
db.on('error', (err) => {
  if (!ending) log(`idle connection closed: ${err.message}`);
});
const version = (await db.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version;

try {
  await setupBaseline(db);
  const sluice = await setupSluice(db);

  log('enqueue, baseline and sluice alternately');
  const [bOne, sOne] = await paired(
    REPEATS,
    () => baselineEnqueueOne(db, N.one, IN_FLIGHT),
    () => enqueueOne(sluice, db, N.one, IN_FLIGHT),
  );
  const [bBulk, sBulk] = await paired(
    REPEATS,
    () => baselineEnqueueBulk(db, N.bulk, 1000),
    async () => {
      await reset(db);
      return enqueueBulk(sluice, db, N.bulk, 1000);
    },
  );
  log('baseline: drain, every batch size × claimers (to find its best)');
  const grid: Array<{ batch: number; claimers: number; jobsPerSec: number; walBytesPerJob: number }> = [];
  for (const batch of [10, 50, 100, 500, 1000]) {
    for (const claimers of [1, 2, 4, 8])
      grid.push({ batch, claimers, ...(await median(REPEATS, () => baselineDrain(db, N.drain, claimers, batch))) });
  }
  const bBestConfig = grid.reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));
  log('drain: the baseline at its best and sluice at its defaults, alternately');
  const [bBestRun, sDrain1] = await paired(
    REPEATS,
    () => baselineDrain(db, N.drain, bBestConfig.claimers, bBestConfig.batch),
    () => drain(sluice, db, N.drain, 1),
  );
  const bBest = { ...bBestConfig, ...bBestRun };
  // For context: the baseline at sluice's default batch size (100), with its best number of claimers.
  const bAt100 = grid.filter((g) => g.batch === 100).reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));

  log('sluice: enqueue through the API handler, in-process');
  Object.assign(process.env, {
    DATABASE_URL: url,
    SLUICE_SCHEMA: SCHEMA,
    DB_POOL_MAX: '4',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_REGION: 'us-east-1',
  });
  delete process.env.EVENT_BUS_NAME;
  const { handler: api } = await import('../../examples/functions/api.js');
  const { closePool } = await import('../../functions/shared/db.js');
  await reset(db);
  const apiContext = { getRemainingTimeInMillis: () => 29_000, awsRequestId: 'bench', functionName: 'bench-api' };
  const apiStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N.one) {
        const i = next++;
        const res = await api(
          {
            version: '2.0',
            routeKey: '$default',
            rawPath: '/v1/jobs',
            rawQueryString: '',
            headers: { 'content-type': 'application/json' },
            requestContext: { http: { method: 'POST', path: '/v1/jobs' }, requestId: `bench-${i}` },
            body: JSON.stringify({ type: 'process_order', payload: { orderId: `api-${i}` } }),
            isBase64Encoded: false,
          } as never,
          apiContext as never,
        );
        if (res.statusCode !== 201) throw new Error(`API answered ${res.statusCode}: ${res.body}`);
      }
    }),
  );
  const sApi = { jobsPerSec: N.one / ((performance.now() - apiStarted) / 1000) };
  await closePool();

  log('sluice: drain (defaults, 1 and 4 drainers; larger batches)');
  const sDrain4 = await median(REPEATS, () => drain(sluice, db, N.drain, 4));
  const batches: Array<{ batch: number; drainers: number; jobsPerSec: number; walBytesPerJob: number }> = [];
  for (const batch of [250, 500, 1000]) {
    for (const drainers of [1, 4])
      batches.push({ batch, drainers, ...(await drain(sluice, db, N.drain, drainers, { batchSize: batch, concurrency: batch })) });
  }
  const sBestBatch = batches.reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));

  log('sluice: the timeline and counts, their cost per job (claim + outcome statements, with and without)');
  const [without, withTimeline] = await paired(
    REPEATS,
    () => outcomeLoop(sluice, db, N.drain, false),
    () => outcomeLoop(sluice, db, N.drain, true),
  );

  log('sluice: enqueue → start latency');
  const lat = await latency(sluice, db, N.latency);

  log(`sluice: drain beside ${N.history} history rows and ${N.scheduled} scheduled jobs`);
  const emptyAgain = await median(REPEATS, () => drain(sluice, db, N.drain, 1));
  const withHistory = await drainWithHistory(sluice, db, N.drain, N.history, N.scheduled, REPEATS);
  await reset(db);

  log(`sluice: list a filtered page at ${N.listing} job records; what 0004's indexes cost an enqueue`);
  const listing = await listingFigures(sluice, db, { records: N.listing, enqueue: N.one, bulk: N.bulk, repeats: REPEATS });
  await reset(db);

  log(
    `sluice: scale cases (a claim beside ${N.running} running jobs, stats() beside ${N.scheduled} scheduled, enqueue beside ${N.history} history rows)`,
  );
  const scale = await scaleFigures(sluice, db, {
    jobs: N.drain,
    running: N.running,
    scheduled: N.scheduled,
    history: N.history,
    enqueue: N.one,
    repeats: REPEATS,
  });

  log('sluice: flow control (a per-key limit over 1,000 keys against no limits, alternately; fairness)');
  const flow = await flowFigures(sluice, db, { jobs: N.drain, keys: 1000, fairA: q ? 2_000 : 10_000, fairB: 100, repeats: REPEATS });

  log('Lambda: bundles, cold start, peak memory');
  const lambda = await lambdaFigures({ url, schema: SCHEMA, sluice, db, drainJobs: N.rss, coldStarts: N.coldStarts });

  const figures = {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: version,
    },
    settings: { quick: q, sizes: N, inFlight: IN_FLIGHT, repeats: REPEATS, durable: true },
    baseline: {
      drainJobsPerSec: bBest.jobsPerSec,
      drainBest: { batch: bBest.batch, claimers: bBest.claimers },
      drainJobsPerSecAtBatch100: bAt100.jobsPerSec,
      drainAtBatch100Claimers: bAt100.claimers,
      drainGrid: grid,
      enqueueOneJobsPerSec: bOne.jobsPerSec,
      enqueueBulkJobsPerSec: bBulk.jobsPerSec,
      walBytesPerJobEnqueued: bOne.walBytesPerJob,
      walBytesPerJobProcessed: bBest.walBytesPerJob,
    },
    sluice: {
      drainJobsPerSec: sDrain1.jobsPerSec,
      drainJobsPerSec4Drainers: sDrain4.jobsPerSec,
      drainJobsPerSecBestBatch: sBestBatch.jobsPerSec,
      drainBestBatch: { batch: sBestBatch.batch, drainers: sBestBatch.drainers },
      drainBatches: batches,
      drainJobsPerSecEmptyBeforeHistory: emptyAgain.jobsPerSec,
      drainJobsPerSecWithHistory: withHistory.jobsPerSec,
      enqueueOneJobsPerSec: sOne.jobsPerSec,
      enqueueApiJobsPerSec: sApi.jobsPerSec,
      enqueueBulkJobsPerSec: sBulk.jobsPerSec,
      latencyP50Ms: lat.p50,
      latencyP95Ms: lat.p95,
      latencyP99Ms: lat.p99,
      walBytesPerJobEnqueued: sOne.walBytesPerJob,
      walBytesPerJobEnqueuedBulk: sBulk.walBytesPerJob,
      walBytesPerJobProcessed: sDrain1.walBytesPerJob,
      ...scale,
      ...flow,
      outcomeSqlJobsPerSec: withTimeline.jobsPerSec,
      outcomeSqlJobsPerSecWithoutTimeline: without.jobsPerSec,
      outcomeSqlWalBytesPerJob: withTimeline.walBytesPerJob,
      outcomeSqlWalBytesPerJobWithoutTimeline: without.walBytesPerJob,
      ...lambda,
    },
    listing,
    durationSeconds: (Date.now() - started) / 1000,
  };
  const held = targets(figures);

  const pct = (v: number, of: number) => `${Math.round((v / of) * 100)}%`;
  const f = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  /** A row comparing a sluice figure with the one it is measured against. */
  const vs = (label: string, value: number, against: number, target = '', againstNote = '') => [
    label,
    f(value),
    `${f(against)}${againstNote}`,
    pct(value, against),
    target,
  ];
  const s = figures.sluice;
  const b = figures.baseline;
  const rows: string[][] = [
    ['figure', 'sluice', 'baseline', 'sluice/baseline', 'target'],
    vs('drain, 1 drainer, defaults (jobs/s)', s.drainJobsPerSec, b.drainJobsPerSec, '≥ 50%'),
    vs(`  the same, beside the baseline at batch 100 × ${b.drainAtBatch100Claimers}`, s.drainJobsPerSec, b.drainJobsPerSecAtBatch100),
    vs('drain, 4 drainers, defaults (jobs/s)', s.drainJobsPerSec4Drainers, b.drainJobsPerSec),
    vs(
      `drain, best batch ${s.drainBestBatch.batch} × ${s.drainBestBatch.drainers} (jobs/s)`,
      s.drainJobsPerSecBestBatch,
      b.drainJobsPerSec,
    ),
    vs(
      'drain beside 1M history + 1M scheduled (jobs/s)',
      s.drainJobsPerSecWithHistory,
      s.drainJobsPerSecEmptyBeforeHistory,
      '≥ 90% of empty',
      ' empty',
    ),
    vs('enqueue one by one, 16 in flight (jobs/s)', s.enqueueOneJobsPerSec, b.enqueueOneJobsPerSec, '≥ 60%'),
    vs('enqueue through the API handler, 16 in flight (jobs/s)', s.enqueueApiJobsPerSec, b.enqueueOneJobsPerSec),
    vs('enqueue in batches of 1,000 (jobs/s)', s.enqueueBulkJobsPerSec, b.enqueueBulkJobsPerSec, '≥ 50%'),
    vs('WAL per job processed (bytes)', s.walBytesPerJobProcessed, b.walBytesPerJobProcessed, '≤ 100%'),
    vs('WAL per job enqueued, one by one (bytes)', s.walBytesPerJobEnqueued, b.walBytesPerJobEnqueued),
    vs(
      'claim + outcome SQL at batch 100, with the timeline (jobs/s)',
      s.outcomeSqlJobsPerSec,
      s.outcomeSqlJobsPerSecWithoutTimeline,
      '',
      ' without',
    ),
    vs('  WAL per job, with the timeline (bytes)', s.outcomeSqlWalBytesPerJob, s.outcomeSqlWalBytesPerJobWithoutTimeline, '', ' without'),
    vs(
      `claim + outcome beside ${f(N.running)} running jobs (jobs/s)`,
      s.claimJobsPerSecBesideRunning,
      s.claimJobsPerSecEmpty,
      'flat',
      ' none running',
    ),
    [
      `stats() beside ${f(N.scheduled)} scheduled jobs (ms)`,
      f(s.statsMsWithScheduled, 1),
      `${f(s.statsMsEmpty, 1)} empty`,
      pct(s.statsMsWithScheduled, s.statsMsEmpty),
      'flat',
    ],
    vs(
      `enqueue one by one beside ${f(N.history)} history rows (jobs/s)`,
      s.enqueueJobsPerSecWithHistory,
      s.enqueueJobsPerSecEmpty,
      'flat',
      ' empty',
    ),
    vs(
      `drain, per-key limit ${s.flowPerKeyLimit} over ${f(s.flowKeys)} keys (jobs/s)`,
      s.flowDrainJobsPerSecPerKey,
      s.flowDrainJobsPerSecUnlimited,
      '≥ 70%',
      ' no limits',
    ),
    [
      'fairness: 100 of key B behind 10,000 of A: B done at (ms) / A started before',
      `${f(s.flowFairnessBLastStartMs)} / ${f(s.flowFairnessAStartedBeforeBLast)}`,
      `${f(s.flowFairnessDrainMs)} whole drain`,
      '',
      '',
    ],
    [
      'enqueue → start p50 / p95 / p99 (ms)',
      `${f(s.latencyP50Ms, 1)} / ${f(s.latencyP95Ms, 1)} / ${f(s.latencyP99Ms, 1)}`,
      '',
      '',
      'p50 ≤ 5 ms',
    ],
    ['API cold start to first answer (ms)', f(s.apiColdStartMs), '', '', '≤ 150 ms'],
    ['drain peak RSS over 10,000 jobs (MB)', f(s.drainPeakRssMb), '', '', '< 128 MB'],
    [
      'bundle sizes (KB)',
      Object.entries(s.bundleBytes)
        .map(([k, v]) => `${k} ${f(v / 1024)}`)
        .join(', '),
      '',
      '',
      '',
    ],
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const table = rows.map((r) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`);
  table.splice(1, 0, `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  console.log(
    `sluice bench — PostgreSQL ${version}, Node ${process.version}, ${figures.machine.cpus} CPUs; baseline best at batch ${b.drainBest.batch} × ${b.drainBest.claimers} claimers; ${f(figures.durationSeconds)} s\n`,
  );
  console.log(table.join('\n'));
  console.log(
    `\ntargets (issues 14 and 15), each in this run: ${held.filter((t) => t.held).length} of ${held.length} held\n${held
      .map(
        (t) =>
          `- ${t.held ? 'held' : 'NOT held'}: ${t.name}: ${t.against === undefined ? f(t.value, 1) : pct(t.value, t.against)} (${t.target})`,
      )
      .join('\n')}`,
  );
  const pageRows = [
    [`list a filtered page at ${f(listing.records)} job records (median ms)`, 'first page', 'next pages', 'rows/page'],
    ...Object.entries(listing.pages).map(([name, r]) => [
      name,
      f(r.firstPageMs, 2),
      r.nextPagesMs === null ? '' : f(r.nextPagesMs, 2),
      f(r.rowsPerPage),
    ]),
    ...Object.entries(listing.counts).map(([name, c]) => [`count: ${name} (${f(c.count)} jobs)`, f(c.ms, 1), '', '']),
    [
      "enqueue one by one without / with 0004's queue and type indexes (jobs/s)",
      `${f(listing.enqueueWithoutListingIndexes.jobsPerSec)} / ${f(listing.enqueueWithListingIndexes.jobsPerSec)}`,
      '',
      '',
    ],
    [
      '  WAL per job enqueued, without / with them (bytes)',
      `${f(listing.enqueueWithoutListingIndexes.walBytesPerJob)} / ${f(listing.enqueueWithListingIndexes.walBytesPerJob)}`,
      '',
      '',
    ],
    [
      '  in batches of 1,000, without / with them (jobs/s)',
      `${f(listing.bulkWithoutListingIndexes.jobsPerSec)} / ${f(listing.bulkWithListingIndexes.jobsPerSec)}`,
      '',
      '',
    ],
    [
      '  WAL per job, in batches, without / with them (bytes)',
      `${f(listing.bulkWithoutListingIndexes.walBytesPerJob)} / ${f(listing.bulkWithListingIndexes.walBytesPerJob)}`,
      '',
      '',
    ],
  ];
  const pw = pageRows[0]?.map((_, i) => Math.max(...pageRows.map((r) => (r[i] ?? '').length))) ?? [];
  const pageTable = pageRows.map((r) => `| ${r.map((c, i) => c.padEnd(pw[i] ?? 0)).join(' | ')} |`);
  pageTable.splice(1, 0, `| ${pw.map((w) => '-'.repeat(w)).join(' | ')} |`);
  console.log(`\n${pageTable.join('\n')}`);
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ ...figures, targets: held }, null, 2)}\n`);
    log(`figures written to ${args.json}`);
  }
} finally {
  ending = true;
  await db.end();
  await server?.stop();
}
