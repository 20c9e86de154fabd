/**
 * The OpenAPI 3.1 document of the enqueue API, generated from the same zod schemas the API validates
 * with (functions/api/schemas.ts) and from each job type's payload schema (examples/definitions.ts).
 * `npm run openapi` writes docs/openapi.json; a test fails when the committed file is not current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { definitions } from '../examples/definitions.js';
import * as api from '../functions/api/schemas.js';
import type { JobDefinition } from '../src/index.js';

export const OPENAPI_FILE = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string) => ({ 'application/json': { schema: ref(id) } });
const error = (description: string) => ({ description, content: json('ErrorResponse') });
const idParam = { name: 'id', in: 'path', required: true, schema: ref('JobId') };
const queueParam = { name: 'queue', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' } };
const COMMON_ERRORS = {
  '400': error('Invalid request: bad JSON, unknown keys, wrong types, an unknown job type, a queue without a worker, an invalid payload.'),
  '503': {
    description:
      'The database is unavailable; retry after the given seconds. Usually nothing was written; but when the connection failed after the commit the job exists, so retry with the same Idempotency-Key to get that job (200) instead of a second one.',
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
    content: json('ErrorResponse'),
  },
  '500': error('An unexpected error; the message reveals nothing internal.'),
};
const BODY_ERRORS = {
  '413': error('The body (1 MiB) or a payload is over its size limit.'),
  '415': error('The body is not application/json.'),
};

function payloadSchemas(defs: readonly JobDefinition[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of defs) {
    out[`Payload_${d.type}`] = {
      ...(z.toJSONSchema(d.schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>),
      description: `The payload of \`${d.type}\` (queue \`${d.queue}\`, ${d.maxAttempts} attempts, timeout ${d.timeout} ms).`,
    };
    delete (out[`Payload_${d.type}`] as Record<string, unknown>).$schema;
  }
  return out;
}

export function buildOpenApi(): Record<string, unknown> {
  const registry = z.toJSONSchema(z.globalRegistry, {
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, Record<string, unknown>> };
  const schemas: Record<string, unknown> = {};
  for (const [id, schema] of Object.entries(registry.schemas).sort(([a], [b]) => a.localeCompare(b))) {
    const { $schema: _drop, $id: _id, ...rest } = schema;
    schemas[id] = rest;
  }
  void api; // the import registers the API schemas in zod's global registry
  return {
    openapi: '3.1.0',
    info: {
      title: 'sluice enqueue API',
      version: '1.0.0',
      description:
        'Enqueue jobs into sluice, read them back, cancel them, and manage dead letters. Every failure answers `{ "error": { "code", "message", "issues"? } }`.',
    },
    security: [{ sigv4: [] }],
    paths: {
      '/v1/jobs': {
        post: {
          operationId: 'enqueueJob',
          summary: 'Enqueue one job',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: ref('IdempotencyKey') }],
          requestBody: { required: true, content: json('EnqueueRequest') },
          responses: {
            '201': { description: 'Enqueued.', content: json('EnqueuedJob') },
            '200': {
              description: 'The Idempotency-Key was seen within its window: the first job, unchanged.',
              headers: { 'Idempotent-Replayed': { schema: { type: 'string', const: 'true' } } },
              content: json('EnqueuedJob'),
            },
            ...BODY_ERRORS,
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/jobs/batch': {
        post: {
          operationId: 'enqueueJobs',
          summary: `Enqueue 1 to ${api.MAX_BATCH} jobs atomically`,
          requestBody: { required: true, content: json('BatchEnqueueRequestDoc') },
          responses: {
            '201': { description: 'All enqueued (or replayed), in input order.', content: json('BatchEnqueueResponse') },
            ...BODY_ERRORS,
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          operationId: 'getJob',
          summary: 'A job with its current state, payload and error history',
          parameters: [idParam],
          responses: { '200': { description: 'The job.', content: json('JobDetail') }, '404': error('No such job.'), ...COMMON_ERRORS },
        },
      },
      '/v1/jobs/{id}/cancel': {
        post: {
          operationId: 'cancelJob',
          summary: 'Cancel a job: at once if not running, at its next heartbeat if running',
          parameters: [idParam],
          responses: {
            '200': { description: 'Cancelled, or cancelling.', content: json('CancelResponse') },
            '404': error('No such job.'),
            '409': error('The job has finished.'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/queues': {
        get: {
          operationId: 'listQueues',
          summary: 'Per-queue counts',
          responses: { '200': { description: 'The queues.', content: json('QueuesResponse') }, ...COMMON_ERRORS },
        },
      },
      '/v1/queues/{queue}/pause': {
        post: {
          operationId: 'pauseQueue',
          summary: 'Pause a queue: its workers claim nothing (running jobs finish); enqueue still works; survives restarts',
          parameters: [queueParam],
          responses: { '200': { description: 'Paused.', content: json('QueuePauseResponse') }, ...COMMON_ERRORS },
        },
      },
      '/v1/queues/{queue}/resume': {
        post: {
          operationId: 'resumeQueue',
          summary: 'Resume a paused queue',
          parameters: [queueParam],
          responses: { '200': { description: 'Resumed.', content: json('QueuePauseResponse') }, ...COMMON_ERRORS },
        },
      },
      '/v1/dead-letters': {
        get: {
          operationId: 'listDeadLetters',
          summary: 'Dead letters in id order, filtered by queue and type, a page at a time',
          parameters: ['queue', 'type', 'after', 'limit'].map((name) => ({
            name,
            in: 'query',
            required: false,
            schema: { type: name === 'limit' ? 'integer' : 'string' },
          })),
          responses: { '200': { description: 'A page.', content: json('DeadLetterListResponse') }, ...COMMON_ERRORS },
        },
      },
      '/v1/dead-letters/redrive': {
        post: {
          operationId: 'redriveDeadLetters',
          summary: 'Put dead letters back in the queue, attempts reset: by ids or by queue and/or type',
          requestBody: { required: true, content: json('RedriveRequest') },
          responses: { '200': { description: 'The ids redriven.', content: json('RedriveResponse') }, ...BODY_ERRORS, ...COMMON_ERRORS },
        },
      },
      '/v1/dead-letters/{id}': {
        delete: {
          operationId: 'purgeDeadLetter',
          summary: 'Delete one dead letter for good',
          parameters: [idParam],
          responses: {
            '200': { description: 'Purged.', content: json('PurgeResponse') },
            '404': error('No such dead letter.'),
            ...COMMON_ERRORS,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'AWS Signature Version 4 (the HTTP API uses IAM authorization).',
        },
      },
      schemas: { ...schemas, ...payloadSchemas(definitions) },
    },
  };
}

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApi(), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(OPENAPI_FILE, renderOpenApi());
  console.log(`wrote ${OPENAPI_FILE}`);
}
