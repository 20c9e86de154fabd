/**
 * The EventBridge rules of a deployment, as plain data: the CDK stack turns each into an `events.Rule`,
 * and the local dev server routes events and fires schedules by the very same list. One source of truth.
 */
import type { SluiceConfig } from './config.js';

/** Stands for EventBridge's `<aws.events.event.time>` in a rule's input: the time of the scheduled event. */
export const EVENT_TIME = '<aws.events.event.time>';

export type RuleTarget = { function: 'worker'; queue: string } | { function: 'maintenance' } | { function: 'periodic' };

/** A simple EventBridge pattern: each key lists the values it accepts; nested objects match nested fields. */
export type EventPattern = { [key: string]: string[] | EventPattern };

export interface RuleSpec {
  /** The construct id in the stack (stable: renaming it replaces the rule). */
  id: string;
  description: string;
  target: RuleTarget;
  /** A schedule (on the default bus)... */
  schedule?: { rateMinutes: number } | { expression: string };
  /** ...or a pattern on the sluice bus. */
  eventPattern?: EventPattern;
  /** What the target receives instead of the event; `EVENT_TIME` marks the schedule's time. */
  input?: Record<string, unknown>;
}

/** The detail-types sluice publishes that wake a queue's worker. */
export const WAKE_DETAIL_TYPES = ['JobsEnqueued', 'DrainRequested'];

/**
 * Every rule: per queue a safety-net schedule and a wake-up rule, maintenance on its schedule, and one
 * rule per periodic job.
 *
 * @example
 * sluiceRules(sluiceConfig, 'sluice').filter((r) => r.target.function === 'worker');
 */
export function sluiceRules(config: SluiceConfig, source: string): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (const q of config.queues) {
    rules.push({
      id: `Schedule-${q.name}`,
      description: `safety-net drain of queue ${q.name}`,
      target: { function: 'worker', queue: q.name },
      schedule: { rateMinutes: q.scheduleMinutes },
      input: { 'detail-type': 'Scheduled Event', source: 'aws.events', time: EVENT_TIME, detail: { queue: q.name } },
    });
    rules.push({
      id: `Wake-${q.name}`,
      description: `wake the worker of queue ${q.name}`,
      target: { function: 'worker', queue: q.name },
      eventPattern: { source: [source], 'detail-type': WAKE_DETAIL_TYPES, detail: { queue: [q.name] } },
    });
  }
  rules.push({
    id: 'MaintenanceSchedule',
    description: 'sluice maintenance: prune and queue metrics',
    target: { function: 'maintenance' },
    schedule: { rateMinutes: config.maintenanceScheduleMinutes },
  });
  for (const p of config.periodicJobs) {
    rules.push({
      id: `Periodic-${p.name}`,
      description: `periodic job ${p.name}: ${p.type}`,
      target: { function: 'periodic' },
      schedule: { expression: p.schedule },
      input: { name: p.name, type: p.type, payload: p.payload, queue: p.queue, time: EVENT_TIME },
    });
  }
  return rules;
}

/** Whether `event` matches `pattern` (exact values only, the subset sluice's rules use). */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([key, want]) => {
    const value = (event as Record<string, unknown>)[key];
    return Array.isArray(want) ? want.includes(value as string) : matchesPattern(want, value);
  });
}

/**
 * The input a rule sends, with `EVENT_TIME` replaced by `time` and undefined fields dropped (as JSON does):
 * an ISO time in the dev server, EventBridge's own time placeholder (`events.EventField.time`) in the stack.
 */
export function ruleInput(rule: RuleSpec, time: string): Record<string, unknown> | undefined {
  if (!rule.input) return undefined;
  return JSON.parse(JSON.stringify(rule.input, (_k, v) => (v === EVENT_TIME ? time : v)));
}
