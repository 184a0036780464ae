// The closed-loop load pattern every scenario shares: `concurrency` workers, each issuing one
// operation at a time for a warm-up and then a measured window. Only operations that complete
// inside the window are measured; failures are counted in every phase and never dropped.
import { machineCpuJiffies } from './proc.ts';

export type Outcome = { ok: true } | { ok: false; kind: string; detail?: string };

export type LoopOptions = {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Hard cap on operations started (the run is bounded in count as well as in time). */
  maxOperations: number;
  operation: (worker: number, sequence: number) => Promise<Outcome>;
  /** Called synchronously at the start and the end of the measured window (e.g. to sample CPU). */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
};

export type PhaseCounts = { ok: number; errors: Record<string, number> };

export type LoopResult = {
  /** Length of the measured window in seconds (shorter than asked if the count cap stopped it). */
  windowSeconds: number;
  /** Latency in ms of every successful operation completed in the window. */
  latenciesMs: Float64Array;
  measured: PhaseCounts;
  warmup: PhaseCounts;
  /** Operations still in flight when the window closed, completed afterwards (not measured). */
  afterWindow: PhaseCounts;
  started: number;
  stoppedBy: 'time' | 'count';
  /** A few failure details, to tell what went wrong without a debugger. */
  errorSamples: string[];
  /** How busy the whole machine was during the window (all cores; 100 = every core busy). */
  machineCpuBusyPercent: number | null;
  /** CPU seconds (user + system) of this process over the whole loop: whether the load generator was the bottleneck. */
  clientCpuSeconds: number;
};

function jiffies(): { busy: number; total: number } | undefined {
  try {
    return machineCpuJiffies();
  } catch {
    return undefined; // not Linux
  }
}

const MAX_ERROR_SAMPLES = 10;

function tally(phase: PhaseCounts, outcome: Outcome): void {
  if (outcome.ok) phase.ok += 1;
  else phase.errors[outcome.kind] = (phase.errors[outcome.kind] ?? 0) + 1;
}

export async function runLoop(options: LoopOptions): Promise<LoopResult> {
  const cpuBefore = process.cpuUsage();
  const begin = performance.now();
  const windowStart = begin + options.warmupMs;
  let windowEnd = windowStart + options.durationMs;
  let windowOpened = false;
  let windowClosed = false;
  let stoppedBy: LoopResult['stoppedBy'] = 'time';
  let latencies = new Float64Array(1 << 16);
  let latencyCount = 0;
  const warmup: PhaseCounts = { ok: 0, errors: {} };
  const measured: PhaseCounts = { ok: 0, errors: {} };
  const afterWindow: PhaseCounts = { ok: 0, errors: {} };
  const errorSamples: string[] = [];
  let started = 0;
  let machineAtStart: { busy: number; total: number } | undefined;
  let machineCpuBusyPercent: number | null = null;

  const openWindow = () => {
    if (windowOpened) return;
    windowOpened = true;
    machineAtStart = jiffies();
    options.onWindowStart?.();
  };
  const closeWindow = (now: number) => {
    if (windowClosed) return;
    windowClosed = true;
    windowEnd = Math.min(windowEnd, now);
    const machineAtEnd = jiffies();
    if (machineAtStart && machineAtEnd && machineAtEnd.total > machineAtStart.total) {
      machineCpuBusyPercent = ((machineAtEnd.busy - machineAtStart.busy) / (machineAtEnd.total - machineAtStart.total)) * 100;
    }
    options.onWindowEnd?.();
  };
  // Timers open and close the window on time even if every worker is stuck in a slow request.
  const openTimer = setTimeout(openWindow, Math.max(0, windowStart - performance.now()));
  const closeTimer = setTimeout(() => closeWindow(performance.now()), Math.max(0, windowEnd - performance.now()));

  const worker = async (index: number) => {
    for (let sequence = 0; ; sequence += 1) {
      const now = performance.now();
      if (now >= windowEnd || windowClosed) return;
      if (started >= options.maxOperations) {
        stoppedBy = 'count';
        return;
      }
      started += 1;
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        outcome = await options.operation(index, sequence);
      } catch (error) {
        outcome = { ok: false, kind: 'exception', detail: error instanceof Error ? error.message : String(error) };
      }
      const t1 = performance.now();
      if (!outcome.ok && errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(`${outcome.kind}${outcome.detail ? `: ${outcome.detail}` : ''}`);
      if (t1 < windowStart) {
        tally(warmup, outcome);
      } else if (t1 <= windowEnd && !windowClosed) {
        openWindow();
        tally(measured, outcome);
        if (outcome.ok) {
          if (latencyCount === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[latencyCount] = t1 - t0;
          latencyCount += 1;
        }
      } else {
        tally(afterWindow, outcome);
      }
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
  clearTimeout(openTimer);
  clearTimeout(closeTimer);
  const end = performance.now();
  openWindow();
  closeWindow(end);
  const cpu = process.cpuUsage(cpuBefore);
  return {
    windowSeconds: Math.max(0, windowEnd - windowStart) / 1000,
    latenciesMs: latencies.subarray(0, latencyCount),
    measured,
    warmup,
    afterWindow,
    started,
    stoppedBy,
    errorSamples,
    machineCpuBusyPercent,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

/** The same pattern over a fixed list, untimed: `task(i)` for every i in [0, n), `concurrency` at a time; the first failure rejects. */
export async function runInPool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next;
        next += 1;
        await task(i);
      }
    }),
  );
}
