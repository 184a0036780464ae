// Scenario cluster (issue 5): three server processes in cluster mode (REDIS_URL set) on one
// PostgreSQL database and one Redis, run by the cluster tests' harness (test/support/cluster.ts).
// Two parts, each on a cluster of its own:
// 1. Cross-node edit latency. The live-edits load generator (bench/load/live-edits.ts) with
//    per-session layouts: session s has its editors on node s mod 3 and one observer on each other
//    node, so every measured delivery crosses nodes, and the sessions whose editors are not on the
//    owner have their edits forwarded. Owners come from GET /api/v1/ops/cluster/sessions/:id.
// 2. Failover. One session, one editor typing on each node (bench/load/cluster-editors.ts); the
//    session's owner is SIGKILLed, the editors on the surviving nodes keep typing, and the failover
//    time is from the kill until each of them has an edit typed after it acknowledged. The node is
//    restarted on its port before the next kill. At the end every acknowledged edit must be in the
//    stored document exactly once.
import os from 'node:os';
import path from 'node:path';
import { Cluster, checkTokens, introduction, startSession, type ClusterNode } from '../../test/support/cluster.ts';
import { TEST_JWT_SECRET } from '../../test/support/config.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { startCoordinatedChild, trackProcess } from '../support/children.ts';
import type { AckedAfterReply, ClusterEditorsRequest, ClusterEditorsResult } from '../support/cluster-editors-result.ts';
import { postgresSettings } from '../support/databases.ts';
import { count, fixed, percent, spreadOf, withSpread, type Spread } from '../support/format.ts';
import { combineLoads, roundedSummary, summarizeRuns, type CombinedLoad, type RunsSummary } from '../support/live-edits-combine.ts';
import { startLiveEditsLoad, type LiveLoadSettings } from '../support/live-edits-load.ts';
import type { LiveEditsResult, SampleOrigins } from '../support/live-edits-result.ts';
import { describeMachine, sourceFingerprint } from '../support/machine.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { table, upsertSection } from '../support/markdown.ts';
import { writeRawResults } from '../support/raw-results.ts';
import type { Scenario, ScenarioContext } from '../support/scenario.ts';
import { latencies, round, summarizeLatencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { runOneLoadWindow, type ServerUsage } from '../support/window-usage.ts';

/** editorsPerSession: on the session's editor node; its observers are one on each other node. */
type Settings = LiveLoadSettings & {
  nodes: number;
  latencyRuns: number;
  kills: number;
  /** One token per editor this often during the failover part. */
  typingIntervalMs: number;
  /** The failover time issue 5 asks for at most. */
  failoverTargetMs: number;
  /** How long to wait at most, after a kill, for the editors on the surviving nodes. */
  failoverTimeoutMs: number;
};

const FULL: Settings = {
  nodes: 3,
  sessions: 50,
  editorsPerSession: 2,
  editsPerSecondPerEditor: 2,
  warmupMs: 5_000,
  durationMs: 30_000,
  drainMs: 15_000,
  latencyRuns: 3,
  setupConcurrency: 10,
  syncTimeoutMs: 30_000,
  socketUpdatesPerSecond: 60,
  kills: 20,
  // As in test/cluster-failover.test.ts: keeps the introduction under its 10,000 characters for 20 kills.
  typingIntervalMs: 250,
  failoverTargetMs: 5_000,
  failoverTimeoutMs: 30_000,
};
const QUICK: Settings = { ...FULL, sessions: 10, warmupMs: 1_000, durationMs: 4_000, drainMs: 10_000, latencyRuns: 1, kills: 2 };

/** Above this the editors would soon overflow the introduction's 10,000 characters: the kills stop there. */
const TEXT_LIMIT = 9_000;

const log = (message: string) => console.error(`[cluster] ${message}`);

// ---------------------------------------------------------------------------------------------
// Part 1: cross-node edit latency

/** Where a sample's participant and its session's editors sit relative to the session's owner. */
type Where = { editorOnOwner: boolean; participantOnOwner: boolean };
type Metric = 'peer' | 'peerFromOwner' | 'peerForwardedToOwner' | 'peerForwardedElsewhere' | 'allPeers' | 'ack' | 'ackOnOwner' | 'ackForwarded';
const METRICS: readonly { metric: Metric; samples: keyof LiveEditsResult['samples']; name: string; keep: (where: Where) => boolean }[] = [
  { metric: 'peer', samples: 'peerMs', name: 'edit → each observer (on another node) sees it', keep: () => true },
  { metric: 'peerFromOwner', samples: 'peerMs', name: '… editors on the owner, observer on another node', keep: (w) => w.editorOnOwner },
  { metric: 'peerForwardedToOwner', samples: 'peerMs', name: '… editors forwarded, observer on the owner', keep: (w) => !w.editorOnOwner && w.participantOnOwner },
  { metric: 'peerForwardedElsewhere', samples: 'peerMs', name: '… editors forwarded, observer on the third node', keep: (w) => !w.editorOnOwner && !w.participantOnOwner },
  { metric: 'allPeers', samples: 'allPeersMs', name: 'edit → every observer has seen it', keep: () => true },
  { metric: 'ack', samples: 'ackMs', name: 'edit → acknowledged (committed)', keep: () => true },
  { metric: 'ackOnOwner', samples: 'ackMs', name: '… editors on the owner', keep: (w) => w.editorOnOwner },
  { metric: 'ackForwarded', samples: 'ackMs', name: '… editors on another node (forwarded)', keep: (w) => !w.editorOnOwner },
];

type NodeRun = { id: string; editorSessions: number; ownedSessions: number; usage: ServerUsage | null };

type LatencyRun = {
  run: number;
  /** The machine's 1-minute load average just before the cluster started. */
  loadAverage1m: number;
  code: { before: string; after: string };
  sessionsWithEditorsOnOwner: number;
  /** Sessions whose owner was another node after the window than before it (none expected: no node changes). */
  ownersMoved: number;
  nodes: NodeRun[];
  machineCpuBusyPercent: number | null;
  latencyMs: Record<Metric, LatencySummary>;
  histograms: Record<Metric, LatencyHistogram>;
} & CombinedLoad;

/** Node index (in the cluster's order) of session s's editors. */
const editorNode = (session: number, settings: Settings) => session % settings.nodes;

/** Node index of participant p of session s: editors first, then one observer on each other node in order. */
function participantNode(session: number, participant: number, settings: Settings): number {
  const home = editorNode(session, settings);
  if (participant < settings.editorsPerSession) return home;
  const others = Array.from({ length: settings.nodes }, (_, i) => i).filter((i) => i !== home);
  return others[participant - settings.editorsPerSession]!;
}

function select(values: Float64Array, origins: SampleOrigins, keep: (session: number, participant: number) => boolean): Float64Array {
  const kept = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i += 1) if (keep(origins.session[i]!, origins.participant[i]!)) kept[n++] = values[i]!;
  return kept.slice(0, n);
}

function startCluster(redisUrl: string, settings: Settings): Promise<Cluster> {
  return Cluster.start({
    size: settings.nodes,
    redisUrl,
    env: { SOCKET_UPDATES_PER_SECOND: String(settings.socketUpdatesPerSecond) },
    // Under the harness's cleanup too: Ctrl-C or a failure must not leave a node running.
    onSpawn: (server) => {
      if (server.child.pid !== undefined) trackProcess(server.child.pid, () => server.signal('SIGKILL'), server.exited);
    },
  });
}

/** Each session's owner, as an index into cluster.nodes, asked through the first node. */
async function ownersOf(cluster: Cluster, sessionIds: readonly string[]): Promise<number[]> {
  const owners = await Promise.all(sessionIds.map((id) => cluster.owner(id, cluster.nodes[0]!)));
  return owners.map(({ node }) => cluster.nodes.indexOf(node));
}

type ClusterFacts = { shardCount: number; leaseTtlMs: number; postgres: Record<string, string> };

async function clusterFacts(cluster: Cluster): Promise<ClusterFacts> {
  const view = await cluster.view(cluster.nodes[0]!);
  return { shardCount: view.shardCount, leaseTtlMs: view.leaseTtlMs, postgres: await postgresSettings(cluster.databaseUrl) };
}

async function latencyRun(context: ScenarioContext, settings: Settings, run: number, redisUrl: string, facts: { value?: ClusterFacts }): Promise<LatencyRun> {
  log(`latency run ${run}/${settings.latencyRuns}: starting ${settings.nodes} nodes`);
  const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
  const codeBefore = sourceFingerprint();
  const cluster = await startCluster(redisUrl, settings);
  try {
    facts.value ??= await clusterFacts(cluster);
    const urls = cluster.nodes.map((node) => node.url);
    const layouts = Array.from({ length: settings.sessions }, (_, s) => ({
      editorUrls: Array.from({ length: settings.editorsPerSession }, () => urls[editorNode(s, settings)]!),
      observerUrls: urls.filter((_, i) => i !== editorNode(s, settings)),
    }));
    const child = startLiveEditsLoad(
      settings,
      { processIndex: 0, baseUrl: urls[0]!, tenantPrefix: `bench-cluster-${run}`, sessionFrom: 0, sessionTo: settings.sessions, layouts },
      TEST_JWT_SECRET,
    );
    const ready = await child.ready;
    const owners = await ownersOf(cluster, ready.sessionIds);
    const pids = cluster.nodes.map((node) => node.process.child.pid ?? Number.NaN);
    const { result, usage } = await runOneLoadWindow(child, pids, settings, log);
    const ownersAfter = await ownersOf(cluster, result.sessionIds);
    const where = (session: number, participant: number): Where => ({
      editorOnOwner: editorNode(session, settings) === owners[session],
      participantOnOwner: participantNode(session, participant, settings) === owners[session],
    });
    const samples = Object.fromEntries(
      METRICS.map(({ metric, samples: kind, keep }) => [metric, select(result.samples[kind], result.origins[kind], (s, p) => keep(where(s, p)))]),
    ) as Record<Metric, Float64Array>;
    const sessions = Array.from({ length: settings.sessions }, (_, s) => s);
    const latency: LatencyRun = {
      run,
      loadAverage1m,
      code: { before: codeBefore, after: sourceFingerprint() },
      sessionsWithEditorsOnOwner: sessions.filter((s) => where(s, 0).editorOnOwner).length,
      ownersMoved: sessions.filter((s) => owners[s] !== ownersAfter[s]).length,
      nodes: cluster.nodes.map((node, i) => ({
        id: node.id,
        editorSessions: sessions.filter((s) => editorNode(s, settings) === i).length,
        ownedSessions: owners.filter((owner) => owner === i).length,
        usage: usage.servers()[i] ?? null,
      })),
      machineCpuBusyPercent: usage.machineCpuBusyPercent(),
      ...latencies(samples),
      ...combineLoads([result]),
    };
    if (latency.code.after !== codeBefore) log(`WARNING: the code under test changed during latency run ${run} (${codeBefore} → ${latency.code.after})`);
    log(
      `latency run ${run}: ${count(latency.ackedPerSecond)} acked/s; edit→observer p50 ${fixed(latency.latencyMs.peer.p50, 1)} ms, p99 ${fixed(latency.latencyMs.peer.p99, 1)} ms; ` +
        `ack p50 ${fixed(latency.latencyMs.ack.p50, 1)} ms (forwarded ${fixed(latency.latencyMs.ackForwarded.p50, 1)} ms); errors ${latency.errorsInWindow} in window / ${latency.errorsTotal} in all; ` +
        `node CPU ${latency.nodes.map((n) => `${n.id} ${n.usage ? `${fixed(n.usage.cpuPercentOfOneCore, 0)} %` : '?'}`).join(', ')}`,
    );
    if (latency.errorSamples.length > 0) log(`first errors: ${latency.errorSamples.slice(0, 3).join(' | ')}`);
    return latency;
  } finally {
    await cluster.stop();
  }
}

type LatencySummaryOverRuns = RunsSummary<Metric> & {
  nodes: { id: string; cpuPercentOfOneCore: Spread; mainThreadCpuPercent: Spread; peakRssMiB: number; ownedSessions: number[]; editorSessions: number }[];
  machineCpuBusyPercent: Spread;
};

const METRIC_KEYS = METRICS.map(({ metric }) => metric);

function summarizeLatencyRuns(runs: readonly LatencyRun[]): LatencySummaryOverRuns {
  const nodeRuns = (i: number) => runs.map((r) => r.nodes[i]!);
  return {
    ...summarizeRuns(runs, METRIC_KEYS),
    nodes: (runs[0]?.nodes ?? []).map((node, i) => ({
      id: node.id,
      cpuPercentOfOneCore: spreadOf(nodeRuns(i).map((n) => n.usage?.cpuPercentOfOneCore ?? Number.NaN)),
      mainThreadCpuPercent: spreadOf(nodeRuns(i).map((n) => n.usage?.mainThreadCpuPercent ?? Number.NaN)),
      peakRssMiB: Math.max(...nodeRuns(i).map((n) => n.usage?.peakRssMiB ?? Number.NaN).filter((v) => Number.isFinite(v))),
      ownedSessions: nodeRuns(i).map((n) => n.ownedSessions),
      editorSessions: node.editorSessions,
    })),
    machineCpuBusyPercent: spreadOf(runs.map((r) => r.machineCpuBusyPercent ?? Number.NaN)),
  };
}

// ---------------------------------------------------------------------------------------------
// Part 2: failover

type Kill = {
  kill: number;
  /** The session's owner that was SIGKILLed, and the fencing epoch it held. */
  owner: string;
  epochBefore: number;
  killedAt: string;
  /** Kill → the process had exited (the harness saw it). */
  exitedAfterMs: number;
  /** Kill → every editor on a surviving node had an edit typed after the kill acknowledged (the slowest); null: not within the timeout. */
  failoverMs: number | null;
  /** The same per surviving editor: the first of them is the fastest. */
  editors: AckedAfterReply['perEditor'];
  lagging: string[];
  /** Who owned the session next, under which epoch (asked through a surviving node). */
  newOwner: string | null;
  epochAfter: number | null;
  /** Kill → the killed node, restarted on its port, answered /readyz with 200. */
  restartedReadyAfterMs: number;
  /** Ready → every editor, the restarted node's included, had an edit typed after it acknowledged. */
  allEditorsAckedAfterReadyMs: number | null;
  /** Characters in the introduction (the editors' tokens) at the kill's end. */
  textLength: number;
};

type FailoverResult = {
  loadAverage1m: number;
  code: { before: string; after: string };
  kills: Kill[];
  stoppedEarly: string | null;
  failoverMs: { kills: number; measured: number; min: number; p50: number; p95: number; p99: number; max: number; mean: number; overTarget: number; notWithinTimeout: number };
  /** The exactly-once check against the document stored in PostgreSQL (snapshot + update log). */
  check: {
    typed: number;
    acknowledged: number;
    refused: number;
    unsettled: number;
    /** Acknowledged tokens not in the stored document exactly once. */
    missing: string[];
    /** Tokens in the stored document more than once. */
    duplicated: string[];
    storedLength: number;
    editorsMatchingStored: number;
    commits: number;
    /** Commits with a lower fencing epoch than the commit before them. */
    staleCommits: number;
  };
  refusals: { editor: string; node: string; code: string; message: string }[];
};

async function failoverRun(context: ScenarioContext, settings: Settings, redisUrl: string): Promise<FailoverResult> {
  log(`failover: starting ${settings.nodes} nodes`);
  const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
  const codeBefore = sourceFingerprint();
  const cluster = await startCluster(redisUrl, settings);
  try {
    await cluster.recordCommits();
    const session = await startSession(cluster.nodes[0]!);
    const drainMs = 30_000;
    const editors = startCoordinatedChild<{ editors: number }, ClusterEditorsResult>(
      'bench/load/cluster-editors.ts',
      { nodes: cluster.nodes.map(({ id, url }) => ({ id, url })), session, typingIntervalMs: settings.typingIntervalMs, drainMs },
      {},
      settings.kills * (settings.failoverTimeoutMs + 90_000) + 2 * drainMs + 120_000,
    );
    await editors.ready;
    editors.go({ type: 'go', startAtEpochMs: Date.now() });
    const ackedAfter = (sinceEpochMs: number, nodes: readonly ClusterNode[], timeoutMs: number) =>
      editors.request<AckedAfterReply>({ kind: 'acked-after', sinceEpochMs, nodes: nodes.map((node) => node.id), timeoutMs } satisfies ClusterEditorsRequest);
    const typing = await ackedAfter(Date.now(), cluster.nodes, 30_000);
    if (typing.lagging.length > 0) throw new Error(`editors without an acknowledged edit before the first kill: ${typing.lagging.join(', ')}`);

    const kills: Kill[] = [];
    let stoppedEarly: string | null = null;
    for (let kill = 1; kill <= settings.kills; kill += 1) {
      const { node: owner, epoch } = await cluster.owner(session.sessionId, cluster.nodes[0]!);
      const survivors = cluster.nodes.filter((node) => node !== owner);
      const killedAt = Date.now();
      owner.process.signal('SIGKILL');
      await owner.process.exited;
      const exitedAfterMs = Date.now() - killedAt;
      const after = await ackedAfter(killedAt, survivors, settings.failoverTimeoutMs);
      const next = await cluster.owner(session.sessionId, survivors[0]!).catch(() => undefined);
      await cluster.restart(owner);
      const readyAt = Date.now();
      const back = await ackedAfter(readyAt, cluster.nodes, 30_000);
      const record: Kill = {
        kill,
        owner: owner.id,
        epochBefore: epoch,
        killedAt: new Date(killedAt).toISOString(),
        exitedAfterMs,
        failoverMs: after.lagging.length === 0 ? after.slowestMs : null,
        editors: after.perEditor,
        lagging: after.lagging,
        newOwner: next?.node.id ?? null,
        epochAfter: next?.epoch ?? null,
        restartedReadyAfterMs: readyAt - killedAt,
        allEditorsAckedAfterReadyMs: back.lagging.length === 0 ? back.slowestMs : null,
        textLength: back.textLength,
      };
      kills.push(record);
      log(
        `kill ${kill}/${settings.kills}: owner ${owner.id} (epoch ${epoch}) SIGKILLed; ` +
          `${record.failoverMs === null ? `NO acknowledgement within ${settings.failoverTimeoutMs} ms from ${after.lagging.join(', ')}` : `editors on ${survivors.map((n) => n.id).join(' and ')} acknowledged again after ${record.failoverMs} ms`}; ` +
          `new owner ${record.newOwner ?? '?'} (epoch ${record.epochAfter ?? '?'}); ${owner.id} ready again after ${record.restartedReadyAfterMs} ms`,
      );
      if (back.lagging.length > 0) {
        stoppedEarly = `after kill ${kill}, editors without an acknowledged edit within 30 s of the restarted node being ready: ${back.lagging.join(', ')}`;
        break;
      }
      if (back.textLength > TEXT_LIMIT && kill < settings.kills) {
        stoppedEarly = `after kill ${kill}: the introduction reached ${back.textLength} characters (limit 10,000)`;
        break;
      }
    }
    if (stoppedEarly !== null) log(`stopped early: ${stoppedEarly}`);

    await editors.request({ kind: 'finish' } satisfies ClusterEditorsRequest);
    const typed = (await editors.result).editors;
    const stored = introduction(await cluster.storedDocument(session.sessionId));
    const acknowledged = typed.map((editor) => editor.typed.filter((entry) => entry.ackedAt !== undefined).map((entry) => entry.token));
    const tokens = checkTokens(stored, acknowledged.map((list) => ({ acknowledged: () => list })));
    const commits = await cluster.commits(session.sessionId);
    const measured = kills.flatMap((k) => (k.failoverMs === null ? [] : [k.failoverMs]));
    const summary = summarizeLatencies(Float64Array.from(measured));
    return {
      loadAverage1m,
      code: { before: codeBefore, after: sourceFingerprint() },
      kills,
      stoppedEarly,
      failoverMs: {
        kills: kills.length,
        measured: measured.length,
        min: measured.length > 0 ? Math.min(...measured) : Number.NaN,
        p50: summary.p50,
        p95: summary.p95,
        p99: summary.p99,
        max: summary.max,
        mean: round(summary.mean, 1),
        overTarget: measured.filter((ms) => ms > settings.failoverTargetMs).length,
        notWithinTimeout: kills.length - measured.length,
      },
      check: {
        typed: typed.reduce((total, editor) => total + editor.typed.length, 0),
        acknowledged: acknowledged.reduce((total, list) => total + list.length, 0),
        refused: typed.reduce((total, editor) => total + editor.typed.filter((entry) => entry.refused === true).length, 0),
        unsettled: typed.reduce((total, editor) => total + editor.unsettled, 0),
        missing: tokens.missing,
        duplicated: tokens.duplicated,
        storedLength: stored.length,
        editorsMatchingStored: typed.filter((editor) => editor.text === stored).length,
        commits: commits.length,
        staleCommits: commits.filter((row, i) => i > 0 && row.epoch < commits[i - 1]!.epoch).length,
      },
      refusals: typed.flatMap((editor) => editor.refusals.map((refusal) => ({ editor: editor.letter, node: editor.node, ...refusal }))),
    };
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function renderMarkdown(
  context: ScenarioContext,
  settings: Settings,
  facts: ClusterFacts,
  latency: LatencySummaryOverRuns,
  runs: readonly LatencyRun[],
  failover: FailoverResult,
  jsonPath: string,
): string {
  const seconds = (ms: number) => `${ms / 1000} s`;
  const runsNote = (n: number) => `${n} run${n > 1 ? 's' : ''}`;
  const observers = settings.nodes - 1;
  const editors = settings.sessions * settings.editorsPerSession;
  const relative = path.relative(REPO_ROOT, jsonPath);
  const fingerprints = [...new Set([...runs.flatMap((r) => [r.code.before, r.code.after]), failover.code.before, failover.code.after])];
  const latencyRows = METRICS.map(({ metric, name }) => {
    const m = latency.latencyMs[metric];
    return [name, count(m.samples), withSpread(m.p50, 1, latency.runs), withSpread(m.p95, 1, latency.runs), withSpread(m.p99, 1, latency.runs), withSpread(m.max, 0, latency.runs)];
  });
  const edits = latency.windowEdits;
  const throughputRow = [
    String(latency.runs),
    withSpread(latency.madePerSecond, 0, latency.runs),
    withSpread(latency.ackedPerSecond, 0, latency.runs),
    withSpread(latency.ackedFramesPerSecond, 0, latency.runs),
    `${count(edits.acked)} / ${count(edits.sent)} (${percent(edits.acked, edits.sent)})`,
    `${count(edits.deliveredToAll)} / ${count(edits.sent)} (${percent(edits.deliveredToAll, edits.sent)})`,
    `${latency.errorsInWindow} / ${latency.errorsTotal}`,
    latency.runs > 1 ? `${fixed(latency.machineCpuBusyPercent.median, 0)} % (${fixed(latency.machineCpuBusyPercent.min, 0)}–${fixed(latency.machineCpuBusyPercent.max, 0)})` : `${fixed(latency.machineCpuBusyPercent.median, 0)} %`,
  ];
  const nodeRows = latency.nodes.map((node) => [
    node.id,
    String(node.editorSessions),
    node.ownedSessions.join(' / '),
    `${withSpread(node.cpuPercentOfOneCore, 0, latency.runs)} %`,
    `${withSpread(node.mainThreadCpuPercent, 0, latency.runs)} %`,
    fixed(node.peakRssMiB, 0),
  ]);
  const forwardedSessions = runs.map((r) => settings.sessions - r.sessionsWithEditorsOnOwner);
  const errorKinds = Object.entries(latency.errorsByKind).map(([kind, n]) => `${n} × \`${kind}\``);
  const perRun = table(
    ['run', 'sessions forwarded', 'edits acked/s', 'observer p50 ms', 'observer p99 ms', 'ack p50 ms', 'ack p99 ms', 'errors (window / all)', 'node CPU', 'load process: CPU, event-loop p99 ms', 'machine CPU busy', 'load average before'],
    runs.map((r) => [
      String(r.run),
      `${settings.sessions - r.sessionsWithEditorsOnOwner} / ${settings.sessions}`,
      count(r.ackedPerSecond),
      fixed(r.latencyMs.peer.p50, 1),
      fixed(r.latencyMs.peer.p99, 1),
      fixed(r.latencyMs.ack.p50, 1),
      fixed(r.latencyMs.ack.p99, 1),
      `${r.errorsInWindow} / ${r.errorsTotal}${r.drainTimedOut ? ' (drain timed out)' : ''}${r.ownersMoved > 0 ? `, ${r.ownersMoved} owners moved` : ''}`,
      r.nodes.map((n) => `${n.id} ${n.usage ? `${fixed(n.usage.cpuPercentOfOneCore, 0)} %` : '—'}`).join(', '),
      r.loadProcesses.map((p) => `${fixed(p.cpuPercentOfOneCore, 0)} %, ${fixed(p.loadGenerator.eventLoopDelayMs.p99, 1)}`).join('; '),
      r.machineCpuBusyPercent === null ? '—' : `${fixed(r.machineCpuBusyPercent, 0)} %`,
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const f = failover.failoverMs;
  const c = failover.check;
  const exactlyOnce = c.missing.length === 0 && c.duplicated.length === 0;
  const killRows = failover.kills.map((k) => [
    String(k.kill),
    `${k.owner} (${k.epochBefore})`,
    k.failoverMs === null ? `**none within ${seconds(settings.failoverTimeoutMs)}**` : `**${count(k.failoverMs)}**`,
    k.editors.map((e) => `${e.editor} on ${e.node} ${e.ms === null ? '—' : count(e.ms)}`).join(', '),
    `${k.newOwner ?? '?'} (${k.epochAfter ?? '?'})`,
    count(k.exitedAfterMs),
    count(k.restartedReadyAfterMs),
    k.allEditorsAckedAfterReadyMs === null ? '—' : count(k.allEditorsAckedAfterReadyMs),
    count(k.textLength),
  ]);
  const loads = [...runs.map((r) => r.loadAverage1m), failover.loadAverage1m].filter((v) => Number.isFinite(v));
  const killedCounts = new Map<string, number>();
  for (const k of failover.kills) killedCounts.set(k.owner, (killedCounts.get(k.owner) ?? 0) + 1);
  const killed = [...killedCounts].sort(([a], [b]) => a.localeCompare(b)).map(([node, n]) => `${node} ×${n}`).join(', ');
  const movedBack = failover.kills.filter((k, i) => i > 0 && k.owner !== failover.kills[i - 1]!.newOwner).length;
  const takenOver = failover.kills.filter((k) => k.newOwner !== null && k.newOwner !== k.owner && k.epochAfter !== null && k.epochAfter > k.epochBefore).length;
  const pg = facts.postgres;
  return `
## cluster: cross-node edit latency and failover time, ${settings.nodes} nodes on PostgreSQL and Redis${context.quick ? ' (quick smoke run, not for quoting)' : ''}

- **Command:** \`${context.command}\`
- **Date:** ${context.startedAt}
- **Commit:** \`${context.commit}\`
- **Machine:** ${describeMachine(context.machine)}
- **Raw results:** [${relative}](${relative}) (the failover part's timeline, kill by kill, is in \`failover.kills\`)
- **Code under test:** ${fingerprints.length === 1 ? `unchanged during the runs (source fingerprint \`${fingerprints[0]}\`: HEAD, uncommitted changes and untracked files outside bench/)` : `**changed during the runs** (the checkout is shared with other work; fingerprints ${fingerprints.map((x) => `\`${x}\``).join(', ')}): the runs were not all measured on the same code`}

**Cluster.** ${settings.nodes} server processes (\`node server/main.ts\` with \`REDIS_URL\`, \`DATABASE_URL\` and \`CLUSTER_SECRET\` set: cluster mode) on
loopback ports of their own, started by the cluster tests' harness (\`Cluster\` in test/support/cluster.ts), one PostgreSQL
database shared by all (a fresh one per cluster) and one Redis (\`scripts/services\`, persistence off; a new key prefix per
cluster); ${facts.shardCount} shards, lease TTL ${count(facts.leaseTtlMs)} ms (the defaults), \`SOCKET_UPDATES_PER_SECOND=${settings.socketUpdatesPerSecond}\`,
\`LOG_LEVEL=info\` (the harness reads the \`server listening\` line; the server logs nothing per edit at info). A fresh cluster for
every latency run and for the failover part. PostgreSQL ${pg.fsync === 'on' && pg.synchronous_commit !== 'off' ? 'runs with fsync and synchronous commit on' : `ran with **fsync=${pg.fsync}, synchronous_commit=${pg.synchronous_commit}**`}; an edit is acknowledged and broadcast only
after its commit, so every latency below includes one. The owner of each session (the node holding its shard's lease) is
read from \`GET /api/v1/ops/cluster/sessions/:id\` (ops token) before and after the measured window.

### Cross-node edit latency

**Workload.** ${settings.sessions} onboarding sessions, one tenant each, started over REST through n1 (\`OnboardingClient.start\`, then one
\`PATCH …/steps/data_import\` creating \`fieldMapping\` as a shared map). Session *s* has ${settings.editorsPerSession} editors connected to node
*s* mod ${settings.nodes} and ${observers} observers, one on each other node: editor and observer are always on different nodes. All are
\`SessionProvider\`s of the client SDK (own Socket.IO connection, own \`Y.Doc\`, \`admin\` token), ${editors} editors and
${settings.sessions * observers} observers in all. Every editor makes ${settings.editsPerSecondPerEditor} edits a second, open loop (fixed times, random phase): it
sets its own key of \`fieldMapping\` to \`<sequence>@<send time>\` (${count(editors * settings.editsPerSecondPerEditor)} edits/s offered). The load generator is
the live-edits one (bench/load/live-edits.ts) with per-session layouts, in one Node process apart from the servers, so a
sender and its observers share one clock. ${seconds(settings.warmupMs)} warm-up, ${seconds(settings.durationMs)} measured, then up to
${seconds(settings.drainMs)} for the window's edits to be acknowledged and seen. ${runsNote(settings.latencyRuns)}, a fresh cluster each.

Whether a session's edits are forwarded depends on its owner: when its editors' node owns it, their edits are applied there
and reach the observers through the Socket.IO Redis adapter; otherwise the editors' node forwards each edit to the owner
(signed HTTP), and the owner broadcasts it to its own sockets and, through Redis, to the third node's. Sessions whose
editors were not on the owner (forwarded): ${forwardedSessions.map((n) => `${n} of ${settings.sessions}`).join(', ')} (per run).

**What is measured**, for the edits made inside the window: *edit → each observer sees it*: from the local edit
(\`Y.Map.set\`) until an observer's \`Y.Doc\` has the new value (one sample per edit and observer; when the SDK merged queued
edits of one editor into one update, the earlier ones count as arrived with it: ${percent(edits.mergedDeliveries, edits.sent * observers)} of the deliveries); split by
where the editors and the observer sit relative to the owner. *Every observer has seen it*: until the last of the ${observers}.
*Acknowledged*: until the sender gets the server's acknowledgement (sent after the commit) of the update frame that carried
the edit; the SDK keeps one frame in flight per editor, so an edit made while one is unacknowledged (${percent(edits.queuedBehindUnacked, edits.sent)} of
the window's edits) waits for it. Latency columns: median over the runs of each run's percentile, lowest and highest run
in brackets.

${table(['latency', 'samples', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], latencyRows)}

${table(['runs', 'edits made/s', 'edits acked/s', 'update frames acked/s', 'window edits acked', 'seen by every observer', 'errors (window / all)', 'machine CPU busy'], [throughputRow])}

Per node (CPU: user + system time over the window, /proc/<pid>/stat, 100 % = one core; main thread: Node's event loop
alone; peak RSS: VmHWM, highest of the runs). Sessions owned are per run:

${table(['node', 'sessions with editors on it', 'sessions it owned', 'CPU', 'main thread', 'peak RSS MiB'], nodeRows)}

${errorKinds.length > 0 ? `Errors and refusals by kind (all runs, all phases): ${errorKinds.join('; ')}.` : `No error, refusal or disconnection in any run (set-up, warm-up, window and drain), no \`RATE_LIMITED\` (${settings.editsPerSecondPerEditor} edits/s per connection against ${settings.socketUpdatesPerSecond}).`} Errors are
refusals the server sent, connection errors and drops, and window edits still unacknowledged or unseen by an observer
when the drain ended; none is dropped. The load generator kept up if its event loop did: worst of the runs
${fixed(latency.loadGenerator.cpuPercentOfOneCore, 0)} % of a core, event-loop delay p99 ${fixed(latency.loadGenerator.eventLoopDelayP99Ms, 1)} ms, edits late against their schedule p99
${fixed(latency.loadGenerator.scheduleLagP99Ms, 1)} ms (max ${fixed(latency.loadGenerator.scheduleLagMaxMs, 0)} ms).

${chartImage(jsonPath, 'latency')}

<details><summary>Every latency run</summary>

${perRun}

</details>

### Failover over ${settings.kills} SIGKILLs

**Workload.** A fresh cluster; one session started through n1; one editor on each node (the tests' \`Editor\`: a
\`SessionProvider\` typing a short unique token into the knowledge-base introduction, a collaborative \`Y.Text\`, every
${settings.typingIntervalMs} ms whatever happens, reconnecting after 100–500 ms), in one Node process apart from the servers. ${settings.kills} times:
find the session's owner (ops endpoint), SIGKILL it, wait until every editor on the ${settings.nodes - 1} surviving nodes has an edit
typed after the kill acknowledged, then restart the killed node on its port and wait for \`/readyz\` 200 and for every editor
(its own included, which reconnects and resends) to be acknowledged again before the next kill.

**Failover time** = kill → the first acknowledged edit typed after the kill, of the slower of the surviving nodes' editors
(the faster one is in the timeline). It includes the lease running out (the dead owner's lease is not released;
TTL ${count(facts.leaseTtlMs)} ms), the next owner taking the shard and activating the session from PostgreSQL under a new epoch, the
survivors' nodes retrying their forwarded calls (the first refused connection marks the dead owner gone, and a waiting
call wakes when its lease expires), and the typing interval (an edit is typed at most ${settings.typingIntervalMs} ms after the
kill). Nearest-rank percentiles over ${f.measured} kills${f.measured < 100 ? ` (with ${f.measured}, p99 is the maximum and p95 the ${Math.ceil(0.95 * f.measured)}th of ${f.measured})` : ''}.

${table(
  ['kills', 'min ms', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', `over ${seconds(settings.failoverTargetMs)}`, `no failover within ${seconds(settings.failoverTimeoutMs)}`],
  [[String(f.kills), count(f.min), `**${count(f.p50)}**`, count(f.p95), count(f.p99), count(f.max), String(f.overTarget), String(f.notWithinTimeout)]],
)}

After ${takenOver} of ${f.kills} kills another node owned the session under a higher fencing epoch (asked through a surviving node once
its editors were acknowledged). Owners killed: ${killed}. Between kills the session's shard went back to the restarted node
${movedBack} of ${Math.max(0, f.kills - 1)} times: when a node rejoins, rendezvous placement hands it the shards that hash to it, so the same node is
often the owner again at the next kill.

**Zero lost: ${exactlyOnce ? 'yes' : '**NO**'}.** After the last kill the editors stopped, waited for every edit to be settled, and the
stored document (PostgreSQL: snapshot, then the update log after it) was compared with what they were told:
${count(c.acknowledged)} of ${count(c.typed)} typed edits acknowledged, ${c.refused} refused, ${c.unsettled} unsettled; acknowledged edits not in the stored
document exactly once: ${c.missing.length}${c.missing.length > 0 ? ` (${c.missing.slice(0, 10).join(', ')})` : ''}; tokens stored more than once: ${c.duplicated.length}${c.duplicated.length > 0 ? ` (${c.duplicated.slice(0, 10).join(', ')})` : ''}. ${c.editorsMatchingStored} of
${settings.nodes} editors hold exactly the stored text (${count(c.storedLength)} characters). Commits under a lower fencing epoch than the one before
them (a stale owner's write): ${c.staleCommits} of ${count(c.commits)}.${failover.refusals.length > 0 ? ` Refusals: ${failover.refusals.map((r) => `${r.editor} on ${r.node}: ${r.code}`).join(', ')}.` : ''}${failover.stoppedEarly !== null ? `\n\n**Stopped early:** ${failover.stoppedEarly}.` : ''}

${chartImage(jsonPath, 'failover')}

<details><summary>Every kill (ms from the kill; epochs in brackets)</summary>

${table(['kill', 'owner killed', 'failover ms', 'surviving editors: first ack ms', 'new owner', 'process gone', 'restarted node ready', 'all editors acked again (from ready)', 'text length'], killRows)}

</details>

**Noise.** These numbers come from one shared VM with ${context.machine.cores} cores running ${settings.nodes} server processes, PostgreSQL, Redis and the load
generator together (1-minute load average before the runs: ${fixed(Math.min(...loads), 1)} to ${fixed(Math.max(...loads), 1)}${Math.max(...loads) > context.machine.cores ? ', above the core count: other work was running on the machine too' : ''}); a node that does not get the CPU
answers late, and the latencies above are bounded by this box as much as by the server. Compare them within this section
only, read the spread, and expect a real deployment (a node per machine, a network between them) to differ both ways:
more latency per hop, far less contention.${context.postgres.reused ? ' PostgreSQL was a running one (TEST_DATABASE_URL), not started for this run.' : ''}${context.redis?.reused ? ' Redis was a running one (TEST_REDIS_URL).' : ''}
`;
}

async function runCluster(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  if (context.redis === undefined) throw new Error('the cluster scenario needs Redis (bench/run.ts starts it for the scenarios that ask)');
  // The harness creates each cluster's database on the PostgreSQL the tests name (test/support/isolation.ts).
  process.env.TEST_DATABASE_URL = context.postgres.url;
  const facts: { value?: ClusterFacts } = {};
  const runs: LatencyRun[] = [];
  for (let run = 1; run <= settings.latencyRuns; run += 1) runs.push(await latencyRun(context, settings, run, context.redis.url, facts));
  const failover = await failoverRun(context, settings, context.redis.url);
  const f = failover.failoverMs;
  log(
    `failover over ${f.kills} kills (ms): min ${count(f.min)} p50 ${count(f.p50)} p95 ${count(f.p95)} p99 ${count(f.p99)} max ${count(f.max)}; ` +
      `${f.overTarget} over ${settings.failoverTargetMs} ms; acknowledged ${failover.check.acknowledged}, missing ${failover.check.missing.length}, duplicated ${failover.check.duplicated.length}`,
  );
  const latency = summarizeLatencyRuns(runs);

  const jsonPath = path.join(REPO_ROOT, 'docs/bench', `cluster${context.quick ? '.quick' : ''}.json`);
  writeRawResults(jsonPath, context, 'cluster', {
    settings,
    cluster: facts.value,
    postgresReused: context.postgres.reused,
    redisReused: context.redis.reused,
    latency: {
      metrics: Object.fromEntries(METRICS.map(({ metric, name }) => [metric, name])),
      summary: roundedSummary(latency, METRIC_KEYS),
      runs,
    },
    failover,
  });
  writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    `cluster${context.quick ? '-quick' : ''}`,
    renderMarkdown(context, settings, facts.value!, latency, runs, failover, jsonPath),
    context.quick ? {} : { before: 'cluster-quick' },
  );
  log(`wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const cluster: Scenario = {
  name: 'cluster',
  summary: 'three nodes on PostgreSQL and Redis: cross-node edit latency, and failover time over SIGKILLs of a session owner',
  services: ['redis'],
  run: runCluster,
};
