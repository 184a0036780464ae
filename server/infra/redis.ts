// The node's Redis connection (placement, Socket.IO fan-out, rate limits in later issues).
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

/**
 * Connects in the background and keeps reconnecting; commands fail fast while offline instead of
 * queueing (a queued lease renewal that runs late is worse than one that fails).
 */
export function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5_000),
  });
  let lastError = '';
  redis.on('error', (error: Error) => {
    // ioredis repeats the same error on each retry; log only when it changes.
    if (error.message !== lastError) log.warn({ err: error.message }, 'redis connection error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (lastError !== '') log.info('redis connection restored');
    lastError = '';
  });
  return redis;
}
