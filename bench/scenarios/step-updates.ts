// Scenario step-updates: REST step-update throughput and latency of the real server on PostgreSQL
// and on the embedded SQLite, each next to a "ceiling" (the same database doing single-row inserts
// with the same concurrency, no server in between). Runs alternate between the backends so that
// drift in the machine's speed spreads over both.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { runJsonChild, startBenchServer } from '../support/children.ts';
import { BACKEND_NAMES, BACKENDS, type Backend, runDatabase, sqliteSettings } from '../support/databases.ts';
import type { LoadReport } from '../support/load-report.ts';
import { describeMachine } from '../support/machine.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { table, upsertSection, databaseSettingsLine } from '../support/markdown.ts';
import { writeRawResults } from '../support/raw-results.ts';
import type { Scenario, ScenarioContext } from '../support/scenario.ts';
import { median, round } from '../support/stats.ts';

type Kind = 'server' | 'ceiling';

type Settings = {
  tenants: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  runsPerBackend: number;
  maxOperationsPerRun: number;
  requestTimeoutMs: number;
  ceilingBlobBytes: number;
};

const FULL: Settings = {
  tenants: 20,
  concurrency: 32,
  warmupMs: 5_000,
  durationMs: 30_000,
  runsPerBackend: 3,
  maxOperationsPerRun: 5_000_000,
  requestTimeoutMs: 10_000,
  ceilingBlobBytes: 100,
};
const QUICK: Settings = { ...FULL, warmupMs: 1_000, durationMs: 3_000, runsPerBackend: 1 };

/** loadAverage1m: the machine's 1-minute load average just before the run (other work on the box shows here). */
type RunResult = { backend: Backend; kind: Kind; run: number; loadAverage1m: number; report: LoadReport };

type Summary = {
  backend: Backend;
  kind: Kind;
  runs: number;
  throughput: { median: number; min: number; max: number };
  /** Median over runs of each run's percentile. */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  errorsInWindow: number;
  errorsTotal: number;
  errorsByKind: Record<string, number>;
  serverCpuPercentOfOneCore: number | null;
  serverPeakRssMiB: number | null;
  clientCpuPercentOfOneCore: number;
  machineCpuBusyPercent: number | null;
};

function summarize(results: readonly RunResult[], backend: Backend, kind: Kind): Summary | undefined {
  const runs = results.filter((result) => result.backend === backend && result.kind === kind).map((result) => result.report);
  if (runs.length === 0) return undefined;
  const throughputs = runs.map((report) => report.throughputPerSecond);
  const errorsByKind: Record<string, number> = {};
  for (const report of runs) {
    for (const phase of [report.warmup, report.measured, report.afterWindow]) {
      for (const [name, count] of Object.entries(phase.errors)) errorsByKind[name] = (errorsByKind[name] ?? 0) + count;
    }
  }
  const servers = runs.flatMap((report) => (report.server ? [report.server] : []));
  return {
    backend,
    kind,
    runs: runs.length,
    throughput: { median: median(throughputs), min: Math.min(...throughputs), max: Math.max(...throughputs) },
    latencyMs: {
      p50: median(runs.map((report) => report.latencyMs.p50)),
      p95: median(runs.map((report) => report.latencyMs.p95)),
      p99: median(runs.map((report) => report.latencyMs.p99)),
      max: median(runs.map((report) => report.latencyMs.max)),
    },
    errorsInWindow: runs.reduce((total, report) => total + report.errorsInWindow, 0),
    errorsTotal: runs.reduce((total, report) => total + report.errorsTotal, 0),
    errorsByKind,
    serverCpuPercentOfOneCore: servers.length > 0 ? median(servers.map((server) => server.cpuPercentOfOneCore)) : null,
    serverPeakRssMiB: servers.length > 0 ? Math.max(...servers.map((server) => server.peakRssMiB)) : null,
    clientCpuPercentOfOneCore: median(runs.map((report) => (report.windowSeconds > 0 ? (report.clientCpuSeconds / report.windowSeconds) * 100 : Number.NaN))),
    machineCpuBusyPercent: runs.some((report) => report.machineCpuBusyPercent !== null)
      ? median(runs.map((report) => report.machineCpuBusyPercent ?? Number.NaN))
      : null,
  };
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const count = (value: number) => Math.round(value).toLocaleString('en-US');

function renderMarkdown(
  context: ScenarioContext,
  settings: Settings,
  summaries: readonly Summary[],
  results: readonly RunResult[],
  databases: Record<Backend, Record<string, string>>,
  jsonPath: string,
): string {
  const seconds = (ms: number) => `${ms / 1000} s`;
  const rows = summaries.map((s) => [
    `${BACKEND_NAMES[s.backend]}`,
    s.kind === 'server' ? 'server: REST PATCH, acked after commit' : 'ceiling: single-row INSERT, no server',
    String(s.runs),
    `**${count(s.throughput.median)}**`,
    `${count(s.throughput.min)}–${count(s.throughput.max)}`,
    fixed(s.latencyMs.p50, 2),
    fixed(s.latencyMs.p95, 2),
    fixed(s.latencyMs.p99, 2),
    fixed(s.latencyMs.max, 1),
    `${s.errorsInWindow} / ${s.errorsTotal}`,
    s.serverCpuPercentOfOneCore === null ? '—' : `${fixed(s.serverCpuPercentOfOneCore, 0)} %`,
    s.serverPeakRssMiB === null ? '—' : fixed(s.serverPeakRssMiB, 0),
    s.machineCpuBusyPercent === null ? '—' : `${fixed(s.machineCpuBusyPercent, 0)} %`,
  ]);
  const ratios = BACKENDS.flatMap((backend) => {
    const server = summaries.find((s) => s.backend === backend && s.kind === 'server');
    const ceiling = summaries.find((s) => s.backend === backend && s.kind === 'ceiling');
    if (!server || !ceiling || ceiling.throughput.median === 0) return [];
    return [`${BACKEND_NAMES[backend]}: the server acknowledges ${fixed((server.throughput.median / ceiling.throughput.median) * 100, 0)} % of the ceiling's rate.`];
  });
  const errorKinds = summaries.flatMap((s) =>
    Object.entries(s.errorsByKind).map(([kind, n]) => `${BACKEND_NAMES[s.backend]} ${s.kind}: ${n} × \`${kind}\``),
  );
  const perRun = table(
    ['run', 'backend', 'what', 'ops/s', 'p50 ms', 'p99 ms', 'errors (window / all)', 'server CPU', 'load-generator CPU', 'machine CPU busy', 'load average before'],
    results.map((r) => [
      String(r.run),
      BACKEND_NAMES[r.backend],
      r.kind,
      count(r.report.throughputPerSecond),
      fixed(r.report.latencyMs.p50, 2),
      fixed(r.report.latencyMs.p99, 2),
      `${r.report.errorsInWindow} / ${r.report.errorsTotal}`,
      r.report.server ? `${fixed(r.report.server.cpuPercentOfOneCore, 0)} %` : '—',
      `${fixed((r.report.clientCpuSeconds / r.report.windowSeconds) * 100, 0)} %`,
      r.report.machineCpuBusyPercent === null ? '—' : `${fixed(r.report.machineCpuBusyPercent, 0)} %`,
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const loads = results.map((r) => r.loadAverage1m).filter((value) => Number.isFinite(value));
  const serverBusy = summaries.filter((s) => s.kind === 'server').map((s) => s.machineCpuBusyPercent ?? Number.NaN);
  const saturated = serverBusy.some((busy) => busy >= 85);
  const pgSettings = databases.postgresql;
  const pgDurable = pgSettings.fsync === 'on' && pgSettings.synchronous_commit !== 'off';

  return `
## step-updates: REST step edits on PostgreSQL and SQLite${context.quick ? ' (quick smoke run, not for quoting)' : ''}

- **Command:** \`${context.command}\`
- **Date:** ${context.startedAt}
- **Commit:** \`${context.commit}\`
- **Machine:** ${describeMachine(context.machine)}
- **Raw results:** [${path.relative(REPO_ROOT, jsonPath)}](${path.relative(REPO_ROOT, jsonPath)})

**Workload.** One server process (\`node server/main.ts\`, \`LOG_LEVEL=warn\`, default configuration:
embedded placement, no Redis or Kafka), a fresh database for every run. A load generator in a
separate process starts ${settings.tenants} onboarding sessions (one per tenant, \`POST /api/v1/onboarding/sessions\`),
then ${settings.concurrency} clients over HTTP keep-alive (one connection each, one request in flight each) loop on
\`PATCH /api/v1/onboarding/sessions/:id/steps/organization_setup\` with a small valid merge patch
(\`{"name": "Acme <client>-<n>"}\`, \`{"industry": ...}\`, \`{"timezone": ...}\`, rotating); client *c* edits the
session of tenant *c* mod ${settings.tenants}. ${seconds(settings.warmupMs)} warm-up, then ${seconds(settings.durationMs)} measured; at most
${count(settings.maxOperationsPerRun)} requests per run, ${seconds(settings.requestTimeoutMs)} timeout per request.
${settings.runsPerBackend} run${settings.runsPerBackend > 1 ? 's' : ''} per backend, alternating PostgreSQL and SQLite.

**Ceiling.** Right after each server run, on the same database (same PostgreSQL database, same SQLite
file), one Node process with the same ${settings.concurrency} concurrent clients does single-row autocommit
\`INSERT\`s of a ${settings.ceilingBlobBytes}-byte blob for the same warm-up and window: a pg pool of ${settings.concurrency} connections
for PostgreSQL (the server's own pool has 10), one libsql connection for SQLite (synchronous API and
a single writer, so the clients take turns; their latency includes the wait). It is what the
database does with nothing in front of it, one commit per row; the server commits several edits in
one transaction when they queue up (group commit), so it is a yardstick, not a hard bound.

**Durability.** A 200 means the edit is committed: the server acknowledges a step update only after
the transaction holding it has committed to the session's update log (the response carries its
\`updateId\`), so every edit counted below is durable in the sense the database gives it:
${pgDurable ? '- PostgreSQL runs with fsync and synchronous commit on.' : `- **PostgreSQL is the throwaway test cluster of \`scripts/services\`, started with \`fsync=${pgSettings.fsync}\`, \`synchronous_commit=${pgSettings.synchronous_commit}\`, \`full_page_writes=${pgSettings.full_page_writes}\`**: a COMMIT there does not wait for the disk, so an edit survives a server-process crash but not a power cut or OS crash. Production PostgreSQL (fsync and synchronous commit on) pays a WAL flush per commit, which these numbers do not include; the ceiling row runs on the same cluster, so the server/ceiling comparison holds.`}
- SQLite: journal mode ${databases.sqlite.journal_mode ?? 'unknown'}, synchronous ${databases.sqlite.synchronous ?? 'unknown'}${String(databases.sqlite.synchronous).startsWith('FULL') ? ': each commit syncs the WAL to disk' : ''}.

Throughput is acknowledged (200) edits or inserts completed inside the measured window, per second.
Latency is per request, from sending it to reading the whole response, on the client's
high-resolution clock. Median of the runs; the spread is the lowest and highest run. Errors are
non-200 answers, timeouts and network failures, counted in the window and over the whole run
(warm-up and drain included); they are never dropped from the counts. Server CPU is user + system
time of the server process over the window (/proc/<pid>/stat; 100 % = one core), peak RSS its VmHWM
(highest since start); machine CPU busy is all cores together over the window (/proc/stat; 100 % =
every core busy), which includes the load generator and the database.

**These machines are noisy** (a shared VM with ${context.machine.cores} cores that the server, the load generator and
the database all share): read the spread before comparing numbers, and do not compare them with
numbers measured elsewhere. The 1-minute load average just before the runs ranged from
${fixed(Math.min(...loads), 1)} to ${fixed(Math.max(...loads), 1)} on ${context.machine.cores} cores, so other work was running on the machine too.${
    saturated
      ? `
The machine's CPUs were nearly saturated during the server runs (machine CPU busy in the table): the
server, the database and the load generator competed for ${context.machine.cores} cores, so the server rows are bounded by
this box as much as by the server.`
      : ''
  }

${table(
  ['backend', 'what', 'runs', 'ops/s (median)', 'spread (min–max)', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors (window / all)', 'server CPU', 'server peak RSS MiB', 'machine CPU busy'],
  rows,
)}

${ratios.join('\n')}

${errorKinds.length > 0 ? `Errors by kind: ${errorKinds.join('; ')}.` : 'No request failed in any run (warm-up and drain included).'}

${chartImage(jsonPath, 'latency')}

<details><summary>Every run</summary>

${perRun}

${databaseSettingsLine(pgSettings, databases.sqlite)}

</details>
`;
}

async function runStepUpdates(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  const secret = randomBytes(32).toString('base64url');
  const results: RunResult[] = [];
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const childTimeoutMs = settings.warmupMs + settings.durationMs + 120_000;
  const mode = context.quick ? 'quick' : 'full';
  const log = (message: string) => console.error(`[step-updates] ${message}`);

  for (let run = 1; run <= settings.runsPerBackend; run += 1) {
    for (const backend of BACKENDS) {
      const dataDir = await makeTempDir('bench-step-updates');
      try {
        const databaseUrl = await runDatabase(context.postgres.url, backend, `bench_step_updates_${mode}_${run}`, run, databases);
        log(`run ${run}/${settings.runsPerBackend} ${BACKEND_NAMES[backend]}: starting the server`);
        const loadBeforeServer = os.loadavg()[0] ?? Number.NaN;
        const server = await startBenchServer({
          LOG_LEVEL: 'warn',
          JWT_SECRET: secret,
          DATA_DIR: dataDir,
          ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
        });
        let report: LoadReport;
        try {
          report = await runJsonChild<LoadReport>(
            'bench/load/step-updates.ts',
            {
              baseUrl: server.baseUrl,
              tenants: settings.tenants,
              concurrency: settings.concurrency,
              warmupMs: settings.warmupMs,
              durationMs: settings.durationMs,
              maxOperations: settings.maxOperationsPerRun,
              requestTimeoutMs: settings.requestTimeoutMs,
              serverPid: server.pid,
              tenantPrefix: `bench-${backend}-${run}`,
            },
            { BENCH_JWT_SECRET: secret },
            childTimeoutMs,
          );
        } finally {
          await server.stop();
        }
        results.push({ backend, kind: 'server', run, loadAverage1m: loadBeforeServer, report });
        log(
          `run ${run} ${BACKEND_NAMES[backend]} server: ${count(report.throughputPerSecond)} edits/s, p50 ${fixed(report.latencyMs.p50, 2)} ms, ` +
            `p99 ${fixed(report.latencyMs.p99, 2)} ms, errors ${report.errorsInWindow} in window / ${report.errorsTotal} in all`,
        );
        if (report.errorSamples.length > 0) log(`first errors: ${report.errorSamples.slice(0, 3).join(' | ')}`);

        const sqliteFile = path.join(dataDir, 'onboarding.sqlite');
        if (backend === 'sqlite' && run === 1) databases.sqlite = sqliteSettings(sqliteFile);
        const loadBeforeCeiling = os.loadavg()[0] ?? Number.NaN;
        const ceiling = await runJsonChild<LoadReport>(
          'bench/load/db-ceiling.ts',
          {
            backend,
            target: backend === 'postgresql' ? databaseUrl : sqliteFile,
            concurrency: settings.concurrency,
            warmupMs: settings.warmupMs,
            durationMs: settings.durationMs,
            maxOperations: settings.maxOperationsPerRun,
            blobBytes: settings.ceilingBlobBytes,
          },
          {},
          childTimeoutMs,
        );
        results.push({ backend, kind: 'ceiling', run, loadAverage1m: loadBeforeCeiling, report: ceiling });
        log(
          `run ${run} ${BACKEND_NAMES[backend]} ceiling: ${count(ceiling.throughputPerSecond)} inserts/s, p50 ${fixed(ceiling.latencyMs.p50, 2)} ms, ` +
            `p99 ${fixed(ceiling.latencyMs.p99, 2)} ms, errors ${ceiling.errorsTotal}`,
        );
      } finally {
        await removeTempDir(dataDir);
      }
    }
  }

  const order = (r: RunResult) => BACKENDS.indexOf(r.backend) * 2 + (r.kind === 'server' ? 0 : 1);
  const sorted = [...results].sort((a, b) => order(a) - order(b) || a.run - b.run);
  const summaries = BACKENDS.flatMap((backend) =>
    (['server', 'ceiling'] as const).flatMap((kind) => {
      const summary = summarize(results, backend, kind);
      return summary ? [summary] : [];
    }),
  );

  const jsonPath = path.join(REPO_ROOT, 'docs/bench', context.quick ? 'step-updates.quick.json' : 'step-updates.json');
  const raw = {
    settings,
    databases,
    postgresReused: context.postgres.reused,
    summaries: summaries.map((s) => ({
      ...s,
      throughput: { median: round(s.throughput.median, 1), min: round(s.throughput.min, 1), max: round(s.throughput.max, 1) },
      latencyMs: { p50: round(s.latencyMs.p50, 3), p95: round(s.latencyMs.p95, 3), p99: round(s.latencyMs.p99, 3), max: round(s.latencyMs.max, 3) },
    })),
    runs: sorted,
  };
  writeRawResults(jsonPath, context, 'step-updates', raw);
  writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    context.quick ? 'step-updates-quick' : 'step-updates',
    renderMarkdown(context, settings, summaries, sorted, databases, jsonPath),
    // The full results read first; the quick smoke section follows them.
    context.quick ? {} : { before: 'step-updates-quick' },
  );
  log(`wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const stepUpdates: Scenario = {
  name: 'step-updates',
  summary: 'REST step-update throughput and latency on PostgreSQL and SQLite, with a database ceiling',
  run: runStepUpdates,
};
