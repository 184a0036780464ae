// Scenario ceiling (issue 7, scenario 6): how close this server gets to its parts. The edit stream
// of the peers scenario (documents × editors × edits/s, each edit sets the editor's own key of a
// shared Y.Map) through (a) a bare Yjs loop (apply the update to the document's server-side Y.Doc,
// encode the sync frame to broadcast; bench/load/yjs-ceiling.ts), (b) a bare PostgreSQL loop
// appending the same update bytes durably, one commit per edit and in group commits
// (bench/load/pg-ceiling.ts), and (c) this server on PostgreSQL at its maximum: closed-loop editors
// (the live-edits load generator with `closedLoop`: each editor's next edit once its last one was
// acknowledged, i.e. committed), acknowledged edits/s, ack latency and server CPU. Medians of
// repeated runs with their spread; the server's edits/s as a share of (a) and (b), and next to the
// issue's goal (≥ 5,000 durable edits/s on one 2-core node).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { runJsonChild } from '../support/children.ts';
import { runDatabase, freshPostgresDatabase, type Backend } from '../support/databases.ts';
import { count, fixed, percent, roundSpread, spreadOf, withSpread, type Spread } from '../support/format.ts';
import { combineLoads, type CombinedLoad } from '../support/live-edits-combine.ts';
import { startLiveEditsLoad, startLiveEditsServer } from '../support/live-edits-load.ts';
import type { LoadReport } from '../support/load-report.ts';
import { runFacts, table, upsertSection } from '../support/markdown.ts';
import { writeRawResults } from '../support/raw-results.ts';
import type { Scenario, ScenarioContext } from '../support/scenario.ts';
import { latencyHistogram, summarizeLatencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { runOneLoadWindow, type ServerUsage } from '../support/window-usage.ts';

/** The issue's goal for one 2-core node. */
const GOAL_EDITS_PER_SECOND = 5_000;

type PgConfig = { rowsPerCommit: number; connections: number };
type Settings = {
  /** The stream: the peers scenario's workload. */
  docs: number;
  editorsPerDoc: number;
  editsPerSecondPerEditor: number;
  /** Simulated seconds of the stream (docs × editors × edits/s × seconds updates). */
  streamSeconds: number;
  yjsWarmupEdits: number;
  pgConfigs: readonly PgConfig[];
  pgWarmupMs: number;
  pgDurationMs: number;
  /** The server at its maximum: closed-loop editors. */
  serverSessions: number;
  serverEditorsPerSession: number;
  serverWarmupMs: number;
  serverDurationMs: number;
  serverDrainMs: number;
  setupConcurrency: number;
  syncTimeoutMs: number;
  /** Raised so that the per-connection limit is not what caps a closed-loop editor. */
  socketUpdatesPerSecond: number;
  runs: number;
};
const FULL: Settings = {
  docs: 200,
  editorsPerDoc: 5,
  editsPerSecondPerEditor: 2,
  streamSeconds: 60,
  yjsWarmupEdits: 20_000,
  pgConfigs: [
    { rowsPerCommit: 1, connections: 32 },
    { rowsPerCommit: 10, connections: 1 },
    { rowsPerCommit: 100, connections: 1 },
    { rowsPerCommit: 100, connections: 4 },
  ],
  pgWarmupMs: 2_000,
  pgDurationMs: 10_000,
  serverSessions: 50,
  serverEditorsPerSession: 4,
  serverWarmupMs: 3_000,
  serverDurationMs: 20_000,
  serverDrainMs: 10_000,
  setupConcurrency: 10,
  syncTimeoutMs: 30_000,
  socketUpdatesPerSecond: 10_000,
  runs: 3,
};
const QUICK: Settings = { ...FULL, streamSeconds: 10, yjsWarmupEdits: 4_000, pgWarmupMs: 1_000, pgDurationMs: 2_000, serverWarmupMs: 1_000, serverDurationMs: 4_000, serverDrainMs: 5_000, runs: 1 };

type YjsResult = {
  edits: number;
  seconds: number;
  editsPerSecond: number;
  cpuSeconds: number;
  perEditUs: LatencySummary;
  histogramUs: { upperMs: number; count: number }[];
  averageFrameBytes: number;
  documents: number;
  keysAtEnd: number;
};
type PgResult = LoadReport & { rowsPerCommit: number; connections: number; rowsPerSecond: number; rowsStored: number };
type ServerResult = {
  ackedPerSecond: number;
  ackMs: LatencySummary;
  ackHistogram: LatencyHistogram;
  server: ServerUsage | null;
  machineCpuBusyPercent: number | null;
} & CombinedLoad;
type RunResult = {
  run: number;
  loadAverage1m: number;
  stream: { updates: number; averageUpdateBytes: number };
  yjs: YjsResult;
  pg: PgResult[];
  server: ServerResult;
};

/** A rate over runs: `**median** (min–max)` with thousands separators. */
const rate = (s: Spread, runs: number) => (runs > 1 ? `**${count(s.median)}** (${count(s.min)}–${count(s.max)})` : `**${count(s.median)}**`);

const pgName = (c: PgConfig) => (c.rowsPerCommit === 1 ? `1 INSERT per commit, ${c.connections} connections` : `group commit: ${c.rowsPerCommit} rows per INSERT/commit, ${c.connections} connection${c.connections > 1 ? 's' : ''}`);

async function runServer(context: ScenarioContext, settings: Settings, run: number, secret: string, databases: Record<Backend, Record<string, string>>, log: (m: string) => void): Promise<ServerResult> {
  const dataDir = await makeTempDir('bench-ceiling');
  try {
    const databaseUrl = await runDatabase(context.postgres.url, 'postgresql', `bench_ceiling_server_${context.quick ? 'quick' : 'full'}_${run}`, run, databases);
    const server = await startLiveEditsServer(secret, dataDir, settings.socketUpdatesPerSecond, databaseUrl);
    try {
      const child = startLiveEditsLoad(
        {
          sessions: settings.serverSessions,
          editorsPerSession: settings.serverEditorsPerSession,
          editsPerSecondPerEditor: 1,
          closedLoop: true,
          warmupMs: settings.serverWarmupMs,
          durationMs: settings.serverDurationMs,
          drainMs: settings.serverDrainMs,
          setupConcurrency: settings.setupConcurrency,
          syncTimeoutMs: settings.syncTimeoutMs,
          socketUpdatesPerSecond: settings.socketUpdatesPerSecond,
        },
        { processIndex: 0, baseUrl: server.baseUrl, tenantPrefix: `bench-ceiling-${run}`, sessionFrom: 0, sessionTo: settings.serverSessions },
        secret,
      );
      await child.ready;
      const { result, usage } = await runOneLoadWindow(child, [server.pid], { warmupMs: settings.serverWarmupMs, durationMs: settings.serverDurationMs }, log);
      const combined = combineLoads([result]);
      const out: ServerResult = {
        ...combined,
        ackMs: summarizeLatencies(result.samples.ackMs),
        ackHistogram: latencyHistogram(result.samples.ackMs),
        server: usage.servers()[0] ?? null,
        machineCpuBusyPercent: usage.machineCpuBusyPercent(),
      };
      log(
        `run ${run} server: ${count(out.ackedPerSecond)} acknowledged edits/s, ack p50 ${fixed(out.ackMs.p50, 1)} ms, p99 ${fixed(out.ackMs.p99, 1)} ms; ` +
          `errors ${out.errorsInWindow} / ${out.errorsTotal}; server CPU ${out.server ? `${fixed(out.server.cpuPercentOfOneCore, 0)} % (main thread ${fixed(out.server.mainThreadCpuPercent, 0)} %)` : '?'}, ` +
          `machine ${fixed(out.machineCpuBusyPercent ?? Number.NaN, 0)} % busy (the rest, PostgreSQL mostly: ${fixed(otherCpu(out), 0)} % of a core)`,
      );
      if (out.errorSamples.length > 0) log(`first errors: ${out.errorSamples.slice(0, 3).join(' | ')}`);
      return out;
    } finally {
      await server.stop();
    }
  } finally {
    await removeTempDir(dataDir);
  }
}

async function runOnce(context: ScenarioContext, settings: Settings, run: number, secret: string, databases: Record<Backend, Record<string, string>>): Promise<RunResult> {
  const log = (message: string) => console.error(`[ceiling] ${message}`);
  const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
  const dir = await makeTempDir('bench-ceiling-stream');
  try {
    const file = path.join(dir, 'stream.bin');
    log(`run ${run}/${settings.runs}: generating the edit stream`);
    const stream = await runJsonChild<{ updates: number; averageUpdateBytes: number }>(
      'bench/load/yjs-ceiling.ts',
      { mode: 'generate', file, docs: settings.docs, editorsPerDoc: settings.editorsPerDoc, editsPerSecond: settings.editsPerSecondPerEditor, seconds: settings.streamSeconds, seed: run },
      {},
      300_000,
    );
    log(`run ${run}: (a) bare Yjs loop`);
    const yjs = await runJsonChild<YjsResult>('bench/load/yjs-ceiling.ts', { mode: 'measure', file, warmupEdits: settings.yjsWarmupEdits }, {}, 300_000);
    if (yjs.keysAtEnd !== settings.docs * settings.editorsPerDoc) throw new Error(`the Yjs loop ended with ${yjs.keysAtEnd} keys, not ${settings.docs * settings.editorsPerDoc}`);
    const pgResults: PgResult[] = [];
    for (const config of settings.pgConfigs) {
      log(`run ${run}: (b) bare PostgreSQL loop, ${pgName(config)}`);
      const url = await freshPostgresDatabase(context.postgres.url, `bench_ceiling_pg_${context.quick ? 'quick' : 'full'}`);
      pgResults.push(
        await runJsonChild<PgResult>(
          'bench/load/pg-ceiling.ts',
          { url, file, ...config, warmupMs: settings.pgWarmupMs, durationMs: settings.pgDurationMs },
          {},
          settings.pgWarmupMs + settings.pgDurationMs + 120_000,
        ),
      );
    }
    log(`run ${run}: (c) this server, closed loop`);
    const server = await runServer(context, settings, run, secret, databases, log);
    return { run, loadAverage1m, stream, yjs, pg: pgResults, server };
  } finally {
    await removeTempDir(dir);
  }
}

type Summary = {
  runs: number;
  yjs: { editsPerSecond: Spread; p50Us: Spread; p99Us: Spread };
  pg: { config: PgConfig; rowsPerSecond: Spread; commitsPerSecond: Spread; commitP50Ms: Spread; commitP99Ms: Spread; errors: number }[];
  server: {
    ackedPerSecond: Spread;
    ackP50Ms: Spread;
    ackP99Ms: Spread;
    cpuPercentOfOneCore: Spread;
    mainThreadCpuPercent: Spread;
    peakRssMiB: number;
    machineCpuBusyPercent: Spread;
    loadCpuPercentOfOneCore: Spread;
    /** The machine's busy CPU less the server's and the load generator's: PostgreSQL, mostly. */
    otherCpuPercentOfOneCore: Spread;
    /** Server CPU (all its threads) per acknowledged edit, µs. */
    cpuUsPerEdit: Spread;
    errorsInWindow: number;
    errorsTotal: number;
    errorSamples: string[];
  };
};

/** Of one core: the whole machine's busy CPU less the server's and the load generator's (PostgreSQL, mostly). */
function otherCpu(r: ServerResult): number {
  const load = r.loadProcesses[0]?.cpuPercentOfOneCore;
  if (r.machineCpuBusyPercent === null || r.server === null || load === undefined) return Number.NaN;
  return r.machineCpuBusyPercent * os.availableParallelism() - r.server.cpuPercentOfOneCore - load;
}

function summarize(settings: Settings, results: readonly RunResult[]): Summary {
  const s = (values: number[], digits: number) => roundSpread(spreadOf(values), digits);
  return {
    runs: results.length,
    yjs: {
      editsPerSecond: s(results.map((r) => r.yjs.editsPerSecond), 0),
      p50Us: s(results.map((r) => r.yjs.perEditUs.p50), 2),
      p99Us: s(results.map((r) => r.yjs.perEditUs.p99), 2),
    },
    pg: settings.pgConfigs.map((config, i) => {
      const runs = results.map((r) => r.pg[i]!);
      return {
        config,
        rowsPerSecond: s(runs.map((p) => p.rowsPerSecond), 0),
        commitsPerSecond: s(runs.map((p) => p.throughputPerSecond), 0),
        commitP50Ms: s(runs.map((p) => p.latencyMs.p50), 3),
        commitP99Ms: s(runs.map((p) => p.latencyMs.p99), 3),
        errors: runs.reduce((total, p) => total + p.errorsTotal, 0),
      };
    }),
    server: {
      ackedPerSecond: s(results.map((r) => r.server.ackedPerSecond), 0),
      ackP50Ms: s(results.map((r) => r.server.ackMs.p50), 2),
      ackP99Ms: s(results.map((r) => r.server.ackMs.p99), 2),
      cpuPercentOfOneCore: s(results.map((r) => r.server.server?.cpuPercentOfOneCore ?? Number.NaN), 0),
      mainThreadCpuPercent: s(results.map((r) => r.server.server?.mainThreadCpuPercent ?? Number.NaN), 0),
      peakRssMiB: Math.max(...results.map((r) => r.server.server?.peakRssMiB ?? Number.NaN)),
      machineCpuBusyPercent: s(results.map((r) => r.server.machineCpuBusyPercent ?? Number.NaN), 0),
      loadCpuPercentOfOneCore: s(results.map((r) => r.server.loadProcesses[0]?.cpuPercentOfOneCore ?? Number.NaN), 0),
      otherCpuPercentOfOneCore: s(results.map((r) => otherCpu(r.server)), 0),
      cpuUsPerEdit: s(results.map((r) => ((r.server.server?.cpuPercentOfOneCore ?? Number.NaN) * 10_000) / r.server.ackedPerSecond), 0),
      errorsInWindow: results.reduce((total, r) => total + r.server.errorsInWindow, 0),
      errorsTotal: results.reduce((total, r) => total + r.server.errorsTotal, 0),
      errorSamples: results.flatMap((r) => r.server.errorSamples).slice(0, 5),
    },
  };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, summary: Summary, results: readonly RunResult[], databases: Record<Backend, Record<string, string>>, jsonPath: string): string {
  const runs = summary.runs;
  const serverRate = summary.server.ackedPerSecond.median;
  const groupCommits = summary.pg.filter((p) => p.config.rowsPerCommit > 1);
  const bestGroup = groupCommits.reduce((best, p) => (p.rowsPerSecond.median > best.rowsPerSecond.median ? p : best), groupCommits[0]!);
  const single = summary.pg.find((p) => p.config.rowsPerCommit === 1);
  const share = (part: number, whole: number) => `${fixed((part / whole) * 100, part / whole < 0.01 ? 2 : 1)} %`;
  const updates = results[0]?.stream.updates ?? Number.NaN;
  const updateBytes = results[0]?.stream.averageUpdateBytes ?? Number.NaN;
  const rows = [
    ['(a) bare Yjs loop: `Y.applyUpdate` + sync frame (`writeUpdate`), one thread', 'edits/s', rate(summary.yjs.editsPerSecond, runs), `per edit p50 ${withSpread(summary.yjs.p50Us, 1, runs)} µs, p99 ${withSpread(summary.yjs.p99Us, 1, runs)} µs`, share(serverRate, summary.yjs.editsPerSecond.median)],
    ...summary.pg.map((p) => [
      `(b) bare PostgreSQL: ${pgName(p.config)}`,
      'rows/s (durable)',
      rate(p.rowsPerSecond, runs),
      `${rate(p.commitsPerSecond, runs)} commits/s; commit p50 ${withSpread(p.commitP50Ms, 2, runs)} ms, p99 ${withSpread(p.commitP99Ms, 2, runs)} ms${p.errors > 0 ? `; ${p.errors} errors` : ''}`,
      share(serverRate, p.rowsPerSecond.median),
    ]),
    [
      `(c) this server, PostgreSQL: ${settings.serverSessions} sessions × ${settings.serverEditorsPerSession} closed-loop editors`,
      'acknowledged edits/s (durable)',
      rate(summary.server.ackedPerSecond, runs),
      `ack p50 ${withSpread(summary.server.ackP50Ms, 1, runs)} ms, p99 ${withSpread(summary.server.ackP99Ms, 1, runs)} ms; server CPU ${withSpread(summary.server.cpuPercentOfOneCore, 0, runs)} % of a core (main thread ${withSpread(summary.server.mainThreadCpuPercent, 0, runs)} %), ${withSpread(summary.server.cpuUsPerEdit, 0, runs)} µs of server CPU per acknowledged edit; peak RSS ${fixed(summary.server.peakRssMiB, 0)} MiB; machine ${withSpread(summary.server.machineCpuBusyPercent, 0, runs)} % busy, load generator ${withSpread(summary.server.loadCpuPercentOfOneCore, 0, runs)} % of a core, the rest (PostgreSQL, mostly) ${withSpread(summary.server.otherCpuPercentOfOneCore, 0, runs)} % of a core`,
      '100 %',
    ],
  ];
  const perRun = table(
    ['run', 'Yjs edits/s', ...settings.pgConfigs.map((c) => `PG ${c.rowsPerCommit}×${c.connections} rows/s`), 'server acked edits/s', 'ack p50 / p99 ms', 'server CPU', 'errors (window / all)', 'load average before'],
    results.map((r) => [
      String(r.run),
      count(r.yjs.editsPerSecond),
      ...r.pg.map((p) => count(p.rowsPerSecond)),
      count(r.server.ackedPerSecond),
      `${fixed(r.server.ackMs.p50, 1)} / ${fixed(r.server.ackMs.p99, 1)}`,
      r.server.server ? `${fixed(r.server.server.cpuPercentOfOneCore, 0)} %` : '—',
      `${r.server.errorsInWindow} / ${r.server.errorsTotal}${r.server.drainTimedOut ? ' (drain timed out)' : ''}`,
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const loads = results.map((r) => r.loadAverage1m).filter((v) => Number.isFinite(v));
  const goalMet = serverRate >= GOAL_EDITS_PER_SECOND;
  return `
## ceiling: this server next to its parts (a bare Yjs loop, a bare PostgreSQL loop)${context.quick ? ' (quick smoke run, not for quoting)' : ''}

${runFacts(context, jsonPath)}

**Workload** (issue 7, scenario 6). The edit stream of the \`peers\` scenario: ${settings.docs} documents × ${settings.editorsPerDoc} editors × ${settings.editsPerSecondPerEditor} edits/s,
each edit a \`Y.Map.set\` of the editor's own key \`e<editor>\` of \`data_import.fieldMapping\` (a shared \`Y.Map\`, as
in this server's session documents) to \`<sequence>@<time>\`. ${count(updates)} updates (${settings.streamSeconds} simulated seconds, ${fixed(updateBytes, 1)} bytes
each on average) are made ahead of time by \`bench/load/yjs-ceiling.ts generate\`: one Y.Doc per editor, synced to
its document's initial state, every editor edits once per tick in a random order and its update is captured
(the editors do not receive each other's updates: each sets only its own key, so its update is the same
insert-and-delete of its own item either way).
- **(a)** \`bench/load/yjs-ceiling.ts measure\`, a process of its own: one server-side Y.Doc per document, and for each
  update \`Y.applyUpdate\` then the sync frame to broadcast (\`syncProtocol.writeUpdate\` → bytes): the least a
  server does per edit, with no network, no storage, no authorization. Max throughput on one thread, the first
  ${count(settings.yjsWarmupEdits)} updates not measured (JIT warm-up); per-edit µs from \`performance.now()\` around both steps.
- **(b)** \`bench/load/pg-ceiling.ts\`: the same update bytes appended to \`ceiling_updates (id bigserial, session_id text,
  update bytea, created_at timestamptz default now())\` on the harness's PostgreSQL (fsync and synchronous_commit on),
  closed loop, a fresh database per configuration (one name, dropped and made again, so that no table of millions of rows is left behind), ${settings.pgWarmupMs / 1000} s warm-up and ${settings.pgDurationMs / 1000} s measured each. One autocommit
  INSERT per edit from ${single?.config.connections ?? '?'} connections; group commit: one multi-row INSERT of N updates per commit (autocommit,
  one statement), from 1 connection (one commit in flight, as a server that commits one batch per turn) or more.
- **(c)** this server (default configuration except \`SOCKET_UPDATES_PER_SECOND=${settings.socketUpdatesPerSecond}\`, so that the per-connection limit is not
  what caps an editor; \`LOG_LEVEL=warn\`) on a fresh PostgreSQL database: ${settings.serverSessions} sessions × ${settings.serverEditorsPerSession} editors
  (\`SessionProvider\` of the client SDK, each also observing the others), closed loop: an editor makes its next edit
  as soon as the server acknowledged its last one, which it does only after the edit's commit. The live-edits load
  generator (\`bench/load/live-edits.ts\`, \`closedLoop\`), in one process; ${settings.serverWarmupMs / 1000} s warm-up, ${settings.serverDurationMs / 1000} s measured.
  Acknowledged edits/s: acknowledgements received in the window; ack latency: edit → its acknowledgement.

${runs} run${runs > 1 ? 's' : ''}; each cell the median over runs${runs > 1 ? ' with the lowest and highest run in brackets' : ''}. Last column: this server's acknowledged edits/s as a share of that line's rate.

${table(['', 'unit', 'rate', 'detail', 'server at'], rows)}

**Against its parts:** this server acknowledges ${count(serverRate)} durable edits/s: ${share(serverRate, bestGroup.rowsPerSecond.median)} of the bare PostgreSQL group-commit
loop's best (${pgName(bestGroup.config)}: ${count(bestGroup.rowsPerSecond.median)} rows/s),
${single ? `${share(serverRate, single.rowsPerSecond.median)} of one durable INSERT per commit from ${single.config.connections} connections (${count(single.rowsPerSecond.median)} rows/s), ` : ''}and ${share(serverRate, summary.yjs.editsPerSecond.median)} of the bare Yjs loop
(${count(summary.yjs.editsPerSecond.median)} edits/s on one thread, ${fixed(1e6 / summary.yjs.editsPerSecond.median, 1)} µs per edit, against the server's ${fixed(summary.server.cpuUsPerEdit.median, 0)} µs of CPU per acknowledged edit).
The bare loops do less than the server per edit: its turn's one transaction also fences every session it commits for
(\`UPDATE ... RETURNING\`) and appends events and audit entries next to the updates, and it authorizes, decodes and
checks each update, answers the sender and broadcasts over Socket.IO. The Yjs loop and the PostgreSQL loops each ran alone on the machine; the server shares its
${context.machine.cores} cores with PostgreSQL and the load generator, as the parts would in a server.
Where the server run's CPU went (medians, % of one core; ${context.machine.cores * 100} % is the whole machine, which was ${fixed(summary.server.machineCpuBusyPercent.median, 0)} % busy):
the server ${fixed(summary.server.cpuPercentOfOneCore.median, 0)} %, the load generator ${fixed(summary.server.loadCpuPercentOfOneCore.median, 0)} %, the rest (PostgreSQL, mostly) ${fixed(summary.server.otherCpuPercentOfOneCore.median, 0)} %.${
    summary.server.machineCpuBusyPercent.median >= 95
      ? ' The machine was saturated: more closed-loop editors would not raise the rate, only the latency.'
      : ' The machine was not quite saturated.'
  }

**The goal** (issue 7: ≥ ${count(GOAL_EDITS_PER_SECOND)} durable edits/s on one 2-core node): ${goalMet ? `**met**: ${count(serverRate)} acknowledged edits/s.` : `**not met**: ${count(serverRate)} acknowledged edits/s, ${percent(serverRate, GOAL_EDITS_PER_SECOND)} of it (${count(GOAL_EDITS_PER_SECOND - serverRate)} edits/s short).`}
${summary.server.errorsTotal > 0 ? `\nErrors of the server run: ${summary.server.errorsInWindow} in the window, ${summary.server.errorsTotal} in all (first: ${summary.server.errorSamples.map((e) => `\`${e}\``).join('; ')}).\n` : '\nNo error, refusal or disconnection in the server runs.\n'}
**Noise.** A shared VM with ${context.machine.cores} cores; 1-minute load average before the runs ${fixed(Math.min(...loads), 1)}–${fixed(Math.max(...loads), 1)}. ${runs > 1 ? 'Read the brackets before comparing.' : 'One run: no spread to read; quote only the full run.'}

<details><summary>Every run</summary>

${perRun}

PostgreSQL: ${Object.entries(databases.postgresql).map(([name, value]) => `${name}=${value}`).join(', ')}.

</details>
`;
}

async function runCeiling(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  const secret = randomBytes(32).toString('base64url');
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const results: RunResult[] = [];
  for (let run = 1; run <= settings.runs; run += 1) results.push(await runOnce(context, settings, run, secret, databases));
  const summary = summarize(settings, results);
  const sectionName = `ceiling${context.quick ? '-quick' : ''}`;
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', `ceiling${context.quick ? '.quick' : ''}.json`);
  writeRawResults(jsonPath, context, 'ceiling', {
    settings,
    goalEditsPerSecond: GOAL_EDITS_PER_SECOND,
    databases,
    postgresReused: context.postgres.reused,
    summary,
    runs: results.map((r) => ({ ...r, server: { ...r.server } })),
  });
  upsertSection(path.join(REPO_ROOT, 'BENCHMARKS.md'), sectionName, renderMarkdown(context, settings, summary, results, databases, jsonPath), sectionName === 'ceiling' ? { before: 'ceiling-quick' } : {});
  console.error(`[ceiling] wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const ceiling: Scenario = {
  name: 'ceiling',
  summary: 'the peers edit stream through a bare Yjs loop and a bare PostgreSQL loop, next to this server at its maximum',
  run: runCeiling,
};
