/** The part of Powertools' `Metrics` sluice's functions use: a recorder stands in for it in tests. */
export interface MetricsSink {
  addDimension(name: string, value: string): unknown;
  setDefaultDimensions(dimensions: Record<string, string>): unknown;
  addMetric(name: string, unit: 'Count' | 'Milliseconds' | 'Seconds' | 'Percent', value: number): unknown;
  publishStoredMetrics(): void;
}
