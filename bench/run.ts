// `npm run bench [-- [--quick] [scenario...]]`: starts the services the benchmarks need, runs the
// scenarios (all by default), writes docs/bench/<scenario>.json and the scenario's section of
// BENCHMARKS.md, and stops everything it started, also on failure and Ctrl-C.
import os from 'node:os';
import { startServices, type ServiceName, type Services } from '../scripts/services/index.ts';
import { ceiling } from './scenarios/ceiling.ts';
import { cluster } from './scenarios/cluster.ts';
import { integrations } from './scenarios/integrations.ts';
import { liveEdits } from './scenarios/live-edits.ts';
import { peers } from './scenarios/peers.ts';
import { peersCluster } from './scenarios/peers-cluster.ts';
import { residency } from './scenarios/residency.ts';
import { sockets } from './scenarios/sockets.ts';
import { stepUpdates } from './scenarios/step-updates.ts';
import { killAllNow } from './support/children.ts';
import { gitCommit, machine } from './support/machine.ts';
import type { Scenario } from './support/scenario.ts';

const SCENARIOS: readonly Scenario[] = [stepUpdates, liveEdits, cluster, integrations, peers, peersCluster, sockets, ceiling, residency];

function usage(): string {
  return [
    'usage: npm run bench [-- [--quick] [scenario...]]',
    '  --quick   short smoke version (one run per configuration, short windows)',
    'scenarios:',
    ...SCENARIOS.map((scenario) => `  ${scenario.name.padEnd(14)} ${scenario.summary}`),
  ].join('\n');
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage());
  process.exit(0);
}
const quick = args.includes('--quick');
const names = args.filter((arg) => arg !== '--quick');
const unknown = names.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
if (unknown.length > 0) {
  console.error(`unknown ${unknown.some((name) => name.startsWith('-')) ? 'option or scenario' : 'scenario'}: ${unknown.join(', ')}\n${usage()}`);
  process.exit(2);
}
const selected = names.length > 0 ? SCENARIOS.filter((scenario) => names.includes(scenario.name)) : SCENARIOS;

let services: Services | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n[bench] ${signal}: stopping the servers, load generators and services`);
    killAllNow();
    void (services?.stop() ?? Promise.resolve()).finally(() => process.exit(128 + os.constants.signals[signal]));
  });
}

const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const startedAt = new Date().toISOString();
let failed = false;
try {
  const extra = [...new Set(selected.flatMap((scenario) => scenario.services ?? []))].filter((name) => name !== 'postgres');
  console.error(`[bench] starting ${['PostgreSQL', ...extra].join(', ')}`);
  // Durable PostgreSQL (fsync and synchronous commit on): acknowledged edits are measured as users get them.
  services = await startServices(['postgres', ...extra], { durablePostgres: true });
  const postgresUrl = services.env.TEST_DATABASE_URL;
  if (postgresUrl === undefined) throw new Error('PostgreSQL did not publish TEST_DATABASE_URL');
  const redisUrl = services.env.TEST_REDIS_URL;
  const reused = (name: ServiceName) => services?.timings.some((timing) => timing.name === name && timing.reused) ?? false;
  const context = {
    quick,
    command,
    startedAt,
    commit: gitCommit(),
    machine: machine(),
    postgres: { url: postgresUrl, reused: reused('postgres') },
    redis: redisUrl === undefined ? undefined : { url: redisUrl, reused: reused('redis') },
  };
  for (const scenario of selected) {
    console.error(`[bench] ${scenario.name}${quick ? ' (quick)' : ''}`);
    const started = performance.now();
    await scenario.run(context);
    console.error(`[bench] ${scenario.name} took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
} catch (error) {
  failed = true;
  // After Ctrl-C the children were killed on purpose: their failures are not news.
  if (!interrupted) console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  killAllNow();
  await services?.stop();
}
const minutes = (Date.now() - Date.parse(startedAt)) / 60_000;
console.error(`[bench] ${interrupted ? 'interrupted' : failed ? 'FAILED' : 'done'} after ${minutes.toFixed(1)} min`);
process.exit(interrupted ? 130 : failed ? 1 : 0);
