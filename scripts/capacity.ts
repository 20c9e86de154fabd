/**
 * The capacity and cost table of docs/capacity.md, recomputed from a bench run:
 *
 *   npm run bench -- --json bench.json
 *   npx tsx scripts/capacity.ts bench.json          # the Markdown tables
 *   npx tsx scripts/capacity.ts bench.json --json   # the same figures as JSON
 *
 * Every number the tables show is either a field of the bench JSON, a default of the construct (infra/), a
 * list price below (with its date and source), or an assumption named below; the formulas are in the
 * functions, one per column, and docs/capacity.md writes them out.
 */
import { readFileSync } from 'node:fs';

/** The fields of `npm run bench -- --json` this script reads (scripts/bench/index.ts writes them). */
export interface BenchJson {
  machine: { cpus: number };
  sluice: {
    /** One drainer at its defaults (`batchSize: 'auto'`, which claims 1000 at a time for no-op jobs), no-op jobs. */
    drainJobsPerSec: number;
    /** Four drainers at their defaults: what the machine's cores do when all of them work. */
    drainJobsPerSec4Drainers: number;
    walBytesPerJobEnqueued: number;
    walBytesPerJobProcessed: number;
  };
}

/** The construct's defaults (infra/config.ts, infra/constructs/*.ts, functions/shared/config.ts). */
export const DEPLOYMENT = {
  workerMemoryMb: 256,
  reservedConcurrencyPerQueue: 5,
  dbPoolMax: 2,
  /** What `batchSize: 'auto'` (the default) claims for fast jobs: its cap. Slow jobs get smaller claims, and pay their handler time instead. */
  batchSize: 1000,
  storageGb: 20,
  /** The API stage's rate limit (requests/s): enqueue through the API stops here unless raised. */
  apiRateLimit: 100,
  retentionHours: 24,
} as const;

/**
 * Public on-demand list prices, us-east-1, taken 2026-12-01, in USD. `null`: not verified from a source
 * this repository could read on that date, so the tables leave it out and say so rather than guess.
 */
export const PRICES = {
  date: '2026-12-01',
  region: 'us-east-1',
  /** Lambda, Arm, first pricing tier: per GB-second and per million requests. */
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  /** SQS standard queue, per million requests (each 64 KB chunk a request), beyond the free first million. */
  sqsPerMillionRequests: 0.4,
  /** RDS for PostgreSQL, Single-AZ, per instance-hour. */
  rdsHourly: { 'db.t4g.micro': 0.016, 'db.t4g.small': 0.032, 'db.t4g.medium': 0.065 } as Record<string, number | null>,
  /** gp3 storage, per GB-month. */
  gp3PerGbMonth: 0.115,
  /** RDS Proxy, per vCPU-hour of the instance behind it: not verified. */
  rdsProxyPerVcpuHour: null as number | null,
};

/** What the tables assume beyond the bench; each is said in docs/capacity.md. */
export const ASSUMPTIONS = {
  /** Round trip from a worker Lambda through RDS Proxy to the instance, per statement (not measured here). */
  roundTripMs: 1,
  /** Size a database to run at most this busy on average, for bursts, vacuum and maintenance. */
  targetDbUtilization: 0.5,
  /** A burstable class (db.t4g) only while its average load stays under this share (its CPU baseline). */
  burstableMaxLoad: 0.2,
  hoursPerMonth: 730,
  /** SQS + Lambda: the producer sends one message per job; the event source receives and deletes in 10s. */
  sqsSendsPerJob: 1,
  sqsBatch: 10,
  /**
   * Bytes a finished job keeps until prune: its record and timeline rows with their indexes. Measured once
   * (not in the bench JSON): 50,000 first-try successes with a 60-byte payload, enqueued in batches of
   * 1,000 and drained, after VACUUM: 348 bytes each. A larger payload adds its size.
   */
  bytesPerRetainedJob: 350,
};

/** Instance classes considered, smallest first (vCPUs and memory are the classes' published sizes). */
export const CLASSES: ReadonlyArray<{ name: string; vcpus: number; memoryGib: number; burstable: boolean }> = [
  { name: 'db.t4g.micro', vcpus: 2, memoryGib: 1, burstable: true },
  { name: 'db.t4g.small', vcpus: 2, memoryGib: 2, burstable: true },
  { name: 'db.t4g.medium', vcpus: 2, memoryGib: 4, burstable: true },
  { name: 'db.m7g.large', vcpus: 2, memoryGib: 8, burstable: false },
  { name: 'db.m7g.xlarge', vcpus: 4, memoryGib: 16, burstable: false },
  { name: 'db.m7g.2xlarge', vcpus: 8, memoryGib: 32, burstable: false },
];

export const LEVELS = [100, 1_000, 10_000] as const;

/** RDS for PostgreSQL's default max_connections, LEAST(DBInstanceClassMemory / 9531392, 5000), from nominal memory (an upper bound: the instance reserves some). */
export function maxConnections(memoryGib: number): number {
  return Math.min(Math.floor((memoryGib * 1024 ** 3) / 9_531_392), 5_000);
}

/** A worker Lambda's jobs/s for no-op jobs: the bench's time per batch plus two round trips (claim, outcome) per batch. */
export function jobsPerSecPerDrainer(bench: BenchJson, roundTripMs = ASSUMPTIONS.roundTripMs, batch = DEPLOYMENT.batchSize): number {
  const secondsPerBatch = batch / bench.sluice.drainJobsPerSec + (2 * roundTripMs) / 1000;
  return batch / secondsPerBatch;
}

/**
 * Jobs/s per database vCPU: four drainers' rate over the machine's cores. The drainers ran on the same cores
 * as PostgreSQL, so this charges their CPU to the database too: a floor for the database alone.
 */
export function jobsPerSecPerDbVcpu(bench: BenchJson): number {
  return bench.sluice.drainJobsPerSec4Drainers / bench.machine.cpus;
}

export interface LevelRow {
  jobsPerSec: number;
  jobsPerMonthMillions: number;
  drainers: number;
  dbVcpusNeeded: number;
  instanceClass: string;
  walMbPerSec: number;
  retainedJobsMillions: number;
  retainedGb: number;
  /** USD per million jobs; null where a price is not verified. */
  sluiceDbPerMillion: number | null;
  sluiceLambdaGbSecondsPerMillion: number;
  sluiceLambdaPerMillion: number;
  sluicePerMillion: number | null;
  sqsLambdaPerMillion: number;
}

export function levelRow(bench: BenchJson, jobsPerSec: number): LevelRow {
  const a = ASSUMPTIONS;
  const perDrainer = jobsPerSecPerDrainer(bench);
  const dbVcpusNeeded = jobsPerSec / jobsPerSecPerDbVcpu(bench) / a.targetDbUtilization;
  const cls =
    CLASSES.find(
      (c) => c.vcpus >= dbVcpusNeeded && (!c.burstable || dbVcpusNeeded * a.targetDbUtilization <= a.burstableMaxLoad * c.vcpus),
    ) ?? (CLASSES.at(-1) as (typeof CLASSES)[number]);
  const jobsPerMonthMillions = (jobsPerSec * 3600 * a.hoursPerMonth) / 1e6;
  const hourly = PRICES.rdsHourly[cls.name] ?? null;
  const retainedGb = (jobsPerSec * 3600 * DEPLOYMENT.retentionHours * a.bytesPerRetainedJob) / 1e9;
  // Storage: the construct's allocation, or what the retained history takes when that is more.
  const dbMonthly = hourly === null ? null : hourly * a.hoursPerMonth + Math.max(DEPLOYMENT.storageGb, retainedGb) * PRICES.gp3PerGbMonth;
  // Lambda: the drain's own time per job (no-op jobs; a handler's time is the same under SQS), and at most
  // one invocation per batch.
  const gbSeconds = ((DEPLOYMENT.workerMemoryMb / 1024) * 1e6) / perDrainer;
  const lambda = gbSeconds * PRICES.lambdaArmPerGbSecond + (1e6 / DEPLOYMENT.batchSize / 1e6) * PRICES.lambdaPerMillionRequests;
  // SQS + Lambda: a send per job, a receive and a delete per batch of 10; one invocation per batch.
  const sqsRequestsPerJob = a.sqsSendsPerJob + 2 / a.sqsBatch;
  const sqs = sqsRequestsPerJob * PRICES.sqsPerMillionRequests + (1 / a.sqsBatch) * PRICES.lambdaPerMillionRequests;
  const sluiceDb = dbMonthly === null ? null : dbMonthly / jobsPerMonthMillions;
  return {
    jobsPerSec,
    jobsPerMonthMillions,
    drainers: Math.ceil(jobsPerSec / perDrainer),
    dbVcpusNeeded,
    instanceClass: cls.name,
    walMbPerSec: (jobsPerSec * (bench.sluice.walBytesPerJobEnqueued + bench.sluice.walBytesPerJobProcessed)) / 1e6,
    retainedJobsMillions: (jobsPerSec * 3600 * DEPLOYMENT.retentionHours) / 1e6,
    retainedGb,
    sluiceDbPerMillion: sluiceDb,
    sluiceLambdaGbSecondsPerMillion: gbSeconds,
    sluiceLambdaPerMillion: lambda,
    sluicePerMillion: sluiceDb === null ? null : sluiceDb + lambda,
    sqsLambdaPerMillion: sqs,
  };
}

export function capacity(bench: BenchJson) {
  const perQueueConnections = DEPLOYMENT.reservedConcurrencyPerQueue * DEPLOYMENT.dbPoolMax;
  return {
    jobsPerSecPerDrainerLocal: bench.sluice.drainJobsPerSec,
    jobsPerSecPerDrainer: jobsPerSecPerDrainer(bench),
    jobsPerSecPerDbVcpu: jobsPerSecPerDbVcpu(bench),
    connections: {
      perQueue: perQueueConnections,
      maxConnections: Object.fromEntries(CLASSES.map((c) => [c.name, maxConnections(c.memoryGib)])),
    },
    levels: LEVELS.map((l) => levelRow(bench, l)),
  };
}

const usd = (v: number | null) => (v === null ? 'not verified' : v < 0.01 ? `$${v.toFixed(4)}` : `$${v.toFixed(3)}`);
const n = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function markdown(c: ReturnType<typeof capacity>): string {
  const lines = [
    `jobs/s per drainer: ${n(c.jobsPerSecPerDrainerLocal)} on the bench machine, about ${n(c.jobsPerSecPerDrainer)} with a ${ASSUMPTIONS.roundTripMs} ms round trip per statement`,
    `jobs/s per database vCPU (floor): ${n(c.jobsPerSecPerDbVcpu)}`,
    `connections per queue (reserved concurrency × DB_POOL_MAX): ${c.connections.perQueue}`,
    '',
    '| jobs/s | jobs/month (M) | drainers | DB vCPUs needed | class | WAL MB/s | jobs retained (M) | retained GB | sluice DB $/M | sluice Lambda GB-s/M | sluice Lambda $/M | sluice $/M | SQS + Lambda $/M |',
    '| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...c.levels
      .map((r) =>
        [
          n(r.jobsPerSec),
          n(r.jobsPerMonthMillions),
          n(r.drainers),
          n(r.dbVcpusNeeded, 2),
          r.instanceClass,
          n(r.walMbPerSec, 1),
          n(r.retainedJobsMillions),
          n(r.retainedGb),
          usd(r.sluiceDbPerMillion),
          n(r.sluiceLambdaGbSecondsPerMillion, 1),
          usd(r.sluiceLambdaPerMillion),
          usd(r.sluicePerMillion),
          usd(r.sqsLambdaPerMillion),
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
    '',
    '| class | max_connections (default, at most) | queues at 5 × 2 |',
    '| --- | ---: | ---: |',
    ...Object.entries(c.connections.maxConnections).map(([k, v]) => `| ${k} | ${n(v)} | ${n(Math.floor(v / c.connections.perQueue))} |`),
  ];
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, flag] = process.argv.slice(2);
  if (!file || (flag && flag !== '--json')) {
    console.error('usage: npx tsx scripts/capacity.ts bench.json [--json]');
    process.exit(2);
  }
  const c = capacity(JSON.parse(readFileSync(file, 'utf8')) as BenchJson);
  process.stdout.write(flag === '--json' ? `${JSON.stringify(c, null, 2)}\n` : markdown(c));
}
