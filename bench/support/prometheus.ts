// Reading the server's /metrics (Prometheus text format) from outside: samples and sums over labels.

export type PromSample = { name: string; labels: Record<string, string>; value: number };

/** Parses the text exposition format (comments skipped; label values unescaped). */
export function parsePrometheus(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1] as string] = (label[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `where`; NaN when there is none. */
export function sumOf(samples: readonly PromSample[], name: string, where: Record<string, string> = {}): number {
  const matching = samples.filter((s) => s.name === name && Object.entries(where).every(([key, value]) => s.labels[key] === value));
  return matching.length === 0 ? Number.NaN : matching.reduce((total, s) => total + s.value, 0);
}

/** The distinct values of `label` among the samples named `name`. */
export function labelValues(samples: readonly PromSample[], name: string, label: string): string[] {
  return [...new Set(samples.filter((s) => s.name === name && s.labels[label] !== undefined).map((s) => s.labels[label] as string))].sort();
}

/** GETs `<baseUrl>/metrics` and parses it. */
export async function scrapeMetrics(baseUrl: string, timeoutMs = 5_000): Promise<PromSample[]> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  return parsePrometheus(await response.text());
}
