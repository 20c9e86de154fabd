import { type Queryable, type SchemaName, type SqlFragment, sql } from '../db.js';

export type BulkAction = 'cancel' | 'redrive' | 'purge';

export interface BulkRequestRow {
  request_hash: string;
  action: BulkAction;
  ids: string[];
  cancelling: string[];
  finished: boolean;
  /** False when this call created the record (or took over an expired one). */
  seen: boolean;
}

/**
 * The record of the bulk request under `key`: created now (empty, unfinished, expiring after `ttlSeconds`),
 * taken over when the one held under that key has expired, or else the one held, as it stands. The
 * caller compares its hash. Each step of the action then appends to it (`bulkAppend`).
 */
export async function openBulkRequest(
  db: Queryable,
  s: SchemaName,
  args: { key: string; hash: string; action: BulkAction; ttlSeconds: number },
): Promise<BulkRequestRow> {
  for (let tries = 1; ; tries++) {
    const res = await db.query<BulkRequestRow>(
      `WITH opened AS (
         INSERT INTO ${s}.bulk_requests AS b (key, request_hash, action, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
         ON CONFLICT (key) DO UPDATE
           SET request_hash = EXCLUDED.request_hash, action = EXCLUDED.action, ids = '{}', cancelling = '{}',
               finished = false, created_at = now(), expires_at = EXCLUDED.expires_at
           WHERE b.expires_at <= now()
         RETURNING b.request_hash, b.action, b.ids::text[] AS ids, b.cancelling::text[] AS cancelling, b.finished, false AS seen
       )
       SELECT * FROM opened
       UNION ALL
       SELECT b.request_hash, b.action, b.ids::text[], b.cancelling::text[], b.finished, true
       FROM ${s}.bulk_requests b WHERE b.key = $1 AND NOT EXISTS (SELECT 1 FROM opened)`,
      [args.key, args.hash, args.action, args.ttlSeconds],
    );
    // Empty only when a concurrent request created the key after this statement's snapshot: read again.
    const row = res.rows[0];
    if (row) return row;
    if (tries >= 3) throw new Error(`bulk request ${JSON.stringify(args.key)} could not be opened`);
  }
}

/**
 * The ids a bulk request holds now (null if its record is gone or now holds another request): its answer
 * once its last step ran, whoever ran them (two retries of one key may run at once).
 */
export async function bulkRequestIds(
  db: Queryable,
  s: SchemaName,
  args: { key: string; hash: string },
): Promise<{ ids: string[]; cancelling: string[] } | null> {
  const res = await db.query<{ ids: string[]; cancelling: string[] }>(
    `SELECT b.ids::text[] AS ids, b.cancelling::text[] AS cancelling FROM ${s}.bulk_requests b WHERE b.key = $1 AND b.request_hash = $2`,
    [args.key, args.hash],
  );
  return res.rows[0] ?? null;
}

/** A bulk step's placeholders: its request's key (NULL: no record) and hash, and its row limit. */
export interface BulkStepParams {
  key: SqlFragment;
  hash: SqlFragment;
  limit: SqlFragment;
}

/**
 * The data-modifying CTE body that appends the ids of a step's `acted` CTE (and, for a cancel, the running
 * ones of its `flagged` CTE) to its bulk request, in the step's own statement, and marks the request
 * finished when the step came back short of its limit. A NULL key matches no record: nothing is kept.
 */
export function bulkAppend(s: SchemaName, p: BulkStepParams, withFlagged: boolean): SqlFragment {
  const cancelling = withFlagged ? sql`b.cancelling || ARRAY(SELECT id FROM flagged ORDER BY id)` : sql`b.cancelling`;
  return sql`UPDATE ${s}.bulk_requests b
       SET ids = b.ids || ARRAY(SELECT id FROM acted ORDER BY id), cancelling = ${cancelling},
           finished = (SELECT count(*) FROM acted) < ${p.limit}
       WHERE b.key = ${p.key} AND b.request_hash = ${p.hash}`;
}
