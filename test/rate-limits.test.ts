// Outbound rate limits per tenant and provider: counted in the real Redis (shared by every node of a
// cluster), refused with RATE_LIMITED and the wait, other tenants and providers untouched, an
// in-memory insurance limiter while Redis is unreachable; and through the server, a manual check
// beyond the budget answers 429 without calling the provider.
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createLogger } from '../server/logger.ts';
import { OutboundLimits } from '../server/integrations/rate-limits.ts';
import { startServer } from '../server/server.ts';
import { AppError } from '../shared/errors.ts';
import { api, tokenFor } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { failure } from './support/failures.ts';
import { requiredEnv, uniqueName } from './support/isolation.ts';
import { startN8nStandIn } from './support/n8n-standin.ts';

const clients: Redis[] = [];
afterAll(async () => {
  // quit() the live ones; the one that never connected has ended already (no retries).
  await Promise.all(clients.filter((client) => client.status === 'ready').map((client) => client.quit()));
});

/** A connection as the server makes it (no offline queue: commands fail at once while Redis is down). */
function redis(url = requiredEnv('TEST_REDIS_URL')): Redis {
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, retryStrategy: () => null });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

describe('outbound rate limits', () => {
  it('share one budget per tenant and provider across nodes through Redis', async () => {
    const keyPrefix = `${uniqueName('limits')}:`;
    const [a, b] = [redis(), redis()];
    await Promise.all([a, b].map((client) => new Promise((resolve) => client.once('ready', resolve))));
    // Two nodes, one Redis: three calls a minute between them.
    const nodeA = new OutboundLimits({ perMinute: 3, redis: a, keyPrefix });
    const nodeB = new OutboundLimits({ perMinute: 3, redis: b, keyPrefix });
    await nodeA.take('acme', 'stripe');
    await nodeB.take('acme', 'stripe');
    await nodeA.take('acme', 'stripe');
    const refused = await failure(nodeB.take('acme', 'stripe'));
    expect(refused).toBeInstanceOf(AppError);
    expect(refused.code).toBe('RATE_LIMITED');
    expect(refused.details).toMatchObject({ retryable: true, retryAfterMs: expect.any(Number) });
    expect(Number(refused.details?.retryAfterMs)).toBeGreaterThan(0);
    // Another provider of the tenant, and another tenant, have budgets of their own.
    await expect(nodeB.take('acme', 'n8n')).resolves.toBeUndefined();
    await expect(nodeA.take('globex', 'stripe')).resolves.toBeUndefined();
    // The counter lives in Redis under the prefix, not in the nodes.
    expect(await a.keys(`${keyPrefix}*`)).toEqual(expect.arrayContaining([expect.stringContaining('acme:stripe')]));
  });

  it('fall back to a per-node in-memory limit while Redis is unreachable', async () => {
    // A port nothing listens on: every Redis command fails at once.
    const down = redis('redis://127.0.0.1:1');
    const limits = new OutboundLimits({ perMinute: 2, redis: down, keyPrefix: `${uniqueName('down')}:` });
    await limits.take('acme', 'email');
    await limits.take('acme', 'email');
    expect((await failure(limits.take('acme', 'email'))).code).toBe('RATE_LIMITED');
  });

  it('answer 429 to a check beyond the budget, without calling the provider', async () => {
    const n8n = await startN8nStandIn();
    const server = await startServer(
      testConfig({ INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true', INTEGRATION_RATE_LIMIT_PER_MINUTE: '3', INTEGRATION_CHECK_INTERVAL_MS: '3600000' }),
      createLogger({ level: 'silent', nodeId: 'limits' }),
    );
    try {
      const client = api(server.url, await tokenFor('acme', 'admin'));
      // connect (1) and two checks (2, 3) spend the budget.
      expect((await client.put('/integrations/n8n', { credentials: { apiKey: n8n.apiKey }, config: { baseUrl: n8n.url } })).status).toBe(200);
      expect((await client.post('/integrations/n8n/check')).status).toBe(200);
      expect((await client.post('/integrations/n8n/check')).status).toBe(200);
      const requestsBefore = n8n.requests.length;
      const limited = await client.post<{ error: { code: string; details: { retryAfterMs: number } } }>('/integrations/n8n/check');
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('RATE_LIMITED');
      expect(limited.body.error.details.retryAfterMs).toBeGreaterThan(0);
      expect(n8n.requests.length).toBe(requestsBefore);
      // Another tenant is not affected.
      const other = api(server.url, await tokenFor('globex', 'admin'));
      expect((await other.put('/integrations/n8n', { credentials: { apiKey: n8n.apiKey }, config: { baseUrl: n8n.url } })).status).toBe(200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/integration_rate_limited_total\{kind="n8n",node="[^"]+"\} 1/);
    } finally {
      await server.stop();
      await n8n.close();
    }
  });
});
