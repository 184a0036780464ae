// What bench/run.ts hands every scenario, and what a scenario is.
import type { ServiceName } from '../../scripts/services/index.ts';
import type { Machine } from './machine.ts';

export type ScenarioContext = {
  /** The short smoke version (`--quick`): shorter windows, one run per configuration. */
  quick: boolean;
  /** The exact command line, as a reader would type it. */
  command: string;
  /** ISO date-time the run started. */
  startedAt: string;
  commit: string;
  machine: Machine;
  /** The throwaway PostgreSQL started for this run (or the one TEST_DATABASE_URL names). */
  postgres: { url: string; reused: boolean };
  /** The throwaway Redis, when a selected scenario asked for it (or the one TEST_REDIS_URL names). */
  redis: { url: string; reused: boolean } | undefined;
};

/**
 * The targets a scenario runs: all, or those the environment variable `name` lists (`a,b`), to
 * profile or compare one; not for the report of record. An unknown name is an error.
 */
export function selectedTargets<Target extends string>(name: string, all: readonly Target[]): readonly Target[] {
  const only = process.env[name]?.split(',').filter((target) => target !== '');
  if (only === undefined) return all;
  const unknown = only.filter((target) => !(all as readonly string[]).includes(target));
  if (unknown.length > 0) throw new Error(`${name}: unknown ${unknown.join(', ')} (targets: ${all.join(', ')})`);
  return all.filter((target) => only.includes(target));
}

/**
 * Runs each of `order` (targets, backends) `runs` times, taking them in turn within a run so that
 * drift in the machine's speed spreads over all of them. Returns each one's results, in run order.
 */
export async function runInTurn<Key, Result>(runs: number, order: readonly Key[], runOnce: (key: Key, run: number) => Promise<Result>): Promise<{ key: Key; runs: Result[] }[]> {
  const byKey = order.map((key) => ({ key, runs: [] as Result[] }));
  for (let run = 1; run <= runs; run += 1) {
    for (const entry of byKey) entry.runs.push(await runOnce(entry.key, run));
  }
  return byKey;
}

export type Scenario = {
  name: string;
  summary: string;
  /** Services it needs besides PostgreSQL (which every scenario gets). */
  services?: readonly ServiceName[];
  run(context: ScenarioContext): Promise<void>;
};
