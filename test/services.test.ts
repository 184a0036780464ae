// Round trips through each real service the global setup starts: if a service is missing, broken,
// or a stand-in that does not behave like the real thing, these fail.
import { describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import Stripe from 'stripe';
import { createTestDatabase, requiredEnv, uniqueName } from './support/isolation.ts';

describe('PostgreSQL', () => {
  test('a table created in a fresh test database returns the rows inserted into it', async () => {
    const database = await createTestDatabase();
    const client = new pg.Client({ connectionString: database.url });
    try {
      await client.connect();
      const { rows: current } = await client.query<{ name: string }>('SELECT current_database() AS name');
      expect(current[0]?.name).toBe(new URL(database.url).pathname.slice(1));

      await client.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
      await client.query('INSERT INTO notes (body) VALUES ($1), ($2)', ['first', 'second']);
      const { rows } = await client.query<{ id: number; body: string }>('SELECT id, body FROM notes ORDER BY id');
      expect(rows).toEqual([
        { id: 1, body: 'first' },
        { id: 2, body: 'second' },
      ]);
    } finally {
      await client.end();
      await database.drop();
    }
  });

  test('a dropped test database no longer exists', async () => {
    const database = await createTestDatabase();
    const name = new URL(database.url).pathname.slice(1);
    await database.drop();
    const client = new pg.Client({ connectionString: requiredEnv('TEST_DATABASE_URL') });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      expect(rows).toHaveLength(0);
    } finally {
      await client.end();
    }
  });
});

describe('Redis', () => {
  test('a value set under a unique key prefix is read back, and is stored under that prefix', async () => {
    const prefix = `${uniqueName('test')}:`;
    const scoped = new Redis(requiredEnv('TEST_REDIS_URL'), { keyPrefix: prefix });
    const plain = new Redis(requiredEnv('TEST_REDIS_URL'));
    try {
      await scoped.set('greeting', 'hello', 'EX', 60);
      expect(await scoped.get('greeting')).toBe('hello');
      expect(await plain.get(`${prefix}greeting`)).toBe('hello');
      expect(await plain.get('greeting')).toBeNull();
    } finally {
      await plain.del(`${prefix}greeting`);
      scoped.disconnect();
      plain.disconnect();
    }
  });

  test('a message published on a channel reaches its subscriber', async () => {
    const channel = uniqueName('channel');
    const subscriber = new Redis(requiredEnv('TEST_REDIS_URL'));
    const publisher = new Redis(requiredEnv('TEST_REDIS_URL'));
    try {
      const received = new Promise<{ channel: string; message: string }>((resolve) => {
        subscriber.on('message', (from: string, message: string) => resolve({ channel: from, message }));
      });
      await subscriber.subscribe(channel);
      expect(await publisher.publish(channel, 'hello subscribers')).toBe(1);
      expect(await received).toEqual({ channel, message: 'hello subscribers' });
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });
});

describe('Kafka', () => {
  test('three keyed messages produced to a new topic are consumed from the beginning in order', async () => {
    const kafka = new Kafka({ clientId: 'services-test', brokers: [requiredEnv('TEST_KAFKA_BROKERS')], logLevel: logLevel.NOTHING });
    const topic = uniqueName('services-test');
    const admin = kafka.admin();
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: uniqueName('services-test-group') });
    try {
      await admin.connect();
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(true);
      expect(await admin.listTopics()).toContain(topic);

      await producer.connect();
      await producer.send({
        topic,
        messages: [
          { key: 'k1', value: 'one' },
          { key: 'k2', value: 'two' },
          { key: 'k3', value: 'three' },
        ],
      });

      const consumed: { key: string; value: string; offset: string }[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumed only ${consumed.length} of 3 messages in 20 s`)), 20_000);
        void consumer
          .run({
            eachMessage: async ({ message }) => {
              consumed.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', offset: message.offset });
              if (consumed.length === 3) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      expect(consumed).toEqual([
        { key: 'k1', value: 'one', offset: '0' },
        { key: 'k2', value: 'two', offset: '1' },
        { key: 'k3', value: 'three', offset: '2' },
      ]);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });
});

describe('stripe-mock', () => {
  const stripeClient = () => {
    const url = new URL(requiredEnv('TEST_STRIPE_MOCK_URL'));
    return new Stripe('sk_test_123', { host: url.hostname, port: Number(url.port), protocol: 'http' });
  };

  test('creating a customer and a product returns Stripe objects carrying the fields sent', async () => {
    const stripe = stripeClient();
    const customer = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada Lovelace' });
    expect(customer).toMatchObject({ object: 'customer', email: 'ada@example.com', name: 'Ada Lovelace', livemode: false });
    expect(customer.id).toMatch(/^cus_/);

    const product = await stripe.products.create({ name: 'Onboarding plan' });
    expect(product).toMatchObject({ object: 'product', name: 'Onboarding plan', active: true });
    expect(product.id).toMatch(/^prod_/);
  });

  test('a request missing a required parameter is rejected as an invalid_request_error', async () => {
    const stripe = stripeClient();
    // The type requires `name`; the cast sends the request the API must refuse.
    const missingName = { description: 'no name' } as Stripe.ProductCreateParams;
    await expect(stripe.products.create(missingName)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      rawType: 'invalid_request_error',
      statusCode: 400,
      message: expect.stringContaining("'name' is required"),
    });
  });
});
