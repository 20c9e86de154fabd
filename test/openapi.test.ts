import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildOpenApi, OPENAPI_FILE, renderOpenApi } from '../scripts/openapi.js';

describe('OpenAPI document', () => {
  it('the committed docs/openapi.json is current (run `npm run openapi` after changing the API schemas)', () => {
    assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), renderOpenApi());
  });

  it('is OpenAPI 3.1 with every route and every $ref resolving', () => {
    const doc = buildOpenApi() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    assert.equal(doc.openapi, '3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    assert.deepEqual(routes.sort(), [
      'DELETE /v1/dead-letters/{id}',
      'GET /v1/dead-letters',
      'GET /v1/jobs',
      'GET /v1/jobs/count',
      'GET /v1/jobs/{id}',
      'GET /v1/queues',
      'POST /v1/dead-letters/purge',
      'POST /v1/dead-letters/redrive',
      'POST /v1/jobs',
      'POST /v1/jobs/batch',
      'POST /v1/jobs/cancel',
      'POST /v1/jobs/{id}/cancel',
      'POST /v1/queues/{queue}/pause',
      'POST /v1/queues/{queue}/resume',
    ]);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(refs.length > 20);
    for (const r of new Set(refs)) assert.ok(r in doc.components.schemas, `unresolved $ref ${r}`);
    assert.ok('Payload_send_email' in doc.components.schemas, "each job type's payload schema is included");
  });
});
