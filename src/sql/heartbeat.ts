import type { Queryable, SchemaName } from '../db.js';

/**
 * Extend the leases of held jobs in one round trip (a HOT update of an unindexed column). Returns the ids
 * still held, with whether a cancel was requested; an id missing from the result has lost its lease.
 * A parked job (a limited type, migrations/0013_flow_control.sql) whose lease lapsed is lost even if no
 * one claimed it yet: its flow slot was given back when the lease lapsed, so it may not be taken again.
 */
export async function extendLeases(
  db: Queryable,
  s: SchemaName,
  held: ReadonlyArray<{ id: string; token: string }>,
  leaseSeconds: number,
): Promise<Map<string, { cancelRequested: boolean }>> {
  if (held.length === 0) return new Map();
  const res = await db.query<{ id: string; cancel_requested: boolean }>(
    `UPDATE ${s}.active_jobs a
     SET lease_expires_at = now() + make_interval(secs => $3)
     FROM unnest($1::bigint[], $2::uuid[]) AS h(id, token)
     WHERE a.id = h.id AND a.lease_token = h.token AND (a.run_at < 'infinity' OR a.lease_expires_at > now())
     RETURNING a.id::text AS id, a.cancel_requested`,
    [held.map((h) => h.id), held.map((h) => h.token), leaseSeconds],
  );
  return new Map(res.rows.map((r) => [r.id, { cancelRequested: r.cancel_requested }]));
}
