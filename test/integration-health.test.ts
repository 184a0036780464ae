// The integration health stream end to end, through a real in-process server (PostgreSQL, the real
// Kafka broker) and the n8n stand-in: three tenants' n8n integrations point at one stand-in, which
// then answers 500. Checks fail, the n8n breaker (one per kind per node) opens, checks answer
// "circuit open" without calling n8n, and once n8n recovers one half-open probe closes the breaker
// and every integration comes back. The /ops sockets see only their own tenant's changes (ops sees
// all, agents are refused), and Kafka carries tenant A's status and health changes in order.
//
// Requests to the stand-in go through a counting proxy; the breaker's transitions come from the
// server's log (the breaker logs each one synchronously). Both land on one timeline, in the order
// they happened, so "no request while open" is checked exactly rather than by timing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { IntegrationView } from '../shared/integrations.ts';
import { OutboxEvent } from '../server/db/entities.ts';
import { integrationEventSchemas, type IntegrationEventType } from '../server/events/integration-events.ts';
import { CONFIGURATION_TOPIC, INTEGRATION_HEALTH_TOPIC } from '../server/events/topics.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { api, tokenFor, type Api } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createTestDatabase, requiredEnv, uniqueName, type TestDatabase } from './support/isolation.ts';
import { startN8nStandIn, type N8nStandIn } from './support/n8n-standin.ts';
import { OpsWatcher, type HealthEvent } from './support/ops-client.ts';

const DEADLINE_MS = 20_000;
/** What a check answered by the open breaker records (resilience.ts, INTEGRATION_CIRCUIT_OPEN). */
const CIRCUIT_OPEN = /^n8n keeps failing: calls are paused/;
const SERVER_ERROR = /^n8n answered 500/;

type Entry = { type: 'request'; path: string } | { type: 'breaker'; state: string } | { type: 'fault'; on: boolean };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A pass-through proxy in front of the stand-in that notes each request it forwards. */
async function countingProxy(target: string, onRequest: (path: string) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    onRequest(req.url ?? '/');
    const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The value of one sample of `name` on GET /metrics whose labels include `labels`. */
async function metric(baseUrl: string, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...match[2]!.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/**
 * Each health event's `changed` says whether its outcome differs from the previous check's
 * (healthy ↔ unhealthy, or another error), starting from a healthy integration.
 */
function expectChangedFlags(events: readonly HealthEvent[]): void {
  let previous = { isHealthy: true, errorMessage: null as string | null };
  const wrong = events.flatMap((event, index) => {
    const current = { isHealthy: event.integration.health?.isHealthy ?? false, errorMessage: event.integration.errorMessage };
    const expected = current.isHealthy !== previous.isHealthy || current.errorMessage !== previous.errorMessage;
    previous = current;
    return event.changed === expected ? [] : [{ index, changed: event.changed, ...current }];
  });
  expect(wrong).toEqual([]);
}

describe('integration health: breaker, /ops stream and Kafka', () => {
  const timeline: Entry[] = [];
  const logged: Record<string, unknown>[] = [];
  let standIn: N8nStandIn;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  let database: TestDatabase;
  let server: RunningServer;
  const tenants = { a: uniqueName('tenant-a'), b: uniqueName('tenant-b'), c: uniqueName('tenant-c') };
  const admins = {} as Record<keyof typeof tenants, Api>;
  const watchers: OpsWatcher[] = [];
  let watchA: OpsWatcher;
  let watchB: OpsWatcher;
  let watchOps: OpsWatcher;
  const connected = new Map<string, IntegrationView>();

  const breakerState = () => [...timeline].reverse().find((entry) => entry.type === 'breaker')?.state ?? 'closed';
  const requests = () => timeline.filter((entry) => entry.type === 'request').length;
  const setFault = (status: number | undefined) => {
    if (status === undefined) delete standIn.faults.status;
    else standIn.faults.status = status;
    timeline.push({ type: 'fault', on: status !== undefined });
  };
  const view = async (tenant: keyof typeof tenants) => {
    const response = await admins[tenant].get<IntegrationView>('/integrations/n8n');
    expect(response.status).toBe(200);
    return response.body;
  };

  beforeAll(async () => {
    standIn = await startN8nStandIn();
    proxy = await countingProxy(standIn.url, (path) => timeline.push({ type: 'request', path }));
    database = await createTestDatabase();
    // The server's warnings, breaker transitions among them, written synchronously as they happen.
    const log = pino(
      { level: 'warn', base: { node: 't' } },
      {
        write(line: string) {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logged.push(entry);
          if (entry.msg === 'integration circuit breaker changed state' && entry.kind === 'n8n') timeline.push({ type: 'breaker', state: String(entry.state) });
        },
      },
    );
    server = await startServer(
      testConfig({
        DATABASE_URL: database.url,
        KAFKA_BROKERS: requiredEnv('TEST_KAFKA_BROKERS'),
        INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true',
        INTEGRATION_CHECK_INTERVAL_MS: '1000',
        INTEGRATION_CALL_ATTEMPTS: '1',
        INTEGRATION_CALL_TIMEOUT_MS: '5000',
        INTEGRATION_BREAKER_THRESHOLD: '3',
        INTEGRATION_BREAKER_HALF_OPEN_MS: '2000',
        INTEGRATION_RATE_LIMIT_PER_MINUTE: '1000',
      }),
      log,
    );
    for (const tenant of Object.keys(tenants) as (keyof typeof tenants)[]) {
      admins[tenant] = api(server.url, await tokenFor(tenants[tenant], 'admin', `admin-${tenant}`));
    }
  });

  afterAll(async () => {
    watchers.forEach((watcher) => watcher.close());
    await server?.stop();
    await proxy?.close();
    await standIn?.close();
    await database?.drop();
  });

  it("connects each tenant's n8n to one stand-in and shows each /ops watcher only its own tenant's integrations", async () => {
    for (const tenant of Object.keys(tenants) as (keyof typeof tenants)[]) {
      const response = await admins[tenant].put<IntegrationView>('/integrations/n8n', { credentials: { apiKey: standIn.apiKey }, config: { baseUrl: proxy.url } });
      expect({ status: response.status, integrationStatus: response.body.status, healthy: response.body.health?.isHealthy }).toEqual({
        status: 200,
        integrationStatus: 'connected',
        healthy: true,
      });
      expect(JSON.stringify(response.body)).not.toContain(standIn.apiKey);
      connected.set(tenants[tenant], response.body);
    }

    watchA = new OpsWatcher(server.url, await tokenFor(tenants.a, 'admin', 'watcher-a'));
    watchB = new OpsWatcher(server.url, await tokenFor(tenants.b, 'owner', 'watcher-b'));
    // The ops role sees every tenant, whatever tenant its token names.
    watchOps = new OpsWatcher(server.url, await tokenFor(uniqueName('ops-home'), 'ops', 'oncall'));
    const agent = new OpsWatcher(server.url, await tokenFor(tenants.a, 'agent', 'agent-a'));
    watchers.push(watchA, watchB, watchOps, agent);
    await Promise.all([watchA.connect(), watchB.connect(), watchOps.connect()]);
    expect(await agent.refusal()).toMatchObject({ code: 'FORBIDDEN' });

    const snapshots = await waitFor('the /ops snapshots', () =>
      watchA.snapshot && watchB.snapshot && watchOps.snapshot ? { a: watchA.snapshot, b: watchB.snapshot, ops: watchOps.snapshot } : undefined,
    );
    expect(snapshots.a.map(({ id, kind, status }) => ({ id, kind, status }))).toEqual([{ id: connected.get(tenants.a)!.id, kind: 'n8n', status: 'connected' }]);
    expect(snapshots.b.map(({ id, kind, status }) => ({ id, kind, status }))).toEqual([{ id: connected.get(tenants.b)!.id, kind: 'n8n', status: 'connected' }]);
    expect(snapshots.ops).toEqual([]);
    expect(JSON.stringify(snapshots)).not.toContain(standIn.apiKey);

    // Scheduled checks run and reach the stand-in while it is healthy.
    await waitFor('a healthy scheduled check of tenant A', () => (watchA.healthOf(tenants.a).length > 0 ? true : undefined));
    expect(watchA.healthOf(tenants.a)[0]).toMatchObject({ kind: 'n8n', changed: false, integration: { status: 'connected', health: { isHealthy: true } } });
  });

  it('fails the checks on a 500, opens the breaker, and answers circuit-open without calling n8n while open', async () => {
    const before = watchOps.health.length;
    setFault(500);

    // The first failures carry n8n's 500; then the breaker opens (threshold 3, shared by all tenants).
    const failed = await waitFor('a check failing with the 500', () =>
      watchOps.health.slice(before).find((event) => event.integration.health?.isHealthy === false && SERVER_ERROR.test(event.integration.errorMessage ?? '')),
    );
    expect(failed.integration.status).toBe('error');
    await waitFor('integration_breaker_state{kind="n8n"} = 2', async () =>
      (await metric(server.url, 'integration_breaker_state', { kind: 'n8n' })) === 2 ? true : undefined,
    );
    expect(timeline.filter((entry) => entry.type === 'breaker').map((entry) => (entry as { state: string }).state)).toContain('open');

    // Scheduled checks answered by the open breaker: unhealthy, with the circuit-open message.
    const open = await waitFor('a scheduled check answered by the open breaker', () =>
      watchOps.health.slice(before).find((event) => CIRCUIT_OPEN.test(event.integration.errorMessage ?? '')),
    );
    expect(open.integration).toMatchObject({ status: 'error', health: { isHealthy: false } });
    expect((await metric(server.url, 'integration_health_check_seconds_count', { kind: 'n8n', outcome: 'circuit_open' })) ?? 0).toBeGreaterThan(0);

    // A check asked for through REST while the breaker is open: 200, unhealthy, circuit open, and
    // no request reaches n8n. (Should a half-open probe happen to start meanwhile, try again.)
    const manual = await waitFor('a REST check while the breaker stays open', async () => {
      if (breakerState() !== 'open') return undefined;
      const mark = timeline.length;
      const response = await admins.a.post<IntegrationView>('/integrations/n8n/check');
      const during = timeline.slice(mark);
      if (during.some((entry) => entry.type === 'breaker')) return undefined;
      expect(during.filter((entry) => entry.type === 'request')).toEqual([]);
      return response;
    });
    expect(manual.status).toBe(200);
    expect(manual.body).toMatchObject({ id: connected.get(tenants.a)!.id, status: 'error', health: { isHealthy: false } });
    expect(manual.body.errorMessage).toMatch(CIRCUIT_OPEN);
  });

  it('closes the breaker through one half-open probe once n8n recovers, and every integration comes back', async () => {
    setFault(undefined);
    await waitFor('integration_breaker_state{kind="n8n"} = 0', async () =>
      (await metric(server.url, 'integration_breaker_state', { kind: 'n8n' })) === 0 ? true : undefined,
    );
    // Backoff after several failures may be several seconds: a longer deadline.
    const views = await waitFor(
      'every integration connected again',
      async () => {
        const all = await Promise.all((['a', 'b', 'c'] as const).map((tenant) => view(tenant)));
        return all.every((integration) => integration.status === 'connected' && integration.health?.isHealthy === true) ? all : undefined;
      },
      45_000,
    );
    expect(views.map((integration) => integration.errorMessage)).toEqual([null, null, null]);

    // The timeline, replayed: no request while open, one per half-open window (the probe), and the
    // breaker closes only after the fault is cleared.
    let state = 'closed';
    let faultOn = false;
    let windowRequests = 0;
    const problems: string[] = [];
    const halfOpenWindows: number[] = [];
    let closedAfterRecovery = 0;
    let openedWhileFaulty = 0;
    let requestsWhileFaulty = 0;
    for (const [index, entry] of timeline.entries()) {
      if (entry.type === 'fault') faultOn = entry.on;
      if (entry.type === 'request') {
        if (state === 'open') problems.push(`request ${entry.path} at ${index} while the breaker is open`);
        if (state === 'half-open') windowRequests += 1;
        if (faultOn) requestsWhileFaulty += 1;
      }
      if (entry.type === 'breaker') {
        if (state === 'half-open') halfOpenWindows.push(windowRequests);
        windowRequests = 0;
        state = entry.state;
        if (state === 'open' && faultOn) openedWhileFaulty += 1;
        if (state === 'closed') {
          if (faultOn) problems.push(`breaker closed at ${index} while n8n still fails`);
          else closedAfterRecovery += 1;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(state).toBe('closed');
    expect(openedWhileFaulty).toBeGreaterThanOrEqual(1);
    expect(closedAfterRecovery).toBe(1);
    expect(halfOpenWindows.length).toBeGreaterThanOrEqual(1);
    expect(halfOpenWindows.every((count) => count === 1)).toBe(true);
    // Three tenants failed at least three times in all; far fewer calls reached n8n than checks ran.
    const checks = (await metric(server.url, 'integration_health_check_seconds_count', { kind: 'n8n', outcome: 'circuit_open' })) ?? 0;
    expect(requestsWhileFaulty).toBeGreaterThanOrEqual(3);
    expect(checks).toBeGreaterThanOrEqual(2);
    // After recovery, scheduled checks reach n8n again.
    const after = requests();
    await waitFor('a scheduled check reaching n8n after recovery', () => (requests() > after ? true : undefined));
  });

  it("streams tenant A's health flips to A's admins and to ops, never to B's", async () => {
    const recovered = (events: readonly HealthEvent[]) => {
      const firstFailure = events.findIndex((event) => event.integration.health?.isHealthy === false);
      return firstFailure >= 0 && events.slice(firstFailure).some((event) => event.integration.health?.isHealthy === true);
    };
    const backA = await waitFor("tenant A's recovery on A's /ops socket", () => (recovered(watchA.healthOf(tenants.a)) ? watchA.healthOf(tenants.a) : undefined));
    const opsA = await waitFor("tenant A's recovery on the ops socket", () => (recovered(watchOps.healthOf(tenants.a)) ? watchOps.healthOf(tenants.a) : undefined));

    for (const events of [backA, opsA]) {
      expect(events.every((event) => event.kind === 'n8n' && event.integration.id === connected.get(tenants.a)!.id)).toBe(true);
      expectChangedFlags(events);
      const flips = events.filter((event) => event.changed).map((event) => event.integration.health?.isHealthy);
      // Healthy → unhealthy (the 500, then another error: circuit open) → healthy.
      expect(flips[0]).toBe(false);
      expect(flips.at(-1)).toBe(true);
      expect(flips.filter((healthy) => healthy === true)).toHaveLength(1);
      expect(events.find((event) => event.changed && event.integration.health?.isHealthy === false)?.integration.status).toBe('error');
      expect(events.find((event) => event.changed && event.integration.health?.isHealthy === true)?.integration.status).toBe('connected');
    }
    // ops saw the same flips of A, in the same order, as A's admin did.
    const flipsOf = (events: readonly HealthEvent[]) => events.filter((event) => event.changed).map((event) => event.integration.health?.lastCheckedAt);
    expect(flipsOf(opsA)).toEqual(flipsOf(backA));
    // ops sees every tenant; B's admin was listening (its own flips) but got nothing of A's.
    expect(watchOps.healthOf(tenants.b).length).toBeGreaterThan(0);
    expect(watchOps.healthOf(tenants.c).length).toBeGreaterThan(0);
    expect(watchB.healthOf(tenants.b).some((event) => event.changed)).toBe(true);
    expect(watchB.health.filter((event) => event.tenantId !== tenants.b)).toEqual([]);
    expect(watchA.health.filter((event) => event.tenantId !== tenants.a)).toEqual([]);
    expect(watchB.changed.filter((event) => event.tenantId !== tenants.b)).toEqual([]);
    expect(JSON.stringify([watchA.health, watchOps.health])).not.toContain(standIn.apiKey);
  });

  it("publishes tenant A's status and health changes to Kafka in order, keyed by tenant, valid and without credentials", async () => {
    // Every outbox row of tenant A relayed (the outbox is the source of truth for what was published).
    const rows = await waitFor('tenant A outbox published', async () => {
      const found = await server.db.em().find(OutboxEvent, { tenantId: tenants.a }, { orderBy: { id: 'asc' } });
      return found.length > 0 && found.every((row) => row.publishedAt !== null && row.publishedAt !== undefined) ? found : undefined;
    });
    const expectedIds = new Set(rows.map((row) => row.id));

    type Received = { topic: string; key: string; partition: number; offset: bigint; outboxId: number; type: string; raw: string; value: Record<string, unknown> };
    const received: Received[] = [];
    const kafka = new Kafka({ clientId: 'integration-health-test', brokers: [requiredEnv('TEST_KAFKA_BROKERS')], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('integration-health') });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [INTEGRATION_HEALTH_TOPIC, CONFIGURATION_TOPIC], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          if (message.key?.toString() !== tenants.a) return;
          const raw = message.value?.toString() ?? '';
          const value = JSON.parse(raw) as Record<string, unknown>;
          received.push({
            topic,
            key: message.key?.toString() ?? '',
            partition,
            offset: BigInt(message.offset),
            outboxId: Number(message.headers?.['outbox-id']?.toString()),
            type: message.headers?.['event-type']?.toString() ?? '',
            raw,
            value,
          });
        },
      });
      await waitFor(
        "every outbox event of tenant A on Kafka",
        () => ([...expectedIds].every((id) => received.some((message) => message.outboxId === id)) ? true : undefined),
        60_000,
      );
    } finally {
      await consumer.disconnect();
    }

    // At least once: keep each outbox row's first delivery.
    const firsts = [...new Map([...received].sort((x, y) => (x.offset < y.offset ? -1 : 1)).map((message) => [message.outboxId, message])).values()];
    expect(firsts.every((message) => message.key === tenants.a && message.value.tenantId === tenants.a)).toBe(true);
    expect(firsts.every((message) => !message.raw.includes(standIn.apiKey) && !message.raw.includes(standIn.apiKey.slice(8, 24)))).toBe(true);
    const invalid = firsts.flatMap((message) => {
      const schema = integrationEventSchemas[message.type as IntegrationEventType];
      if (!schema) return [{ type: message.type, issue: 'unknown type' }];
      const parsed = schema.safeParse(message.value);
      return parsed.success && message.value.type === message.type ? [] : [{ type: message.type, issue: parsed.error?.message ?? 'type header differs' }];
    });
    expect(invalid).toEqual([]);

    // The health topic: one partition for the tenant, offsets in outbox order, which is the order of the changes.
    const health = firsts.filter((message) => message.topic === INTEGRATION_HEALTH_TOPIC).sort((x, y) => (x.offset < y.offset ? -1 : 1));
    expect(new Set(health.map((message) => message.partition)).size).toBe(1);
    expect(health.map((message) => message.outboxId)).toEqual([...health.map((message) => message.outboxId)].sort((x, y) => x - y));
    const statuses = health.filter((message) => message.type === 'integration.status.changed').map((message) => `${String(message.value.previousStatus)}→${String(message.value.status)}`);
    expect(statuses).toEqual(['pending→connected', 'connected→error', 'error→connected']);
    const healthChanges = health.filter((message) => message.type === 'integration.health.changed').map((message) => message.value);
    expect(healthChanges[0]).toMatchObject({ isHealthy: false, status: 'error', errorMessage: expect.stringMatching(/n8n/) });
    expect(healthChanges.at(-1)).toMatchObject({ isHealthy: true, status: 'connected' });
    expect(healthChanges.at(-1)).not.toHaveProperty('errorMessage');
    expect(healthChanges.slice(0, -1).every((change) => change.isHealthy === false)).toBe(true);
    // Each flip's health event precedes its status event (one transaction, health first).
    const order = health.map((message) => (message.type === 'integration.status.changed' ? `status:${String(message.value.status)}` : `health:${String(message.value.isHealthy)}`));
    expect(order.indexOf('health:false')).toBeLessThan(order.indexOf('status:error'));
    expect(order.lastIndexOf('health:true')).toBeLessThan(order.lastIndexOf('status:connected'));
    expect(order.indexOf('status:error')).toBeLessThan(order.lastIndexOf('health:true'));
    // The connection itself went to the configuration topic.
    expect(firsts.filter((message) => message.topic === CONFIGURATION_TOPIC).map((message) => message.type)).toEqual(['configuration.integration.connected']);
  });
});
