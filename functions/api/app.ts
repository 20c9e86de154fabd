/**
 * The enqueue HTTP API (`/v1`) as a plain function of an API Gateway HTTP API (payload format 2.0) event:
 * no AWS needed, so tests call it directly and a local server can reuse it. `handler.ts` wraps it for Lambda.
 *
 * Every failure has one shape, `{ error: { code, message, issues? } }`. Payloads are validated by the
 * library against each job type's own schema (`sluice.enqueue` / `enqueueMany`), so the API and the
 * worker share definitions. All SQL is parameterised in the library; nothing here builds SQL.
 *
 * This file wires the API together: matching a path to a route and dispatching to it. The routes and their
 * handlers are in `routes.ts`; reading requests, responses and the error mapping are in `http.ts`.
 */
import type { Context } from 'aws-lambda';
import type { JobRegistry } from '../../src/define.js';
import type { Logger } from '../../src/logger.js';
import { truncate } from '../../src/logger.js';
import type { Sluice } from '../../src/sluice.js';
import { type ApiEvent, type ApiResult, errorResponse, HttpError } from './http.js';
import { createRoutes, type Route } from './routes.js';

export type { ApiEvent, ApiResult } from './http.js';
export { HttpError } from './http.js';

export type ApiHandler = (event: ApiEvent, context?: Context) => Promise<ApiResult>;

export interface ApiOptions {
  sluice: Sluice;
  /** The job types this API accepts, by name. */
  registry: JobRegistry;
  /** Told about committed new jobs (`jobsEnqueued`); the caller flushes it after the response. */
  publisher: { jobsEnqueued(queue: string, count: number): void };
  logger: Logger;
}

/** Build the API. The returned function never throws: every failure becomes an error response. */
export function createApi(options: ApiOptions): ApiHandler {
  const { logger } = options;
  const routes = createRoutes(options);

  // ---- routing -----------------------------------------------------------------------------------

  function match(path: string): { methods: Record<string, Route>; params: Record<string, string> } | undefined {
    const segments = path.split('/').slice(1);
    if (!path.startsWith('/')) return undefined;
    for (const r of routes) {
      if (r.pattern.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const ok = r.pattern.every((p, i) => {
        const s = segments[i] as string;
        if (p.startsWith(':')) {
          params[p.slice(1)] = s;
          return s.length > 0;
        }
        return p === s;
      });
      if (ok) return { methods: r.methods, params };
    }
    return undefined;
  }

  // ---- dispatch ----------------------------------------------------------------------------------

  return async (event, context) => {
    const requestId = event.requestContext?.requestId ?? context?.awsRequestId;
    const method = (event.requestContext?.http?.method ?? '').toUpperCase();
    const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
    try {
      const found = match(path);
      if (!found) throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${truncate(path, 200)}`);
      const route = found.methods[method];
      if (!route) {
        const allow = Object.keys(found.methods).join(', ');
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allow}`, undefined, { allow });
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
      return await route({ method, path, headers, params: found.params, event, requestId });
    } catch (err) {
      return errorResponse(err, { logger, requestId, method, path });
    }
  };
}
