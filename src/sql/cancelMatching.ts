import type { Queryable, SchemaName } from '../db.js';
import { bulkAppend } from './bulkRequests.js';
import { cancelTargets } from './cancel.js';
import { filterSql, type ParsedJobFilter, SqlParams } from './jobFilter.js';

/**
 * One bounded step of a cancel by filter: up to `limit` live jobs `f` names (its states must all be live),
 * skipping rows others hold (FOR UPDATE SKIP LOCKED) and jobs already asked to stop. A job not running is
 * cancelled at once; a running one is flagged, and its worker aborts `ctx.signal` at its next heartbeat
 * (as `cancelJobs`); each writes its timeline marker. With a `key`, the ids are appended to that bulk request in the same statement.
 */
export async function cancelMatching(
  db: Queryable,
  s: SchemaName,
  f: ParsedJobFilter,
  args: { limit: number; key: string | null; hash: string | null },
): Promise<{ cancelled: string[]; cancelling: string[] }> {
  const p = new SqlParams();
  const m = filterSql(s, f, p);
  if (m.key !== 'a.id') throw new TypeError('cancelMatching: the filter must name live states only');
  const bulk = { limit: p.add(args.limit, 'int'), key: p.add(args.key, 'text'), hash: p.add(args.hash, 'text') };
  const res = await db.query<{ id: string; result: 'cancelled' | 'cancelling' }>(
    `WITH target AS (
       SELECT a.id, COALESCE(a.lease_expires_at > now(), false) AS running
       FROM ${m.from} WHERE ${m.where} AND NOT a.cancel_requested
       ORDER BY a.id LIMIT ${bulk.limit}
       FOR UPDATE OF a SKIP LOCKED
     ),
     ${cancelTargets(s)},
     acted AS (SELECT id FROM gone UNION ALL SELECT id FROM flagged),
     kept AS (${bulkAppend(s, bulk, true)})
     SELECT id::text AS id, 'cancelled' AS result FROM gone
     UNION ALL
     SELECT id::text AS id, 'cancelling' AS result FROM flagged`,
    p.values,
  );
  const out = { cancelled: [] as string[], cancelling: [] as string[] };
  for (const r of res.rows) out[r.result].push(r.id);
  return out;
}
