// Keeps a Y.Doc in sync with an onboarding session over Socket.IO (docs/PROTOCOL.md, "Live
// editing"). Local edits are queued until the server acknowledges them as committed; after a
// reconnect (jittered exponential backoff, by socket.io-client) the provider joins again, syncs,
// and resends what is still unacknowledged — the server ignores what it already has. Works in
// Node and browsers.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { io, type Socket } from 'socket.io-client';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness';
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import type { StepId } from '../../shared/steps.ts';
import type { SessionView } from './rest.ts';

export type PresenceSummary = { userId: string; role: string; connections: number; positions: { stepId: string; field?: string }[] }[];
type Reply = { ok: boolean; updateId?: number; readOnly?: boolean; view?: SessionView; frames?: unknown[]; error?: { code: string; message: string } };

export type SessionProviderEvents = {
  /** The document holds the server's committed state (after each (re)connection). */
  synced: [];
  /** Every local edit so far is committed on the server (`saved` is true). */
  saved: [];
  status: ['connecting' | 'connected' | 'disconnected'];
  /** A transition committed on the server (step completed, paused...). */
  session: [SessionView];
  presence: [PresenceSummary];
  /**
   * The server refused a local edit (read-only role, invalid data...). It is not stored anywhere;
   * the local document still shows it, so an app should start over with a fresh provider and Y.Doc.
   */
  refused: [{ code: string; message: string }];
};

export type SessionProviderOptions = {
  /** Server base URL, e.g. `https://onboarding.example.com`. */
  url: string;
  sessionId: string;
  token: string | (() => string | Promise<string>);
  doc?: Y.Doc;
  /** Reconnection delays (ms): the first, and the cap; each attempt doubles, with ±50 % jitter. */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
};

const REMOTE = Symbol('onboarding-server');

/** Errors that mean "not now" rather than "no": the request is sent again after a pause. */
const RETRYABLE_CODES = new Set(['SERVICE_UNAVAILABLE']);
const isRetryable = (reply: Reply) => !reply.ok && RETRYABLE_CODES.has(reply.error?.code ?? '');
/** Jittered exponential pause: 100 ms doubling up to 2 s. */
const retryPause = (attempt: number) => new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000) * (0.5 + Math.random() / 2)));

function frame(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

function bytesOf(value: unknown): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer);
}

function readFrame(value: unknown): { type: number; payload: Uint8Array } {
  const decoder = decoding.createDecoder(bytesOf(value));
  return { type: decoding.readVarUint(decoder), payload: decoding.readVarUint8Array(decoder) };
}

export class SessionProvider {
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  readonly sessionId: string;
  /** True once the document holds the server's state on the current connection. */
  synced = false;
  /** True for agents and viewers: local edits would be refused. */
  readOnly = false;

  /** The underlying Socket.IO socket (diagnostics; the provider owns its lifecycle). */
  readonly socket: Socket;
  /** Local updates not yet acknowledged, oldest first; resent after every reconnect. */
  #unacked: Uint8Array[] = [];
  #inFlight = false;
  /** Set by disconnect()/destroy(): no automatic reconnection. */
  #stopped = false;
  #listeners = new Map<keyof SessionProviderEvents, Set<(...args: never[]) => void>>();

  constructor(options: SessionProviderOptions) {
    this.doc = options.doc ?? new Y.Doc();
    this.sessionId = options.sessionId;
    this.awareness = new Awareness(this.doc);
    this.socket = io(`${options.url.replace(/\/$/, '')}/sessions`, {
      transports: ['websocket'],
      auth: (callback) => {
        const token = options.token;
        if (typeof token === 'string') callback({ token });
        else void Promise.resolve(token()).then((value) => callback({ token: value }));
      },
      reconnectionDelay: options.reconnectDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectDelayMaxMs ?? 10_000,
      randomizationFactor: 0.5,
    });
    this.socket.on('connect', () => void this.#onConnect());
    this.socket.on('disconnect', (reason: string) => {
      this.synced = false;
      this.#emit('status', 'disconnected');
      // socket.io-client reconnects by itself after network failures, but not when the server
      // closed the connection (a node shutting down): reconnect then too, after a jittered pause,
      // unless this provider asked to disconnect.
      if (reason === 'io server disconnect' && !this.#stopped) {
        const delay = (options.reconnectDelayMs ?? 500) * (0.5 + Math.random());
        setTimeout(() => !this.#stopped && this.socket.connect(), delay);
      }
    });
    this.socket.on('sync', (sessionId: string, bytes: unknown) => {
      if (sessionId !== this.sessionId) return;
      const { type, payload } = readFrame(bytes);
      if (type === messageYjsUpdate || type === messageYjsSyncStep2) Y.applyUpdate(this.doc, payload, REMOTE);
    });
    // The server may have lost broadcasts (a node failed over, Redis came back): sync again.
    this.socket.on('resync', (sessionId: string) => {
      if (sessionId === this.sessionId && this.synced) void this.#syncStep1().catch(() => {});
    });
    this.socket.on('session', (sessionId: string, view: SessionView) => sessionId === this.sessionId && this.#emit('session', view));
    this.socket.on('presence', (sessionId: string, summary: PresenceSummary) => sessionId === this.sessionId && this.#emit('presence', summary));
    this.socket.on('awareness', (sessionId: string, bytes: unknown) => {
      if (sessionId === this.sessionId) applyAwarenessUpdate(this.awareness, bytesOf(bytes), REMOTE);
    });
    this.doc.on('update', this.#onLocalUpdate);
    this.awareness.on('update', this.#onAwareness);
    this.#emit('status', 'connecting');
  }

  /** True when every local edit is committed on the server. */
  get saved(): boolean {
    return this.#unacked.length === 0;
  }

  on<E extends keyof SessionProviderEvents>(event: E, listener: (...args: SessionProviderEvents[E]) => void): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    set.add(listener as (...args: never[]) => void);
    this.#listeners.set(event, set);
    return () => set.delete(listener as (...args: never[]) => void);
  }

  /** Tells the others which step (and field) this user is on. */
  setPresence(position: { stepId?: StepId; field?: string }): void {
    if (this.socket.connected) this.socket.emit('presence', this.sessionId, position);
  }

  /** Drops the connection (edits keep queuing locally) until `connect()`. */
  disconnect(): void {
    this.#stopped = true;
    this.socket.disconnect();
  }

  connect(): void {
    this.#stopped = false;
    this.socket.connect();
  }

  destroy(): void {
    this.doc.off('update', this.#onLocalUpdate);
    this.awareness.off('update', this.#onAwareness);
    this.awareness.destroy();
    this.#stopped = true;
    this.socket.disconnect();
    this.#listeners.clear();
  }

  #emit<E extends keyof SessionProviderEvents>(event: E, ...args: SessionProviderEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (...a: SessionProviderEvents[E]) => void)(...args);
  }

  readonly #onLocalUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === REMOTE) return;
    this.#unacked.push(update);
    void this.#flush();
  };

  readonly #onAwareness = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
    if (origin === REMOTE || !this.socket.connected) return;
    const changed = [...added, ...updated, ...removed];
    this.socket.emit('awareness', this.sessionId, encodeAwarenessUpdate(this.awareness, changed));
  };

  async #onConnect(): Promise<void> {
    this.#emit('status', 'connected');
    // While the session moves between nodes the server answers SERVICE_UNAVAILABLE: try again.
    for (let attempt = 0; this.socket.connected; attempt += 1) {
      try {
        const joined = (await this.socket.timeout(10_000).emitWithAck('join', this.sessionId)) as Reply;
        if (!joined.ok) {
          if (isRetryable(joined)) {
            await retryPause(attempt);
            continue;
          }
          this.#emit('refused', joined.error!);
          return;
        }
        this.readOnly = joined.readOnly === true;
        if (joined.view) this.#emit('session', joined.view);
        await this.#syncStep1();
      } catch {
        await retryPause(attempt); // no answer in time, or the step 1 failed: join again
        continue;
      }
      this.synced = true;
      this.#emit('synced');
      // What the server lacks is exactly what is unacknowledged: resend it, oldest first.
      await this.#flush();
      return;
    }
  }

  /**
   * Sync step 1: the server answers with what this document lacks (applied here) and its own state
   * vector (returned).
   */
  async #syncStep1(): Promise<Uint8Array | undefined> {
    const reply = (await this.socket.timeout(10_000).emitWithAck('sync', this.sessionId, frame(messageYjsSyncStep1, Y.encodeStateVector(this.doc)))) as Reply;
    if (!reply.ok) throw new Error(reply.error?.message ?? 'sync refused');
    let serverVector: Uint8Array | undefined;
    for (const raw of reply.frames ?? []) {
      const { type, payload } = readFrame(raw);
      if (type === messageYjsSyncStep2) Y.applyUpdate(this.doc, payload, REMOTE);
      if (type === messageYjsSyncStep1) serverVector = payload;
    }
    return serverVector;
  }

  /** Sends unacknowledged updates one batch at a time, while connected and synced. */
  async #flush(): Promise<void> {
    if (this.#inFlight || !this.synced || this.#unacked.length === 0) return;
    this.#inFlight = true;
    let failures = 0;
    let resynced = false;
    try {
      while (this.synced && this.#unacked.length > 0) {
        const batch = this.#unacked.length;
        const merged = batch === 1 ? this.#unacked[0]! : Y.mergeUpdates(this.#unacked);
        let reply: Reply;
        try {
          reply = (await this.socket.timeout(10_000).emitWithAck('sync', this.sessionId, frame(messageYjsUpdate, merged))) as Reply;
        } catch {
          return; // no answer: keep the queue; the next connection resends it
        }
        // Throttled, or not saved (the session is moving between nodes, the database is down):
        // keep the edits queued and send them again.
        if (!reply.ok && (reply.error?.code === 'RATE_LIMITED' || isRetryable(reply))) {
          await retryPause(failures++);
          continue;
        }
        failures = 0;
        // The server lacks what these edits build on (an earlier edit it refused, or one it lost
        // track of): send everything it lacks instead, once; a second refusal is reported.
        if (!reply.ok && reply.error?.code === 'SYNC_REQUIRED' && !resynced) {
          resynced = true;
          const serverVector = await this.#syncStep1().catch(() => undefined);
          if (serverVector === undefined) return; // no answer: the next connection resends the queue
          this.#unacked = [Y.encodeStateAsUpdate(this.doc, serverVector)];
          continue;
        }
        this.#unacked.splice(0, batch);
        if (!reply.ok) this.#emit('refused', reply.error!);
        if (this.#unacked.length === 0) this.#emit('saved');
      }
    } finally {
      this.#inFlight = false;
    }
  }
}
