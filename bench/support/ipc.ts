// Load generators that must start together (several processes driving one server) talk to the
// harness over Node's IPC channel (structured clone, so typed arrays travel as they are):
// the child announces `ready` after its set-up, waits for `go` (a common wall-clock start time),
// then sends its `result` and exits. The parent side is `startCoordinatedChild` in children.ts.

/** The harness's start signal: every child starts its warm-up at this wall-clock time. */
export type GoMessage = { type: 'go'; startAtEpochMs: number };

export type ChildMessage<Ready, Result> = { type: 'ready'; value: Ready } | { type: 'result'; value: Result };

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
