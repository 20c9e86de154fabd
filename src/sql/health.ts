import type { Queryable } from '../db.js';

export interface HealthRow {
  oldest_xact_seconds: number | null;
  oldest_xact_visible: boolean;
  xmin_age_xids: number | null;
  xmin_holder: string | null;
  live_rows: number;
  dead_rows: number;
  last_vacuum_seconds: number | null;
  connections: number;
  max_connections: number;
}

/**
 * The readings behind the database health metrics, in one statement of the statistics views (no table of
 * the queue is scanned):
 * - the oldest open transaction or snapshot of any other session, and of any prepared transaction, in
 *   seconds, of client sessions (sessions of other users need `pg_read_all_stats`: `oldest_xact_visible`
 *   says whether it was granted), and the age in transaction ids of the oldest xmin held by a session, a
 *   replication connection (a standby's feedback), a prepared transaction or a replication slot (visible
 *   without it), with what holds it;
 * - the live table's live and dead row versions and when a vacuum last ran on it (or, never vacuumed, since
 *   the statistics started: the reset of the database's, or the server's start);
 * - the server's client connections against `max_connections`.
 */
export async function readHealth(db: Queryable, schemaName: string): Promise<HealthRow> {
  const res = await db.query<HealthRow>(
    `WITH others AS (
       -- Client sessions only: a vacuum's own snapshot does not hold back other vacuums, and a long one
       -- (an anti-wraparound vacuum of a large table) is not a transaction to end.
       SELECT xact_start, backend_xid, backend_xmin FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
     ),
     horizon AS (
       SELECT age(x) AS age, holder FROM (
         SELECT backend_xmin AS x, 'session' AS holder FROM others
         UNION ALL SELECT backend_xid, 'session' FROM others
         UNION ALL SELECT backend_xmin, 'replication connection' FROM pg_stat_activity WHERE backend_type = 'walsender'
         UNION ALL SELECT transaction, 'prepared transaction' FROM pg_prepared_xacts
         UNION ALL SELECT xmin, 'replication slot' FROM pg_replication_slots
         UNION ALL SELECT catalog_xmin, 'replication slot' FROM pg_replication_slots
       ) h WHERE x IS NOT NULL
     ),
     oldest AS (
       SELECT max(extract(epoch FROM now() - t))::float8 AS seconds FROM (
         SELECT xact_start AS t FROM others WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL
         UNION ALL SELECT prepared FROM pg_prepared_xacts
       ) o
     ),
     -- Never vacuumed (or statistics reset since): counted from when the statistics started.
     live AS (
       SELECT n_live_tup, n_dead_tup,
              COALESCE(GREATEST(last_autovacuum, last_vacuum),
                       (SELECT d.stats_reset FROM pg_stat_database d WHERE d.datname = current_database()),
                       pg_postmaster_start_time()) AS vacuumed
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'active_jobs'
     )
     SELECT (SELECT seconds FROM oldest) AS oldest_xact_seconds,
            pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS oldest_xact_visible,
            (SELECT max(age)::float8 FROM horizon) AS xmin_age_xids,
            (SELECT holder FROM horizon ORDER BY age DESC LIMIT 1) AS xmin_holder,
            COALESCE((SELECT n_live_tup FROM live), 0)::float8 AS live_rows,
            COALESCE((SELECT n_dead_tup FROM live), 0)::float8 AS dead_rows,
            (SELECT extract(epoch FROM now() - vacuumed)::float8 FROM live) AS last_vacuum_seconds,
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8 AS connections,
            current_setting('max_connections')::float8 AS max_connections`,
    [schemaName],
  );
  return res.rows[0] as HealthRow;
}
