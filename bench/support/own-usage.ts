// Whether a load process keeps up: its own CPU time and event-loop delay over the measured window
// (a load generator that saturates would make the server look slower than it is).
import { monitorEventLoopDelay } from 'node:perf_hooks';

export type OwnUsage = { cpuSeconds: number; eventLoopDelayMs: { p50: number; p99: number; max: number } };

/** Measures from `windowStart` to `windowEnd` (performance.now() times); resolves when the window closes. */
export function measureOwnWindow(windowStart: number, windowEnd: number): Promise<OwnUsage> {
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    loopDelay.enable();
  }, Math.max(0, windowStart - performance.now()));
  return new Promise((resolve) =>
    setTimeout(() => {
      const used = process.cpuUsage(cpuAtStart);
      loopDelay.disable();
      const ms = (ns: number) => ns / 1e6;
      resolve({
        cpuSeconds: (used.user + used.system) / 1e6,
        eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
      });
    }, Math.max(0, windowEnd - performance.now())),
  );
}
