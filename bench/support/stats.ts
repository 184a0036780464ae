// Small statistics over latency samples and over repeated runs.

/** Nearest-rank percentile of ascending-sorted samples (p in 0..100); NaN when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? (finite[middle] as number) : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
}

export type LatencySummary = { count: number; mean: number; p50: number; p95: number; p99: number; max: number };

export function summarizeLatencies(samples: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/**
 * Log-scale latency histogram (bucket upper bounds in ms, 10 per decade from 0.01 ms to 100 s),
 * small enough to keep in the raw results when the samples themselves are not.
 */
export function latencyHistogram(samples: Float64Array): { upperMs: number; count: number }[] {
  const counts = new Map<number, number>();
  for (const value of samples) {
    const index = Math.max(-20, Math.min(50, Math.ceil(Math.log10(Math.max(value, 1e-3)) * 10)));
    counts.set(index, (counts.get(index) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, count]) => ({ upperMs: Number((10 ** (index / 10)).toPrecision(3)), count }));
}

export type LatencyHistogram = ReturnType<typeof latencyHistogram>;

/** Each metric's samples, summarized and as a histogram: what a run keeps of its latencies. */
export function latencies<Metric extends string>(
  samples: Record<Metric, Float64Array>,
): { latencyMs: Record<Metric, LatencySummary>; histograms: Record<Metric, LatencyHistogram> } {
  const metrics = Object.keys(samples) as Metric[];
  return {
    latencyMs: Object.fromEntries(metrics.map((metric) => [metric, summarizeLatencies(samples[metric])])) as Record<Metric, LatencySummary>,
    histograms: Object.fromEntries(metrics.map((metric) => [metric, latencyHistogram(samples[metric])])) as Record<Metric, LatencyHistogram>,
  };
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
