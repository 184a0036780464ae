// Scenario live-edits: edit-to-peer and ack latency of live Yjs editing over Socket.IO on one
// server node, with the client SDK's SessionProvider as the editors. Sessions × editors, each
// editor a steady few edits a second; the load generators run in their own processes, every
// session wholly inside one of them (peers are timed on the sender's clock). PostgreSQL and SQLite
// alternate between runs, as in step-updates.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { BACKEND_NAMES, BACKENDS, type Backend, runDatabase, sqliteSettings } from '../support/databases.ts';
import { count, fixed, percent, withSpread } from '../support/format.ts';
import { combineLoads, concat, roundedSummary, summarizeRuns, summarizeServer, type CombinedLoad, type RunsSummary, type ServerOverRuns } from '../support/live-edits-combine.ts';
import { startLiveEditsLoad, startLiveEditsServer, type LiveLoadSettings } from '../support/live-edits-load.ts';
import type { LiveEditsResult } from '../support/live-edits-result.ts';
import { describeMachine, gitCommit, sourceFingerprint } from '../support/machine.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { table, upsertSection, databaseSettingsLine } from '../support/markdown.ts';
import { writeRawResults } from '../support/raw-results.ts';
import { runInTurn, type Scenario, type ScenarioContext } from '../support/scenario.ts';
import { latencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { runLoadWindow, type ServerUsage } from '../support/window-usage.ts';

type Settings = LiveLoadSettings & {
  runsPerBackend: number;
  /** Load-generator processes; sessions are split between them, each session wholly in one. */
  loadProcesses: number;
};

const FULL: Settings = {
  sessions: 100,
  editorsPerSession: 5,
  editsPerSecondPerEditor: 2,
  warmupMs: 5_000,
  durationMs: 30_000,
  drainMs: 15_000,
  runsPerBackend: 3,
  // One process keeps up with 500 editors (measured: BENCHMARKS.md, "Load generators"); a variant
  // with BENCH_LIVE_EDITS_LOAD_PROCESSES=2 cross-checks that the load generator is not the bottleneck.
  loadProcesses: 1,
  setupConcurrency: 10,
  syncTimeoutMs: 30_000,
  socketUpdatesPerSecond: 60,
};
const QUICK: Settings = { ...FULL, sessions: 20, warmupMs: 1_000, durationMs: 5_000, drainMs: 10_000, runsPerBackend: 1 };

/** BENCH_LIVE_EDITS_LOAD_PROCESSES=<n> overrides the number of load processes (to check that they keep up). */
function settingsFor(quick: boolean): Settings {
  const settings = quick ? QUICK : FULL;
  const override = process.env.BENCH_LIVE_EDITS_LOAD_PROCESSES;
  if (override === undefined || override === '') return settings;
  const loadProcesses = Number(override);
  if (!Number.isInteger(loadProcesses) || loadProcesses < 1 || loadProcesses > settings.sessions) {
    throw new Error(`BENCH_LIVE_EDITS_LOAD_PROCESSES must be an integer from 1 to ${settings.sessions}`);
  }
  return { ...settings, loadProcesses };
}

type Metric = 'peer' | 'allPeers' | 'ack' | 'saved';
const METRICS: readonly Metric[] = ['peer', 'allPeers', 'ack', 'saved'];
const METRIC_NAMES: Record<Metric, string> = {
  peer: 'edit → each peer sees it',
  allPeers: 'edit → all 4 peers have seen it',
  ack: 'edit → acknowledged (committed)',
  saved: 'edit → next `saved` of its editor',
};

/** The command line, with the load-process override when there was one. */
function commandOf(context: ScenarioContext, settings: Settings, variant: boolean): string {
  return variant ? `BENCH_LIVE_EDITS_LOAD_PROCESSES=${settings.loadProcesses} ${context.command}` : context.command;
}

type RunResult = {
  backend: Backend;
  run: number;
  /** The machine's 1-minute load average just before the server started. */
  loadAverage1m: number;
  latencyMs: Record<Metric, LatencySummary>;
  histograms: Record<Metric, LatencyHistogram>;
  /** sourceFingerprint() before the server started and after it stopped: others may edit the checkout. */
  code: { before: string; after: string };
  server: ServerUsage | null;
  machineCpuBusyPercent: number | null;
} & CombinedLoad;

function combine(
  backend: Backend,
  run: number,
  code: RunResult['code'],
  loadAverage1m: number,
  results: readonly LiveEditsResult[],
  server: ServerUsage | null,
  machineCpuBusyPercent: number | null,
): RunResult {
  const samples: Record<Metric, Float64Array> = {
    peer: concat(results.map((r) => r.samples.peerMs)),
    allPeers: concat(results.map((r) => r.samples.allPeersMs)),
    ack: concat(results.map((r) => r.samples.ackMs)),
    saved: concat(results.map((r) => r.samples.savedMs)),
  };
  const combined = combineLoads(results);
  return {
    backend,
    run,
    loadAverage1m,
    ...latencies(samples),
    code,
    server,
    machineCpuBusyPercent,
    ...combined,
  };
}

type Summary = { backend: Backend } & RunsSummary<Metric> & ServerOverRuns;

function summarize(backend: Backend, runs: readonly RunResult[]): Summary {
  return { backend, ...summarizeRuns(runs, METRICS), ...summarizeServer(runs) };
}

function renderMarkdown(
  context: ScenarioContext,
  settings: Settings,
  summaries: readonly Summary[],
  results: readonly RunResult[],
  databases: Record<Backend, Record<string, string>>,
  jsonPath: string,
  variant: boolean,
): string {
  const seconds = (ms: number) => `${ms / 1000} s`;
  const command = commandOf(context, settings, variant);
  const editors = settings.sessions * settings.editorsPerSession;
  const peers = settings.editorsPerSession - 1;
  const perProcess = Math.ceil(settings.sessions / settings.loadProcesses);
  const latencyRows = summaries.flatMap((s) =>
    METRICS.map((metric) => {
      const m = s.latencyMs[metric];
      return [
        BACKEND_NAMES[s.backend],
        METRIC_NAMES[metric].replace('4', String(peers)),
        count(m.samples),
        withSpread(m.p50, 1, s.runs),
        withSpread(m.p95, 1, s.runs),
        withSpread(m.p99, 1, s.runs),
        withSpread(m.max, 0, s.runs),
      ];
    }),
  );
  const throughputRows = summaries.map((s) => [
    BACKEND_NAMES[s.backend],
    String(s.runs),
    withSpread(s.madePerSecond, 0, s.runs),
    withSpread(s.ackedPerSecond, 0, s.runs),
    withSpread(s.ackedFramesPerSecond, 0, s.runs),
    `${count(s.windowEdits.acked)} / ${count(s.windowEdits.sent)} (${percent(s.windowEdits.acked, s.windowEdits.sent)})`,
    `${count(s.windowEdits.deliveredToAll)} / ${count(s.windowEdits.sent)} (${percent(s.windowEdits.deliveredToAll, s.windowEdits.sent)})`,
    `${s.errorsInWindow} / ${s.errorsTotal}`,
    s.serverCpuPercentOfOneCore === null ? '—' : `${fixed(s.serverCpuPercentOfOneCore, 0)} %`,
    s.serverMainThreadCpuPercent === null ? '—' : `${fixed(s.serverMainThreadCpuPercent, 0)} %`,
    s.serverPeakRssMiB === null ? '—' : fixed(s.serverPeakRssMiB, 0),
    s.machineCpuBusyPercent === null ? '—' : `${fixed(s.machineCpuBusyPercent, 0)} %`,
  ]);
  const loadRows = summaries.map((s) => [
    BACKEND_NAMES[s.backend],
    `${fixed(s.loadGenerator.cpuPercentOfOneCore, 0)} %`,
    fixed(s.loadGenerator.eventLoopDelayP99Ms, 1),
    `${fixed(s.loadGenerator.scheduleLagP99Ms, 1)} / ${fixed(s.loadGenerator.scheduleLagMaxMs, 0)}`,
  ]);
  const errorKinds = summaries.flatMap((s) => Object.entries(s.errorsByKind).map(([kind, n]) => `${BACKEND_NAMES[s.backend]}: ${n} × \`${kind}\``));
  const queued = summaries.map((s) => `${BACKEND_NAMES[s.backend]} ${percent(s.windowEdits.queuedBehindUnacked, s.windowEdits.sent)}`).join(', ');
  const merged = summaries.map((s) => `${BACKEND_NAMES[s.backend]} ${percent(s.windowEdits.mergedDeliveries, s.windowEdits.sent * peers)}`).join(', ');
  const perRun = table(
    [
      'run',
      'backend',
      'edits acked/s',
      'peer p50 ms',
      'peer p99 ms',
      'all-peers p99 ms',
      'ack p50 ms',
      'ack p99 ms',
      '`saved` p50 ms',
      'errors (window / all)',
      'server CPU (main thread)',
      'load processes: CPU, event-loop p99 ms',
      'machine CPU busy',
      'load average before',
    ],
    results.map((r) => [
      String(r.run),
      BACKEND_NAMES[r.backend],
      count(r.ackedPerSecond),
      fixed(r.latencyMs.peer.p50, 1),
      fixed(r.latencyMs.peer.p99, 1),
      fixed(r.latencyMs.allPeers.p99, 1),
      fixed(r.latencyMs.ack.p50, 1),
      fixed(r.latencyMs.ack.p99, 1),
      fixed(r.latencyMs.saved.p50, 1),
      `${r.errorsInWindow} / ${r.errorsTotal}${r.drainTimedOut ? ' (drain timed out)' : ''}`,
      r.server ? `${fixed(r.server.cpuPercentOfOneCore, 0)} % (${fixed(r.server.mainThreadCpuPercent, 0)} %)` : '—',
      r.loadProcesses.map((p) => `${fixed(p.cpuPercentOfOneCore, 0)} %, ${fixed(p.loadGenerator.eventLoopDelayMs.p99, 1)}`).join('; '),
      r.machineCpuBusyPercent === null ? '—' : `${fixed(r.machineCpuBusyPercent, 0)} %`,
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const intervalMs = 1000 / settings.editsPerSecondPerEditor;
  const reading = summaries.map((s) => {
    const queuedShare = s.windowEdits.sent > 0 ? s.windowEdits.queuedBehindUnacked / s.windowEdits.sent : 0;
    const behind =
      queuedShare >= 0.5
        ? ` Most edits were made while the editor's previous frame was still unacknowledged: the round trip to a committed ack was longer than the ${intervalMs} ms between edits, so the SDK merged the queued edits into fewer frames, and the latencies above are those of a server that is behind its load (they grow with the round trip, not without bound).`
        : queuedShare > 0.01
          ? ' Some edits waited behind an unacknowledged frame of their editor (the round trip was at times longer than the time between edits).'
          : ' The server kept up: nearly every edit left in its own frame.';
    const mainThread = s.serverMainThreadCpuPercent ?? Number.NaN;
    const bound =
      mainThread >= 85
        ? ` The server's main thread (its one JavaScript event loop) was busy ${fixed(mainThread, 0)} % of the window: this node was CPU-bound on it.`
        : '';
    return `- ${BACKEND_NAMES[s.backend]}: ${fixed(s.madePerSecond.median, 0)} edits/s made, ${fixed(s.ackedPerSecond.median, 0)} acknowledged in ${fixed(s.ackedFramesPerSecond.median, 0)} update frames/s (medians); ${percent(s.windowEdits.queuedBehindUnacked, s.windowEdits.sent)} of the window's edits queued behind an unacknowledged one.${behind}${bound}`;
  });
  const setup = results.flatMap((r) => r.loadProcesses.map((p) => p.setupMs / 1000));
  const loads = results.map((r) => r.loadAverage1m).filter((value) => Number.isFinite(value));
  const saturated = summaries.some((s) => (s.machineCpuBusyPercent ?? 0) >= 85);
  const fingerprints = [...new Set(results.flatMap((r) => [r.code.before, r.code.after]))];
  const commitAtEnd = gitCommit();
  const codeChanged =
    fingerprints.length > 1
      ? `
**The code under test changed during these runs** (the checkout is shared with other work): the
server and load generator of each run are read from disk when it starts, so the runs below were not
all measured on the same code${commitAtEnd !== context.commit ? ` (commit \`${context.commit}\` at the start, \`${commitAtEnd}\` at the end)` : ''}. Source
fingerprint before → after each run: ${results.map((r) => `${r.run} ${BACKEND_NAMES[r.backend]} \`${r.code.before}\`${r.code.after === r.code.before ? '' : ` → \`${r.code.after}\``}`).join('; ')}.
`
      : '';
  const pgSettings = databases.postgresql;
  const pgDurable = pgSettings.fsync === 'on' && pgSettings.synchronous_commit !== 'off';

  return `
## live-edits: edit-to-peer latency of live Yjs editing, ${settings.sessions} sessions × ${settings.editorsPerSession} editors on one node${
    variant ? `, variant with ${settings.loadProcesses} load process${settings.loadProcesses > 1 ? 'es' : ''} (\`BENCH_LIVE_EDITS_LOAD_PROCESSES\`)` : ''
  }${context.quick ? ' (quick smoke run, not for quoting)' : ''}

- **Command:** \`${command}\`
- **Date:** ${context.startedAt}
- **Commit:** \`${context.commit}\`
- **Machine:** ${describeMachine(context.machine)}
- **Raw results:** [${path.relative(REPO_ROOT, jsonPath)}](${path.relative(REPO_ROOT, jsonPath)})
- **Code under test:** ${fingerprints.length === 1 ? `unchanged during the runs (source fingerprint \`${fingerprints[0]}\`: HEAD, uncommitted changes and untracked files outside bench/)` : '**changed during the runs**, see below'}
${codeChanged}
**Workload.** One server process (\`node server/main.ts\`, \`LOG_LEVEL=warn\`, default configuration:
embedded placement, no Redis or Kafka, \`SOCKET_UPDATES_PER_SECOND=${settings.socketUpdatesPerSecond}\`), a fresh database for every run.
${settings.sessions} onboarding sessions, one tenant each, started over REST (\`OnboardingClient.start\`, then one
\`PATCH …/steps/data_import\` creating \`fieldMapping\` as a shared map); ${settings.editorsPerSession} editors per session (${editors} in all),
each a \`SessionProvider\` of the client SDK (its own Socket.IO connection to \`/sessions\`, its own
\`Y.Doc\`, an \`admin\` token of the session's tenant signed with the server's \`JWT_SECRET\`). Every editor
makes ${settings.editsPerSecondPerEditor} edits a second, open loop (at fixed times with a random phase, whatever the answers): it
sets its own key \`e<editor>\` of \`data_import.fieldMapping\` to \`<sequence>@<send time>\`, the send time on
the load process's high-resolution clock, so ${count(editors * settings.editsPerSecondPerEditor)} edits/s are offered. ${seconds(settings.warmupMs)} warm-up, then
${seconds(settings.durationMs)} measured; then up to ${seconds(settings.drainMs)} for the window's edits to be acknowledged and seen.
${settings.runsPerBackend} run${settings.runsPerBackend > 1 ? 's' : ''} per backend, alternating PostgreSQL and SQLite.

**Load generator${settings.loadProcesses > 1 ? 's' : ''}.** ${settings.loadProcesses > 1 ? `${settings.loadProcesses} Node processes` : 'One Node process'} apart from the server (${perProcess} sessions, ${perProcess * settings.editorsPerSession} editors${settings.loadProcesses > 1 ? ' each' : ''}), ${settings.loadProcesses > 1 ? 'set up in parallel' : 'set up'} (${fixed(Math.min(...setup), 1)}–${fixed(Math.max(...setup), 1)} s to start the sessions and connect and sync the editors), then started
at one wall-clock time. All ${settings.editorsPerSession} editors of a session are in the same process, so a peer's latency
is read on the sender's clock. \`BENCH_LIVE_EDITS_LOAD_PROCESSES=<n>\` splits the sessions over *n* processes
instead (written to a section of its own), to check that the load generator is not what limits the
numbers. Whether ${settings.loadProcesses > 1 ? 'they' : 'it'} kept up (worst process of any run; an edit's lateness is measured from its
scheduled time, and the event-loop delay adds to every latency it observes):

${table(['backend', 'load-process CPU (100 % = one core)', 'event-loop delay p99 ms', 'edit late vs schedule, p99 / max ms'], loadRows)}

**What is measured**, for the edits made inside the window (on the load process's clock):
- *edit → each peer sees it*: from the local edit (\`Y.Map.set\` on the sender's \`Y.Doc\`) until a peer's
  \`Y.Doc\` observes the new value (\`Y.Map.observe\`, remote transaction): one sample per edit and peer.
  When the SDK merged several queued edits of one editor into one update, the peers see only the last
  value; the earlier edits count as arrived with it (${merged} of the edit × peer deliveries).
- *edit → all ${peers} peers have seen it*: until the last of the other ${peers} editors has: one sample per edit.
- *edit → acknowledged*: until the sender receives the server's acknowledgement (\`{ ok, updateId }\`,
  sent after the commit) of the update frame that carried the edit, read off the SDK's socket. The SDK
  has one frame in flight per editor and merges everything queued meanwhile into the next one: an edit
  made while an earlier one is unacknowledged (${queued} of the window's edits) waits for it, and its
  ack latency includes that wait.
- *edit → next \`saved\`*: until the sender's \`saved\` event, which the SDK fires only when nothing of
  that editor is pending any more. While an editor's edits queue up, it does not fire until the
  editor pauses (here: the end of the load), so this column measures the SDK's \`saved\` signal, not the server.
- *edits acked/s*: edits whose acknowledgement arrived inside the window, per second; *update frames
  acked/s*: acknowledged frames (one or more merged edits each); *edits made/s*: edits made in the window.

**Only committed edits are acknowledged and broadcast.** The server acknowledges a live edit (the
\`updateId\` in the reply, which is what makes \`saved\` fire) only after the transaction appending it
to the session's update log has committed, and it sends an edit to the other connections of the
session only after that commit, in commit order (the author gets the acknowledgement, not an echo).
So every latency below includes the database commit:
${pgDurable ? '- PostgreSQL runs with fsync and synchronous commit on.' : `- **PostgreSQL ran with \`fsync=${pgSettings.fsync}\`, \`synchronous_commit=${pgSettings.synchronous_commit}\`**: commits did not wait for the disk.`}
- SQLite: journal mode ${databases.sqlite.journal_mode ?? 'unknown'}, synchronous ${databases.sqlite.synchronous ?? 'unknown'}${String(databases.sqlite.synchronous).startsWith('FULL') ? ': each commit syncs the WAL to disk' : ''}.

Latency columns: median over the runs of each run's percentile (all load processes' samples
together), with the lowest and highest run in brackets. Errors are refusals the server sent
(\`refused <code>\`, \`RATE_LIMITED\` included, which the SDK otherwise retries quietly), connection
errors and drops, editors still disconnected at the end (after \`io server disconnect\` neither
Socket.IO nor the SDK reconnects), and window edits still unacknowledged or unseen by a peer when the drain ended; by
phase: in the window / in all phases (set-up, warm-up, window, drain). None is dropped. Server CPU is
user + system time of the server process over the window (/proc/<pid>/stat; 100 % = one core), main
thread that of Node's main thread alone, its system calls included (/proc/<pid>/task/<pid>/stat: the
JavaScript event loop, which cannot use more than one core), peak RSS its VmHWM (highest since start); machine CPU busy is all cores over the window (/proc/stat),
which includes the load generators and the database.

**These machines are noisy** (a shared VM with ${context.machine.cores} cores that the server, the load generators and the
database all share): read the spread before comparing numbers, and do not compare them with numbers
measured elsewhere. The 1-minute load average just before the runs ranged from ${fixed(Math.min(...loads), 1)} to
${fixed(Math.max(...loads), 1)} on ${context.machine.cores} cores.${
    saturated
      ? `
The machine's CPUs were nearly saturated during the runs (machine CPU busy below): the server, the
database and the load generators competed for ${context.machine.cores} cores, so these latencies are bounded by this box
as much as by the server.`
      : ''
  }

${table(['backend', 'latency', 'samples', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], latencyRows)}

${table(
  [
    'backend',
    'runs',
    'edits made/s',
    'edits acked/s',
    'update frames acked/s',
    'window edits acked',
    'seen by every peer',
    'errors (window / all)',
    'server CPU',
    'server main thread',
    'server peak RSS MiB',
    'machine CPU busy',
  ],
  throughputRows,
)}

${reading.join('\n')}

${errorKinds.length > 0 ? `Errors and refusals by kind: ${errorKinds.join('; ')}.` : `No error, refusal or disconnection in any run (set-up, warm-up, window and drain); in particular no \`RATE_LIMITED\` (${settings.editsPerSecondPerEditor} edits/s per connection against a limit of ${settings.socketUpdatesPerSecond}).`}

${chartImage(jsonPath, 'latency')}

<details><summary>Every run</summary>

${perRun}

${databaseSettingsLine(pgSettings, databases.sqlite)}

</details>
`;
}

async function runOnce(
  context: ScenarioContext,
  settings: Settings,
  backend: Backend,
  run: number,
  secret: string,
  databases: Record<Backend, Record<string, string>>,
): Promise<RunResult> {
  const log = (message: string) => console.error(`[live-edits] ${message}`);
  const mode = context.quick ? 'quick' : 'full';
  const dataDir = await makeTempDir('bench-live-edits');
  try {
    const databaseUrl = await runDatabase(context.postgres.url, backend, `bench_live_edits_${mode}_${run}`, run, databases);
    log(`run ${run}/${settings.runsPerBackend} ${BACKEND_NAMES[backend]}: starting the server`);
    const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
    const codeBefore = sourceFingerprint();
    const server = await startLiveEditsServer(secret, dataDir, settings.socketUpdatesPerSecond, databaseUrl);
    let result: RunResult;
    try {
      const perProcess = Math.ceil(settings.sessions / settings.loadProcesses);
      const children = Array.from({ length: settings.loadProcesses }, (_, index) =>
        startLiveEditsLoad(
          settings,
          {
            processIndex: index,
            baseUrl: server.baseUrl,
            tenantPrefix: `bench-live-${backend}-${run}`,
            sessionFrom: index * perProcess,
            sessionTo: Math.min(settings.sessions, (index + 1) * perProcess),
          },
          secret,
        ),
      );
      // A child that fails in set-up rejects `ready`; the others are killed when the run ends.
      await Promise.all(children.map((child) => child.ready));
      const { results, usage } = await runLoadWindow(children, [server.pid], settings, log);
      result = combine(backend, run, { before: codeBefore, after: codeBefore }, loadAverage1m, results, usage.servers()[0] ?? null, usage.machineCpuBusyPercent());
    } finally {
      await server.stop();
    }
    result.code.after = sourceFingerprint();
    if (result.code.after !== codeBefore) log(`WARNING: the code under test changed during run ${run} ${BACKEND_NAMES[backend]} (${codeBefore} → ${result.code.after})`);
    if (backend === 'sqlite' && run === 1) databases.sqlite = sqliteSettings(path.join(dataDir, 'onboarding.sqlite'));
    log(
      `run ${run} ${BACKEND_NAMES[backend]}: ${count(result.ackedPerSecond)} acked/s; edit→peer p50 ${fixed(result.latencyMs.peer.p50, 1)} ms, ` +
        `p99 ${fixed(result.latencyMs.peer.p99, 1)} ms; ack p50 ${fixed(result.latencyMs.ack.p50, 1)} ms, p99 ${fixed(result.latencyMs.ack.p99, 1)} ms; ` +
        `errors ${result.errorsInWindow} in window / ${result.errorsTotal} in all; server CPU ${result.server ? `${fixed(result.server.cpuPercentOfOneCore, 0)} % (main thread ${fixed(result.server.mainThreadCpuPercent, 0)} %)` : '?'}; ` +
        `load processes ${result.loadProcesses.map((p) => `${fixed(p.cpuPercentOfOneCore, 0)} % CPU, event-loop p99 ${fixed(p.loadGenerator.eventLoopDelayMs.p99, 1)} ms`).join('; ')}`,
    );
    if (result.errorSamples.length > 0) log(`first errors: ${result.errorSamples.slice(0, 3).join(' | ')}`);
    return result;
  } finally {
    await removeTempDir(dataDir);
  }
}

async function runLiveEdits(context: ScenarioContext): Promise<void> {
  const settings = settingsFor(context.quick);
  const secret = randomBytes(32).toString('base64url');
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const byBackend = await runInTurn(settings.runsPerBackend, BACKENDS, (backend, run) => runOnce(context, settings, backend, run, secret, databases));
  const sorted = byBackend.flatMap(({ runs }) => runs);
  const summaries = byBackend.map(({ key, runs }) => summarize(key, runs));

  // A run with a non-default number of load processes (BENCH_LIVE_EDITS_LOAD_PROCESSES) is kept apart.
  const defaults = context.quick ? QUICK : FULL;
  const variant = settings.loadProcesses === defaults.loadProcesses ? '' : `-${settings.loadProcesses}-load-process${settings.loadProcesses > 1 ? 'es' : ''}`;
  const sectionName = `live-edits${variant}${context.quick ? '-quick' : ''}`;
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', `live-edits${variant}${context.quick ? '.quick' : ''}.json`);
  const raw = {
    settings,
    databases,
    postgresReused: context.postgres.reused,
    summaries: summaries.map((s) => roundedSummary(s, METRICS)),
    runs: sorted,
  };
  writeRawResults(jsonPath, context, 'live-edits', raw, commandOf(context, settings, variant !== ''));
  writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    sectionName,
    renderMarkdown(context, settings, summaries, sorted, databases, jsonPath, variant !== ''),
    // The full results read first; the quick smoke section and the variants follow them.
    sectionName === 'live-edits' ? { before: 'live-edits-quick' } : {},
  );
  console.error(`[live-edits] wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const liveEdits: Scenario = {
  name: 'live-edits',
  summary: 'edit-to-peer and ack latency of live Yjs editing (SessionProvider over Socket.IO), many sessions on one node',
  run: runLiveEdits,
};
