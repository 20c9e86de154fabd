import { z } from 'zod';
import { type QueueActivity, toActivity } from './activity.js';
import { BULK, type BulkOutcome, runBulk } from './bulk.js';
import { parseInput, parseOptions, type SluiceSettings, type SluiceSettingsInput, sluiceOptionsSchema } from './config.js';
import { type CostShare, costShareSchema, gbSecondsPer1000 } from './cost.js';
import { type Queryable, quoteSchema, type SchemaName } from './db.js';
import { type JobDefinition, type PayloadInput, QUEUE_NAME } from './define.js';
import { type EnqueuedJob, type EnqueueItem, type EnqueueOptions, enqueueBatch, refuseUnknownQueue } from './enqueue.js';
import { ValidationError } from './errors.js';
import { type JobView, toJobView } from './job.js';
import {
  activitySchema,
  type BulkOptions,
  bulkOptions,
  type DeadLetterListOptions,
  deadLetterListSchema,
  ID,
  ids,
  type JobListOptions,
  jobListSchema,
} from './options.js';
import { type CancelResult, cancelJobs } from './sql/cancel.js';
import { cancelMatching } from './sql/cancelMatching.js';
import { addCosts, pruneCosts, readCosts } from './sql/costs.js';
import { countJobs } from './sql/countJobs.js';
import { compactCounts, readCounts, readDurationBuckets } from './sql/counts.js';
import { listDeadLetters, purgeDeadLetters, redriveDeadLetters } from './sql/deadLetters.js';
import { pruneFlowKeys, pruneFlowState, restoreFlowKeys } from './sql/flowKeys.js';
import { getJobsById } from './sql/getJobs.js';
import { readHealth } from './sql/health.js';
import {
  type BulkFilter,
  bulkFilterSchema,
  canonicalFilter,
  type DeadLetterFilter,
  deadLetterFilterSchema,
  type JobFilter,
  jobFilterSchema,
  LIVE_STATES,
  statesOf,
} from './sql/jobFilter.js';
import { listJobs } from './sql/listJobs.js';
import { pauseQueues, resumeQueues } from './sql/pause.js';
import { pruneBulkRequests, pruneFinished } from './sql/prune.js';
import { pruneReplaceKeys } from './sql/replace.js';
import { type QueueStatsRow, queueStats } from './sql/stats.js';
import { loadTimeline } from './sql/timeline.js';
import { type TimelineEntry, toTimeline } from './timeline.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

/** Per-queue counts from `stats()`. */
export interface QueueStats {
  queue: string;
  ready: number;
  /** Jobs due later, counted up to 10,000 (`scheduledCapped`: there are at least that many). */
  scheduled: number;
  /** True when counting the scheduled jobs stopped at 10,000, so that stats() stays cheap beside millions. */
  scheduledCapped: boolean;
  running: number;
  dead: number;
  /** How long the oldest ready job has waited; null when nothing is ready. */
  oldestReadyAgeSeconds: number | null;
  /** Its workers claim nothing until it is resumed (`pauseQueue`). */
  paused: boolean;
  /**
   * What its job types cost over the last hour, where its workers report it (sluice's Lambda worker does):
   * each type's attempts and GB-seconds per 1,000 of them. Absent when nothing was reported.
   */
  costs?: TypeCost[];
}

/** One job type's cost over a window, from the drains' reported shares (`recordCosts`). */
export interface TypeCost {
  type: string;
  attempts: number;
  gbSeconds: number;
  gbSecondsPer1000: number;
}

/**
 * How the database holding the queue is doing, from its statistics views (`health()`): the ways a queue
 * on Postgres fails that an SQS user never sees (docs/operations.md).
 */
export interface DatabaseHealth {
  /**
   * Seconds the oldest open transaction (or snapshot) of another session, or a prepared transaction, has
   * run: it holds back vacuum, and the live table bloats behind it. 0 when none; null when this user may
   * not see other users' sessions (grant it `pg_monitor`; `grantAccess` does for the maintainer).
   */
  oldestTransactionSeconds: number | null;
  /** Transaction ids since the oldest xmin anything holds (a session, a prepared transaction, a replication slot); 0 when none. */
  xminHorizonAgeXids: number;
  /** What holds that xmin; null when nothing does. */
  xminHolder: 'session' | 'replication connection' | 'prepared transaction' | 'replication slot' | null;
  /** The live table (`active_jobs`): row versions the statistics count live and dead. */
  liveTableRows: number;
  liveTableDeadRows: number;
  /**
   * Seconds since a vacuum (auto or manual) last finished on the live table, counted only while it has
   * dead rows worth removing (at least 10,000): 0 otherwise. Never vacuumed (or its statistics reset since):
   * since the statistics started.
   */
  secondsSinceVacuum: number;
  /** Jobs the queues report live (ready, scheduled up to `stats()`' cap, running), and the live table's row versions per such job (at least 1,000 assumed). */
  liveJobs: number;
  liveTableRowsPerJob: number;
  /** Client connections to the server, against its `max_connections`. */
  connections: number;
  maxConnections: number;
}

/** Below this many dead rows in the live table, the time since its last vacuum is not a concern. */
export const VACUUM_WORTHY_DEAD_ROWS = 10_000;

/** Where to send a write: `client` is your own `pg` client inside your own transaction. */
export interface WithClient {
  client?: Queryable | undefined;
}

/**
 * The producer and admin side of sluice: enqueue, look up, cancel, dead letters, maintenance.
 *
 * @example
 * const sluice = new Sluice({ db: new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 }) });
 * const job = await sluice.enqueue(sendEmail, { userId: 'u1', template: 'welcome' }, { idempotencyKey: 'welcome:u1' });
 */
export class Sluice {
  readonly settings: SluiceSettings;
  readonly #db: Queryable;
  /** The quoted schema name, for sluice's own SQL modules. */
  readonly #s: SchemaName;

  constructor(options: SluiceSettingsInput & { db: Queryable }) {
    const { db, ...rest } = options;
    if (!db || typeof db.query !== 'function') throw new ValidationError('Sluice needs db: a pg Pool or Client');
    this.#db = db;
    this.settings = parseOptions(sluiceOptionsSchema, rest, 'Sluice options');
    this.#s = quoteSchema(this.settings.schema);
  }

  /**
   * Enqueue one job. With `client`, the insert runs on your connection, inside your transaction: the job
   * commits or rolls back with your own writes.
   *
   * @example
   * await client.query('BEGIN');
   * const { rows } = await client.query('INSERT INTO orders (total) VALUES ($1) RETURNING id', [total]);
   * await sluice.enqueue(processOrder, { orderId: rows[0].id }, { client });
   * await client.query('COMMIT');
   */
  async enqueue<D extends JobDefinition>(
    job: D,
    payload: PayloadInput<D>,
    options: EnqueueOptions & WithClient = {},
  ): Promise<EnqueuedJob> {
    const { client, ...rest } = options;
    const [result] = await enqueueBatch(client ?? this.#db, this.#s, this.settings, [{ job, payload, options: rest }]);
    return result as EnqueuedJob;
  }

  /**
   * Enqueue many jobs in one round trip, atomically: if any item is invalid, none is written and the error
   * names every bad index. Build items with `enqueueItem` for type checking.
   *
   * @example
   * await sluice.enqueueMany(userIds.map((userId) => enqueueItem(sendEmail, { userId, template: 'digest' })));
   */
  enqueueMany(items: ReadonlyArray<EnqueueItem>, options: WithClient = {}): Promise<EnqueuedJob[]> {
    return enqueueBatch(options.client ?? this.#db, this.#s, this.settings, items);
  }

  /** A job with its current state, or null if there is none (never enqueued, or pruned). */
  async getJob(id: string): Promise<JobView | null> {
    return (await this.getJobs([id]))[0] ?? null;
  }

  /**
   * A job's history, oldest first: each attempt with its start, end, duration, outcome and error; the
   * durable steps it completed; compensations after it died; cancel and redrive markers. Empty for an
   * unknown (or pruned) job.
   *
   * @example
   * for (const e of await sluice.jobTimeline(id)) if (e.kind === 'attempt') console.log(e.attempt, e.outcome, e.durationMs);
   */
  async jobTimeline(id: string): Promise<TimelineEntry[]> {
    return toTimeline(await loadTimeline(this.#db, this.#s, parseInput(ID, id, 'job id')));
  }

  /** Jobs by id; unknown ids are left out. */
  async getJobs(jobIds: readonly string[]): Promise<JobView[]> {
    return (await getJobsById(this.#db, this.#s, parseInput(ids, jobIds, 'job ids'))).map(toJobView);
  }

  /**
   * Cancel jobs. One not yet running is cancelled at once; a running one has `ctx.signal` aborted at its
   * worker's next heartbeat and ends cancelled. A finished or unknown job reports `not_cancellable`.
   *
   * @example
   * const { [id]: result } = await sluice.cancel([id]); // 'cancelled' | 'cancelling' | 'not_cancellable'
   */
  async cancel(jobIds: readonly string[], options: WithClient = {}): Promise<Record<string, CancelResult | 'not_cancellable'>> {
    const valid = parseInput(ids, jobIds, 'job ids');
    const done = await cancelJobs(options.client ?? this.#db, this.#s, valid);
    return Object.fromEntries(valid.map((id) => [id, done.get(id) ?? 'not_cancellable']));
  }

  /** Dead letters in id order, `limit` at a time (default 50); pass the last id as `after` for the next page. */
  async listDeadLetters(options: DeadLetterListOptions = {}): Promise<JobView[]> {
    const o = parseInput(deadLetterListSchema, options, 'dead-letter list options');
    return (await listDeadLetters(this.#db, this.#s, o)).map(toJobView);
  }

  /**
   * A page of dead letters, as `listDeadLetters` takes them, and the `after` of the next page (null on
   * the last one): one more row is read to tell.
   *
   * @example
   * const { jobs, next } = await sluice.deadLetterPage({ queue: 'emails', limit: 20 }); // then { after: next }
   */
  async deadLetterPage(options: DeadLetterListOptions = {}): Promise<{ jobs: JobView[]; next: string | null }> {
    const o = parseInput(deadLetterListSchema, options, 'dead-letter list options');
    const rows = await listDeadLetters(this.#db, this.#s, { ...o, limit: o.limit + 1 });
    const jobs = rows.slice(0, o.limit).map(toJobView);
    return { jobs, next: rows.length > o.limit ? (jobs.at(-1)?.id ?? null) : null };
  }

  /**
   * Jobs matching a filter, newest first (id descending), `limit` at a time (default 50, at most 1000);
   * pass the last id as `before` for the next page. Filters: `state` (one or several), `queue`, `type`,
   * `createdAfter`/`createdBefore`, `finishedAfter`/`finishedBefore` (an instant is a Date or ISO text;
   * after is inclusive, before exclusive), `idempotencyKey`, `idFrom`/`idTo` (inclusive), `ids`.
   *
   * @example
   * const jobs = await sluice.listJobs({ state: ['dead', 'cancelled'], queue: 'emails', limit: 20 });
   */
  async listJobs(options: JobListOptions = {}): Promise<JobView[]> {
    const o = parseInput(jobListSchema, options, 'job list options');
    return (await listJobs(this.#db, this.#s, o)).map(toJobView);
  }

  /**
   * A page of `listJobs` and the `before` of the next page (null on the last one): one more row is read
   * to tell. Each page is one index range however deep it is (keyset pagination).
   *
   * @example
   * const { jobs, next } = await sluice.jobPage({ type: 'send_email', state: 'succeeded' }); // then { before: next }
   */
  async jobPage(options: JobListOptions = {}): Promise<{ jobs: JobView[]; next: string | null }> {
    const o = parseInput(jobListSchema, options, 'job list options');
    const rows = await listJobs(this.#db, this.#s, { ...o, limit: o.limit + 1 });
    const jobs = rows.slice(0, o.limit).map(toJobView);
    return { jobs, next: rows.length > o.limit ? (jobs.at(-1)?.id ?? null) : null };
  }

  /**
   * How many jobs a filter matches (`listJobs`' filters; none: every job).
   *
   * @example
   * const n = await sluice.countJobs({ queue: 'emails', state: ['available', 'scheduled'] }); // "Cancel 12 jobs?"
   */
  async countJobs(filter: JobFilter = {}): Promise<number> {
    return countJobs(this.#db, this.#s, parseInput(jobFilterSchema, filter, 'job filter'));
  }

  /**
   * Cancel every live job a filter matches (its `state`, if any, may name only available, scheduled and
   * running; a filter naming nothing needs `all: true`), at most 1,000 per statement: one not running is
   * cancelled at once, a running one is asked to stop (as `cancel`). With `idempotencyKey`, a retry gets
   * the first answer again, or finishes the work of an interrupted call and answers the union.
   *
   * @example
   * const n = await sluice.countJobs({ queue: 'emails', state: ['available', 'scheduled', 'running'] });
   * const { cancelled, cancelling } = await sluice.cancelMatching({ queue: 'emails' }, { idempotencyKey: 'stop-emails-1' });
   */
  async cancelMatching(
    filter: BulkFilter,
    options: BulkOptions = {},
  ): Promise<{ cancelled: string[]; cancelling: string[]; replayed: boolean }> {
    const f = parseInput(bulkFilterSchema, filter, 'cancel filter');
    const o = parseInput(z.object(bulkOptions).strict(), options, 'cancel options');
    const states = statesOf(f) ?? [...LIVE_STATES];
    const notLive = states.filter((s) => !(LIVE_STATES as readonly string[]).includes(s));
    if (notLive.length > 0) {
      throw new ValidationError(`invalid cancel filter: only live jobs can be cancelled, not ${notLive.join(', ')}`, [
        { path: ['state'], message: 'only available, scheduled and running jobs can be cancelled', code: 'invalid_value' },
      ]);
    }
    const { all: _all, ...named } = f;
    const live = { ...named, state: states };
    const r = await this.#bulk('cancel', { filter: canonicalFilter(live) }, o.idempotencyKey, async (key, hash) => {
      const done = await cancelMatching(this.#db, this.#s, live, { limit: BULK, key, hash });
      return { ids: [...done.cancelled, ...done.cancelling], cancelling: done.cancelling };
    });
    const flagged = new Set(r.cancelling);
    return { cancelled: r.ids.filter((id) => !flagged.has(id)), cancelling: r.cancelling, replayed: r.replayed };
  }

  /**
   * Put dead letters back in the queue with their attempts reset: by ids, or every one matching a filter
   * (`listJobs`' filters but `state`; `all: true` for every one). `toQueue` moves them to another queue.
   * Returns the ids redriven, in id order.
   *
   * @example
   * await sluice.redriveDeadLetters({ type: 'send_email' }, { toQueue: 'emails-slow' });
   */
  async redriveDeadLetters(filter: DeadLetterFilter, options: { toQueue?: string } & BulkOptions = {}): Promise<string[]> {
    return (await this.redriveMatching(filter, options)).redriven;
  }

  /**
   * `redriveDeadLetters`, and whether the answer is a replay: with `idempotencyKey`, a retry gets the
   * first answer again (or resumes an interrupted redrive and answers the union), flagged `replayed`.
   */
  async redriveMatching(
    filter: DeadLetterFilter,
    options: { toQueue?: string } & BulkOptions = {},
  ): Promise<{ redriven: string[]; replayed: boolean }> {
    const { all: _all, ...f } = parseInput(deadLetterFilterSchema, filter, 'dead-letter filter');
    const o = parseInput(
      z.object({ toQueue: z.string().regex(QUEUE_NAME).optional(), ...bulkOptions }).strict(),
      options,
      'redrive options',
    );
    refuseUnknownQueue(o.toQueue, this.settings.queues, 'redrive options');
    const request = { filter: canonicalFilter(f), toQueue: o.toQueue ?? null };
    const r = await this.#bulk('redrive', request, o.idempotencyKey, async (key, hash) => ({
      ids: await redriveDeadLetters(this.#db, this.#s, { ...f, toQueue: o.toQueue }, { limit: BULK, key, hash }),
    }));
    return { redriven: r.ids, replayed: r.replayed };
  }

  /**
   * How many dead letters a filter matches (no filter: all): the count to show before a redrive or a purge.
   *
   * @example
   * const n = await sluice.countDeadLetters({ queue: 'emails' }); // "Redrive 12 dead letters?"
   */
  async countDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    const { all: _all, ...f } = parseInput(deadLetterFilterSchema, { ...filter, all: true }, 'dead-letter filter');
    return countJobs(this.#db, this.#s, { ...f, state: 'dead' });
  }

  /** Delete dead letters for good: by ids, or by a filter as `redriveDeadLetters` takes. Returns the ids purged. */
  async purgeDeadLetters(filter: DeadLetterFilter, options: BulkOptions = {}): Promise<string[]> {
    return (await this.purgeMatching(filter, options)).purged;
  }

  /** `purgeDeadLetters`, and whether the answer is a replay (see `redriveMatching`). */
  async purgeMatching(filter: DeadLetterFilter, options: BulkOptions = {}): Promise<{ purged: string[]; replayed: boolean }> {
    const { all: _all, ...f } = parseInput(deadLetterFilterSchema, filter, 'dead-letter filter');
    const o = parseInput(z.object(bulkOptions).strict(), options, 'purge options');
    const r = await this.#bulk('purge', { filter: canonicalFilter(f) }, o.idempotencyKey, async (key, hash) => ({
      ids: await purgeDeadLetters(this.#db, this.#s, f, { limit: BULK, key, hash }),
    }));
    return { purged: r.ids, replayed: r.replayed };
  }

  #bulk(
    action: 'cancel' | 'redrive' | 'purge',
    request: unknown,
    idempotencyKey: string | undefined,
    step: (key: string | null, hash: string | null) => Promise<{ ids: string[]; cancelling?: string[] }>,
  ): Promise<BulkOutcome> {
    return runBulk(this.#db, this.#s, { action, request, idempotencyKey, ttlSeconds: this.settings.idempotencyWindowMs / 1000, step });
  }

  /**
   * Delete succeeded and cancelled records older than `retentionMs`, `batchSize` rows per statement, until
   * none is left or `maxBatches` ran. Dead letters are kept until redriven or purged. Then the records of
   * bulk requests whose idempotency key expired (`idempotencyWindowMs`), as many batches at most; then the
   * replace keys whose job started or finished (`staleReplaceKeys`: the next enqueue with one adds a job anyway);
   * then the flow keys no live job holds and the flow states gone idle (`staleFlowKeys`: a cooldown past, a
   * bucket untouched for a week), putting back any key a job holds without its row.
   */
  async prune(
    options: { batchSize?: number; maxBatches?: number } = {},
  ): Promise<{ deleted: number; expiredBulkKeys: number; staleReplaceKeys: number; staleFlowKeys: number }> {
    const o = parseInput(
      z
        .object({ batchSize: z.number().int().min(1).max(100_000).default(BULK), maxBatches: z.number().int().min(1).default(1000) })
        .strict(),
      options,
      'prune options',
    );
    /** Run one bounded delete until it deletes fewer than a batch, or `maxBatches` ran; the total deleted. */
    const inBatches = async (run: () => Promise<number>): Promise<number> => {
      let total = 0;
      for (let i = 0; i < o.maxBatches; i++) {
        const n = await run();
        total += n;
        if (n < o.batchSize) break;
      }
      return total;
    };
    const retentionSeconds = this.settings.retentionMs / 1000;
    const deleted = await inBatches(() => pruneFinished(this.#db, this.#s, { retentionSeconds, limit: o.batchSize }));
    const expiredBulkKeys = await inBatches(() => pruneBulkRequests(this.#db, this.#s, o.batchSize));
    const staleReplaceKeys = await inBatches(() => pruneReplaceKeys(this.#db, this.#s, o.batchSize));
    const staleFlowKeys =
      (await inBatches(() => pruneFlowKeys(this.#db, this.#s, o.batchSize))) +
      (await inBatches(() => pruneFlowState(this.#db, this.#s, o.batchSize)));
    await restoreFlowKeys(this.#db, this.#s);
    return { deleted, expiredBulkKeys, staleReplaceKeys, staleFlowKeys };
  }

  /**
   * The database's health: the oldest transaction and the xmin horizon holding back vacuum, the live table's
   * dead rows and its last vacuum, its row versions against the jobs the queues report, and connections in
   * use. Maintenance publishes these as metrics, and the construct alarms on them (docs/operations.md).
   *
   * @example
   * const h = await sluice.health();
   * if ((h.oldestTransactionSeconds ?? 0) > 600) console.warn(`a transaction has held vacuum back for ${h.oldestTransactionSeconds} s`);
   */
  async health(options: { stats?: readonly QueueStats[] } = {}): Promise<DatabaseHealth> {
    // Only the counts are needed: the bare per-queue read, not stats() with its costs.
    const counts: ReadonlyArray<Pick<QueueStats, 'ready' | 'scheduled' | 'running'>> | Promise<QueueStatsRow[]> =
      options.stats ?? queueStats(this.#db, this.#s);
    const [row, stats] = await Promise.all([readHealth(this.#db, this.settings.schema), counts]);
    let liveJobs = 0;
    for (const q of stats) liveJobs += q.ready + q.scheduled + q.running;
    const rows = row.live_rows + row.dead_rows;
    return {
      oldestTransactionSeconds: row.oldest_xact_visible ? Math.max(0, row.oldest_xact_seconds ?? 0) : null,
      xminHorizonAgeXids: row.xmin_age_xids ?? 0,
      xminHolder: (row.xmin_holder as DatabaseHealth['xminHolder']) ?? null,
      liveTableRows: row.live_rows,
      liveTableDeadRows: row.dead_rows,
      secondsSinceVacuum: row.dead_rows < VACUUM_WORTHY_DEAD_ROWS ? 0 : Math.max(0, row.last_vacuum_seconds ?? 0),
      liveJobs,
      liveTableRowsPerJob: rows / Math.max(liveJobs, 1_000),
      connections: row.connections,
      maxConnections: row.max_connections,
    };
  }

  /**
   * Per-queue ready, scheduled, running and dead counts, and the age of the oldest ready job. With the
   * `queues` option, every one of them is listed, in that order, empty ones too; then any other queue that
   * holds jobs (in name order).
   *
   * @example
   * const [emails] = await new Sluice({ db, queues: ['emails'] }).stats(); // { queue: 'emails', ready: 0, …, oldestReadyAgeSeconds: null }
   */
  async stats(): Promise<QueueStats[]> {
    const [rows, costs] = await Promise.all([queueStats(this.#db, this.#s), this.costs()]);
    const costsOf = (queue: string) => costs.filter((c) => c.queue === queue).map(({ queue: _q, ...c }) => c);
    const found = rows.map(
      (r): QueueStats => ({
        queue: r.queue,
        ready: r.ready,
        scheduled: r.scheduled,
        scheduledCapped: r.scheduled_capped,
        running: r.running,
        dead: r.dead,
        oldestReadyAgeSeconds: r.oldest_ready_age_seconds,
        paused: r.paused,
      }),
    );
    const known = this.settings.queues ?? [];
    const empty = (queue: string): QueueStats => ({
      queue,
      ready: 0,
      scheduled: 0,
      scheduledCapped: false,
      running: 0,
      dead: 0,
      oldestReadyAgeSeconds: null,
      paused: false,
    });
    const listed = [...known.map((q) => found.find((s) => s.queue === q) ?? empty(q)), ...found.filter((s) => !known.includes(s.queue))];
    return listed.map((q) => {
      const own = costsOf(q.queue);
      return own.length === 0 ? q : { ...q, costs: own };
    });
  }

  /**
   * Add what drains cost to the per-minute cost of their job types: one statement for the lot. A worker
   * host that knows what a drain cost calls it once a drain with `attributeCost`'s shares (sluice's Lambda
   * worker does, with the invocation's duration and memory).
   *
   * @example
   * await sluice.recordCosts(attributeCost(attempts, drainMs, 1024));
   */
  async recordCosts(shares: readonly CostShare[]): Promise<void> {
    const rows = parseInput(z.array(costShareSchema).max(10_000), shares, 'cost shares');
    await addCosts(this.#db, this.#s, rows);
  }

  /**
   * What each job type cost over the last `sinceMs` (default an hour), per queue and type: its attempts,
   * GB-seconds, and GB-seconds per 1,000 attempts. `stats()` carries the last hour's, per queue.
   *
   * @example
   * for (const c of await sluice.costs()) console.log(c.queue, c.type, c.gbSecondsPer1000.toFixed(2));
   */
  async costs(options: { sinceMs?: number } = {}): Promise<Array<TypeCost & { queue: string }>> {
    const o = parseInput(
      z
        .object({
          sinceMs: z
            .number()
            .int()
            .min(60_000)
            .max(30 * 86_400_000)
            .default(3_600_000),
        })
        .strict(),
      options,
      'costs options',
    );
    return (await readCosts(this.#db, this.#s, o.sinceMs / 1000)).map((r) => ({
      queue: r.queue,
      type: r.type,
      attempts: r.attempts,
      gbSeconds: r.gbMs / 1000,
      gbSecondsPer1000: gbSecondsPer1000(r),
    }));
  }

  /**
   * Finished attempts per queue over the last `sinceMs` (default an hour) in steps of `stepMs` (default a
   * minute; whole minutes): succeeded, failed (to be retried), dead and cancelled, and the p50/p95/p99 of
   * attempt durations. The counts are written by the outcome statements themselves, so they hold whatever
   * worker or Lambda did the work. With the `queues` option, each of them is listed first, idle ones too.
   *
   * @example
   * const [emails] = await sluice.activity({ sinceMs: 86_400_000, stepMs: 900_000 }); // the last day, by quarter hour
   * console.log(emails.points.at(-1)?.succeeded, emails.p95Ms);
   */
  async activity(options: { sinceMs?: number; stepMs?: number; queue?: string } = {}): Promise<QueueActivity[]> {
    const o = parseInput(activitySchema, options, 'activity options');
    const queue = o.queue === undefined ? undefined : this.#queueName(o.queue);
    const now = Date.now();
    const first = Math.floor((now - o.sinceMs) / o.stepMs);
    const window = { from: new Date(first * o.stepMs), stepMs: o.stepMs, steps: Math.floor(now / o.stepMs) - first + 1 };
    const args = { sinceSeconds: o.sinceMs / 1000, queue };
    const [counts, buckets] = await Promise.all([
      readCounts(this.#db, this.#s, { ...args, stepSeconds: o.stepMs / 1000 }),
      readDurationBuckets(this.#db, this.#s, args),
    ]);
    return toActivity(counts, buckets, window, queue ? [queue] : (this.settings.queues ?? []));
  }

  /**
   * Keep the per-minute counts behind `activity()` small: fold each finished minute's rows into one, and
   * delete minutes older than `keepMs` (default two days). Maintenance runs it.
   */
  async compactActivity(options: { keepMs?: number } = {}): Promise<{ rows: number }> {
    const o = parseInput(
      z
        .object({
          keepMs: z
            .number()
            .int()
            .min(3_600_000)
            .default(2 * 86_400_000),
        })
        .strict(),
      options,
      'compactActivity options',
    );
    const rows = await compactCounts(this.#db, this.#s, { keepSeconds: o.keepMs / 1000 });
    // The cost rows are a minute each already: only their old minutes go.
    return { rows: rows + (await pruneCosts(this.#db, this.#s, o.keepMs / 1000)) };
  }

  /**
   * Pause a queue: its workers claim nothing from their next claim on (jobs already running finish), while
   * enqueue still works; the state lives in the database, so it survives restarts. Resolves with whether
   * this call paused it (false: it was paused already). With the `queues` option, another queue is refused.
   *
   * @example
   * await sluice.pauseQueue('emails'); // the mail provider is down: hold the emails, keep accepting them
   * await sluice.resumeQueue('emails');
   */
  async pauseQueue(queue: string): Promise<boolean> {
    return (await pauseQueues(this.#db, this.#s, [this.#queueName(queue)])).length > 0;
  }

  /** Resume a paused queue; resolves with whether it was paused. */
  async resumeQueue(queue: string): Promise<boolean> {
    return (await resumeQueues(this.#db, this.#s, [this.#queueName(queue)])).length > 0;
  }

  #queueName(queue: string): string {
    const name = parseInput(z.string().regex(QUEUE_NAME, 'a queue name: lower-case letters, digits, _ and -'), queue, 'queue');
    refuseUnknownQueue(name, this.settings.queues, 'queue');
    return name;
  }

  /** A worker for one queue. */
  worker(options: WorkerOptions): Worker {
    return new Worker({ db: this.#db, s: this.#s, settings: this.settings }, options);
  }
}
