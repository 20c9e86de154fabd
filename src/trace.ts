/**
 * Trace context: what a job carries from the request that enqueued it to each of its attempts, so that a
 * request and the jobs it caused are one trace. Stored as a W3C `traceparent` (`00-<trace id>-<parent
 * id>-<flags>`); an X-Ray trace header (`Root=1-…;Parent=…;Sampled=…`) names the same trace and parent in
 * another spelling, and is read and written too. Nothing here knows a tracing backend.
 */

/** One point in a trace: the trace, the span (or X-Ray segment) a child hangs under, and whether it is sampled. */
export interface TraceContext {
  /** 32 lower-case hex digits (an X-Ray root `1-<8>-<24>` without its dashes). */
  readonly traceId: string;
  /** 16 lower-case hex digits: the parent span's id. */
  readonly parentId: string;
  readonly sampled: boolean;
}

const HEX16 = /^[0-9a-f]{16}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const XRAY_ROOT = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/;
/** The longest trace header read: a traceparent is 55 characters, an X-Ray header with extra fields a few hundred. */
export const MAX_TRACE_HEADER = 512;

const zeros = (s: string) => /^0+$/.test(s);

/** A W3C `traceparent` (version 00, or a later one read as 00 says), or undefined if it is not one. */
function fromTraceparent(value: string): TraceContext | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (zeros(traceId) || zeros(parentId)) return undefined;
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

/** An X-Ray trace header (`Root=1-…;Parent=…;Sampled=…`, in any order, other fields ignored), or undefined. */
function fromXray(value: string): TraceContext | undefined {
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const root = XRAY_ROOT.exec(fields.get('root') ?? '');
  const parentId = fields.get('parent') ?? '';
  if (!root || !HEX16.test(parentId) || zeros(parentId)) return undefined;
  const traceId = `${root[1]}${root[2]}`;
  return zeros(traceId) ? undefined : { traceId, parentId, sampled: fields.get('sampled') === '1' };
}

/**
 * Read a trace header: a W3C `traceparent` or an X-Ray trace header (`_X_AMZN_TRACE_ID`, `X-Amzn-Trace-Id`).
 * Returns undefined for anything else, an absent value, or one longer than `MAX_TRACE_HEADER`; an X-Ray
 * header without a `Parent` names no span to hang under, and is not read either.
 *
 * @example
 * parseTraceContext('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', sampled: true }
 * parseTraceContext(process.env._X_AMZN_TRACE_ID); // inside a Lambda with tracing on
 */
export function parseTraceContext(value: string | null | undefined): TraceContext | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TRACE_HEADER) return undefined;
  const v = value.trim();
  return v.includes('=') ? fromXray(v) : fromTraceparent(v);
}

/** The W3C `traceparent` of a context: how sluice stores it, and what to send on an outgoing request. */
export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.parentId}-${t.sampled ? '01' : '00'}`;
}

/** The X-Ray trace id of a context (`1-<8 hex>-<24 hex>`). */
export function xrayTraceId(t: Pick<TraceContext, 'traceId'>): string {
  return `1-${t.traceId.slice(0, 8)}-${t.traceId.slice(8)}`;
}

/** The X-Ray trace header of a context (`Root=…;Parent=…;Sampled=…`). */
export function formatXrayHeader(t: TraceContext): string {
  return `Root=${xrayTraceId(t)};Parent=${t.parentId};Sampled=${t.sampled ? '1' : '0'}`;
}

/** The same context with another parent span (a child's). */
export function withParent(t: TraceContext, parentId: string): TraceContext {
  if (!HEX16.test(parentId) || zeros(parentId)) throw new TypeError(`a span id is 16 lower-case hex digits, not all zero: ${parentId}`);
  return { traceId: t.traceId, parentId, sampled: t.sampled };
}
