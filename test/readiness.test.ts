// /readyz in the distributed mode: PostgreSQL, Redis and Kafka, each checked for real.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { freePort } from '../scripts/services/free-port.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, requiredEnv, type TestDatabase } from './support/isolation.ts';

type ReadyBody = { status: string; checks: Record<string, { ok: boolean; error?: string }> };

let server: RunningServer | undefined;
let database: TestDatabase | undefined;
afterEach(async () => {
  await server?.stop();
  await database?.drop();
  server = undefined;
  database = undefined;
});

async function start(env: Record<string, string>): Promise<RunningServer> {
  database = await createTestDatabase();
  server = await startServer(testConfig({ DATABASE_URL: database.url, READINESS_TIMEOUT_MS: '3000', ...env }), createLogger({ level: 'silent', nodeId: 't' }));
  return server;
}

async function readiness(url: string): Promise<{ status: number; body: ReadyBody }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as ReadyBody };
}

/** Redis and Kafka connect in the background after start: poll until `settled`, at most 10 s. */
async function readinessOnceSettled(url: string, settled: (body: ReadyBody) => boolean): Promise<{ status: number; body: ReadyBody }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const result = await readiness(url);
    if (settled(result.body) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('readiness with every dependency configured', () => {
  it('reports the database, Redis and Kafka as ready', async () => {
    const { url } = await start({ REDIS_URL: requiredEnv('TEST_REDIS_URL'), KAFKA_BROKERS: requiredEnv('TEST_KAFKA_BROKERS') });
    const { status, body } = await readinessOnceSettled(url, (b) => b.status === 'ready');
    expect(body.checks).toEqual({
      database: expect.objectContaining({ ok: true }),
      redis: expect.objectContaining({ ok: true }),
      kafka: expect.objectContaining({ ok: true }),
    });
    expect({ status, ready: body.status }).toEqual({ status: 200, ready: 'ready' });
  });

  it('answers 503 naming the dependency that is down', async () => {
    const closedPort = await freePort();
    const { url } = await start({ REDIS_URL: `redis://127.0.0.1:${closedPort}`, KAFKA_BROKERS: requiredEnv('TEST_KAFKA_BROKERS') });
    const { status, body } = await readinessOnceSettled(url, (b) => b.checks.kafka?.ok === true);
    expect(status).toBe(503);
    expect(body.status).toBe('not_ready');
    expect(body.checks.redis?.ok).toBe(false);
    expect(body.checks.redis?.error).toEqual(expect.any(String));
    expect(body.checks.database?.ok).toBe(true);
    expect(body.checks.kafka?.ok).toBe(true);
  });
});
