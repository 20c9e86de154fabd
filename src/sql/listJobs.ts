import { type Queryable, type SchemaName, sql } from '../db.js';
import type { JobRow } from '../job.js';
import { jobSelect } from './jobColumns.js';
import { filterSql, type ParsedJobFilter, SqlParams } from './jobFilter.js';

/**
 * A page of the jobs `f` names, newest first (id descending), before the id `before` (keyset pagination:
 * each page is one index range, however deep). The ids are picked from the driving table the filter
 * chooses (src/sql/jobFilter.ts), then read with their current state by `jobSelect`.
 */
export async function listJobs(
  db: Queryable,
  s: SchemaName,
  f: ParsedJobFilter & { before?: string | undefined; limit: number },
): Promise<JobRow[]> {
  const p = new SqlParams();
  const m = filterSql(s, f, p);
  const before = f.before === undefined ? sql`` : sql` AND ${m.key} < ${p.add(f.before, 'bigint')}`;
  const limit = p.add(f.limit, 'int');
  const res = await db.query<JobRow>(
    `WITH picked AS (
       SELECT ${m.key} AS id FROM ${m.from} WHERE ${m.where}${before} ORDER BY ${m.key} DESC LIMIT ${limit}
     )
     ${jobSelect(s)} WHERE j.id IN (SELECT id FROM picked) ORDER BY j.id DESC`,
    p.values,
  );
  return res.rows;
}
