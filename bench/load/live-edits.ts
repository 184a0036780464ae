// Load generator of the live-edits and cluster scenarios, run in its own process (never in a
// server's). For each of its sessions it starts the session over REST (one tenant per session),
// creates `data_import.fieldMapping` as a shared Y.Map, and connects SessionProviders (the client
// SDK), all admins of that tenant: by default `editorsPerSession` of them on `baseUrl`, each editing
// and observing the others; with `layouts`, editors and observers on the URLs given per session (the
// cluster scenario puts them on different nodes). After the harness's `go`, every editor sets its
// own key `e<participant>` of fieldMapping `editsPerSecond` times a second to "<seq>@<send time>"
// (this process's high-resolution clock). Every observer of the session other than the sender, in
// this same process and so on the same clock, observes the change on its Y.Doc: that is the
// edit-to-peer latency. The acknowledgement of the update frame that carried an edit gives its ack
// latency; the sender's `saved` (every local edit committed) is timed too. Sends one
// LiveEditsResult to the harness over IPC; progress goes to stderr.
import * as Y from 'yjs';
import { z } from 'zod';
import { OnboardingClient, SessionProvider } from '../../client/sdk/index.ts';
import { signToken } from '../../server/auth/tokens.ts';
import { sendResult } from '../support/ipc.ts';
import { EditClock, editValue } from '../support/live-edits-clock.ts';
import type { LiveEditsResult, Phase } from '../support/live-edits-result.ts';
import { runInPool } from '../support/load-loop.ts';
import { readConfig, readSecret } from '../support/load-report.ts';

const configSchema = z
  .strictObject({
  processIndex: z.int().nonnegative(),
  /** Where sessions are started over REST, and where the editors connect without `layouts`. */
  baseUrl: z.url(),
  /** Tenant of session s: `<tenantPrefix>-<s>`. */
  tenantPrefix: z.string().regex(/^[a-z0-9-]+$/),
  /** This process drives sessions [sessionFrom, sessionTo), every editor of each. */
  sessionFrom: z.int().nonnegative(),
  sessionTo: z.int().positive(),
  /** Editors per session, all on baseUrl, each also observing the others; or else `layouts`. */
  editorsPerSession: z.int().min(2).optional(),
  /** Per session of this process, in order: where its editors (who only edit) and its observers (who only observe) connect. */
  layouts: z.array(z.strictObject({ editorUrls: z.array(z.url()).min(1), observerUrls: z.array(z.url()).min(1) })).optional(),
  editsPerSecond: z.number().positive(),
  /** Closed loop instead (the ceiling scenario): each editor edits again as soon as its edits were acknowledged; editsPerSecond is then unused. */
  closedLoop: z.boolean().optional(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
  /** After the window: how long to wait at most for the window's edits to be acked and seen. */
  drainMs: z.int().nonnegative(),
  /** Sessions set up at once (REST calls and socket connections). */
  setupConcurrency: z.int().positive(),
  syncTimeoutMs: z.int().positive(),
})
  .refine(
    (c) => (c.editorsPerSession === undefined) !== (c.layouts === undefined) && (c.layouts === undefined || c.layouts.length === c.sessionTo - c.sessionFrom),
    'exactly one of editorsPerSession and layouts (one per session)',
  );

const config = readConfig((value) => configSchema.parse(value));
const secret = readSecret();
const log = (message: string) => console.error(`[live-edits load ${config.processIndex}] ${message}`);

/** Growable arrays of samples and of where each came from (session index, participant index). */
class Samples {
  #values = new Float64Array(1 << 12);
  #sessions = new Uint32Array(1 << 12);
  #participants = new Uint16Array(1 << 12);
  #count = 0;
  push(value: number, session: number, participant: number): void {
    if (this.#count === this.#values.length) {
      const grow = <T extends Float64Array | Uint32Array | Uint16Array>(array: T, make: (length: number) => T): T => {
        const grown = make(array.length * 2);
        grown.set(array);
        return grown;
      };
      this.#values = grow(this.#values, (n) => new Float64Array(n));
      this.#sessions = grow(this.#sessions, (n) => new Uint32Array(n));
      this.#participants = grow(this.#participants, (n) => new Uint16Array(n));
    }
    this.#values[this.#count] = value;
    this.#sessions[this.#count] = session;
    this.#participants[this.#count] = participant;
    this.#count += 1;
  }
  values(): Float64Array {
    return this.#values.slice(0, this.#count);
  }
  origins(): { session: Uint32Array; participant: Uint16Array } {
    return { session: this.#sessions.slice(0, this.#count), participant: this.#participants.slice(0, this.#count) };
  }
}

type Edit = {
  sentAt: number;
  phase: Phase;
  /** When the acknowledgement of the update frame carrying it arrived (NaN: not yet). */
  ackAt: number;
  /** When the editor's `saved` next fired after it (NaN: not yet). */
  savedAt: number;
  refused: boolean;
  seenBy: number;
  /** Observers other than the sender: who must see it. */
  peers: number;
  queuedBehindUnacked: boolean;
};

/** A participant of a session: an editor (edits; by default also observes) or an observer. */
type Editor = {
  /** Index of the session (sessionFrom ≤ session < sessionTo). */
  session: number;
  /** Index within the session (editors first, then observers): the key `e<index>` it edits. */
  index: number;
  makesEdits: boolean;
  observes: boolean;
  /** The session's other observers: who must see each of its edits. */
  peers: number;
  provider: SessionProvider;
  fieldMapping: Y.Map<unknown>;
  /** By sequence number. */
  edits: Edit[];
  /** Made, not yet acknowledged or refused, oldest first: what the SDK merges into its next frame. */
  pending: Edit[];
  /** Made since the last `saved`. */
  unsaved: Edit[];
  /** Per sender: the highest sequence number seen from it (-1: none). */
  lastSeen: Int32Array;
};

type Session = { index: number; id: string; editors: Editor[] };

const clock = new EditClock();

const ackSamples = new Samples();
const savedSamples = new Samples();
const peerSamples = new Samples();
const allPeersSamples = new Samples();
let mergedDeliveries = 0;
/** Edits whose acknowledgement arrived inside the window, whatever phase they were made in. */
let ackedInWindow = 0;
/** Acknowledged update frames (each carrying one or more merged edits) received inside the window. */
let ackedFramesInWindow = 0;
let stopping = false;

function waitForSync(provider: SessionProvider): Promise<void> {
  if (provider.synced) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`editor not synced within ${config.syncTimeoutMs} ms`)), config.syncTimeoutMs);
    const offSynced = provider.on('synced', () => {
      clearTimeout(timer);
      offSynced();
      offRefused();
      resolve();
    });
    const offRefused = provider.on('refused', (error) => {
      clearTimeout(timer);
      offSynced();
      offRefused();
      reject(new Error(`joining was refused: ${error.code} ${error.message}`));
    });
  });
}

/** Peer side: a remote change of fieldMapping delivers every edit of its sender up to the value's sequence number. */
function observePeers(session: Session, editor: Editor): void {
  clock.observeEdits(editor.fieldMapping, session.editors, (from, sequence, sentAt, now) => {
    const last = editor.lastSeen[from.index] ?? -1;
    if (sequence <= last) {
      clock.countError('value older than one already seen', `e${from.index}: ${sequence} after ${last}`);
      return;
    }
    for (let s = last + 1; s <= sequence; s += 1) {
      const edit = from.edits[s];
      if (edit === undefined) continue;
      edit.seenBy += 1;
      if (edit.phase !== 'window') continue;
      // The latest value carries its own send time; earlier ones it replaced arrived in the same update.
      peerSamples.push(now - (s === sequence ? sentAt : edit.sentAt), session.index, editor.index);
      if (s !== sequence) mergedDeliveries += 1;
      if (edit.seenBy === edit.peers) allPeersSamples.push(now - edit.sentAt, session.index, from.index);
    }
    editor.lastSeen[from.index] = sequence;
  });
}

type Reply = { ok?: boolean; error?: { code?: string; message?: string } };
type EmitWithAck = (event: string, ...args: unknown[]) => Promise<unknown>;

/**
 * Per-edit acknowledgement, read off the SDK's own socket: the SDK sends every unacknowledged edit,
 * merged, as one update frame (`emitWithAck('sync', sessionId, frame)`, one at a time), so the
 * acknowledgement of a frame acknowledges exactly the edits pending when it left. The SDK itself
 * only says `saved` once nothing is pending.
 */
function instrumentAcks(editor: Editor): void {
  const socket = editor.provider.socket;
  const original = socket.emitWithAck.bind(socket) as EmitWithAck;
  const instrumented: EmitWithAck = async (event, ...args) => {
    const frame = args[1];
    // y-protocols sync message type 2: an update (edits); types 0 and 1 are the handshake.
    if (event !== 'sync' || !(frame instanceof Uint8Array) || frame[0] !== 2) return original(event, ...args);
    const batch = editor.pending.slice();
    let reply: Reply;
    try {
      reply = (await original(event, ...args)) as Reply;
    } catch (error) {
      // No answer within the SDK's timeout: it keeps the edits and sends them again later.
      clock.countError('update not answered in time', error instanceof Error ? error.message : String(error));
      throw error;
    }
    const now = performance.now();
    if (reply.ok !== true && reply.error?.code === 'RATE_LIMITED') return reply; // the SDK sends them again
    const inWindow = clock.phaseAt(now) === 'window';
    if (inWindow) ackedFramesInWindow += 1;
    for (const edit of batch) {
      if (reply.ok === true) {
        edit.ackAt = now;
        if (inWindow) ackedInWindow += 1;
        if (edit.phase === 'window') ackSamples.push(now - edit.sentAt, editor.session, editor.index);
      } else {
        edit.refused = true; // dropped by the SDK; the refusal itself is counted from the server's `refused`
      }
    }
    editor.pending.splice(0, batch.length);
    if (config.closedLoop === true) nextClosedLoopEdit(editor);
    return reply;
  };
  (socket as unknown as { emitWithAck: EmitWithAck }).emitWithAck = instrumented;
}

function watchEditor(editor: Editor): void {
  const { provider } = editor;
  instrumentAcks(editor);
  provider.on('saved', () => {
    const now = performance.now();
    for (const edit of editor.unsaved) {
      edit.savedAt = now;
      if (edit.phase === 'window') savedSamples.push(now - edit.sentAt, editor.session, editor.index);
    }
    editor.unsaved.length = 0;
  });
  // A refused join arrives unsynced; refused edits are counted from the server's `refused` below.
  provider.on('refused', (error) => {
    if (!provider.synced) clock.countError(`join refused ${error.code}`, error.message);
  });
  // What the server refused, as it said it (including RATE_LIMITED, which the SDK retries quietly).
  provider.socket.on('refused', (_sessionId: string, error: { code?: string; message?: string }) =>
    clock.countError(`refused ${error.code ?? 'unknown'}`, error.message),
  );
  provider.socket.on('connect_error', (error: Error) => clock.countError('connect_error', error.message));
  provider.socket.on('disconnect', (reason: string) => {
    if (!stopping) clock.countError(`disconnect (${reason})`);
  });
}

async function setUpSession(index: number): Promise<Session> {
  const tenant = `${config.tenantPrefix}-${index}`;
  const api = new OnboardingClient({
    baseUrl: config.baseUrl,
    token: await signToken(secret, { sub: 'bench-owner', tenant, role: 'admin' }),
  });
  const { view } = await api.start();
  const id = view.session.id;
  // One shared Y.Map for the editors' keys: editors creating it at once would replace each other's.
  await api.updateStep(id, 'data_import', { fieldMapping: {} });
  const session: Session = { index, id, editors: [] };
  const layout = config.layouts?.[index - config.sessionFrom];
  const roles = layout
    ? [...layout.editorUrls.map((url) => ({ url, makesEdits: true, observes: false })), ...layout.observerUrls.map((url) => ({ url, makesEdits: false, observes: true }))]
    : Array.from({ length: config.editorsPerSession ?? 0 }, () => ({ url: config.baseUrl, makesEdits: true, observes: true }));
  session.editors = await Promise.all(
    roles.map(async ({ url, makesEdits, observes }, e): Promise<Editor> => {
      const token = await signToken(secret, { sub: `bench-editor-${e}`, tenant, role: 'admin' });
      const provider = new SessionProvider({ url, sessionId: id, token });
      await waitForSync(provider);
      const fieldMapping = provider.doc.getMap<unknown>('data_import').get('fieldMapping');
      if (!(fieldMapping instanceof Y.Map)) throw new Error(`session ${id}: data_import.fieldMapping is not a Y.Map after sync`);
      const editor: Editor = {
        session: index,
        index: e,
        makesEdits,
        observes,
        peers: roles.filter((role, j) => role.observes && j !== e).length,
        provider,
        fieldMapping,
        edits: [],
        pending: [],
        unsaved: [],
        lastSeen: new Int32Array(roles.length).fill(-1),
      };
      watchEditor(editor);
      return editor;
    }),
  );
  for (const editor of session.editors) if (editor.observes) observePeers(session, editor);
  return session;
}

// Set-up, a few sessions at a time.
const setupStartedAt = performance.now();
const indexes = Array.from({ length: config.sessionTo - config.sessionFrom }, (_, i) => config.sessionFrom + i);
const sessions: Session[] = [];
await runInPool(indexes.length, config.setupConcurrency, async (i) => {
  sessions[i] = await setUpSession(indexes[i]!);
});
const participants = sessions.flatMap((session) => session.editors);
const editors = participants.filter((editor) => editor.makesEdits);
const observerCount = participants.length - editors.length;
const sessionIds = sessions.map((session) => session.id);
const setupMs = performance.now() - setupStartedAt;
log(
  `${sessions.length} sessions, ${editors.length} editors${observerCount > 0 ? ` and ${observerCount} observers` : ''} connected and synced in ${(setupMs / 1000).toFixed(1)} s`,
);

await clock.readyThenGo({ sessions: sessions.length, editors: editors.length, observers: observerCount, sessionIds, setupMs }, config.warmupMs, config.durationMs);

function edit(editor: Editor, scheduledAt: number): void {
  const { sentAt, phase } = clock.send(scheduledAt);
  const sequence = editor.edits.length;
  const record: Edit = {
    sentAt,
    phase,
    ackAt: Number.NaN,
    savedAt: Number.NaN,
    refused: false,
    seenBy: 0,
    peers: editor.peers,
    queuedBehindUnacked: editor.pending.length > 0,
  };
  editor.edits.push(record);
  editor.pending.push(record);
  editor.unsaved.push(record);
  // The SDK sends the resulting Yjs update at once (or queues it behind the one in flight).
  editor.fieldMapping.set(`e${editor.index}`, editValue(sequence, sentAt));
}

/** Closed loop: the editor's next edit once nothing of it is pending, until the window ends. */
function nextClosedLoopEdit(editor: Editor): void {
  if (!clock.started || stopping || !editor.makesEdits || editor.pending.length > 0) return;
  setImmediate(() => {
    const now = performance.now();
    if (now < clock.windowEnd && !stopping && editor.pending.length === 0) edit(editor, now);
  });
}

for (const editor of editors) {
  if (config.closedLoop !== true) {
    clock.scheduleEdits(config.editsPerSecond, (at) => edit(editor, at));
  } else {
    // The first edit at a random phase within the send interval; the next ones as the acks come.
    const at = clock.base + Math.random() * (1000 / config.editsPerSecond);
    setTimeout(() => edit(editor, at), Math.max(0, at - performance.now()));
  }
}

const windowEdits = () => editors.flatMap((editor) => editor.edits.filter((e) => e.phase === 'window'));
const settled = () => windowEdits().every((e) => ((Number.isFinite(e.ackAt) && Number.isFinite(e.savedAt)) || e.refused) && e.seenBy >= e.peers);
const ending = await clock.afterWindow(settled, config.drainMs);
// Socket.IO does not reconnect by itself after the server closed the socket (`io server disconnect`).
const disconnected = participants.filter((editor) => !editor.provider.socket.connected).length;
if (disconnected > 0) ending.errors.after['editor still disconnected at the end'] = disconnected;
stopping = true;
for (const editor of participants) editor.provider.destroy();

const measured = windowEdits();
const result: LiveEditsResult = {
  processIndex: config.processIndex,
  sessions: sessions.length,
  editors: editors.length,
  observers: observerCount,
  sessionIds,
  setupMs,
  windowSeconds: config.durationMs / 1000,
  sent: clock.sent,
  ackedInWindow,
  ackedFramesInWindow,
  windowEdits: {
    sent: measured.length,
    acked: measured.filter((e) => Number.isFinite(e.ackAt)).length,
    saved: measured.filter((e) => Number.isFinite(e.savedAt)).length,
    refused: measured.filter((e) => e.refused).length,
    unacked: measured.filter((e) => !Number.isFinite(e.ackAt) && !e.refused).length,
    deliveredToAll: measured.filter((e) => e.seenBy >= e.peers).length,
    missingDeliveries: measured.reduce((total, e) => total + Math.max(0, e.peers - e.seenBy), 0),
    mergedDeliveries,
    queuedBehindUnacked: measured.filter((e) => e.queuedBehindUnacked).length,
  },
  samples: { ackMs: ackSamples.values(), savedMs: savedSamples.values(), peerMs: peerSamples.values(), allPeersMs: allPeersSamples.values() },
  origins: { ackMs: ackSamples.origins(), savedMs: savedSamples.origins(), peerMs: peerSamples.origins(), allPeersMs: allPeersSamples.origins() },
  ...ending,
};
log(
  `window: ${measured.length} edits made, ${result.windowEdits.acked} acked, ${result.windowEdits.deliveredToAll} seen by every peer; ` +
    `CPU ${((result.loadGenerator.cpuSeconds / result.windowSeconds) * 100).toFixed(0)} % of a core, event-loop delay p99 ${result.loadGenerator.eventLoopDelayMs.p99.toFixed(1)} ms`,
);
await sendResult(result);
