/** Request bodies of every route that takes one: JSON only, at most 1 MiB, base64, no prototype keys. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_BODY_BYTES } from '../../functions/api/schemas.js';
import { call, email, paths, send, testApi } from '../helpers/api.js';
import { httpEvent } from '../helpers/aws.js';

describe('enqueue API', async () => {
  const { sluice, api, count, flushed } = await testApi();

  describe('request bodies', () => {
    it('400 INVALID_JSON for malformed JSON and an empty body', async () => {
      for (const body of ['{"type": "send_email", ', '', 'undefined', "{'a':1}"]) {
        const r = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.error.code, 'INVALID_JSON');
      }
    });

    it('415 for a content type other than application/json; charset utf-8 is fine', async () => {
      const body = JSON.stringify(email('ct'));
      for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1', 'application/jsonp']) {
        const r = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': ct } });
        assert.equal(r.status, 415, ct);
        assert.equal(r.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
      }
      const event = httpEvent('POST', '/v1/dead-letters/redrive', { body: { queue: 'dl-api' } });
      delete event.headers['content-type'];
      assert.equal((await send(api, event)).status, 415, 'no content type at all');
      const ok = await call(api, 'POST', '/v1/jobs', { body, headers: { 'content-type': 'Application/JSON; charset="UTF-8"' } });
      assert.equal(ok.status, 201);
      await flushed();
    });

    it('413 for a body over 1 MiB, counting decoded bytes when base64-encoded', async () => {
      const before = await count();
      const big = JSON.stringify({ type: 'store_note', payload: { text: 'x'.repeat(MAX_BODY_BYTES) } });
      const raw = await call(api, 'POST', '/v1/jobs', { body: big });
      assert.equal(raw.status, 413);
      assert.equal(raw.body.error.code, 'REQUEST_TOO_LARGE');
      const encoded = await call(api, 'POST', '/v1/jobs', { body: big, base64: true });
      assert.equal(encoded.status, 413);
      assert.equal(encoded.body.error.code, 'REQUEST_TOO_LARGE');
      // 900 KiB decoded is under the body limit although its base64 form is over it: the body passes and the
      // library's payload limit (256 KiB) answers instead.
      const under = JSON.stringify({ type: 'store_note', payload: { text: 'x'.repeat(900 * 1024) } });
      assert.ok(Buffer.from(under).toString('base64').length > MAX_BODY_BYTES);
      const decoded = await call(api, 'POST', '/v1/jobs', { body: under, base64: true });
      assert.equal(decoded.status, 413);
      assert.equal(decoded.body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(await count(), before);
    });

    it('accepts a base64-encoded body, and refuses one that is not UTF-8', async () => {
      const ok = await call(api, 'POST', '/v1/jobs', { body: { type: 'store_note', payload: { text: 'héllo ✓' } }, base64: true });
      assert.equal(ok.status, 201);
      assert.deepEqual((await sluice.getJob(ok.body.id))?.payload, { text: 'héllo ✓' });
      const event = httpEvent('POST', '/v1/jobs', { body: '{}' });
      event.body = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]).toString('base64');
      event.isBase64Encoded = true;
      const bad = await send(api, event);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'INVALID_JSON');
      await flushed();
    });

    it('refuses __proto__, constructor and prototype keys anywhere, naming where', async () => {
      const before = await count();
      const cases: Array<[string, string, string]> = [
        ['/v1/jobs', '{"__proto__": {"polluted": true}, "type": "store_note", "payload": {"text": "a"}}', '__proto__'],
        [
          '/v1/jobs',
          '{"type": "store_note", "payload": {"text": "a", "m": {"constructor": {"prototype": {"polluted": true}}}}}',
          'payload.m.constructor',
        ],
        [
          '/v1/jobs/batch',
          '{"jobs": [{"type": "store_note", "payload": {"text": "a"}}, {"type": "store_note", "payload": [{"prototype": 1}]}]}',
          'jobs.1.payload.0.prototype',
        ],
        ['/v1/dead-letters/redrive', '{"queue": "dl-api", "__proto__": {"isAdmin": true}}', '__proto__'],
      ];
      for (const [path, body, where] of cases) {
        const r = await call(api, 'POST', path, { body });
        assert.equal(r.status, 400, body);
        assert.equal(r.body.error.code, 'FORBIDDEN_KEY');
        assert.deepEqual(paths(r), [where]);
      }
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(({} as { isAdmin?: unknown }).isAdmin, undefined);
      assert.equal(await count(), before);
    });

    it('refuses strings with lone surrogates (jsonb cannot store them) and absurd nesting', async () => {
      const surrogate = await call(api, 'POST', '/v1/jobs', { body: '{"type": "store_note", "payload": {"text": "a\\ud800b"}}' });
      assert.equal(surrogate.status, 400);
      assert.deepEqual(paths(surrogate), ['payload.text']);
      const nul = await call(api, 'POST', '/v1/jobs', { body: '{"type": "store_note", "payload": {"text": "a\\u0000b"}}' });
      assert.deepEqual([nul.status, paths(nul)], [400, ['payload.text']], 'a real NUL');
      // A literal backslash followed by "u0000" (escaped in the JSON as \\u0000) is text like any other.
      const literal = await call(api, 'POST', '/v1/jobs', { body: '{"type": "store_note", "payload": {"text": "a\\\\u0000b"}}' });
      assert.equal(literal.status, 201, JSON.stringify(literal.body));
      assert.equal(((await sluice.getJob(literal.body.id)) as { payload?: { text?: string } }).payload?.text, 'a\\u0000b');
      const deep = `{"type": "store_note", "payload": {"text": "a", "d": ${'['.repeat(200)}${']'.repeat(200)}}}`;
      const nested = await call(api, 'POST', '/v1/jobs', { body: deep });
      assert.equal(nested.status, 400);
      assert.equal(nested.body.error.code, 'INVALID_JSON');
    });
  });
});
