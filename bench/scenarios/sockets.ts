// Scenario sockets (issue 7, scenario 5, second half; the first half is step-updates): Socket.IO
// connection capacity of one server node. Load processes apart from the server open authenticated
// connections to `/sessions` as the client SDK does and join a session (one session per tenant,
// the sockets spread over them) as fast as they can with bounded concurrency: connects + joins per
// second and their latency. Then every socket stays open and idle: the server's RSS and V8 heap per
// idle socket, its CPU while idle (Socket.IO pings) and whether every socket is still connected at
// the end. PostgreSQL, fresh database per run, LOG_LEVEL=warn.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OnboardingClient } from '../../client/sdk/index.ts';
import { makeTempDir, removeTempDir } from '../../scripts/services/system.ts';
import { signToken } from '../../server/auth/tokens.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import type { SocketsRamp, SocketsCheck, SocketsReady, SocketsRequest, SocketsResult } from '../load/sockets.ts';
import { startBenchServer, startCoordinatedChild, type CoordinatedChild } from '../support/children.ts';
import { runDatabase, type Backend } from '../support/databases.ts';
import { count, fixed, spreadOf, roundSpread, withSpread, type Spread } from '../support/format.ts';
import { chartImage, writeCharts } from '../support/charts.ts';
import { describeMachine } from '../support/machine.ts';
import { ensurePeersInstalled, peerVersions } from '../support/peer-install.ts';
import { startPeerServer, type PeerName } from '../support/peer-server.ts';
import { table, upsertSection } from '../support/markdown.ts';
import { machineCpuJiffies, processCpuSeconds, processMemoryMiB, threadCpuSeconds } from '../support/proc.ts';
import { scrapeMetrics, sumOf } from '../support/prometheus.ts';
import { writeRawResults } from '../support/raw-results.ts';
import { selectedTargets, type Scenario, type ScenarioContext } from '../support/scenario.ts';
import { latencyHistogram, round, summarizeLatencies, type LatencySummary } from '../support/stats.ts';

type Settings = {
  sockets: number;
  sessions: number;
  loadProcesses: number;
  /** Connects (connect + join) in flight at once, per load process. */
  concurrencyPerProcess: number;
  timeoutMs: number;
  /** After the ramp, before the idle window: let the server finish what the ramp left queued. */
  settleMs: number;
  idleMs: number;
  runs: number;
  /** Open-file limit (soft and hard) the server and load processes get (prlimit; needs root or CAP_SYS_RESOURCE). */
  fileLimit: number;
};
const FULL: Settings = {
  sockets: 20_000,
  sessions: 100,
  loadProcesses: 2,
  concurrencyPerProcess: 200,
  timeoutMs: 30_000,
  settleMs: 5_000,
  idleMs: 30_000,
  runs: 3,
  fileLimit: 65_536,
};
const QUICK: Settings = { ...FULL, sockets: 1_000, loadProcesses: 1, settleMs: 1_000, idleMs: 2_000, runs: 1 };
/** Descriptors left free in the server beside the ones it had open before the first socket. */
const FD_HEADROOM = 100;

/** BENCH_SOCKETS_LOAD_PROCESSES / BENCH_SOCKETS_CONCURRENCY override the load processes and the connects in flight per process. */
function withOverrides(settings: Settings): Settings {
  const read = (name: string, fallback: number) => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
    return value;
  };
  return {
    ...settings,
    loadProcesses: read('BENCH_SOCKETS_LOAD_PROCESSES', settings.loadProcesses),
    concurrencyPerProcess: read('BENCH_SOCKETS_CONCURRENCY', settings.concurrencyPerProcess),
  };
}

/** afterGc: measured right after a forced full GC (else wherever V8 last collected). */
type Memory = { rssMiB: number; heapUsedMiB: number; openFiles: number; afterGc: boolean };

type Target = 'glavito' | PeerName;
const TARGET_NAMES: Record<Target, string> = {
  glavito: 'this server (Socket.IO, PostgreSQL)',
  hocuspocus: 'Hocuspocus (SQLite extension)',
  'y-websocket': '@y/websocket-server',
};

type RunResult = {
  target: Target;
  run: number;
  loadAverage1m: number;
  fileLimit: { serverBefore: number; server: number; loadProcesses: number[] };
  /** Sockets tried: settings.sockets, or fewer when the server's open-file limit leaves less room. */
  socketsTried: number;
  baseline: Memory;
  ramp: {
    attempted: number;
    joined: number;
    errors: Record<string, number>;
    errorSamples: string[];
    seconds: number;
    /** Joined sockets / (last join − first start). */
    connectsPerSecond: number;
    /** Joins between the 10th and the 90th percentile of join times, per second. */
    sustainedPerSecond: number;
    connectMs: LatencySummary;
    connectJoinMs: LatencySummary;
    histogram: { upperMs: number; count: number }[];
    serverCpuPercentOfOneCore: number;
    serverMainThreadCpuPercent: number;
    /** Per load process: CPU over its ramp (100 = one core) and RSS after it. */
    loadProcesses: { cpuPercentOfOneCore: number; rssMiB: number; joined: number }[];
  };
  idle: {
    seconds: number;
    serverCpuPercentOfOneCore: number;
    serverMainThreadCpuPercent: number;
    machineCpuBusyPercent: number;
    atEnd: Memory;
    peakRssMiB: number;
    socketioConnections: number;
    sessionActorsActive: number;
    connectedAtEnd: number;
    disconnected: number;
    disconnectReasons: Record<string, number>;
  };
  perIdleSocket: { rssKiB: number; heapKiB: number };
};

const log = (message: string) => console.error(`[sockets] ${message}`);
const MiB = 2 ** 20;

function openFileLimit(pid: number): number {
  const line = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
  return line === undefined ? Number.NaN : line === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line);
}

/** Raises a running process's open-file limit (util-linux prlimit); returns the soft limit it has after. */
function raiseFileLimit(pid: number, limit: number): number {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    log(`could not raise the open-file limit of ${pid} to ${limit}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  return openFileLimit(pid);
}

/**
 * Forces a full garbage collection in the server through the inspector (SIGUSR1 opens it on
 * 127.0.0.1:9229, as `node --inspect` would; HeapProfiler.collectGarbage), so that its heap and RSS
 * are compared after collection rather than at whatever point V8 last collected. Checks that the
 * inspector answering is the server's (process.pid). False when it could not (the caller says so).
 */
async function forceGc(pid: number): Promise<number | undefined> {
  try {
    process.kill(pid, 'SIGUSR1');
    let target: string | undefined;
    for (let attempt = 0; attempt < 50 && target === undefined; attempt += 1) {
      try {
        const list = (await (await fetch('http://127.0.0.1:9229/json/list', { signal: AbortSignal.timeout(1_000) })).json()) as { webSocketDebuggerUrl?: string }[];
        target = list[0]?.webSocketDebuggerUrl;
      } catch {
        await sleep(100);
      }
    }
    if (target === undefined) throw new Error('the inspector did not open on 127.0.0.1:9229');
    const socket = new WebSocket(target);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
    });
    const pending = new Map<number, (result: unknown) => void>();
    socket.addEventListener('message', (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
      if (message.id !== undefined) pending.get(message.id)?.(message.result);
    });
    let nextId = 1;
    const call = (method: string, params: Record<string, unknown> = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000);
        pending.set(id, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
        socket.send(JSON.stringify({ id, method, params }));
      });
    try {
      const evaluated = (await call('Runtime.evaluate', { expression: 'process.pid' })) as { result?: { value?: unknown } };
      if (evaluated.result?.value !== pid) throw new Error(`the inspector on 9229 is process ${String(evaluated.result?.value)}'s, not the server's`);
      await call('HeapProfiler.collectGarbage');
      const heap = (await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed' })) as { result?: { value?: unknown } };
      if (typeof heap.result?.value !== 'number') throw new Error('process.memoryUsage() gave no heapUsed');
      return heap.result.value;
    } finally {
      socket.close();
    }
  } catch (error) {
    log(`could not force a GC in the server: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** The server's memory after a forced GC; /metrics gauges for this server (baseUrl), NaN for a peer. */
async function serverMemory(pid: number, baseUrl: string | undefined): Promise<Memory & { socketio: number; actors: number }> {
  const heapAfterGc = await forceGc(pid);
  await sleep(500);
  const metrics = baseUrl === undefined ? [] : await scrapeMetrics(baseUrl, 10_000);
  return {
    rssMiB: processMemoryMiB(pid).rss,
    heapUsedMiB: (heapAfterGc ?? sumOf(metrics, 'nodejs_heap_size_used_bytes')) / MiB,
    openFiles: fs.readdirSync(`/proc/${pid}/fd`).length,
    afterGc: heapAfterGc !== undefined,
    socketio: sumOf(metrics, 'socketio_connections', { namespace: '/sessions' }),
    actors: sumOf(metrics, 'session_actors_active'),
  };
}

function serverCpu(pid: number): { process: number; main: number } {
  return { process: processCpuSeconds(pid), main: threadCpuSeconds(pid, pid) };
}

function concat(arrays: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

async function startSessions(baseUrl: string, secret: string, tenantPrefix: string, sessions: number): Promise<{ tenant: string; id: string }[]> {
  const out: { tenant: string; id: string }[] = new Array(sessions);
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < sessions) {
        const s = next;
        next += 1;
        const tenant = `${tenantPrefix}-${s}`;
        const api = new OnboardingClient({ baseUrl, token: await signToken(secret, { sub: 'bench-owner', tenant, role: 'admin' }) });
        const { view } = await api.start();
        out[s] = { tenant, id: view.session.id };
      }
    }),
  );
  return out;
}

type Started = { pid: number; url: string; metricsUrl: string | undefined; sessions: { tenant: string; id: string }[]; stop(): Promise<void> };

/** This server on a fresh PostgreSQL database with its sessions started, or a peer server (its documents are just names). */
async function startTarget(context: ScenarioContext, target: Target, settings: Settings, run: number, secret: string, dataDir: string, databases: Record<Backend, Record<string, string>>): Promise<Started> {
  const mode = context.quick ? 'quick' : 'full';
  if (target !== 'glavito') {
    const peer = await startPeerServer(target, path.join(dataDir, 'hocuspocus.sqlite'));
    const sessions = Array.from({ length: settings.sessions }, (_, d) => ({ tenant: '', id: `bench-sockets-${mode}-${run}-${d}` }));
    return { pid: peer.pid, url: peer.url, metricsUrl: undefined, sessions, stop: peer.stop };
  }
  const databaseUrl = await runDatabase(context.postgres.url, 'postgresql', `bench_sockets_${mode}_${run}`, run, databases);
  const server = await startBenchServer({ LOG_LEVEL: 'warn', JWT_SECRET: secret, DATA_DIR: dataDir, DATABASE_URL: databaseUrl! });
  try {
    log(`run ${run}/${settings.runs}: starting ${settings.sessions} sessions`);
    const sessions = await startSessions(server.baseUrl, secret, `bench-sockets-${mode}-${run}`, settings.sessions);
    return { pid: server.pid, url: server.baseUrl, metricsUrl: server.baseUrl, sessions, stop: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function runOnce(context: ScenarioContext, target: Target, settings: Settings, run: number, databases: Record<Backend, Record<string, string>>): Promise<RunResult> {
  const secret = randomBytes(32).toString('base64url');
  const dataDir = await makeTempDir('bench-sockets');
  const loadAverage1m = os.loadavg()[0] ?? Number.NaN;
  const children: CoordinatedChild<SocketsReady, SocketsResult>[] = [];
  let server: Started | undefined;
  try {
    server = await startTarget(context, target, settings, run, secret, dataDir, databases);
    const sessions = server.sessions;
    const serverBefore = openFileLimit(server.pid);
    const serverLimit = raiseFileLimit(server.pid, settings.fileLimit);
    log(`run ${run}/${settings.runs} ${TARGET_NAMES[target]}: server ${server.pid} open-file limit ${serverBefore} → ${serverLimit}`);
    await sleep(1_000);
    const baseline = await serverMemory(server.pid, server.metricsUrl);
    log(`baseline: RSS ${fixed(baseline.rssMiB, 1)} MiB, heap ${fixed(baseline.heapUsedMiB, 1)} MiB, ${baseline.openFiles} open files, ${baseline.actors} session actors`);

    // One descriptor per socket: the server cannot hold more sockets than its open-file limit leaves
    // beside the files it already has open (and some headroom: database connections, /metrics, the inspector).
    const socketsTried = Math.min(settings.sockets, serverLimit - baseline.openFiles - FD_HEADROOM);
    if (socketsTried < settings.sockets) log(`${count(settings.sockets)} sockets do not fit in the server's open-file limit (${serverLimit}): opening ${count(socketsTried)}`);
    const perProcess = Math.ceil(socketsTried / settings.loadProcesses);
    for (let p = 0; p < settings.loadProcesses; p += 1) {
      const socketFrom = p * perProcess;
      const socketTo = Math.min(socketsTried, socketFrom + perProcess);
      children.push(
        startCoordinatedChild<SocketsReady, SocketsResult>(
          'bench/load/sockets.ts',
          { processIndex: p, target, baseUrl: server.url, sessions, socketFrom, socketTo, concurrency: settings.concurrencyPerProcess, timeoutMs: settings.timeoutMs },
          { BENCH_JWT_SECRET: secret },
          settings.timeoutMs + settings.settleMs + settings.idleMs + 10 * 60_000,
        ),
      );
    }
    const loadLimits = children.map((child) => raiseFileLimit(child.pid, settings.fileLimit));
    await Promise.all(children.map((child) => child.ready));

    // Ramp: every load process starts at one wall-clock time and opens its sockets as fast as it can.
    const startAt = Date.now() + 500;
    const cpuBefore = serverCpu(server.pid);
    for (const child of children) child.go({ type: 'go', startAtEpochMs: startAt });
    const ramps = await Promise.all(children.map((child) => child.request<SocketsRamp>({ kind: 'ramp' } satisfies SocketsRequest)));
    const cpuAfter = serverCpu(server.pid);
    const rampSeconds = (Date.now() - startAt) / 1000;
    const started = concat(ramps.map((r) => r.startedAtMs)).sort();
    const joinedAt = concat(ramps.map((r) => r.joinedAtMs)).sort();
    const joined = joinedAt.length;
    const first = started[0] ?? Number.NaN;
    const last = joinedAt[joined - 1] ?? Number.NaN;
    const lo = joinedAt[Math.floor(joined * 0.1)] ?? Number.NaN;
    const hi = joinedAt[Math.max(0, Math.ceil(joined * 0.9) - 1)] ?? Number.NaN;
    const errors: Record<string, number> = {};
    for (const r of ramps) for (const [kind, n] of Object.entries(r.errors)) errors[kind] = (errors[kind] ?? 0) + n;
    const connectJoin = concat(ramps.map((r) => r.connectJoinMs));
    const ramp: RunResult['ramp'] = {
      attempted: ramps.reduce((n, r) => n + r.attempted, 0),
      joined,
      errors,
      errorSamples: ramps.flatMap((r) => r.errorSamples).slice(0, 10),
      seconds: rampSeconds,
      connectsPerSecond: joined / ((last - first) / 1000),
      sustainedPerSecond: (Math.ceil(joined * 0.9) - Math.floor(joined * 0.1) - 1) / ((hi - lo) / 1000),
      connectMs: summarizeLatencies(concat(ramps.map((r) => r.connectMs))),
      connectJoinMs: summarizeLatencies(connectJoin),
      histogram: latencyHistogram(connectJoin),
      serverCpuPercentOfOneCore: ((cpuAfter.process - cpuBefore.process) / rampSeconds) * 100,
      serverMainThreadCpuPercent: ((cpuAfter.main - cpuBefore.main) / rampSeconds) * 100,
      loadProcesses: ramps.map((r) => ({ cpuPercentOfOneCore: (r.cpuSeconds / r.rampSeconds) * 100, rssMiB: r.rssMiB, joined: r.joinedAtMs.length })),
    };
    log(
      `ramp: ${count(joined)}/${count(ramp.attempted)} joined in ${fixed(rampSeconds, 1)} s, ${count(ramp.connectsPerSecond)}/s (sustained ${count(ramp.sustainedPerSecond)}/s), ` +
        `connect+join p50 ${fixed(ramp.connectJoinMs.p50, 1)} ms p99 ${fixed(ramp.connectJoinMs.p99, 1)} ms, server CPU ${fixed(ramp.serverCpuPercentOfOneCore, 0)} %, ` +
        `load CPU ${ramp.loadProcesses.map((l) => `${fixed(l.cpuPercentOfOneCore, 0)} %`).join(', ')}, errors ${JSON.stringify(errors)}`,
    );
    if (ramp.errorSamples.length > 0) log(`first errors: ${ramp.errorSamples.slice(0, 3).join(' | ')}`);

    // Idle: nothing is sent but Socket.IO's pings; the server's CPU over the window, memory at its end.
    await sleep(settings.settleMs);
    const idleCpuBefore = serverCpu(server.pid);
    const machineBefore = machineCpuJiffies();
    const idleStart = performance.now();
    await sleep(settings.idleMs);
    const idleCpuAfter = serverCpu(server.pid);
    const machineAfter = machineCpuJiffies();
    const idleSeconds = (performance.now() - idleStart) / 1000;
    const atEnd = await serverMemory(server.pid, server.metricsUrl);
    const peakRssMiB = processMemoryMiB(server.pid).peakRss;
    const checks = await Promise.all(children.map((child) => child.request<SocketsCheck>({ kind: 'check' } satisfies SocketsRequest)));
    const disconnectReasons: Record<string, number> = {};
    for (const c of checks) for (const [reason, n] of Object.entries(c.disconnectReasons)) disconnectReasons[reason] = (disconnectReasons[reason] ?? 0) + n;
    const idle: RunResult['idle'] = {
      seconds: idleSeconds,
      serverCpuPercentOfOneCore: ((idleCpuAfter.process - idleCpuBefore.process) / idleSeconds) * 100,
      serverMainThreadCpuPercent: ((idleCpuAfter.main - idleCpuBefore.main) / idleSeconds) * 100,
      machineCpuBusyPercent: ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100,
      atEnd: { rssMiB: atEnd.rssMiB, heapUsedMiB: atEnd.heapUsedMiB, openFiles: atEnd.openFiles, afterGc: atEnd.afterGc },
      peakRssMiB,
      socketioConnections: atEnd.socketio,
      sessionActorsActive: atEnd.actors,
      connectedAtEnd: checks.reduce((n, c) => n + c.connected, 0),
      disconnected: checks.reduce((n, c) => n + c.disconnected, 0),
      disconnectReasons,
    };
    const perIdleSocket = {
      rssKiB: ((atEnd.rssMiB - baseline.rssMiB) * 1024) / joined,
      heapKiB: ((atEnd.heapUsedMiB - baseline.heapUsedMiB) * 1024) / joined,
    };
    log(
      `idle ${fixed(idleSeconds, 1)} s: ${count(idle.connectedAtEnd)} connected (${idle.disconnected} dropped), server /sessions gauge ${idle.socketioConnections}, ` +
        `server CPU ${fixed(idle.serverCpuPercentOfOneCore, 1)} %, RSS ${fixed(atEnd.rssMiB, 0)} MiB (+${fixed(perIdleSocket.rssKiB, 1)} KiB/socket), ` +
        `heap ${fixed(atEnd.heapUsedMiB, 0)} MiB (+${fixed(perIdleSocket.heapKiB, 1)} KiB/socket), ${atEnd.openFiles} open files`,
    );

    for (const child of children) await child.request<null>({ kind: 'finish' } satisfies SocketsRequest);
    await Promise.all(children.map((child) => child.result));
    return {
      target,
      run,
      loadAverage1m,
      fileLimit: { serverBefore, server: serverLimit, loadProcesses: loadLimits },
      socketsTried,
      baseline: { rssMiB: baseline.rssMiB, heapUsedMiB: baseline.heapUsedMiB, openFiles: baseline.openFiles, afterGc: baseline.afterGc },
      ramp,
      idle,
      perIdleSocket,
    };
  } finally {
    await server?.stop();
    await removeTempDir(dataDir);
  }
}

type Summary = {
  runs: number;
  joined: Spread;
  connectsPerSecond: Spread;
  sustainedPerSecond: Spread;
  connectJoinP50Ms: Spread;
  connectJoinP99Ms: Spread;
  connectP50Ms: Spread;
  connectP99Ms: Spread;
  rampServerCpuPercent: Spread;
  rampLoadCpuPercentMax: Spread;
  rssKiBPerSocket: Spread;
  heapKiBPerSocket: Spread;
  idleServerCpuPercent: Spread;
  rssAtEndMiB: Spread;
  connectedAtEnd: Spread;
  errors: number;
  disconnected: number;
};

function summarize(runs: readonly RunResult[]): Summary {
  const s = (f: (r: RunResult) => number) => spreadOf(runs.map(f));
  return {
    runs: runs.length,
    joined: s((r) => r.ramp.joined),
    connectsPerSecond: s((r) => r.ramp.connectsPerSecond),
    sustainedPerSecond: s((r) => r.ramp.sustainedPerSecond),
    connectJoinP50Ms: s((r) => r.ramp.connectJoinMs.p50),
    connectJoinP99Ms: s((r) => r.ramp.connectJoinMs.p99),
    connectP50Ms: s((r) => r.ramp.connectMs.p50),
    connectP99Ms: s((r) => r.ramp.connectMs.p99),
    rampServerCpuPercent: s((r) => r.ramp.serverCpuPercentOfOneCore),
    rampLoadCpuPercentMax: s((r) => Math.max(...r.ramp.loadProcesses.map((l) => l.cpuPercentOfOneCore))),
    rssKiBPerSocket: s((r) => r.perIdleSocket.rssKiB),
    heapKiBPerSocket: s((r) => r.perIdleSocket.heapKiB),
    idleServerCpuPercent: s((r) => r.idle.serverCpuPercentOfOneCore),
    rssAtEndMiB: s((r) => r.idle.atEnd.rssMiB),
    connectedAtEnd: s((r) => r.idle.connectedAtEnd),
    errors: runs.reduce((n, r) => n + Object.values(r.ramp.errors).reduce((a, b) => a + b, 0), 0),
    disconnected: runs.reduce((n, r) => n + r.idle.disconnected, 0),
  };
}

function renderMarkdown(context: ScenarioContext, settings: Settings, summary: Summary, runs: readonly RunResult[], jsonPath: string): string {
  const n = summary.runs;
  const seconds = (ms: number) => `${ms / 1000} s`;
  const limits = runs.map((r) => r.fileLimit);
  const raised = limits.every((l) => l.server >= settings.fileLimit);
  const limitLine = `The server is started as users start it (\`node server/main.ts\`); it inherits the harness's open-file limit (${[...new Set(limits.map((l) => l.serverBefore))].join(', ')} here), ${
    raised
      ? `which the harness then raises with \`prlimit\` to ${[...new Set(limits.map((l) => l.server))].join(', ')}`
      : `which the harness tries to raise to ${settings.fileLimit} with \`prlimit\`; **this machine does not allow it** (no CAP_SYS_RESOURCE: the hard limit stays ${[...new Set(limits.map((l) => l.server))].join(', ')})`
  }; the load processes' limit: ${[...new Set(limits.flatMap((l) => l.loadProcesses))].join(', ')}. Every socket is one file descriptor on each side.`;
  const loadBound = summary.rampLoadCpuPercentMax.max >= 80;
  const loadLine = loadBound
    ? `\n\n**The connect rate is a lower bound:** a load process used ${fixed(summary.rampLoadCpuPercentMax.max, 0)} % of a core during the ramp (socket.io-client's handshakes cost the client about as much as the server), and the server, the load process${settings.loadProcesses > 1 ? 'es' : ''} and PostgreSQL share ${context.machine.cores} cores; more load processes on the same machine take CPU from the server (\`BENCH_SOCKETS_LOAD_PROCESSES\`, \`BENCH_SOCKETS_CONCURRENCY\`).`
    : '';
  const allGc = runs.every((r) => r.baseline.afterGc && r.idle.atEnd.afterGc);
  const gcLine = allGc
    ? 'Both are read right after a full garbage collection the harness forces in the server through the inspector (SIGUSR1, `HeapProfiler.collectGarbage`), in every run.'
    : '**A forced GC failed in some run** (see the raw results, `afterGc`): those heap numbers are /metrics\' `nodejs_heap_size_used_bytes` and include garbage not yet collected.';
  const targets = [...new Set(runs.map((r) => r.socketsTried))];
  const capped = targets.some((t) => t < settings.sockets);
  const capLine = capped
    ? ` **So ${targets.map(count).join(', ')} sockets, not ${count(settings.sockets)}:** that many fit beside the server's other open files (${FD_HEADROOM} kept free) under its limit of ${[...new Set(limits.map((l) => l.server))].join(', ')}${limits.some((l) => l.server < settings.fileLimit) ? ', which this machine does not let the harness raise (prlimit: operation not permitted, no CAP_SYS_RESOURCE)' : ''}.`
    : '';
  const reached = summary.joined.min >= Math.min(...targets);
  const allKept = runs.every((r) => r.idle.connectedAtEnd === r.ramp.joined && r.idle.disconnected === 0);
  const rows: string[][] = [
    ['sockets joined (of attempted)', `${withSpread(summary.joined, 0, n)} of ${runs.map((r) => count(r.socketsTried)).join(', ')}`],
    ['connects + joins per second (first start → last join)', withSpread(summary.connectsPerSecond, 0, n)],
    ['sustained (10th → 90th percentile of join times)', withSpread(summary.sustainedPerSecond, 0, n)],
    ['connect + join latency p50 / p99 ms', `${withSpread(summary.connectJoinP50Ms, 1, n)} / ${withSpread(summary.connectJoinP99Ms, 1, n)}`],
    ['of which connect (handshake + JWT check) p50 / p99 ms', `${withSpread(summary.connectP50Ms, 1, n)} / ${withSpread(summary.connectP99Ms, 1, n)}`],
    ['server CPU during the ramp (100 % = one core)', `${withSpread(summary.rampServerCpuPercent, 0, n)} %`],
    ['busiest load process CPU during the ramp', `${withSpread(summary.rampLoadCpuPercentMax, 0, n)} %`],
    ['errors (all runs)', String(summary.errors)],
    [`server RSS per idle socket, KiB ((RSS at N − RSS before) / N)`, withSpread(summary.rssKiBPerSocket, 1, n)],
    ['server V8 heap used per idle socket, KiB', withSpread(summary.heapKiBPerSocket, 1, n)],
    ['server RSS with every socket open, MiB', withSpread(summary.rssAtEndMiB, 0, n)],
    [`server CPU while idle (${seconds(settings.idleMs)} window)`, `${withSpread(summary.idleServerCpuPercent, 1, n)} %`],
    [`still connected at the end of the idle window`, `${withSpread(summary.connectedAtEnd, 0, n)} (${summary.disconnected} dropped in all runs)`],
  ];
  const perRun = table(
    ['run', 'joined', 'connects/s', 'sustained/s', 'p50 / p99 ms', 'server CPU ramp', 'load CPU ramp', 'RSS before → idle MiB', 'heap before → idle MiB', 'KiB/socket RSS / heap', 'idle CPU', 'connected at end', 'open files', 'load avg before'],
    runs.map((r) => [
      String(r.run),
      count(r.ramp.joined),
      count(r.ramp.connectsPerSecond),
      count(r.ramp.sustainedPerSecond),
      `${fixed(r.ramp.connectJoinMs.p50, 1)} / ${fixed(r.ramp.connectJoinMs.p99, 1)}`,
      `${fixed(r.ramp.serverCpuPercentOfOneCore, 0)} %`,
      r.ramp.loadProcesses.map((l) => `${fixed(l.cpuPercentOfOneCore, 0)} %`).join(', '),
      `${fixed(r.baseline.rssMiB, 0)} → ${fixed(r.idle.atEnd.rssMiB, 0)}`,
      `${fixed(r.baseline.heapUsedMiB, 0)} → ${fixed(r.idle.atEnd.heapUsedMiB, 0)}`,
      `${fixed(r.perIdleSocket.rssKiB, 1)} / ${fixed(r.perIdleSocket.heapKiB, 1)}`,
      `${fixed(r.idle.serverCpuPercentOfOneCore, 1)} %`,
      count(r.idle.connectedAtEnd),
      `${r.baseline.openFiles} → ${r.idle.atEnd.openFiles}`,
      fixed(r.loadAverage1m, 2),
    ]),
  );
  const errorKinds = runs.flatMap((r) => Object.entries(r.ramp.errors).map(([kind, k]) => `run ${r.run}: ${k} × \`${kind}\``));
  return `
## sockets: Socket.IO connection capacity of one node${context.quick ? ' (quick smoke run, not for quoting)' : ''}

- **Command:** \`${context.command}\`
- **Date:** ${context.startedAt}
- **Commit:** \`${context.commit}\`
- **Machine:** ${describeMachine(context.machine)}
- **Raw results:** [${path.relative(REPO_ROOT, jsonPath)}](${path.relative(REPO_ROOT, jsonPath)})

**Workload** (issue 7 scenario 5, second half; the REST half is \`step-updates\`). One server process
(\`node server/main.ts\`, \`LOG_LEVEL=warn\`, PostgreSQL, a fresh database per run, default configuration).
${settings.sessions} sessions are started over REST, one per tenant. Then ${settings.loadProcesses} load process${settings.loadProcesses > 1 ? 'es' : ''} apart from the server
open ${count(settings.sockets)} Socket.IO connections in all (${count(Math.ceil(settings.sockets / settings.loadProcesses))} each, at most ${settings.concurrencyPerProcess} connects in flight per process)
the way the client SDK's \`SessionProvider\` does: \`socket.io-client\` to \`/sessions\`, websocket transport, one Manager
per connection, a JWT of its own (role admin of the session's tenant) as \`auth.token\`, then \`join\` of the session
(socket *i* joins session *i* mod ${settings.sessions}, so ${count(settings.sockets / settings.sessions)} per session); it does not sync a Y.Doc. A connect
counts when the join is acknowledged; it fails on \`connect_error\`, a refused join or no join within ${seconds(settings.timeoutMs)}.
Latency is from \`io()\` to the join's acknowledgement, on the load process's clock, under that concurrency (so it includes queueing).
After the ramp, ${seconds(settings.settleMs)} to settle, then ${seconds(settings.idleMs)} idle: the sockets send nothing, socket.io-client only answers
the server's pings (Engine.IO default: every 25 s); automatic reconnection is off, so a dropped socket stays dropped and is counted.
Memory per idle socket is (server RSS at the end of the idle window − RSS after the sessions started, before the first socket) / sockets
joined, and the same for V8's used heap (\`process.memoryUsage().heapUsed\` read in the server through the inspector). ${gcLine} RSS also keeps pages the allocator
has not returned, so read it as an upper bound. ${limitLine}${capLine}
${n} run${n > 1 ? 's' : ''}: medians, the spread (min–max) in brackets.

${table(['measure', 'value'], rows)}

${reached ? `Every run opened and joined all ${targets.map(count).join(', ')} sockets it tried.` : `**Not every run joined all ${targets.map(count).join(', ')} sockets it tried** (see the errors).`} ${allKept ? 'Every joined socket was still connected at the end of the idle window.' : '**Some sockets dropped while idle** (see the raw results for the reasons).'}
${errorKinds.length > 0 ? `Errors: ${errorKinds.join('; ')}.` : 'No connect or join failed.'}${loadLine}

<details><summary>Every run</summary>

${perRun}

</details>
`;
}

/** Every target side by side, same workload (peers: the provider's sync stands for the join). */
function renderComparison(settings: Settings, summaries: readonly { target: Target; summary: Summary }[], versions: Record<string, string>): string {
  if (summaries.length < 2) return '';
  const rows = summaries.map(({ target, summary: s }) => [
    TARGET_NAMES[target],
    withSpread(s.joined, 0, s.runs),
    withSpread(s.connectsPerSecond, 0, s.runs),
    `${withSpread(s.connectJoinP50Ms, 1, s.runs)} / ${withSpread(s.connectJoinP99Ms, 1, s.runs)}`,
    `${withSpread(s.rampServerCpuPercent, 0, s.runs)} %`,
    `${withSpread(s.rampLoadCpuPercentMax, 0, s.runs)} %`,
    withSpread(s.rssKiBPerSocket, 1, s.runs),
    withSpread(s.heapKiBPerSocket, 1, s.runs),
    `${withSpread(s.idleServerCpuPercent, 1, s.runs)} %`,
    `${withSpread(s.connectedAtEnd, 0, s.runs)} (${s.disconnected} dropped)`,
    String(s.errors),
  ]);
  const versionText = Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(', ');
  return `
### Next to the peers

The same ramp and idle window against Hocuspocus (with its SQLite extension) and \`@y/websocket-server\` (${versionText}),
each its own process started by the harness, driven by its own unmodified provider (\`HocuspocusProvider\`, y-websocket's
\`WebsocketProvider\`, one WebSocket each) from the same load processes: connection *i* opens document *i* mod ${settings.sessions} (empty
documents, no authentication), and counts once the provider is **synced** (a Yjs sync round trip), where this server's counts at the
acknowledged \`join\` (authentication by JWT in the handshake, a session look-up, no Yjs sync). Memory per idle connection and
the forced GC are measured the same way for every server (a peer's baseline is before its first connection, so its
${settings.sessions} empty documents count in its per-connection memory; this server's ${settings.sessions} sessions are started before its baseline).
Their providers reconnect by themselves: a dropped connection is counted when it closes. Where a load process is near 100 % of a
core, the connect rate is the load generator's as much as the server's.

${table(['server', 'joined / synced', 'connects/s', 'connect + join (peers: sync) p50 / p99 ms', 'server CPU ramp', 'busiest load process CPU ramp', 'RSS KiB / connection', 'heap KiB / connection', 'CPU idle', 'connected at end', 'errors'], rows)}
`;
}

async function runSockets(context: ScenarioContext): Promise<void> {
  const settings = withOverrides(context.quick ? QUICK : FULL);
  const databases: Record<Backend, Record<string, string>> = { postgresql: {}, sqlite: {} };
  const targets = selectedTargets('BENCH_SOCKETS_TARGETS', ['glavito', 'hocuspocus', 'y-websocket'] as const);
  if (targets.some((target) => target !== 'glavito')) ensurePeersInstalled(log);
  const versions = targets.some((target) => target !== 'glavito') ? peerVersions() : {};
  const runs: RunResult[] = [];
  // Targets alternate within each run, so that drift in the machine's speed spreads over all of them.
  for (let run = 1; run <= settings.runs; run += 1) for (const target of targets) runs.push(await runOnce(context, target, settings, run, databases));
  const summaries = targets.map((target) => ({ target, summary: summarize(runs.filter((r) => r.target === target)) }));
  const jsonPath = path.join(REPO_ROOT, 'docs/bench', context.quick ? 'sockets.quick.json' : 'sockets.json');
  const roundSummary = (summary: Summary) =>
    Object.fromEntries(Object.entries(summary).map(([key, value]) => [key, typeof value === 'object' ? roundSpread(value, 2) : value]));
  writeRawResults(jsonPath, context, 'sockets', {
    settings,
    targets,
    peerVersions: versions,
    database: databases.postgresql,
    postgresReused: context.postgres.reused,
    summaries: summaries.map(({ target, summary }) => ({ target, ...roundSummary(summary) })),
    runs: runs.map((r) => ({ ...r, perIdleSocket: { rssKiB: round(r.perIdleSocket.rssKiB, 2), heapKiB: round(r.perIdleSocket.heapKiB, 2) } })),
  });
  const own = summaries.find((s) => s.target === 'glavito');
  const body = own
    ? renderMarkdown(context, settings, own.summary, runs.filter((r) => r.target === 'glavito'), jsonPath) + renderComparison(settings, summaries, versions)
    : renderComparison(settings, summaries, versions);
  const charts = writeCharts(jsonPath);
  upsertSection(path.join(REPO_ROOT, 'BENCHMARKS.md'), context.quick ? 'sockets-quick' : 'sockets', `${body}\n${chartImage(jsonPath, 'latency')}\n`, context.quick ? {} : { before: 'sockets-quick' });
  log(`wrote ${[jsonPath, ...charts].map((file) => path.relative(REPO_ROOT, file)).join(', ')} and BENCHMARKS.md`);
}

export const sockets: Scenario = {
  name: 'sockets',
  summary: 'Socket.IO connection capacity of one node: connects + joins per second, RSS/heap and CPU per idle socket',
  run: runSockets,
};
