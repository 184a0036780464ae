// The benchmark's own child processes (servers under test, load generators) and their cleanup:
// whatever way the run ends (normal end, thrown error, Ctrl-C) none of them is left running.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../scripts/services/free-port.ts';
import { REPO_ROOT, startServerProcess, type ServerProcess } from '../../test/support/server-process.ts';
import type { ChildMessage, GoMessage, RequestMessage } from './ipc.ts';

const live = new Map<number, () => void>();
let exitHookInstalled = false;

function remember(pid: number, killNow: () => void): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: SIGKILL is all that is left by then.
    process.on('exit', killAllNow);
  }
  live.set(pid, killNow);
}

/**
 * Puts a process the harness did not start through this module (a cluster node) under the same
 * cleanup; it is forgotten when it exits.
 */
export function trackProcess(pid: number, killNow: () => void, exited: Promise<unknown>): void {
  remember(pid, killNow);
  void exited.then(() => live.delete(pid));
}

/** SIGKILLs every child still running (Ctrl-C, or a failure that skipped the orderly stop). */
export function killAllNow(): void {
  for (const kill of live.values()) kill();
  live.clear();
}

export type BenchServer = {
  pid: number;
  baseUrl: string;
  /** SIGTERM (graceful drain), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  stderr(): string;
};

/**
 * Runs `node server/main.ts` as users do, with exactly `env` (plus PATH and HOME). At LOG_LEVEL=warn
 * the server does not log its "server listening" line, so it gets a free port picked here and is
 * ready when /healthz answers.
 */
export async function startBenchServer(env: Record<string, string>, startTimeoutMs = 60_000): Promise<BenchServer> {
  const port = await freePort();
  // BENCH_SERVER_NODE_OPTIONS reaches the server only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it under load).
  const nodeOptions = process.env.BENCH_SERVER_NODE_OPTIONS;
  const server: ServerProcess = startServerProcess({ ...env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}), PORT: String(port), HOST: '127.0.0.1' });
  const pid = server.child.pid;
  if (pid === undefined) throw new Error('the server could not be spawned');
  remember(pid, () => server.signal('SIGKILL'));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async (timeoutMs = 15_000) => {
    server.signal('SIGTERM');
    const stopped = await Promise.race([server.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!stopped) {
      server.signal('SIGKILL');
      await server.exited;
    }
    live.delete(pid);
  };

  const deadline = performance.now() + startTimeoutMs;
  let exited = false;
  void server.exited.then(() => (exited = true));
  for (;;) {
    if (exited) {
      live.delete(pid);
      throw new Error(`the server exited before it was ready:\n${server.stderr()}`);
    }
    try {
      const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      await stop(5_000);
      throw new Error(`the server was not ready within ${startTimeoutMs} ms:\n${server.stderr()}`);
    }
    await sleep(100);
  }
  return { pid, baseUrl, stop, stderr: server.stderr };
}

/**
 * Runs a bench/ script in its own Node process with `config` as its one JSON argument, and parses
 * the JSON document it prints on stdout. Its stderr (progress) goes to ours. Killed after
 * `timeoutMs`.
 */
export function runJsonChild<T>(script: string, config: unknown, env: Record<string, string>, timeoutMs: number): Promise<T> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, script), JSON.stringify(config)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = child.pid;
  if (pid !== undefined) remember(pid, () => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      if (code !== 0) {
        reject(new Error(`${script} failed (${code ?? signal})`));
        return;
      }
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no JSON result:\n${stdout.slice(-2000)}`));
      }
    });
  });
}

export type CoordinatedChild<Ready, Result> = {
  pid: number;
  /** What the child announced once its set-up was done; rejects if it failed before. */
  ready: Promise<Ready>;
  /** The child's result; rejects if it fails, exits without one, or outlives `timeoutMs`. */
  result: Promise<Result>;
  /** Starts the child's load (see bench/support/ipc.ts). */
  go(message: GoMessage): void;
  /** Asks the running child a question (see answerRequests in ipc.ts); rejects if it fails or exits first. */
  request<Reply>(value: unknown): Promise<Reply>;
};

/**
 * Runs a bench/ script that coordinates with the harness over IPC (bench/support/ipc.ts): several
 * of them set up in parallel, then start at one wall-clock time. `config` is its one JSON
 * argument; its stdout and stderr go to our stderr. Killed after `timeoutMs` in all.
 */
export function startCoordinatedChild<Ready, Result>(
  script: string,
  config: unknown,
  env: Record<string, string>,
  timeoutMs: number,
): CoordinatedChild<Ready, Result> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, script), JSON.stringify(config)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 2, 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${script} could not be spawned`);
  remember(pid, () => child.kill('SIGKILL'));
  let resolveReady: (value: Ready) => void = () => {};
  let rejectReady: (error: Error) => void = () => {};
  const ready = new Promise<Ready>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // A child that fails during set-up rejects both; whoever awaits `result` hears of it.
  ready.catch(() => {});
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextRequest = 1;
  const result = new Promise<Result>((resolve, reject) => {
    let outcome: { value: Result } | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const error = new Error(`${script} did not finish within ${timeoutMs} ms`);
      rejectReady(error);
      reject(error);
    }, timeoutMs);
    child.on('message', (raw: unknown) => {
      const message = raw as ChildMessage<Ready, Result>;
      if (message.type === 'ready') resolveReady(message.value);
      else if (message.type === 'result') outcome = { value: message.value };
      else if (message.type === 'reply') {
        const request = pending.get(message.id);
        pending.delete(message.id);
        if (message.error !== undefined) request?.reject(new Error(`${script}: ${message.error}`));
        else request?.resolve(message.value);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      rejectReady(error);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(pid);
      const failure = new Error(`${script} ${code === 0 ? 'exited without a result' : `failed (${code ?? signal})`}`);
      rejectReady(failure);
      for (const request of pending.values()) request.reject(failure);
      pending.clear();
      if (code === 0 && outcome) resolve(outcome.value);
      else reject(failure);
    });
  });
  return {
    pid,
    ready,
    result,
    go: (message) => {
      if (child.connected) child.send(message);
    },
    request: <Reply>(value: unknown) =>
      new Promise<Reply>((resolve, reject) => {
        if (!child.connected) {
          reject(new Error(`${script} is not running`));
          return;
        }
        const id = nextRequest++;
        pending.set(id, { resolve: (reply) => resolve(reply as Reply), reject });
        child.send({ type: 'request', id, value } satisfies RequestMessage);
      }),
  };
}
