// The `/sessions` Socket.IO namespace: admins edit a session's Yjs document live, agents and viewers
// watch it. Frames are y-protocols sync messages (step 1, step 2, update) and awareness updates, as
// binary. An editor's update is acknowledged with its log id only once committed, and other clients
// receive only committed updates (the actor publishes them after the commit). docs/PROTOCOL.md
// describes the wire format for third-party clients.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Namespace, Socket } from 'socket.io';
import { z } from 'zod';
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import type { Caller, SessionBroadcast } from '../../actors/session/session-actor.ts';
import type { Role } from '../../shared/auth.ts';
import { AppError, fieldIssues } from '../../shared/errors.ts';
import { stepIdSchema } from '../../shared/steps.ts';
import type { Logger } from '../logger.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { MalformedUpdate } from '../sessions/update-guard.ts';
import type { SocketData } from './socket-server.ts';

const EDITORS: readonly Role[] = ['owner', 'admin'];
const WATCHERS: readonly Role[] = ['owner', 'admin', 'agent', 'viewer'];
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type ErrorReply = { ok: false; error: { code: string; message: string } };
type Ack = (reply: unknown) => void;

export const roomOf = (sessionId: string) => `session:${sessionId}`;

function errorReply(error: unknown, log: Logger): ErrorReply {
  if (error instanceof AppError) return { ok: false, error: { code: error.code, message: error.message } };
  log.error({ err: error }, 'realtime handler failed');
  return { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } };
}

/**
 * Binary payloads arrive as Buffer from Node clients and ArrayBuffer from browsers. A Buffer may be
 * a view into a larger pooled ArrayBuffer, and lib0's decoders trust declared lengths: copy, so a
 * lying length ends at this frame instead of reading someone else's bytes.
 */
function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  return undefined;
}

function syncFrame(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

const presencePositionSchema = z.strictObject({ stepId: stepIdSchema.optional(), field: z.string().max(128).optional() });

type PresenceEntry = { userId: string; role: Role } & z.infer<typeof presencePositionSchema>;

/** One line per user: their role, how many connections they have, and where each one is. */
function summarize(entries: PresenceEntry[]) {
  const users = new Map<string, { userId: string; role: Role; connections: number; positions: { stepId?: string; field?: string }[] }>();
  for (const { userId, role, stepId, field } of entries) {
    const user = users.get(userId) ?? { userId, role, connections: 0, positions: [] };
    user.connections += 1;
    if (stepId !== undefined) user.positions.push({ stepId, ...(field !== undefined ? { field } : {}) });
    users.set(userId, user);
  }
  return [...users.values()].sort((a, b) => a.userId.localeCompare(b.userId));
}

/** A frame the server cannot even read: the connection is closed after the refusal. */
class MalformedFrame extends AppError {
  constructor(message: string) {
    super('VALIDATION_FAILED', message);
  }
}

export type SessionGatewayOptions = {
  sessions: SessionService;
  log: Logger;
  /** Edits one connection may send per second (a burst above is refused with RATE_LIMITED). */
  updatesPerSecond: number;
};

/** Per connection: the sessions it joined, and where its user is in each (readable from any node). */
type GatewaySocketData = SocketData & { sessions?: Record<string, PresencePosition> };
type PresencePosition = z.infer<typeof presencePositionSchema>;

export type SessionGateway = {
  /** Tells every client of this node to sync each joined session again (after lost broadcasts). */
  resyncAll(): void;
  detach(): void;
};

export function attachSessionGateway(namespace: Namespace, options: SessionGatewayOptions): SessionGateway {
  const { sessions, log } = options;
  // rate-limiter-flexible: a token bucket per connection, in memory (each connection lives on one node).
  const editBudget = new RateLimiterMemory({ points: options.updatesPerSecond, duration: 1 });
  // Committed changes reach the session's room on every node (the Redis adapter in a cluster): only
  // the owner's gateway emits them. The author's own connection already has its update.
  const unsubscribe = sessions.onBroadcast((broadcast: SessionBroadcast, source) => {
    if (source === 'remote') return;
    const room = namespace.to(roomOf(broadcast.sessionId));
    if (broadcast.kind === 'session') {
      room.emit('session', broadcast.sessionId, broadcast.view);
      return;
    }
    if (broadcast.kind === 'resync') {
      room.emit('resync', broadcast.sessionId);
      return;
    }
    for (const { id, update, origin } of broadcast.updates) {
      (origin !== undefined ? room.except(origin) : room).emit('sync', broadcast.sessionId, syncFrame(messageYjsUpdate, update), id);
    }
  });

  // Who is in each session and where: identity from the verified token, position from `presence`,
  // both in socket.data, so the summary covers the connections of every node (fetchSockets goes
  // through the adapter). One summary at a time per session, so an older one never lands last, and
  // at most one waiting: it reads the room when it starts, so it covers every change made before,
  // and a burst of joins (a whole team opening the session) costs two summaries, not one each.
  const presenceQueue = new Map<string, Promise<void>>();
  const presenceWaiting = new Set<string>();
  const publishPresence = (sessionId: string) => {
    if (presenceWaiting.has(sessionId)) return;
    presenceWaiting.add(sessionId);
    const next = (presenceQueue.get(sessionId) ?? Promise.resolve()).then(async () => {
      presenceWaiting.delete(sessionId);
      try {
        const sockets = await namespace.in(roomOf(sessionId)).fetchSockets();
        const entries = sockets.flatMap((remote): PresenceEntry[] => {
          const data = remote.data as GatewaySocketData;
          const position = data.sessions?.[sessionId];
          return position ? [{ userId: data.principal.userId, role: data.principal.role, ...position }] : [];
        });
        namespace.to(roomOf(sessionId)).emit('presence', sessionId, summarize(entries));
      } catch (error) {
        log.debug({ err: error, sessionId }, 'presence summary skipped (a node did not answer)');
      }
    });
    presenceQueue.set(sessionId, next);
    void next.then(() => presenceQueue.get(sessionId) === next && presenceQueue.delete(sessionId));
  };
  const setPresence = (socket: Socket, sessionId: string, position: PresencePosition | undefined) => {
    const data = socket.data as GatewaySocketData;
    data.sessions ??= {};
    if (position) data.sessions[sessionId] = position;
    else delete data.sessions[sessionId];
    publishPresence(sessionId);
  };

  namespace.on('connection', (socket: Socket) => {
    const principal = (socket.data as SocketData).principal;
    const caller: Caller = { principal, ip: socket.handshake.address };
    const joined = new Set<string>();

    /** Runs a handler with a validated session id the socket has joined; errors go to the ack. */
    const handle = (event: string, run: (sessionId: string, payload: unknown[], ack: Ack) => Promise<void>) => {
      socket.on(event, async (sessionId: unknown, ...rest: unknown[]) => {
        const ack: Ack = typeof rest.at(-1) === 'function' ? (rest.pop() as Ack) : () => {};
        try {
          if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) {
            throw new AppError('VALIDATION_FAILED', 'the first argument must be a session id');
          }
          if (event !== 'join' && !joined.has(sessionId)) throw new AppError('ONBOARDING_SESSION_NOT_FOUND', 'join the session first');
          await run(sessionId, rest, ack);
        } catch (error) {
          const reply = errorReply(error, log);
          ack(reply);
          if (event === 'sync') socket.emit('refused', sessionId, reply.error);
          if (error instanceof MalformedFrame) socket.disconnect(true);
        }
      });
    };

    handle('join', async (sessionId, _payload, ack) => {
      if (!WATCHERS.includes(principal.role)) throw new AppError('FORBIDDEN', `role ${principal.role} may not watch onboarding sessions`);
      const view = await sessions.get(principal.tenantId, sessionId); // 404 for another tenant's session
      joined.add(sessionId);
      await socket.join(roomOf(sessionId));
      ack({ ok: true, sessionId, readOnly: !EDITORS.includes(principal.role), view });
      setPresence(socket, sessionId, {});
    });

    handle('leave', async (sessionId, _payload, ack) => {
      joined.delete(sessionId);
      await socket.leave(roomOf(sessionId));
      ack({ ok: true });
      setPresence(socket, sessionId, undefined);
    });

    // Where this connection's user is: the step (and field) on screen. Ephemeral, never stored.
    handle('presence', async (sessionId, [position], ack) => {
      const parsed = presencePositionSchema.safeParse(position ?? {});
      if (!parsed.success) throw new AppError('VALIDATION_FAILED', 'presence is { stepId?, field? }', { issues: fieldIssues(parsed.error.issues) });
      setPresence(socket, sessionId, parsed.data);
      ack({ ok: true });
    });

    // The socket has left its rooms by now: the summaries no longer count it.
    socket.on('disconnect', () => {
      for (const sessionId of joined) publishPresence(sessionId);
    });

    // A y-protocols sync message. Step 1 (the client's state vector) is answered, in the ack, with
    // step 2 (what the client lacks) and the server's own step 1 (so the client can send what the
    // server lacks). Step 2 and update messages carry an edit: acked once committed.
    handle('sync', async (sessionId, [frame], ack) => {
      const bytes = asBytes(frame);
      if (bytes === undefined) throw new MalformedFrame('a sync frame must be binary');
      let type: number;
      let payload: Uint8Array;
      try {
        const decoder = decoding.createDecoder(bytes);
        type = decoding.readVarUint(decoder);
        payload = decoding.readVarUint8Array(decoder);
      } catch {
        throw new MalformedFrame('malformed sync frame');
      }
      if (type === messageYjsSyncStep1) {
        const { missing, stateVector } = await sessions.syncState(principal.tenantId, sessionId, payload);
        ack({ ok: true, frames: [syncFrame(messageYjsSyncStep2, missing), syncFrame(messageYjsSyncStep1, stateVector)] });
        return;
      }
      if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) throw new MalformedFrame(`unknown sync message type ${type}`);
      if (!EDITORS.includes(principal.role)) throw new AppError('FORBIDDEN', `role ${principal.role} has a read-only view`);
      try {
        await editBudget.consume(socket.id);
      } catch {
        throw new AppError('RATE_LIMITED', `at most ${options.updatesPerSecond} edits per second per connection: batch them`);
      }
      const updateId = await sessions.applyUpdate(caller, sessionId, payload, socket.id).catch((error: unknown) => {
        // An update that does not decode is a malformed frame; invalid content is only refused.
        if (error instanceof MalformedUpdate) throw new MalformedFrame(error.message);
        throw error;
      });
      ack({ ok: true, updateId });
    });

    // Awareness (presence, cursors) is ephemeral: relayed to the room, never stored or acked.
    handle('awareness', async (sessionId, [frame]) => {
      const bytes = asBytes(frame);
      if (bytes === undefined) throw new MalformedFrame('an awareness frame must be binary');
      socket.to(roomOf(sessionId)).emit('awareness', sessionId, bytes);
    });
  });

  return {
    resyncAll: () => {
      for (const socket of namespace.sockets.values()) {
        for (const sessionId of Object.keys((socket.data as GatewaySocketData).sessions ?? {})) socket.emit('resync', sessionId);
      }
    },
    detach: unsubscribe,
  };
}
