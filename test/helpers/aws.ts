import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { EventSink } from '../../functions/shared/events.js';
import type { MetricsSink } from '../../functions/shared/metricsSink.js';

/** An EventSink that records what it was given (and can fail chosen calls). */
export function recordingSink(fail: (entries: PutEventsRequestEntry[]) => boolean = () => false) {
  const entries: PutEventsRequestEntry[] = [];
  const calls: number[] = [];
  const sink: EventSink = {
    async put(batch) {
      calls.push(batch.length);
      if (fail(batch)) throw new Error('EventBridge unavailable');
      entries.push(...batch);
      return { failed: [] };
    },
  };
  const details = (type: string) => entries.filter((e) => e.DetailType === type).map((e) => JSON.parse(e.Detail as string));
  return { sink, entries, calls, details };
}

/** A MetricsSink that records metrics with the dimensions in force when they were added. */
export function recordingMetrics() {
  const recorded: Array<{ name: string; unit: string; value: number; dimensions: Record<string, string> }> = [];
  let dimensions: Record<string, string> = {};
  let defaults: Record<string, string> = {};
  let published = 0;
  const metrics: MetricsSink = {
    addDimension(name, value) {
      dimensions = { ...dimensions, [name]: value };
    },
    setDefaultDimensions(d) {
      defaults = { ...defaults, ...d };
    },
    addMetric(name, unit, value) {
      recorded.push({ name, unit, value, dimensions: { ...defaults, ...dimensions } });
    },
    publishStoredMetrics() {
      published++;
      dimensions = {}; // as Powertools: per-flush dimensions go, default dimensions stay
    },
  };
  return {
    metrics,
    recorded,
    published: () => published,
    sum: (name: string) => recorded.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0),
  };
}

/** An EventBridge event as a rule delivers it to Lambda. */
export function eventBridgeEvent<D>(detailType: string, detail: D, source = 'sluice') {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': detailType,
    source,
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: detailType === 'Scheduled Event' ? ['arn:aws:events:eu-west-1:123456789012:rule/sluice-emails-schedule'] : [],
    detail,
  };
}

/** A Lambda context whose remaining time counts down from `remainingMs`, with a fresh request id. */
export function lambdaContext(remainingMs: number, name = 'sluice-fn'): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: '2026/11/24/[$LATEST]abc',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
}

/** What an API Gateway request carries besides its method and path. */
export interface HttpEventInit {
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  /** Over the default headers. Names are lower-cased, as API Gateway delivers them, unless `raw`. */
  headers?: Record<string, string>;
  /** true: the body travels base64-encoded; 'raw': the body is base64 already (or meant to be), only flagged so. */
  base64?: boolean | 'raw';
  /** The raw query string; without it, whatever follows the first `?` of the target. */
  query?: string;
  /**
   * The request's own headers exactly as given (names not lower-cased), beside host and user-agent only: no
   * accept, and no content type or length for a body. For tests of what the API makes of odd headers.
   */
  raw?: boolean;
}

let requestSeq = 0;

/**
 * A realistic API Gateway HTTP API (payload format 2.0) event: `target` is the path with an optional
 * query string. A body gets a JSON content type and its length unless `raw` (or the headers say otherwise).
 */
export function httpEvent(method: string, target: string, init: HttpEventInit = {}): APIGatewayProxyEventV2 {
  const q = target.indexOf('?');
  const rawPath = init.query !== undefined || q < 0 ? target : target.slice(0, q);
  const rawQueryString = init.query ?? (q < 0 ? '' : target.slice(q + 1));
  const text = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers: Record<string, string> = { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'user-agent': 'sluice-test' };
  if (!init.raw) {
    Object.assign(headers, { accept: 'application/json', 'x-forwarded-proto': 'https' });
    if (text !== undefined)
      Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  }
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[init.raw ? k : k.toLowerCase()] = v;
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    ...(rawQueryString ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'sluice-test' },
      requestId: `req-${++requestSeq}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(text === undefined ? {} : { body: init.base64 === true ? Buffer.from(text).toString('base64') : text }),
    isBase64Encoded: Boolean(init.base64),
  };
}
