import type { Queryable, SchemaName } from '../db.js';
import { filterSql, type ParsedJobFilter, SqlParams } from './jobFilter.js';

/** How many jobs `f` names: the count to show before a bulk action by that filter. */
export async function countJobs(db: Queryable, s: SchemaName, f: ParsedJobFilter): Promise<number> {
  const p = new SqlParams();
  const m = filterSql(s, f, p);
  const res = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${m.from} WHERE ${m.where}`, p.values);
  return Number(res.rows[0]?.n ?? 0);
}
