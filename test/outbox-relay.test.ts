// The transactional outbox relayed to Kafka (DESIGN.md invariant 7), against real Kafka and
// PostgreSQL: events of real session operations arrive keyed by tenant; a 30 s broker outage loses
// nothing and keeps each tenant's order; of two relays on one database only the leader publishes,
// and the other takes over when the leader's connection dies. Every check reads the topic back with
// a kafkajs consumer and accepts duplicates (at least once) but no gap and no reordering: per
// tenant, each outbox id seen for the first time must be the next one the database holds.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { sessionEvent } from '../actors/session/events.ts';
import { SessionStore } from '../actors/session/session-store.ts';
import { OutboxEvent } from '../server/db/entities.ts';
import { openDatabase, type Database } from '../server/db/orm.ts';
import { integrationEvent, integrationEventSchemas, type IntegrationEventType } from '../server/events/integration-events.ts';
import { OUTBOX_RELAY_LOCK, startOutboxRelay, type OutboxRelay } from '../server/events/outbox-relay.ts';
import { CONFIGURATION_TOPIC, INTEGRATION_HEALTH_TOPIC, ONBOARDING_TOPIC } from '../server/events/topics.ts';
import { connectKafka, type KafkaConnection } from '../server/infra/kafka.ts';
import { createLogger } from '../server/logger.ts';
import { createMetrics, type Metrics } from '../server/metrics.ts';
import { startServer } from '../server/server.ts';
import { SAMPLE_STEP_DATA } from '../shared/sample-data.ts';
import { initialMachineState } from '../shared/step-machine.ts';
import { startKafka, type KafkaService } from '../scripts/services/kafka.ts';
import { api, tokenFor } from './support/api.ts';
import { tempDir, testConfig } from './support/config.ts';
import { createTestDatabase, requiredEnv, uniqueName, type TestDatabase } from './support/isolation.ts';

const silent = createLogger({ level: 'silent', nodeId: 't' });

type Received = { tenant: string; outboxId: number; partition: number; offset: bigint; type: string; eventId: string; value: Record<string, unknown> };

async function startOn(options: { postgres: boolean; brokers?: string }) {
  const database: TestDatabase | undefined = options.postgres ? await createTestDatabase() : undefined;
  const server = await startServer(
    testConfig({ ...(database ? { DATABASE_URL: database.url } : {}), ...(options.brokers ? { KAFKA_BROKERS: options.brokers } : {}) }),
    silent,
  );
  return {
    server,
    database,
    async stop() {
      await server.stop();
      await database?.drop();
    },
  };
}

/**
 * A tenant's admin working through REST until `keepGoing` says stop: step edits, step completions,
 * pause and resume — each one event. Returns the number of operations.
 */
async function tenantActivity(baseUrl: string, tenant: string, keepGoing: (done: number) => boolean, pauseMs = 0): Promise<number> {
  const admin = api(baseUrl, await tokenFor(tenant, 'admin', 'alice'));
  const started = await admin.post<{ session: { id: string } }>('/onboarding/sessions');
  expect(started.status).toBe(201);
  const path = `/onboarding/sessions/${started.body.session.id}`;
  expect((await admin.patch(`${path}/steps/welcome`, SAMPLE_STEP_DATA.welcome)).status).toBe(200);
  let done = 0;
  while (keepGoing(done)) {
    const cycle = done % 6;
    const response =
      cycle === 2
        ? await admin.post(`${path}/steps/welcome/complete`)
        : cycle === 3
          ? await admin.post(`${path}/pause`)
          : cycle === 4
            ? await admin.post(`${path}/resume`)
            : await admin.patch(`${path}/steps/welcome`, { teamSize: done + 1 });
    expect({ operation: done, status: response.status }).toEqual({ operation: done, status: 200 });
    done += 1;
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return done;
}

/** The tenants' outbox ids in the database, oldest first, once every one of them is published. */
async function publishedIds(db: Database, tenants: readonly string[], timeoutMs = 60_000): Promise<Map<string, number[]>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await db.em().find(OutboxEvent, { tenantId: { $in: [...tenants] } }, { orderBy: { id: 'asc' }, fields: ['id', 'tenantId', 'publishedAt'] });
    const pending = rows.filter((row) => row.publishedAt === null || row.publishedAt === undefined).length;
    if (pending === 0) {
      const ids = new Map<string, number[]>(tenants.map((tenant) => [tenant, []]));
      for (const row of rows) ids.get(row.tenantId)!.push(row.id);
      return ids;
    }
    if (Date.now() > deadline) throw new Error(`${pending} of ${rows.length} outbox rows still unpublished after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Reads `topic` from its beginning (a fresh consumer group) until every expected id of the tenants has arrived. */
async function readBack(brokers: string, expected: Map<string, number[]>, timeoutMs = 60_000): Promise<Received[]> {
  const kafka = new Kafka({ clientId: 'outbox-relay-test', brokers: [brokers], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: uniqueName('outbox-check') });
  const received: Received[] = [];
  const missing = new Set([...expected.values()].flat());
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  if (missing.size === 0) resolveAll();
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: ONBOARDING_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const tenant = message.key?.toString() ?? '';
        if (!expected.has(tenant)) return;
        const outboxId = Number(message.headers?.['outbox-id']?.toString());
        received.push({
          tenant,
          outboxId,
          partition,
          offset: BigInt(message.offset),
          type: message.headers?.['event-type']?.toString() ?? '',
          eventId: message.headers?.['event-id']?.toString() ?? '',
          value: JSON.parse(message.value?.toString() ?? 'null') as Record<string, unknown>,
        });
        missing.delete(outboxId);
        if (missing.size === 0) resolveAll();
      },
    });
    const giveUp = new AbortController();
    const timedOut = sleep(timeoutMs, undefined, { signal: giveUp.signal }).then(() => {
      throw new Error(`${missing.size} events never arrived on ${ONBOARDING_TOPIC} within ${timeoutMs} ms`);
    });
    timedOut.catch(() => {});
    try {
      await Promise.race([all, timedOut]);
    } finally {
      giveUp.abort();
    }
    return received;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * At least once, ordered per tenant: a tenant's messages sit in one partition; read in offset
 * order, every outbox id seen for the first time is the next id the database holds for the
 * tenant, and each id arrives. Repeats of ids already seen are duplicates, allowed and counted.
 */
function checkStreams(received: readonly Received[], expected: Map<string, number[]>): { duplicates: number } {
  const problems: string[] = [];
  let duplicates = 0;
  for (const [tenant, ids] of expected) {
    const messages = received.filter((message) => message.tenant === tenant).sort((a, b) => (a.offset < b.offset ? -1 : 1));
    const partitions = new Set(messages.map((message) => message.partition));
    if (partitions.size > 1) problems.push(`${tenant}: spread over partitions ${[...partitions].join(', ')}`);
    const seen = new Set<number>();
    let next = 0;
    for (const message of messages) {
      if (seen.has(message.outboxId)) {
        duplicates += 1;
        continue;
      }
      if (message.outboxId !== ids[next]) {
        problems.push(`${tenant}: expected outbox id ${ids[next]} next, got ${message.outboxId}`);
        break;
      }
      seen.add(message.outboxId);
      next += 1;
    }
    if (next !== ids.length && problems.length === 0) problems.push(`${tenant}: ${ids.length - next} events missing`);
  }
  expect(problems).toEqual([]);
  return { duplicates };
}

/** A counter's value summed over its labels, from a server's /metrics. */
async function scrape(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function counterTotal(metrics: Metrics): Promise<number> {
  return (await metrics.outboxEventsPublished.get()).values.reduce((sum, value) => sum + value.value, 0);
}

/** The JSON examples of docs/EVENTS.md, by event type. */
function documentedExamples(): Map<string, Record<string, unknown>> {
  const text = fs.readFileSync(path.join(import.meta.dirname, '../docs/EVENTS.md'), 'utf8');
  const examples = new Map<string, Record<string, unknown>>();
  for (const [, json] of text.matchAll(/```json\n([\s\S]*?)```/g)) {
    const example = JSON.parse(json!) as Record<string, unknown>;
    examples.set(String(example.type), example);
  }
  return examples;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const startedAt = performance.now();
  while (!(await condition())) {
    if (performance.now() - startedAt > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return performance.now() - startedAt;
}

describe.each([
  ['PostgreSQL', true],
  ['SQLite', false],
])('the relay on %s', (_name, postgres) => {
  let running: Awaited<ReturnType<typeof startOn>>;
  const brokers = requiredEnv('TEST_KAFKA_BROKERS');

  beforeAll(async () => {
    running = await startOn({ postgres, brokers });
  });
  afterAll(() => running.stop());

  it('publishes the events of real session operations, keyed by tenant, with the outbox id in a header', async () => {
    const tenants = [uniqueName('tenant'), uniqueName('tenant')];
    await Promise.all(tenants.map((tenant) => tenantActivity(running.server.url, tenant, (done) => done < 12)));
    const expected = await publishedIds(running.server.db, tenants);
    const received = await readBack(brokers, expected);
    checkStreams(received, expected);

    const rows = await running.server.db.em().find(OutboxEvent, { tenantId: { $in: tenants } }, { orderBy: { id: 'asc' } });
    // Per tenant: started, the full welcome edit, then 12 operations.
    expect(rows).toHaveLength(2 * 14);
    for (const row of rows) {
      const message = received.find((candidate) => candidate.outboxId === row.id)!;
      expect({ tenant: message.tenant, type: message.type, eventId: message.eventId, value: message.value }).toEqual({
        tenant: row.tenantId,
        type: row.type,
        eventId: row.payload.eventId,
        value: row.payload,
      });
    }
    expect(new Set(rows.map((row) => row.type))).toEqual(
      new Set([
        'onboarding.session.started',
        'onboarding.step.updated',
        'onboarding.step.completed',
        'onboarding.session.paused',
        'onboarding.session.resumed',
      ]),
    );
    // docs/EVENTS.md shows each type with the fields the server really writes.
    const examples = documentedExamples();
    for (const row of rows) expect({ type: row.type, fields: Object.keys(examples.get(row.type) ?? {}).sort() }).toEqual({ type: row.type, fields: Object.keys(row.payload).sort() });
    expect(await scrape(running.server.url, 'outbox_relay_leader')).toBe(1);
    expect(await scrape(running.server.url, 'outbox_events_published_total')).toBeGreaterThanOrEqual(rows.length);
  });
});

describe('a Kafka outage', () => {
  let kafka: KafkaService;
  let running: Awaited<ReturnType<typeof startOn>>;

  beforeAll(async () => {
    // A broker of this test's own: the shared one must keep serving the other test files.
    kafka = await startKafka();
    running = await startOn({ postgres: true, brokers: kafka.brokers });
  }, 120_000);
  afterAll(async () => {
    await running?.stop();
    await kafka?.stop();
  });

  it('of 30 s during activity loses no event and keeps each tenant in order', async () => {
    const tenants = Array.from({ length: 4 }, () => uniqueName('tenant'));
    let phase: 'before' | 'outage' | 'after' = 'before';
    const during = { before: 0, outage: 0, after: 0 };
    let afterRestartAt = Number.POSITIVE_INFINITY;
    // Each tenant keeps working until 2 s after the broker is back.
    const activity = Promise.all(
      tenants.map((tenant) =>
        // Paced: enough to show the outage, without starving the test files running beside this one.
        tenantActivity(
          running.server.url,
          tenant,
          () => {
            during[phase] += 1;
            return Date.now() < afterRestartAt + 2_000;
          },
          25,
        ),
      ),
    );
    await waitFor('the first events to be published', async () => (await scrape(running.server.url, 'outbox_events_published_total')) >= 8);

    const outageStartedAt = performance.now();
    phase = 'outage';
    await kafka.restart(30_000);
    phase = 'after';
    afterRestartAt = Date.now();
    const outageMs = performance.now() - outageStartedAt;
    await activity;

    const expected = await publishedIds(running.server.db, tenants);
    const caughtUpMs = Date.now() - afterRestartAt;
    const received = await readBack(kafka.brokers, expected);
    const { duplicates } = checkStreams(received, expected);
    const failures = await scrape(running.server.url, 'outbox_publish_failures_total');
    console.log(
      `kafka outage: broker away ${(outageMs / 1000).toFixed(1)} s; operations before/during/after ${during.before}/${during.outage}/${during.after}; ` +
        `${[...expected.values()].flat().length} events, all published ${(caughtUpMs / 1000).toFixed(1)} s after the restart; ` +
        `${failures} failed relay rounds, ${duplicates} duplicates`,
    );
    expect(during.outage).toBeGreaterThan(20);
    expect(failures).toBeGreaterThan(0);
  }, 180_000);
});

describe('two relays on one PostgreSQL database', () => {
  let running: Awaited<ReturnType<typeof startOn>>;
  const brokers = requiredEnv('TEST_KAFKA_BROKERS');
  const relays: { name: string; db: Database; kafka: KafkaConnection; metrics: Metrics; relay: OutboxRelay }[] = [];

  beforeAll(async () => {
    // The server has no KAFKA_BROKERS: only the two relays below publish its outbox.
    running = await startOn({ postgres: true });
    for (const name of ['a', 'b']) {
      const db = await openDatabase({ databaseUrl: running.database!.url, dataDir: tempDir() });
      const kafka = connectKafka({ brokers: [brokers], clientId: `relay-${name}`, log: silent });
      const metrics = createMetrics(`relay-${name}`);
      relays.push({ name, db, kafka, metrics, relay: startOutboxRelay({ db, kafka, log: silent, metrics, leaderRetryMs: 300, pollIntervalMs: 100 }) });
    }
  });
  afterAll(async () => {
    for (const { relay, kafka, db } of relays) {
      await relay.stop();
      await kafka.close();
      await db.close();
    }
    await running?.stop();
  });

  it('publish through the leader only, and the other takes over without loss when its connection dies', async () => {
    await waitFor('a leader', () => relays.some(({ relay }) => relay.isLeader()));
    await sleep(1_000);
    const [leader, follower] = relays[0]!.relay.isLeader() ? [relays[0]!, relays[1]!] : [relays[1]!, relays[0]!];
    expect([leader.relay.isLeader(), follower.relay.isLeader()]).toEqual([true, false]);

    const firstTenants = [uniqueName('tenant'), uniqueName('tenant')];
    await Promise.all(firstTenants.map((tenant) => tenantActivity(running.server.url, tenant, (done) => done < 10)));
    await publishedIds(running.server.db, firstTenants);
    expect(await counterTotal(leader.metrics)).toBeGreaterThanOrEqual(2 * 12);
    expect(await counterTotal(follower.metrics)).toBe(0);

    // The leader's lock connection dies (as when its node or its network goes) during activity.
    const tenants = [...firstTenants, uniqueName('tenant'), uniqueName('tenant')];
    let stopAt = Number.POSITIVE_INFINITY;
    const activity = Promise.all(tenants.slice(2).map((tenant) => tenantActivity(running.server.url, tenant, () => Date.now() < stopAt)));
    await sleep(500);
    const admin = new pg.Client({ connectionString: running.database!.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ terminated: boolean }>(
        `select pg_terminate_backend(pid) as terminated from pg_locks
          where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
            and classid = 0 and objid = $1 and objsubid = 1 and granted`,
        [OUTBOX_RELAY_LOCK],
      );
      expect(rows).toEqual([{ terminated: true }]);
    } finally {
      await admin.end();
    }
    const takeoverMs = await waitFor('the follower to take over', () => follower.relay.isLeader() && !leader.relay.isLeader(), 5_000);
    stopAt = Date.now() + 1_000;
    await activity;

    const expected = await publishedIds(running.server.db, tenants);
    const { duplicates } = checkStreams(await readBack(brokers, expected), expected);
    console.log(`relay takeover after the leader's connection died: ${Math.round(takeoverMs)} ms, ${duplicates} duplicates`);
    expect(await counterTotal(follower.metrics)).toBeGreaterThan(0);
    expect(leader.relay.isLeader()).toBe(false);
  }, 60_000);
});

describe('the integration event contract', () => {
  it('documents every type with an example its schema accepts, and builds drafts for the right topic', () => {
    const examples = documentedExamples();
    const types = Object.keys(integrationEventSchemas) as IntegrationEventType[];
    for (const type of types) expect(() => integrationEventSchemas[type].parse(examples.get(type))).not.toThrow();

    const integration = { id: crypto.randomUUID(), tenantId: 'acme', kind: 'stripe' };
    const health = integrationEvent('integration.health.changed', integration, undefined, {
      status: 'connected',
      isHealthy: true,
      responseTime: 42,
      lastCheckedAt: new Date().toISOString(),
    });
    expect(health).toEqual({
      topic: INTEGRATION_HEALTH_TOPIC,
      type: 'integration.health.changed',
      payload: expect.objectContaining({ actor: { userId: 'system', role: 'system' }, integrationId: integration.id, kind: 'stripe', isHealthy: true }),
    });
    const alice = { userId: 'alice', tenantId: 'acme', role: 'admin' } as const;
    expect(integrationEvent('configuration.integration.disconnected', integration, alice, { reason: 'removed' }).topic).toBe(CONFIGURATION_TOPIC);
    // A malformed event fails where it is built, before it can reach the outbox.
    expect(() => integrationEvent('integration.status.changed', { ...integration, kind: 'fax' }, alice, { status: 'error', previousStatus: 'connected' })).toThrow();
  });
});

describe('the per-tenant event lock (PostgreSQL)', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    const running = await startServer(testConfig({ DATABASE_URL: database.url }), silent);
    await running.stop(); // migrated
    db = await openDatabase({ databaseUrl: database.url, dataDir: tempDir() });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it("makes a tenant's event-writing transaction wait for the tenant's open one, and no other tenant's", async () => {
    const store = new SessionStore(db);
    const sessions = await Promise.all(
      [uniqueName('tenant'), uniqueName('tenant')].map(async (tenantId) => {
        const machine = initialMachineState(new Date().toISOString());
        const record = { id: crypto.randomUUID(), tenantId, createdBy: 'alice', status: machine.status, currentStep: machine.currentStep, steps: machine.steps };
        await store.createOrGetLive(record, {});
        await store.claim(record.id, 1);
        return record;
      }),
    );
    const [held, other] = sessions as [(typeof sessions)[number], (typeof sessions)[number]];
    const pause = (session: typeof held) =>
      store.saveTransition(session, 1, { status: 'paused' }, { events: [sessionEvent(session, 'onboarding.session.paused', undefined, { status: 'paused' })] });

    // Another transaction of `held`'s tenant is open and has written its events (it holds the lock).
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock(7311006, hashtext($1))', [held.tenantId]);
      let settled = false;
      const waiting = pause(held).finally(() => (settled = true));
      await pause(other);
      await sleep(300);
      expect(settled).toBe(false);
      await client.query('commit');
      await waiting;
      expect(settled).toBe(true);
    } finally {
      await client.end();
    }
  });
});
