// The Yjs part of the ceiling scenario (issue 7, scenario 6), in two modes, each its own process:
//
// - `generate`: makes the edit stream of the peers scenario ahead of time. Per document a
//   server-side state with `data_import.fieldMapping` as a Y.Map (as this server's session documents
//   hold it); per editor a Y.Doc synced to it. The editors edit in turn, as the peers scenario's open
//   loop does (every editor `editsPerSecond` times a simulated second, in a random order within it):
//   each edit is `fieldMapping.set('e<editor>', '<sequence>@<time>')` on the editor's own Y.Doc, and
//   the update it emits is captured. Writes the stream to `file` (framed: u32 document, u32 length,
//   update bytes) and the documents' initial states next to it (`<file>.init`, the same framing).
// - `measure`: loads the stream and the initial states into one server-side Y.Doc per document, then
//   does for every update what a server must do at least: `Y.applyUpdate` to the document and the
//   sync frame to broadcast (y-protocols `writeUpdate` → bytes). One thread, no I/O, no waiting: the
//   maximum edits/s and each edit's µs. The first `warmupEdits` are not measured (JIT warm-up).
//
// Prints one JSON document on stdout; progress goes to stderr.
import fs from 'node:fs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';
import { z } from 'zod';
import { mulberry32 } from '../../server/integrations/ai/training.ts';
import { readConfig } from '../support/load-report.ts';
import { summarizeLatencies, latencyHistogram } from '../support/stats.ts';

const configSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('generate'),
    file: z.string().min(1),
    docs: z.int().positive(),
    editorsPerDoc: z.int().positive(),
    editsPerSecond: z.int().positive(),
    /** Simulated seconds of editing: docs × editorsPerDoc × editsPerSecond × seconds edits. */
    seconds: z.int().positive(),
    seed: z.int(),
  }),
  z.strictObject({
    mode: z.literal('measure'),
    file: z.string().min(1),
    warmupEdits: z.int().nonnegative(),
  }),
]);

const config = readConfig((value) => configSchema.parse(value));
const log = (message: string) => console.error(`[yjs-ceiling ${config.mode}] ${message}`);

/** Framed records: u32 document index, u32 byte length, bytes. */
function writeFramed(file: string, records: readonly { doc: number; bytes: Uint8Array }[]): void {
  const total = records.reduce((sum, r) => sum + 8 + r.bytes.length, 0);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const { doc, bytes } of records) {
    out.writeUInt32LE(doc, offset);
    out.writeUInt32LE(bytes.length, offset + 4);
    out.set(bytes, offset + 8);
    offset += 8 + bytes.length;
  }
  fs.writeFileSync(file, out);
}

function readFramed(file: string): { doc: number; bytes: Uint8Array }[] {
  const data = fs.readFileSync(file);
  const records: { doc: number; bytes: Uint8Array }[] = [];
  for (let offset = 0; offset < data.length; ) {
    const doc = data.readUInt32LE(offset);
    const length = data.readUInt32LE(offset + 4);
    records.push({ doc, bytes: new Uint8Array(data.buffer, data.byteOffset + offset + 8, length) });
    offset += 8 + length;
  }
  return records;
}

if (config.mode === 'generate') {
  const started = performance.now();
  // Seeded, so that a run's stream can be made again.
  const rand = mulberry32(config.seed);
  const initial: { doc: number; bytes: Uint8Array }[] = [];
  type EditorDoc = { doc: number; index: number; ydoc: Y.Doc; map: Y.Map<unknown>; sequence: number; captured: Uint8Array | undefined };
  const editors: EditorDoc[] = [];
  for (let d = 0; d < config.docs; d += 1) {
    const server = new Y.Doc();
    server.getMap<unknown>('data_import').set('fieldMapping', new Y.Map<unknown>());
    const state = Y.encodeStateAsUpdate(server);
    initial.push({ doc: d, bytes: state });
    for (let e = 0; e < config.editorsPerDoc; e += 1) {
      const ydoc = new Y.Doc();
      Y.applyUpdate(ydoc, state, 'sync');
      const map = ydoc.getMap<unknown>('data_import').get('fieldMapping');
      if (!(map instanceof Y.Map)) throw new Error('fieldMapping is not a Y.Map after sync');
      const editor: EditorDoc = { doc: d, index: e, ydoc, map, sequence: 0, captured: undefined };
      ydoc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin !== 'sync') editor.captured = update;
      });
      editors.push(editor);
    }
  }
  const stream: { doc: number; bytes: Uint8Array }[] = [];
  const order = editors.slice();
  for (let tick = 0; tick < config.seconds * config.editsPerSecond; tick += 1) {
    // Every editor once per tick, in a fresh random order (the open loop's random phases).
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const tickMs = (tick * 1000) / config.editsPerSecond;
    for (const editor of order) {
      editor.captured = undefined;
      editor.map.set(`e${editor.index}`, `${editor.sequence}@${(tickMs + rand() * (1000 / config.editsPerSecond)).toFixed(3)}`);
      editor.sequence += 1;
      if (editor.captured === undefined) throw new Error('an edit emitted no update');
      stream.push({ doc: editor.doc, bytes: editor.captured });
    }
  }
  writeFramed(config.file, stream);
  writeFramed(`${config.file}.init`, initial);
  const bytes = stream.reduce((sum, r) => sum + r.bytes.length, 0);
  log(`${stream.length} updates of ${config.docs} documents (${(bytes / stream.length).toFixed(1)} bytes each on average) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(`${JSON.stringify({ updates: stream.length, averageUpdateBytes: bytes / stream.length })}\n`);
} else {
  const initial = readFramed(`${config.file}.init`);
  const stream = readFramed(config.file);
  const docs = initial.map(({ bytes }) => {
    const ydoc = new Y.Doc();
    Y.applyUpdate(ydoc, bytes);
    return ydoc;
  });
  if (config.warmupEdits >= stream.length) throw new Error(`warmupEdits ${config.warmupEdits} ≥ ${stream.length} updates`);
  const measured = stream.length - config.warmupEdits;
  const perEdit = new Float64Array(measured);
  let frameBytes = 0;
  const cpuBefore = process.cpuUsage();
  let windowStart = performance.now();
  for (let i = 0; i < stream.length; i += 1) {
    if (i === config.warmupEdits) windowStart = performance.now();
    const { doc, bytes } = stream[i]!;
    const t0 = performance.now();
    Y.applyUpdate(docs[doc]!, bytes, 'client');
    const encoder = encoding.createEncoder();
    syncProtocol.writeUpdate(encoder, bytes);
    const frame = encoding.toUint8Array(encoder);
    const t1 = performance.now();
    frameBytes += frame.length;
    if (i >= config.warmupEdits) perEdit[i - config.warmupEdits] = (t1 - t0) * 1000;
  }
  const seconds = (performance.now() - windowStart) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  // Every document must end with every editor's last value (the loop really applied the stream).
  const keys = docs.reduce((sum, ydoc) => {
    const map = ydoc.getMap<unknown>('data_import').get('fieldMapping');
    return sum + (map instanceof Y.Map ? map.size : 0);
  }, 0);
  const summary = summarizeLatencies(perEdit);
  log(`${measured} edits in ${seconds.toFixed(2)} s: ${Math.round(measured / seconds)} edits/s, p50 ${summary.p50.toFixed(1)} µs, p99 ${summary.p99.toFixed(1)} µs`);
  process.stdout.write(
    `${JSON.stringify({
      edits: measured,
      warmupEdits: config.warmupEdits,
      seconds,
      editsPerSecond: measured / seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      perEditUs: summary,
      histogramUs: latencyHistogram(perEdit),
      averageFrameBytes: frameBytes / stream.length,
      documents: docs.length,
      keysAtEnd: keys,
    })}\n`,
  );
}
