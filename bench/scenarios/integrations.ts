// Scenario integrations (issue 6): many integration actors checking their provider on a schedule,
// on one server node on PostgreSQL. 1,000 tenants (quick: 200) each connect an n8n integration;
// the server checks each every INTEGRATION_CHECK_INTERVAL_MS = 10 s (±10 % jitter) against a local
// n8n stand-in that runs in a process of its own (bench/load/n8n-peer.ts), and emits an
// `integration.health` event on /ops after every check. One /ops client with role `ops` (all
// tenants) and a few tenant-admin clients (bench/load/integrations.ts, another process) record each
// event's latency from `lastCheckedAt` (taken when the check's outcome is known, before the fenced
// write) until it arrives. Over the window: the server's CPU and memory, the checks per second
// (from its /metrics), the events received against those expected, and their latency.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import pg from 'pg';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { startBenchServer, startCoordinatedChild } from '../support/children.ts';
import { runDatabase, type Backend } from '../support/databases.ts';
import { count, fixed, percent, roundSpread, spreadOf, withSpread, type Spread } from '../support/format.ts';
import type { N8nPeerReady, N8nPeerRequest, N8nPeerResult, OpsClientReady, OpsClientResult, SocketEvents } from '../support/integrations-result.ts';
import { describeMachine, sourceFingerprint } from '../support/machine.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { table, upsertSection } from '../support/markdown.ts';
import { processMemoryMiB } from '../support/proc.ts';
import { labelValues, scrapeMetrics, sumOf, type PromSample } from '../support/prometheus.ts';
import { writeRawResults } from '../support/raw-results.ts';
import type { Scenario, ScenarioContext } from '../support/scenario.ts';
import { latencyHistogram, round, summarizeLatencies, type LatencyHistogram, type LatencySummary } from '../support/stats.ts';
import { measureWindow, type ServerUsage } from '../support/window-usage.ts';

type Settings = {
  integrations: number;
  checkIntervalMs: number;
  /** The connects are paced evenly over this long, so the checks start spread over the interval. */
  connectSpreadMs: number;
  connectConcurrency: number;
  /** Tenant-admin /ops sockets besides the ops one: tenants 0, 1, ... each watch their own integration. */
  adminSockets: number;
  /** After the last connect and before the window: every integration has been checked at least once. */
  warmupMs: number;
  durationMs: number;
  runs: number;
  requestTimeoutMs: number;
  /** Per tenant and provider; the default (120) would do too, the scenario must not measure refusals. */
  rateLimitPerMinute: number;
  /** The server's RSS is read from /proc this often during the window. */
  memorySampleEveryMs: number;
  /** The server's /metrics is read this often during the window (heap, event-loop lag, GC). */
  metricsEveryMs: number;
  /** An event slower than this is a slow one; the seconds of the window holding any are listed. */
  slowEventMs: number;
};

const FULL: Settings = {
  integrations: 1_000,
  checkIntervalMs: 10_000,
  connectSpreadMs: 10_000,
  connectConcurrency: 32,
  adminSockets: 10,
  warmupMs: 20_000,
  durationMs: 150_000,
  runs: 3,
  requestTimeoutMs: 30_000,
  rateLimitPerMinute: 10_000,
  memorySampleEveryMs: 2_000,
  metricsEveryMs: 10_000,
  slowEventMs: 100,
};
const QUICK: Settings = { ...FULL, integrations: 200, checkIntervalMs: 3_000, connectSpreadMs: 2_000, warmupMs: 3_000, durationMs: 6_000, runs: 1 };

const log = (message: string) => console.error(`[integrations] ${message}`);

type SocketSummary = {
  sockets: number;
  received: number;
  /** integrations watched × window / check interval: one event per check, the mean delay being the interval. */
  expected: number;
  perSecond: number;
  latencyMs: LatencySummary;
  histogram: LatencyHistogram;
  unhealthy: number;
  changed: number;
  unparseable: number;
  /** Fewest and most events of one integration in the window, and the integrations with none. */
  perIntegration: { min: number; max: number; none: number };
};

type RunResult = {
  run: number;
  loadAverage1m: number;
  code: { before: string; after: string };
  connected: number;
  connectErrors: Record<string, number>;
  connectErrorSamples: string[];
  connectSeconds: number;
  connectLatencyMs: LatencySummary;
  windowSeconds: number;
  server: ServerUsage | null;
  /** The server just after it started, before any connect: RSS and heap used. */
  idle: { rssMiB: number; heapUsedMiB: number };
  /** The server's RSS (/proc VmRSS) sampled during the window. */
  rssMiB: { start: number; max: number; end: number };
  /** From the server's /metrics, read every metricsEveryMs in the window: at its start and end, lowest and highest. */
  heapUsedMiB: { start: number; end: number; min: number; max: number };
  /** Worst p99 and max of the server's event-loop delay (prom-client, 10 ms resolution) over the /metrics intervals of the window. */
  serverEventLoopLagMs: { worstP99: number; max: number };
  /** Garbage collections in the window by kind (count, total seconds), and pauses of 100 ms or more. */
  gc: { byKind: Record<string, { count: number; seconds: number }>; pausesOver100Ms: number };
  /**
   * The machine's I/O pressure (/proc/pressure/io, every process on it): ms of the window during which all non-idle
   * tasks were stalled on I/O, and the same within each of the slow seconds listed in slowSeconds.worst (null without PSI).
   */
  ioStall: { fullMs: number; someMs: number; inWorstSecondsFullMs: number[] } | null;
  /** PostgreSQL checkpoints that completed during the window (cluster-wide), with their write and sync time. */
  checkpoints: Checkpoints;
  /** Seconds of the window holding ops events slower than slowEventMs: how many, and the worst ones (second, slow events, max ms). */
  slowSeconds: { count: number; slowEvents: number; worst: { second: number; slowEvents: number; maxMs: number }[] };
  actorsActive: { start: number; end: number };
  checks: { total: number; perSecond: number; byOutcome: Record<string, number>; meanMs: number };
  rateLimited: number;
  ops: SocketSummary;
  admin: SocketSummary;
  adminForeignEvents: number;
  opsEventsInWarmup: number;
  disconnects: Record<string, number>;
  peerCpuPercentOfOneCore: number | null;
  client: { cpuPercentOfOneCore: number; eventLoopDelayMs: { p50: number; p99: number; max: number } };
  machineCpuBusyPercent: number | null;
};

function summarizeSocket(events: SocketEvents, watched: number, sockets: number, settings: Settings, windowSeconds: number): SocketSummary {
  const counts = Array.from(events.perIntegration.subarray(0, watched));
  return {
    sockets,
    received: events.received,
    expected: (watched * windowSeconds * 1000) / settings.checkIntervalMs,
    perSecond: events.received / windowSeconds,
    latencyMs: summarizeLatencies(events.latencyMs),
    histogram: latencyHistogram(events.latencyMs),
    unhealthy: events.unhealthy,
    changed: events.changed,
    unparseable: events.unparseable,
    perIntegration: {
      min: counts.length > 0 ? Math.min(...counts) : Number.NaN,
      max: counts.length > 0 ? Math.max(...counts) : Number.NaN,
      none: counts.filter((n) => n === 0).length,
    },
  };
}

/** Check counts by outcome (integration_health_check_seconds_count, every kind), and their summed duration. */
function checkCounts(samples: readonly PromSample[]): { byOutcome: Record<string, number>; seconds: number } {
  const byOutcome: Record<string, number> = {};
  for (const outcome of labelValues(samples, 'integration_health_check_seconds_count', 'outcome')) {
    byOutcome[outcome] = sumOf(samples, 'integration_health_check_seconds_count', { outcome });
  }
  const seconds = sumOf(samples, 'integration_health_check_seconds_sum');
  return { byOutcome, seconds: Number.isFinite(seconds) ? seconds : 0 };
}

const MiB = 2 ** 20;

/** Linux pressure stall information for I/O: µs during which some / all non-idle tasks waited on I/O (cumulative); undefined without PSI. */
function ioPressureMicros(): { some: number; full: number } | undefined {
  try {
    const text = fs.readFileSync('/proc/pressure/io', 'utf8');
    const total = (kind: string) => Number(new RegExp(`^${kind} .*total=(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { some: total('some'), full: total('full') };
  } catch {
    return undefined;
  }
}

type Checkpoints = { timed: number; requested: number; writeMs: number; syncMs: number };

/** PostgreSQL's checkpoint counters (pg_stat_bgwriter, cluster-wide): a checkpoint's writes and fsyncs may slow commits. */
async function checkpoints(url: string): Promise<Checkpoints> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const result = await client.query<{ timed: string; requested: string; write_ms: string; sync_ms: string }>(
      'select checkpoints_timed as timed, checkpoints_req as requested, checkpoint_write_time as write_ms, checkpoint_sync_time as sync_ms from pg_stat_bgwriter',
    );
    const row = result.rows[0];
    return { timed: Number(row?.timed), requested: Number(row?.requested), writeMs: Number(row?.write_ms), syncMs: Number(row?.sync_ms) };
  } finally {
    await client.end().catch(() => {});
  }
}

/** GCs between two scrapes, by kind, and those that took 100 ms or more (from the histogram's buckets). */
function gcInWindow(start: readonly PromSample[], end: readonly PromSample[]): RunResult['gc'] {
  const name = 'nodejs_gc_duration_seconds';
  const delta = (metric: string, where: Record<string, string>) => (sumOf(end, metric, where) || 0) - (sumOf(start, metric, where) || 0);
  const byKind: Record<string, { count: number; seconds: number }> = {};
  let pausesOver100Ms = 0;
  for (const kind of labelValues(end, `${name}_count`, 'kind')) {
    byKind[kind] = { count: delta(`${name}_count`, { kind }), seconds: round(delta(`${name}_sum`, { kind }), 3) };
    pausesOver100Ms += delta(`${name}_count`, { kind }) - delta(`${name}_bucket`, { kind, le: '0.1' });
  }
  return { byKind, pausesOver100Ms };
}

/** The seconds of the window in which ops events slower than `slowMs` arrived. */
function slowSeconds(events: SocketEvents, slowMs: number): RunResult['slowSeconds'] {
  const seconds = new Map<number, { slowEvents: number; maxMs: number }>();
  let slowEvents = 0;
  for (let i = 0; i < events.latencyMs.length; i += 1) {
    const latency = events.latencyMs[i] as number;
    if (latency < slowMs) continue;
    slowEvents += 1;
    const second = Math.floor((events.receivedAtMs[i] as number) / 1000);
    const entry = seconds.get(second) ?? { slowEvents: 0, maxMs: 0 };
    entry.slowEvents += 1;
    entry.maxMs = Math.max(entry.maxMs, latency);
    seconds.set(second, entry);
  }
  const worst = [...seconds.entries()]
    .map(([second, entry]) => ({ second, ...entry }))
    .sort((a, b) => b.slowEvents - a.slowEvents || b.maxMs - a.maxMs)
    .slice(0, 10)
    .sort((a, b) => a.second - b.second);
  return { count: seconds.size, slowEvents, worst };
}

async function runOnce(context: ScenarioContext, settings: Settings, run: number, secret: string, databases: Record<Backend, Record<string, string>>): Promise<RunResult> {
  const mode = context.quick ? 'quick' : 'full';
  const dataDir = await makeTempDir('bench-integrations');
  const childTimeoutMs = settings.connectSpreadMs + settings.warmupMs + settings.durationMs + 300_000;
  try {
    const databaseUrl = await runDatabase(context.postgres.url, 'postgresql', `bench_integrations_${mode}_${run}`, run, databases);
    if (databaseUrl === undefined) throw new Error('no PostgreSQL database');
    const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
    const codeBefore = sourceFingerprint();
    const peer = startCoordinatedChild<N8nPeerReady, N8nPeerResult>('bench/load/n8n-peer.ts', {}, {}, childTimeoutMs);
    const { url: n8nUrl, apiKey } = await peer.ready;
    log(`run ${run}/${settings.runs}: n8n stand-in on ${n8nUrl}; starting the server`);
    const server = await startBenchServer({
      LOG_LEVEL: 'warn',
      JWT_SECRET: secret,
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      INTEGRATION_CHECK_INTERVAL_MS: String(settings.checkIntervalMs),
      INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true',
      INTEGRATION_RATE_LIMIT_PER_MINUTE: String(settings.rateLimitPerMinute),
    });
    try {
      const idle = { rssMiB: processMemoryMiB(server.pid).rss, heapUsedMiB: sumOf(await scrapeMetrics(server.baseUrl), 'nodejs_heap_size_used_bytes') / MiB };
      const client = startCoordinatedChild<OpsClientReady, OpsClientResult>(
        'bench/load/integrations.ts',
        {
          baseUrl: server.baseUrl,
          n8nUrl,
          apiKey,
          tenants: settings.integrations,
          tenantPrefix: `bench-int-${mode}-${run}`,
          connectSpreadMs: settings.connectSpreadMs,
          connectConcurrency: settings.connectConcurrency,
          requestTimeoutMs: settings.requestTimeoutMs,
          adminSockets: settings.adminSockets,
          warmupMs: settings.warmupMs,
          durationMs: settings.durationMs,
        },
        { BENCH_JWT_SECRET: secret },
        childTimeoutMs,
      );
      const ready = await client.ready;
      if (ready.connected === 0) throw new Error(`no integration connected: ${ready.connectErrorSamples.join(' | ')}`);
      log(`run ${run}: ${ready.connected} integrations connected in ${fixed(ready.connectMs / 1000, 1)} s; ${settings.warmupMs / 1000} s warm-up, then ${settings.durationMs / 1000} s measured`);

      const startAt = Date.now() + 500;
      const windowStart = startAt + settings.warmupMs;
      const windowEnd = windowStart + settings.durationMs;
      const usage = measureWindow([server.pid, peer.pid, client.pid], windowStart - Date.now(), settings.durationMs, log);
      client.go({ type: 'go', startAtEpochMs: startAt });
      peer.go({ type: 'go', startAtEpochMs: startAt });
      let result: OpsClientResult;
      const scrapes: PromSample[][] = [];
      let checkpointsAtStart: Checkpoints | undefined;
      const ioSamples: { second: number; some: number; full: number }[] = [];
      let checkpointsAtEnd: Checkpoints | undefined;
      let scrapedSeconds: number;
      const rss: number[] = [];
      try {
        await sleep(Math.max(0, windowStart - Date.now()));
        const scrapeStartedAt = performance.now();
        scrapes.push(await scrapeMetrics(server.baseUrl));
        checkpointsAtStart = await checkpoints(databaseUrl);
        const sampleRss = () => {
          try {
            rss.push(processMemoryMiB(server.pid).rss);
          } catch {
            // the server is gone: the run fails below
          }
        };
        sampleRss();
        const sampler = setInterval(sampleRss, settings.memorySampleEveryMs);
        // I/O pressure once a second, at the window's whole seconds (as the slow seconds are counted).
        const sampleIo = () => {
          const pressure = ioPressureMicros();
          if (pressure) ioSamples.push({ second: Math.round((Date.now() - windowStart) / 1000), ...pressure });
        };
        sampleIo();
        const ioSampler = setInterval(sampleIo, 1_000);
        while (windowEnd - Date.now() > settings.metricsEveryMs / 2) {
          await sleep(Math.min(settings.metricsEveryMs, windowEnd - Date.now()));
          if (Date.now() < windowEnd - 1_000) scrapes.push(await scrapeMetrics(server.baseUrl));
        }
        await sleep(Math.max(0, windowEnd - Date.now()));
        clearInterval(sampler);
        clearInterval(ioSampler);
        sampleIo();
        sampleRss();
        scrapes.push(await scrapeMetrics(server.baseUrl));
        checkpointsAtEnd = await checkpoints(databaseUrl);
        scrapedSeconds = (performance.now() - scrapeStartedAt) / 1000;
        result = await client.result;
      } finally {
        usage.cancel();
      }
      await peer.request<{ stopped: true }>({ type: 'stop' } satisfies N8nPeerRequest);
      await peer.result;

      const [serverUsage, peerUsage, clientUsage] = usage.servers();
      const metricsStart = scrapes[0] as PromSample[];
      const metricsEnd = scrapes[scrapes.length - 1] as PromSample[];
      // The event-loop figures of prom-client restart at every scrape: the first one's cover the warm-up.
      const intervals = scrapes.slice(1);
      const heaps = scrapes.map((samples) => sumOf(samples, 'nodejs_heap_size_used_bytes') / MiB);
      const before = checkCounts(metricsStart);
      const after = checkCounts(metricsEnd);
      const byOutcome = Object.fromEntries(Object.entries(after.byOutcome).map(([outcome, n]) => [outcome, n - (before.byOutcome[outcome] ?? 0)]));
      const total = Object.values(byOutcome).reduce((sum, n) => sum + n, 0);
      const adminWatched = ready.adminSockets;
      const outcome: RunResult = {
        run,
        loadAverage1m,
        code: { before: codeBefore, after: codeBefore },
        connected: ready.connected,
        connectErrors: ready.connectErrors,
        connectErrorSamples: ready.connectErrorSamples,
        connectSeconds: ready.connectMs / 1000,
        connectLatencyMs: summarizeLatencies(ready.connectLatencyMs),
        windowSeconds: result.windowSeconds,
        server: serverUsage ?? null,
        idle,
        rssMiB: { start: rss[0] ?? Number.NaN, max: rss.length > 0 ? Math.max(...rss) : Number.NaN, end: rss[rss.length - 1] ?? Number.NaN },
        heapUsedMiB: { start: heaps[0] ?? Number.NaN, end: heaps[heaps.length - 1] ?? Number.NaN, min: Math.min(...heaps), max: Math.max(...heaps) },
        serverEventLoopLagMs: {
          worstP99: Math.max(...intervals.map((samples) => sumOf(samples, 'nodejs_eventloop_lag_p99_seconds') * 1000)),
          max: Math.max(...intervals.map((samples) => sumOf(samples, 'nodejs_eventloop_lag_max_seconds') * 1000)),
        },
        gc: gcInWindow(metricsStart, metricsEnd),
        checkpoints: {
          timed: (checkpointsAtEnd?.timed ?? Number.NaN) - (checkpointsAtStart?.timed ?? Number.NaN),
          requested: (checkpointsAtEnd?.requested ?? Number.NaN) - (checkpointsAtStart?.requested ?? Number.NaN),
          writeMs: (checkpointsAtEnd?.writeMs ?? Number.NaN) - (checkpointsAtStart?.writeMs ?? Number.NaN),
          syncMs: (checkpointsAtEnd?.syncMs ?? Number.NaN) - (checkpointsAtStart?.syncMs ?? Number.NaN),
        },
        slowSeconds: slowSeconds(result.ops, settings.slowEventMs),
        ioStall: null,
        actorsActive: { start: sumOf(metricsStart, 'integration_actors_active'), end: sumOf(metricsEnd, 'integration_actors_active') },
        checks: { total, perSecond: total / scrapedSeconds, byOutcome, meanMs: total > 0 ? ((after.seconds - before.seconds) / total) * 1000 : Number.NaN },
        rateLimited: sumOf(metricsEnd, 'integration_rate_limited_total') || 0,
        ops: summarizeSocket(result.ops, ready.connected, 1, settings, result.windowSeconds),
        admin: summarizeSocket(result.admin, adminWatched, adminWatched, settings, result.windowSeconds),
        adminForeignEvents: result.adminForeignEvents,
        opsEventsInWarmup: result.opsEventsInWarmup,
        disconnects: result.disconnects,
        peerCpuPercentOfOneCore: peerUsage?.cpuPercentOfOneCore ?? null,
        client: {
          cpuPercentOfOneCore: clientUsage?.cpuPercentOfOneCore ?? (result.client.cpuSeconds / result.windowSeconds) * 100,
          eventLoopDelayMs: result.client.eventLoopDelayMs,
        },
        machineCpuBusyPercent: usage.machineCpuBusyPercent(),
      };
      if (ioSamples.length >= 2) {
        const first = ioSamples[0]!;
        const last = ioSamples[ioSamples.length - 1]!;
        // The stall in second s of the window: between the samples taken at s and s + 1.
        const fullIn = (second: number) => {
          const at = ioSamples.find((x) => x.second === second);
          const next = ioSamples.find((x) => x.second === second + 1);
          return at && next ? (next.full - at.full) / 1000 : Number.NaN;
        };
        outcome.ioStall = {
          fullMs: (last.full - first.full) / 1000,
          someMs: (last.some - first.some) / 1000,
          inWorstSecondsFullMs: outcome.slowSeconds.worst.map((x) => round(fullIn(x.second), 1)),
        };
      }
      outcome.code.after = sourceFingerprint();
      if (outcome.code.after !== codeBefore) log(`WARNING: the code under test changed during run ${run} (${codeBefore} → ${outcome.code.after})`);
      log(
        `run ${run}: server CPU ${outcome.server ? `${fixed(outcome.server.cpuPercentOfOneCore, 1)} % (main thread ${fixed(outcome.server.mainThreadCpuPercent, 1)} %)` : '?'}, ` +
          `RSS ${fixed(outcome.rssMiB.end, 0)} MiB (max ${fixed(outcome.rssMiB.max, 0)}), heap ${fixed(outcome.heapUsedMiB.end, 0)} MiB; ` +
          `${fixed(outcome.checks.perSecond, 1)} checks/s ${JSON.stringify(byOutcome)}; ops events ${outcome.ops.received} of ~${fixed(outcome.ops.expected, 0)}, ` +
          `latency p50 ${fixed(outcome.ops.latencyMs.p50, 1)} ms, p95 ${fixed(outcome.ops.latencyMs.p95, 1)} ms, p99 ${fixed(outcome.ops.latencyMs.p99, 1)} ms, max ${fixed(outcome.ops.latencyMs.max, 0)} ms; ` +
          `actors ${outcome.actorsActive.end}; slow seconds ${outcome.slowSeconds.count} (${outcome.slowSeconds.slowEvents} events); ` +
          `GC pauses ≥ 100 ms ${outcome.gc.pausesOver100Ms}, event-loop max ${fixed(outcome.serverEventLoopLagMs.max, 0)} ms; PostgreSQL checkpoints ${JSON.stringify(outcome.checkpoints)}; I/O stall ${JSON.stringify(outcome.ioStall)}; machine busy ${fixed(outcome.machineCpuBusyPercent ?? Number.NaN, 0)} %`,
      );
      return outcome;
    } finally {
      await server.stop();
    }
  } finally {
    await removeTempDir(dataDir);
  }
}

type Summary = {
  runs: number;
  connected: Spread;
  serverCpuPercent: Spread;
  serverMainThreadCpuPercent: Spread;
  idleRssMiB: Spread;
  idleHeapUsedMiB: Spread;
  rssEndMiB: Spread;
  /** (RSS at the end − idle RSS) / integrations, KiB; the same for the heap's lowest read in the window. */
  rssPerIntegrationKiB: Spread;
  heapPerIntegrationKiB: Spread;
  rssMaxMiB: Spread;
  peakRssMiB: Spread;
  heapUsedEndMiB: Spread;
  checksPerSecond: Spread;
  checkMeanMs: Spread;
  actorsActive: Spread;
  heapUsedMinMiB: Spread;
  serverEventLoopLagWorstP99Ms: Spread;
  serverEventLoopLagMaxMs: Spread;
  gcPausesOver100Ms: Spread;
  gcSecondsPerMinute: Spread;
  slowSeconds: Spread;
  slowEventShare: Spread;
  opsReceivedShare: Spread;
  opsEventsPerSecond: Spread;
  ops: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  adminReceivedShare: Spread;
  admin: Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  peerCpuPercent: Spread;
  clientCpuPercent: Spread;
  machineCpuBusyPercent: Spread;
};

function summarize(results: readonly RunResult[]): Summary {
  const of = (pick: (r: RunResult) => number | null | undefined) => spreadOf(results.map((r) => pick(r) ?? Number.NaN));
  const latency = (pick: (r: RunResult) => LatencySummary) =>
    ({ p50: of((r) => pick(r).p50), p95: of((r) => pick(r).p95), p99: of((r) => pick(r).p99), max: of((r) => pick(r).max) }) as Record<'p50' | 'p95' | 'p99' | 'max', Spread>;
  return {
    runs: results.length,
    connected: of((r) => r.connected),
    serverCpuPercent: of((r) => r.server?.cpuPercentOfOneCore),
    serverMainThreadCpuPercent: of((r) => r.server?.mainThreadCpuPercent),
    idleRssMiB: of((r) => r.idle.rssMiB),
    idleHeapUsedMiB: of((r) => r.idle.heapUsedMiB),
    rssEndMiB: of((r) => r.rssMiB.end),
    rssPerIntegrationKiB: of((r) => ((r.rssMiB.end - r.idle.rssMiB) * 1024) / r.connected),
    heapPerIntegrationKiB: of((r) => ((r.heapUsedMiB.min - r.idle.heapUsedMiB) * 1024) / r.connected),
    rssMaxMiB: of((r) => r.rssMiB.max),
    peakRssMiB: of((r) => r.server?.peakRssMiB),
    heapUsedEndMiB: of((r) => r.heapUsedMiB.end),
    checksPerSecond: of((r) => r.checks.perSecond),
    checkMeanMs: of((r) => r.checks.meanMs),
    actorsActive: of((r) => r.actorsActive.end),
    heapUsedMinMiB: of((r) => r.heapUsedMiB.min),
    serverEventLoopLagWorstP99Ms: of((r) => r.serverEventLoopLagMs.worstP99),
    serverEventLoopLagMaxMs: of((r) => r.serverEventLoopLagMs.max),
    gcPausesOver100Ms: of((r) => r.gc.pausesOver100Ms),
    gcSecondsPerMinute: of((r) => (Object.values(r.gc.byKind).reduce((sum, kind) => sum + kind.seconds, 0) / r.windowSeconds) * 60),
    slowSeconds: of((r) => r.slowSeconds.count),
    slowEventShare: of((r) => (r.slowSeconds.slowEvents / Math.max(1, r.ops.latencyMs.count)) * 100),
    opsReceivedShare: of((r) => (r.ops.received / r.ops.expected) * 100),
    opsEventsPerSecond: of((r) => r.ops.perSecond),
    ops: latency((r) => r.ops.latencyMs),
    adminReceivedShare: of((r) => (r.admin.expected > 0 ? (r.admin.received / r.admin.expected) * 100 : Number.NaN)),
    admin: latency((r) => r.admin.latencyMs),
    peerCpuPercent: of((r) => r.peerCpuPercentOfOneCore),
    clientCpuPercent: of((r) => r.client.cpuPercentOfOneCore),
    machineCpuBusyPercent: of((r) => r.machineCpuBusyPercent),
  };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, s: Summary, results: readonly RunResult[], databases: Record<Backend, Record<string, string>>, jsonPath: string): string {
  const runs = s.runs;
  const w = (spread: Spread, digits: number) => withSpread(spread, digits, runs);
  const seconds = (ms: number) => `${ms / 1000} s`;
  const loads = results.map((r) => r.loadAverage1m).filter((value) => Number.isFinite(value));
  const codes = [...new Set(results.flatMap((r) => [r.code.before, r.code.after]))];
  const pg = databases.postgresql;
  const pgDurable = pg.fsync === 'on' && pg.synchronous_commit !== 'off';
  const connectErrors = results.flatMap((r) => Object.entries(r.connectErrors).map(([kind, n]) => `run ${r.run}: ${n} × \`${kind}\``));
  const disconnects = results.flatMap((r) => Object.entries(r.disconnects).map(([reason, n]) => `run ${r.run}: ${n} × ${reason}`));
  const outcomes = [...new Set(results.flatMap((r) => Object.keys(r.checks.byOutcome)))].sort();
  const notHealthy = results.flatMap((r) => Object.entries(r.checks.byOutcome).filter(([outcome, n]) => outcome !== 'healthy' && n > 0).map(([outcome, n]) => `run ${r.run}: ${n} × ${outcome}`));
  const n = settings.integrations;
  const perSecondExpected = (n * 1000) / settings.checkIntervalMs;
  const latencyRow = (name: string, share: Spread, latency: Record<'p50' | 'p95' | 'p99' | 'max', Spread>, received: number[]) => [
    name,
    received.map((value) => count(value)).join(', '),
    w(share, 1) + ' %',
    w(latency.p50, 1),
    w(latency.p95, 1),
    w(latency.p99, 1),
    w(latency.max, 0),
  ];

  const perRun = table(
    ['run', 'connected (s to connect)', 'server CPU (main thread)', 'RSS end / max MiB', 'heap used MiB', 'checks/s', 'check mean ms', 'actors', '/ops events (expected)', 'p50 / p95 / p99 / max ms', 'fewest–most per integration (none)', 'peer CPU', 'client CPU (loop delay p99)', 'machine busy', 'load avg before'],
    results.map((r) => [
      String(r.run),
      `${count(r.connected)} (${fixed(r.connectSeconds, 1)})`,
      r.server ? `${fixed(r.server.cpuPercentOfOneCore, 1)} % (${fixed(r.server.mainThreadCpuPercent, 1)} %)` : '—',
      `${fixed(r.rssMiB.end, 0)} / ${fixed(r.rssMiB.max, 0)}`,
      `${fixed(r.heapUsedMiB.start, 0)} → ${fixed(r.heapUsedMiB.end, 0)}`,
      fixed(r.checks.perSecond, 1),
      fixed(r.checks.meanMs, 1),
      count(r.actorsActive.end),
      `${count(r.ops.received)} (${count(r.ops.expected)})`,
      `${fixed(r.ops.latencyMs.p50, 1)} / ${fixed(r.ops.latencyMs.p95, 1)} / ${fixed(r.ops.latencyMs.p99, 1)} / ${fixed(r.ops.latencyMs.max, 0)}`,
      `${r.ops.perIntegration.min}–${r.ops.perIntegration.max} (${r.ops.perIntegration.none})`,
      r.peerCpuPercentOfOneCore === null ? '—' : `${fixed(r.peerCpuPercentOfOneCore, 1)} %`,
      `${fixed(r.client.cpuPercentOfOneCore, 1)} % (${fixed(r.client.eventLoopDelayMs.p99, 1)} ms)`,
      r.machineCpuBusyPercent === null ? '—' : `${fixed(r.machineCpuBusyPercent, 0)} %`,
      fixed(r.loadAverage1m, 2),
    ]),
  );

  return `
## integrations: ${count(n)} integration actors checking every ${seconds(settings.checkIntervalMs)} on one node${context.quick ? ' (quick smoke run, not for quoting)' : ''}

- **Command:** \`${context.command}\`
- **Date:** ${context.startedAt}
- **Commit:** \`${context.commit}\`
- **Machine:** ${describeMachine(context.machine)}
- **Raw results:** [${path.relative(REPO_ROOT, jsonPath)}](${path.relative(REPO_ROOT, jsonPath)})
- **Code under test:** ${codes.length === 1 ? `unchanged during the runs (source fingerprint \`${codes[0]}\`: HEAD, uncommitted changes and untracked files outside bench/)` : `**changed during the runs** (source fingerprints ${codes.map((c) => `\`${c}\``).join(', ')}): others were editing the checkout`}

**Workload.** One server process (\`node server/main.ts\`, \`LOG_LEVEL=warn\`, embedded placement: no Redis or Kafka) on a
fresh PostgreSQL database per run${pgDurable ? ' (fsync and synchronous commit on)' : ` (fsync=${pg.fsync}, synchronous_commit=${pg.synchronous_commit})`}, with
\`INTEGRATION_CHECK_INTERVAL_MS=${settings.checkIntervalMs}\`, \`INTEGRATIONS_ALLOW_PRIVATE_HOSTS=true\`,
\`INTEGRATION_RATE_LIMIT_PER_MINUTE=${settings.rateLimitPerMinute}\`, the other settings at their defaults. The provider is the
tests' n8n stand-in (test/support/n8n-standin.ts) in a process of its own (bench/load/n8n-peer.ts), so its work is not
counted as the server's. A client process (bench/load/integrations.ts) opens one Socket.IO client on \`/ops\` with role
\`ops\` (every tenant's events) and ${settings.adminSockets} with role \`admin\` of tenants 0–${settings.adminSockets - 1} (each sees its own tenant),
then ${count(n)} tenants each connect an n8n integration (\`PUT /api/v1/integrations/n8n\`, the tenant's admin token),
paced evenly over ${seconds(settings.connectSpreadMs)} (${settings.connectConcurrency} requests at most in flight) so that the scheduled checks start spread over the
interval, as they would after connects at random times. Each actor then checks every ${seconds(settings.checkIntervalMs)} ±10 % (one
\`GET /api/v1/workflows?limit=1\` to the stand-in, over a fresh pinned connection, through the timeout/retry/breaker
policy), writes the result (one fenced \`UPDATE\` of its row; an outbox event only when the health flips, which it does not
here) and emits \`integration.health\` on /ops. ${seconds(settings.warmupMs)} warm-up after the last connect, then ${seconds(settings.durationMs)} measured.
${runs} run${runs > 1 ? 's' : ''}, each on a fresh server, database and stand-in.

**What is measured**, over the window. *Latency*: for every \`integration.health\` event a client receives, its receive
time minus \`Date.parse(integration.health.lastCheckedAt)\`; both on the same machine's clock, both in whole
milliseconds (±1 ms). \`lastCheckedAt\` is taken when the check's outcome is known, before the write, so the latency is
the fenced write (a PostgreSQL commit) + the broadcast + Socket.IO to the client, not the provider call. *Expected
events*: integrations watched × window ÷ interval (the jittered delay averages the interval; each check's own duration
makes the real rate slightly lower). *Checks/s*: the increase of \`integration_health_check_seconds_count\` on the server's
/metrics between the window's edges; *check mean*: its \`_sum\` over its \`_count\` (the provider call with its policy).
*Server CPU*: user + system time of the server process over the window (/proc/<pid>/stat; 100 % = one core), the main
thread (JavaScript) apart; *RSS*: VmRSS read every ${seconds(settings.memorySampleEveryMs)} in the window (end and highest), peak RSS the
process's VmHWM; *heap used*: \`nodejs_heap_size_used_bytes\` at the window's start and end (a sample of a
garbage-collected heap, so the growth per integration is rough);
*actors*: \`integration_actors_active\` at the end. *Event-loop delay* and *GC*: prom-client's \`nodejs_eventloop_lag_*\`
(reset at every read; 10 ms resolution) and \`nodejs_gc_duration_seconds\` from /metrics read every ${seconds(settings.metricsEveryMs)}.
*Slow seconds*: the 1-s slots of the window in which an ops event of ${settings.slowEventMs} ms or more arrived: few slots holding
many slow events mean stalls of the whole server (GC, the database, the machine), many slots with one each mean scattered delays. Peer and client CPU the same way for their processes; machine busy is
every core together (/proc/stat). Median of the runs, lowest and highest run in brackets.

| what | value |
| --- | --- |
| integrations connected | ${w(s.connected, 0)} of ${count(n)} |
| server CPU, % of one core (main thread) | ${w(s.serverCpuPercent, 1)} % (${w(s.serverMainThreadCpuPercent, 1)} %) |
| server RSS at the window's end, MiB (highest in the window; VmHWM) | ${w(s.rssEndMiB, 0)} (${w(s.rssMaxMiB, 0)}; ${w(s.peakRssMiB, 0)}) |
| server heap used at the window's end, MiB (lowest of the window's /metrics reads) | ${w(s.heapUsedEndMiB, 0)} (${w(s.heapUsedMinMiB, 0)}) |
| the same just after start, before any connect: RSS / heap used, MiB | ${w(s.idleRssMiB, 0)} / ${w(s.idleHeapUsedMiB, 0)} |
| growth per integration: (RSS at the window's end − just after start) ÷ integrations / the same for the lowest heap read of the window, KiB | ${w(s.rssPerIntegrationKiB, 0)} / ${w(s.heapPerIntegrationKiB, 0)} |
| health checks/s (expected ≈ ${fixed(perSecondExpected, 0)}) | ${w(s.checksPerSecond, 1)} |
| check duration, mean ms (provider call) | ${w(s.checkMeanMs, 1)} |
| \`integration_actors_active\` | ${w(s.actorsActive, 0)} |
| server event-loop delay, worst ${seconds(settings.metricsEveryMs)} interval's p99 / max, ms | ${w(s.serverEventLoopLagWorstP99Ms, 0)} / ${w(s.serverEventLoopLagMaxMs, 0)} |
| server GC: time per minute of window, s / pauses ≥ 100 ms | ${w(s.gcSecondsPerMinute, 2)} / ${w(s.gcPausesOver100Ms, 0)} |
| seconds of the window with an ops event ≥ ${settings.slowEventMs} ms (share of events ≥ ${settings.slowEventMs} ms) | ${w(s.slowSeconds, 0)} of ${seconds(settings.durationMs)} (${w(s.slowEventShare, 2)} %) |
| \`integration.health\` events/s at the ops client | ${w(s.opsEventsPerSecond, 1)} |
| n8n peer CPU (its own process) | ${w(s.peerCpuPercent, 1)} % |
| client CPU (its own process) | ${w(s.clientCpuPercent, 1)} % |
| machine CPU busy (${context.machine.cores} cores) | ${w(s.machineCpuBusyPercent, 0)} % |

${table(
  ['health event latency (check outcome → client)', 'events in the window (per run)', 'received / expected', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
  [
    latencyRow('ops socket (all tenants)', s.opsReceivedShare, s.ops, results.map((r) => r.ops.received)),
    latencyRow(`${settings.adminSockets} tenant-admin sockets (own tenant each)`, s.adminReceivedShare, s.admin, results.map((r) => r.admin.received)),
  ],
)}

Check outcomes in the windows: ${outcomes.length === 0 ? 'none recorded' : notHealthy.length === 0 ? 'all healthy' : notHealthy.join('; ')}. Unhealthy or \`changed\` events
received: ${results.map((r) => `run ${r.run}: ${r.ops.unhealthy} / ${r.ops.changed}`).join(', ')}. Events of another tenant on an admin socket:
${results.map((r) => r.adminForeignEvents).reduce((a, b) => a + b, 0)}. Integrations without any event in the window: ${results.map((r) => `run ${r.run}: ${r.ops.perIntegration.none}`).join(', ')}.
Rate-limited checks: ${results.map((r) => r.rateLimited).reduce((a, b) => a + b, 0)}. ${connectErrors.length > 0 ? `Failed connects: ${connectErrors.join('; ')}.` : 'No connect failed.'}
${disconnects.length > 0 ? `Socket disconnections: ${disconnects.join('; ')}.` : 'No socket was disconnected.'} Connect latency (\`PUT\`, median run): p50
${fixed(spreadOf(results.map((r) => r.connectLatencyMs.p50)).median, 1)} ms, p99 ${fixed(spreadOf(results.map((r) => r.connectLatencyMs.p99)).median, 1)} ms.

${
    results.some((r) => r.slowSeconds.count > 0) && results.every((r) => r.serverEventLoopLagMs.max < settings.slowEventMs && r.gc.pausesOver100Ms === 0)
      ? `**The slow events** (≥ ${settings.slowEventMs} ms) came in bursts of seconds while the server's event loop was never delayed by ${settings.slowEventMs} ms and no GC paused it that long: they waited outside the server's JavaScript, on the write's commit (PostgreSQL, the machine's disk) as far as this benchmark can tell; the I/O pressure per slow second is in the details.

`
      : ''
  }**These machines are noisy** (a shared VM with ${context.machine.cores} cores for the server, PostgreSQL, the stand-in and the client; other
work ran on it too: the 1-minute load average before the runs was ${fixed(Math.min(...loads), 2)}–${fixed(Math.max(...loads), 2)}).

${chartImage(jsonPath, 'latency')}

<details><summary>Every run</summary>

${perRun}

Worst seconds (second of the window: events ≥ ${settings.slowEventMs} ms, max ms): ${results.map((r) => `run ${r.run}: ${r.slowSeconds.worst.length === 0 ? 'none' : r.slowSeconds.worst.map((x) => `${x.second}: ${x.slowEvents}, ${fixed(x.maxMs, 0)}`).join('; ')}`).join(' — ')}.
Machine I/O pressure (/proc/pressure/io, all processes; ms of the window during which every non-idle task waited on I/O / some did; in each worst second above, all did): ${results.map((r) => (r.ioStall === null ? `run ${r.run}: n/a` : `run ${r.run}: ${fixed(r.ioStall.fullMs, 0)} / ${fixed(r.ioStall.someMs, 0)} (${r.ioStall.inWorstSecondsFullMs.map((ms) => fixed(ms, 0)).join(', ') || 'no slow second'})`)).join(' — ')}.
PostgreSQL checkpoints completed in the window (timed + requested; write / sync ms): ${results.map((r) => `run ${r.run}: ${r.checkpoints.timed} + ${r.checkpoints.requested} (${fixed(r.checkpoints.writeMs, 0)} / ${fixed(r.checkpoints.syncMs, 0)})`).join(', ')}.
GC by kind (count, s): ${results.map((r) => `run ${r.run}: ${Object.entries(r.gc.byKind).map(([kind, g]) => `${kind} ${g.count}, ${fixed(g.seconds, 2)}`).join('; ')}`).join(' — ')}.
Shares: ${results.map((r) => `run ${r.run}: ops ${percent(r.ops.received, r.ops.expected)}, admin ${percent(r.admin.received, r.admin.expected)}`).join('; ')}.
PostgreSQL: ${Object.entries(pg).map(([name, value]) => `${name}=${value}`).join(', ')}.

</details>
`;
}

async function runIntegrations(context: ScenarioContext): Promise<void> {
  const settings = context.quick ? QUICK : FULL;
  const secret = randomBytes(32).toString('base64url');
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const results: RunResult[] = [];
  for (let run = 1; run <= settings.runs; run += 1) results.push(await runOnce(context, settings, run, secret, databases));
  const summary = summarize(results);

  const jsonPath = path.join(REPO_ROOT, 'docs/bench', context.quick ? 'integrations.quick.json' : 'integrations.json');
  const rounded = Object.fromEntries(
    Object.entries(summary).map(([name, value]) => {
      if (typeof value === 'number') return [name, value];
      if ('median' in value) return [name, roundSpread(value as Spread, 2)];
      return [name, Object.fromEntries(Object.entries(value as Record<string, Spread>).map(([key, spread]) => [key, roundSpread(spread, 2)]))];
    }),
  );
  writeRawResults(jsonPath, context, 'integrations', {
    settings,
    databases: { postgresql: databases.postgresql },
    postgresReused: context.postgres.reused,
    summary: rounded,
    runs: results.map((r) => ({
      ...r,
      checks: { ...r.checks, perSecond: round(r.checks.perSecond, 2), meanMs: round(r.checks.meanMs, 2) },
    })),
  });
  writeCharts(jsonPath);
  upsertSection(
    path.join(REPO_ROOT, 'BENCHMARKS.md'),
    context.quick ? 'integrations-quick' : 'integrations',
    renderMarkdown(context, settings, summary, results, databases, jsonPath),
    // The full results read first; the quick smoke section follows them.
    context.quick ? {} : { before: 'integrations-quick' },
  );
  log(`wrote ${path.relative(REPO_ROOT, jsonPath)} and BENCHMARKS.md`);
}

export const integrations: Scenario = {
  name: 'integrations',
  summary: 'integration actors checking every 10 s on one node: CPU, memory, checks/s, /ops health-event latency',
  run: runIntegrations,
};
