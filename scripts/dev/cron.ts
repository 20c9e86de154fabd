/**
 * EventBridge `cron(minutes hours day-of-month month day-of-week year)` in UTC, for the dev clock: `*`,
 * `?`, numbers, names (JAN–DEC, SUN–SAT), ranges, lists and `/` steps. `L`, `W` and `#` are refused with a
 * clear error (the dev server then says that rule will not fire locally).
 */
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  min: number;
  max: number;
  names?: string[];
  /** The value names[0] stands for. */
  nameBase?: number;
}

const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { min: 1, max: 7, names: DAYS, nameBase: 1 },
  { min: 1970, max: 2199 },
];

/** Each field's allowed values; null means any. */
export type Cron = Array<Set<number> | null>;

function value(text: string, f: Field): number {
  const named = f.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = named >= 0 ? named + (f.nameBase ?? 0) : Number(text);
  if (!Number.isInteger(n) || n < f.min || n > f.max) throw new Error(`cron value ${JSON.stringify(text)} is outside ${f.min}-${f.max}`);
  return n;
}

function field(text: string, f: Field): Set<number> | null {
  if (text === '*' || text === '?') return null;
  if (/[LW#]/i.test(text.replace(/[A-Z]{3}/gi, (m) => (f.names?.includes(m.toUpperCase()) ? '' : m)))) {
    throw new Error(`cron field ${JSON.stringify(text)} uses L, W or #, which the dev clock does not support`);
  }
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`cron step ${JSON.stringify(stepText)} must be a positive integer`);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [f.min, f.max];
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [lo, hi] = [value(a, f), value(b, f)];
    } else {
      lo = value(range, f);
      hi = stepText === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/**
 * Parse `cron(…)`.
 *
 * @example
 * cronMatches(parseCron('cron(0 6 * * ? *)'), new Date('2030-01-01T06:00:00Z')); // true
 */
export function parseCron(expression: string): Cron {
  const m = /^cron\((.+)\)$/.exec(expression.trim());
  const parts = m?.[1]?.trim().split(/\s+/) ?? [];
  if (parts.length !== 6) throw new Error(`${JSON.stringify(expression)} is not cron(minutes hours day-of-month month day-of-week year)`);
  return parts.map((p, i) => field(p, FIELDS[i] as Field));
}

/** Whether the minute starting at `at` (UTC) is one the expression fires at. */
export function cronMatches(cron: Cron, at: Date): boolean {
  const actual = [at.getUTCMinutes(), at.getUTCHours(), at.getUTCDate(), at.getUTCMonth() + 1, at.getUTCDay() + 1, at.getUTCFullYear()];
  return cron.every((allowed, i) => allowed === null || allowed.has(actual[i] as number));
}

/**
 * The first minute at or after `from` (rounded up to a whole minute) that the expression fires at, within
 * `withinMinutes` (default a little over a year); undefined when none.
 *
 * @example
 * nextCronRun(parseCron('cron(0 6 * * ? *)'), new Date('2030-01-01T05:30:00Z')); // 2030-01-01T06:00:00.000Z
 */
export function nextCronRun(cron: Cron, from: Date, withinMinutes = 367 * 24 * 60): Date | undefined {
  const at = new Date(Math.ceil(from.getTime() / 60_000) * 60_000);
  for (let i = 0; i < withinMinutes; i++, at.setUTCMinutes(at.getUTCMinutes() + 1)) {
    if (cronMatches(cron, at)) return new Date(at);
  }
  return undefined;
}
