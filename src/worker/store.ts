import type { SluiceSettings } from '../config.js';
import type { ConnectionSource, Queryable, SchemaName } from '../db.js';
import { type JobDefinition, type JobLimits, queueLimitsOf, ratePerSecond } from '../define.js';
import { enqueueBatch } from '../enqueue.js';
import { type ClaimedRow, claimJobs, claimOrder } from '../sql/claim.js';
import { claimFlowJobs, type FlowLimitRow, hasFlowJobs } from '../sql/flowClaim.js';
import { coolDown } from '../sql/flowState.js';
import { extendLeases } from '../sql/heartbeat.js';
import { type Outcome, recordOutcomes } from '../sql/outcomes.js';
import { loadSteps, type StepRow, saveStep } from '../sql/steps.js';
import type { TransactionOps } from './transaction.js';

/** What a worker needs of sluice: the database, the quoted schema and the settings. */
export interface WorkerCore {
  readonly db: Queryable;
  readonly s: SchemaName;
  readonly settings: SluiceSettings;
}

/** A lease to extend: the job and the token of the claim that holds it. */
export interface Lease {
  id: string;
  token: string;
}

/**
 * Every statement a drain sends, one small place each: a faster claim or outcome write is swapped in here,
 * and the worker's parts can be tested on a store that is not Postgres.
 */
export interface WorkerStore {
  /**
   * Claim up to `limit` due jobs, each leased for `leaseSeconds` under `token`. `held` on the result says
   * that none came back although due jobs wait, their limits full: the queue is held, not empty.
   */
  claim(args: { queue: string; limit: number; leaseSeconds: number; token: string }): Promise<Claimed>;
  /** Extend leases still held; returns those ids, with whether a cancel was asked. Missing ids are lost. */
  extend(leases: readonly Lease[], leaseSeconds: number): Promise<Map<string, { cancelRequested: boolean }>>;
  /** Write outcomes where the lease token still matches; returns the ids applied. */
  record(outcomes: readonly Outcome[]): Promise<Set<string>>;
  loadSteps(jobId: string): Promise<StepRow[]>;
  /** Store a step while the lease is held; false when it is not (or the step was stored already). */
  saveStep(step: { jobId: string; token: string; name: string; seq: number; resultJson: string | null }): Promise<boolean>;
  /** Cool a key ('' for the whole type; type and key '' for the whole queue) down for `seconds`, for every worker's flow claim. */
  coolDown?(args: { queue: string; type: string; key: string; seconds: number }): Promise<void>;
  /** What `ctx.transaction` runs on a connection of its own; absent when the database lends none (a single client). */
  transaction?: TransactionOps | undefined;
}

/**
 * Claimed rows; when none came although due jobs wait behind full limits, `held`, and in how many ms a
 * cooldown or a rate lets one start (`retryInMs`, absent when only concurrency holds them).
 */
export type Claimed = ClaimedRow[] & { held?: boolean; retryInMs?: number | undefined };

/** How often a worker without limits of its own looks whether its queue holds limited jobs anyway. */
const FLOW_RECHECK_MS = 60_000;
/**
 * After the plain claim of a queue with limited jobs finds nothing, it is sent beside a flow claim that found
 * jobs only every this many claims (never skipped when the flow claim found none).
 */
const PLAIN_RETRY_EVERY = 8;

/**
 * The claim of a queue, plain or with flow control. A worker whose handlers declare limits (or whose queue
 * has held limited jobs: they stay parked until a flow claim takes them) sends both claims, the flow claim
 * first on every other turn, each for what the other left of the batch, so neither kind starves the other.
 */
function queueClaim(db: Queryable, s: SchemaName, limits: readonly FlowLimitRow[]): WorkerStore['claim'] {
  let flow = limits.length > 0;
  let checkedAt = flow ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  let turn = 0;
  let plainIdle = 0;
  return async (args) => {
    if (!flow && Date.now() - checkedAt >= FLOW_RECHECK_MS) {
      flow = await hasFlowJobs(db, s, args.queue);
      checkedAt = Date.now();
    }
    if (!flow) return claimJobs(db, s, args);
    let held: { retryInMs?: number | undefined } | undefined;
    const flowPart = async (limit: number) => {
      const r = await claimFlowJobs(db, s, { ...args, limit, limits });
      held = r.held ? { retryInMs: r.retryInMs } : undefined;
      return r.rows;
    };
    // Skipped only beside flow rows in this very claim: a claim that would come back empty always asks.
    const plainPart = async (limit: number, beside: number) => {
      if (beside > 0 && plainIdle > 0 && plainIdle++ % PLAIN_RETRY_EVERY !== 0) return [];
      const rows = await claimJobs(db, s, { ...args, limit });
      plainIdle = rows.length === 0 ? 1 : 0;
      return rows;
    };
    // Plain first on every other turn, unless the plain claim found nothing lately (then it rides along).
    const flowFirst = plainIdle > 0 || turn++ % 2 === 0;
    const a = flowFirst ? await flowPart(args.limit) : await plainPart(args.limit, 0);
    const rest = args.limit - a.length;
    const b = rest <= 0 ? [] : flowFirst ? await plainPart(rest, a.length) : await flowPart(rest);
    // Each part comes sorted: only two of them need merging.
    const rows: Claimed = b.length === 0 ? a : a.length === 0 ? b : a.concat(b).sort(claimOrder);
    if (rows.length === 0 && held) {
      rows.held = true;
      rows.retryInMs = held.retryInMs;
    }
    return rows;
  };
}

/**
 * The limits of the handled job types, as the flow claim takes them, and those of `queue`'s own under type
 * '' (throws a ConfigError when its types disagree on them: see `queueLimitsOf`).
 */
export function flowLimitsOf(
  definitions: Iterable<Pick<JobDefinition, 'type' | 'queue' | 'limits' | 'queueLimits'>>,
  queue?: string,
): FlowLimitRow[] {
  const defs = [...definitions];
  const own = queue === undefined ? undefined : queueLimitsOf(defs, queue);
  const rows = defs.flatMap(({ type, limits }) => (limits ? [limitRow(type, limits)] : []));
  return own ? [limitRow('', own), ...rows] : rows;
}

/** One entry of the flow claim's limits: a type's (or, under type '', its queue's, which has no keys). */
function limitRow(type: string, limits: Pick<JobLimits, 'concurrency' | 'rate' | 'perKey'>): FlowLimitRow {
  const rate = limits.rate && ratePerSecond(limits.rate);
  const keyRate = limits.perKey?.rate && ratePerSecond(limits.perKey.rate);
  return {
    type,
    total: limits.concurrency ?? null,
    perKey: limits.perKey?.concurrency ?? null,
    rate: rate?.rate ?? null,
    burst: rate?.burst ?? null,
    keyRate: keyRate?.rate ?? null,
    keyBurst: keyRate?.burst ?? null,
  };
}

/** The store of a sluice schema in Postgres; `limits` are those of the job types the worker handles. */
export function postgresStore({ db, s, settings }: WorkerCore, limits: readonly FlowLimitRow[] = []): WorkerStore {
  const recordOptions = { maxErrorsKept: settings.maxErrorsKept, retentionSeconds: settings.retentionMs / 1000 };
  // A pool lends connections (pg.Pool; `totalCount` tells it from a pg.Client, whose connect() connects itself).
  const lends = typeof (db as Partial<ConnectionSource>).connect === 'function' && 'totalCount' in db;
  const pool = lends ? (db as unknown as ConnectionSource) : undefined;
  return {
    transaction: pool && {
      connect: () => pool.connect(),
      record: (client, outcomes) => recordOutcomes(client, s, outcomes, recordOptions),
      enqueue: (client, items) => enqueueBatch(client, s, settings, items),
    },
    claim: queueClaim(db, s, limits),
    coolDown: (args) => coolDown(db, s, args),
    extend: (leases, leaseSeconds) => extendLeases(db, s, leases, leaseSeconds),
    record: (outcomes) => recordOutcomes(db, s, outcomes, recordOptions),
    loadSteps: (jobId) => loadSteps(db, s, jobId),
    saveStep: (step) => saveStep(db, s, step),
  };
}
