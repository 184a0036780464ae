// Scenario peers-cluster (issue 7, scenario 2): the peers workload on three nodes, editors and
// observers on different nodes. This server as a 3-node cluster (PostgreSQL + Redis, the cluster
// tests' harness test/support/cluster.ts, driven by the live-edits load generator with per-session
// layouts) next to Hocuspocus 3 on 3 nodes joined by its Redis extension (@hocuspocus/extension-redis
// on the harness's Redis), each node with its SQLite extension on a file of its own, driven by
// bench/load/peer-edits.ts with per-document layouts. @y/websocket-server has no multi-node mode and
// is left out. Edit → observer latency, edits/s, errors, CPU and RSS per node; medians of repeated
// runs and the ratio of this server's p99 to Hocuspocus's.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { Cluster } from '../../test/support/cluster.ts';
import { TEST_JWT_SECRET } from '../../test/support/config.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { trackProcess, type CoordinatedChild } from '../support/children.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { postgresSettings } from '../support/databases.ts';
import { count, fixed, percent, spreadOf, withSpread, type Spread } from '../support/format.ts';
import { combineLoads, deliveryCells, observerLatencyCells, roundedSummary, runCells, summarizeRuns, type CombinedLoad, type RunsSummary } from '../support/live-edits-combine.ts';
import { PEERS_FULL, PEERS_QUICK, startLiveEditsLoad, startPeerEditsLoad, type PeersSettings } from '../support/live-edits-load.ts';
import type { LiveEditsReady, LiveEditsResult } from '../support/live-edits-result.ts';
import { runFacts, table, upsertSection } from '../support/markdown.ts';
import { ensurePeersInstalled, peerVersions } from '../support/peer-install.ts';
import { startPeerNodes } from '../support/peer-server.ts';
import { writeRawResults } from '../support/raw-results.ts';
import { runInTurn, selectedTargets, type Scenario, type ScenarioContext } from '../support/scenario.ts';
import { latencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { runOneLoadWindow, type ServerUsage } from '../support/window-usage.ts';

type Settings = PeersSettings & { nodes: number };
// The peers scenario's workload (bench/scenarios/peers.ts), spread over three nodes.
const FULL: Settings = { nodes: 3, ...PEERS_FULL };
const QUICK: Settings = { nodes: 3, ...PEERS_QUICK };

type Target = 'glavito-cluster' | 'hocuspocus-redis';
const TARGETS: readonly Target[] = ['glavito-cluster', 'hocuspocus-redis'];
const TARGET_NAMES: Record<Target, string> = {
  'glavito-cluster': 'this server, 3-node cluster (PostgreSQL + Redis)',
  'hocuspocus-redis': 'Hocuspocus 3, 3 nodes + Redis extension, SQLite per node',
};
const ACKNOWLEDGES: Record<Target, string> = {
  'glavito-cluster':
    "acknowledges an edit (and broadcasts it) only after the transaction appending it to the session log committed on the session's owner (PostgreSQL, fsync and synchronous commit on); an edit made on another node is forwarded to the owner, and the owner's committed update reaches the other nodes' clients through the cluster",
  'hocuspocus-redis':
    'no acknowledgement of an edit as stored: the node the editor is on applies it in memory and broadcasts it to its own clients at once; the other nodes get it through Redis pub/sub (the node publishes its state vector, they answer with theirs, it publishes the missing update) and broadcast it from memory; each node stores the whole document in its own SQLite file after 2 s without edits, at least every 10 s (debounce / maxDebounce defaults), one node at a time under a Redis lock — a crash loses up to that much',
};

type Metric = 'peer' | 'allPeers' | 'ack';
const METRICS: readonly Metric[] = ['peer', 'allPeers', 'ack'];

/** Node index of document d's editors, and of its observer o: editors on n1, observers alternate n2, n3. */
const EDITOR_NODE = 0;
const observerNode = (doc: number, observer: number) => 1 + ((doc + observer) % 2);

function layoutsFor(settings: Settings, urls: readonly string[]): { editorUrls: string[]; observerUrls: string[] }[] {
  return Array.from({ length: settings.docs }, (_, d) => ({
    editorUrls: Array.from({ length: settings.editorsPerDoc }, () => urls[EDITOR_NODE]!),
    observerUrls: Array.from({ length: settings.observersPerDoc }, (_, o) => urls[observerNode(d, o)]!),
  }));
}

type NodeRun = { id: string; usage: ServerUsage | null; ownedSessions: number | null };

type RunResult = {
  target: Target;
  run: number;
  loadAverage1m: number;
  latencyMs: Record<Metric, LatencySummary>;
  histograms: Record<Metric, LatencyHistogram>;
  nodes: NodeRun[];
  machineCpuBusyPercent: number | null;
} & CombinedLoad;

const log = (message: string) => console.error(`[peers-cluster] ${message}`);

type Started = {
  ids: string[];
  pids: number[];
  child: CoordinatedChild<LiveEditsReady, LiveEditsResult>;
  /** Which node owns each session (this server only), indexes into ids. */
  owners?: (sessionIds: readonly string[]) => Promise<number[]>;
  stop(): Promise<void>;
};

async function startGlavito(context: ScenarioContext, settings: Settings, run: number, redisUrl: string, facts: { postgres?: Record<string, string> }): Promise<Started> {
  const cluster = await Cluster.start({
    size: settings.nodes,
    redisUrl,
    env: { SOCKET_UPDATES_PER_SECOND: String(settings.socketUpdatesPerSecond) },
    onSpawn: (server) => {
      if (server.child.pid !== undefined) trackProcess(server.child.pid, () => server.signal('SIGKILL'), server.exited);
    },
  });
  try {
    facts.postgres ??= await postgresSettings(cluster.databaseUrl);
    const urls = cluster.nodes.map((node) => node.url);
    const child = startLiveEditsLoad(
      { ...settings, sessions: settings.docs, editorsPerSession: settings.editorsPerDoc },
      { processIndex: 0, baseUrl: urls[EDITOR_NODE]!, tenantPrefix: `bench-peers-cluster-${context.quick ? 'q' : 'f'}-${run}`, sessionFrom: 0, sessionTo: settings.docs, layouts: layoutsFor(settings, urls) },
      TEST_JWT_SECRET,
    );
    return {
      ids: cluster.nodes.map((node) => node.id),
      pids: cluster.nodes.map((node) => node.process.child.pid ?? Number.NaN),
      child,
      owners: async (sessionIds) => {
        const owners = await Promise.all(sessionIds.map((id) => cluster.owner(id, cluster.nodes[0]!)));
        return owners.map(({ node }) => cluster.nodes.indexOf(node));
      },
      stop: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function startHocuspocus(context: ScenarioContext, settings: Settings, run: number, redisUrl: string, dataDir: string): Promise<Started> {
  const prefix = `bench-peers-cluster-${context.quick ? 'q' : 'f'}-${run}-${randomBytes(4).toString('hex')}`;
  const servers = await startPeerNodes('hocuspocus', settings.nodes, (i) => path.join(dataDir, `hocuspocus-n${i + 1}.sqlite`), { redis: { url: redisUrl, prefix } });
  const child = startPeerEditsLoad(settings, 'hocuspocus', `bench-${run}`, {
    layouts: layoutsFor(
      settings,
      servers.map((server) => server.url),
    ),
  });
  return {
    ids: servers.map((_, i) => `n${i + 1}`),
    pids: servers.map((server) => server.pid),
    child,
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

async function runOnce(context: ScenarioContext, settings: Settings, target: Target, run: number, redisUrl: string, facts: { postgres?: Record<string, string> }): Promise<RunResult> {
  const dataDir = await makeTempDir('bench-peers-cluster');
  try {
    const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
    log(`run ${run}/${settings.runs} ${TARGET_NAMES[target]}: starting ${settings.nodes} nodes`);
    const started = target === 'glavito-cluster' ? await startGlavito(context, settings, run, redisUrl, facts) : await startHocuspocus(context, settings, run, redisUrl, dataDir);
    try {
      const ready = await started.child.ready;
      const { result, usage } = await runOneLoadWindow(started.child, started.pids, settings, log);
      const owners = started.owners ? await started.owners(ready.sessionIds) : undefined;
      const samples: Record<Metric, Float64Array> = { peer: result.samples.peerMs, allPeers: result.samples.allPeersMs, ack: result.samples.ackMs };
      const out: RunResult = {
        target,
        run,
        loadAverage1m,
        ...latencies(samples),
        nodes: started.ids.map((id, i) => ({ id, usage: usage.servers()[i] ?? null, ownedSessions: owners ? owners.filter((o) => o === i).length : null })),
        machineCpuBusyPercent: usage.machineCpuBusyPercent(),
        ...combineLoads([result]),
      };
      log(
        `run ${run} ${TARGET_NAMES[target]}: ${count(out.madePerSecond)} edits/s made; edit→observer p50 ${fixed(out.latencyMs.peer.p50, 1)} ms, p99 ${fixed(out.latencyMs.peer.p99, 1)} ms; ` +
          `errors ${out.errorsInWindow} / ${out.errorsTotal}; nodes ${out.nodes.map((n) => `${n.id} ${n.usage ? `${fixed(n.usage.cpuPercentOfOneCore, 0)} % ${fixed(n.usage.peakRssMiB, 0)} MiB` : '?'}`).join(', ')}`,
      );
      if (out.errorSamples.length > 0) log(`first errors: ${out.errorSamples.slice(0, 3).join(' | ')}`);
      return out;
    } finally {
      await started.stop();
    }
  } finally {
    await removeTempDir(dataDir);
  }
}

type NodeSummary = { id: string; cpuPercentOfOneCore: Spread; peakRssMiB: number; ownedSessions: (number | null)[] };
type Summary = { target: Target; nodes: NodeSummary[]; totalCpuPercentOfOneCore: Spread; machineCpuBusyPercent: Spread } & RunsSummary<Metric>;

function summarize(target: Target, runs: readonly RunResult[]): Summary {
  const nodeRuns = (i: number) => runs.map((r) => r.nodes[i]!);
  return {
    target,
    ...summarizeRuns(runs, METRICS),
    nodes: runs[0]!.nodes.map((node, i) => ({
      id: node.id,
      cpuPercentOfOneCore: spreadOf(nodeRuns(i).map((n) => n.usage?.cpuPercentOfOneCore ?? Number.NaN)),
      peakRssMiB: Math.max(...nodeRuns(i).map((n) => n.usage?.peakRssMiB ?? Number.NaN).filter((v) => Number.isFinite(v))),
      ownedSessions: nodeRuns(i).map((n) => n.ownedSessions),
    })),
    totalCpuPercentOfOneCore: spreadOf(runs.map((r) => r.nodes.reduce((total, n) => total + (n.usage?.cpuPercentOfOneCore ?? Number.NaN), 0))),
    machineCpuBusyPercent: spreadOf(runs.map((r) => r.machineCpuBusyPercent ?? Number.NaN)),
  };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, summaries: readonly Summary[], results: readonly RunResult[], facts: { postgres?: Record<string, string> }, jsonPath: string, versions: Record<string, string>): string {
  const nodeCells = (s: Summary) => s.nodes.map((n) => `${n.id} ${fixed(n.cpuPercentOfOneCore.median, 0)} %`).join(', ');
  const latencyRows = summaries.map((s) => [
    TARGET_NAMES[s.target],
    String(s.runs),
    ...observerLatencyCells(s),
    s.latencyMs.ack.samples > 0 ? `${withSpread(s.latencyMs.ack.p50, 1, s.runs)} / ${withSpread(s.latencyMs.ack.p99, 1, s.runs)}` : '— (none)',
    ...deliveryCells(s),
  ]);
  const nodeRows = summaries.map((s) => [
    TARGET_NAMES[s.target],
    nodeCells(s),
    withSpread(s.totalCpuPercentOfOneCore, 0, s.runs).replace(/^([^ ]+)/, '$1 %'),
    s.nodes.map((n) => `${n.id} ${fixed(n.peakRssMiB, 0)}`).join(', '),
    withSpread(s.machineCpuBusyPercent, 0, s.runs).replace(/^([^ ]+)/, '$1 %'),
    s.target === 'glavito-cluster' ? s.nodes.map((n) => `${n.id} ${n.ownedSessions.map((o) => (o === null ? '?' : String(o))).join('/')}`).join(', ') : '—',
  ]);
  const ours = summaries.find((s) => s.target === 'glavito-cluster');
  const peer = summaries.find((s) => s.target === 'hocuspocus-redis');
  const ratio =
    ours && peer
      ? `Ratio of this server's edit → observer p99 (median over runs) to Hocuspocus's: **${fixed(ours.latencyMs.peer.p99.median / peer.latencyMs.peer.p99.median, 2)} ×** (p50 ${fixed(ours.latencyMs.peer.p50.median / peer.latencyMs.peer.p50.median, 2)} ×; below 1: faster than the peer).`
      : 'No ratio: a target did not run (BENCH_PEERS_CLUSTER_TARGETS).';
  const errorKinds = summaries.flatMap((s) => Object.entries(s.errorsByKind).map(([kind, n]) => `${TARGET_NAMES[s.target]}: ${n} × \`${kind}\``));
  const loads = results.map((r) => r.loadAverage1m).filter((v) => Number.isFinite(v));
  const offered = settings.docs * settings.editorsPerDoc * settings.editsPerSecondPerEditor;
  const perRun = table(
    ['run', 'target', 'edits made/s', 'p50 ms', 'p99 ms', 'errors (window / all)', 'node CPU', 'node peak RSS MiB', 'load process CPU, event-loop p99 ms', 'load average before'],
    results.map((r) => [
      String(r.run),
      TARGET_NAMES[r.target],
      ...runCells(r),
      r.nodes.map((n) => `${n.id} ${n.usage ? `${fixed(n.usage.cpuPercentOfOneCore, 0)} %` : '?'}`).join(', '),
      r.nodes.map((n) => `${n.id} ${n.usage ? fixed(n.usage.peakRssMiB, 0) : '?'}`).join(', '),
      r.loadProcesses.map((p) => `${fixed(p.cpuPercentOfOneCore, 0)} %, ${fixed(p.loadGenerator.eventLoopDelayMs.p99, 1)}`).join('; '),
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const lg = summaries.map((s) => `${TARGET_NAMES[s.target]}: ${fixed(s.loadGenerator.cpuPercentOfOneCore, 0)} % of a core, event-loop delay p99 ${fixed(s.loadGenerator.eventLoopDelayP99Ms, 1)} ms, edits late against their schedule p99 ${fixed(s.loadGenerator.scheduleLagP99Ms, 1)} ms`);
  return `
## peers-cluster: this server's 3-node cluster next to Hocuspocus 3 on 3 nodes with its Redis extension, ${settings.docs} documents × ${settings.editorsPerDoc} editors + ${settings.observersPerDoc} observers${context.quick ? ' (quick smoke run, not for quoting)' : ''}

${runFacts(context, jsonPath)}
- **Peers** (bench/peers/package-lock.json): ${Object.entries(versions).map(([name, version]) => `\`${name}@${version}\``).join(', ')}

**Workload** (issue 7, scenario 2): the \`peers\` scenario's workload on ${settings.nodes} nodes. ${settings.docs} documents (this server: onboarding
sessions, one tenant each), each with ${settings.editorsPerDoc} editors that only edit and ${settings.observersPerDoc} read-only observers that only observe, each its own
connection and \`Y.Doc\` (${settings.docs * (settings.editorsPerDoc + settings.observersPerDoc)} clients). **Layout:** every editor of every document on n1; observer o (0–${settings.observersPerDoc - 1}) of
document d on n2 when d + o is even, on n3 when odd — documents with an even index have observers on n2, n3, n2, the others on
n3, n2, n3 (${count((settings.docs * settings.observersPerDoc) / 2)} observers on each of n2 and n3), so every measured delivery crosses nodes. Every editor makes
${settings.editsPerSecondPerEditor} edits a second, open loop with a random phase (${count(offered)} edits/s offered), setting its own key of a shared \`Y.Map\`
to a unique \`<sequence>@<send time>\` token. ${settings.warmupMs / 1000} s warm-up, ${settings.durationMs / 1000} s measured, then up to ${settings.drainMs / 1000} s for the window's edits to reach every
observer. ${settings.runs} run${settings.runs > 1 ? 's' : ''} per target, the targets in turn, a fresh set of ${settings.nodes} nodes and fresh storage each run. Each target's
${settings.nodes} server processes, PostgreSQL, Redis and the one load process share this machine's ${context.machine.cores} cores.
- *This server*: ${settings.nodes} \`server/main.ts\` processes in cluster mode (\`REDIS_URL\`), one PostgreSQL database and one Redis
  key prefix per run, started by the cluster tests' harness (\`test/support/cluster.ts\`), default configuration, \`LOG_LEVEL=info\` (the harness waits for the \`server listening\` log line).
  Sessions are placed on owners by shard (rendezvous hashing over the nodes), so most sessions' owner is not n1: their edits
  are forwarded from n1 to the owner, and the owner's committed updates reach the observers' nodes (*owned sessions* below).
  Clients: the client SDK's \`SessionProvider\`, load generator \`bench/load/live-edits.ts\` with per-session layouts.
- *Hocuspocus*: ${settings.nodes} \`bench/peers/hocuspocus.ts\` processes, each \`new Server({ debounce: 2000, maxDebounce: 10000, extensions:
  [new Redis({ host, port, prefix }), new SQLite({ database })] })\` with a SQLite file of its own, on the harness's Redis (a key
  prefix per run). Clients: \`HocuspocusProvider\` (\`ws\`), load generator \`bench/load/peer-edits.ts\` with per-document layouts.
- *@y/websocket-server* is left out: it has no multi-node mode (one process holds each document in memory; nothing joins
  two processes).

**Latency**: edit (the local \`Y.Map.set\`) → an observer (on n2 or n3) observes the value, on the load process's clock; one sample
per edit and observer; *all observers*: until the last of the ${settings.observersPerDoc}. *Ack*: this server only, edit → the committed acknowledgement
(Hocuspocus acknowledges nothing). Median over runs of each run's percentile, lowest and highest run in brackets. CPU: user +
system of each node process over the window (/proc, 100 % = one core); RSS: peak (VmHWM), highest run. Machine CPU busy: all
cores, load generator, PostgreSQL and Redis included.

**What each acknowledges** (not the same guarantee: this server's latencies include a durable commit, Hocuspocus's do not):
${summaries.map((s) => `- ${TARGET_NAMES[s.target]}: ${ACKNOWLEDGES[s.target]}.`).join('\n')}

${table(['target', 'runs', 'samples', 'p50 ms', 'p95 ms', 'p99 ms', 'all observers p99 ms', 'ack p50 / p99 ms', 'edits made/s', 'seen by every observer', 'errors (window / all)'], latencyRows)}

${table(['target', 'CPU per node (median)', 'CPU, 3 nodes together', 'peak RSS MiB per node', 'machine CPU busy', 'owned sessions per node (per run)'], nodeRows)}

${ratio}

${errorKinds.length > 0 ? `Errors by kind: ${errorKinds.join('; ')}.` : 'No error or disconnection in any run.'}

**Sustained?** ${count(offered)} edits/s were offered. ${summaries.map((s) => `${TARGET_NAMES[s.target]}: ${withSpread(s.madePerSecond, 0, s.runs)} made/s, ${percent(s.windowEdits.deliveredToAll, s.windowEdits.sent)} of the window's edits seen by every observer by the end of the drain, p99 ${fixed(s.latencyMs.peer.p99.median, 0)} ms`).join('; ')}. The load generator (worst run) — ${lg.join('; ')}.

**Noise.** A shared VM with ${context.machine.cores} cores for ${settings.nodes} server processes, PostgreSQL, Redis and the load generator; 1-minute load average
before the runs ${fixed(Math.min(...loads), 1)}–${fixed(Math.max(...loads), 1)}. ${settings.runs > 1 ? 'Read the brackets (lowest and highest run) before comparing.' : 'One run per target: no spread to read; quote only the full run.'} Three nodes on one
box compete for the same cores, so this measures the cross-node path's cost under contention, not a deployment with a machine per node.

${chartImage(jsonPath, 'latency')}

<details><summary>Every run</summary>

${perRun}

PostgreSQL: ${Object.entries(facts.postgres ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}.

</details>
`;
}

async function runPeersCluster(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  if (context.redis === undefined) throw new Error('the peers-cluster scenario needs Redis (bench/run.ts starts it for the scenarios that ask)');
  // The cluster harness creates each cluster's database on the PostgreSQL the tests name (test/support/isolation.ts).
  process.env.TEST_DATABASE_URL = context.postgres.url;
  ensurePeersInstalled(log);
  const versions = peerVersions();
  const redisUrl = context.redis.url;
  const facts: { postgres?: Record<string, string> } = {};
  const byTarget = await runInTurn(settings.runs, selectedTargets('BENCH_PEERS_CLUSTER_TARGETS', TARGETS), (target, run) => runOnce(context, settings, target, run, redisUrl, facts));
  const sorted = byTarget.flatMap(({ runs }) => runs);
  const summaries = byTarget.map(({ key, runs }) => summarize(key, runs));
  const sectionName = `peers-cluster${context.quick ? '-quick' : ''}`;
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', `peers-cluster${context.quick ? '.quick' : ''}.json`);
  writeRawResults(jsonPath, context, 'peers-cluster', {
    settings,
    layout: { editors: 'n1', observers: 'observer o of document d on n2 when d + o is even, n3 when odd' },
    versions,
    acknowledges: ACKNOWLEDGES,
    postgres: facts.postgres,
    postgresReused: context.postgres.reused,
    redisReused: context.redis.reused,
    summaries: summaries.map((s) => roundedSummary(s, METRICS)),
    runs: sorted,
  });
  const charts = writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    sectionName,
    renderMarkdown(context, settings, summaries, sorted, facts, jsonPath, versions),
    context.quick ? {} : { before: 'peers-cluster-quick' },
  );
  log(`wrote ${[jsonPath, ...charts].map((file) => path.relative(REPO_ROOT, file)).join(', ')} and BENCHMARKS.md`);
}

export const peersCluster: Scenario = {
  name: 'peers-cluster',
  summary: "this server's 3-node cluster next to Hocuspocus 3 on 3 nodes with its Redis extension: cross-node edit-to-observer latency",
  services: ['redis'],
  run: runPeersCluster,
};
