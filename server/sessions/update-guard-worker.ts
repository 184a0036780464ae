// Runs inside a worker thread: decodes and applies untrusted Yjs updates to scratch documents, so
// that an update that loops or exhausts memory (yjs issue 687 and relatives) costs a worker, which
// the guard terminates, and never the server's event loop. Updates come in batches (one message
// round trip for all that queued up); each gets its own verdict.
import { parentPort } from 'node:worker_threads';
import * as Y from 'yjs';

function verdict(update: Uint8Array): { ok: true } | { ok: false; message: string } {
  try {
    Y.decodeUpdate(update);
    const scratch = new Y.Doc();
    Y.applyUpdate(scratch, update);
    scratch.destroy();
    return { ok: true };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

parentPort!.on('message', ({ id, updates }: { id: number; updates: Uint8Array[] }) => {
  parentPort!.postMessage({ id, verdicts: updates.map(verdict) });
});

// Modules are loaded: from now on the guard's clock measures decoding, not start-up.
parentPort!.postMessage({ ready: true });
