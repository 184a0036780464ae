// A minimal live editor for tests: a Y.Doc kept in sync with a session over the /sessions
// namespace, following docs/PROTOCOL.md (join, sync step 1/2, acked updates, committed broadcasts).
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { io, type Socket } from 'socket.io-client';
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';
import * as Y from 'yjs';

export type Reply = { ok: boolean; updateId?: number; readOnly?: boolean; frames?: Uint8Array[]; error?: { code: string; message: string } };

const REMOTE = Symbol('remote');

export function frame(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

function readFrame(bytes: Uint8Array): { type: number; payload: Uint8Array } {
  const decoder = decoding.createDecoder(new Uint8Array(bytes));
  return { type: decoding.readVarUint(decoder), payload: decoding.readVarUint8Array(decoder) };
}

export class LiveClient {
  readonly doc = new Y.Doc();
  readonly socket: Socket;
  readonly acks: Reply[] = [];
  readonly refusals: { code: string }[] = [];
  readonly pending = new Set<Promise<Reply>>();
  sessionId = '';

  constructor(baseUrl: string, token: string) {
    this.socket = io(`${baseUrl}/sessions`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    this.socket.on('sync', (sessionId: string, bytes: Uint8Array) => {
      if (sessionId !== this.sessionId) return;
      const { type, payload } = readFrame(bytes);
      if (type === messageYjsUpdate || type === messageYjsSyncStep2) Y.applyUpdate(this.doc, payload, REMOTE);
    });
    this.socket.on('refused', (_sessionId: string, error: { code: string }) => this.refusals.push(error));
    // Local edits go to the server as update frames; each is acknowledged once committed.
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE || this.sessionId === '') return;
      const sent = this.socket.emitWithAck('sync', this.sessionId, frame(messageYjsUpdate, update)) as Promise<Reply>;
      this.pending.add(sent);
      void sent.then((reply) => {
        this.acks.push(reply);
        this.pending.delete(sent);
      });
    });
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
    });
  }

  /** Joins and runs the sync handshake; resolves once the document holds the committed state. */
  async join(sessionId: string): Promise<Reply> {
    const joined = (await this.socket.emitWithAck('join', sessionId)) as Reply;
    if (!joined.ok) return joined;
    this.sessionId = sessionId;
    const reply = (await this.socket.emitWithAck('sync', sessionId, frame(messageYjsSyncStep1, Y.encodeStateVector(this.doc)))) as Reply;
    for (const bytes of reply.frames ?? []) {
      const { type, payload } = readFrame(bytes);
      if (type === messageYjsSyncStep2) Y.applyUpdate(this.doc, payload, REMOTE);
      if (type === messageYjsSyncStep1) {
        const missing = Y.encodeStateAsUpdate(this.doc, payload);
        // Only a non-empty difference is worth sending (an empty update encodes as two zero bytes).
        if (missing.length > 2) await this.socket.emitWithAck('sync', sessionId, frame(messageYjsSyncStep2, missing));
      }
    }
    return joined;
  }

  /** Waits until every update sent so far is acknowledged. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  close(): void {
    this.socket.close();
    this.doc.destroy();
  }
}
