/**
 * The OpenAPI 3.1 document of the enqueue API, generated from the API's one list of routes
 * (functions/api/spec.ts, which its router is made from too), the same zod schemas the API validates with
 * (functions/api/schemas.ts), and each job type's payload schema (examples/definitions.ts).
 * `npm run openapi` writes docs/openapi.json; a test fails when the committed file is not current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { definitions } from '../examples/definitions.js';
import * as api from '../functions/api/schemas.js';
import { ROUTES, type RouteSpec } from '../functions/api/spec.js';
import type { JobDefinition } from '../src/index.js';

export const OPENAPI_FILE = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string) => ({ 'application/json': { schema: ref(id) } });
const error = (description: string) => ({ description, content: json('ErrorResponse') });
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

/** The paths, from the API's one list of routes (functions/api/spec.ts), which its router is made from too. */
function paths(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES as readonly RouteSpec[]) {
    const responses = Object.fromEntries(
      Object.entries(r.responses).map(([status, res]) => [
        status,
        res.schema
          ? { description: res.description, ...(res.headers ? { headers: res.headers } : {}), content: json(res.schema) }
          : error(res.description),
      ]),
    );
    out[r.path] ??= {};
    (out[r.path] as Record<string, unknown>)[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.parameters ? { parameters: r.parameters } : {}),
      ...(r.requestBody ? { requestBody: { required: true, content: json(r.requestBody) } } : {}),
      responses: { ...responses, ...(r.requestBody ? BODY_ERRORS : {}), ...COMMON_ERRORS },
    };
  }
  return out;
}

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
    paths: paths(),
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
