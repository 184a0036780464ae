// What the servers and the machine used over a measured window that starts later (when the load
// generators open it): CPU from /proc at the window's start and end, peak RSS at its end.
import { machineCpuJiffies, processCpuSeconds, processMemoryMiB, threadCpuSeconds } from './proc.ts';
import type { CoordinatedChild } from './children.ts';

/** A server over the window; mainThread: Node's main thread alone (the JavaScript event loop). */
export type ServerUsage = { cpuPercentOfOneCore: number; mainThreadCpuPercent: number; peakRssMiB: number; rssMiB: number };

type CpuSample = { process: number; mainThread: number };

function serverCpu(pid: number): CpuSample {
  return { process: processCpuSeconds(pid), mainThread: threadCpuSeconds(pid, pid) };
}

function jiffies(): { busy: number; total: number } | undefined {
  try {
    return machineCpuJiffies();
  } catch {
    return undefined;
  }
}

export type WindowUsage = {
  /** Per pid, in order; null until the window closed, or when /proc could not be read. */
  servers(): (ServerUsage | null)[];
  /** All cores over the window (load generators and databases included); null until it closed. */
  machineCpuBusyPercent(): number | null;
  /** Stops the timers (a run that ended early). */
  cancel(): void;
};

/** Reads the CPU of `pids` and of the machine at `startsInMs` from now and `durationMs` later. */
export function measureWindow(pids: readonly number[], startsInMs: number, durationMs: number, log: (message: string) => void): WindowUsage {
  let atStart: (CpuSample | undefined)[] = [];
  let machineAtStart: { busy: number; total: number } | undefined;
  let openedAt = Number.NaN;
  let servers: (ServerUsage | null)[] = pids.map(() => null);
  let machineCpuBusyPercent: number | null = null;
  const opened = setTimeout(() => {
    openedAt = performance.now();
    machineAtStart = jiffies();
    atStart = pids.map((pid) => {
      try {
        return serverCpu(pid);
      } catch (error) {
        log(`cannot read the CPU time of server ${pid}: ${String(error)}`);
        return undefined;
      }
    });
  }, startsInMs);
  const closed = setTimeout(() => {
    const seconds = (performance.now() - openedAt) / 1000;
    servers = pids.map((pid, i) => {
      const start = atStart[i];
      if (start === undefined) return null;
      try {
        const now = serverCpu(pid);
        const memory = processMemoryMiB(pid);
        return {
          cpuPercentOfOneCore: ((now.process - start.process) / seconds) * 100,
          mainThreadCpuPercent: ((now.mainThread - start.mainThread) / seconds) * 100,
          peakRssMiB: memory.peakRss,
          rssMiB: memory.rss,
        };
      } catch (error) {
        log(`cannot read the CPU time or memory of server ${pid}: ${String(error)}`);
        return null;
      }
    });
    const machineAtEnd = jiffies();
    if (machineAtStart && machineAtEnd && machineAtEnd.total > machineAtStart.total) {
      machineCpuBusyPercent = ((machineAtEnd.busy - machineAtStart.busy) / (machineAtEnd.total - machineAtStart.total)) * 100;
    }
  }, startsInMs + durationMs);
  return {
    servers: () => servers,
    machineCpuBusyPercent: () => machineCpuBusyPercent,
    cancel: () => {
      clearTimeout(opened);
      clearTimeout(closed);
    },
  };
}

/**
 * Starts load processes (already set up) together a second from now, measures `pids` over their
 * window (after `warmupMs`, for `durationMs`) and resolves with their results and that usage.
 * `atWindowStart` learns the window's wall-clock start before the load starts (to sample other
 * things at its edges).
 */
export async function runLoadWindow<Result>(
  children: readonly Pick<CoordinatedChild<unknown, Result>, 'go' | 'result'>[],
  pids: readonly number[],
  window: { warmupMs: number; durationMs: number },
  log: (message: string) => void,
  atWindowStart: (epochMs: number) => void = () => {},
): Promise<{ results: Result[]; usage: WindowUsage }> {
  const startAt = Date.now() + 1_000;
  const windowStart = startAt + window.warmupMs;
  const usage = measureWindow(pids, windowStart - Date.now(), window.durationMs, log);
  atWindowStart(windowStart);
  for (const child of children) child.go({ type: 'go', startAtEpochMs: startAt });
  try {
    return { results: await Promise.all(children.map((child) => child.result)), usage };
  } finally {
    usage.cancel();
  }
}

/** runLoadWindow for one load process. */
export async function runOneLoadWindow<Result>(
  child: Pick<CoordinatedChild<unknown, Result>, 'go' | 'result'>,
  pids: readonly number[],
  window: { warmupMs: number; durationMs: number },
  log: (message: string) => void,
  atWindowStart?: (epochMs: number) => void,
): Promise<{ result: Result; usage: WindowUsage }> {
  const { results, usage } = await runLoadWindow([child], pids, window, log, atWindowStart);
  return { result: results[0] as Result, usage };
}
