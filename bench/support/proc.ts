// CPU time and memory of another process, from Linux /proc (the server, seen from outside).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on every mainstream Linux). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process has used so far (utime and stime of /proc/<pid>/stat). */
export function processCpuSeconds(pid: number): number {
  return cpuSecondsOf(`/proc/${pid}/stat`);
}

/**
 * The same for one thread of the process: `threadCpuSeconds(pid, pid)` is Node's main thread (its
 * JavaScript event loop), without the worker and libuv threads.
 */
export function threadCpuSeconds(pid: number, tid: number): number {
  return cpuSecondsOf(`/proc/${pid}/task/${tid}/stat`);
}

function cpuSecondsOf(file: string): number {
  const stat = fs.readFileSync(file, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicksPerSecond();
}

/** Peak (VmHWM) and current (VmRSS) resident set size, in MiB, from /proc/<pid>/status. */
export function processMemoryMiB(pid: number): { peakRss: number; rss: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakRss: kib('VmHWM') / 1024, rss: kib('VmRSS') / 1024 };
}

/** Jiffies of all CPUs together (first line of /proc/stat): busy (not idle or iowait) and total. */
export function machineCpuJiffies(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest times are already in user and nice)
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}
