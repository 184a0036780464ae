// The /ops client of the integrations scenario, in a process of its own (never the server's).
// Set-up: one Socket.IO client on /ops with role `ops` (sees every tenant) and a few tenant-admin
// clients (each sees its own tenant), then connects one n8n integration per tenant
// (`PUT /api/v1/integrations/n8n`), paced evenly over `connectSpreadMs` so that the scheduled checks
// start spread over the check interval as they would in production. After the harness's `go`, a
// warm-up, then the window: every `integration.health` event received is one sample,
// latency = receive time − Date.parse(integration.health.lastCheckedAt) (same machine, same clock;
// both in whole milliseconds). The result goes to the harness over IPC.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { signToken } from '../../server/auth/tokens.ts';
import type { OpsClientReady, OpsClientResult, SocketEvents } from '../support/integrations-result.ts';
import { readyThenWaitForGo, sendResult } from '../support/ipc.ts';
import { readConfig, readSecret } from '../support/load-report.ts';

const configSchema = z.strictObject({
  baseUrl: z.url(),
  n8nUrl: z.url(),
  apiKey: z.string().min(1),
  tenants: z.int().positive(),
  tenantPrefix: z.string().regex(/^[a-z0-9-]+$/),
  connectSpreadMs: z.int().nonnegative(),
  connectConcurrency: z.int().positive(),
  requestTimeoutMs: z.int().positive(),
  adminSockets: z.int().nonnegative(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
});
const config = readConfig((value) => configSchema.parse(value));
const secret = readSecret();
const log = (message: string) => console.error(`[integrations-load] ${message}`);

const tenantId = (index: number) => `${config.tenantPrefix}-${index}`;
const tenantIndex = new Map(Array.from({ length: config.tenants }, (_, index) => [tenantId(index), index]));

/** A growable Float64Array. */
class Samples {
  #values = new Float64Array(1024);
  #length = 0;
  push(value: number): void {
    if (this.#length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#length++] = value;
  }
  toArray(): Float64Array {
    return this.#values.slice(0, this.#length);
  }
}

type Recorder = { received: number; latency: Samples; receivedAt: Samples; unhealthy: number; changed: number; perIntegration: Uint16Array; unparseable: number };
const recorder = (slots: number): Recorder => ({ received: 0, latency: new Samples(), receivedAt: new Samples(), unhealthy: 0, changed: 0, perIntegration: new Uint16Array(slots), unparseable: 0 });
const finish = (r: Recorder): SocketEvents => ({
  received: r.received,
  latencyMs: r.latency.toArray(),
  receivedAtMs: r.receivedAt.toArray(),
  unhealthy: r.unhealthy,
  changed: r.changed,
  perIntegration: r.perIntegration,
  unparseable: r.unparseable,
});

// The window, in epoch ms (the harness's `go` sets it); until then events are set-up or warm-up.
let windowStart = Number.POSITIVE_INFINITY;
let windowEnd = Number.POSITIVE_INFINITY;
const ops = recorder(config.tenants);
const admin = recorder(config.adminSockets);
let adminForeignEvents = 0;
let opsEventsInWarmup = 0;
let goReceived = false;
const disconnects: Record<string, number> = {};

type HealthEvent = { tenantId?: unknown; changed?: unknown; integration?: { health?: { lastCheckedAt?: unknown; isHealthy?: unknown } | null } | null };

function record(into: Recorder, slot: number | undefined, payload: HealthEvent, receivedAt: number): void {
  into.received += 1;
  if (slot !== undefined && slot < into.perIntegration.length) into.perIntegration[slot] = (into.perIntegration[slot] ?? 0) + 1;
  const health = payload.integration?.health;
  const checkedAt = typeof health?.lastCheckedAt === 'string' ? Date.parse(health.lastCheckedAt) : Number.NaN;
  if (Number.isFinite(checkedAt)) {
    into.latency.push(receivedAt - checkedAt);
    into.receivedAt.push(receivedAt - windowStart);
  } else into.unparseable += 1;
  if (health?.isHealthy === false) into.unhealthy += 1;
  if (payload.changed === true) into.changed += 1;
}

function openSocket(token: string, onHealth: (payload: HealthEvent, receivedAt: number) => void): Promise<Socket> {
  const socket = io(`${config.baseUrl}/ops`, { auth: { token }, transports: ['websocket'], reconnection: true });
  socket.on('integration.health', (payload: HealthEvent) => onHealth(payload, Date.now()));
  socket.on('disconnect', (reason: string) => {
    if (reason !== 'io client disconnect') disconnects[reason] = (disconnects[reason] ?? 0) + 1;
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error & { data?: unknown }) => {
      socket.close();
      reject(new Error(`/ops refused the connection: ${error.message} ${JSON.stringify(error.data ?? null)}`));
    });
  });
}

// --- Set-up: sockets first, so that nothing of the run escapes them.
const opsSocket = await openSocket(await signToken(secret, { sub: 'bench-ops', tenant: `${config.tenantPrefix}-ops`, role: 'ops' }), (payload, receivedAt) => {
  if (!goReceived || receivedAt >= windowEnd) return;
  if (receivedAt < windowStart) {
    opsEventsInWarmup += 1;
    return;
  }
  record(ops, typeof payload.tenantId === 'string' ? tenantIndex.get(payload.tenantId) : undefined, payload, receivedAt);
});
const adminSockets = await Promise.all(
  Array.from({ length: Math.min(config.adminSockets, config.tenants) }, async (_, index) =>
    openSocket(await signToken(secret, { sub: `bench-admin-${index}`, tenant: tenantId(index), role: 'admin' }), (payload, receivedAt) => {
      if (!goReceived || receivedAt < windowStart || receivedAt >= windowEnd) return;
      if (payload.tenantId !== tenantId(index)) adminForeignEvents += 1;
      record(admin, index, payload, receivedAt);
    }),
  ),
);

// --- Connects, paced: tenant i's request leaves at i × spread / N (or as soon as a client is free).
const tokens = await Promise.all(Array.from({ length: config.tenants }, (_, index) => signToken(secret, { sub: `bench-owner-${index}`, tenant: tenantId(index), role: 'admin' })));
const body = JSON.stringify({ credentials: { apiKey: config.apiKey }, config: { baseUrl: config.n8nUrl } });
const connectLatency = new Samples();
const connectErrors: Record<string, number> = {};
const connectErrorSamples: string[] = [];
let connected = 0;
const connectStartedAt = performance.now();
let nextTenant = 0;
const connectOne = async (index: number) => {
  const started = performance.now();
  let kind: string;
  let detail: string;
  try {
    const response = await fetch(`${config.baseUrl}/api/v1/integrations/n8n`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens[index]}`, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(config.requestTimeoutMs),
    });
    const text = await response.text();
    if (response.status === 200) {
      connectLatency.push(performance.now() - started);
      connected += 1;
      return;
    }
    let code = '';
    try {
      code = String((JSON.parse(text) as { error?: { code?: unknown } }).error?.code ?? '');
    } catch {
      // not JSON
    }
    kind = `${response.status}${code ? ` ${code}` : ''}`;
    detail = text.slice(0, 300);
  } catch (error) {
    kind = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network';
    detail = error instanceof Error ? error.message : String(error);
  }
  connectErrors[kind] = (connectErrors[kind] ?? 0) + 1;
  if (connectErrorSamples.length < 5) connectErrorSamples.push(`tenant ${index}: ${kind}: ${detail}`);
};
await Promise.all(
  Array.from({ length: config.connectConcurrency }, async () => {
    for (;;) {
      const index = nextTenant++;
      if (index >= config.tenants) return;
      const wait = connectStartedAt + (index * config.connectSpreadMs) / config.tenants - performance.now();
      if (wait > 0) await sleep(wait);
      await connectOne(index);
    }
  }),
);
const connectMs = performance.now() - connectStartedAt;
log(`${connected} of ${config.tenants} n8n integrations connected in ${(connectMs / 1000).toFixed(1)} s${connected < config.tenants ? `; errors ${JSON.stringify(connectErrors)}` : ''}`);

const go = await readyThenWaitForGo<OpsClientReady>({
  connected,
  connectErrors,
  connectErrorSamples,
  connectMs,
  connectLatencyMs: connectLatency.toArray(),
  adminSockets: adminSockets.length,
});
windowStart = go.startAtEpochMs + config.warmupMs;
windowEnd = windowStart + config.durationMs;
goReceived = true;

// Whether this process keeps up: its CPU and event-loop delay over the window.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
await sleep(Math.max(0, windowStart - Date.now()));
const cpuAtStart = process.cpuUsage();
loopDelay.enable();
await sleep(Math.max(0, windowEnd - Date.now()));
loopDelay.disable();
const cpu = process.cpuUsage(cpuAtStart);
// Events that left the server just before the window closed are still counted by their receive time.
await sleep(200);
opsSocket.close();
for (const socket of adminSockets) socket.close();

const result: OpsClientResult = {
  windowSeconds: config.durationMs / 1000,
  ops: finish(ops),
  admin: finish(admin),
  adminForeignEvents,
  opsEventsInWarmup,
  disconnects,
  client: {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    eventLoopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
  },
};
await sendResult(result);
