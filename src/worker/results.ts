import { PermanentJobError } from '../errors.js';
import { hasLoneSurrogate, hasNul } from '../text.js';

/**
 * A handler's return value as JSON text to store, or undefined for none (`undefined` returned). A value
 * that cannot be stored is the handler's bug and would fail again the same way: the attempt fails with a
 * `PermanentJobError` naming why (the job is dead, kept for redrive), rather than succeed with its result
 * silently lost.
 */
export function storableResult(value: unknown, maxBytes: number): string | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new PermanentJobError(`the handler's result is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) throw new PermanentJobError(`the handler's result (a ${typeof value}) is not JSON-serialisable`);
  if (hasNul(value)) throw new PermanentJobError("the handler's result holds a NUL (\\u0000), which Postgres jsonb cannot store");
  if (hasLoneSurrogate(value))
    throw new PermanentJobError("the handler's result holds a lone UTF-16 surrogate, which Postgres jsonb cannot store");
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) throw new PermanentJobError(`the handler's result is ${bytes} bytes of JSON; maxResultBytes is ${maxBytes}`);
  return json;
}
