/**
 * The HTTP API under test (test/api/*.test.ts): the app of functions/api/app.ts over a fresh schema, with a
 * recording event sink and logger, and `call`, which checks what every answer must be (JSON, and the one
 * error shape for a failure).
 */
import assert from 'node:assert/strict';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { definitions } from '../../examples/definitions.js';
import { type ApiHandler, type ApiResult, createApi } from '../../functions/api/app.js';
import { ErrorResponse } from '../../functions/api/schemas.js';
import { EventPublisher } from '../../functions/shared/events.js';
import { defineJob, JobRegistry, type Logger, silentLogger } from '../../src/index.js';
import { type HttpEventInit, httpEvent, recordingSink } from './aws.js';
import { testSluice } from './db.js';

export interface Reply {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are checked against their schemas
  body: any;
}

/** Call the API; every response must be JSON, and every failure must have the one error shape. */
export async function send(api: ApiHandler, event: APIGatewayProxyEventV2): Promise<Reply> {
  const res: ApiResult = await api(event);
  const headers = Object.fromEntries(Object.entries(res.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  assert.equal(headers['content-type'], 'application/json', `content-type of ${event.rawPath}`);
  const body = JSON.parse(res.body ?? '');
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    ErrorResponse.strict().parse(body);
    assert.deepEqual(Object.keys(body), ['error']);
  }
  return { status, headers, body };
}

export function call(api: ApiHandler, method: string, target: string, init?: HttpEventInit): Promise<Reply> {
  return send(api, httpEvent(method, target, init));
}

/** Paths of the issues, dotted. */
export const paths = (r: Reply): string[] => (r.body.error.issues ?? []).map((i: { path: unknown[] }) => i.path.join('.'));

// ---- fixtures -------------------------------------------------------------------------------------------

export const storeNote = defineJob({ type: 'store_note', schema: z.object({ text: z.string() }), queue: 'notes' });
export const dlA = defineJob({ type: 'dl_a', schema: z.object({ n: z.number() }), queue: 'dl-api', timeout: 1000, maxAttempts: 1 });
export const dlB = defineJob({ type: 'dl_b', schema: z.object({ n: z.number() }), queue: 'dl-api', timeout: 1000, maxAttempts: 1 });
const SECRET = 'secret internals: password=hunter2';
/** A type whose payload schema throws an unexpected error carrying SECRET. */
export const explode = defineJob({
  type: 'explode',
  schema: z.object({}).transform(() => {
    throw new Error(SECRET);
  }),
});

export function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const enqueuedEvents = (entries: PutEventsRequestEntry[]) =>
  entries.filter((e) => e.DetailType === 'JobsEnqueued').map((e) => JSON.parse(e.Detail ?? '{}') as { queue: string; count: number });

/** A send_email request body. */
export const email = (userId: string) => ({ type: 'send_email', payload: { userId, to: `${userId}@example.com`, template: 'welcome' } });

/**
 * The API over a fresh schema, the example job types and the fixtures above, publishing to a recording sink
 * and logging to a recording logger.
 */
export async function testApi() {
  const { sluice, pool, schema } = await testSluice();
  const registry = new JobRegistry([...definitions, storeNote, dlA, dlB, explode]);
  const { sink, entries } = recordingSink();
  const publisher = new EventPublisher({ sink, busName: 'test-bus', source: 'sluice', logger: silentLogger });
  const log = recordingLogger();
  const api = createApi({ sluice, registry, publisher, logger: log.logger });
  /** How many job records the schema holds. */
  const count = async () => Number((await pool.query(`SELECT count(*) FROM "${schema}".jobs`)).rows[0].count);
  /** Flush the publisher and return the JobsEnqueued details it sent. */
  const flushed = async () => {
    entries.length = 0;
    await publisher.flush();
    return enqueuedEvents(entries);
  };
  return { sluice, pool, schema, registry, publisher, log, api, count, flushed };
}
