// An email integration owns an IMAP IDLE connection while its actor lives: mail arriving at the
// connected mailbox (GreenMail, real SMTP and IMAP) lands in the inbound queue once, and a server
// started after a stop resumes from the saved cursor — mail that arrived while no server ran is
// queued, and nothing seen before is queued twice.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import nodemailer from 'nodemailer';
import { InboundMessage } from '../server/db/entities.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { api, tokenFor } from './support/api.ts';
import { testConfig } from './support/config.ts';
import { createMailUser, createTestDatabase, type MailUser, type TestDatabase } from './support/isolation.ts';

let database: TestDatabase;
let user: MailUser;
const tenant = 'tenant-mail';
const servers: RunningServer[] = [];

const start = async () => {
  const server = await startServer(
    testConfig({ DATABASE_URL: database.url, INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true' }),
    createLogger({ level: process.env.TEST_LOG ?? 'silent', nodeId: 'email-inbound' }),
  );
  servers.push(server);
  return server;
};

async function send(subject: string): Promise<void> {
  const transport = nodemailer.createTransport({ ...user.smtp, secure: false, ignoreTLS: true, auth: { user: user.email, pass: user.password } });
  try {
    await transport.sendMail({ from: 'customer@example.com', to: user.email, subject, text: `${subject}\n` });
  } finally {
    transport.close();
  }
}

async function inboundSubjects(server: RunningServer): Promise<string[]> {
  const rows = await server.db.em().find(InboundMessage, { tenantId: tenant, channel: 'email' }, { orderBy: { id: 'asc' } });
  return rows.map((row) => String(row.payload.subject));
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  user = await createMailUser();
});

afterAll(async () => {
  await Promise.allSettled(servers.map((server) => server.stop()));
  await database.drop();
});

describe('the email integration inbox', () => {
  it('queues new mail once, and resumes after a restart from where it stopped', async () => {
    let server = await start();
    const client = api(server.url, await tokenFor(tenant, 'admin'));
    const connected = await client.put('/integrations/email', {
      credentials: { username: user.email, password: user.password },
      config: { preset: 'custom', smtp: { ...user.smtp, security: 'none' }, imap: { ...user.imap, security: 'none' }, fromAddress: user.email, testRecipient: 'elsewhere@example.com' },
    });
    expect(connected.status).toBe(200);
    // The watcher saves its starting point once it waits for mail: from then on nothing is missed.
    await until(
      async () => (await server.db.em().getConnection().execute<{ artifacts: unknown }[]>(`select artifacts from integration where tenant_id = ?`, [tenant]))[0]?.artifacts,
      (artifacts) => JSON.stringify(artifacts ?? {}).includes('mailCursor'),
    );
    await send('first');
    await send('second');
    expect(await until(() => inboundSubjects(server), (subjects) => subjects.length >= 2)).toEqual(['first', 'second']);

    // Stop (the actor saves the cursor after 'second' as it passivates), and send while no server runs.
    await server.stop();
    servers.pop();
    await send('while-away');
    server = await start();
    // The health scheduler wakes the integration; its watcher resumes after the saved cursor.
    expect(await until(() => inboundSubjects(server), (subjects) => subjects.length >= 3)).toEqual(['first', 'second', 'while-away']);
  });
});
