// Scenario residency (issue 7 scenario 3): resident memory per session, cold activation latency and
// passivation, on one server node. Per run and database:
// A. A server with SESSION_IDLE_MS = 24 h (nothing passivates). Its RSS (/proc) and heap used
//    (/metrics) just after start; then the load generator (bench/load/residency.ts, a process of its
//    own) starts N sessions, one tenant each, and gives each content with three durable step edits;
//    then GETs every session (all warm: starting a session activates its actor), and after a settle
//    the server's RSS, VmHWM, heap used and `session_actors_active` (must be N): memory per resident
//    session = (RSS − RSS just after start) ÷ N.
// B. A server on the same database with a short SESSION_IDLE_MS (nothing resident at start). One at a
//    time over a sample of the sessions: GET (cold: activates the actor) then GET again (warm). Then
//    the time until `session_actors_active` is 0 after the last request; then GET every session,
//    `concurrency` at a time (cold under load), the peak of the gauge and the RSS; then the time until
//    the gauge is 0 again, and RSS and heap after the passivation (does the memory come back?).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import type { FillReply, PairedReply, PopulateReply, ResidencyRequest } from '../load/residency.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { startBenchServer, startCoordinatedChild, type BenchServer } from '../support/children.ts';
import { BACKEND_NAMES, runDatabase, sqliteSettings, type Backend } from '../support/databases.ts';
import { count, fixed, roundSpread, spreadOf, withSpread, type Spread } from '../support/format.ts';
import { describeMachine } from '../support/machine.ts';
import { databaseSettingsLine, table, upsertSection } from '../support/markdown.ts';
import { processMemoryMiB } from '../support/proc.ts';
import { scrapeMetrics, sumOf } from '../support/prometheus.ts';
import { writeRawResults } from '../support/raw-results.ts';
import type { Scenario, ScenarioContext } from '../support/scenario.ts';
import { latencyHistogram, round, summarizeLatencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';

type Settings = {
  backends: readonly Backend[];
  sessions: number;
  concurrency: number;
  /** Cold + warm GET pairs, one request at a time, in phase B. */
  coldSamples: number;
  /** SESSION_IDLE_MS of phase B's server. */
  idleMs: number;
  /** Wait before reading memory after start and after the load (timers, lazy frees). */
  settleMs: number;
  /** Memory read every second for this long after the passivation (V8 collects an idle heap only after a while). */
  afterPassivationMs: number;
  /** Longest wait for session_actors_active to reach 0, beyond idleMs. */
  passivationTimeoutMs: number;
  runs: number;
  requestTimeoutMs: number;
};

const FULL: Settings = {
  // PostgreSQL only: the memory of a resident session does not depend on the database, and three
  // runs on each would take half an hour.
  backends: ['postgresql'],
  sessions: 10_000,
  concurrency: 32,
  coldSamples: 2_000,
  idleMs: 30_000,
  settleMs: 5_000,
  afterPassivationMs: 15_000,
  passivationTimeoutMs: 60_000,
  runs: 3,
  requestTimeoutMs: 30_000,
};
const QUICK: Settings = { ...FULL, backends: ['postgresql'], sessions: 300, coldSamples: 100, idleMs: 3_000, settleMs: 1_000, afterPassivationMs: 4_000, runs: 1 };

const GOAL_RSS_MIB = 1024;
const GOAL_SESSIONS = 10_000;
const GOAL_ACTIVATION_P99_MS = 20;
const MiB = 2 ** 20;

const log = (message: string) => console.error(`[residency] ${message}`);

type Memory = { rssMiB: number; peakRssMiB: number; heapUsedMiB: number; actors: number };
type Latencies = { summary: LatencySummary; histogram: LatencyHistogram; failed: number };

type RunResult = {
  backend: Backend;
  run: number;
  populate: PopulateReply;
  resident: {
    /** Just after start; after the sessions were started with their content and all GET; that after the settle. */
    baseline: Memory;
    afterSettle: Memory;
    rssPerSessionKiB: number;
    heapPerSessionKiB: number;
    warmConcurrent: Latencies;
  };
  activation: {
    baseline: Memory;
    coldSequential: Latencies;
    warmSequential: Latencies;
    /** From the last paired request until session_actors_active read 0 (null: not within the timeout). */
    sampledPassivatedAfterMs: number | null;
    coldConcurrent: Latencies;
    fillSeconds: number;
    /** Right after the concurrent GETs: the gauge, RSS and heap. */
    afterFill: Memory;
    /** Highest gauge value seen after the fill (read every 100 ms). */
    peakActors: number;
    passivatedAfterMs: number | null;
    /** Read every second for afterPassivationMs after the gauge read 0: the last reading, and the lowest RSS and heap used among them. */
    afterPassivation: Memory;
    lowestAfterPassivation: { rssMiB: number; heapUsedMiB: number };
    /** Heap used after a full GC (the server writes a heap snapshot on SIGUSR2, collecting first), when it answered. */
    heapUsedAfterFullGcMiB: number | null;
  };
  failures: Record<string, number>;
  failureSamples: string[];
};

async function memoryOf(server: BenchServer): Promise<Memory> {
  const proc = processMemoryMiB(server.pid);
  const metrics = await scrapeMetrics(server.baseUrl);
  return {
    rssMiB: round(proc.rss, 1),
    peakRssMiB: round(proc.peakRss, 1),
    heapUsedMiB: round(sumOf(metrics, 'nodejs_heap_size_used_bytes') / MiB, 1),
    actors: sumOf(metrics, 'session_actors_active'),
  };
}

async function actorsActive(server: BenchServer): Promise<number> {
  return sumOf(await scrapeMetrics(server.baseUrl), 'session_actors_active');
}

/** Polls the gauge every 100 ms until it is 0; ms from `sinceEpochMs` (null after the timeout), and its highest value seen. */
async function untilPassivated(server: BenchServer, sinceEpochMs: number, timeoutMs: number): Promise<{ afterMs: number | null; peak: number }> {
  let peak = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const actors = await actorsActive(server);
    peak = Math.max(peak, actors);
    if (actors === 0) return { afterMs: Date.now() - sinceEpochMs, peak };
    if (Date.now() > deadline) return { afterMs: null, peak };
    await sleep(100);
  }
}

/** Sends SIGUSR2 (the server then collects its heap and writes a snapshot), waits for the snapshot, and reads heap used; null if none came within 60 s. */
async function heapAfterFullGc(server: BenchServer, dir: string): Promise<number | null> {
  const snapshots = () => fs.readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
  const before = snapshots().length;
  process.kill(server.pid, 'SIGUSR2');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    await sleep(500);
    // The snapshot is written on the server's main thread: /metrics answers once it is done.
    const heap = sumOf(await scrapeMetrics(server.baseUrl, 60_000), 'nodejs_heap_size_used_bytes') / MiB;
    if (snapshots().length > before) {
      for (const name of snapshots()) fs.rmSync(path.join(dir, name), { force: true });
      return round(heap, 1);
    }
  }
  return null;
}

function latencies(samples: Float64Array): Latencies {
  const ok = samples.filter((value) => Number.isFinite(value));
  const summary = summarizeLatencies(ok);
  return {
    summary: { count: summary.count, mean: round(summary.mean, 3), p50: round(summary.p50, 3), p95: round(summary.p95, 3), p99: round(summary.p99, 3), max: round(summary.max, 3) },
    histogram: latencyHistogram(ok),
    failed: samples.length - ok.length,
  };
}

async function runOnce(context: ScenarioContext, settings: Settings, backend: Backend, run: number, secret: string, databases: Record<Backend, Record<string, string>>): Promise<RunResult> {
  const mode = context.quick ? 'quick' : 'full';
  const dataDir = await makeTempDir('bench-residency');
  try {
    const databaseUrl = await runDatabase(context.postgres.url, backend, `bench_residency_${mode}_${run}`, run, databases);
    const env = (idleMs: number): Record<string, string> => ({
      LOG_LEVEL: 'warn',
      JWT_SECRET: secret,
      DATA_DIR: dataDir,
      ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
      SESSION_IDLE_MS: String(idleMs),
    });
    const load = startCoordinatedChild<{ tokens: number }, Record<string, never>>(
      'bench/load/residency.ts',
      { sessions: settings.sessions, concurrency: settings.concurrency, requestTimeoutMs: settings.requestTimeoutMs, tenantPrefix: `bench-res-${mode}-${run}` },
      { BENCH_JWT_SECRET: secret },
      30 * 60_000,
    );
    await load.ready;
    load.go({ type: 'go', startAtEpochMs: Date.now() });
    try {
      const ask = <Reply>(request: ResidencyRequest) => load.request<Reply>(request);
      const failures: Record<string, number> = {};
      const failureSamples: string[] = [];
      const note = (phase: string, f: { byKind: Record<string, number>; samples: string[] }) => {
        for (const [kind, n] of Object.entries(f.byKind)) failures[`${phase}: ${kind}`] = (failures[`${phase}: ${kind}`] ?? 0) + n;
        failureSamples.push(...f.samples.slice(0, 3 - Math.min(3, failureSamples.length)));
      };

      // A: every session resident.
      log(`${BACKEND_NAMES[backend]} run ${run}/${settings.runs}: phase A (SESSION_IDLE_MS = 24 h), ${count(settings.sessions)} sessions`);
      let server = await startBenchServer(env(86_400_000));
      let resident: RunResult['resident'];
      let populate: PopulateReply;
      try {
        await sleep(settings.settleMs);
        const baseline = await memoryOf(server);
        populate = await ask<PopulateReply>({ op: 'populate', baseUrl: server.baseUrl });
        note('populate', populate.failures);
        if (backend === 'sqlite' && run === 1) databases.sqlite = sqliteSettings(path.join(dataDir, 'onboarding.sqlite'));
        const warm = await ask<FillReply>({ op: 'fill', baseUrl: server.baseUrl });
        note('warm GET', warm.failures);
        await sleep(settings.settleMs);
        const afterSettle = await memoryOf(server);
        log(`resident: ${afterSettle.actors} actors, RSS ${fixed(baseline.rssMiB, 0)} → ${fixed(afterSettle.rssMiB, 0)} MiB (VmHWM ${fixed(afterSettle.peakRssMiB, 0)}), heap used ${fixed(baseline.heapUsedMiB, 0)} → ${fixed(afterSettle.heapUsedMiB, 0)} MiB`);
        resident = {
          baseline,
          afterSettle,
          rssPerSessionKiB: round(((afterSettle.rssMiB - baseline.rssMiB) * 1024) / afterSettle.actors, 2),
          heapPerSessionKiB: round(((afterSettle.heapUsedMiB - baseline.heapUsedMiB) * 1024) / afterSettle.actors, 2),
          warmConcurrent: latencies(warm.latencyMs),
        };
      } finally {
        await server.stop();
      }

      // B: activation and passivation.
      log(`phase B (SESSION_IDLE_MS = ${settings.idleMs} ms): ${count(settings.coldSamples)} cold + warm GETs one at a time, then all ${settings.concurrency} at a time`);
      // A heap snapshot on SIGUSR2 (into the temp directory) forces a full GC at the end: what the passivated sessions still hold.
      server = await startBenchServer({ ...env(settings.idleMs), NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dataDir}` });
      try {
        await sleep(settings.settleMs);
        const baseline = await memoryOf(server);
        const pairs = await ask<PairedReply>({ op: 'paired', baseUrl: server.baseUrl, samples: settings.coldSamples });
        note('paired GET', pairs.failures);
        const sampled = await untilPassivated(server, pairs.lastResponseAtEpochMs, settings.idleMs + settings.passivationTimeoutMs);
        const filled = await ask<FillReply>({ op: 'fill', baseUrl: server.baseUrl });
        note('cold GET', filled.failures);
        const afterFill = await memoryOf(server);
        const passivation = await untilPassivated(server, filled.lastResponseAtEpochMs, settings.idleMs + settings.passivationTimeoutMs);
        const readings: Memory[] = [];
        for (let second = 0; second < Math.max(1, Math.round(settings.afterPassivationMs / 1000)); second += 1) {
          await sleep(1000);
          readings.push(await memoryOf(server));
        }
        const afterPassivation = readings[readings.length - 1] as Memory;
        const heapUsedAfterFullGcMiB = await heapAfterFullGc(server, dataDir);
        const lowestAfterPassivation = { rssMiB: Math.min(...readings.map((m) => m.rssMiB)), heapUsedMiB: Math.min(...readings.map((m) => m.heapUsedMiB)) };
        const activation: RunResult['activation'] = {
          baseline,
          coldSequential: latencies(pairs.cold),
          warmSequential: latencies(pairs.warm),
          sampledPassivatedAfterMs: sampled.afterMs,
          coldConcurrent: latencies(filled.latencyMs),
          fillSeconds: round(filled.seconds, 2),
          afterFill,
          peakActors: Math.max(afterFill.actors, passivation.peak),
          passivatedAfterMs: passivation.afterMs,
          afterPassivation,
          lowestAfterPassivation,
          heapUsedAfterFullGcMiB,
        };
        log(
          `cold GET p50/p99 ${fixed(activation.coldSequential.summary.p50, 2)}/${fixed(activation.coldSequential.summary.p99, 2)} ms, warm ${fixed(activation.warmSequential.summary.p50, 2)}/${fixed(activation.warmSequential.summary.p99, 2)} ms; ` +
            `peak ${activation.peakActors} actors, 0 after ${passivation.afterMs ?? 'n/a'} ms; RSS ${fixed(afterFill.rssMiB, 0)} → ${fixed(afterPassivation.rssMiB, 0)} MiB, heap used ${fixed(afterFill.heapUsedMiB, 0)} → ${fixed(afterPassivation.heapUsedMiB, 0)} MiB`,
        );
        return { backend, run, populate, resident, activation, failures, failureSamples };
      } finally {
        await server.stop();
      }
    } finally {
      void load.request({ op: 'finish' }).catch(() => {});
      await load.result.catch(() => {});
    }
  } finally {
    await removeTempDir(dataDir);
  }
}

type Summary = {
  backend: Backend;
  runs: number;
  residentActors: Spread;
  baselineRssMiB: Spread;
  residentRssMiB: Spread;
  residentPeakRssMiB: Spread;
  rssPerSessionKiB: Spread;
  heapBaselineMiB: Spread;
  heapResidentMiB: Spread;
  heapPerSessionKiB: Spread;
  /** baseline + per session × 10,000: the measured total in the full run, an extrapolation in the quick one. */
  rssAt10kMiB: Spread;
  populatePerSecond: Spread;
  coldSequential: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  warmSequential: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  coldConcurrent: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  warmConcurrent: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  sampledPassivatedAfterMs: Spread;
  passivatedAfterMs: Spread;
  peakActors: Spread;
  bBaselineRssMiB: Spread;
  afterFillRssMiB: Spread;
  afterPassivationRssMiB: Spread;
  bBaselineHeapMiB: Spread;
  afterFillHeapMiB: Spread;
  afterPassivationHeapMiB: Spread;
  lowestHeapAfterPassivationMiB: Spread;
  heapAfterFullGcMiB: Spread;
};

function summarize(backend: Backend, results: readonly RunResult[]): Summary {
  const s = (pick: (r: RunResult) => number | null) => roundSpread(spreadOf(results.map((r) => pick(r) ?? Number.NaN)), 2);
  const pct = (pick: (r: RunResult) => Latencies) => ({
    p50: s((r) => pick(r).summary.p50),
    p95: s((r) => pick(r).summary.p95),
    p99: s((r) => pick(r).summary.p99),
    max: s((r) => pick(r).summary.max),
  });
  return {
    backend,
    runs: results.length,
    residentActors: s((r) => r.resident.afterSettle.actors),
    baselineRssMiB: s((r) => r.resident.baseline.rssMiB),
    residentRssMiB: s((r) => r.resident.afterSettle.rssMiB),
    residentPeakRssMiB: s((r) => r.resident.afterSettle.peakRssMiB),
    rssPerSessionKiB: s((r) => r.resident.rssPerSessionKiB),
    heapBaselineMiB: s((r) => r.resident.baseline.heapUsedMiB),
    heapResidentMiB: s((r) => r.resident.afterSettle.heapUsedMiB),
    heapPerSessionKiB: s((r) => r.resident.heapPerSessionKiB),
    rssAt10kMiB: s((r) => r.resident.baseline.rssMiB + (r.resident.rssPerSessionKiB * GOAL_SESSIONS) / 1024),
    populatePerSecond: s((r) => r.populate.requests / r.populate.seconds),
    coldSequential: pct((r) => r.activation.coldSequential),
    warmSequential: pct((r) => r.activation.warmSequential),
    coldConcurrent: pct((r) => r.activation.coldConcurrent),
    warmConcurrent: pct((r) => r.resident.warmConcurrent),
    sampledPassivatedAfterMs: s((r) => r.activation.sampledPassivatedAfterMs),
    passivatedAfterMs: s((r) => r.activation.passivatedAfterMs),
    peakActors: s((r) => r.activation.peakActors),
    bBaselineRssMiB: s((r) => r.activation.baseline.rssMiB),
    afterFillRssMiB: s((r) => r.activation.afterFill.rssMiB),
    afterPassivationRssMiB: s((r) => r.activation.afterPassivation.rssMiB),
    bBaselineHeapMiB: s((r) => r.activation.baseline.heapUsedMiB),
    afterFillHeapMiB: s((r) => r.activation.afterFill.heapUsedMiB),
    afterPassivationHeapMiB: s((r) => r.activation.afterPassivation.heapUsedMiB),
    lowestHeapAfterPassivationMiB: s((r) => r.activation.lowestAfterPassivation.heapUsedMiB),
    heapAfterFullGcMiB: s((r) => r.activation.heapUsedAfterFullGcMiB),
  };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, summaries: readonly Summary[], results: readonly RunResult[], databases: Record<Backend, Record<string, string>>, jsonPath: string): string {
  const runs = settings.runs;
  const w = (spread: Spread, digits: number) => withSpread(spread, digits, runs);
  const n = settings.sessions;
  const measuredAtGoal = n === GOAL_SESSIONS;
  const goalLines = summaries.map((s) => {
    const rss = s.rssAt10kMiB.median;
    const p99 = s.coldSequential.p99.median;
    return `- ${BACKEND_NAMES[s.backend]}: goal ≤ 1 GB RSS for 10,000 resident sessions: **${fixed(rss, 0)} MiB** ${measuredAtGoal ? 'measured' : `extrapolated from ${count(n)} sessions (RSS just after start + ${fixed(s.rssPerSessionKiB.median, 1)} KiB × 10,000)`} — ${rss <= GOAL_RSS_MIB ? `met, ${fixed(GOAL_RSS_MIB - rss, 0)} MiB to spare` : `missed by ${fixed(rss - GOAL_RSS_MIB, 0)} MiB`}; goal activation p99 ≤ ${GOAL_ACTIVATION_P99_MS} ms: **${fixed(p99, 2)} ms** (cold GET, one at a time) — ${p99 <= GOAL_ACTIVATION_P99_MS ? `met, ${fixed(GOAL_ACTIVATION_P99_MS - p99, 2)} ms to spare` : `missed by ${fixed(p99 - GOAL_ACTIVATION_P99_MS, 2)} ms`}${s.coldConcurrent.p99.median > GOAL_ACTIVATION_P99_MS ? ` (cold GETs ${settings.concurrency} at a time: p99 ${fixed(s.coldConcurrent.p99.median, 1)} ms, mostly queueing on ${context.machine.cores} shared cores)` : ''}.`;
  });
  const col = (pick: (s: Summary) => string) => summaries.map(pick);
  const header = ['', ...summaries.map((s) => BACKEND_NAMES[s.backend])];
  const memoryRows = [
    ['session actors resident (`session_actors_active`)', ...col((s) => w(s.residentActors, 0))],
    ['RSS just after start, MiB', ...col((s) => w(s.baselineRssMiB, 0))],
    [`RSS with ${count(n)} sessions resident, after a ${fixed(settings.settleMs / 1000, 1)} s settle, MiB (VmHWM)`, ...col((s) => `${w(s.residentRssMiB, 0)} (${fixed(s.residentPeakRssMiB.median, 0)})`)],
    ['**RSS per resident session, KiB**', ...col((s) => w(s.rssPerSessionKiB, 1))],
    ['heap used just after start → resident, MiB', ...col((s) => `${fixed(s.heapBaselineMiB.median, 0)} → ${w(s.heapResidentMiB, 0)}`)],
    ['heap used per resident session, KiB', ...col((s) => w(s.heapPerSessionKiB, 1))],
    [`RSS at 10,000 resident sessions, MiB (${measuredAtGoal ? 'measured' : 'extrapolated'}; goal ≤ 1,024)`, ...col((s) => w(s.rssAt10kMiB, 0))],
    ['set-up: requests/s (POST + 3 PATCH per session, each durable)', ...col((s) => w(s.populatePerSecond, 0))],
  ];
  const latencyRow = (label: string, pick: (s: Summary) => Record<'p50' | 'p95' | 'p99' | 'max', Spread>) =>
    summaries.map((s) => [`${label}${summaries.length > 1 ? `, ${BACKEND_NAMES[s.backend]}` : ''}`, w(pick(s).p50, 2), w(pick(s).p95, 2), w(pick(s).p99, 2), w(pick(s).max, 1)]);
  const latencyRows = [
    ...latencyRow(`**cold** GET, one at a time (${count(settings.coldSamples)} sessions)`, (s) => s.coldSequential),
    ...latencyRow('warm GET of the same session right after', (s) => s.warmSequential),
    ...latencyRow(`cold GET, ${settings.concurrency} at a time (all ${count(n)})`, (s) => s.coldConcurrent),
    ...latencyRow(`warm GET, ${settings.concurrency} at a time (all ${count(n)}, phase A)`, (s) => s.warmConcurrent),
  ];
  const passivationRows = [
    [`after the ${count(settings.coldSamples)} one-at-a-time activations: last response → gauge 0, ms`, ...col((s) => w(s.sampledPassivatedAfterMs, 0))],
    [`after activating all ${count(n)}: highest gauge`, ...col((s) => w(s.peakActors, 0))],
    ['… last response → gauge 0, ms', ...col((s) => w(s.passivatedAfterMs, 0))],
    [`RSS: fresh server → all activated → ${fixed(settings.afterPassivationMs / 1000, 0)} s after all passivated, MiB`, ...col((s) => `${fixed(s.bBaselineRssMiB.median, 0)} → ${fixed(s.afterFillRssMiB.median, 0)} → ${w(s.afterPassivationRssMiB, 0)}`)],
    ['heap used: the same, MiB (lowest of the readings every second after the passivation)', ...col((s) => `${fixed(s.bBaselineHeapMiB.median, 0)} → ${fixed(s.afterFillHeapMiB.median, 0)} → ${w(s.afterPassivationHeapMiB, 0)} (${fixed(s.lowestHeapAfterPassivationMiB.median, 0)})`)],
    ['**heap used after a full GC** (forced at the end), MiB', ...col((s) => w(s.heapAfterFullGcMiB, 0))],
  ];
  const failures = results.flatMap((r) => Object.entries(r.failures).map(([kind, k]) => `${BACKEND_NAMES[r.backend]} run ${r.run}: ${kind} × ${k}`));
  const samples = results.flatMap((r) => r.failureSamples);
  const bytes = results[0]?.populate.documentBytes ?? Number.NaN;
  return `## Resident sessions: memory, activation, passivation${context.quick ? ' (quick smoke run)' : ''}

Command: \`${context.command}\`
Date: ${context.startedAt}
Commit: ${context.commit}
Machine: ${describeMachine(context.machine)}
Raw results: [${path.relative(REPO_ROOT, jsonPath)}](${path.relative(REPO_ROOT, jsonPath)})

Issue 7 scenario 3, one server node on ${summaries.map((s) => BACKEND_NAMES[s.backend]).join(' and ')}, ${runs > 1 ? `${runs} runs per database, median with lowest–highest run in brackets` : 'one run'}.
**Workload**: ${count(n)} tenants, one onboarding session each, started by \`POST /api/v1/onboarding/sessions\` and then
given content by three durable \`PATCH …/steps/:stepId\` merge patches (welcome, organization_setup, channel_configuration
with the sample data of \`shared/sample-data.ts\`, the tenant's own name and website; ${fixed(bytes, 0)} bytes of JSON per
session), ${settings.concurrency} sessions at a time, by the load generator \`bench/load/residency.ts\` in a process of its own.
So each session holds its step machine (status and per-step state) and a Yjs document with three filled steps, written as three step edits.
**Memory** (phase A, \`SESSION_IDLE_MS\` = 24 h): the server's RSS (/proc VmRSS) and heap used (\`nodejs_heap_size_used_bytes\` on
/metrics) ${fixed(settings.settleMs / 1000, 1)} s after start, and again after every session was started, filled, read once more with
\`GET /api/v1/onboarding/sessions/:id\` (${settings.concurrency} at a time) and ${fixed(settings.settleMs / 1000, 1)} s of settle; the growth divided by the
actors resident (\`session_actors_active\`). A sample of a garbage-collected heap: the heap figure is rough.
**Activation** (phase B): a second server on the same database with \`SESSION_IDLE_MS\` = ${count(settings.idleMs)} ms, nothing resident; one
request at a time over ${count(settings.coldSamples)} sessions spread over all tenants, \`GET\` the session (its actor is not resident: the
request loads it from the database) and at once \`GET\` it again (warm); client-side wall-clock time of each request over a kept-alive
connection. Then every session cold, ${settings.concurrency} at a time. **Passivation**: \`session_actors_active\` read every 100 ms from the last
response until it is 0 (the idle period is ${count(settings.idleMs)} ms of it), then RSS and heap used every second for ${fixed(settings.afterPassivationMs / 1000, 0)} s
(no GC forced: what V8 has not collected yet counts); at the end a full GC (the server writes a heap snapshot on \`SIGUSR2\`,
\`--heapsnapshot-signal\`, which collects first; the snapshot is deleted) and heap used after it: what the passivated sessions still hold.

Goals (issue 7), distance:
${goalLines.join('\n')}

${table(header, memoryRows)}

${table(['GET latency, ms', 'p50', 'p95', 'p99', 'max'], latencyRows)}

${table(['passivation', ...summaries.map((s) => BACKEND_NAMES[s.backend])], passivationRows)}

${failures.length === 0 ? 'No request failed.' : `Failed requests: ${failures.join('; ')}. ${samples.map((x) => `\`${x.replaceAll('`', "'")}\``).join(' ')}`}
${settings.backends.includes('sqlite') ? databaseSettingsLine(databases.postgresql, databases.sqlite) : `PostgreSQL: ${Object.entries(databases.postgresql).map(([k, v]) => `${k}=${v}`).join(', ')}.`}

${chartImage(jsonPath, 'latency')}
`;
}

async function runResidency(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  const secret = randomBytes(32).toString('base64url');
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const results: RunResult[] = [];
  for (const backend of settings.backends) {
    for (let run = 1; run <= settings.runs; run += 1) results.push(await runOnce(context, settings, backend, run, secret, databases));
  }
  const summaries = settings.backends.map((backend) => summarize(backend, results.filter((r) => r.backend === backend)));
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', context.quick ? 'residency.quick.json' : 'residency.json');
  writeRawResults(jsonPath, context, 'residency', {
    settings,
    goals: { rssMiB: GOAL_RSS_MIB, sessions: GOAL_SESSIONS, activationP99Ms: GOAL_ACTIVATION_P99_MS },
    databases,
    postgresReused: context.postgres.reused,
    summaries,
    runs: results,
  });
  writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    context.quick ? 'residency-quick' : 'residency',
    renderMarkdown(context, settings, summaries, results, databases, jsonPath),
    context.quick ? {} : { before: 'residency-quick' },
  );
  log(`wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const residency: Scenario = {
  name: 'residency',
  summary: 'issue 7 scenario 3: RSS per resident session (10,000), cold activation latency, passivation',
  run: runResidency,
};
