// Load generator of the sockets scenario, run in its own process (never in the server's). Opens
// `sockets` authenticated Socket.IO connections to the server's `/sessions` namespace the way the
// client SDK's SessionProvider does (websocket transport, the JWT as `auth.token`, one Manager per
// connection) and joins each to a session (socket i joins session i mod sessions), as fast as it
// can with at most `concurrency` connects in flight. Then keeps them open and idle (socket.io-client
// answers the server's pings) until the harness asks how many are still connected and, at last,
// to finish: it closes them all and sends its result. Progress goes to stderr.
//
// Requests of the harness (answerRequests): { kind: 'ramp' } resolves when every connect of this
// process ended (joined or failed) with the ramp's numbers; { kind: 'check' } answers how many are
// connected now and how many dropped since they joined; { kind: 'finish' } closes the sockets.
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { signToken } from '../../server/auth/tokens.ts';
import { answerRequests, readyThenWaitForGo, sendResult } from '../support/ipc.ts';
import { readConfig, readSecret } from '../support/load-report.ts';

const configSchema = z.strictObject({
  processIndex: z.int().nonnegative(),
  /**
   * glavito: this server (Socket.IO, JWT, join). hocuspocus / y-websocket: a peer server, through its
   * own unmodified provider (bench/peers/clients.ts): a socket counts as joined once synced.
   */
  target: z.enum(['glavito', 'hocuspocus', 'y-websocket']),
  /** http://… of this server, ws://… of a peer. */
  baseUrl: z.url(),
  /** Per session: its tenant and id (started over REST by the harness); for a peer, id is the document's name. */
  sessions: z.array(z.strictObject({ tenant: z.string(), id: z.string() })).min(1),
  /** This process opens sockets [socketFrom, socketTo); socket i joins sessions[i mod sessions.length]. */
  socketFrom: z.int().nonnegative(),
  socketTo: z.int().positive(),
  /** Connects (connect + join) in flight at once. */
  concurrency: z.int().positive(),
  /** A connect + join that has not finished after this long counts as an error. */
  timeoutMs: z.int().positive(),
});

export type SocketsReady = { tokensSigned: number; signMs: number };
export type SocketsRamp = {
  attempted: number;
  joined: number;
  errors: Record<string, number>;
  errorSamples: string[];
  /** Per joined socket: when its connect started and when its join was acknowledged, ms after `go`. */
  startedAtMs: Float64Array;
  joinedAtMs: Float64Array;
  /** Per joined socket: from io() to the `connect` event (handshake and authentication). */
  connectMs: Float64Array;
  /** Per joined socket: from io() to the join's acknowledgement. */
  connectJoinMs: Float64Array;
  /** CPU seconds of this process during the ramp (to see whether it was the bottleneck). */
  cpuSeconds: number;
  rampSeconds: number;
  /** RSS of this process after the ramp, MiB. */
  rssMiB: number;
};
export type SocketsCheck = { connected: number; disconnected: number; disconnectReasons: Record<string, number> };
export type SocketsResult = { ramp: SocketsRamp; check: SocketsCheck };
export type SocketsRequest = { kind: 'ramp' } | { kind: 'check' } | { kind: 'finish' };

const config = readConfig((value) => configSchema.parse(value));
const secret = readSecret();
const log = (message: string) => console.error(`[sockets load ${config.processIndex}] ${message}`);
const url = `${config.baseUrl.replace(/\/$/, '')}/sessions`;
const total = config.socketTo - config.socketFrom;

// Set-up: one token per socket (one user per socket, all admins of the session's tenant), signed
// before the clock starts, as the SDK gets a string token that the application already holds.
const signStart = performance.now();
const tokens: string[] = [];
for (let i = config.socketFrom; i < config.socketTo; i += 1) {
  const session = config.sessions[i % config.sessions.length]!;
  tokens.push(await signToken(secret, { sub: `bench-socket-${i}`, tenant: session.tenant, role: 'admin' }));
}
const go = await readyThenWaitForGo<SocketsReady>({ tokensSigned: tokens.length, signMs: performance.now() - signStart });
const origin = performance.now() - (Date.now() - go.startAtEpochMs);
await sleep(Math.max(0, go.startAtEpochMs - Date.now()));

const sockets: Socket[] = [];
const errors: Record<string, number> = {};
const errorSamples: string[] = [];
const countError = (kind: string, detail: string) => {
  errors[kind] = (errors[kind] ?? 0) + 1;
  if (errorSamples.length < 10) errorSamples.push(`${kind}: ${detail}`);
};
const startedAt: number[] = [];
const joinedAt: number[] = [];
const connectMs: number[] = [];
const connectJoinMs: number[] = [];
let disconnected = 0;
const disconnectReasons: Record<string, number> = {};
let finishing = false;

type Reply = { ok: boolean; error?: { code?: string; message?: string } };

/** Opens socket `index` and joins its session; resolves when it joined or failed. */
function openOne(index: number): Promise<void> {
  const session = config.sessions[index % config.sessions.length]!;
  const token = tokens[index - config.socketFrom]!;
  const t0 = performance.now();
  return new Promise<void>((resolve) => {
    let done = false;
    const socket = io(url, {
      transports: ['websocket'],
      auth: (callback) => callback({ token }),
      forceNew: true,
      // Counted, not hidden: a dropped idle socket stays dropped.
      reconnection: false,
      timeout: config.timeoutMs,
    });
    const fail = (kind: string, detail: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      countError(kind, detail);
      socket.disconnect();
      resolve();
    };
    const timer = setTimeout(() => fail('timeout', `no join within ${config.timeoutMs} ms`), config.timeoutMs);
    socket.once('connect_error', (error: Error) => fail('connect_error', error.message));
    socket.once('connect', () => {
      const connected = performance.now();
      socket
        .timeout(config.timeoutMs)
        .emitWithAck('join', session.id)
        .then(
          (reply: Reply) => {
            if (done) return;
            if (!reply.ok) {
              fail(`join ${reply.error?.code ?? 'refused'}`, reply.error?.message ?? '');
              return;
            }
            done = true;
            clearTimeout(timer);
            const now = performance.now();
            startedAt.push(t0 - origin);
            joinedAt.push(now - origin);
            connectMs.push(connected - t0);
            connectJoinMs.push(now - t0);
            sockets.push(socket);
            socket.once('disconnect', (reason: string) => {
              if (finishing) return;
              disconnected += 1;
              disconnectReasons[reason] = (disconnectReasons[reason] ?? 0) + 1;
            });
            resolve();
          },
          (error: unknown) => fail('join timeout', String(error)),
        );
    });
  });
}

/** What this file uses of the peers' clients (bench/peers/clients.ts, loaded by URL so that they resolve from bench/peers/node_modules). */
type Listener = (...args: never[]) => void;
type PeerProvider = { on(event: string, listener: Listener): void; destroy(): void };
type PeerClients = {
  Y: { Doc: new () => object };
  WebSocket: unknown;
  WebsocketProvider: new (serverUrl: string, room: string, doc: object, options: { WebSocketPolyfill: unknown; disableBc: boolean }) => PeerProvider;
  HocuspocusProvider: new (options: { url: string; name: string; document: object; WebSocketPolyfill: unknown }) => PeerProvider;
};
const peerClients = config.target === 'glavito' ? undefined : ((await import(new URL('../peers/clients.ts', import.meta.url).href)) as PeerClients);
// y-websocket's provider adds a process 'exit' listener per connection.
if (peerClients !== undefined) process.setMaxListeners(0);
/** Peer connections that synced and have not closed since. */
let peersConnected = 0;
/** Synced peer providers, held until the process exits (which closes them). */
const peerProviders: PeerProvider[] = [];

/** Opens peer connection `index` (its provider syncs document sessions[index mod n].id); resolves when synced or failed. */
function openPeer(index: number): Promise<void> {
  const clients = peerClients!;
  const name = config.sessions[index % config.sessions.length]!.id;
  const t0 = performance.now();
  return new Promise<void>((resolve) => {
    let state: 'connecting' | 'synced' | 'failed' = 'connecting';
    let connectedAt = Number.NaN;
    const document = new clients.Y.Doc();
    const provider =
      config.target === 'hocuspocus'
        ? new clients.HocuspocusProvider({ url: config.baseUrl, name, document, WebSocketPolyfill: clients.WebSocket })
        : new clients.WebsocketProvider(config.baseUrl, name, document, { WebSocketPolyfill: clients.WebSocket, disableBc: true });
    const timer = setTimeout(() => {
      if (state !== 'connecting') return;
      state = 'failed';
      countError('timeout', `not synced within ${config.timeoutMs} ms`);
      // Not destroyed: destroying a provider whose socket is still connecting makes ws emit an error
      // nobody can handle (the provider has let go of it). It no longer counts; the exit closes it.
      resolve();
    }, config.timeoutMs);
    provider.on('status', ((event: { status: string }) => {
      if (event.status === 'connected' && Number.isNaN(connectedAt)) connectedAt = performance.now();
    }) as Listener);
    const synced = () => {
      if (state !== 'connecting') return;
      state = 'synced';
      clearTimeout(timer);
      const now = performance.now();
      startedAt.push(t0 - origin);
      joinedAt.push(now - origin);
      connectMs.push((Number.isNaN(connectedAt) ? now : connectedAt) - t0);
      connectJoinMs.push(now - t0);
      peerProviders.push(provider);
      peersConnected += 1;
      resolve();
    };
    const closed = (reason: string) => {
      if (state !== 'synced' || finishing) return;
      state = 'failed';
      peersConnected -= 1;
      disconnected += 1;
      disconnectReasons[reason] = (disconnectReasons[reason] ?? 0) + 1;
    };
    if (config.target === 'hocuspocus') {
      provider.on('synced', synced);
      provider.on('disconnect', () => closed('disconnect'));
    } else {
      provider.on('sync', ((isSynced: boolean) => isSynced && synced()) as Listener);
      provider.on('connection-close', () => closed('connection-close'));
    }
  });
}

/** Set once the ramp ended. */
const done: { ramp?: SocketsRamp } = {};
let rampDone: () => void = () => {};
const rampFinished = new Promise<void>((resolve) => (rampDone = resolve));
answerRequests<SocketsRequest, SocketsRamp | SocketsCheck | null>(async (request) => {
  if (request.kind === 'ramp') {
    await rampFinished;
    return done.ramp!;
  }
  if (request.kind === 'check') return check();
  // Reply first, then hand over the result and close the channel (and the sockets: the process ends).
  finishing = true;
  const result: SocketsResult = { ramp: done.ramp!, check: check() };
  setTimeout(() => {
    for (const socket of sockets) socket.disconnect();
    // The peers' providers are not destroyed: destroying one that is reconnecting makes ws emit an
    // error nobody can handle, and their timers would outlive destroy() anyway; the exit closes them.
    void sendResult(result).finally(() => setTimeout(() => process.exit(0), 200));
  }, 100);
  return null;
});

function check(): SocketsCheck {
  const connected = config.target === 'glavito' ? sockets.filter((socket) => socket.connected).length : peersConnected;
  return { connected, disconnected, disconnectReasons: { ...disconnectReasons } };
}

const cpuAtStart = process.cpuUsage();
const rampStart = performance.now();
let next = config.socketFrom;
let lastLog = rampStart;
await Promise.all(
  Array.from({ length: Math.min(config.concurrency, total) }, async () => {
    while (next < config.socketTo) {
      const index = next;
      next += 1;
      await (config.target === 'glavito' ? openOne(index) : openPeer(index));
      if (performance.now() - lastLog > 5_000) {
        lastLog = performance.now();
        log(`${joinedAt.length} joined of ${index + 1 - config.socketFrom} tried, ${total} to try`);
      }
    }
  }),
);
const cpu = process.cpuUsage(cpuAtStart);
const ramp: SocketsRamp = {
  attempted: total,
  joined: joinedAt.length,
  errors,
  errorSamples,
  startedAtMs: Float64Array.from(startedAt),
  joinedAtMs: Float64Array.from(joinedAt),
  connectMs: Float64Array.from(connectMs),
  connectJoinMs: Float64Array.from(connectJoinMs),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  rampSeconds: (performance.now() - rampStart) / 1000,
  rssMiB: process.memoryUsage.rss() / 2 ** 20,
};
log(`ramp done: ${joinedAt.length}/${total} joined in ${ramp.rampSeconds.toFixed(1)} s, ${Object.values(errors).reduce((a, b) => a + b, 0)} errors`);
done.ramp = ramp;
rampDone();
