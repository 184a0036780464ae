// Checks untrusted Yjs updates in a worker thread with a time and memory limit before the session
// actor applies them. Updates that queue up while the worker is busy go to it together, in one
// message. A batch that overruns its budget terminates the worker (a fresh one takes its place);
// its updates are then checked one by one, so only the culprit is refused. The event loop that
// serves everyone else never runs untrusted decoding first.
import { Worker } from 'node:worker_threads';
import { AppError } from '../../shared/errors.ts';

/** The update itself is unreadable (or unreadable in time): not merely invalid content. */
export class MalformedUpdate extends AppError {
  constructor(message: string) {
    super('VALIDATION_FAILED', message);
  }
}

type Pending = { update: Uint8Array; resolve: () => void; reject: (error: AppError) => void; alone: boolean };
type Verdict = { ok: true } | { ok: false; message: string };

export type UpdateGuardOptions = {
  /** Budget of one update; a batch gets this per update, at most 10 times. */
  timeoutMs: number;
  maxHeapMb: number;
  /** Most updates sent to the worker in one message. */
  maxBatch?: number;
};

export class UpdateGuard {
  readonly #options: UpdateGuardOptions;
  #queue: Pending[] = [];
  #worker: Worker | undefined;
  #workerReady = false;
  #batch: { id: number; items: Pending[] } | undefined;
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
      this.#queue.push({ update, resolve, reject, alone: false });
      this.#next();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of [...this.#queue.splice(0), ...(this.#batch?.items ?? [])]) {
      pending.reject(new AppError('SERVICE_UNAVAILABLE', 'shutting down'));
    }
    this.#batch = undefined;
    clearTimeout(this.#timer);
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #spawn(): Worker {
    const worker = new Worker(new URL('./update-guard-worker.ts', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#options.maxHeapMb, maxYoungGenerationSizeMb: 16 },
    });
    worker.on('message', (reply: { ready?: true; id: number; verdicts: Verdict[] }) => {
      if (reply.ready) {
        this.#workerReady = true;
        this.#send();
      } else if (this.#batch?.id === reply.id) {
        this.#settle(reply.verdicts);
      }
    });
    // Out of memory or a crash: the batch being checked holds the culprit.
    worker.on('error', () => this.#overrun('the update exhausted the decoder'));
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    // Never keep a process alive on its own (the server's sockets do that).
    worker.unref();
    return worker;
  }

  #next(): void {
    if (this.#batch || this.#closed || this.#queue.length === 0) return;
    // A suspect (from an overrun batch) is checked alone; otherwise take what queued up.
    const size = this.#queue[0]!.alone ? 1 : Math.min(this.#queue.length, this.#options.maxBatch ?? 64);
    const items = this.#queue.splice(0, size);
    const firstSuspect = items.findIndex((item, index) => index > 0 && item.alone);
    if (firstSuspect > 0) this.#queue.unshift(...items.splice(firstSuspect));
    this.#batch = { id: ++this.#nextId, items };
    if (this.#worker === undefined) {
      this.#workerReady = false;
      this.#worker = this.#spawn();
    }
    this.#send();
  }

  /** Hands the batch to a worker that has finished loading, and starts its clock. */
  #send(): void {
    if (!this.#workerReady || !this.#batch || !this.#worker) return;
    const budget = this.#options.timeoutMs * Math.min(this.#batch.items.length, 10);
    this.#timer = setTimeout(() => this.#overrun(`the update took more than ${this.#options.timeoutMs} ms to decode`), budget);
    this.#worker.postMessage({ id: this.#batch.id, updates: this.#batch.items.map((item) => item.update) });
  }

  #settle(verdicts: Verdict[]): void {
    clearTimeout(this.#timer);
    const items = this.#batch?.items ?? [];
    this.#batch = undefined;
    items.forEach((item, index) => {
      const verdict = verdicts[index];
      if (verdict?.ok) item.resolve();
      else item.reject(new MalformedUpdate(`malformed Yjs update: ${verdict?.message ?? 'no verdict'}`));
    });
    this.#next();
  }

  #overrun(reason: string): void {
    clearTimeout(this.#timer);
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
    const items = this.#batch?.items ?? [];
    this.#batch = undefined;
    if (items.length === 1) {
      items[0]!.reject(new MalformedUpdate(reason));
    } else {
      // Somebody in the batch is the culprit: check each alone, first in line.
      this.#queue.unshift(...items.map((item) => ({ ...item, alone: true })));
    }
    this.#next();
  }
}
