// The standard y-websocket endpoint: `ws(s)://<host>/yjs/<sessionId>`, so an unmodified y-websocket
// `WebsocketProvider` (and any editor binding built on it) can join a session under the same rules
// as the Socket.IO `/sessions` namespace. The upgrade is authenticated before it completes (token in
// `?token=`, in a `bearer.<token>` subprotocol, or in `Authorization: Bearer`); owners and admins
// edit, agents and viewers get a read-only view (their edits are dropped). Edits go through
// `sessions.applyUpdate`; other connections (y-websocket and Socket.IO alike) receive only committed
// updates, published by `sessions.onBroadcast`. Awareness is relayed between the y-websocket
// connections of a session. docs/PROTOCOL.md ("Standard Yjs endpoint") is the client's view.
import crypto from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import * as awarenessProtocol from 'y-protocols/awareness';
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';
import type { Caller, SessionBroadcast } from '../../actors/session/session-actor.ts';
import type { Principal, Role } from '../../shared/auth.ts';
import { AppError, type ErrorBody } from '../../shared/errors.ts';
import { bearerToken, type TokenVerifier } from '../auth/tokens.ts';
import type { Logger } from '../logger.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { MalformedUpdate } from '../sessions/update-guard.ts';

/** y-websocket message types (the first varuint of every binary message). */
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_QUERY_AWARENESS = 3;

/** WebSocket close codes this endpoint uses (RFC 6455 section 7.4.1). */
export const CLOSE_CODES = {
  /** The server shuts down; reconnect (possibly to another node). */
  goingAway: 1001,
  /** A text frame or an unknown message type. */
  unsupportedData: 1003,
  /** A message that cannot be decoded (truncated varints, bad awareness JSON, bad state vector). */
  invalidPayload: 1007,
  /** An edit was refused (validation, FORBIDDEN, not active, too large); the reason names the code. */
  policyViolation: 1008,
  /** A message above `maxMessageBytes` (sent by `ws` itself). */
  messageTooBig: 1009,
  /** A server fault. */
  internalError: 1011,
  /** The edit could not be saved (SERVICE_UNAVAILABLE); reconnect and send it again. */
  tryAgainLater: 1013,
} as const;

const EDITORS: readonly Role[] = ['owner', 'admin'];
const WATCHERS: readonly Role[] = ['owner', 'admin', 'agent', 'viewer'];
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PATH = /^\/yjs(?:\/(.*))?$/;
/** A subprotocol that carries the token: `bearer.<jwt>` (JWT characters are valid in a subprotocol). */
const TOKEN_PROTOCOL_PREFIX = 'bearer.';
/** The state vector of an empty document, and the encoding of an update that changes nothing. */
const EMPTY_STATE_VECTOR = Uint8Array.of(0);
/** Edits of one connection waiting to be applied before its socket stops being read. */
const MAX_QUEUED_EDITS = 32;
const isEmptyUpdate = (update: Uint8Array) => update.length === 2 && update[0] === 0 && update[1] === 0;

export type YjsWebSocketOptions = {
  sessions: Pick<SessionService, 'get' | 'syncState' | 'applyUpdate' | 'onBroadcast'>;
  verify: TokenVerifier;
  log: Logger;
  /** Largest message accepted (`ws` maxPayload); a larger one closes the connection with 1009. */
  maxMessageBytes: number;
  /**
   * Edits one connection may apply per second (a token bucket with a one-second burst). Above it the
   * edits wait (and, with a backlog, the socket is not read) instead of being refused: a y-websocket
   * client has no acknowledgements, and a closed connection would only resend them merged.
   */
  updatesPerSecond?: number;
  /** Keepalive ping period; a connection that did not answer the previous ping is terminated. */
  pingIntervalMs?: number;
  /** How long `close()` waits for clients to answer the close frame before terminating them. */
  closeGraceMs?: number;
};

export type YjsWebSocket = {
  close(): Promise<void>;
  /** Sends every connection the committed document again (after broadcasts may have been lost). */
  resyncAll(): void;
};

type Connection = {
  ws: WebSocket;
  sessionId: string;
  caller: Caller;
  canEdit: boolean;
  /** This connection's origin for `applyUpdate` and broadcasts; never a Socket.IO socket id. */
  origin: string;
  alive: boolean;
  /** Awareness client ids this connection announced (removed when it leaves). */
  awarenessClients: Set<number>;
  /** Edits are applied one after the other, in the order received; a refusal stops the chain. */
  edits: Promise<void>;
  /**
   * The session's document as one update and its state vector, read when the connection opened;
   * kept only until the client's first step 1 (y-websocket sends it at once), then released.
   */
  initial: Promise<{ missing: Uint8Array; stateVector: Uint8Array }> | undefined;
  dropped: number;
  /** Edits received and not yet applied or refused. */
  queued: number;
  /** Token bucket of `updatesPerSecond`. */
  budget: { tokens: number; at: number };
};

type Room = { connections: Set<Connection>; awareness: awarenessProtocol.Awareness };

class Refusal extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  constructor(error: AppError) {
    super(error.message);
    this.status = error.status;
    this.body = error.toBody();
  }
}

function message(type: number, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

const syncMessage = (syncType: number, payload: Uint8Array) =>
  message(MESSAGE_SYNC, (encoder) => {
    encoding.writeVarUint(encoder, syncType);
    encoding.writeVarUint8Array(encoder, payload);
  });

const awarenessMessage = (update: Uint8Array) => message(MESSAGE_AWARENESS, (encoder) => encoding.writeVarUint8Array(encoder, update));

type Incoming =
  | { kind: 'sync'; syncType: number; payload: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'queryAwareness' };

class UnsupportedMessage extends Error {}

/**
 * lib0 reads a varUint8Array as a view of the underlying ArrayBuffer without checking the view's own
 * bounds, and a `ws` Buffer can be a slice of a larger buffer: a length beyond the message would read
 * unrelated bytes. Every length is checked against the message.
 */
function readPayload(decoder: decoding.Decoder): Uint8Array {
  const payload = decoding.readVarUint8Array(decoder);
  if (decoder.pos > decoder.arr.length) throw new RangeError('a length runs past the end of the message');
  return payload;
}

/** Decodes one y-websocket message; throws UnsupportedMessage, or an Error when truncated. */
function decodeMessage(bytes: Uint8Array): Incoming {
  const decoder = decoding.createDecoder(bytes);
  const type = decoding.readVarUint(decoder);
  switch (type) {
    case MESSAGE_SYNC: {
      const syncType = decoding.readVarUint(decoder);
      if (syncType !== messageYjsSyncStep1 && syncType !== messageYjsSyncStep2 && syncType !== messageYjsUpdate) {
        throw new UnsupportedMessage(`unknown sync message type ${syncType}`);
      }
      return { kind: 'sync', syncType, payload: readPayload(decoder) };
    }
    case MESSAGE_AWARENESS:
      return { kind: 'awareness', update: readPayload(decoder) };
    case MESSAGE_QUERY_AWARENESS:
      return { kind: 'queryAwareness' };
    default:
      throw new UnsupportedMessage(`unknown message type ${type}`);
  }
}

function asBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A close reason is at most 123 bytes of UTF-8. */
function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}

/** The token of an upgrade request: `?token=`, a `bearer.<token>` subprotocol, or `Authorization: Bearer`. */
function tokenOf(request: http.IncomingMessage, url: URL): string | undefined {
  const query = url.searchParams.get('token');
  if (query !== null && query !== '') return query;
  const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const carrier = offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX) && p.length > TOKEN_PROTOCOL_PREFIX.length);
  if (carrier !== undefined) return carrier.slice(TOKEN_PROTOCOL_PREFIX.length);
  return bearerToken(request.headers.authorization);
}

/** Answers a refused upgrade with a plain HTTP response (the error body of the REST API), then closes. */
function refuseUpgrade(socket: Duplex, status: number, body: ErrorBody): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const json = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(json)}\r\n` +
      '\r\n' +
      json,
  );
}

export function attachYjsWebSocket(httpServer: http.Server, options: YjsWebSocketOptions): YjsWebSocket {
  const { sessions, verify, log } = options;
  const pingIntervalMs = options.pingIntervalMs ?? 30_000;
  const closeGraceMs = options.closeGraceMs ?? 2_000;
  const updatesPerSecond = options.updatesPerSecond ?? Number.POSITIVE_INFINITY;
  // A client that reads slower than the session changes is dropped rather than buffered forever.
  const maxBufferedBytes = Math.max(8 * 1_048_576, 4 * options.maxMessageBytes);

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes,
    perMessageDeflate: false,
    // Called only when the client offered subprotocols. Prefer one that does not carry the token
    // (e.g. `['y-websocket', 'bearer.<jwt>']` answers `y-websocket`); else echo the token carrier,
    // because a browser fails a connection whose offered protocols were all ignored.
    handleProtocols: (protocols) => {
      const offered = [...protocols];
      return offered.find((p) => !p.startsWith(TOKEN_PROTOCOL_PREFIX)) ?? offered[0] ?? false;
    },
  });
  const rooms = new Map<string, Room>();
  const connections = new Set<Connection>();
  let closing = false;

  const send = (connection: Connection, bytes: Uint8Array) => {
    const { ws } = connection;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > maxBufferedBytes) {
      log.warn({ sessionId: connection.sessionId, origin: connection.origin, bufferedBytes: ws.bufferedAmount }, 'y-websocket client too slow: terminated');
      ws.terminate();
      return;
    }
    ws.send(bytes, { binary: true });
  };

  const closeWith = (connection: Connection, code: number, reason: string) => {
    const { ws } = connection;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.isPaused) ws.resume(); // the client's close frame must be read
    ws.close(code, closeReason(reason));
  };

  /**
   * Sends the whole committed document (step 2) and the server's state vector (step 1, so the client
   * answers with what the server lacks): the y-websocket client never sends its own step 1 again on
   * a live connection, so this is how it catches up on broadcasts it may have missed.
   */
  const resync = (sessionId: string) => {
    const room = rooms.get(sessionId);
    const [first] = room?.connections ?? [];
    if (!room || !first) return;
    sessions.syncState(first.caller.principal.tenantId, sessionId, EMPTY_STATE_VECTOR).then(
      ({ missing, stateVector }) => {
        const frames = [syncMessage(messageYjsSyncStep2, missing), syncMessage(messageYjsSyncStep1, stateVector)];
        for (const connection of room.connections) frames.forEach((bytes) => send(connection, bytes));
      },
      (error: unknown) => log.debug({ sessionId, err: error }, 'y-websocket resync failed'),
    );
  };

  // Committed updates reach every y-websocket connection of the session but their author's, from
  // this node's actors and (in a cluster) from the other nodes' through the relay.
  const unsubscribe = sessions.onBroadcast((broadcast: SessionBroadcast) => {
    if (broadcast.kind === 'resync') resync(broadcast.sessionId);
    if (broadcast.kind !== 'updates') return;
    const room = rooms.get(broadcast.sessionId);
    if (!room) return;
    for (const { update, origin } of broadcast.updates) {
      const bytes = syncMessage(messageYjsUpdate, update);
      for (const connection of room.connections) if (connection.origin !== origin) send(connection, bytes);
    }
  });

  const roomOf = (sessionId: string): Room => {
    const existing = rooms.get(sessionId);
    if (existing) return existing;
    // The server holds no presence of its own: the Awareness only relays and expires clients'.
    const awareness = new awarenessProtocol.Awareness(new Y.Doc());
    awareness.setLocalState(null);
    const created: Room = { connections: new Set(), awareness };
    awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      const changed = [...added, ...updated, ...removed];
      const author = created.connections.has(origin as Connection) ? (origin as Connection) : undefined;
      if (author) [...added, ...updated].forEach((id) => author.awarenessClients.add(id));
      // Removed by anyone (the client itself, or expired after 30 s without renewal).
      for (const connection of created.connections) removed.forEach((id) => connection.awarenessClients.delete(id));
      // Echoed to the author too: a y-websocket client reconnects after 30 s without any message,
      // and its own (renewed every 15 s) awareness is what keeps a lone client's connection alive.
      const bytes = awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(awareness, changed));
      for (const connection of created.connections) send(connection, bytes);
    });
    rooms.set(sessionId, created);
    return created;
  };

  // Destroying the document destroys its Awareness, and with it the Awareness's interval.
  const destroyRoom = (room: Room) => room.awareness.doc.destroy();

  const leave = (connection: Connection) => {
    if (!connections.delete(connection)) return;
    const room = rooms.get(connection.sessionId);
    if (!room) return;
    room.connections.delete(connection);
    if (connection.awarenessClients.size > 0) {
      awarenessProtocol.removeAwarenessStates(room.awareness, [...connection.awarenessClients], 'left');
    }
    if (room.connections.size === 0) {
      rooms.delete(connection.sessionId);
      destroyRoom(room);
    }
    if (connection.dropped > 0) {
      log.info({ sessionId: connection.sessionId, origin: connection.origin, role: connection.caller.principal.role, dropped: connection.dropped }, 'read-only y-websocket edits dropped');
    }
  };

  /** Closes the connection for a failed request: AppErrors by their code, anything else as a fault. */
  const fail = (connection: Connection, error: unknown, context: 'edit' | 'sync') => {
    const at = { sessionId: connection.sessionId, origin: connection.origin, userId: connection.caller.principal.userId };
    if (!(error instanceof AppError)) {
      log.error({ ...at, err: error }, `y-websocket ${context} failed`);
      closeWith(connection, CLOSE_CODES.internalError, 'INTERNAL_ERROR');
      return;
    }
    log.info({ ...at, code: error.code }, `y-websocket ${context} refused: closing the connection`);
    // An update that does not decode (MalformedUpdate) or a bad state vector is a malformed message;
    // content the server refuses (validation, FORBIDDEN, not active, too large) is a policy violation.
    const malformed = error instanceof MalformedUpdate || (context === 'sync' && error.code === 'VALIDATION_FAILED');
    const code =
      error.code === 'SERVICE_UNAVAILABLE' ? CLOSE_CODES.tryAgainLater : malformed ? CLOSE_CODES.invalidPayload : CLOSE_CODES.policyViolation;
    closeWith(connection, code, `${error.code}: ${error.message}`);
  };

  /** Waits until the connection's token bucket holds an edit. */
  const throttle = async (connection: Connection) => {
    if (updatesPerSecond === Number.POSITIVE_INFINITY) return;
    const { budget } = connection;
    const now = Date.now();
    budget.tokens = Math.min(updatesPerSecond, budget.tokens + ((now - budget.at) / 1_000) * updatesPerSecond);
    budget.at = now;
    if (budget.tokens < 1) {
      const waitMs = Math.ceil(((1 - budget.tokens) / updatesPerSecond) * 1_000);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      budget.tokens += (waitMs / 1_000) * updatesPerSecond;
      budget.at = Date.now();
    }
    budget.tokens -= 1;
  };

  const onSync = async (connection: Connection, syncType: number, payload: Uint8Array) => {
    const { sessionId } = connection;
    if (syncType === messageYjsSyncStep1) {
      // A fresh client (empty state vector) lacks the whole document, read when it connected;
      // everything committed since reaches it as broadcast updates.
      const initial = connection.initial;
      connection.initial = undefined;
      const { missing } =
        initial !== undefined && payload.length === 1 && payload[0] === 0
          ? await initial
          : await sessions.syncState(connection.caller.principal.tenantId, sessionId, payload);
      send(connection, syncMessage(messageYjsSyncStep2, missing));
      return;
    }
    // Step 2 or update: an edit. Read-only roles' edits are dropped without an answer: a y-websocket
    // client always answers the server's step 1 with a step 2 and would reconnect in a loop if closed.
    if (!connection.canEdit) {
      if (!isEmptyUpdate(payload)) connection.dropped += 1;
      return;
    }
    if (isEmptyUpdate(payload)) return;
    // Backpressure: with too many edits waiting, stop reading from the socket until they are done.
    connection.queued += 1;
    if (connection.queued === MAX_QUEUED_EDITS && connection.ws.readyState === WebSocket.OPEN) connection.ws.pause();
    connection.edits = connection.edits.then(async () => {
      try {
        await throttle(connection);
        if (connection.ws.readyState !== WebSocket.OPEN) return; // refused earlier, or gone: drop the rest
        await sessions.applyUpdate(connection.caller, sessionId, payload, connection.origin);
      } catch (error) {
        fail(connection, error, 'edit');
      } finally {
        connection.queued -= 1;
        if (connection.queued === MAX_QUEUED_EDITS - 1 && connection.ws.readyState === WebSocket.OPEN) connection.ws.resume();
      }
    });
  };

  const onMessage = (connection: Connection, data: RawData, isBinary: boolean) => {
    if (!isBinary) {
      closeWith(connection, CLOSE_CODES.unsupportedData, 'binary y-websocket messages only');
      return;
    }
    let incoming: Incoming;
    try {
      incoming = decodeMessage(asBytes(data));
    } catch (error) {
      const unsupported = error instanceof UnsupportedMessage;
      log.info({ sessionId: connection.sessionId, origin: connection.origin, err: error }, 'malformed y-websocket message: closing the connection');
      closeWith(connection, unsupported ? CLOSE_CODES.unsupportedData : CLOSE_CODES.invalidPayload, unsupported ? (error as Error).message : 'malformed message');
      return;
    }
    const room = rooms.get(connection.sessionId);
    if (!room) return;
    switch (incoming.kind) {
      case 'sync':
        onSync(connection, incoming.syncType, incoming.payload).catch((error: unknown) => fail(connection, error, 'sync'));
        return;
      case 'awareness':
        try {
          awarenessProtocol.applyAwarenessUpdate(room.awareness, incoming.update, connection);
        } catch (error) {
          log.info({ sessionId: connection.sessionId, origin: connection.origin, err: error }, 'malformed awareness update: closing the connection');
          closeWith(connection, CLOSE_CODES.invalidPayload, 'malformed awareness update');
        }
        return;
      case 'queryAwareness': {
        const clients = [...room.awareness.getStates().keys()];
        if (clients.length > 0) send(connection, awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(room.awareness, clients)));
        return;
      }
    }
  };

  const onConnection = (ws: WebSocket, sessionId: string, principal: Principal, ip: string | undefined) => {
    // Read after joining the room (below, in this same tick), so no commit falls between the read
    // and the broadcasts this connection receives.
    const initial = sessions.syncState(principal.tenantId, sessionId, EMPTY_STATE_VECTOR);
    const connection: Connection = {
      ws,
      sessionId,
      caller: { principal, ip },
      canEdit: EDITORS.includes(principal.role),
      origin: `yws:${crypto.randomUUID()}`,
      alive: true,
      awarenessClients: new Set(),
      edits: Promise.resolve(),
      initial,
      dropped: 0,
      queued: 0,
      budget: { tokens: updatesPerSecond, at: Date.now() },
    };
    connections.add(connection);
    roomOf(sessionId).connections.add(connection);
    const { origin } = connection;
    ws.on('pong', () => (connection.alive = true));
    ws.on('error', (error) => log.debug({ sessionId, origin, err: error }, 'y-websocket connection error'));
    ws.on('close', () => leave(connection));
    ws.on('message', (data, isBinary) => onMessage(connection, data, isBinary));
    log.debug({ sessionId, origin, userId: principal.userId, role: principal.role }, 'y-websocket connected');
    // Sync step 1: the server's state vector, so the client sends what the server lacks.
    initial.then(
      ({ stateVector }) => send(connection, syncMessage(messageYjsSyncStep1, stateVector)),
      (error: unknown) => fail(connection, error, 'sync'),
    );
  };

  /** Authenticates and authorizes an upgrade; throws Refusal with the HTTP answer. */
  const admit = async (request: http.IncomingMessage, url: URL, rawId: string | undefined) => {
    if (closing) throw new Refusal(new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down', { retryable: true }));
    const token = tokenOf(request, url);
    if (token === undefined) throw new Refusal(new AppError('AUTH_TOKEN_MISSING', 'send the token as ?token=, a bearer.<token> subprotocol or an Authorization header'));
    let principal: Principal;
    try {
      principal = await verify(token);
    } catch (error) {
      throw error instanceof AppError ? new Refusal(error) : error;
    }
    if (!WATCHERS.includes(principal.role)) throw new Refusal(new AppError('FORBIDDEN', `role ${principal.role} may not watch onboarding sessions`));
    let sessionId: string;
    try {
      sessionId = decodeURIComponent(rawId ?? '');
    } catch {
      sessionId = '';
    }
    if (!SESSION_ID.test(sessionId)) throw new Refusal(new AppError('ONBOARDING_SESSION_NOT_FOUND', 'no such onboarding session'));
    try {
      await sessions.get(principal.tenantId, sessionId); // 404 for another tenant's session
    } catch (error) {
      throw error instanceof AppError ? new Refusal(error) : error;
    }
    return { principal, sessionId };
  };

  const onUpgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = PATH.exec(url.pathname);
    if (!match) return; // not ours (Socket.IO handles /socket.io/)
    // The HTTP server no longer watches an upgraded socket: a reset during verification must not crash.
    const onSocketError = (error: Error) => log.debug({ err: error }, 'y-websocket upgrade socket error');
    socket.on('error', onSocketError);
    admit(request, url, match[1]).then(
      ({ principal, sessionId }) => {
        if (socket.destroyed) return;
        if (closing) {
          refuseUpgrade(socket, 503, new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down', { retryable: true }).toBody());
          return;
        }
        wss.handleUpgrade(request, socket, head, (ws) => {
          socket.off('error', onSocketError);
          onConnection(ws, sessionId, principal, request.socket.remoteAddress);
        });
      },
      (error: unknown) => {
        if (error instanceof Refusal) {
          log.debug({ path: url.pathname, status: error.status, code: error.body.error.code }, 'y-websocket upgrade refused');
          refuseUpgrade(socket, error.status, error.body);
          return;
        }
        log.error({ err: error, path: url.pathname }, 'y-websocket upgrade failed');
        refuseUpgrade(socket, 500, new AppError('INTERNAL_ERROR', 'internal error').toBody());
      },
    );
  };
  httpServer.on('upgrade', onUpgrade);

  // Keepalive: a connection that did not answer the previous ping is terminated.
  const keepalive = setInterval(() => {
    for (const connection of connections) {
      if (!connection.alive) {
        log.debug({ sessionId: connection.sessionId, origin: connection.origin }, 'y-websocket connection dead: terminated');
        connection.ws.terminate();
        continue;
      }
      connection.alive = false;
      connection.ws.ping();
    }
  }, pingIntervalMs);
  keepalive.unref();

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      // The upgrade listener stays: an upgrade that still arrives (on a kept-alive HTTP connection)
      // is answered 503 instead of hanging.
      closing = true;
      clearInterval(keepalive);
      unsubscribe();
      const open = [...connections];
      for (const connection of open) closeWith(connection, CLOSE_CODES.goingAway, 'server shutting down');
      // Clients normally answer the close frame at once; those that do not are cut off.
      const grace = setTimeout(() => open.forEach((connection) => connection.ws.terminate()), closeGraceMs);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      clearTimeout(grace);
      // Every connection has left by now (wss closes once its clients have); nothing may keep an interval.
      rooms.forEach(destroyRoom);
      rooms.clear();
    })());

  return { close, resyncAll: () => [...rooms.keys()].forEach(resync) };
}
