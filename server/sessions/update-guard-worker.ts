// Runs inside a worker thread: decodes and applies an untrusted Yjs update to a scratch document, so
// that an update that loops or exhausts memory (yjs issue 687 and relatives) costs a worker, which
// the guard terminates, and never the server's event loop.
import { parentPort } from 'node:worker_threads';
import * as Y from 'yjs';

parentPort!.on('message', ({ id, update }: { id: number; update: Uint8Array }) => {
  try {
    Y.decodeUpdate(update);
    const scratch = new Y.Doc();
    Y.applyUpdate(scratch, update);
    scratch.destroy();
    parentPort!.postMessage({ id, ok: true });
  } catch (error) {
    parentPort!.postMessage({ id, ok: false, message: (error as Error).message });
  }
});

// Modules are loaded: from now on the guard's clock measures decoding, not start-up.
parentPort!.postMessage({ ready: true });
