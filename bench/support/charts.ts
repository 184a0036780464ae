// SVG charts of the raw results under docs/bench/: a small dependency-free SVG writer (axes, ticks,
// legend, lines, points, bars, horizontal rules; deterministic output, escaped text) and the charts
// each scenario's JSON gets. Every chart is drawn from the JSON file alone, so `scripts/node24
// bench/charts.ts` redraws them from the committed results without running anything, and a bench run
// draws the same thing right after it writes its JSON.
import fs from 'node:fs';
import path from 'node:path';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

// ---------------------------------------------------------------------------------------------------
// The SVG writer

export type Tick = { value: number; label: string };
export type Axis = { label: string; scale: 'linear' | 'log'; min: number; max: number; ticks: readonly Tick[] };
export type Point = readonly [x: number, y: number];
/** A polyline (optionally drawn as steps: horizontal, then vertical), or markers only. */
export type LineSeries = { kind: 'line' | 'step' | 'points'; label: string; color: string; dash?: string; points: readonly Point[] };
/** Bars centred on x, `width` in x units; a null value is drawn as a cross on the x axis. */
export type BarSeries = { kind: 'bars'; label: string; color: string; width: number; bars: readonly (readonly [x: number, y: number | null])[] };
export type Series = LineSeries | BarSeries;
/** A horizontal line across the plot at y, labelled at its right end and in the legend. */
export type Rule = { label: string; value: number; color: string; dash?: string; labelAt?: 'left' | 'right' };
export type Chart = { title: string; subtitle: readonly string[]; x: Axis; y: Axis; series: readonly Series[]; rules?: readonly Rule[] };

const FONT = `-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif`;
const WIDTH = 760;
const PLOT = { left: 78, right: 24, height: 320 };
const LINE_HEIGHT = 16;
const LEGEND_ROW = 18;

export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'] as const;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** Coordinates with at most one decimal, no trailing zeros: small files, identical output for identical input. */
const n = (value: number) => {
  const rounded = Math.round(value * 10) / 10;
  return Object.is(rounded, -0) ? '0' : String(rounded);
};

function scaler(axis: Axis, from: number, to: number): (value: number) => number {
  const t = (v: number) => (axis.scale === 'log' ? Math.log10(v) : v);
  const lo = t(axis.min);
  const hi = t(axis.max);
  return (value) => {
    const clamped = Math.min(axis.max, Math.max(axis.min, value));
    return from + ((t(clamped) - lo) / (hi - lo)) * (to - from);
  };
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attributes === '' ? '' : ` ${attributes}`}>${escapeXml(content)}</text>`;
}

/** Splits text into lines of at most `width` characters at spaces (11 px text: about 120 fit the chart's width). */
export function wrap(line: string, width = 118): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  if (current !== '') lines.push(current);
  return lines;
}

export function renderSvg(chart: Chart): string {
  const titleTop = 22;
  const subtitle = chart.subtitle.flatMap((line) => wrap(line));
  const plotTop = titleTop + 10 + subtitle.length * LINE_HEIGHT + 10;
  const plotBottom = plotTop + PLOT.height;
  const plotLeft = PLOT.left;
  const plotRight = WIDTH - PLOT.right;
  const rules = chart.rules ?? [];
  const legend = [...chart.series, ...rules];
  const legendTop = plotBottom + 52;
  const height = legendTop + legend.length * LEGEND_ROW + 10;
  const sx = scaler(chart.x, plotLeft, plotRight);
  const sy = scaler(chart.y, plotBottom, plotTop);
  const out: string[] = [];

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" viewBox="0 0 ${WIDTH} ${n(height)}" font-family="${escapeXml(FONT)}" font-size="12" fill="#24292f">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(plotLeft, titleTop, chart.title, 'font-size="15" font-weight="600"'),
  );
  subtitle.forEach((line, i) => out.push(text(plotLeft, titleTop + 8 + (i + 1) * LINE_HEIGHT, line, 'font-size="11" fill="#57606a"')));

  // Grid, ticks and tick labels.
  out.push(`<g stroke="#d0d7de" stroke-width="1">`);
  for (const tick of chart.y.ticks) out.push(`<line x1="${n(plotLeft)}" x2="${n(plotRight)}" y1="${n(sy(tick.value))}" y2="${n(sy(tick.value))}"/>`);
  for (const tick of chart.x.ticks) out.push(`<line x1="${n(sx(tick.value))}" x2="${n(sx(tick.value))}" y1="${n(plotTop)}" y2="${n(plotBottom)}"/>`);
  out.push(`</g>`);
  out.push(`<g font-size="11" fill="#57606a">`);
  for (const tick of chart.y.ticks) out.push(text(plotLeft - 6, sy(tick.value) + 4, tick.label, 'text-anchor="end"'));
  for (const tick of chart.x.ticks) out.push(text(sx(tick.value), plotBottom + 16, tick.label, 'text-anchor="middle"'));
  out.push(`</g>`);
  out.push(`<rect x="${n(plotLeft)}" y="${n(plotTop)}" width="${n(plotRight - plotLeft)}" height="${n(PLOT.height)}" fill="none" stroke="#57606a"/>`);
  out.push(text((plotLeft + plotRight) / 2, plotBottom + 36, chart.x.label, 'text-anchor="middle"'));
  const yLabelX = 16;
  const yLabelY = (plotTop + plotBottom) / 2;
  out.push(text(yLabelX, yLabelY, chart.y.label, `text-anchor="middle" transform="rotate(-90 ${n(yLabelX)} ${n(yLabelY)})"`));

  // Data, clipped to the plot.
  out.push(`<clipPath id="plot"><rect x="${n(plotLeft)}" y="${n(plotTop)}" width="${n(plotRight - plotLeft)}" height="${n(PLOT.height)}"/></clipPath>`);
  out.push(`<g clip-path="url(#plot)">`);
  for (const series of chart.series) {
    if (series.kind === 'bars') {
      // Width in x units on a linear axis (sx clamps to the axis, so it cannot measure a width near its ends).
      const half = ((plotRight - plotLeft) * series.width) / 2 / (chart.x.max - chart.x.min);
      out.push(`<g fill="${series.color}">`);
      for (const [x, y] of series.bars) {
        const cx = sx(x);
        if (y === null) {
          const cy = plotBottom - 6;
          out.push(`<path d="M${n(cx - 5)} ${n(cy - 5)}L${n(cx + 5)} ${n(cy + 5)}M${n(cx - 5)} ${n(cy + 5)}L${n(cx + 5)} ${n(cy - 5)}" stroke="#cf222e" stroke-width="2"/>`);
          continue;
        }
        const top = sy(y);
        out.push(`<rect x="${n(cx - half)}" y="${n(top)}" width="${n(2 * half)}" height="${n(Math.max(0, sy(chart.y.min) - top))}"/>`);
      }
      out.push(`</g>`);
    } else if (series.kind === 'points') {
      out.push(`<g fill="${series.color}" stroke="#ffffff" stroke-width="0.8">`);
      for (const [x, y] of series.points) out.push(`<circle cx="${n(sx(x))}" cy="${n(sy(y))}" r="3.2"/>`);
      out.push(`</g>`);
    } else if (series.points.length > 0) {
      let d = '';
      series.points.forEach(([x, y], i) => {
        if (i === 0) d += `M${n(sx(x))} ${n(sy(y))}`;
        else if (series.kind === 'step') d += `H${n(sx(x))}V${n(sy(y))}`;
        else d += `L${n(sx(x))} ${n(sy(y))}`;
      });
      out.push(`<path d="${d}" fill="none" stroke="${series.color}" stroke-width="2" stroke-linejoin="round"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''}/>`);
    }
  }
  for (const rule of rules) {
    const y = sy(rule.value);
    out.push(`<line x1="${n(plotLeft)}" x2="${n(plotRight)}" y1="${n(y)}" y2="${n(y)}" stroke="${rule.color}" stroke-width="1.5"${rule.dash ? ` stroke-dasharray="${rule.dash}"` : ''}/>`);
  }
  out.push(`</g>`);
  for (const rule of rules) {
    const left = rule.labelAt === 'left';
    out.push(text(left ? plotLeft + 4 : plotRight - 4, sy(rule.value) - 4, rule.label, `${left ? '' : 'text-anchor="end" '}font-size="11" fill="${rule.color}"`));
  }

  // Legend, one entry per row under the plot.
  legend.forEach((entry, i) => {
    const y = legendTop + i * LEGEND_ROW;
    const x = plotLeft;
    if ('kind' in entry && entry.kind === 'bars') out.push(`<rect x="${n(x)}" y="${n(y - 9)}" width="24" height="10" fill="${entry.color}"/>`);
    else if ('kind' in entry && entry.kind === 'points') out.push(`<circle cx="${n(x + 12)}" cy="${n(y - 4)}" r="3.2" fill="${entry.color}"/>`);
    else {
      const dash = entry.dash;
      out.push(`<line x1="${n(x)}" x2="${n(x + 24)}" y1="${n(y - 4)}" y2="${n(y - 4)}" stroke="${entry.color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    }
    out.push(text(x + 32, y, entry.label));
  });
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------
// Axes and distributions

/** `1,234` / `0.5` / `12.5`: plain numbers for tick labels. */
export function numberLabel(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(3)));
}

/** A log axis over whole decades around [lo, hi], ticks at 1-2-5 when it spans few decades. */
export function logAxis(label: string, lo: number, hi: number): Axis {
  const min = 10 ** Math.floor(Math.log10(lo));
  const max = 10 ** Math.max(Math.ceil(Math.log10(hi)), Math.log10(min) + 1);
  const decades = Math.round(Math.log10(max / min));
  const steps = decades <= 4 ? [1, 2, 5] : [1];
  const ticks: Tick[] = [];
  for (let e = Math.round(Math.log10(min)); e <= Math.round(Math.log10(max)); e += 1) {
    for (const s of steps) {
      const value = Number((s * 10 ** e).toPrecision(3));
      if (value >= min && value <= max) ticks.push({ value, label: numberLabel(value) });
    }
  }
  return { label, scale: 'log', min, max, ticks };
}

/** A linear axis from 0 over [0, hi] with about 6 round ticks. */
export function linearAxis(label: string, hi: number, format = numberLabel): Axis {
  const raw = hi / 6;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const max = Math.ceil(hi / step) * step;
  const ticks: Tick[] = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push({ value: Number(v.toPrecision(6)), label: format(Number(v.toPrecision(6))) });
  return { label, scale: 'linear', min: 0, max, ticks };
}

export type Bucket = { upperMs: number; count: number };

/** Sums histograms (bench/support/stats.ts latencyHistogram: 10 buckets per decade) bucket by bucket. */
export function mergeHistograms(histograms: readonly (readonly Bucket[])[]): Bucket[] {
  const counts = new Map<number, number>();
  for (const histogram of histograms) for (const { upperMs, count } of histogram) counts.set(upperMs, (counts.get(upperMs) ?? 0) + count);
  return [...counts.entries()].sort(([a], [b]) => a - b).map(([upperMs, count]) => ({ upperMs, count }));
}

/**
 * The distribution's y coordinate in "nines": -log10(1 − F), so 90 % is 1, 99 % is 2, 99.9 % is 3 —
 * the tail gets as much room as the median. The last sample of n sits at 1 − 1/n (log10 n).
 */
const nines = (below: number, total: number) => -Math.log10(Math.max(1 - below / total, 1 / total));

/** CDF points of a histogram: (lower edge of the first bucket, 0), then (each bucket's upper bound, F). */
export function cdfPoints(histogram: readonly Bucket[], minMs = 0): Point[] {
  const buckets = mergeHistograms([histogram.map((b) => ({ upperMs: Math.max(b.upperMs, minMs), count: b.count }))]);
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const first = buckets[0];
  if (total === 0 || first === undefined) return [];
  const points: Point[] = [[first.upperMs / 10 ** 0.1, 0]];
  let below = 0;
  for (const b of buckets) {
    below += b.count;
    points.push([b.upperMs, nines(below, total)]);
  }
  return points;
}

const NINES_LABELS: readonly Tick[] = [
  { value: 0, label: '0 %' },
  { value: Math.log10(2), label: '50 %' },
  { value: 1, label: '90 %' },
  { value: 2, label: '99 %' },
  { value: 3, label: '99.9 %' },
  { value: 4, label: '99.99 %' },
  { value: 5, label: '99.999 %' },
  { value: 6, label: '99.9999 %' },
];

export type Distribution = { label: string; histogram: readonly Bucket[]; color: string; dash?: string };

/** Latency distributions: one CDF line per configuration, log-scaled latency, percentiles in nines. */
export function distributionChart(title: string, subtitle: readonly string[], distributions: readonly Distribution[], options: { minMs?: number; xLabel?: string } = {}): Chart | undefined {
  const lines = distributions
    .map((d) => ({ d, points: cdfPoints(d.histogram, options.minMs), samples: d.histogram.reduce((sum, b) => sum + b.count, 0) }))
    .filter((l) => l.points.length > 0);
  if (lines.length === 0) return undefined;
  const xs = lines.flatMap((l) => l.points.map(([x]) => x));
  const top = Math.max(1, Math.ceil(Math.max(...lines.flatMap((l) => l.points.map(([, y]) => y))) - 1e-9));
  return {
    title,
    subtitle,
    x: logAxis(options.xLabel ?? 'latency (ms, log scale)', Math.min(...xs), Math.max(...xs)),
    y: { label: 'samples at or below (percentile)', scale: 'linear', min: 0, max: top, ticks: NINES_LABELS.filter((t) => t.value <= top) },
    series: lines.map((l) => ({ kind: 'line' as const, label: `${l.d.label} (${l.samples.toLocaleString('en-US')} samples)`, color: l.d.color, dash: l.d.dash, points: l.points })),
  };
}

// ---------------------------------------------------------------------------------------------------
// The charts of each scenario's raw results

type Raw = {
  scenario?: string;
  mode?: string;
  command?: string;
  startedAt?: string;
  commit?: string;
  machine?: { cpuModel?: string; cores?: number };
};

type StepUpdatesRaw = Raw & { runs?: { backend: string; kind: string; run: number; report?: { histogram?: Bucket[] } }[] };
type LiveEditsRaw = Raw & { runs?: { backend: string; run: number; histograms?: Partial<Record<string, Bucket[]>> }[] };
type ClusterRaw = Raw & {
  settings?: { failoverTargetMs?: number; kills?: number };
  cluster?: { leaseTtlMs?: number };
  latency?: { runs?: { histograms?: Partial<Record<string, Bucket[]>> }[] };
  failover?: { kills?: { kill: number; failoverMs: number | null; editors?: { ms: number | null }[] }[]; failoverMs?: { p50?: number } };
};
type PeersRaw = Raw & { runs?: { target: string; run: number; histograms?: Partial<Record<string, Bucket[]>> }[] };
type IntegrationsRaw = Raw & { settings?: { integrations?: number }; runs?: { ops?: { histogram?: Bucket[] }; admin?: { histogram?: Bucket[] } }[] };

const BACKENDS: Record<string, { name: string; color: string }> = {
  postgresql: { name: 'PostgreSQL', color: PALETTE[0] },
  sqlite: { name: 'SQLite', color: PALETTE[1] },
};
const backendOf = (id: string, i: number) => BACKENDS[id] ?? { name: id, color: PALETTE[(i + 2) % PALETTE.length] as string };

/** The chart's second line: where the numbers come from. */
function provenance(raw: Raw): string {
  const machine = raw.machine?.cpuModel === undefined ? '' : ` · ${raw.machine.cpuModel}, ${raw.machine.cores ?? '?'} cores`;
  return `${raw.command ?? 'npm run bench'} · commit ${raw.commit ?? '?'} · ${raw.startedAt?.slice(0, 10) ?? '?'}${machine}${raw.mode === 'quick' ? ' · quick smoke run, not for quoting' : ''}`;
}

const unique = <T,>(values: readonly T[]) => [...new Set(values)];
const runsNote = (runs: number) => (runs > 1 ? `all ${runs} runs pooled per line` : 'one run');

function stepUpdatesCharts(raw: StepUpdatesRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  const configurations = unique(runs.map((r) => `${r.backend}\u0000${r.kind}`));
  const backends = unique(runs.map((r) => r.backend));
  const distributions = configurations.map((key) => {
    const [backend = '', kind = ''] = key.split('\u0000');
    const b = backendOf(backend, backends.indexOf(backend));
    const mine = runs.filter((r) => r.backend === backend && r.kind === kind);
    return {
      label: `${b.name}: ${kind === 'ceiling' ? 'bare single-row INSERT loop (ceiling)' : 'server, PATCH step (acknowledged = committed)'}`,
      histogram: mergeHistograms(mine.map((r) => r.report?.histogram ?? [])),
      color: b.color,
      dash: kind === 'ceiling' ? '6 4' : undefined,
    };
  });
  const perConfiguration = Math.max(0, ...configurations.map((key) => runs.filter((r) => `${r.backend}\u0000${r.kind}` === key).length));
  return {
    latency: distributionChart(
      'step-updates: request latency distribution',
      [provenance(raw), `From 10-per-decade histograms, ${runsNote(perConfiguration)}; y in nines (90 %, 99 %, 99.9 %), the top of each line is its maximum.`],
      distributions,
    ),
  };
}

function liveEditsCharts(raw: LiveEditsRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  const backends = unique(runs.map((r) => r.backend));
  const metrics = [
    { metric: 'peer', name: 'edit → each peer sees it', dash: undefined },
    { metric: 'ack', name: 'edit → acknowledged (committed)', dash: '6 4' },
  ];
  const distributions = backends.flatMap((backend, i) => {
    const b = backendOf(backend, i);
    const mine = runs.filter((r) => r.backend === backend);
    return metrics.map((m) => ({ label: `${b.name}: ${m.name}`, histogram: mergeHistograms(mine.map((r) => r.histograms?.[m.metric] ?? [])), color: b.color, dash: m.dash }));
  });
  const perBackend = Math.max(0, ...backends.map((backend) => runs.filter((r) => r.backend === backend).length));
  return {
    latency: distributionChart(
      'live-edits: edit-to-peer and ack latency distributions',
      [provenance(raw), `From 10-per-decade histograms, ${runsNote(perBackend)}; y in nines (90 %, 99 %, 99.9 %), the top of each line is its maximum.`],
      distributions,
    ),
  };
}

function clusterCharts(raw: ClusterRaw): Record<string, Chart | undefined> {
  const runs = raw.latency?.runs ?? [];
  const metrics = [
    { metric: 'peerFromOwner', name: 'edit → observer: editors on the owner, observer on another node', color: PALETTE[0], dash: undefined },
    { metric: 'peerForwardedToOwner', name: 'edit → observer: editors forwarded, observer on the owner', color: PALETTE[2], dash: undefined },
    { metric: 'peerForwardedElsewhere', name: 'edit → observer: editors forwarded, observer on the third node', color: PALETTE[3], dash: undefined },
    { metric: 'ackOnOwner', name: 'edit → acknowledged: editors on the owner', color: PALETTE[1], dash: '6 4' },
    { metric: 'ackForwarded', name: 'edit → acknowledged: editors on another node (forwarded)', color: PALETTE[4], dash: '6 4' },
  ];
  const latency = distributionChart(
    'cluster: cross-node edit latency distributions (3 nodes)',
    [provenance(raw), `From 10-per-decade histograms, ${runsNote(runs.length)}; y in nines (90 %, 99 %, 99.9 %), the top of each line is its maximum.`],
    metrics.map((m) => ({ label: m.name, histogram: mergeHistograms(runs.map((r) => r.histograms?.[m.metric] ?? [])), color: m.color, dash: m.dash })),
  );

  const kills = raw.failover?.kills ?? [];
  let failover: Chart | undefined;
  if (kills.length > 0) {
    const goal = raw.settings?.failoverTargetMs ?? 5000;
    const ttl = raw.cluster?.leaseTtlMs;
    const measured = kills.flatMap((k) => (k.failoverMs === null ? [] : [k.failoverMs])).sort((a, b) => a - b);
    // The report's median: the nearest-rank p50 the JSON holds (else computed the same way).
    const median = raw.failover?.failoverMs?.p50 ?? (measured.length === 0 ? undefined : measured[Math.max(1, Math.ceil(measured.length / 2)) - 1]);
    const editorPoints = kills.flatMap((k) => (k.editors ?? []).flatMap((e) => (e.ms === null ? [] : [[k.kill, e.ms] as const])));
    const top = Math.max(goal, ...measured, ...editorPoints.map(([, y]) => y)) * 1.08;
    const last = Math.max(...kills.map((k) => k.kill));
    const xTicks: Tick[] = kills.filter((k) => last <= 20 || k.kill % 5 === 0 || k.kill === 1).map((k) => ({ value: k.kill, label: String(k.kill) }));
    const rules: Rule[] = [{ label: `goal: p99 ≤ ${numberLabel(goal)} ms`, value: goal, color: '#cf222e', dash: '8 4' }];
    if (ttl !== undefined) rules.push({ label: `lease TTL ${numberLabel(ttl)} ms`, value: ttl, color: '#57606a', dash: '3 3' });
    if (median !== undefined) rules.push({ label: `median (p50) ${numberLabel(median)} ms`, value: median, color: '#0550ae', labelAt: 'left' });
    const notMeasured = kills.length - measured.length;
    failover = {
      title: `cluster: failover time per SIGKILL of the session's owner (${kills.length} kills)`,
      subtitle: [
        provenance(raw),
        `Failover = kill → first acknowledged edit typed after it, slower of the surviving nodes' editors (bar); each editor's own time is a dot.${notMeasured > 0 ? ` ${notMeasured} kill(s) without failover in time: ×.` : ''}`,
      ],
      x: { label: 'kill #', scale: 'linear', min: 0.4, max: last + 0.6, ticks: xTicks },
      y: linearAxis('failover time (ms)', top),
      series: [
        { kind: 'bars', label: 'failover time (ms)', color: '#8cb4d9', width: 0.62, bars: kills.map((k) => [k.kill, k.failoverMs] as const) },
        { kind: 'points', label: 'a surviving editor: first acknowledged edit after the kill (ms)', color: PALETTE[1], points: editorPoints },
      ],
      rules,
    };
  }
  return { latency, failover };
}

function integrationsCharts(raw: IntegrationsRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  return {
    latency: distributionChart(
      `integrations: integration.health event latency (${(raw.settings?.integrations ?? 0).toLocaleString('en-US')} integrations)`,
      [
        provenance(raw),
        `Receive − lastCheckedAt, whole ms (0 ms counted at 1 ms); 10-per-decade histograms, ${runsNote(runs.length)}; y in nines, the top of each line is its maximum.`,
      ],
      [
        { label: '/ops client (role ops)', histogram: mergeHistograms(runs.map((r) => r.ops?.histogram ?? [])), color: PALETTE[0] },
        { label: 'tenant-admin sockets', histogram: mergeHistograms(runs.map((r) => r.admin?.histogram ?? [])), color: PALETTE[1], dash: '6 4' },
      ],
      { minMs: 1 },
    ),
  };
}

type ResidencyRaw = Raw & {
  settings?: { sessions?: number; concurrency?: number };
  runs?: { backend: string; resident?: { warmConcurrent?: { histogram?: Bucket[] } }; activation?: Partial<Record<string, { histogram?: Bucket[] }>> }[];
};

function residencyCharts(raw: ResidencyRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  const backends = unique(runs.map((r) => r.backend));
  const concurrency = raw.settings?.concurrency ?? 0;
  const kinds: { label: string; dash?: string; histogram: (r: (typeof runs)[number]) => Bucket[] | undefined }[] = [
    { label: 'cold GET, one at a time', histogram: (r) => r.activation?.['coldSequential']?.histogram },
    { label: 'warm GET, one at a time', dash: '6 4', histogram: (r) => r.activation?.['warmSequential']?.histogram },
    { label: `cold GET, ${concurrency} at a time`, dash: '2 3', histogram: (r) => r.activation?.['coldConcurrent']?.histogram },
    { label: `warm GET, ${concurrency} at a time`, dash: '10 3 2 3', histogram: (r) => r.resident?.warmConcurrent?.histogram },
  ];
  return {
    latency: distributionChart(
      `residency: session GET latency, cold (activates the actor) and warm (${(raw.settings?.sessions ?? 0).toLocaleString('en-US')} sessions)`,
      [provenance(raw), `Client-side request time; 10-per-decade histograms, ${runsNote(runs.length / Math.max(1, backends.length))}; y in nines, the top of each line is its maximum.`],
      backends.flatMap((backend, b) =>
        kinds.map((kind, k) => ({
          label: `${backendOf(backend, b).name}: ${kind.label}`,
          histogram: mergeHistograms(runs.filter((r) => r.backend === backend).map((r) => kind.histogram(r) ?? [])),
          color: backends.length > 1 ? backendOf(backend, b).color : (PALETTE[k] as string),
          dash: kind.dash,
        })),
      ),
    ),
  };
}

const PEER_TARGETS: Record<string, string> = {
  'glavito-postgresql': 'this server, PostgreSQL (ack after commit)',
  'glavito-sqlite': 'this server, SQLite (ack after commit)',
  hocuspocus: 'Hocuspocus 3 + SQLite (from memory, stored after a debounce)',
  'y-websocket': '@y/websocket-server (memory only)',
  'glavito-cluster': 'this server, 3 nodes (ack after commit)',
  'hocuspocus-redis': 'Hocuspocus 3 + Redis, 3 nodes (from memory, stored after a debounce)',
};

const PEER_TITLES: Record<string, string> = {
  peers: 'peers: edit → observer latency, this server and the peer servers on the same workload',
  'peers-cluster': 'peers-cluster: edit → observer latency on 3 nodes, editors on n1, observers on n2 and n3',
};

/** The peers and peers-cluster scenarios: edit → observer CDF per target, runs pooled. */
function peersCharts(raw: PeersRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  const targets = unique(runs.map((r) => r.target));
  const perTarget = Math.max(0, ...targets.map((target) => runs.filter((r) => r.target === target).length));
  return {
    latency: distributionChart(
      PEER_TITLES[raw.scenario ?? 'peers'] ?? String(raw.scenario),
      [provenance(raw), `From 10-per-decade histograms, ${runsNote(perTarget)}; y in nines (90 %, 99 %, 99.9 %), the top of each line is its maximum.`],
      targets.map((target, i) => ({
        label: PEER_TARGETS[target] ?? target,
        histogram: mergeHistograms(runs.filter((r) => r.target === target).map((r) => r.histograms?.['peer'] ?? [])),
        color: PALETTE[i % PALETTE.length] as string,
        dash: target.startsWith('glavito') ? undefined : '6 4',
      })),
    ),
  };
}

type SocketsRaw = Raw & { settings?: { sockets?: number }; runs?: { target: string; ramp?: { histogram?: Bucket[] } }[] };

const SOCKET_TARGETS: Record<string, string> = {
  glavito: 'this server: Socket.IO connect + join (JWT checked)',
  hocuspocus: 'Hocuspocus 3: connect + sync',
  'y-websocket': '@y/websocket-server: connect + sync',
};

function socketsCharts(raw: SocketsRaw): Record<string, Chart | undefined> {
  const runs = raw.runs ?? [];
  const targets = unique(runs.map((r) => r.target));
  const perTarget = Math.max(0, ...targets.map((target) => runs.filter((r) => r.target === target).length));
  return {
    latency: distributionChart(
      `sockets: connect latency, ramp to ${(raw.settings?.sockets ?? 0).toLocaleString('en-US')} sockets`,
      [
        provenance(raw),
        `Includes queueing behind the connects in flight; 10-per-decade histograms, ${runsNote(perTarget)}; y in nines, the top of each line is its maximum.`,
      ],
      targets.map((target, i) => ({
        label: SOCKET_TARGETS[target] ?? target,
        histogram: mergeHistograms(runs.filter((r) => r.target === target).map((r) => r.ramp?.histogram ?? [])),
        color: PALETTE[i % PALETTE.length] as string,
        dash: target === 'glavito' ? undefined : '6 4',
      })),
    ),
  };
}

/** docs/bench/cluster.quick.json + failover → docs/bench/cluster-failover.quick.svg */
export function chartPath(jsonPath: string, chart: string): string {
  const base = path.basename(jsonPath, '.json');
  const quick = base.endsWith('.quick');
  return path.join(path.dirname(jsonPath), `${quick ? base.slice(0, -'.quick'.length) : base}-${chart}${quick ? '.quick' : ''}.svg`);
}

const ALT: Record<string, string> = {
  latency: 'latency distributions (CDF, log scale)',
  failover: 'failover time per kill, with the 5 s goal, the lease TTL and the median',
};

/** The markdown image link of one chart of a results file, for the scenario's BENCHMARKS.md section. */
export function chartImage(jsonPath: string, chart: 'latency' | 'failover'): string {
  const file = path.relative(REPO_ROOT, chartPath(path.resolve(REPO_ROOT, jsonPath), chart)).split(path.sep).join('/');
  return `![${path.basename(jsonPath, '.json')}: ${ALT[chart] ?? chart}](${file})`;
}

/** Draws every chart of one raw results file next to it; returns the files written (none for a scenario without charts). */
export function writeCharts(jsonPath: string): string[] {
  const raw = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as Raw;
  const charts =
    raw.scenario === 'step-updates'
      ? stepUpdatesCharts(raw)
      : raw.scenario === 'live-edits'
        ? liveEditsCharts(raw)
        : raw.scenario === 'cluster'
          ? clusterCharts(raw)
          : raw.scenario === 'integrations'
            ? integrationsCharts(raw)
            : raw.scenario === 'peers' || raw.scenario === 'peers-cluster'
              ? peersCharts(raw)
              : raw.scenario === 'residency'
                ? residencyCharts(raw)
                : raw.scenario === 'sockets'
                  ? socketsCharts(raw)
                  : {};
  const written: string[] = [];
  for (const [name, chart] of Object.entries(charts).sort(([a], [b]) => a.localeCompare(b))) {
    if (chart === undefined) continue;
    const file = chartPath(jsonPath, name);
    fs.writeFileSync(file, renderSvg(chart));
    written.push(file);
  }
  return written;
}
