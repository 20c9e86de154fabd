import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
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

/** Enough of a Lambda context for the handlers: a remaining-time clock and a request id. */
export function lambdaContext(remainingMs: number, name = 'sluice-fn') {
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
