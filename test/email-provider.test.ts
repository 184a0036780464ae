// The email provider against GreenMail (real SMTP and IMAP servers on one user store, started by
// the global setup): the test message really arrives, the IDLE watcher sees new mail (also after
// its connection is cut), refused logins, timeouts and server errors are told apart, and no error
// carries the password.
import net from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import type { AppError } from '../shared/errors.ts';
import {
  createEmailProvider,
  unguardedHosts,
  type EmailConfig,
  type EmailCredentials,
  type InboundEnvelope,
  type ResolveHost,
} from '../server/integrations/providers/email.ts';
import { createMailUser, uniqueName, type MailServer, type MailUser } from './support/isolation.ts';
import { failure } from './support/failures.ts';

const context = (timeoutMs = 10_000) => ({ tenantId: 'tenant-a', signal: AbortSignal.timeout(timeoutMs) });
const local = (options: { timeoutMs?: number; resolveHost?: ResolveHost } = {}) =>
  createEmailProvider({ resolveHost: options.resolveHost ?? unguardedHosts, timeoutMs: options.timeoutMs ?? 5_000, allowPlaintext: true });

const credentialsOf = (user: MailUser): EmailCredentials => ({ username: user.email, password: user.password });
const configFor = (user: MailUser, overrides: Partial<EmailConfig> = {}): EmailConfig => ({
  preset: 'custom',
  smtp: { ...user.smtp, security: 'none' },
  imap: { ...user.imap, security: 'none' },
  fromAddress: user.email,
  ...overrides,
});

const servers: net.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A TCP server on a free port; it keeps its sockets so a test can see them closed or cut them. */
async function tcpServer(onConnection: (socket: net.Socket) => void = () => {}): Promise<{ server: MailServer; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, sockets };
}

/** The error as the API would send it, which must not carry the password. */
function expectNoSecret(error: AppError, password: string): void {
  expect(JSON.stringify(error.toBody())).not.toContain(password);
}

async function send(from: MailUser, to: string, subject: string): Promise<string> {
  const transport = nodemailer.createTransport({ ...from.smtp, secure: false, ignoreTLS: true, auth: { user: from.email, pass: from.password } });
  try {
    return (await transport.sendMail({ from: from.email, to, subject, text: `${subject}\n` })).messageId;
  } finally {
    transport.close();
  }
}

type Stored = { uid: number; messageId?: string; subject?: string; from?: string };

/** A user's mailbox read over IMAP: its UIDVALIDITY and the envelopes of its messages. */
async function readMailbox(user: MailUser, mailbox = 'INBOX'): Promise<{ uidValidity: string; messages: Stored[] }> {
  const client = new ImapFlow({ ...user.imap, secure: false, doSTARTTLS: false, auth: { user: user.email, pass: user.password }, logger: false });
  await client.connect();
  try {
    const opened = await client.mailboxOpen(mailbox, { readOnly: true });
    const messages: Stored[] = [];
    if (opened.exists > 0) {
      for await (const message of client.fetch('1:*', { uid: true, envelope: true })) {
        messages.push({ uid: message.uid, messageId: message.envelope?.messageId, subject: message.envelope?.subject, from: message.envelope?.from?.[0]?.address });
      }
    }
    return { uidValidity: opened.uidValidity.toString(), messages };
  } finally {
    await client.logout();
  }
}

/** Collects what a watcher reports; `next()` waits for the next message. */
function collector() {
  const received: InboundEnvelope[] = [];
  const waiting: ((message: InboundEnvelope) => void)[] = [];
  let readyCount = 0;
  const readyWaiters: (() => void)[] = [];
  return {
    received,
    onMessage: (message: InboundEnvelope) => {
      received.push(message);
      waiting.shift()?.(message);
    },
    onReady: () => {
      readyCount += 1;
      for (const resolve of readyWaiters.splice(0)) resolve();
    },
    /** Resolves once the watcher has been ready `count` times. */
    ready: async (count: number) => {
      while (readyCount < count) await new Promise<void>((resolve) => readyWaiters.push(resolve));
    },
    next: (timeoutMs = 10_000) =>
      new Promise<InboundEnvelope>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message reached the watcher')), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      }),
  };
}

describe('the email provider: success', () => {
  it('connects: discovers mailboxes and IDLE, sends a test message that really arrives, then checks', async () => {
    const user = await createMailUser();
    const provider = local();
    const result = await provider.connect(credentialsOf(user), configFor(user), context());
    expect(result.config).toEqual({
      mailboxes: expect.arrayContaining(['INBOX']),
      capabilities: expect.arrayContaining(['IDLE', 'IMAP4rev1']),
      testMessageId: expect.stringMatching(/^<glavito-test-.+@example\.com>$/),
    });
    expect(result.credentials).toBeUndefined();

    const { messages } = await readMailbox(user);
    expect(messages).toEqual([{ uid: expect.any(Number), messageId: result.config?.testMessageId, subject: 'Glavito: your email channel is connected', from: user.email }]);

    await expect(provider.check(credentialsOf(user), configFor(user), context())).resolves.toBeUndefined();
    expect(provider.mask({ username: user.email, password: 'app-password-abcd-efgh' })).toEqual({ username: user.email, password: 'app…fgh' });
  });

  it('sends the test message to the configured recipient instead of the from address', async () => {
    const [user, recipient] = await Promise.all([createMailUser(), createMailUser()]);
    const result = await local().connect(credentialsOf(user), configFor(user, { testRecipient: recipient.email }), context());
    expect((await readMailbox(recipient)).messages.map((message) => message.messageId)).toEqual([result.config?.testMessageId]);
    expect((await readMailbox(user)).messages).toEqual([]);
  });

  it('watches the mailbox with IDLE: reports each new message once, not the ones already there, and stops on abort', async () => {
    const [user, sender] = await Promise.all([createMailUser(), createMailUser()]);
    await send(sender, user.email, 'already there');
    const inbox = collector();
    const controller = new AbortController();
    const watching = local().watchInbox(credentialsOf(user), configFor(user), inbox.onMessage, controller.signal, { onReady: inbox.onReady });
    await inbox.ready(1);

    const subject = uniqueName('hello');
    const next = inbox.next();
    const messageId = await send(sender, user.email, subject);
    const message = await next;
    expect(message).toEqual({
      uid: expect.any(Number),
      uidValidity: expect.stringMatching(/^\d+$/),
      messageId,
      from: { address: sender.email },
      subject,
      date: expect.any(String),
    });
    const second = inbox.next();
    await send(sender, user.email, 'and another');
    expect((await second).uid).toBeGreaterThan(message.uid);

    controller.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(inbox.received.map((received) => received.subject)).toEqual([subject, 'and another']);
  });

  it('resumes after the last handled message, and reconnects with backoff when the connection is cut', async () => {
    const [user, sender] = await Promise.all([createMailUser(), createMailUser()]);
    // The watcher reaches IMAP through a proxy the test can cut.
    const proxy = await tcpServer((socket) => {
      const upstream = net.connect(user.imap.port, user.imap.host);
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    });
    await send(sender, user.email, 'before');
    await send(sender, user.email, 'while nobody watched');
    const stored = await readMailbox(user);
    const before = stored.messages.find((message) => message.subject === 'before');
    expect(before).toBeDefined();
    const inbox = collector();
    const errors: AppError[] = [];
    const controller = new AbortController();
    const watching = local().watchInbox(credentialsOf(user), configFor(user, { imap: { ...proxy.server, security: 'none' } }), inbox.onMessage, controller.signal, {
      resumeAfter: { uidValidity: stored.uidValidity, uid: before?.uid ?? 0 },
      onReady: inbox.onReady,
      onError: (error) => errors.push(error),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await inbox.ready(1);
    expect(inbox.received.map((message) => message.subject)).toEqual(['while nobody watched']);

    for (const socket of [...proxy.sockets]) socket.destroy();
    await inbox.ready(2);
    expect(errors.map((error) => error.code)).toEqual(['INTEGRATION_PROVIDER_ERROR']);
    const next = inbox.next();
    await send(sender, user.email, 'after the reconnect');
    expect((await next).subject).toBe('after the reconnect');

    controller.abort();
    await watching;
    expect(inbox.received.map((message) => message.subject)).toEqual(['while nobody watched', 'after the reconnect']);
  });
});

describe('the email provider: refused credentials', () => {
  it('answers INTEGRATION_AUTH_FAILED from IMAP (connect) and SMTP (check), without the password', async () => {
    const user = await createMailUser();
    const wrong = { username: user.email, password: `wrong-${user.password}` };
    const provider = local();

    const imapError = await failure(provider.connect(wrong, configFor(user), context()));
    expect(imapError.code).toBe('INTEGRATION_AUTH_FAILED');
    expect(imapError.details).toMatchObject({ stage: 'imap' });
    expectNoSecret(imapError, wrong.password);

    const smtpError = await failure(provider.check(wrong, configFor(user), context()));
    expect(smtpError.code).toBe('INTEGRATION_AUTH_FAILED');
    expect(smtpError.details).toMatchObject({ stage: 'smtp', responseCode: 535 });
    expectNoSecret(smtpError, wrong.password);

    // Nothing was sent with refused credentials.
    expect((await readMailbox(user)).messages).toEqual([]);
  });

  it('stops the watcher on a refused login instead of retrying it', async () => {
    const user = await createMailUser();
    const wrong = { username: user.email, password: `wrong-${user.password}` };
    const errors: AppError[] = [];
    const error = await failure(
      local().watchInbox(wrong, configFor(user), () => {}, AbortSignal.timeout(10_000), { onError: (recovered) => errors.push(recovered), backoff: { initialMs: 10, maxMs: 10 } }),
    );
    expect(error.code).toBe('INTEGRATION_AUTH_FAILED');
    expect(errors).toEqual([]);
    expectNoSecret(error, wrong.password);
  });
});

describe('the email provider: timeouts', () => {
  const password = 'silent-server-password-1234';
  const credentials = { username: 'someone@example.com', password };

  it('answers EMAIL_CONNECTION_TIMEOUT when the call runs out of time, and closes its connections', async () => {
    const silent = await tcpServer(); // accepts, never greets
    const config: EmailConfig = { preset: 'custom', smtp: { ...silent.server, security: 'none' }, imap: { ...silent.server, security: 'none' }, fromAddress: 'someone@example.com' };
    const provider = local({ timeoutMs: 30_000 });

    for (const call of [() => provider.connect(credentials, config, context(300)), () => provider.check(credentials, config, context(300))]) {
      const started = Date.now();
      const error = await failure(call());
      expect(error.code).toBe('EMAIL_CONNECTION_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(3_000);
      expectNoSecret(error, password);
    }
    // Every connection the calls opened has been closed.
    for (let waited = 0; silent.sockets.size > 0 && waited < 2_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(silent.sockets.size).toBe(0);
  });

  it("answers EMAIL_CONNECTION_TIMEOUT when the libraries' greeting timeouts fire first (SMTP and IMAP)", async () => {
    const silent = await tcpServer();
    const config: EmailConfig = { preset: 'custom', smtp: { ...silent.server, security: 'none' }, imap: { ...silent.server, security: 'none' }, fromAddress: 'someone@example.com' };
    const provider = local({ timeoutMs: 300 });

    const imapError = await failure(provider.connect(credentials, config, context(30_000)));
    expect(imapError).toMatchObject({ code: 'EMAIL_CONNECTION_TIMEOUT', details: { stage: 'imap' } });
    const smtpError = await failure(provider.check(credentials, config, context(30_000)));
    expect(smtpError).toMatchObject({ code: 'EMAIL_CONNECTION_TIMEOUT', details: { stage: 'smtp' } });
  });
});

describe('the email provider: server errors and configuration', () => {
  it('answers INTEGRATION_PROVIDER_ERROR for a watched mailbox that does not exist, sending nothing', async () => {
    const user = await createMailUser();
    const error = await failure(local().connect(credentialsOf(user), configFor(user, { mailbox: 'Support' }), context()));
    expect(error.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(error.message).toContain('"Support"');
    expect(error.details).toMatchObject({ stage: 'imap', mailbox: 'Support' });
    expectNoSecret(error, user.password);
    expect((await readMailbox(user)).messages).toEqual([]);
  });

  it('answers INTEGRATION_PROVIDER_ERROR when TLS cannot be negotiated', async () => {
    const user = await createMailUser();
    const provider = local();
    const imapError = await failure(provider.connect(credentialsOf(user), configFor(user, { imap: { ...user.imap, security: 'tls' } }), context()));
    expect(imapError).toMatchObject({ code: 'INTEGRATION_PROVIDER_ERROR', details: { stage: 'imap' } });
    // GreenMail offers no STARTTLS: a required upgrade fails rather than falling back to plaintext.
    const smtpError = await failure(provider.check(credentialsOf(user), configFor(user, { smtp: { ...user.smtp, security: 'starttls' } }), context()));
    expect(smtpError).toMatchObject({ code: 'INTEGRATION_PROVIDER_ERROR', details: { stage: 'smtp' } });
    for (const error of [imapError, smtpError]) expectNoSecret(error, user.password);
  });

  it('refuses plaintext unless allowed, and a custom preset without servers', async () => {
    const user = await createMailUser();
    const strict = createEmailProvider({ resolveHost: unguardedHosts, timeoutMs: 5_000 });
    expect(strict.configSchema.safeParse(configFor(user)).success).toBe(false);
    const error = await failure(strict.connect(credentialsOf(user), configFor(user), context()));
    expect(error.code).toBe('CONFIGURATION_VALIDATION_FAILED');
    expect(error.details?.issues?.map((issue) => issue.path)).toEqual(['smtp.security', 'imap.security']);

    const missing = local().configSchema.safeParse({ preset: 'custom', fromAddress: user.email });
    expect(missing.success).toBe(false);
    expect(local().configSchema.safeParse({ preset: 'gmail', fromAddress: 'support@acme.example' }).success).toBe(true);
  });

  it("passes every host through the injected guard (the presets' well-known servers included) and keeps its refusal", async () => {
    const asked: string[] = [];
    const { AppError } = await import('../shared/errors.ts');
    const guard: ResolveHost = async (host, { stage, port }) => {
      asked.push(`${stage} ${host}:${port}`);
      throw new AppError('INTEGRATION_URL_FORBIDDEN', `${host} is not a public host`);
    };
    const provider = local({ resolveHost: guard });
    const credentials = { username: 'support@acme.example', password: 'app-password' };
    for (const [preset, imap, smtp] of [
      ['gmail', 'imap imap.gmail.com:993', 'smtp smtp.gmail.com:465'],
      ['outlook', 'imap outlook.office365.com:993', 'smtp smtp.office365.com:587'],
    ] as const) {
      asked.length = 0;
      expect((await failure(provider.connect(credentials, { preset, fromAddress: 'support@acme.example' }, context()))).code).toBe('INTEGRATION_URL_FORBIDDEN');
      expect(asked).toEqual([imap]);
      asked.length = 0;
      expect((await failure(provider.check(credentials, { preset, fromAddress: 'support@acme.example' }, context()))).code).toBe('INTEGRATION_URL_FORBIDDEN');
      expect(asked.sort()).toEqual([imap, smtp].sort());
    }
    const watchError = await failure(provider.watchInbox(credentials, { preset: 'gmail', fromAddress: 'support@acme.example' }, () => {}, AbortSignal.timeout(5_000)));
    expect(watchError.code).toBe('INTEGRATION_URL_FORBIDDEN');
  });
});
