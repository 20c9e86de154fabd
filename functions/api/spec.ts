/**
 * Every route of the enqueue API, declared once: its method and path, and what the OpenAPI document says
 * of it. The router (`routes.ts`, one handler per `operationId`, checked by the compiler) and the OpenAPI
 * document (`scripts/openapi.ts`) are both made from this list, so neither can list a route the other
 * lacks. Schemas are named by their zod `.meta({ id })` in `schemas.ts`. Static paths come before paths
 * with parameters that could also match them (`/v1/jobs/batch` before `/v1/jobs/{id}`).
 */
import { MAX_BATCH } from './schemas.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** An OpenAPI parameter object, as the document shows it. */
export interface ParameterSpec {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Record<string, unknown>;
  description?: string;
  /** For a repeatable query parameter (`state=a&state=b`). */
  style?: 'form';
  explode?: boolean;
}

export interface ResponseSpec {
  description: string;
  /** The zod schema id of the body; the error shape when omitted on a 4xx. */
  schema?: string;
  headers?: Record<string, unknown>;
}

export interface RouteSpec {
  method: Method;
  path: `/v1/${string}`;
  operationId: string;
  summary: string;
  parameters?: readonly ParameterSpec[];
  /** The zod schema id of the JSON body, when the route takes one (413 and 415 then apply too). */
  requestBody?: string;
  responses: Readonly<Record<string, ResponseSpec>>;
}

const schemaRef = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const idParam: ParameterSpec = { name: 'id', in: 'path', required: true, schema: schemaRef('JobId') };
const queueParam: ParameterSpec = {
  name: 'queue',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' },
};
const query = (name: string, type: 'string' | 'integer'): ParameterSpec => ({ name, in: 'query', required: false, schema: { type } });
const dateQuery = (name: string, description: string): ParameterSpec => ({
  name,
  in: 'query',
  required: false,
  schema: { type: 'string', format: 'date-time' },
  description,
});
/** The job filter as query parameters (GET /v1/jobs and /v1/jobs/count). */
const filterQuery: readonly ParameterSpec[] = [
  {
    name: 'state',
    in: 'query',
    required: false,
    schema: { type: 'array', items: schemaRef('JobState') },
    style: 'form',
    explode: true,
    description: 'One state or several: repeat it (`state=dead&state=cancelled`) or separate with commas (`state=dead,cancelled`).',
  },
  query('queue', 'string'),
  query('type', 'string'),
  dateQuery('createdAfter', 'Created at or after this instant (ISO 8601 with a time zone).'),
  dateQuery('createdBefore', 'Created before this instant.'),
  dateQuery('finishedAfter', 'Finished (succeeded, dead or cancelled) at or after this instant.'),
  dateQuery('finishedBefore', 'Finished before this instant.'),
  { ...query('idempotencyKey', 'string'), description: "The job's own idempotency key." },
  { name: 'idFrom', in: 'query', required: false, schema: schemaRef('JobId'), description: 'The lowest id, inclusive.' },
  { name: 'idTo', in: 'query', required: false, schema: schemaRef('JobId'), description: 'The highest id, inclusive.' },
];
const bulkKey: ParameterSpec = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: schemaRef('IdempotencyKey'),
  description:
    'The same key again (within 24 h) with the same request answers the first answer (or finishes an interrupted action and answers the union), with Idempotent-Replayed: true; with another request, a 422.',
};
const replayed = { 'Idempotent-Replayed': { schema: { type: 'string', const: 'true' } } };
const conflict = { description: 'The Idempotency-Key was used for another request (IDEMPOTENCY_CONFLICT); nothing was done.' };

export const ROUTES = [
  {
    method: 'POST',
    path: '/v1/jobs',
    operationId: 'enqueueJob',
    summary: 'Enqueue one job',
    parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: schemaRef('IdempotencyKey') }],
    requestBody: 'EnqueueRequest',
    responses: {
      '201': { description: 'Enqueued.', schema: 'EnqueuedJob' },
      '200': {
        description: 'The Idempotency-Key was seen within its window: the first job, unchanged.',
        headers: { 'Idempotent-Replayed': { schema: { type: 'string', const: 'true' } } },
        schema: 'EnqueuedJob',
      },
    },
  },
  {
    method: 'GET',
    path: '/v1/jobs',
    operationId: 'listJobs',
    summary: 'Jobs matching a filter, newest first, a page at a time',
    parameters: [...filterQuery, query('before', 'string'), query('limit', 'integer')],
    responses: { '200': { description: 'A page.', schema: 'JobListResponse' } },
  },
  {
    method: 'GET',
    path: '/v1/jobs/count',
    operationId: 'countJobs',
    summary: 'How many jobs a filter matches (ask before a bulk action)',
    parameters: filterQuery,
    responses: { '200': { description: 'The count.', schema: 'JobCountResponse' } },
  },
  {
    method: 'POST',
    path: '/v1/jobs/cancel',
    operationId: 'cancelMatchingJobs',
    summary: 'Cancel every live job a filter matches, at most 1,000 per statement',
    parameters: [bulkKey],
    requestBody: 'CancelMatchingRequest',
    responses: {
      '200': {
        description: 'The jobs cancelled, or (a replay) those of the first answer.',
        headers: replayed,
        schema: 'CancelMatchingResponse',
      },
      '422': conflict,
    },
  },
  {
    method: 'POST',
    path: '/v1/jobs/batch',
    operationId: 'enqueueJobs',
    summary: `Enqueue 1 to ${MAX_BATCH} jobs atomically`,
    requestBody: 'BatchEnqueueRequestDoc',
    responses: { '201': { description: 'All enqueued (or replayed), in input order.', schema: 'BatchEnqueueResponse' } },
  },
  {
    method: 'GET',
    path: '/v1/jobs/{id}',
    operationId: 'getJob',
    summary: 'A job with its current state, payload, error history and timeline',
    parameters: [idParam],
    responses: { '200': { description: 'The job.', schema: 'JobWithTimeline' }, '404': { description: 'No such job.' } },
  },
  {
    method: 'POST',
    path: '/v1/jobs/{id}/cancel',
    operationId: 'cancelJob',
    summary: 'Cancel a job: at once if not running, at its next heartbeat if running',
    parameters: [idParam],
    responses: {
      '200': { description: 'Cancelled, or cancelling.', schema: 'CancelResponse' },
      '404': { description: 'No such job.' },
      '409': { description: 'The job has finished.' },
    },
  },
  {
    method: 'GET',
    path: '/v1/queues',
    operationId: 'listQueues',
    summary: 'Per-queue counts',
    responses: { '200': { description: 'The queues.', schema: 'QueuesResponse' } },
  },
  {
    method: 'POST',
    path: '/v1/queues/{queue}/pause',
    operationId: 'pauseQueue',
    summary: 'Pause a queue: its workers claim nothing (running jobs finish); enqueue still works; survives restarts',
    parameters: [queueParam],
    responses: { '200': { description: 'Paused.', schema: 'QueuePauseResponse' } },
  },
  {
    method: 'POST',
    path: '/v1/queues/{queue}/resume',
    operationId: 'resumeQueue',
    summary: 'Resume a paused queue',
    parameters: [queueParam],
    responses: { '200': { description: 'Resumed.', schema: 'QueuePauseResponse' } },
  },
  {
    method: 'GET',
    path: '/v1/dead-letters',
    operationId: 'listDeadLetters',
    summary: 'Dead letters in id order, filtered by queue and type, a page at a time',
    parameters: [query('queue', 'string'), query('type', 'string'), query('after', 'string'), query('limit', 'integer')],
    responses: { '200': { description: 'A page.', schema: 'DeadLetterListResponse' } },
  },
  {
    method: 'POST',
    path: '/v1/dead-letters/redrive',
    operationId: 'redriveDeadLetters',
    summary: 'Put dead letters back in the queue, attempts reset: by ids or by a filter, at most 1,000 per statement',
    parameters: [bulkKey],
    requestBody: 'RedriveRequest',
    responses: { '200': { description: 'The ids redriven.', headers: replayed, schema: 'RedriveResponse' }, '422': conflict },
  },
  {
    method: 'POST',
    path: '/v1/dead-letters/purge',
    operationId: 'purgeDeadLetters',
    summary: 'Delete dead letters for good: by ids or by a filter, at most 1,000 per statement',
    parameters: [bulkKey],
    requestBody: 'PurgeRequest',
    responses: { '200': { description: 'The ids purged.', headers: replayed, schema: 'PurgeMatchingResponse' }, '422': conflict },
  },
  {
    method: 'DELETE',
    path: '/v1/dead-letters/{id}',
    operationId: 'purgeDeadLetter',
    summary: 'Delete one dead letter for good',
    parameters: [idParam],
    responses: { '200': { description: 'Purged.', schema: 'PurgeResponse' }, '404': { description: 'No such dead letter.' } },
  },
] as const satisfies readonly RouteSpec[];

export type OperationId = (typeof ROUTES)[number]['operationId'];
