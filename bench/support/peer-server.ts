// Starting a peer server of the peers scenarios (bench/peers/hocuspocus.ts, bench/peers/y-websocket.ts)
// as a process of its own, under the harness's cleanup; ready when it prints `ready <port>`. The
// peers-cluster scenario starts several Hocuspocus nodes joined by its Redis extension
// (startPeerNodes).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../scripts/services/free-port.ts';
import { REPO_ROOT } from '../../test/support/server-process.ts';
import { trackProcess } from './children.ts';

export type PeerName = 'hocuspocus' | 'y-websocket';
export type PeerServer = { pid: number; url: string; stop(): Promise<void>; stderr(): string };

/** Hocuspocus's Redis extension: the Redis every node shares, and the key prefix of this set of nodes. */
export type PeerRedis = { url: string; prefix: string };
export type PeerServerOptions = { startTimeoutMs?: number; redis?: PeerRedis };

/**
 * `sqliteFile`: Hocuspocus's database (its SQLite extension); y-websocket keeps documents in memory.
 * `options.redis` (Hocuspocus only) enables its Redis extension.
 */
export async function startPeerServer(peer: PeerName, sqliteFile: string, options: PeerServerOptions = {}): Promise<PeerServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  if (options.redis !== undefined && peer !== 'hocuspocus') throw new Error(`${peer} has no Redis (multi-node) mode`);
  const port = await freePort();
  const args =
    peer === 'hocuspocus'
      ? ['bench/peers/hocuspocus.ts', String(port), sqliteFile, ...(options.redis !== undefined ? [options.redis.url, options.redis.prefix] : [])]
      : ['bench/peers/y-websocket.ts', String(port)];
  const child = spawn(process.execPath, args.map((arg, i) => (i === 0 ? path.join(REPO_ROOT, arg) : arg)), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${peer} could not be spawned`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  trackProcess(pid, () => child.kill('SIGKILL'), exited);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
  const stop = async () => {
    child.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = performance.now() + startTimeoutMs;
  while (!stdout.includes(`ready ${port}`)) {
    if (gone) throw new Error(`${peer} exited before it was ready:\n${stderr}`);
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${peer} was not ready within ${startTimeoutMs} ms:\n${stderr}`);
    }
    await sleep(50);
  }
  return { pid, url: `ws://127.0.0.1:${port}`, stop, stderr: () => stderr };
}

/**
 * `count` nodes of a peer, one after the other (each on a port of its own), `sqliteFile(i)` the
 * database of node i; with `options.redis` joined through it. If one fails to start, the ones
 * already started are stopped.
 */
export async function startPeerNodes(peer: PeerName, count: number, sqliteFile: (node: number) => string, options: PeerServerOptions = {}): Promise<PeerServer[]> {
  const nodes: PeerServer[] = [];
  try {
    for (let i = 0; i < count; i += 1) nodes.push(await startPeerServer(peer, sqliteFile(i), options));
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return nodes;
}
