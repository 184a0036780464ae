// Checks untrusted Yjs updates in a worker thread with a time and memory limit before the session
// actor applies them. A check that overruns terminates the worker (a fresh one takes its place)
// and refuses the update; the event loop that serves everyone else never runs untrusted decoding
// first.
import { Worker } from 'node:worker_threads';
import { AppError } from '../../shared/errors.ts';

/** The update itself is unreadable (or unreadable in time): not merely invalid content. */
export class MalformedUpdate extends AppError {
  constructor(message: string) {
    super('VALIDATION_FAILED', message);
  }
}

type Pending = { id: number; update: Uint8Array; resolve: () => void; reject: (error: AppError) => void };

export type UpdateGuardOptions = { timeoutMs: number; maxHeapMb: number };

export class UpdateGuard {
  readonly #options: UpdateGuardOptions;
  readonly #queue: Pending[] = [];
  #worker: Worker | undefined;
  #workerReady = false;
  #current: Pending | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextId = 0;
  #closed = false;

  constructor(options: UpdateGuardOptions) {
    this.#options = options;
  }

  /** Resolves if the update decodes and applies within the limits; rejects with VALIDATION_FAILED. */
  check(update: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new AppError('SERVICE_UNAVAILABLE', 'shutting down'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: ++this.#nextId, update, resolve, reject });
      this.#next();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) pending.reject(new AppError('SERVICE_UNAVAILABLE', 'shutting down'));
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #spawn(): Worker {
    const worker = new Worker(new URL('./update-guard-worker.ts', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#options.maxHeapMb, maxYoungGenerationSizeMb: 16 },
    });
    worker.on('message', (reply: { ready?: true; id: number; ok: boolean; message?: string }) => {
      if (reply.ready) {
        this.#workerReady = true;
        this.#send();
        return;
      }
      if (this.#current?.id !== reply.id) return;
      if (reply.ok) this.#finish(undefined);
      else this.#finish(new MalformedUpdate(`malformed Yjs update: ${reply.message}`));
    });
    // Out of memory or a crash: the update that was being checked is the culprit.
    worker.on('error', () => this.#replaceWorker('the update exhausted the decoder'));
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    worker.unref();
    return worker;
  }

  #next(): void {
    if (this.#current || this.#closed) return;
    const pending = this.#queue.shift();
    if (!pending) return;
    this.#current = pending;
    if (this.#worker === undefined) {
      this.#workerReady = false;
      this.#worker = this.#spawn();
    }
    this.#send();
  }

  /** Hands the current update to a worker that has finished loading, and starts its clock. */
  #send(): void {
    if (!this.#workerReady || !this.#current || !this.#worker) return;
    this.#timer = setTimeout(() => this.#replaceWorker(`the update took more than ${this.#options.timeoutMs} ms to decode`), this.#options.timeoutMs);
    this.#worker.postMessage({ id: this.#current.id, update: this.#current.update });
  }

  #replaceWorker(reason: string): void {
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
    this.#finish(new MalformedUpdate(reason));
  }

  #finish(error: AppError | undefined): void {
    clearTimeout(this.#timer);
    const current = this.#current;
    this.#current = undefined;
    if (error) current?.reject(error);
    else current?.resolve();
    this.#next();
  }
}
