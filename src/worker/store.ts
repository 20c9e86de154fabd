import type { SluiceSettings } from '../config.js';
import type { ConnectionSource, Queryable, SchemaName } from '../db.js';
import { enqueueBatch } from '../enqueue.js';
import { type ClaimedRow, claimJobs } from '../sql/claim.js';
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
  /** Claim up to `limit` due jobs, each leased for `leaseSeconds` under `token`. */
  claim(args: { queue: string; limit: number; leaseSeconds: number; token: string }): Promise<ClaimedRow[]>;
  /** Extend leases still held; returns those ids, with whether a cancel was asked. Missing ids are lost. */
  extend(leases: readonly Lease[], leaseSeconds: number): Promise<Map<string, { cancelRequested: boolean }>>;
  /** Write outcomes where the lease token still matches; returns the ids applied. */
  record(outcomes: readonly Outcome[]): Promise<Set<string>>;
  loadSteps(jobId: string): Promise<StepRow[]>;
  /** Store a step while the lease is held; false when it is not (or the step was stored already). */
  saveStep(step: { jobId: string; token: string; name: string; seq: number; resultJson: string | null }): Promise<boolean>;
  /** What `ctx.transaction` runs on a connection of its own; absent when the database lends none (a single client). */
  transaction?: TransactionOps | undefined;
}

/** The store of a sluice schema in Postgres. */
export function postgresStore({ db, s, settings }: WorkerCore): WorkerStore {
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
    claim: (args) => claimJobs(db, s, args),
    extend: (leases, leaseSeconds) => extendLeases(db, s, leases, leaseSeconds),
    record: (outcomes) => recordOutcomes(db, s, outcomes, recordOptions),
    loadSteps: (jobId) => loadSteps(db, s, jobId),
    saveStep: (step) => saveStep(db, s, step),
  };
}
