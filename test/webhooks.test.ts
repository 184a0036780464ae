// Inbound webhooks end to end: the real Koa app (createApp, webhook router mounted before the JSON
// body parser) on a real PostgreSQL database for the inbound queue; the integration service's port
// (WebhookTargets) is an in-memory map. Bodies are signed as the providers sign them (HMAC-SHA256
// for Meta, stripe-node's test header for Stripe); only correctly signed ones are stored, once.
import crypto from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Stripe from 'stripe';
import { InboundMessage } from '../server/db/entities.ts';
import { migrate, openDatabase, type Database } from '../server/db/orm.ts';
import { createApp } from '../server/http/app.ts';
import { webhookRouter, type WebhookKind, type WebhookTargets } from '../server/http/webhook-routes.ts';
import { InboundStore, MAX_PAYLOAD_BYTES } from '../server/integrations/inbound-store.ts';
import { createInstagramProvider } from '../server/integrations/providers/instagram.ts';
import { createLogger } from '../server/logger.ts';
import { createMetrics, type Metrics } from '../server/metrics.ts';
import { AppError } from '../shared/errors.ts';
import { tempDir } from './support/config.ts';
import { createTestDatabase, type TestDatabase } from './support/isolation.ts';
import { localServers } from './support/local-servers.ts';

const LIMIT = 8_192;
const APP_SECRET = '0123456789abcdef0123456789abcdef';
const VERIFY_TOKEN = 'verify-me-please';
const STRIPE_SECRET = 'whsec_test_secret_0123456789';
const WA_ID = crypto.randomUUID();
const IG_ID = crypto.randomUUID();
const STRIPE_ID = crypto.randomUUID();

const targets: WebhookTargets = {
  async secrets(kind, integrationId) {
    const known: Record<string, Awaited<ReturnType<WebhookTargets['secrets']>>> = {
      [`whatsapp:${WA_ID}`]: { tenantId: 'acme', appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
      [`instagram:${IG_ID}`]: { tenantId: 'globex', appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
      [`stripe:${STRIPE_ID}`]: { tenantId: 'initech', webhookSecret: STRIPE_SECRET },
    };
    return known[`${kind}:${integrationId}`];
  },
};

let pgDatabase: TestDatabase;
let db: Database;
let inbound: InboundStore;
let metrics: Metrics;
let url: string;
const listen = localServers();

beforeAll(async () => {
  pgDatabase = await createTestDatabase();
  db = await openDatabase({ databaseUrl: pgDatabase.url, dataDir: tempDir() });
  await migrate(db);
  inbound = new InboundStore(db);
  metrics = createMetrics('test');
  const log = createLogger({ level: 'silent', nodeId: 'test' });
  const app = createApp({
    log,
    metrics,
    verify: async () => {
      throw new AppError('AUTH_TOKEN_INVALID', 'no user tokens in this test');
    },
    nodeId: 'test',
    dependencies: [],
    readinessTimeoutMs: 1_000,
    bodyLimitBytes: LIMIT,
    trustProxy: false,
    isAcceptingWork: () => true,
    routes: [],
    openApi: {},
    webhooks: webhookRouter({ targets, inbound, metrics, bodyLimitBytes: LIMIT, log }),
  });
  url = await listen(http.createServer(app.callback()));
});
afterAll(async () => {
  await db.close();
  await pgDatabase.drop();
});

type Answer = { status: number; type: string | null; body: { error?: { code: string }; received?: number; stored?: number; duplicates?: number } & Record<string, unknown>; text: string };

async function request(method: 'GET' | 'POST', path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    // text/plain (the handshake)
  }
  return { status: response.status, type: response.headers.get('content-type'), body: parsed, text };
}

const metaSign = (body: string | Buffer, secret = APP_SECRET) => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
const stripeSign = (payload: string, options: { secret?: string; timestamp?: number } = {}) =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? STRIPE_SECRET, ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}) });

const rows = (tenantId: string) => db.em().count(InboundMessage, { tenantId });
const counted = async (counter: 'webhookRequests' | 'inboundMessages', labels: Record<string, string>) =>
  (await metrics[counter].get()).values.find((value) => Object.entries(labels).every(([key, label]) => (value.labels as Record<string, unknown>)[key] === label))?.value ?? 0;

// ---- payloads as the providers send them ----

const waMessage = (id: string, text = 'Bonjour, héllo') => ({ from: '33611111111', id, timestamp: '1764000000', type: 'text', text: { body: text } });
const waBody = (value: { messages?: unknown[]; statuses?: unknown[] }) =>
  JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '33612345678', phone_number_id: '106540352242922' },
              contacts: [{ profile: { name: 'Ada' }, wa_id: '33611111111' }],
              ...value,
            },
          },
        ],
      },
    ],
  });
const igEvent = (mid: string, extra: Record<string, unknown> = {}) => ({
  sender: { id: '900001' },
  recipient: { id: '17841400000000001' },
  timestamp: 1764000000123,
  message: { mid, text: 'Salut', ...extra },
});
const igBody = (messaging: unknown[]) => JSON.stringify({ object: 'instagram', entry: [{ id: '17841400000000001', time: 1764000000200, messaging }] });
const stripeBody = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, object: 'event', type: 'invoice.paid', created: 1764000000, livemode: false, data: { object: { id: 'in_1', object: 'invoice', lines: { data: [] }, ...extra } } });

const path = (kind: WebhookKind, id: string) => `/api/v1/webhooks/${kind}/${id}`;

describe('Meta signed POSTs (WhatsApp, Instagram)', () => {
  it('WhatsApp: stores each message of a signed delivery, normalized with its raw object, for the integration tenant', async () => {
    const body = waBody({ messages: [waMessage('wamid.A1'), { ...waMessage('wamid.A2'), type: 'image', text: undefined, image: { id: 'media-1' } }] });
    const answer = await request('POST', path('whatsapp', WA_ID), body, { 'x-hub-signature-256': metaSign(body) });
    expect(answer).toMatchObject({ status: 200, body: { received: 2, stored: 2, duplicates: 0 } });
    const pending = await inbound.pending('acme', 10);
    expect(pending.map((row) => [row.channel, row.externalId])).toEqual([
      ['whatsapp', 'wamid.A1'],
      ['whatsapp', 'wamid.A2'],
    ]);
    expect(pending[0]!.payload).toMatchObject({
      id: 'wamid.A1',
      phoneNumberId: '106540352242922',
      from: '33611111111',
      fromName: 'Ada',
      type: 'text',
      text: 'Bonjour, héllo',
      sentAt: '2025-11-24T16:00:00.000Z',
      raw: waMessage('wamid.A1'),
    });
    expect(pending[1]!.payload).toMatchObject({ type: 'image', raw: { image: { id: 'media-1' } } });
    expect(await inbound.pending('globex', 10)).toEqual([]);
  });

  it('WhatsApp: a redelivery is stored once and counted as duplicate', async () => {
    const body = waBody({ messages: [waMessage('wamid.A1'), waMessage('wamid.A3')] });
    const answer = await request('POST', path('whatsapp', WA_ID), body, { 'x-hub-signature-256': metaSign(body) });
    expect(answer).toMatchObject({ status: 200, body: { received: 2, stored: 1, duplicates: 1 } });
    expect(await rows('acme')).toBe(3);
    expect(await counted('inboundMessages', { channel: 'whatsapp', outcome: 'duplicate' })).toBe(1);
    expect(await counted('inboundMessages', { channel: 'whatsapp', outcome: 'stored' })).toBe(3);
  });

  it('WhatsApp: a statuses-only delivery is acknowledged and stores nothing', async () => {
    const body = waBody({ statuses: [{ id: 'wamid.OUT1', status: 'delivered', timestamp: '1764000001', recipient_id: '33611111111' }] });
    expect(await request('POST', path('whatsapp', WA_ID), body, { 'x-hub-signature-256': metaSign(body) })).toMatchObject({ status: 200, body: { received: 0 } });
    expect(await rows('acme')).toBe(3);
  });

  it('Instagram: stores customer messages, not echoes nor events without a message, then dedupes a redelivery', async () => {
    const body = igBody([igEvent('mid.IG1'), igEvent('mid.ECHO', { is_echo: true }), { sender: { id: '900001' }, recipient: { id: '1' }, timestamp: 1, read: { mid: 'mid.IG0' } }]);
    const answer = await request('POST', path('instagram', IG_ID), body, { 'x-hub-signature-256': metaSign(body) });
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0 } });
    const [row] = await inbound.pending('globex', 10);
    expect(row).toMatchObject({ channel: 'instagram', externalId: 'mid.IG1', payload: { from: '900001', to: '17841400000000001', text: 'Salut', sentAt: '2025-11-24T16:00:00.123Z' } });
    expect(await request('POST', path('instagram', IG_ID), body, { 'x-hub-signature-256': metaSign(body) })).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect(await rows('globex')).toBe(1);
  });

  it.each([['whatsapp' as const], ['instagram' as const]])('%s: refuses a tampered body, a missing, malformed or wrongly keyed signature (403), storing nothing', async (kind) => {
    const id = kind === 'whatsapp' ? WA_ID : IG_ID;
    const body = kind === 'whatsapp' ? waBody({ messages: [waMessage('wamid.BAD')] }) : igBody([igEvent('mid.BAD')]);
    const tenant = kind === 'whatsapp' ? 'acme' : 'globex';
    const before = await rows(tenant);
    const refusedBefore = await counted('webhookRequests', { provider: kind, outcome: 'refused' });
    for (const [sent, headers] of [
      [body.replace('BAD', 'BAE'), { 'x-hub-signature-256': metaSign(body) }],
      [body, {}],
      [body, { 'x-hub-signature-256': metaSign(body).replace('sha256=', 'sha1=') }],
      [body, { 'x-hub-signature-256': 'sha256=zz' }],
      [body, { 'x-hub-signature-256': metaSign(body, 'fedcba9876543210fedcba9876543210') }],
    ] as const) {
      const answer = await request('POST', path(kind, id), sent, headers);
      expect(answer).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect(answer.text).not.toContain(APP_SECRET);
    }
    expect(await rows(tenant)).toBe(before);
    expect(await counted('webhookRequests', { provider: kind, outcome: 'refused' })).toBe(refusedBefore + 5);
  });

  it('answers 400 VALIDATION_FAILED for a signed body that is not JSON or not the expected payload', async () => {
    for (const body of ['not json', JSON.stringify({ object: 'page', entry: [] }), waBody({ messages: [{ id: 'wamid.X' }] })]) {
      expect(await request('POST', path('whatsapp', WA_ID), body, { 'x-hub-signature-256': metaSign(body) })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
    const ig = JSON.stringify({ object: 'instagram', entry: [{ id: '1', time: 1, messaging: [{ sender: {}, recipient: { id: '2' }, timestamp: 1 }] }] });
    expect(await request('POST', path('instagram', IG_ID), ig, { 'x-hub-signature-256': metaSign(ig) })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(await rows('acme')).toBe(3);
  });
});

describe('Meta subscription handshake (GET)', () => {
  const query = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;
  const ok = { 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1158201444' };

  it.each([['whatsapp' as const], ['instagram' as const]])('%s: echoes the challenge as text/plain for the right token, 403 otherwise', async (kind) => {
    const id = kind === 'whatsapp' ? WA_ID : IG_ID;
    const answer = await request('GET', `${path(kind, id)}${query(ok)}`);
    expect(answer).toMatchObject({ status: 200, text: '1158201444' });
    expect(answer.type).toMatch(/^text\/plain/);
    for (const bad of [{ ...ok, 'hub.verify_token': 'verify-me-plea5e' }, { ...ok, 'hub.mode': 'unsubscribe' }, { 'hub.mode': 'subscribe', 'hub.challenge': '1' }]) {
      expect(await request('GET', `${path(kind, id)}${query(bad)}`)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    }
    expect(await counted('webhookRequests', { provider: kind, outcome: 'handshake' })).toBe(1);
  });

  it('answers 404 for an unknown integration', async () => {
    expect(await request('GET', `${path('whatsapp', crypto.randomUUID())}${query(ok)}`)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  it('requires a verify token in Instagram credentials, and masks it', () => {
    const provider = createInstagramProvider({ graphUrl: 'http://127.0.0.1:1', apiVersion: 'v21.0', timeoutMs: 1_000 });
    const credentials = { accessToken: 'EAAGinstagramPageToken0123456789abcdefghij', appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN };
    expect(provider.credentialsSchema.safeParse(credentials).success).toBe(true);
    expect(provider.credentialsSchema.safeParse({ ...credentials, verifyToken: 'short' }).success).toBe(false);
    expect(provider.credentialsSchema.safeParse({ ...credentials, verifyToken: undefined }).success).toBe(false);
    expect(provider.mask(credentials).verifyToken).not.toBe(VERIFY_TOKEN);
  });
});

describe('Stripe signed events', () => {
  it('stores a verified event once, bounded to its identifiers (never the full object)', async () => {
    const body = stripeBody('evt_1', { description: 'x'.repeat(2_000) });
    const answer = await request('POST', path('stripe', STRIPE_ID), body, { 'stripe-signature': stripeSign(body) });
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0 } });
    const [row] = await inbound.pending('initech', 10);
    expect(row).toMatchObject({ channel: 'stripe', externalId: 'evt_1' });
    expect(row!.payload).toEqual({ id: 'evt_1', type: 'invoice.paid', created: 1764000000, livemode: false, object: { id: 'in_1', type: 'invoice' } });
    expect(await request('POST', path('stripe', STRIPE_ID), body, { 'stripe-signature': stripeSign(body) })).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect(await rows('initech')).toBe(1);
  });

  it('refuses a tampered body, a missing, malformed or wrongly keyed header, a stale timestamp (400 STRIPE_WEBHOOK_FAILED), storing nothing', async () => {
    const body = stripeBody('evt_2');
    for (const [sent, headers] of [
      [body.replace('evt_2', 'evt_3'), { 'stripe-signature': stripeSign(body) }],
      [body, {}],
      [body, { 'stripe-signature': 'v1=abc' }],
      [body, { 'stripe-signature': stripeSign(body, { secret: 'whsec_other' }) }],
      [body, { 'stripe-signature': stripeSign(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }) }],
    ] as const) {
      const answer = await request('POST', path('stripe', STRIPE_ID), sent, headers);
      expect(answer).toMatchObject({ status: 400, body: { error: { code: 'STRIPE_WEBHOOK_FAILED' } } });
      expect(answer.text).not.toContain(STRIPE_SECRET);
    }
    expect(await rows('initech')).toBe(1);
    expect(await counted('webhookRequests', { provider: 'stripe', outcome: 'refused' })).toBe(5);
  });
});

describe('every provider', () => {
  const signed = (kind: WebhookKind, body: string): Record<string, string> =>
    kind === 'stripe' ? { 'stripe-signature': stripeSign(body) } : { 'x-hub-signature-256': metaSign(body) };
  const sample = (kind: WebhookKind, padding = '') =>
    kind === 'whatsapp' ? waBody({ messages: [waMessage('wamid.BIG', padding)] }) : kind === 'instagram' ? igBody([igEvent('mid.BIG', { text: padding })]) : stripeBody('evt_big', { description: padding });

  it.each([['whatsapp' as const], ['instagram' as const], ['stripe' as const]])('%s: 404 for an unknown or another kind of integration, 400 for an id that is not a UUID', async (kind) => {
    const body = sample(kind);
    const unknownBefore = await counted('webhookRequests', { provider: kind, outcome: 'unknown' });
    const unknown = await request('POST', path(kind, crypto.randomUUID()), body, signed(kind, body));
    const otherKind = await request('POST', path(kind, kind === 'stripe' ? WA_ID : STRIPE_ID), body, signed(kind, body));
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    // The same answer whatever the reason: nothing tells an unknown id from a disabled or another kind.
    expect(otherKind.body).toEqual(unknown.body);
    expect(await request('POST', path(kind, 'not-a-uuid'), body, signed(kind, body))).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(await counted('webhookRequests', { provider: kind, outcome: 'unknown' })).toBe(unknownBefore + 2);
  });

  it.each([['whatsapp' as const], ['instagram' as const], ['stripe' as const]])('%s: 413 for a body over the limit, even correctly signed, storing nothing', async (kind) => {
    const id = kind === 'whatsapp' ? WA_ID : kind === 'instagram' ? IG_ID : STRIPE_ID;
    const body = sample(kind, 'x'.repeat(LIMIT));
    const before = await db.em().count(InboundMessage, {});
    expect(await request('POST', path(kind, id), body, signed(kind, body))).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    // Also when the size is not declared (chunked): refused as soon as the stream passes the limit.
    const chunked = await fetch(`${url}${path(kind, id)}`, {
      method: 'POST',
      headers: signed(kind, body),
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(Buffer.from(body));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await db.em().count(InboundMessage, {})).toBe(before);
    expect(await counted('webhookRequests', { provider: kind, outcome: 'too_large' })).toBe(2);
  });
});

describe.each(['postgresql', 'sqlite'] as const)('the inbound store on %s', (dialect) => {
  let storeDb: Database;
  let store: InboundStore;
  let own: TestDatabase | undefined;
  beforeAll(async () => {
    if (dialect === 'postgresql') own = await createTestDatabase();
    storeDb = await openDatabase({ databaseUrl: own?.url, dataDir: tempDir() });
    await migrate(storeDb);
    store = new InboundStore(storeDb);
  });
  afterAll(async () => {
    await storeDb.close();
    await own?.drop();
  });

  it('inserts each (channel, externalId) once, rejects items out of bounds, reads and marks per tenant', async () => {
    const item = (externalId: string, tenantId = 't1', channel: 'email' | 'stripe' = 'email') => ({ tenantId, channel, externalId, payload: { n: externalId } });
    expect(await store.enqueue([item('m1'), item('m2'), item('m1'), item('m1', 't1', 'stripe')])).toEqual({ stored: 3, duplicates: 1, rejected: 0 });
    expect(await store.enqueue([item('m2'), item('m3'), item('x'.repeat(257)), item(''), { ...item('big'), payload: { s: 'x'.repeat(MAX_PAYLOAD_BYTES) } }])).toEqual({
      stored: 1,
      duplicates: 1,
      rejected: 3,
    });
    expect(await store.enqueue([])).toEqual({ stored: 0, duplicates: 0, rejected: 0 });
    await store.enqueue([item('o1', 't2')]);
    const pending = await store.pending('t1', 10);
    expect(pending.map((row) => `${row.channel}:${row.externalId}`)).toEqual(['email:m1', 'email:m2', 'stripe:m1', 'email:m3']);
    expect(pending[0]!.payload).toEqual({ n: 'm1' });
    const other = await store.pending('t2', 10);
    // Another tenant's ids never match.
    expect(await store.markProcessed('t1', [other[0]!.id, pending[0]!.id])).toBe(1);
    expect((await store.pending('t1', 10)).map((row) => row.externalId)).toEqual(['m2', 'm1', 'm3']);
    expect(await store.pending('t2', 10)).toHaveLength(1);
    expect(await store.pending('t1', 1)).toHaveLength(1);
  });
});
