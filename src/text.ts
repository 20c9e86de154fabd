import { z } from 'zod';

/**
 * A UTF-16 surrogate without its pair. JavaScript strings may hold one; Postgres text and jsonb may not,
 * so input holding one is refused (or, in stored error messages, replaced).
 */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` holds a lone surrogate or a NUL, neither of which Postgres text or jsonb can store. */
export function unstorableText(text: string): boolean {
  return text.includes('\u0000') || LONE_SURROGATE.test(text);
}

/** Whether any string or key in `value` matches `test` (the value as parsed, never its JSON text). */
function anyText(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === 'string') return test(value);
  if (Array.isArray(value)) return value.some((v) => anyText(v, test));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => test(k) || anyText(v, test));
  }
  return false;
}

/** True when a string or key anywhere in the value holds a NUL, which jsonb refuses. */
export const hasNul = (value: unknown): boolean => anyText(value, (t) => t.includes('\u0000'));

/** True when a string or key anywhere in the value holds a lone UTF-16 surrogate, which jsonb refuses. */
export const hasLoneSurrogate = (value: unknown): boolean => anyText(value, (t) => LONE_SURROGATE.test(t));

const MAX_BIGINT = 9_223_372_036_854_775_807n;

/**
 * A job id: a positive Postgres bigint, as a decimal string.
 *
 * @example
 * jobIdSchema.parse('42'); // '42'; '0', '01', 'abc' and '9223372036854775808' are refused
 */
export const jobIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,18}$/, 'ids are positive integers, as strings')
  // zod runs this even when the pattern failed: check only well-formed 19-digit ids (BigInt would throw on others).
  .refine((s) => !/^[0-9]{19}$/.test(s) || BigInt(s) <= MAX_BIGINT, 'id is out of range');

/**
 * Validation issues as one line: `path: message; path: message`, with `root` naming an empty path.
 *
 * @example
 * describeIssues(parsed.error.issues, '(root)'); // 'to: Invalid email address; template: Invalid option'
 */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, root = ''): string {
  return issues.map((i) => `${i.path.map(String).join('.') || root}: ${i.message}`).join('; ');
}
