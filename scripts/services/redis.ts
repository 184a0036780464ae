// A throwaway Redis on a free loopback port, with persistence off.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { ensureAptPackage, findExecutable, spawnService, startInTempDir, type ServiceProcess } from './system.ts';

export interface RedisService {
  url: string;
  stop(): Promise<void>;
  /**
   * Stops Redis, waits `downtimeMs`, and starts it again on the same port (so clients reconnect to
   * the same URL). Persistence is off: the new Redis starts empty, as after a crash.
   */
  restart(downtimeMs?: number): Promise<void>;
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
    const url = `redis://127.0.0.1:${port}`;
    const launch = async (): Promise<ServiceProcess> => {
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
      await server.waitUntilReady(() => answersPing(url), { timeoutMs: 15_000, what: `redis on port ${port} to answer PING` });
      return server;
    };
    let server = await launch();
    return {
      url,
      restart: async (downtimeMs = 0) => {
        await server.stop();
        await sleep(downtimeMs);
        // `track` makes the new process the one the service's stop() stops.
        server = await launch();
      },
    };
  });
}
