import type { Queryable, SchemaName } from '../db.js';

/**
 * Cool a key (or, under key '', a whole type; under type and key '', a whole queue) down until `seconds` from the database's now, for every
 * worker's flow claim: a later cooldown never shortens an earlier one. One upsert, no session state.
 */
export async function coolDown(
  db: Queryable,
  s: SchemaName,
  args: { queue: string; type: string; key: string; seconds: number },
): Promise<void> {
  await db.query(
    `INSERT INTO ${s}.flow_state AS st (queue, type, key, cool_until)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     ON CONFLICT (queue, type, key) DO UPDATE SET cool_until = GREATEST(st.cool_until, excluded.cool_until)`,
    [args.queue, args.type, args.key, args.seconds],
  );
}
