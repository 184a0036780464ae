// Load generator of the peers scenario for the peer servers (Hocuspocus 3, @y/websocket-server),
// run in its own process. Each of `docs` documents gets `editorsPerDoc` editors (edit only) and
// `observersPerDoc` read-only observers (observe only), every one an unmodified client of the peer
// (`HocuspocusProvider` or y-websocket's `WebsocketProvider`) with its own WebSocket and Y.Doc. After
// the harness's `go`, every editor sets its own key `e<editor>` of the shared Y.Map `fieldMapping`
// `editsPerSecond` times a second (open loop, random phase) to "<seq>@<send time>" on this process's
// high-resolution clock: the same Yjs operation the glavito target makes through the SDK (see
// bench/scenarios/peers.ts). An observer's Y.Doc observing the value gives the edit-to-peer latency.
// Sends a LiveEditsResult (no acknowledgement: neither peer acknowledges an edit) over IPC.
// Every client connects to `url` (the peers scenario, one node), or, with `layouts` (the
// peers-cluster scenario, several nodes), document d's editor e to layouts[d].editorUrls[e] and its
// observer o to layouts[d].observerUrls[o].
//
// The clients are loaded at run time from bench/peers/clients.ts, which resolves them (and its one
// copy of Yjs) from bench/peers/node_modules: they are not dependencies of the server, and the
// root type-check sees only the minimal interfaces below.
import type * as YTypes from 'yjs';
import { z } from 'zod';
import { sendResult } from '../support/ipc.ts';
import { EditClock, editValue } from '../support/live-edits-clock.ts';
import type { LiveEditsResult, Phase } from '../support/live-edits-result.ts';
import { runInPool } from '../support/load-loop.ts';
import { readConfig } from '../support/load-report.ts';

const wsUrl = z.string().regex(/^ws:\/\//);
const configSchema = z
  .strictObject({
  processIndex: z.int().nonnegative(),
  target: z.enum(['hocuspocus', 'y-websocket']),
  /** ws://host:port of the peer server, for every client; or else `layouts`. */
  url: wsUrl.optional(),
  /** Per document of this process, in order: where its editors and its observers connect (ws://host:port each). */
  layouts: z.array(z.strictObject({ editorUrls: z.array(wsUrl), observerUrls: z.array(wsUrl) })).optional(),
  docPrefix: z.string().regex(/^[a-z0-9-]+$/),
  docFrom: z.int().nonnegative(),
  docTo: z.int().positive(),
  editorsPerDoc: z.int().positive(),
  observersPerDoc: z.int().positive(),
  editsPerSecond: z.number().positive(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
  drainMs: z.int().nonnegative(),
  setupConcurrency: z.int().positive(),
  syncTimeoutMs: z.int().positive(),
})
  .refine(
    (c) =>
      (c.url === undefined) !== (c.layouts === undefined) &&
      (c.layouts === undefined ||
        (c.layouts.length === c.docTo - c.docFrom && c.layouts.every((l) => l.editorUrls.length === c.editorsPerDoc && l.observerUrls.length === c.observersPerDoc))),
    'exactly one of url and layouts (one per document, editorsPerDoc editor URLs and observersPerDoc observer URLs each)',
  );
const config = readConfig((value) => configSchema.parse(value));
const log = (message: string) => console.error(`[peer-edits ${config.target} ${config.processIndex}] ${message}`);

/** What this file uses of the peers' clients (bench/peers/clients.ts). */
type Listener = (...args: never[]) => void;
type Provider = { on(event: string, listener: Listener): void; destroy(): void };
type PeerClients = {
  Y: typeof YTypes;
  WebSocket: unknown;
  WebsocketProvider: new (serverUrl: string, room: string, doc: YTypes.Doc, options: { WebSocketPolyfill: unknown; disableBc: boolean }) => Provider & { synced: boolean; wsconnected: boolean };
  HocuspocusProvider: new (options: { url: string; name: string; document: YTypes.Doc; WebSocketPolyfill: unknown }) => Provider & { isSynced: boolean };
};
const clientsUrl = new URL('../peers/clients.ts', import.meta.url).href;
const clients = (await import(clientsUrl)) as PeerClients;
const { Y } = clients;

type Edit = { sentAt: number; phase: Phase; seenBy: number };
type Client = { doc: number; index: number; provider: Provider; map: YTypes.Map<unknown>; edits: Edit[]; lastSeen: Int32Array };

const clock = new EditClock();
let stopping = false;

const peerMs: number[] = [];
const peerOrigin: [number, number][] = [];
const allPeersMs: number[] = [];
const allOrigin: [number, number][] = [];
let mergedDeliveries = 0;

/** Where client `index` (an editor, or else an observer) of document `doc` connects. */
function urlOf(doc: number, role: 'editor' | 'observer', index: number): string {
  if (config.url !== undefined) return config.url;
  const layout = config.layouts![doc - config.docFrom]!;
  return (role === 'editor' ? layout.editorUrls : layout.observerUrls)[index]!;
}

function connect(doc: number, role: 'editor' | 'observer', index: number): Promise<Client> {
  const url = urlOf(doc, role, index);
  const ydoc = new Y.Doc();
  const name = `${config.docPrefix}-${doc}`;
  return new Promise<Client>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: client ${index} not synced within ${config.syncTimeoutMs} ms`)), config.syncTimeoutMs);
    let provider: Provider;
    let synced = false;
    const done = () => {
      if (synced) return;
      synced = true;
      clearTimeout(timer);
      resolve({ doc, index, provider, map: ydoc.getMap<unknown>('fieldMapping'), edits: [], lastSeen: new Int32Array(config.editorsPerDoc).fill(-1) });
    };
    if (config.target === 'hocuspocus') {
      const hp = new clients.HocuspocusProvider({ url, name, document: ydoc, WebSocketPolyfill: clients.WebSocket });
      provider = hp;
      hp.on('synced', done);
      hp.on('disconnect', () => {
        if (!stopping) clock.countError('disconnect');
      });
      hp.on('authenticationFailed', () => clock.countError('authentication failed'));
    } else {
      const wp = new clients.WebsocketProvider(url, name, ydoc, { WebSocketPolyfill: clients.WebSocket, disableBc: true });
      provider = wp;
      wp.on('sync', ((isSynced: boolean) => {
        if (isSynced) done();
      }) as Listener);
      wp.on('connection-close', () => {
        if (!stopping) clock.countError('disconnect');
      });
      wp.on('connection-error', () => clock.countError('connection error'));
    }
  });
}

type Doc = { index: number; editors: Client[]; observers: Client[] };

function observe(docState: Doc, observer: Client): void {
  // An observer never edits: every change it sees is remote.
  clock.observeEdits(observer.map, docState.editors, (from, sequence, _sentAt, now) => {
    const last = observer.lastSeen[from.index] ?? -1;
    if (sequence <= last) return;
    for (let s = last + 1; s <= sequence; s += 1) {
      const edit = from.edits[s];
      if (edit === undefined) continue;
      edit.seenBy += 1;
      if (edit.phase !== 'window') continue;
      peerMs.push(now - edit.sentAt);
      peerOrigin.push([docState.index, config.editorsPerDoc + observer.index]);
      if (s !== sequence) mergedDeliveries += 1;
      if (edit.seenBy === config.observersPerDoc) {
        allPeersMs.push(now - edit.sentAt);
        allOrigin.push([docState.index, from.index]);
      }
    }
    observer.lastSeen[from.index] = sequence;
  });
}

const setupStartedAt = performance.now();
const docIndexes = Array.from({ length: config.docTo - config.docFrom }, (_, i) => config.docFrom + i);
const docs: Doc[] = [];
await runInPool(docIndexes.length, config.setupConcurrency, async (i) => {
  const index = docIndexes[i]!;
  const editors = await Promise.all(Array.from({ length: config.editorsPerDoc }, (_, e) => connect(index, 'editor', e)));
  const observers = await Promise.all(Array.from({ length: config.observersPerDoc }, (_, o) => connect(index, 'observer', o)));
  const state: Doc = { index, editors, observers };
  for (const observer of observers) observe(state, observer);
  docs[i] = state;
});
const editors = docs.flatMap((d) => d.editors);
const observers = docs.flatMap((d) => d.observers);
const setupMs = performance.now() - setupStartedAt;
log(`${docs.length} documents, ${editors.length} editors and ${observers.length} observers connected and synced in ${(setupMs / 1000).toFixed(1)} s`);

const docNames = docs.map((d) => `${config.docPrefix}-${d.index}`);
await clock.readyThenGo({ sessions: docs.length, editors: editors.length, observers: observers.length, sessionIds: docNames, setupMs }, config.warmupMs, config.durationMs);

function edit(editor: Client, scheduledAt: number): void {
  const { sentAt, phase } = clock.send(scheduledAt);
  const sequence = editor.edits.length;
  editor.edits.push({ sentAt, phase, seenBy: 0 });
  // The provider sends the resulting Yjs update at once.
  editor.map.set(`e${editor.index}`, editValue(sequence, sentAt));
}
for (const editor of editors) clock.scheduleEdits(config.editsPerSecond, (at) => edit(editor, at));

const windowEdits = () => editors.flatMap((e) => e.edits.filter((edit) => edit.phase === 'window'));
const ending = await clock.afterWindow(() => windowEdits().every((e) => e.seenBy >= config.observersPerDoc), config.drainMs);
const measured = windowEdits();
stopping = true;
for (const client of [...editors, ...observers]) client.provider.destroy();

const origins = (list: [number, number][]) => ({ session: Uint32Array.from(list, (o) => o[0]), participant: Uint16Array.from(list, (o) => o[1]) });
const empty = { session: new Uint32Array(0), participant: new Uint16Array(0) };
const result: LiveEditsResult = {
  processIndex: config.processIndex,
  sessions: docs.length,
  editors: editors.length,
  observers: observers.length,
  sessionIds: docNames,
  setupMs,
  windowSeconds: config.durationMs / 1000,
  sent: clock.sent,
  ackedInWindow: 0,
  ackedFramesInWindow: 0,
  windowEdits: {
    sent: measured.length,
    acked: 0,
    saved: 0,
    refused: 0,
    // Neither peer acknowledges an edit: nothing is "unacknowledged" either.
    unacked: 0,
    deliveredToAll: measured.filter((e) => e.seenBy >= config.observersPerDoc).length,
    missingDeliveries: measured.reduce((total, e) => total + Math.max(0, config.observersPerDoc - e.seenBy), 0),
    mergedDeliveries,
    queuedBehindUnacked: 0,
  },
  samples: { ackMs: new Float64Array(0), savedMs: new Float64Array(0), peerMs: Float64Array.from(peerMs), allPeersMs: Float64Array.from(allPeersMs) },
  origins: { ackMs: empty, savedMs: empty, peerMs: origins(peerOrigin), allPeersMs: origins(allOrigin) },
  ...ending,
};
log(
  `window: ${measured.length} edits made, ${result.windowEdits.deliveredToAll} seen by every observer; ` +
    `CPU ${((result.loadGenerator.cpuSeconds / result.windowSeconds) * 100).toFixed(0)} % of a core, event-loop delay p99 ${result.loadGenerator.eventLoopDelayMs.p99.toFixed(1)} ms`,
);
await sendResult(result);
// The clients' timers (awareness, reconnects) would keep the process alive.
process.exit(0);
