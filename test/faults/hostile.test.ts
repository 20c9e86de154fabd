/**
 * Fault suite: hostile input. Proves that the enqueue API (functions/api/app.ts), called in-process with API
 * Gateway HTTP API v2 events against a real PostgreSQL schema, refuses 10,500 generated bad requests (fast-check,
 * fixed seed, printed) with a 4xx that the API documents, in the one error shape, and writes nothing.
 *
 * Every request is a valid one plus one mutation known to make it invalid: unknown routes and wrong methods, bad
 * job ids in paths and queries, malformed / truncated / oversized / mis-typed / base64 (valid and invalid) bodies,
 * deep nesting, prototype keys, lone surrogates and NUL, unknown types, payloads failing their schema, wrong types
 * and out-of-range values for every field, runAt with delaySeconds, bad Idempotency-Keys, and batches with one bad
 * item among good ones (refused whole, the issues naming only that item). A control property first shows the
 * unmutated requests are accepted (on another schema), so each refusal is the mutation's doing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { z } from 'zod';
import { definitions } from '../../examples/definitions.js';
import { type ApiHandler, createApi } from '../../functions/api/app.js';
import { ErrorResponse, MAX_BODY_BYTES } from '../../functions/api/schemas.js';
import { defineJob, JobRegistry, type Logger } from '../../src/index.js';
import { testSluice } from '../helpers/db.js';

const SEED = Number(process.env.HOSTILE_SEED ?? 20_240_611);
type Rec = Record<string, unknown>;

// ---- what the API documents (docs/openapi.json) --------------------------------------------------------------

const doc = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
const VERBS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'];
const OPS = Object.entries(doc.paths as Record<string, Record<string, { responses: Rec }>>).map(([template, ops]) => ({
  segs: template.split('/').slice(1),
  methods: Object.fromEntries(
    Object.entries(ops)
      .filter(([m]) => VERBS.includes(m.toUpperCase()))
      .map(([m, op]) => [
        m.toUpperCase(),
        Object.keys(op.responses)
          .map(Number)
          .filter((s) => s >= 400 && s < 500),
      ]),
  ),
}));
/** The documented path a raw path falls on (static segments win over `{id}`), if any. */
function documented(path: string): (typeof OPS)[number] | undefined {
  if (!path.startsWith('/')) return undefined;
  const segs = path.split('/').slice(1);
  const fits = OPS.filter(
    (o) => o.segs.length === segs.length && o.segs.every((s, i) => (s.startsWith('{') ? segs[i] !== '' : s === segs[i])),
  );
  const statics = (o: (typeof OPS)[number]) => o.segs.filter((s) => !s.startsWith('{')).length;
  return fits.sort((a, b) => statics(b) - statics(a))[0];
}
const codeDoc = doc.components.schemas.ErrorResponse.properties.error.properties.code.description as string;
const STABLE_CODES = new Set(
  codeDoc
    .replace(/^Stable: /, '')
    .replace(/\.$/, '')
    .split(', '),
);
/** The status each documented code comes with. */
const STATUS_OF_CODE = new Map(
  Object.entries({
    400: 'VALIDATION UNKNOWN_TYPE INVALID_JSON FORBIDDEN_KEY BATCH_TOO_LARGE',
    404: 'NOT_FOUND ROUTE_NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    409: 'NOT_CANCELLABLE',
    413: 'REQUEST_TOO_LARGE PAYLOAD_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
  }).flatMap(([status, codes]) => codes.split(' ').map((c) => [c, Number(status)] as const)),
);

// ---- requests and events ---------------------------------------------------------------------------------------

interface Req {
  method: string;
  path: string;
  query?: string;
  headers: Record<string, string>;
  body?: string;
  /** true: send the body base64-encoded; 'raw': the body is already what goes on the wire (flagged base64). */
  base64?: boolean | 'raw';
  /** The statuses this mutation may answer. */
  expect: number[];
  label: string;
  /** For a batch with one bad item: every issue must point into jobs[badIndex]. */
  badIndex?: number;
  /** Every issue must have this path. */
  issuePath?: Array<string | number>;
}

const brief = (s: string | undefined) =>
  s === undefined ? '-' : s.length > 300 ? `${JSON.stringify(s.slice(0, 300))}…(${s.length})` : JSON.stringify(s);
const describeReq = (r: Req) =>
  `${r.label}: ${JSON.stringify(r.method)} ${brief(r.path)}${r.query ? `?${brief(r.query)}` : ''} headers=${JSON.stringify(r.headers)} base64=${r.base64 ?? false} body=${brief(r.body)}`;
/** A request that prints readably in a fast-check counterexample. */
const req = (r: Req): Req => Object.assign(r, { [fc.toStringMethod]: () => describeReq(r) });

let seq = 0;
function toEvent(r: Req): APIGatewayProxyEventV2 {
  const body = r.body === undefined ? undefined : r.base64 === 'raw' ? r.body : r.base64 ? Buffer.from(r.body).toString('base64') : r.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: r.path,
    rawQueryString: r.query ?? '',
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'user-agent': 'hostile', ...r.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: r.method, path: r.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'hostile' },
      requestId: `hostile-${++seq}`,
      routeKey: '$default',
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1_893_456_000_000,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: r.base64 !== undefined && r.base64 !== false,
  };
}

// ---- valid requests ------------------------------------------------------------------------------------------

const note = defineJob({ type: 'note', schema: z.object({ text: z.string() }), queue: 'notes' });
const registry = new JobRegistry([...definitions, note]);
const KNOWN = registry.types();
const YEAR = 365 * 86_400;
const MAX_ID = 2n ** 63n - 1n;
const isJobId = (s: string) => /^[1-9][0-9]{0,18}$/.test(s) && BigInt(s) <= MAX_ID;
/** docs: lower-case letters, digits, _ and -, starting with a letter, at most 63. */
const QUEUE = /^[a-z][a-z0-9_-]{0,62}$/;
const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];

const text = (max: number, min = 0) => fc.string({ unit: 'binary', minLength: min, maxLength: max }).filter((s) => !s.includes('\0'));
/** One of a |-separated list of strings. */
const pick = (list: string) => fc.constantFrom(...list.split('|'));
const jobId = fc.bigInt({ min: 1n, max: MAX_ID }).map(String);
const queueName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,30}$/);
const word = fc.stringMatching(/^[a-z0-9]{1,20}$/);
const email = fc.tuple(word, fc.stringMatching(/^[a-z]{1,15}$/)).map(([l, d]) => `${l}@${d}.com`);
const idemKey = text(64, 1);

const PAYLOADS: Record<string, fc.Arbitrary<Rec>> = {
  send_email: fc.record({
    userId: text(40, 1),
    to: email,
    template: fc.constantFrom('welcome', 'password_reset', 'receipt', 'getting_started'),
  }),
  process_order: fc.record({ orderId: text(30, 1) }),
  generate_report: fc.record({ reportId: text(30, 1), pages: fc.integer({ min: 1, max: 200 }) }, { requiredKeys: ['reportId'] }),
  on_user_signup: fc.record({ userId: text(40, 1), email }),
  process_payment: fc.record(
    {
      paymentId: text(30, 1),
      amountCents: fc.integer({ min: 1, max: 100_000_000 }),
      currency: fc.constantFrom('EUR', 'USD', 'GBP'),
      declineCapture: fc.boolean(),
    },
    { requiredKeys: ['paymentId', 'amountCents', 'currency'] },
  ),
  note: fc.record({ text: text(200) }),
};

/** An ISO 8601 date-time with a zone (Z or ±hh:mm), years 2000 to 2099. */
const isoAt = fc
  .tuple(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 30) }), fc.integer({ min: -12 * 60, max: 14 * 60 }), fc.boolean())
  .map(([ms, off, zulu]) => {
    if (zulu) return new Date(ms).toISOString();
    const local = new Date(ms + off * 60_000).toISOString().slice(0, 23);
    const a = Math.abs(off);
    return `${local}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  });

const options = fc
  .record(
    {
      queue: queueName,
      runAt: isoAt,
      delaySeconds: fc.integer({ min: 0, max: YEAR }),
      priority: fc.integer({ min: -100, max: 100 }),
      maxAttempts: fc.integer({ min: 1, max: 1000 }),
    },
    { requiredKeys: [] },
  )
  .map(({ delaySeconds, ...o }) => (o.runAt === undefined && delaySeconds !== undefined ? { ...o, delaySeconds } : o));

const validJob: fc.Arbitrary<Rec> = fc
  .constantFrom(...KNOWN)
  .chain((type) => fc.tuple(PAYLOADS[type] as fc.Arbitrary<Rec>, options).map(([payload, o]) => ({ type, payload, ...o })));
const validItem = fc
  .tuple(validJob, fc.option(idemKey, { nil: undefined }))
  .map(([j, k]) => (k === undefined ? j : { ...j, idempotencyKey: k }));

/** Content types the API takes (JSON, UTF-8), under header names of any case. */
const goodHeaders = fc
  .tuple(
    fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"'),
    fc.constantFrom('content-type', 'Content-Type'),
  )
  .map(([ct, name]) => ({ [name]: ct }));

// ---- invalid values --------------------------------------------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 2 });
const notA = (type: string) => anyJson.filter((v) => typeof v !== type);
const RAW = /"\\u0001RAW:(.*?)\\u0001"/g;
/** A number literal JSON.stringify cannot write (it parses to ±Infinity): spliced into the text. */
const rawNumber = fc.constantFrom('1e400', '-1e400', '1E999').map((n) => `\u0001RAW:${n}\u0001`);
const stringify = (v: unknown) => JSON.stringify(v).replace(RAW, '$1');

const badInt = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ max: min - 1 }),
    fc.integer({ min: max + 1 }),
    fc.double({ min, max, noNaN: true }).filter((x) => !Number.isInteger(x)),
    fc.constantFrom(1e21, -1e21, Number.MAX_VALUE, 2 ** 53 + 2),
    rawNumber,
    notA('number'),
  );
const badString = (min: number, max: number) =>
  fc.oneof(
    fc.constant(min > 0 ? '' : 'x'.repeat(max + 1)),
    fc.integer({ min: max + 1, max: max + 300 }).map((n) => 'x'.repeat(n)),
    fc.integer({ min: max + 1, max: max + 300 }).map((n) => 'é'.repeat(n)),
    notA('string'),
  );
const badEnum = (values: string[]) =>
  fc.oneof(
    text(20).filter((s) => !values.includes(s)),
    notA('string'),
  );
const badEmail = fc.oneof(
  text(40).filter((s) => !s.includes('@')),
  fc.constantFrom('a@', '@example.com', 'a@@example.com', 'a b@example.com', 'a@example..com', '.a@example.com'),
  fc.integer({ min: 255, max: 400 }).map((n) => `${'a'.repeat(n)}@example.com`),
  notA('string'),
);
/** Per type: each payload field, whether it is required, and values its schema refuses. */
const FIELDS: Record<string, Array<[string, boolean, fc.Arbitrary<unknown>]>> = {
  send_email: [
    ['userId', true, badString(1, 128)],
    ['to', true, badEmail],
    ['template', true, badEnum(['welcome', 'password_reset', 'receipt', 'getting_started'])],
  ],
  process_order: [['orderId', true, badString(1, 64)]],
  generate_report: [
    ['reportId', true, badString(1, 64)],
    ['pages', false, badInt(1, 200)],
  ],
  on_user_signup: [
    ['userId', true, badString(1, 128)],
    ['email', true, badEmail],
  ],
  process_payment: [
    ['paymentId', true, badString(1, 64)],
    ['amountCents', true, badInt(1, 100_000_000)],
    ['currency', true, badEnum(['EUR', 'USD', 'GBP'])],
    ['declineCapture', false, notA('boolean')],
  ],
  note: [['text', true, notA('string')]],
};
const badType = fc.oneof(
  text(40, 1).filter((t) => !KNOWN.includes(t)),
  pick('toString|__proto__|constructor|hasOwnProperty|SEND_EMAIL|send_email |send-email|send_emaіl|send\u200b_email'),
  badString(1, 128),
);
const badQueue = fc.oneof(
  fc.oneof(text(80), fc.constantFrom('Emails', '1q', '-q', 'q q', 'q.q', 'q\n', 'é', 'a'.repeat(64))).filter((q) => !QUEUE.test(q)),
  notA('string'),
);
const badRunAt = fc.oneof(
  pick(
    '2030-01-01|2030-01-01T00:00:00|2030-01-01 00:00:00Z|2030-01-01t00:00:00z|2030-13-01T00:00:00Z|2030-02-30T00:00:00Z|' +
      '2030-01-01T24:00:00Z|2030-01-01T00:00:60Z|2030-01-01T00:00:00+24:00|+010000-01-01T00:00:00Z|-000001-01-01T00:00:00Z|' +
      'Tue Jan 01 2030 00:00:00 GMT+0000|now|1893456000000|',
  ),
  text(30).filter((s) => !/^\d{4}-\d\d-\d\dT/.test(s)),
  notA('string'),
);
const badIdemKey = fc.oneof(
  fc.constant(''),
  fc.tuple(text(10), fc.integer({ min: 256, max: 600 })).map(([s, n]) => `${s}${'k'.repeat(n)}`),
  fc.tuple(text(20), text(20)).map(([a, b]) => `${a}\u0000${b}`),
);
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const badChar = fc.oneof(surrogate, fc.constant('\u0000'));

// ---- mutations -------------------------------------------------------------------------------------------------

interface Mut {
  label: string;
  expect: number[];
  apply: (o: Rec) => unknown;
}
const mut = (label: string, apply: (o: Rec) => unknown, expect = [400]): Mut => ({ label, expect, apply });
/** Define an own property (so `__proto__` is a key, never the prototype). */
function put(o: Rec, key: string, value: unknown): Rec {
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  return o;
}
const clone = (o: Rec): Rec => structuredClone(o);
const set = (key: string, value: unknown) => (o: Rec) => put(clone(o), key, value);
const omit = (key: string) => (o: Rec) => {
  const c = clone(o);
  delete c[key];
  return c;
};
const insert = (s: string, c: string, at: number) => s.slice(0, at % (s.length + 1)) + c + s.slice(at % (s.length + 1));
function nest(depth: number, arrays: boolean): unknown {
  let v: unknown = arrays ? [] : {};
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { d: v };
  return v;
}

/** One mutation that makes a valid job (a single request's body, or one batch item) invalid. */
function itemMutation(job: Rec, mode: 'single' | 'batch'): fc.Arbitrary<Mut> {
  const type = job.type as string;
  const fields = FIELDS[type] ?? [];
  const allowed = new Set([
    'type',
    'payload',
    'queue',
    'runAt',
    'delaySeconds',
    'priority',
    'maxAttempts',
    ...(mode === 'batch' ? ['idempotencyKey'] : []),
  ]);
  const payloadOf = (o: Rec) => o.payload as Rec;
  const withPayload = (f: (p: Rec) => unknown) => (o: Rec) => {
    const c = clone(o);
    c.payload = f(payloadOf(c));
    return c;
  };
  const stringField = fields[0]?.[0] ?? 'x'; // the first field of every type is a string
  return fc.oneof(
    fc.constantFrom('type', 'payload').map((k) => mut(`no ${k}`, omit(k))),
    badType.map((t) => mut('bad type', set('type', t))),
    fc.oneof(
      ...fields.map(([key, , bad]) =>
        bad.map((v) =>
          mut(
            `payload.${key} invalid`,
            withPayload((p) => put(p, key, v)),
          ),
        ),
      ),
      ...fields
        .filter(([, required]) => required)
        .map(([key]) =>
          fc.constant(
            mut(
              `payload.${key} missing`,
              withPayload((p) => {
                delete p[key];
                return p;
              }),
            ),
          ),
        ),
      anyJson
        .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
        .map((v) => mut('payload not an object', set('payload', v))),
    ),
    badQueue.map((v) => mut('bad queue', set('queue', v))),
    badRunAt.map((v) => mut('bad runAt', (o) => omit('delaySeconds')(set('runAt', v)(o)))),
    badInt(0, YEAR).map((v) => mut('bad delaySeconds', (o) => omit('runAt')(set('delaySeconds', v)(o)))),
    badInt(-100, 100).map((v) => mut('bad priority', set('priority', v))),
    badInt(1, 1000).map((v) => mut('bad maxAttempts', set('maxAttempts', v))),
    fc
      .tuple(isoAt, fc.integer({ min: 0, max: YEAR }))
      .map(([r, d]) => mut('runAt and delaySeconds', (o) => set('delaySeconds', d)(set('runAt', r)(o)))),
    fc
      .tuple(
        text(30).filter((k) => !allowed.has(k)),
        anyJson,
      )
      .map(([k, v]) => mut('unknown key', set(k, v))),
    mode === 'batch'
      ? fc.oneof(badIdemKey, notA('string')).map((k) => mut('bad idempotencyKey', set('idempotencyKey', k)))
      : idemKey.map((k) => mut('idempotencyKey in the body', set('idempotencyKey', k))),
    fc.tuple(fc.constantFrom(...FORBIDDEN), fc.integer({ min: 0, max: 4 }), anyJson).map(([k, depth, v]) =>
      mut(`key ${k}`, (o) => {
        const c = clone(o);
        if (depth === 0) return put(c, k, v);
        let at = payloadOf(c);
        for (let i = 1; i < depth; i++) at = put(at, `w${i}`, {})[`w${i}`] as Rec;
        put(at, k, v);
        return c;
      }),
    ),
    fc.tuple(badChar, fc.constantFrom('type', 'field', 'key', 'queue', 'runAt'), fc.nat()).map(([ch, where, at]) =>
      mut(`bad char in ${where}`, (o) => {
        const c = clone(o);
        const p = payloadOf(c);
        if (where === 'type') c.type = insert(type, ch, at);
        else if (where === 'field')
          put(p, stringField, insert(typeof p[stringField] === 'string' ? (p[stringField] as string) : 'x', ch, at));
        else if (where === 'key') put(p, insert('key', ch, at), 'v');
        else if (where === 'queue') c.queue = insert('q', ch, at);
        else {
          delete c.delaySeconds;
          c.runAt = insert('2030-01-01T00:00:00Z', ch, at);
        }
        return c;
      }),
    ),
    fc.tuple(fc.integer({ min: 130, max: 3000 }), fc.boolean()).map(([d, arrays]) =>
      mut(
        `nested ${d} deep`,
        withPayload((p) => put(p, 'deep', nest(d, arrays))),
      ),
    ),
    fc
      .tuple(fc.integer({ min: 262_144, max: 600_000 }), fc.boolean())
      .map(([n, wide]) =>
        mut(
          'payload over 256 KiB',
          (o) => ({ ...clone(o), type: 'note', payload: { text: wide ? 'é'.repeat(n / 2) : 'x'.repeat(n) } }),
          [413],
        ),
      ),
  );
}

/** One change to the bytes on the wire of a valid JSON body (or its headers) that makes the request invalid. */
interface Wire {
  label: string;
  expect: number[];
  apply: (body: string) => Pick<Req, 'body' | 'base64' | 'headers'>;
}
const ct = { 'content-type': 'application/json' };
const w = (label: string, status: number, apply: Wire['apply']): Wire => ({ label, expect: [status], apply });
/** Byte sequences that are not UTF-8: 0xff, overlong '/', an encoded surrogate, a lone continuation, a cut-off one, > U+10FFFF. */
const BAD_UTF8 = 'ff|feff|c0af|eda080|80|e282|f4908080|f888808080'.split('|').map((hex) => Buffer.from(hex, 'hex'));
const badContentType = fc.oneof(
  pick(
    'text/plain|application/x-www-form-urlencoded|multipart/form-data; boundary=x|application/xml|text/json|application/jsonp|' +
      'application/json-seq|application/problem+json|application/json; charset=iso-8859-1|application/json; charset=utf-16|' +
      'application/json; charset=utf-7|application/json; charset|application/json, text/plain|*/*|',
  ),
  text(40).filter((s) => !/application\/json/i.test(s)),
);
const wire: fc.Arbitrary<Wire> = fc.oneof(
  fc.nat().map((k) => w('truncated', 400, (b) => ({ body: b.slice(0, k % b.length), headers: ct }))),
  fc
    .tuple(
      text(10).filter((s) => s.trim() !== ''),
      fc.boolean(),
    )
    .map(([junk, before]) => w('junk around', 400, (b) => ({ body: before ? junk + b : b + junk, headers: ct }))),
  fc
    .constantFrom<[string, (b: string) => string]>(
      ['single quotes', (b) => b.replaceAll('"', "'")],
      ['trailing comma', (b) => `${b.slice(0, -1)},}`],
      ['= for :', (b) => b.replace(':', '=')],
      ['NaN', (b) => `{"n":NaN,${b.slice(1)}`],
      ['comment', (b) => `/* c */${b}`],
      ['BOM', (b) => `\ufeff${b}`],
      ['empty', () => ''],
      ['blank', () => ' \n\t '],
    )
    .map(([label, f]) => w(label, 400, (b) => ({ body: f(b), headers: ct }))),
  fc
    .tuple(badContentType, fc.boolean())
    .map(([type, b64]) => w('content type', 415, (b) => ({ body: b, base64: b64, headers: { 'content-type': type } }))),
  fc.boolean().map((b64) => w('no content type', 415, (b) => ({ body: b, base64: b64, headers: {} }))),
  fc.tuple(fc.nat(4096), fc.boolean()).map(([extra, b64]) =>
    w('body over 1 MiB', 413, (b) => ({
      body: b + ' '.repeat(MAX_BODY_BYTES - Buffer.byteLength(b) + 1 + extra),
      base64: b64,
      headers: ct,
    })),
  ),
  fc.boolean().map((junk) => w('invalid base64', 400, (b) => ({ body: junk ? `!!${b}%%` : b, base64: 'raw', headers: ct }))),
  fc.tuple(fc.constantFrom(...BAD_UTF8), fc.nat()).map(([bytes, at]) =>
    w('base64 of invalid UTF-8', 400, (b) => {
      const i = at % (b.length + 1);
      const body = Buffer.concat([Buffer.from(b.slice(0, i)), bytes, Buffer.from(b.slice(i))]).toString('base64');
      return { body, base64: 'raw', headers: ct };
    }),
  ),
);

/** A body route's request: a valid body with one body mutation, or a valid body with one wire mutation. */
function bodyRequest(
  path: string,
  valid: fc.Arbitrary<Rec>,
  mutation: (v: Rec) => fc.Arbitrary<Mut & { badIndex?: number }>,
  extra?: fc.Arbitrary<Req>,
) {
  const mutated = valid
    .chain((v) => fc.tuple(fc.constant(v), mutation(v), fc.boolean(), goodHeaders))
    .map(([v, m, b64, headers]) =>
      req({
        method: 'POST',
        path,
        headers,
        body: stringify(m.apply(v)),
        base64: b64,
        expect: m.expect,
        label: m.label,
        ...(m.badIndex === undefined ? {} : { badIndex: m.badIndex }),
      }),
    );
  const mangled = fc
    .tuple(valid, wire)
    .map(([v, w]) => req({ method: 'POST', path, expect: w.expect, label: w.label, ...w.apply(stringify(v)) }));
  return fc.oneof(
    { weight: 4, arbitrary: mutated },
    { weight: 2, arbitrary: mangled },
    ...(extra ? [{ weight: 1, arbitrary: extra }] : []),
  );
}

// ---- the requests of each property -----------------------------------------------------------------------------

/** Unknown routes (404) and documented routes under a method they do not take (405). */
const weirdSegment = fc.oneof(
  pick('v1|v2|V1|jobs|JOBS|job|batch|cancel|queues|dead-letters|redrive||.|..|%2F|1|42|jobs%2F1|\u0000|\ud800'),
  text(12).filter((s) => !s.includes('/')),
);
const anyMethod = fc.oneof(
  fc.constantFrom(...VERBS),
  fc.constantFrom(...VERBS).map((m) => m.toLowerCase()),
  fc.constantFrom('', 'FOO', 'G E T', 'GET\u0000'),
);
const routeRequests = fc.oneof(
  fc
    .tuple(fc.array(weirdSegment, { maxLength: 6 }), fc.boolean(), anyMethod)
    .map(([segs, slash, method]) => ({ path: `${slash ? '/' : ''}${segs.join('/')}`, method }))
    .filter(({ path }) => documented(path) === undefined)
    .map(({ path, method }) => req({ method, path, headers: {}, expect: [404], label: 'unknown route' })),
  fc
    .tuple(
      fc.constantFrom(...OPS.map((o) => o.segs)),
      fc.oneof(
        jobId,
        text(12, 1).filter((s) => !s.includes('/')),
      ),
      anyMethod,
      fc.option(validJob, { nil: undefined }),
    )
    .map(([segs, id, method, body]) => ({ path: `/${segs.map((s) => (s.startsWith('{') ? id : s)).join('/')}`, method, body }))
    .filter(({ path, method }) => !(method.toUpperCase() in (documented(path)?.methods ?? {})))
    .map(({ path, method, body }) =>
      req({ method, path, headers: body ? ct : {}, ...(body ? { body: stringify(body) } : {}), expect: [405], label: 'wrong method' }),
    ),
);

/** Job ids in paths: malformed ones are 400, well-formed unknown ones 404. */
const badId = fc
  .oneof(
    pick("abc|0|00|-1|+1|1.5|01|1e3|0x1F| 1|1 |%31|1%00|１|١٢|NaN|null|1' OR '1'='1|1;DROP TABLE jobs"),
    fc.constantFrom('9223372036854775808', '18446744073709551616', '99999999999999999999', '-9223372036854775808'),
    fc.bigInt({ min: MAX_ID + 1n, max: 10n ** 19n - 1n }).map(String),
    text(25, 1),
    fc.tuple(jobId, badChar, fc.nat()).map(([id, c, at]) => insert(id, c, at)),
  )
  .filter((s) => !s.includes('/') && s !== '' && !isJobId(s) && s !== 'batch' && s !== 'redrive');
const ID_ROUTES: Array<[string, (id: string) => string]> = [
  ['GET', (id) => `/v1/jobs/${id}`],
  ['POST', (id) => `/v1/jobs/${id}/cancel`],
  ['DELETE', (id) => `/v1/dead-letters/${id}`],
];
const idRequests = fc
  .tuple(
    fc.constantFrom(...ID_ROUTES),
    fc.oneof({ weight: 4, arbitrary: badId }, { weight: 1, arbitrary: jobId }),
    fc.option(fc.constantFrom('id=1', 'after=2', 'x=%00'), { nil: undefined }),
  )
  .map(([[method, path], id, query]) =>
    req({
      method,
      path: path(id),
      headers: {},
      ...(query ? { query } : {}),
      expect: isJobId(id) ? [404] : [400],
      label: isJobId(id) ? 'unknown id' : 'malformed id',
    }),
  );

/** GET /v1/dead-letters with one bad query parameter. */
const validLimit = (v: string) => /^[0-9]{1,3}$/.test(v) && Number(v) >= 1 && Number(v) <= 100;
const PARAMS = ['queue', 'type', 'after', 'limit'];
const goodQuery = fc.record(
  {
    queue: text(30).filter((s) => s !== ''),
    type: text(60).filter((s) => s !== ''),
    after: jobId,
    limit: fc.integer({ min: 1, max: 100 }).map(String),
  },
  { requiredKeys: [] },
);
const bp = (label: string, pairs: Array<[string, string]>): [string, Array<[string, string]>] => [label, pairs];
/** encodeURIComponent throws on lone surrogates: those cannot be sent in a query string. */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const badParam: fc.Arbitrary<[string, Array<[string, string]>]> = fc.oneof(
  fc
    .oneof(text(8, 1), fc.constantFrom('0', '101', '1000', '-1', '5.5', '1e2', ' 5', '5 ', '0x10', '१०', '+5', '00'))
    .filter((v) => !validLimit(v))
    .map((v) => bp('bad limit', [['limit', v]])),
  badId.filter((v) => !LONE.test(v)).map((v) => bp('bad after', [['after', v]])),
  fc.integer({ min: 64, max: 300 }).map((n) => bp('queue too long', [['queue', 'q'.repeat(n)]])),
  fc.integer({ min: 129, max: 400 }).map((n) => bp('type too long', [['type', 't'.repeat(n)]])),
  fc
    .tuple(
      text(20).filter((k) => !PARAMS.includes(k)),
      text(20, 1),
    )
    .map(([k, v]) => bp('unknown parameter', [[k, v]])),
  fc.tuple(fc.constantFrom(...PARAMS), fc.integer({ min: 1, max: 100 })).map(([k, n]) =>
    bp('repeated parameter', [
      [k, String(n)],
      [k, String(n + 1)],
    ]),
  ),
  fc.tuple(fc.constantFrom(...PARAMS, 'x'), fc.boolean()).map(([k, inKey]) => bp('NUL', [inKey ? [`${k}\u0000`, '1'] : [k, '1\u0000']])),
);
const deadLetterRequests = fc.tuple(goodQuery, badParam, fc.nat()).map(([good, [label, bad], at]) => {
  const pairs: Array<[string, string]> = Object.entries(good).filter(([k]) => !bad.some(([b]) => b === k));
  pairs.splice(at % (pairs.length + 1), 0, ...bad);
  const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return req({ method: 'GET', path: '/v1/dead-letters', query, headers: {}, expect: [400], label });
});

/** POST /v1/jobs: one body mutation or one wire mutation. */
const singleRequests = bodyRequest('/v1/jobs', validJob, (v) => itemMutation(v, 'single'));

/** POST /v1/jobs with an Idempotency-Key header that is empty, over 255, holds NUL or a lone surrogate. */
const headerRequests = fc
  .tuple(
    validJob,
    fc.oneof(
      badIdemKey,
      fc.tuple(text(20), surrogate, fc.nat()).map(([s, c, at]) => insert(s, c, at)),
    ),
    fc.constantFrom('idempotency-key', 'Idempotency-Key', 'IDEMPOTENCY-KEY'),
  )
  .map(([v, key, name]) =>
    req({
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...ct, [name]: key },
      body: stringify(v),
      expect: [400],
      label: 'bad Idempotency-Key',
      issuePath: ['headers', 'idempotency-key'],
    }),
  );

/** POST /v1/jobs/batch: one bad item among good ones, a bad envelope, a header it refuses, or bad bytes. */
const validBatch = fc.array(validItem, { minLength: 1, maxLength: 5 }).map((jobs) => ({ jobs }) as Rec);
const batchMutation = (b: Rec): fc.Arbitrary<Mut & { badIndex?: number }> => {
  const jobs = b.jobs as Rec[];
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.nat(jobs.length - 1).chain((i) =>
        itemMutation(jobs[i] as Rec, 'batch').map((m) => ({
          ...mut(`jobs[${i}]: ${m.label}`, (o) => ({ jobs: (o.jobs as Rec[]).map((j, k) => (k === i ? m.apply(j) : j)) }), m.expect),
          badIndex: i,
        })),
      ),
    },
    {
      weight: 1,
      arbitrary: anyJson
        .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
        .map((v) => mut('batch not an object', () => v)),
    },
    { weight: 1, arbitrary: fc.constant(mut('a bare array', (o) => o.jobs)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          text(20).filter((k) => k !== 'jobs'),
          anyJson,
        )
        .map(([k, v]) => mut('unknown key', set(k, v))),
    },
    { weight: 1, arbitrary: fc.constant(mut('no jobs', omit('jobs'))) },
    { weight: 1, arbitrary: anyJson.filter((v) => !Array.isArray(v)).map((v) => mut('jobs not an array', set('jobs', v))) },
    { weight: 1, arbitrary: fc.constant(mut('empty batch', set('jobs', []))) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 501, max: 520 })
        .map((n) =>
          mut(`${n} jobs`, (o) => ({ jobs: Array.from({ length: n }, (_, k) => (o.jobs as Rec[])[k % (o.jobs as Rec[]).length]) })),
        ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...FORBIDDEN), anyJson).map(([k, v]) => mut(`top-level ${k}`, set(k, v))) },
  );
};
const batchHeader = fc.tuple(validBatch, text(20, 1)).map(([b, key]) =>
  req({
    method: 'POST',
    path: '/v1/jobs/batch',
    headers: { ...ct, 'idempotency-key': key },
    body: stringify(b),
    expect: [400],
    label: 'Idempotency-Key on a batch',
  }),
);
const batchRequests = bodyRequest('/v1/jobs/batch', validBatch, batchMutation, batchHeader);

/** POST /v1/dead-letters/redrive: a filter the API refuses. */
const validRedrive: fc.Arbitrary<Rec> = fc
  .tuple(
    fc.oneof(
      fc.array(jobId, { minLength: 1, maxLength: 5 }).map((ids) => ({ ids }) as Rec),
      fc.record({ queue: queueName, type: text(40, 1) }, { requiredKeys: [] }).filter((r) => Object.keys(r).length > 0),
    ),
    fc.option(queueName, { nil: undefined }),
  )
  .map(([f, to]) => (to === undefined ? f : { ...f, toQueue: to }));
const redriveMutation: fc.Arbitrary<Mut> = fc.oneof(
  fc.option(queueName, { nil: undefined }).map((to) => mut('no filter', () => (to === undefined ? {} : { toQueue: to }))),
  fc.constant(mut('no ids', (o) => ({ ...omit('queue')(omit('type')(o)), ids: [] }))),
  fc
    .integer({ min: 1001, max: 1050 })
    .map((n) => mut(`${n} ids`, (o) => ({ ...omit('queue')(omit('type')(o)), ids: Array.from({ length: n }, (_, k) => String(k + 1)) }))),
  fc.tuple(fc.oneof(badId, notA('string')), fc.nat()).map(([bad, at]) =>
    mut('a bad id', (o) => {
      const ids = Array.isArray(o.ids) ? [...o.ids] : [];
      ids.splice(at % (ids.length + 1), 0, bad);
      return { ...omit('queue')(omit('type')(o)), ids };
    }),
  ),
  anyJson.filter((v) => !Array.isArray(v)).map((v) => mut('ids not an array', (o) => ({ ...omit('queue')(omit('type')(o)), ids: v }))),
  fc
    .tuple(fc.array(jobId, { minLength: 1, maxLength: 3 }), fc.constantFrom('queue', 'type'), queueName)
    .map(([ids, k, v]) => mut(`ids and ${k}`, () => ({ ids, [k]: v }))),
  badQueue.map((v) => mut('bad queue', (o) => ({ ...omit('ids')(o), queue: v }))),
  badQueue.map((v) => mut('bad toQueue', set('toQueue', v))),
  badString(1, 128).map((v) => mut('bad type', (o) => ({ ...omit('ids')(o), type: v }))),
  fc
    .tuple(
      text(20).filter((k) => !['ids', 'queue', 'type', 'toQueue'].includes(k)),
      anyJson,
    )
    .map(([k, v]) => mut('unknown key', set(k, v))),
  anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => mut('not an object', () => v)),
  fc.tuple(fc.constantFrom(...FORBIDDEN), anyJson).map(([k, v]) => mut(`key ${k}`, set(k, v))),
  fc.tuple(badChar, fc.nat()).map(([c, at]) => mut('bad char', (o) => ({ ...omit('ids')(o), type: insert('dl', c, at) }))),
  fc.tuple(fc.integer({ min: 130, max: 3000 }), fc.boolean()).map(([d, arrays]) => mut(`nested ${d} deep`, set('deep', nest(d, arrays)))),
);
const redriveRequests = bodyRequest('/v1/dead-letters/redrive', validRedrive, () => redriveMutation);

// ---- the suite -------------------------------------------------------------------------------------------------

interface Tally {
  status: Map<number, number>;
  code: Map<string, number>;
  n: number;
}
const newTally = (): Tally => ({ status: new Map(), code: new Map(), n: 0 });
const show = <K>(m: Map<K, number>) =>
  [...m.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

function quietLogger() {
  const errors: string[] = [];
  const noop = () => {};
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: noop,
    error: (m, f) => void errors.push(`${m} ${JSON.stringify(f).slice(0, 500)}`),
  };
  return { logger, errors };
}

describe('hostile input: the API refuses bad requests in the documented shape and writes nothing', { concurrency: 1 }, async () => {
  const { sluice, pool, schema } = await testSluice({ poolSize: 4 });
  const log = quietLogger();
  let published = 0;
  const api: ApiHandler = createApi({ sluice, registry, publisher: { jobsEnqueued: () => void published++ }, logger: log.logger });
  const total = newTally();
  assert.deepEqual(Object.keys(PAYLOADS).sort(), KNOWN, 'a payload generator for every registered type');

  /** Send one hostile request and check everything a refusal must be. */
  async function refused(r: Req, tally: Tally): Promise<void> {
    const res = await api(toEvent(r));
    const status = res.statusCode ?? 0;
    const what = describeReq(r);
    assert.ok(status >= 400 && status < 500, `${status} for ${what}: ${res.body}`);
    assert.equal(res.headers?.['content-type'], 'application/json', what);
    const body = ErrorResponse.strict().parse(JSON.parse(res.body ?? ''));
    assert.deepEqual(
      Object.keys(body.error).filter((k) => !['code', 'message', 'issues'].includes(k)),
      [],
      what,
    );
    const { code, issues } = body.error;
    assert.ok(STABLE_CODES.has(code), `undocumented code ${code}: ${what}`);
    assert.equal(STATUS_OF_CODE.get(code), status, `code ${code} with status ${status}: ${what}`);
    assert.ok(r.expect.includes(status), `${status} ${code} (${body.error.message.slice(0, 200)}), expected ${r.expect}: ${what}`);
    const op = documented(r.path);
    const documentedStatuses = op?.methods[r.method.toUpperCase()];
    if (documentedStatuses) assert.ok(documentedStatuses.includes(status), `${status} is not documented for ${r.method} ${r.path}`);
    else if (op) assert.deepEqual([status, res.headers?.allow], [405, Object.keys(op.methods).join(', ')], what);
    else assert.equal(status, 404, what);
    if (r.badIndex !== undefined) {
      for (const is of issues ?? [])
        assert.deepEqual(is.path.slice(0, 2), ['jobs', r.badIndex], `issue ${JSON.stringify(is)} outside the bad item: ${what}`);
    }
    if (r.issuePath)
      assert.deepEqual(
        (issues ?? []).map((is) => is.path),
        [r.issuePath],
        what,
      );
    for (const t of [tally, total]) {
      t.n++;
      t.status.set(status, (t.status.get(status) ?? 0) + 1);
      t.code.set(code, (t.code.get(code) ?? 0) + 1);
    }
  }

  const rows = async () => {
    const { rows } = await pool.query(
      `SELECT (SELECT count(*) FROM "${schema}".jobs)::int AS jobs, (SELECT count(*) FROM "${schema}".active_jobs)::int AS active,
              (SELECT count(*) FROM "${schema}".job_steps)::int AS steps`,
    );
    return rows[0] as { jobs: number; active: number; steps: number };
  };

  const properties: Array<[string, fc.Arbitrary<Req>, number]> = [
    ['unknown routes and wrong methods', routeRequests, 1500],
    ['job ids in paths', idRequests, 1500],
    ['dead-letter query strings', deadLetterRequests, 1000],
    ['POST /v1/jobs bodies', singleRequests, 3000],
    ['Idempotency-Key headers', headerRequests, 500],
    ['POST /v1/jobs/batch', batchRequests, 2000],
    ['POST /v1/dead-letters/redrive', redriveRequests, 1000],
  ];

  it('control: the unmutated requests are accepted (on another schema), so every refusal below is the mutation', async (t) => {
    const control = await testSluice({ poolSize: 2 });
    const ok = createApi({ sluice: control.sluice, registry, publisher: { jobsEnqueued: () => {} }, logger: log.logger });
    const accepted = async (r: Req, statuses: number[]) => {
      const res = await ok(toEvent(r));
      assert.ok(statuses.includes(res.statusCode ?? 0), `${res.statusCode} ${res.body?.slice(0, 300)} for ${describeReq(r)}`);
    };
    const post = (path: string, v: Rec, b64: boolean, headers: Record<string, string>) =>
      req({ method: 'POST', path, headers, body: stringify(v), base64: b64, expect: [], label: 'valid' });
    const cases = fc.oneof(
      fc
        .tuple(validJob, fc.boolean(), goodHeaders, fc.option(idemKey, { nil: undefined }))
        .map(([v, b, h, k]) => [post('/v1/jobs', v, b, k ? { ...h, 'Idempotency-Key': k } : h), [200, 201]] as const),
      fc.tuple(validBatch, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/jobs/batch', v, b, h), [200, 201]] as const),
      fc.tuple(validRedrive, fc.boolean(), goodHeaders).map(([v, b, h]) => [post('/v1/dead-letters/redrive', v, b, h), [200]] as const),
      goodQuery.map(
        (q) =>
          [
            req({
              method: 'GET',
              path: '/v1/dead-letters',
              query: new URLSearchParams(q).toString(),
              headers: {},
              expect: [],
              label: 'valid',
            }),
            [200],
          ] as const,
      ),
    );
    await fc.assert(
      fc.asyncProperty(cases, ([r, statuses]) => accepted(r, [...statuses])),
      { numRuns: 200, seed: SEED, includeErrorInReport: true },
    );
    const { rows: n } = await control.pool.query(`SELECT count(*)::int AS n FROM "${control.schema}".jobs`);
    assert.ok(n[0].n > 0, 'the control wrote jobs');
    t.diagnostic(`figure: control requests accepted=200, jobs written on the control schema=${n[0].n}`);
  });

  for (const [name, arbitrary, numRuns] of properties) {
    it(`refuses ${numRuns} generated bad requests: ${name}`, async (t) => {
      t.diagnostic(`seed ${SEED} (set HOSTILE_SEED to change)`);
      const tally = newTally();
      const before = await rows();
      await fc.assert(
        fc.asyncProperty(arbitrary, (r) => refused(r, tally)),
        { numRuns, seed: SEED, includeErrorInReport: true },
      );
      assert.equal(tally.n, numRuns);
      assert.deepEqual(await rows(), before, 'nothing written');
      t.diagnostic(`figure: ${name}: ${tally.n} requests; status ${show(tally.status)}; code ${show(tally.code)}`);
    });
  }

  it('refuses an Idempotency-Key header holding a lone surrogate, writing nothing (bug: 500 after committing a job)', async () => {
    // Postgres text cannot hold a lone surrogate: pg sends it as U+FFFD, so the stored key differs from the one
    // given, enqueue never finds "its" row, gives up after 5 rounds (500) and leaves the job it inserted behind.
    const before = await rows();
    const r = req({
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...ct, 'idempotency-key': 'order-42\ud83d' },
      body: stringify({ type: 'process_order', payload: { orderId: '42' } }),
      expect: [400],
      label: 'lone surrogate key',
      issuePath: ['headers', 'idempotency-key'],
    });
    const res = await api(toEvent(r));
    const after = await rows();
    assert.deepEqual([res.statusCode, after], [400, before], `answered ${res.statusCode} ${res.body}`);
  });

  it('after every run: zero rows in every table of the schema, nothing published, nothing logged as an error', async (t) => {
    const { rows: tables } = await pool.query(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'sluice_migrations' ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      tables.map((r) => r.name),
      ['active_jobs', 'job_steps', 'jobs'],
    );
    for (const { name } of tables) {
      const { rows: n } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."${name}"`);
      assert.equal(n[0].n, 0, `${name} is empty`);
    }
    const { rows: s } = await pool.query(`SELECT is_called FROM "${schema}".jobs_id_seq`);
    assert.equal(published, 0, 'no JobsEnqueued event');
    assert.deepEqual(log.errors, [], 'no unhandled error');
    const sum = properties.reduce((a, [, , n]) => a + n, 0);
    assert.equal(total.n, sum);
    t.diagnostic(
      `figure: hostile requests=${total.n}; status ${show(total.status)}; code ${show(total.code)}; jobs id sequence used=${s[0].is_called}`,
    );
  });
});
