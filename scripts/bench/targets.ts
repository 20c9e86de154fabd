/**
 * Issue 14's targets, each a ratio of two figures of the same run (or a bound on one figure), and whether
 * it held: `npm run bench -- --json` writes them under `targets`, and the table prints them.
 */
export interface Target {
  name: string;
  /** The figure, and what it is measured against (absent for a bound on the figure alone). */
  value: number;
  against?: number;
  /** value / against, or value itself for a bound. */
  ratio: number;
  /** The bound the ratio (or value) must meet, as written in the table. */
  target: string;
  held: boolean;
}

interface Figures {
  baseline: { drainJobsPerSec: number; enqueueOneJobsPerSec: number; enqueueBulkJobsPerSec: number; walBytesPerJobProcessed: number };
  sluice: {
    drainJobsPerSec: number;
    drainJobsPerSecWithHistory: number;
    drainJobsPerSecEmptyBeforeHistory: number;
    enqueueOneJobsPerSec: number;
    enqueueBulkJobsPerSec: number;
    walBytesPerJobProcessed: number;
    latencyP50Ms: number;
    apiColdStartMs: number;
    drainPeakRssMb: number;
    flowDrainJobsPerSecPerKey: number;
    flowDrainJobsPerSecUnlimited: number;
  };
}

const atLeast = (name: string, value: number, against: number, min: number): Target => ({
  name,
  value,
  against,
  ratio: value / against,
  target: `≥ ${Math.round(min * 100)}%`,
  held: value / against >= min,
});

const atMost = (name: string, value: number, against: number, max: number): Target => ({
  name,
  value,
  against,
  ratio: value / against,
  target: `≤ ${Math.round(max * 100)}%`,
  held: value / against <= max,
});

const bound = (name: string, value: number, target: string, held: boolean): Target => ({ name, value, ratio: value, target, held });

export function targets({ baseline: b, sluice: s }: Figures): Target[] {
  return [
    atLeast("drain at the defaults (batchSize 'auto', concurrency 10) / the baseline's best", s.drainJobsPerSec, b.drainJobsPerSec, 0.5),
    atLeast('one-by-one enqueue / the baseline', s.enqueueOneJobsPerSec, b.enqueueOneJobsPerSec, 0.6),
    atLeast('bulk enqueue / the baseline', s.enqueueBulkJobsPerSec, b.enqueueBulkJobsPerSec, 0.5),
    atMost("WAL per processed job / the baseline's", s.walBytesPerJobProcessed, b.walBytesPerJobProcessed, 1),
    atLeast('drain beside 1M history + 1M scheduled / empty', s.drainJobsPerSecWithHistory, s.drainJobsPerSecEmptyBeforeHistory, 0.9),
    bound('enqueue → start p50 (ms)', s.latencyP50Ms, '≤ 5 ms', s.latencyP50Ms <= 5),
    bound('API cold start (ms)', s.apiColdStartMs, '≤ 150 ms', s.apiColdStartMs <= 150),
    bound('drain peak RSS (MB)', s.drainPeakRssMb, '< 128 MB', s.drainPeakRssMb < 128),
    atLeast(
      'drain with a per-key concurrency limit over 1,000 keys / the same drain without limits',
      s.flowDrainJobsPerSecPerKey,
      s.flowDrainJobsPerSecUnlimited,
      0.7,
    ),
  ];
}
