// Test files share the services the global setup started; these helpers give each test its own
// state on them: a database of its own, and unique names for Redis keys and Kafka topics.
import crypto from 'node:crypto';
import pg from 'pg';

/** A variable the global setup sets; missing means the setup did not run, which must fail loudly. */
export function requiredEnv(name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL' | 'TEST_KAFKA_BROKERS' | 'TEST_STRIPE_MOCK_URL'): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: run the tests with npm test (its global setup starts the services)`);
  return value;
}

/** `prefix-<random>`: safe as a Redis key prefix, a Kafka topic or group name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
}

async function withAdminClient<T>(use: (client: InstanceType<typeof pg.Client>) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: requiredEnv('TEST_DATABASE_URL') });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new empty database on the shared PostgreSQL; drop() removes it even if connections are left open. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${crypto.randomBytes(8).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(requiredEnv('TEST_DATABASE_URL'));
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
