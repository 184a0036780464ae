// Test files share the services the global setup started; these helpers give each test its own
// state on them: a database of its own, unique names for Redis keys and Kafka topics, and a mail
// user of its own on GreenMail.
import crypto from 'node:crypto';
import pg from 'pg';

/** A variable the global setup sets; missing means the setup did not run, which must fail loudly. */
export function requiredEnv(
  name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL' | 'TEST_KAFKA_BROKERS' | 'TEST_STRIPE_MOCK_URL' | 'TEST_GREENMAIL_URL',
): string {
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

export type MailServer = { host: string; port: number };

export interface MailUser {
  /** Also the login. */
  email: string;
  password: string;
  smtp: MailServer;
  imap: MailServer;
}

async function greenMailApi<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(new URL(path, requiredEnv('TEST_GREENMAIL_URL')), { ...init, signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GreenMail ${init?.method ?? 'GET'} ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** A new user with mailboxes of its own on the shared GreenMail, and the SMTP and IMAP servers to log in to. */
export async function createMailUser(): Promise<MailUser> {
  const { serverSetups } = await greenMailApi<{ serverSetups: { protocol: string; address: string; port: number }[] }>('/api/configuration');
  const server = (protocol: string): MailServer => {
    const setup = serverSetups.find((candidate) => candidate.protocol === protocol);
    if (setup === undefined) throw new Error(`GreenMail at ${requiredEnv('TEST_GREENMAIL_URL')} runs no ${protocol} server`);
    return { host: setup.address, port: setup.port };
  };
  const email = `${uniqueName('user')}@example.com`;
  const password = crypto.randomBytes(12).toString('base64url');
  await greenMailApi('/api/user', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, login: email, password }),
  });
  return { email, password, smtp: server('smtp'), imap: server('imap') };
}
