// Scenario peers (issue 7, scenario 1): the same live-editing workload on one node against this
// server (PostgreSQL and SQLite, driven by the client SDK) and against the peers, Hocuspocus 3 with
// its SQLite extension and the reference @y/websocket-server, each driven by its own unmodified
// client. Documents × editors (who only edit) × edits/s, plus read-only observers per document:
// edit → observer latency, edits/s, errors, server CPU and RSS; medians of repeated runs and the
// ratio of this server's p99 to each peer's. The peers are installed under bench/peers with their
// own lockfile (bench/support/peer-install.ts).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import type { CoordinatedChild } from '../support/children.ts';
import { BACKEND_NAMES, runDatabase, sqliteSettings, type Backend } from '../support/databases.ts';
import { count, fixed } from '../support/format.ts';
import { combineLoads, deliveryCells, observerLatencyCells, roundedSummary, runCells, summarizeRuns, summarizeServer, type CombinedLoad, type RunsSummary, type ServerOverRuns } from '../support/live-edits-combine.ts';
import { PEERS_FULL, PEERS_QUICK, startLiveEditsLoad, startLiveEditsServer, startPeerEditsLoad, type PeersSettings } from '../support/live-edits-load.ts';
import type { LiveEditsReady, LiveEditsResult } from '../support/live-edits-result.ts';
import { databaseSettingsLine, runFacts, table, upsertSection } from '../support/markdown.ts';
import { ensurePeersInstalled, peerVersions } from '../support/peer-install.ts';
import { startPeerServer, type PeerName } from '../support/peer-server.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { scrapeMetrics, sumOf } from '../support/prometheus.ts';
import { writeRawResults } from '../support/raw-results.ts';
import { runInTurn, selectedTargets, type Scenario, type ScenarioContext } from '../support/scenario.ts';
import { latencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { runOneLoadWindow, type ServerUsage } from '../support/window-usage.ts';

type Settings = PeersSettings;

type Target = 'glavito-postgresql' | 'glavito-sqlite' | PeerName;
const TARGETS: readonly Target[] = ['glavito-postgresql', 'glavito-sqlite', 'hocuspocus', 'y-websocket'];
const TARGET_NAMES: Record<Target, string> = {
  'glavito-postgresql': `this server, ${BACKEND_NAMES.postgresql}`,
  'glavito-sqlite': `this server, ${BACKEND_NAMES.sqlite}`,
  hocuspocus: 'Hocuspocus 3 + SQLite',
  'y-websocket': '@y/websocket-server',
};
const ACKNOWLEDGES: Record<Target, string> = {
  'glavito-postgresql': 'acknowledges an edit (and broadcasts it) only after the transaction appending it to the session log committed (fsync and synchronous commit on)',
  'glavito-sqlite': 'acknowledges an edit (and broadcasts it) only after its commit to the embedded SQLite database (WAL)',
  hocuspocus:
    'no acknowledgement of an edit as stored: applies it in memory and broadcasts it at once; stores the whole document in SQLite after 2 s without edits, at least every 10 s (debounce / maxDebounce defaults) — a crash loses up to that much',
  'y-websocket': 'no acknowledgement and no storage: applies in memory and broadcasts at once (persistence only with YPERSISTENCE, off here)',
};

type Metric = 'peer' | 'allPeers';
const METRICS: readonly Metric[] = ['peer', 'allPeers'];

type RunResult = {
  target: Target;
  run: number;
  loadAverage1m: number;
  latencyMs: Record<Metric, LatencySummary>;
  histograms: Record<Metric, LatencyHistogram>;
  server: ServerUsage | null;
  machineCpuBusyPercent: number | null;
  /** This server only: its batch commits of live edits over the window (from /metrics). */
  commits: CommitStats | null;
} & CombinedLoad;

/** Batch transactions of live edits over the window: how many a second, how big, how long on average. */
type CommitStats = { perSecond: number; updatesPerCommit: number; meanMs: number; failed: number };

/** The session_commit_* counters now: transactions committed and failed, their seconds, the updates in them. */
async function commitCounters(baseUrl: string): Promise<{ committed: number; failed: number; seconds: number; updates: number }> {
  const samples = await scrapeMetrics(baseUrl);
  const value = (name: string, where: Record<string, string> = {}) => {
    const sum = sumOf(samples, name, where);
    return Number.isNaN(sum) ? 0 : sum;
  };
  return {
    committed: value('session_commit_seconds_count', { outcome: 'committed' }),
    failed: value('session_commit_seconds_count', { outcome: 'failed' }),
    seconds: value('session_commit_seconds_sum', { outcome: 'committed' }),
    updates: value('session_commit_batch_updates_sum'),
  };
}

async function runOnce(context: ScenarioContext, settings: Settings, target: Target, run: number, secret: string, databases: Record<Backend, Record<string, string>>): Promise<RunResult> {
  const log = (message: string) => console.error(`[peers] ${message}`);
  const dataDir = await makeTempDir('bench-peers');
  try {
    const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
    log(`run ${run}/${settings.runs} ${TARGET_NAMES[target]}: starting the server`);
    let pid: number;
    let stop: () => Promise<void>;
    let metricsUrl: string | undefined;
    let child: CoordinatedChild<LiveEditsReady, LiveEditsResult>;
    if (target === 'glavito-postgresql' || target === 'glavito-sqlite') {
      const backend: Backend = target === 'glavito-postgresql' ? 'postgresql' : 'sqlite';
      const databaseUrl = await runDatabase(context.postgres.url, backend, `bench_peers_${context.quick ? 'quick' : 'full'}_${run}`, run, databases);
      const server = await startLiveEditsServer(secret, dataDir, settings.socketUpdatesPerSecond, databaseUrl);
      pid = server.pid;
      stop = () => server.stop();
      metricsUrl = server.baseUrl;
      if (backend === 'sqlite' && run === 1) databases.sqlite = sqliteSettings(path.join(dataDir, 'onboarding.sqlite'));
      // The live-edits load generator with one layout per session: editors only edit, observers only observe.
      const layout = { editorUrls: Array<string>(settings.editorsPerDoc).fill(server.baseUrl), observerUrls: Array<string>(settings.observersPerDoc).fill(server.baseUrl) };
      child = startLiveEditsLoad(
        { ...settings, sessions: settings.docs, editorsPerSession: settings.editorsPerDoc },
        { processIndex: 0, baseUrl: server.baseUrl, tenantPrefix: `bench-peers-${target}-${run}`, sessionFrom: 0, sessionTo: settings.docs, layouts: Array.from({ length: settings.docs }, () => layout) },
        secret,
      );
    } else {
      const server = await startPeerServer(target, path.join(dataDir, 'hocuspocus.sqlite'));
      pid = server.pid;
      stop = () => server.stop();
      child = startPeerEditsLoad(settings, target, `bench-${run}`, { url: server.url });
    }
    try {
      await child.ready;
      const counters = (at: number) => (metricsUrl === undefined ? undefined : sleep(Math.max(0, at - Date.now())).then(() => commitCounters(metricsUrl)).catch(() => undefined));
      let commitsAtEdges: Promise<[Awaited<ReturnType<typeof counters>>, Awaited<ReturnType<typeof counters>>]> = Promise.resolve([undefined, undefined]);
      const { result, usage } = await runOneLoadWindow(child, [pid], settings, log, (windowStart) => {
        commitsAtEdges = Promise.all([counters(windowStart), counters(windowStart + settings.durationMs)]);
      });
      const [before, after] = await commitsAtEdges;
      const committed = before && after ? after.committed - before.committed : 0;
      const commits: CommitStats | null =
        before && after
          ? {
              perSecond: committed / (settings.durationMs / 1000),
              updatesPerCommit: committed > 0 ? (after.updates - before.updates) / committed : 0,
              meanMs: committed > 0 ? ((after.seconds - before.seconds) * 1000) / committed : 0,
              failed: after.failed - before.failed,
            }
          : null;
      const samples: Record<Metric, Float64Array> = { peer: result.samples.peerMs, allPeers: result.samples.allPeersMs };
      const combined = combineLoads([result]);
      const out: RunResult = {
        target,
        run,
        loadAverage1m,
        ...latencies(samples),
        server: usage.servers()[0] ?? null,
        machineCpuBusyPercent: usage.machineCpuBusyPercent(),
        commits,
        ...combined,
      };
      log(
        `run ${run} ${TARGET_NAMES[target]}: ${count(out.madePerSecond)} edits/s made; edit→observer p50 ${fixed(out.latencyMs.peer.p50, 1)} ms, p99 ${fixed(out.latencyMs.peer.p99, 1)} ms; ` +
          `errors ${out.errorsInWindow} / ${out.errorsTotal}; server CPU ${out.server ? `${fixed(out.server.cpuPercentOfOneCore, 0)} %, RSS ${fixed(out.server.peakRssMiB, 0)} MiB` : '?'}`,
      );
      if (commits) log(`run ${run} ${TARGET_NAMES[target]}: ${count(commits.perSecond)} batch commits/s, ${fixed(commits.updatesPerCommit, 1)} updates each, ${fixed(commits.meanMs, 1)} ms mean, ${commits.failed} failed`);
      if (out.errorSamples.length > 0) log(`first errors: ${out.errorSamples.slice(0, 3).join(' | ')}`);
      return out;
    } finally {
      await stop();
    }
  } finally {
    await removeTempDir(dataDir);
  }
}

type Summary = { target: Target } & RunsSummary<Metric> & ServerOverRuns;

function summarize(target: Target, runs: readonly RunResult[]): Summary {
  return { target, ...summarizeRuns(runs, METRICS), ...summarizeServer(runs) };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, summaries: readonly Summary[], results: readonly RunResult[], databases: Record<Backend, Record<string, string>>, jsonPath: string, versions: Record<string, string>): string {
  const latencyRows = summaries.map((s) => [
    TARGET_NAMES[s.target],
    String(s.runs),
    ...observerLatencyCells(s),
    ...deliveryCells(s),
    s.serverCpuPercentOfOneCore === null ? '—' : `${fixed(s.serverCpuPercentOfOneCore, 0)} %`,
    s.serverPeakRssMiB === null ? '—' : fixed(s.serverPeakRssMiB, 0),
    s.machineCpuBusyPercent === null ? '—' : `${fixed(s.machineCpuBusyPercent, 0)} %`,
  ]);
  const ours = summaries.filter((s) => s.target.startsWith('glavito'));
  const peers = summaries.filter((s) => !s.target.startsWith('glavito'));
  const ratioRows = ours.map((o) => [
    TARGET_NAMES[o.target],
    ...peers.map((p) => `${fixed(o.latencyMs.peer.p99.median / p.latencyMs.peer.p99.median, 2)} × (p50 ${fixed(o.latencyMs.peer.p50.median / p.latencyMs.peer.p50.median, 2)} ×)`),
  ]);
  const errorKinds = summaries.flatMap((s) => Object.entries(s.errorsByKind).map(([kind, n]) => `${TARGET_NAMES[s.target]}: ${n} × \`${kind}\``));
  const loads = results.map((r) => r.loadAverage1m).filter((v) => Number.isFinite(v));
  const perRun = table(
    ['run', 'target', 'edits made/s', 'p50 ms', 'p99 ms', 'errors (window / all)', 'server CPU', 'server peak RSS MiB', 'batch commits/s, updates each, mean ms', 'load process CPU, event-loop p99 ms', 'load average before'],
    results.map((r) => [
      String(r.run),
      TARGET_NAMES[r.target],
      ...runCells(r),
      r.server ? `${fixed(r.server.cpuPercentOfOneCore, 0)} %` : '—',
      r.server ? fixed(r.server.peakRssMiB, 0) : '—',
      r.commits ? `${count(r.commits.perSecond)}, ${fixed(r.commits.updatesPerCommit, 1)}, ${fixed(r.commits.meanMs, 1)}${r.commits.failed > 0 ? ` (${r.commits.failed} failed)` : ''}` : '—',
      r.loadProcesses.map((p) => `${fixed(p.cpuPercentOfOneCore, 0)} %, ${fixed(p.loadGenerator.eventLoopDelayMs.p99, 1)}`).join('; '),
      fixed(r.loadAverage1m, 2),
    ]),
  );
  return `
## peers: this server next to Hocuspocus and @y/websocket-server, ${settings.docs} documents × ${settings.editorsPerDoc} editors + ${settings.observersPerDoc} observers on one node${context.quick ? ' (quick smoke run, not for quoting)' : ''}

${runFacts(context, jsonPath)}
- **Peers** (bench/peers/package-lock.json): ${Object.entries(versions).map(([name, version]) => `\`${name}@${version}\``).join(', ')}

**Workload** (issue 7, scenario 1). One server process per run, fresh storage each time. ${settings.docs} documents
(this server: onboarding sessions, one tenant each), each with ${settings.editorsPerDoc} editors that only edit and ${settings.observersPerDoc} read-only
observers that only observe, each its own connection and \`Y.Doc\`: ${settings.docs * (settings.editorsPerDoc + settings.observersPerDoc)} clients. Every editor makes
${settings.editsPerSecondPerEditor} edits a second, open loop with a random phase (${count(settings.docs * settings.editorsPerDoc * settings.editsPerSecondPerEditor)} edits/s offered): it sets its own key of a
shared \`Y.Map\` to a unique \`<sequence>@<send time>\` token. ${settings.warmupMs / 1000} s warm-up, ${settings.durationMs / 1000} s measured, then up to
${settings.drainMs / 1000} s for the window's edits to reach every observer. ${settings.runs} run${settings.runs > 1 ? 's' : ''} per target, the targets in turn.
- *This server*: the client SDK's \`SessionProvider\` (Socket.IO), the live-edits load generator
  (\`bench/load/live-edits.ts\`) with per-session layouts; the map is \`data_import.fieldMapping\` of the
  session document. Admin tokens signed with the server's \`JWT_SECRET\`; default configuration, \`LOG_LEVEL=warn\`.
- *Hocuspocus*: \`bench/peers/hocuspocus.ts\` (\`new Server({ debounce: 2000, maxDebounce: 10000, extensions: [new SQLite({ database })] })\`),
  clients \`HocuspocusProvider\` (one WebSocket each, \`ws\` as the WebSocket).
- *y-websocket*: \`bench/peers/y-websocket.ts\` (\`setupWSConnection\` of \`@y/websocket-server/utils\`, as its own
  \`bin/server.js\`), clients y-websocket's \`WebsocketProvider\` (\`ws\`, BroadcastChannel off).
- Peers' clients: \`bench/load/peer-edits.ts\`. A Y.Map key per editor rather than Y.Text inserts, so
  that all targets make the same Yjs operation: this server's session documents hold collaborative
  text only in schema fields with a length limit (10,000 characters at most) that a minute of typing
  by 5 editors would exceed.

**Latency**: edit (the local \`Y.Map.set\`) → an observer's \`Y.Doc\` observes the value, on the load
process's clock (editors and observers of a document are in one process): one sample per edit and
observer; *all observers*: until the last of the ${settings.observersPerDoc}. Median over runs of each run's percentile, lowest and
highest run in brackets. Server CPU: user + system of the server process over the window
(/proc, 100 % = one core); RSS: peak (VmHWM). Machine CPU busy: all cores, load generator and
database included.
*Batch commits* (this server, in the table of every run): its node-wide transactions of live edits over the
window, from \`session_commit_seconds\` and \`session_commit_batch_updates\` on /metrics.

**What each acknowledges** (not the same guarantee: the latencies of this server include a durable commit, the peers' do not):
${summaries.map((s) => `- ${TARGET_NAMES[s.target]}: ${ACKNOWLEDGES[s.target]}.`).join('\n')}

${table(['target', 'runs', 'samples', 'p50 ms', 'p95 ms', 'p99 ms', 'all observers p99 ms', 'edits made/s', 'seen by every observer', 'errors (window / all)', 'server CPU', 'server peak RSS MiB', 'machine CPU busy'], latencyRows)}

Ratio of this server's edit → observer p99 (median over runs) to each peer's (below 1: faster than the peer):

${table(['', ...peers.map((p) => TARGET_NAMES[p.target])], ratioRows)}

${errorKinds.length > 0 ? `Errors by kind: ${errorKinds.join('; ')}.` : 'No error or disconnection in any run.'}

**Noise.** A shared VM with ${context.machine.cores} cores for the server, the load generator and the database; 1-minute load
average before the runs ${fixed(Math.min(...loads), 1)}–${fixed(Math.max(...loads), 1)}. ${settings.runs > 1 ? 'Read the brackets (lowest and highest run) before comparing.' : 'One run per target: no spread to read; quote only the full run.'}

${chartImage(jsonPath, 'latency')}

<details><summary>Every run</summary>

${perRun}

${databaseSettingsLine(databases.postgresql, databases.sqlite)}

</details>
`;
}

async function runPeers(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? PEERS_QUICK : PEERS_FULL;
  const log = (message: string) => console.error(`[peers] ${message}`);
  ensurePeersInstalled(log);
  const versions = peerVersions();
  const secret = randomBytes(32).toString('base64url');
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const byTarget = await runInTurn(settings.runs, selectedTargets('BENCH_PEERS_TARGETS', TARGETS), (target, run) => runOnce(context, settings, target, run, secret, databases));
  const sorted = byTarget.flatMap(({ runs }) => runs);
  const summaries = byTarget.map(({ key, runs }) => summarize(key, runs));
  const sectionName = `peers${context.quick ? '-quick' : ''}`;
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', `peers${context.quick ? '.quick' : ''}.json`);
  writeRawResults(jsonPath, context, 'peers', { settings, versions, acknowledges: ACKNOWLEDGES, databases, postgresReused: context.postgres.reused, summaries: summaries.map((s) => roundedSummary(s, METRICS)), runs: sorted });
  writeCharts(jsonPath);
  upsertSection(path.join(REPO_ROOT, 'BENCHMARKS.md'), sectionName, renderMarkdown(context, settings, summaries, sorted, databases, jsonPath, versions), sectionName === 'peers' ? { before: 'peers-quick' } : {});
  console.error(`[peers] wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const peers: Scenario = {
  name: 'peers',
  summary: 'this server next to Hocuspocus 3 (+SQLite) and @y/websocket-server: edit-to-peer latency, one node',
  run: runPeers,
};
