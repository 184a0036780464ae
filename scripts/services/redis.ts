// A throwaway Redis on a free loopback port, with persistence off.
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { ensureAptPackage, findExecutable, spawnService, startInTempDir } from './system.ts';

export interface RedisService {
  url: string;
  stop(): Promise<void>;
}

async function answersPing(url: string): Promise<boolean> {
  // One attempt per poll: no reconnects, no offline queue, so a refused connection fails fast.
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

export async function startRedis(): Promise<RedisService> {
  const redisServer = await ensureAptPackage(() => findExecutable('redis-server'), 'redis-server');
  return startInTempDir('redis', async (dir, track) => {
    const port = await freePort();
    const server = track(
      spawnService({
        name: 'redis',
        command: redisServer,
        // No config file: defaults plus these. --dir keeps any file Redis might write in the temp dir.
        args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        logPath: path.join(dir, 'redis.log'),
        cwd: dir,
      }),
    );
    const url = `redis://127.0.0.1:${port}`;
    await server.waitUntilReady(() => answersPing(url), { timeoutMs: 15_000, what: `redis on port ${port} to answer PING` });
    return { url };
  });
}
