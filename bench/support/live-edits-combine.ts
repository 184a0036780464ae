// Adds up what the live-edits load processes of one run report (bench/load/live-edits.ts), and runs
// of a scenario that drives them: the live-edits and cluster scenarios share it; and the cells the
// peers scenarios' tables show of such runs.
import { count, fixed, percent, roundSpread, spreadOf, withSpread, type Spread } from './format.ts';
import { PHASES, type LiveEditsResult, type Phase } from './live-edits-result.ts';
import { median, type LatencySummary } from './stats.ts';
import type { ServerUsage } from './window-usage.ts';

export type WindowEdits = LiveEditsResult['windowEdits'];
export type PhaseErrors = Record<Phase, Record<string, number>>;
/** A load process's report without its samples, and the CPU it used over the window. */
export type LoadProcessSummary = Omit<LiveEditsResult, 'samples' | 'origins' | 'sessionIds'> & { cpuPercentOfOneCore: number };

export type CombinedLoad = {
  windowSeconds: number;
  /** Edits made in the window, per second (what the editors offered). */
  madePerSecond: number;
  /** Edits acknowledged (committed) in the window, per second. */
  ackedPerSecond: number;
  /** Update frames acknowledged in the window, per second (each carries one or more merged edits). */
  ackedFramesPerSecond: number;
  windowEdits: WindowEdits;
  errors: PhaseErrors;
  errorsInWindow: number;
  errorsTotal: number;
  errorSamples: string[];
  drainTimedOut: boolean;
  loadProcesses: LoadProcessSummary[];
};

export const sumOf = (errors: Record<string, number>) => Object.values(errors).reduce((total, n) => total + n, 0);

export function concat(arrays: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(arrays.reduce((total, a) => total + a.length, 0));
  let offset = 0;
  for (const array of arrays) {
    all.set(array, offset);
    offset += array.length;
  }
  return all;
}

/** The fates of the window's edits, added up. */
export function sumWindowEdits(list: readonly WindowEdits[]): WindowEdits {
  const total: WindowEdits = {
    sent: 0,
    acked: 0,
    saved: 0,
    refused: 0,
    unacked: 0,
    deliveredToAll: 0,
    missingDeliveries: 0,
    mergedDeliveries: 0,
    queuedBehindUnacked: 0,
  };
  for (const edits of list) for (const key of Object.keys(total) as (keyof WindowEdits)[]) total[key] += edits[key];
  return total;
}

/** Errors by kind, added up over phases and reports. */
export function errorsByKind(list: readonly PhaseErrors[]): Record<string, number> {
  const byKind: Record<string, number> = {};
  for (const errors of list) {
    for (const phase of PHASES) for (const [kind, n] of Object.entries(errors[phase])) byKind[kind] = (byKind[kind] ?? 0) + n;
  }
  return byKind;
}

/** One run's load processes together (their latency samples stay with the caller). */
export function combineLoads(results: readonly LiveEditsResult[]): CombinedLoad {
  const windowSeconds = results[0]?.windowSeconds ?? Number.NaN;
  const windowEdits = sumWindowEdits(results.map((r) => r.windowEdits));
  const errors = Object.fromEntries(PHASES.map((phase) => [phase, {}])) as PhaseErrors;
  for (const r of results) {
    for (const phase of PHASES) for (const [kind, n] of Object.entries(r.errors[phase])) errors[phase][kind] = (errors[phase][kind] ?? 0) + n;
  }
  // Edits that never made it count as failures too, next to what the server or the socket said.
  if (windowEdits.unacked > 0) errors.after['window edit not acknowledged by the end of the drain'] = windowEdits.unacked;
  if (windowEdits.missingDeliveries > 0) errors.after['window edit never seen by a peer (edit × peer)'] = windowEdits.missingDeliveries;
  return {
    windowSeconds,
    madePerSecond: windowEdits.sent / windowSeconds,
    ackedPerSecond: results.reduce((total, r) => total + r.ackedInWindow, 0) / windowSeconds,
    ackedFramesPerSecond: results.reduce((total, r) => total + r.ackedFramesInWindow, 0) / windowSeconds,
    windowEdits,
    errors,
    errorsInWindow: sumOf(errors.window),
    errorsTotal: PHASES.reduce((total, phase) => total + sumOf(errors[phase]), 0),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 10),
    drainTimedOut: results.some((r) => r.drainTimedOut),
    loadProcesses: results.map(({ samples: _samples, origins: _origins, sessionIds: _sessionIds, ...rest }) => ({
      ...rest,
      cpuPercentOfOneCore: (rest.loadGenerator.cpuSeconds / rest.windowSeconds) * 100,
    })),
  };
}

/** The worst load process of any run: whether the load generators kept up. */
export function worstLoadGenerator(processes: readonly LoadProcessSummary[]) {
  const worst = (values: number[]) => Math.max(...values.filter((v) => Number.isFinite(v)));
  return {
    cpuPercentOfOneCore: worst(processes.map((p) => p.cpuPercentOfOneCore)),
    eventLoopDelayP99Ms: worst(processes.map((p) => p.loadGenerator.eventLoopDelayMs.p99)),
    scheduleLagP99Ms: worst(processes.map((p) => p.loadGenerator.scheduleLagMs.p99)),
    scheduleLagMaxMs: worst(processes.map((p) => p.loadGenerator.scheduleLagMs.max)),
  };
}

/** A latency over repeated runs: each run's percentile, median and range over the runs. */
export type LatencyOverRuns = { samples: number; p50: Spread; p95: Spread; p99: Spread; max: Spread };

/** What repeated runs of one configuration amount to. */
export type RunsSummary<Metric extends string> = {
  runs: number;
  madePerSecond: Spread;
  ackedPerSecond: Spread;
  ackedFramesPerSecond: Spread;
  /** Median over runs of each run's percentile, with the lowest and highest run. */
  latencyMs: Record<Metric, LatencyOverRuns>;
  windowEdits: WindowEdits;
  errorsInWindow: number;
  errorsTotal: number;
  errorsByKind: Record<string, number>;
  /** Worst load process of any run: to tell whether the load generators kept up. */
  loadGenerator: ReturnType<typeof worstLoadGenerator>;
};

export function summarizeRuns<Metric extends string>(
  runs: readonly (CombinedLoad & { latencyMs: Record<Metric, LatencySummary> })[],
  metrics: readonly Metric[],
): RunsSummary<Metric> {
  const latency = (metric: Metric): LatencyOverRuns => ({
    samples: runs.reduce((total, r) => total + r.latencyMs[metric].count, 0),
    p50: spreadOf(runs.map((r) => r.latencyMs[metric].p50)),
    p95: spreadOf(runs.map((r) => r.latencyMs[metric].p95)),
    p99: spreadOf(runs.map((r) => r.latencyMs[metric].p99)),
    max: spreadOf(runs.map((r) => r.latencyMs[metric].max)),
  });
  return {
    runs: runs.length,
    madePerSecond: spreadOf(runs.map((r) => r.madePerSecond)),
    ackedPerSecond: spreadOf(runs.map((r) => r.ackedPerSecond)),
    ackedFramesPerSecond: spreadOf(runs.map((r) => r.ackedFramesPerSecond)),
    latencyMs: Object.fromEntries(metrics.map((metric) => [metric, latency(metric)])) as Record<Metric, LatencyOverRuns>,
    windowEdits: sumWindowEdits(runs.map((r) => r.windowEdits)),
    errorsInWindow: runs.reduce((total, r) => total + r.errorsInWindow, 0),
    errorsTotal: runs.reduce((total, r) => total + r.errorsTotal, 0),
    errorsByKind: errorsByKind(runs.map((r) => r.errors)),
    loadGenerator: worstLoadGenerator(runs.flatMap((r) => r.loadProcesses)),
  };
}

/** A summary as the raw results keep it: rates to 0.1/s, latencies to the microsecond. */
export function roundedSummary<Metric extends string, S extends RunsSummary<Metric>>(summary: S, metrics: readonly Metric[]): S {
  return {
    ...summary,
    madePerSecond: roundSpread(summary.madePerSecond, 1),
    ackedPerSecond: roundSpread(summary.ackedPerSecond, 1),
    ackedFramesPerSecond: roundSpread(summary.ackedFramesPerSecond, 1),
    latencyMs: Object.fromEntries(
      metrics.map((metric) => {
        const m = summary.latencyMs[metric];
        return [metric, { samples: m.samples, p50: roundSpread(m.p50, 3), p95: roundSpread(m.p95, 3), p99: roundSpread(m.p99, 3), max: roundSpread(m.max, 3) }];
      }),
    ),
  };
}

/** What the server process and the machine used, over runs: median CPU, highest peak RSS, median machine busy. */
export type ServerOverRuns = {
  serverCpuPercentOfOneCore: number | null;
  serverMainThreadCpuPercent: number | null;
  serverPeakRssMiB: number | null;
  machineCpuBusyPercent: number | null;
};

export function summarizeServer(runs: readonly { server: ServerUsage | null; machineCpuBusyPercent: number | null }[]): ServerOverRuns {
  const servers = runs.flatMap((r) => (r.server ? [r.server] : []));
  return {
    serverCpuPercentOfOneCore: servers.length > 0 ? median(servers.map((s) => s.cpuPercentOfOneCore)) : null,
    serverMainThreadCpuPercent: servers.length > 0 ? median(servers.map((s) => s.mainThreadCpuPercent)) : null,
    serverPeakRssMiB: servers.length > 0 ? Math.max(...servers.map((s) => s.peakRssMiB)) : null,
    machineCpuBusyPercent: runs.some((r) => r.machineCpuBusyPercent !== null) ? median(runs.map((r) => r.machineCpuBusyPercent ?? Number.NaN)) : null,
  };
}

/** Edit → observer latency over runs, as the peers scenarios' tables show it: samples, p50, p95, p99, and p99 until every observer saw it. */
export function observerLatencyCells(s: RunsSummary<'peer' | 'allPeers'>): string[] {
  return [
    count(s.latencyMs.peer.samples),
    withSpread(s.latencyMs.peer.p50, 1, s.runs),
    withSpread(s.latencyMs.peer.p95, 1, s.runs),
    withSpread(s.latencyMs.peer.p99, 1, s.runs),
    withSpread(s.latencyMs.allPeers.p99, 1, s.runs),
  ];
}

/** Whether the load went through, as the peers scenarios' tables show it: edits made/s, the window's edits seen by every observer, errors. */
export function deliveryCells(s: RunsSummary<string>): string[] {
  return [
    withSpread(s.madePerSecond, 0, s.runs),
    `${count(s.windowEdits.deliveredToAll)} / ${count(s.windowEdits.sent)} (${percent(s.windowEdits.deliveredToAll, s.windowEdits.sent)})`,
    `${s.errorsInWindow} / ${s.errorsTotal}`,
  ];
}

/** One run as the peers scenarios' tables of every run show it: edits made/s, edit → observer p50 and p99, errors. */
export function runCells(r: CombinedLoad & { latencyMs: Record<'peer', LatencySummary> }): string[] {
  return [
    count(r.madePerSecond),
    fixed(r.latencyMs.peer.p50, 1),
    fixed(r.latencyMs.peer.p99, 1),
    `${r.errorsInWindow} / ${r.errorsTotal}${r.drainTimedOut ? ' (drain timed out)' : ''}`,
  ];
}
