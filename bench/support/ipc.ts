// Load generators that must start together (several processes driving one server) talk to the
// harness over Node's IPC channel (structured clone, so typed arrays travel as they are):
// the child announces `ready` after its set-up, waits for `go` (a common wall-clock start time),
// then sends its `result` and exits. Meanwhile the harness may ask it questions (`request`, answered
// by a `reply`), e.g. whether its editors were acknowledged since a node was killed. The parent side
// is `startCoordinatedChild` in children.ts.

/** The harness's start signal: every child starts its warm-up at this wall-clock time. */
export type GoMessage = { type: 'go'; startAtEpochMs: number };

/** A question of the harness to a running child; the child answers with a reply of the same id. */
export type RequestMessage = { type: 'request'; id: number; value: unknown };

export type ChildMessage<Ready, Result> =
  | { type: 'ready'; value: Ready }
  | { type: 'result'; value: Result }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

function send(message: ChildMessage<unknown, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('this load generator must be started by the bench harness (no IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

/** Tells the harness the set-up is done, and resolves with its `go`. */
export async function readyThenWaitForGo<Ready>(value: Ready): Promise<GoMessage> {
  const go = new Promise<GoMessage>((resolve) => {
    const onMessage = (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'go') {
        process.off('message', onMessage);
        resolve(message as GoMessage);
      }
    };
    process.on('message', onMessage);
  });
  await send({ type: 'ready', value });
  return go;
}

/** Hands the result to the harness and closes the channel (the process may then exit). */
export async function sendResult<Result>(value: Result): Promise<void> {
  await send({ type: 'result', value });
  process.disconnect?.();
}

/** Answers the harness's requests with `handler` (in the order they come; each may take its time). */
export function answerRequests<Request, Reply>(handler: (request: Request) => Promise<Reply>): void {
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null || (message as { type?: unknown }).type !== 'request') return;
    const { id, value } = message as RequestMessage;
    handler(value as Request).then(
      (reply) => send({ type: 'reply', id, value: reply }),
      (error: unknown) => send({ type: 'reply', id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}
