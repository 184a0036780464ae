// Outbound rate limits per tenant and provider (rate-limiter-flexible): each integration actor takes
// a point before it calls its provider, so one tenant cannot exhaust a provider's quota or hammer
// it. In a cluster the counters live in Redis, shared by every node (an integration moves between
// nodes); should Redis fail, a per-node in-memory limiter stands in (insurance) rather than
// refusing every call or letting every call through. Embedded mode counts in memory.
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../../shared/errors.ts';
import type { IntegrationKind } from './provider.ts';

export type OutboundLimitOptions = {
  /** Calls per tenant and provider per minute. */
  perMinute: number;
  /** Cluster mode: shared counters. */
  redis?: Redis;
  keyPrefix: string;
};

export class OutboundLimits {
  readonly #limiter: RateLimiterAbstract;

  constructor(options: OutboundLimitOptions) {
    const shape = { points: options.perMinute, duration: 60 };
    const memory = new RateLimiterMemory({ ...shape, keyPrefix: `${options.keyPrefix}outbound` });
    this.#limiter = options.redis
      ? new RateLimiterRedis({ ...shape, storeClient: options.redis, keyPrefix: `${options.keyPrefix}outbound`, insuranceLimiter: memory })
      : memory;
  }

  /** Takes one call from the tenant's budget for `kind`; RATE_LIMITED (with retryAfterMs) when spent. */
  async take(tenantId: string, kind: IntegrationKind): Promise<void> {
    try {
      await this.#limiter.consume(`${tenantId}:${kind}`);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new AppError('RATE_LIMITED', `too many ${kind} calls for this tenant; retry later`, { retryable: true, retryAfterMs: error.msBeforeNext });
    }
  }
}
