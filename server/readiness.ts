// Readiness: each configured dependency answers a cheap round trip within a deadline.
import type { Metrics } from './metrics.ts';

export type DependencyCheck = { name: string; check: () => Promise<void> };

export type CheckResult = { ok: boolean; latencyMs: number; error?: string };
export type Readiness = { ready: boolean; checks: Record<string, CheckResult> };

export async function checkReadiness(
  checks: readonly DependencyCheck[],
  timeoutMs: number,
  metrics?: Metrics,
): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async ({ name, check }): Promise<[string, CheckResult]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        metrics?.dependencyUp.set({ dependency: name }, 1);
        return [name, { ok: true, latencyMs: Math.round(performance.now() - started) }];
      } catch (error) {
        metrics?.dependencyUp.set({ dependency: name }, 0);
        return [name, { ok: false, latencyMs: Math.round(performance.now() - started), error: (error as Error).message }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, r]) => r.ok), checks: Object.fromEntries(results) };
}
