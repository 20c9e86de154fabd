import { createHash } from 'node:crypto';
import type { Queryable, SchemaName } from './db.js';
import { IdempotencyConflictError } from './errors.js';
import { type BulkAction, bulkRequestIds, openBulkRequest } from './sql/bulkRequests.js';

/** The most rows one statement of a bulk action (cancel, redrive, purge, prune) touches. */
export const BULK = 1000;

/** What one bounded step acted on: every id, and (for a cancel) those flagged to stop while running. */
export interface StepResult {
  ids: string[];
  cancelling?: string[];
}

export interface BulkOutcome {
  /** Every id acted on, in id order: by this call, and by earlier calls with the same idempotency key. */
  ids: string[];
  /** For a cancel, the ids that were running and were asked to stop. */
  cancelling: string[];
  /** True when the idempotency key had been seen: the answer holds the earlier calls' work. */
  replayed: boolean;
}

const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/**
 * Run a bulk action as bounded steps (`step`, at most `BULK` rows each) until one comes back short.
 *
 * With an idempotency key, the action is recorded under it (`bulk_requests`): each step appends its ids
 * to that record in its own statement, so the stored answer commits with the change. The same key again,
 * with the same request, answers the stored ids (finished) or resumes and answers the union (interrupted);
 * with another request, it is an `IdempotencyConflictError` and nothing is done.
 */
export async function runBulk(
  db: Queryable,
  s: SchemaName,
  o: {
    action: BulkAction;
    /** The request in canonical form: what the key's hash is taken over. */
    request: unknown;
    idempotencyKey: string | undefined;
    ttlSeconds: number;
    step: (key: string | null, hash: string | null) => Promise<StepResult>;
  },
): Promise<BulkOutcome> {
  const ids: string[] = [];
  const cancelling: string[] = [];
  let replayed = false;
  let finished = false;
  let hash: string | null = null;
  if (o.idempotencyKey !== undefined) {
    hash = createHash('sha256')
      .update(JSON.stringify({ action: o.action, request: o.request }))
      .digest('hex');
    const held = await openBulkRequest(db, s, { key: o.idempotencyKey, hash, action: o.action, ttlSeconds: o.ttlSeconds });
    if (held.request_hash !== hash) {
      throw new IdempotencyConflictError(
        `the idempotency key ${JSON.stringify(o.idempotencyKey)} was used for another request (a ${held.action}); use a new key for a new request`,
      );
    }
    ids.push(...held.ids);
    cancelling.push(...held.cancelling);
    replayed = held.seen;
    finished = held.finished;
  }
  let stepped = false;
  while (!finished) {
    const done = await o.step(o.idempotencyKey ?? null, hash);
    ids.push(...done.ids);
    cancelling.push(...(done.cancelling ?? []));
    finished = done.ids.length < BULK;
    stepped = true;
  }
  if (stepped && o.idempotencyKey !== undefined && hash !== null) {
    // The stored answer, which also holds the steps of a concurrent retry with the same key.
    const stored = await bulkRequestIds(db, s, { key: o.idempotencyKey, hash });
    if (stored) {
      ids.push(...stored.ids);
      cancelling.push(...stored.cancelling);
    }
  }
  return { ids: [...new Set(ids)].sort(byId), cancelling: [...new Set(cancelling)].sort(byId), replayed };
}
