// Email (SMTP out with nodemailer, IMAP in with imapflow) for Gmail, Outlook / Microsoft 365 or any
// other mail server. `connect` logs in to IMAP, lists the mailboxes, opens the watched one and
// checks the server can IDLE, then logs in to SMTP and sends a test message; `check` logs in to
// both and sends NOOP; `watchInbox` is the long-running IMAP IDLE loop the integration actor runs
// for inbound mail.
//
// Hosts are user input. Every connection first passes the host through `resolveHost`, the SSRF
// guard the integration actor injects (built on server/integrations/ssrf-guard.ts), and connects to
// the address it returns, so the address checked is the address used; TLS still verifies the
// certificate against the host name the user gave.
import crypto from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import nodemailer, { type SMTPTransportOptions } from 'nodemailer';
import { z } from 'zod';
import { AppError, fieldIssues } from '../../../shared/errors.ts';
import { maskSecret, untilAborted, type CallContext, type Provider } from '../provider.ts';

export const EMAIL_PRESETS = ['gmail', 'outlook', 'custom'] as const;
/** `tls`: TLS from the first byte (465, 993); `starttls`: upgrade required (587); `none`: plaintext, local test servers only. */
export const EMAIL_SECURITY = ['tls', 'starttls', 'none'] as const;

const endpointSchema = z.strictObject({
  host: z.string().max(253).pipe(z.union([z.hostname(), z.ipv6()])),
  port: z.int().min(1).max(65_535),
  security: z.enum(EMAIL_SECURITY),
});
export type MailEndpoint = z.infer<typeof endpointSchema>;

const credentialsSchema = z.strictObject({
  username: z.string().min(1).max(320),
  /** The account password or, for Gmail and Microsoft 365 with two-step verification, an app password. */
  password: z.string().min(1).max(1024),
});
export type EmailCredentials = z.infer<typeof credentialsSchema>;

const baseConfigSchema = z.strictObject({
  preset: z.enum(EMAIL_PRESETS),
  /** Overrides the preset's SMTP server; required with `custom`. */
  smtp: endpointSchema.optional(),
  /** Overrides the preset's IMAP server; required with `custom`. */
  imap: endpointSchema.optional(),
  fromAddress: z.email().max(320),
  /** Where `connect` sends its test message; the from address when unset. */
  testRecipient: z.email().max(320).optional(),
  /** The mailbox watched for inbound mail; INBOX when unset. */
  mailbox: z.string().min(1).max(255).optional(),
  // Set by connect:
  mailboxes: z.array(z.string().max(1024)).max(10_000).optional(),
  capabilities: z.array(z.string().max(255)).max(500).optional(),
  testMessageId: z.string().max(998).optional(),
});
export type EmailConfig = z.infer<typeof baseConfigSchema>;

/** The well-known servers of each preset. */
export const EMAIL_PRESET_ENDPOINTS: Record<Exclude<EmailConfig['preset'], 'custom'>, { smtp: MailEndpoint; imap: MailEndpoint }> = {
  gmail: {
    smtp: { host: 'smtp.gmail.com', port: 465, security: 'tls' },
    imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
  },
  outlook: {
    smtp: { host: 'smtp.office365.com', port: 587, security: 'starttls' },
    imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
  },
};

/**
 * The SSRF guard: returns the address to connect to for a user-supplied host, or throws
 * AppError INTEGRATION_URL_FORBIDDEN. It runs before every connection (a watcher's reconnects
 * included), so a host whose DNS changes is checked again. The integration actor builds it on
 * ssrf-guard.ts: `assertPublicHost(host, { allowPrivate, field })` with field `config.<stage>.host`,
 * answering the first of the addresses it approved.
 */
export type ResolveHost = (host: string, context: { stage: 'smtp' | 'imap'; port: number; signal: AbortSignal }) => Promise<string>;

/**
 * No SSRF check at all: connects to whatever the user named, loopback and private networks
 * included. For tests against local mail servers only; the server passes the real guard.
 */
export const unguardedHosts: ResolveHost = async (host) => host;

export type EmailProviderOptions = {
  /** The SSRF guard (required: the server passes one built on ssrf-guard.ts, tests `unguardedHosts`). */
  resolveHost: ResolveHost;
  /** Connect, greeting and socket-inactivity timeout of each connection, in ms (the call's signal bounds the whole call). */
  timeoutMs: number;
  /** Accept `security: 'none'` (credentials in plaintext): local test servers only (the server passes INTEGRATIONS_ALLOW_PRIVATE_HOSTS). */
  allowPlaintext?: boolean;
};

/** One inbound message, as `watchInbox` reports it. */
export type InboundEnvelope = {
  uid: number;
  /** UIDs are only valid together with the mailbox's UIDVALIDITY (a decimal string). */
  uidValidity: string;
  messageId?: string;
  from?: { name?: string; address?: string };
  subject?: string;
  date?: string;
};

export type WatchOptions = {
  /** Continue after this message (the last one handled before a restart); without it, only mail arriving from now on is reported. */
  resumeAfter?: { uidValidity: string; uid: number };
  /** Called each time the watcher is connected, the mailbox is open and it waits for mail. */
  onReady?: (cursor: { uidValidity: string; uid: number }) => void;
  /** A failure the watcher recovers from by reconnecting (after a backoff). */
  onError?: (error: AppError) => void;
  /** Reconnect delays: doubling from `initialMs` up to `maxMs`, with jitter. Default 1 s to 60 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often IDLE is renewed (servers drop idle sessions after some minutes). Default 4 minutes. */
  idleRenewMs?: number;
};

export type EmailProvider = Provider<EmailCredentials, EmailConfig> & {
  /**
   * Watches the configured mailbox with IMAP IDLE and calls `onMessage` for each new message, in
   * UID order, one at a time: a message counts as handled once `onMessage` resolves, and one
   * whose handler throws is delivered again after a reconnect. Reconnects with backoff after any
   * failure, except a refused login (retrying a wrong password gets accounts locked) or a refused
   * host, which reject. Resolves once `signal` aborts.
   */
  watchInbox(
    credentials: EmailCredentials,
    config: EmailConfig,
    onMessage: (message: InboundEnvelope) => Promise<void> | void,
    signal: AbortSignal,
    options?: WatchOptions,
  ): Promise<void>;
};

type Stage = 'smtp' | 'imap';
const STAGE_NAME: Record<Stage, string> = { smtp: 'SMTP', imap: 'IMAP' };

type Target = { stage: Stage; endpoint: MailEndpoint };

export function createEmailProvider(options: EmailProviderOptions): EmailProvider {
  const configSchema = baseConfigSchema.superRefine((config, context) => {
    if (config.preset === 'custom') {
      for (const stage of ['smtp', 'imap'] as const) {
        if (config[stage] === undefined) context.addIssue({ code: 'custom', path: [stage], message: `required with the custom preset` });
      }
    }
    if (!options.allowPlaintext) {
      for (const stage of ['smtp', 'imap'] as const) {
        if (config[stage]?.security === 'none') {
          context.addIssue({ code: 'custom', path: [stage, 'security'], message: 'must be tls or starttls: this server does not send credentials in plaintext' });
        }
      }
    }
  });

  /** The servers to use: the explicit ones, else the preset's; refuses what the schema refuses. */
  const endpoints = (config: EmailConfig): { smtp: MailEndpoint; imap: MailEndpoint } => {
    const parsed = configSchema.safeParse(config);
    if (!parsed.success) {
      throw new AppError('CONFIGURATION_VALIDATION_FAILED', 'The email configuration is invalid', { issues: fieldIssues(parsed.error.issues) });
    }
    const preset = config.preset === 'custom' ? undefined : EMAIL_PRESET_ENDPOINTS[config.preset];
    const smtp = config.smtp ?? preset?.smtp;
    const imap = config.imap ?? preset?.imap;
    if (smtp === undefined || imap === undefined) throw new AppError('CONFIGURATION_VALIDATION_FAILED', 'The email configuration names no SMTP or IMAP server');
    return { smtp, imap };
  };

  /** The address the guard allows for `endpoint`, and the TLS server name to verify against. */
  const address = async (stage: Stage, endpoint: MailEndpoint, signal: AbortSignal) => {
    const resolved = await options.resolveHost(endpoint.host, { stage, port: endpoint.port, signal });
    return { host: resolved, servername: net.isIP(endpoint.host) === 0 ? endpoint.host : undefined };
  };

  const imapClient = async (credentials: EmailCredentials, endpoint: MailEndpoint, signal: AbortSignal, socketTimeoutMs: number, idleRenewMs?: number) => {
    const { host, servername } = await address('imap', endpoint, signal);
    const client = new ImapFlow({
      host,
      ...(servername === undefined ? {} : { servername }),
      port: endpoint.port,
      secure: endpoint.security === 'tls',
      ...(endpoint.security === 'tls' ? {} : { doSTARTTLS: endpoint.security === 'starttls' }),
      auth: { user: credentials.username, pass: credentials.password },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: socketTimeoutMs,
      ...(idleRenewMs === undefined ? {} : { maxIdleTime: idleRenewMs }),
      clientInfo: { name: 'Glavito onboarding' },
    });
    // Failures surface through the commands' promises; an unheard 'error' event would crash the process.
    client.on('error', () => {});
    return client;
  };

  /** One IMAP session for a provider call: closed on abort, logged out afterwards. */
  const withImap = async <T>(credentials: EmailCredentials, endpoint: MailEndpoint, context: CallContext, use: (client: ImapFlow) => Promise<T>): Promise<T> => {
    const target: Target = { stage: 'imap', endpoint };
    let client: ImapFlow | undefined;
    const close = () => client?.close();
    context.signal.addEventListener('abort', close, { once: true });
    const work = (async () => {
      client = await imapClient(credentials, endpoint, context.signal, options.timeoutMs);
      if (context.signal.aborted) client.close();
      await client.connect();
      const result = await use(client);
      await client.logout();
      return result;
    })();
    try {
      return await untilAborted(work, context.signal, () => timeoutError(target));
    } catch (error) {
      throw emailError(error, target, credentials);
    } finally {
      context.signal.removeEventListener('abort', close);
      close();
    }
  };

  /** One SMTP transport for a provider call, on a socket of ours: nodemailer's verify() cannot be cancelled, the socket can. */
  const withSmtp = async <T>(
    credentials: EmailCredentials,
    endpoint: MailEndpoint,
    context: CallContext,
    use: (transport: ReturnType<typeof nodemailer.createTransport>) => Promise<T>,
  ): Promise<T> => {
    const target: Target = { stage: 'smtp', endpoint };
    const socket = new net.Socket();
    const close = () => socket.destroy();
    context.signal.addEventListener('abort', close, { once: true });
    const work = (async () => {
      const { host, servername } = await address('smtp', endpoint, context.signal);
      const transportOptions: SMTPTransportOptions = {
        host,
        ...(servername === undefined ? {} : { servername }),
        port: endpoint.port,
        socket,
        secure: endpoint.security === 'tls',
        requireTLS: endpoint.security === 'starttls',
        ignoreTLS: endpoint.security === 'none',
        auth: { user: credentials.username, pass: credentials.password },
        connectionTimeout: options.timeoutMs,
        greetingTimeout: options.timeoutMs,
        socketTimeout: options.timeoutMs,
        dnsTimeout: options.timeoutMs,
        logger: false,
      };
      return use(nodemailer.createTransport(transportOptions));
    })();
    try {
      return await untilAborted(work, context.signal, () => timeoutError(target));
    } catch (error) {
      close();
      throw emailError(error, target, credentials);
    } finally {
      context.signal.removeEventListener('abort', close);
    }
  };

  const provider: EmailProvider = {
    kind: 'email',
    credentialsSchema,
    configSchema,
    mask: (credentials) => ({ username: credentials.username, password: maskSecret(credentials.password) }),

    async connect(credentials, config, context) {
      const { smtp, imap } = endpoints(config);
      const mailbox = config.mailbox ?? 'INBOX';
      // IMAP first: the test message is only sent once everything else is known to work.
      const discovered = await withImap(credentials, imap, context, async (client) => {
        const capabilities = [...client.capabilities.keys()].sort();
        if (!client.capabilities.has('IDLE')) {
          throw new AppError('INTEGRATION_PROVIDER_ERROR', `The IMAP server ${imap.host}:${imap.port} does not support IDLE, which watching for new mail needs`, {
            stage: 'imap',
            capabilities,
          });
        }
        const mailboxes = (await client.list()).map((entry) => entry.path);
        // EXAMINE (read-only): opening it proves it exists and can be read, changing nothing.
        await openMailbox(client, mailbox, imap);
        return { capabilities, mailboxes };
      });
      const testMessageId = await withSmtp(credentials, smtp, context, async (transport) => {
        const info = await transport.sendMail({
          from: config.fromAddress,
          to: config.testRecipient ?? config.fromAddress,
          subject: 'Glavito: your email channel is connected',
          text:
            'This message was sent by Glavito to check that it can send mail from this address.\n' +
            `Replies to ${config.fromAddress} will show up in your helpdesk. You can delete this message.\n`,
          messageId: `<glavito-test-${crypto.randomUUID()}@${config.fromAddress.split('@')[1] ?? 'glavito'}>`,
        });
        return info.messageId;
      });
      return { config: { ...discovered, testMessageId } };
    },

    async check(credentials, config, context) {
      const { smtp, imap } = endpoints(config);
      // Both at once; a failure of SMTP is reported before one of IMAP.
      const results = await Promise.allSettled([
        withSmtp(credentials, smtp, context, async (transport) => {
          await transport.verify();
        }),
        withImap(credentials, imap, context, async (client) => {
          await client.noop();
        }),
      ]);
      for (const result of results) if (result.status === 'rejected') throw result.reason;
    },

    async watchInbox(credentials, config, onMessage, signal, watchOptions = {}) {
      const { imap } = endpoints(config);
      const target: Target = { stage: 'imap', endpoint: imap };
      const backoff = watchOptions.backoff ?? { initialMs: 1_000, maxMs: 60_000 };
      const idleRenewMs = watchOptions.idleRenewMs ?? 4 * 60_000;
      let cursor = watchOptions.resumeAfter;
      let failures = 0;
      while (!signal.aborted) {
        try {
          const client = await imapClient(credentials, imap, signal, Math.max(idleRenewMs + 60_000, options.timeoutMs), idleRenewMs);
          await watchSession(client, imap, config.mailbox ?? 'INBOX', cursor, signal, {
            onMessage,
            onCursor: (next) => (cursor = next),
            onReady: (ready) => {
              failures = 0;
              cursor = ready;
              watchOptions.onReady?.(ready);
            },
          });
        } catch (error) {
          if (signal.aborted) break;
          const appError = emailError(error, target, credentials);
          if (appError.code === 'INTEGRATION_AUTH_FAILED' || appError.code === 'INTEGRATION_URL_FORBIDDEN') throw appError;
          watchOptions.onError?.(appError);
        }
        failures += 1;
        const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failures - 1));
        await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal }).catch(() => {});
      }
    },
  };
  return provider;
}

/**
 * One connection of the watcher: opens the mailbox, reports what arrived after the cursor, then
 * IDLEs until the server announces new mail (EXISTS) and fetches it. Returns on abort; throws when
 * the connection fails or the server closes it.
 */
async function watchSession(
  client: ImapFlow,
  endpoint: MailEndpoint,
  mailbox: string,
  resumeAfter: WatchOptions['resumeAfter'],
  signal: AbortSignal,
  hooks: { onMessage: (message: InboundEnvelope) => Promise<void> | void; onCursor: (cursor: { uidValidity: string; uid: number }) => void; onReady: (cursor: { uidValidity: string; uid: number }) => void },
): Promise<void> {
  let wake: (() => void) | undefined;
  let newMail = true;
  client.on('exists', () => {
    newMail = true;
    wake?.();
  });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const close = () => client.close();
  signal.addEventListener('abort', close, { once: true });
  try {
    if (signal.aborted) return;
    await client.connect();
    const opened = await openMailbox(client, mailbox, endpoint);
    const uidValidity = opened.uidValidity.toString();
    let lastUid = resumeAfter?.uidValidity === uidValidity ? resumeAfter.uid : opened.uidNext - 1;
    let ready = false;
    while (!signal.aborted && client.usable) {
      if (newMail) {
        newMail = false;
        const current = client.mailbox;
        if (current !== false && current.exists > 0) {
          // Collected first: no other command may run while a FETCH is being read.
          const fetched: FetchMessageObject[] = [];
          for await (const message of client.fetch(`${lastUid + 1}:*`, { uid: true, envelope: true }, { uid: true })) {
            // `n:*` always includes the highest UID, even when it is below n.
            if (message.uid > lastUid) fetched.push(message);
          }
          fetched.sort((a, b) => a.uid - b.uid);
          for (const message of fetched) {
            try {
              await hooks.onMessage(envelopeOf(message, uidValidity));
            } catch (error) {
              throw new AppError('INTERNAL_ERROR', `Handling inbound message ${message.uid} failed: ${(error as Error).message}`);
            }
            lastUid = message.uid;
            hooks.onCursor({ uidValidity, uid: lastUid });
          }
        }
        continue;
      }
      // IDLE until new mail or the end of the connection; the next FETCH ends the IDLE.
      void client.idle().catch(() => {});
      if (!ready) {
        ready = true;
        hooks.onReady({ uidValidity, uid: lastUid });
      }
      await Promise.race([closed, new Promise<void>((resolve) => (wake = resolve))]);
      wake = undefined;
    }
    if (!signal.aborted) throw new AppError('INTEGRATION_PROVIDER_ERROR', 'The IMAP server closed the connection');
  } finally {
    signal.removeEventListener('abort', close);
    client.close();
  }
}

/** Opens `mailbox` read-only (EXAMINE: fetching envelopes changes no flags); a missing one is named in the error. */
async function openMailbox(client: ImapFlow, mailbox: string, endpoint: MailEndpoint) {
  try {
    return await client.mailboxOpen(mailbox, { readOnly: true });
  } catch (error) {
    if ((error as MailLibraryError).mailboxMissing !== true) throw error;
    throw new AppError('INTEGRATION_PROVIDER_ERROR', `The IMAP server ${endpoint.host}:${endpoint.port} has no mailbox ${JSON.stringify(mailbox)}`, {
      stage: 'imap',
      host: endpoint.host,
      port: endpoint.port,
      mailbox,
    });
  }
}

function envelopeOf(message: FetchMessageObject, uidValidity: string): InboundEnvelope {
  const envelope = message.envelope;
  const sender = envelope?.from?.[0];
  const date = envelope?.date;
  return {
    uid: message.uid,
    uidValidity,
    ...(envelope?.messageId ? { messageId: envelope.messageId } : {}),
    ...(sender ? { from: { ...(sender.name ? { name: sender.name } : {}), ...(sender.address ? { address: sender.address } : {}) } } : {}),
    ...(envelope?.subject !== undefined ? { subject: envelope.subject } : {}),
    ...(date ? { date: date instanceof Date ? date.toISOString() : date } : {}),
  };
}

function timeoutError(target: Target): AppError {
  const { stage, endpoint } = target;
  return new AppError('EMAIL_CONNECTION_TIMEOUT', `The ${STAGE_NAME[stage]} server ${endpoint.host}:${endpoint.port} did not answer in time`, {
    stage,
    host: endpoint.host,
    port: endpoint.port,
  });
}

/** What nodemailer and imapflow attach to their errors (all optional). */
type MailLibraryError = Error & {
  code?: string;
  responseCode?: number;
  responseText?: string;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  mailboxMissing?: boolean;
};

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT']);

/** A mail library's failure mapped onto the provider error contract, never carrying the password. */
function emailError(error: unknown, target: Target, credentials: EmailCredentials): AppError {
  if (error instanceof AppError) return error;
  const { stage, endpoint } = target;
  const failure = (error instanceof Error ? error : new Error(String(error))) as MailLibraryError;
  if (failure.code !== undefined && TIMEOUT_CODES.has(failure.code)) return timeoutError(target);
  const server = `The ${STAGE_NAME[stage]} server ${endpoint.host}:${endpoint.port}`;
  // imapflow's own message is a bare "Command failed"; the server's text says what failed.
  const said = scrub(failure.responseText ?? failure.message, credentials);
  const details = {
    stage,
    host: endpoint.host,
    port: endpoint.port,
    ...(failure.code === undefined ? {} : { code: failure.code }),
    ...(failure.responseCode === undefined ? {} : { responseCode: failure.responseCode }),
    ...(failure.serverResponseCode === undefined ? {} : { serverResponseCode: failure.serverResponseCode }),
  };
  const authFailed =
    failure.authenticationFailed === true || failure.serverResponseCode === 'AUTHENTICATIONFAILED' || failure.code === 'EAUTH' || failure.code === 'ENOAUTH';
  if (authFailed) return new AppError('INTEGRATION_AUTH_FAILED', `${server} refused the username or password: ${said}`, details);
  return new AppError('INTEGRATION_PROVIDER_ERROR', `${server} failed: ${said}`, details);
}

/** Removes the password from a library or server message, in the forms SMTP and IMAP send it in (plain, AUTH LOGIN, AUTH PLAIN). */
function scrub(text: string, { username, password }: EmailCredentials): string {
  const base64 = (value: string) => Buffer.from(value).toString('base64');
  const forms = [password, JSON.stringify(password).slice(1, -1), base64(password), base64(`\u0000${username}\u0000${password}`)];
  let result = text;
  for (const form of forms) if (form.length > 0) result = result.split(form).join('…');
  return result;
}
