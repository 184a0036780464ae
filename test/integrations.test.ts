// The integrations REST API end to end: a real in-process server on its own PostgreSQL database,
// talking to real peers — stripe-mock, GreenMail (SMTP + IMAP) — and to the hand-written stand-ins
// for Meta Graph, n8n and an OpenAI-compatible API. Every kind is connected, refused, validated,
// checked, disabled, enabled, removed and operated through HTTP; the stored rows, the outbox, the
// audit trail and the server's own log lines are then searched for every secret that went in.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { SAMPLE_TICKETS } from '../server/integrations/ai/sample-tickets.ts';
import { integrationEventSchemas, type IntegrationEventType } from '../server/events/integration-events.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import type { Role } from '../shared/auth.ts';
import { ERROR_STATUS, type ErrorCode } from '../shared/errors.ts';
import { api, tokenFor, type Api, type ApiResponse } from './support/api.ts';
import { testConfig } from './support/config.ts';
import {
  aiLocalConnect,
  aiRemoteConnect,
  APP_SECRET,
  emailConnect,
  GRAPH_VERSION,
  IG_NARROW_TOKEN,
  IG_TOKEN,
  IG_VERIFY,
  instagramConnect,
  metaSignature,
  n8nConnect,
  REVOKED_WA_TOKEN,
  seedGraph,
  STRIPE_KEY,
  STRIPE_REFUSED_KEY,
  STRIPE_WHSEC,
  stripeConnect,
  stripeSignature,
  stripeWebhookBody,
  WA_TOKEN,
  WA_VERIFY,
  whatsappConnect,
  whatsappWebhookBody,
  type ConnectBody,
} from './support/integration-fixtures.ts';
import { createMailUser, createTestDatabase, requiredEnv, type MailUser, type TestDatabase } from './support/isolation.ts';
import { startMetaGraph, type MetaGraph } from './support/meta-graph.ts';
import { TEMPLATE_PARAMS } from './support/n8n-cases.ts';
import { startN8nStandIn, type N8nStandIn } from './support/n8n-standin.ts';
import { startOpenAiStandIn, type OpenAiStandIn } from './support/openai-standin.ts';

/** The provider call deadline of the server under test (the n8n stand-in answers later to time out). */
const CALL_TIMEOUT_MS = 2_500;
const WRONG_N8N_KEY = 'n8n_api_wrongkey0000000000000000000000';
const WRONG_OPENAI_KEY = 'sk-wrong-e2e-0123456789abcdef01234567';
const WRONG_MAIL_PASSWORD = 'wrong-mail-password-e2e-5c1d';

const ACME = 'acme-e2e';
/** openai_compatible AI (a tenant has one AI integration, so the remote one lives here). */
const LLM = 'llm-e2e';
const GLOBEX = 'globex-e2e';
/** Refused connects: nothing may be stored for this tenant. */
const FRESH = 'fresh-e2e';
const LIFECYCLE = 'lifecycle-e2e';
const FAULTS = 'faults-e2e';

type View = {
  id: string;
  kind: string;
  status: string;
  errorMessage: string | null;
  config: Record<string, unknown>;
  credentials: Record<string, string>;
  health: { lastCheckedAt: string; isHealthy: boolean; responseTime: number } | null;
  webhookUrl: string | null;
  training: Record<string, unknown> | null;
  background: { runId: string; state: string; percent: number; result?: unknown; error?: unknown } | null;
  createdAt: string;
  updatedAt: string;
};
type ErrorAnswer = { error: { code: string; message: string; details?: { issues?: { path: string; message: string }[] } & Record<string, unknown> } };

let database: TestDatabase;
let server: RunningServer;
let graph: MetaGraph;
let n8n: N8nStandIn;
let openai: OpenAiStandIn;
let mailUser: MailUser;
const logLines: string[] = [];
const clients = new Map<string, Api>();

/** The API as `role` of `tenant`. */
async function as(tenant: string, role: Role = 'admin'): Promise<Api> {
  const key = `${tenant}:${role}`;
  let client = clients.get(key);
  if (!client) {
    client = api(server.url, await tokenFor(tenant, role, `${role}-of-${tenant}`));
    clients.set(key, client);
  }
  return client;
}

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await server.db.em().getConnection().execute(query, params)) as T[];
}
const json = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

const integrationRows = (tenant: string) =>
  sql<{ id: string; kind: string; status: string; credentials: unknown; credentials_mask: unknown; config: unknown; updated_at: Date }>(
    'select id, kind, status, credentials, credentials_mask, config, updated_at from integration where tenant_id = ? order by kind',
    [tenant],
  );
const outboxEvents = async (tenant: string) =>
  (await sql<{ type: string; topic: string; payload: unknown }>('select type, topic, payload from outbox_event where tenant_id = ? order by id', [tenant])).map((row) => ({
    type: row.type,
    topic: row.topic,
    payload: json<Record<string, unknown>>(row.payload),
  }));
const inboundRows = (tenant: string, channel: string) =>
  sql<{ external_id: string; payload: unknown }>('select external_id, payload from inbound_message where tenant_id = ? and channel = ? order by id', [tenant, channel]);

function expectError(answer: ApiResponse, code: ErrorCode): ErrorAnswer['error'] {
  expect({ status: answer.status, code: (answer.body as ErrorAnswer | undefined)?.error?.code }).toEqual({ status: ERROR_STATUS[code], code });
  return (answer.body as ErrorAnswer).error;
}
const issuePaths = (error: ErrorAnswer['error']) => (error.details?.issues ?? []).map((issue) => issue.path);

/** Every secret that goes into the server in this file, good or refused. */
const secrets = () => [
  WA_TOKEN,
  WA_VERIFY,
  IG_TOKEN,
  IG_NARROW_TOKEN,
  IG_VERIFY,
  APP_SECRET,
  REVOKED_WA_TOKEN,
  STRIPE_KEY,
  STRIPE_REFUSED_KEY,
  STRIPE_WHSEC,
  n8n.apiKey,
  WRONG_N8N_KEY,
  openai.apiKey,
  WRONG_OPENAI_KEY,
  mailUser.password,
  WRONG_MAIL_PASSWORD,
];
function expectNoSecret(text: string, where: string): void {
  const found = secrets().filter((secret) => text.includes(secret));
  expect({ where, found }).toEqual({ where, found: [] });
}

/** Polls until `read` returns a value `done` accepts (generous deadline for a loaded machine). */
async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const connectBodies = (): Record<string, { tenant: string; kind: string; body: ConnectBody; webhook: boolean }> => ({
  whatsapp: { tenant: ACME, kind: 'whatsapp', body: whatsappConnect(), webhook: true },
  instagram: { tenant: ACME, kind: 'instagram', body: instagramConnect(), webhook: true },
  email: { tenant: ACME, kind: 'email', body: emailConnect(mailUser), webhook: false },
  stripe: { tenant: ACME, kind: 'stripe', body: stripeConnect(), webhook: true },
  n8n: { tenant: ACME, kind: 'n8n', body: n8nConnect(n8n.url, n8n.apiKey), webhook: false },
  'ai (local)': { tenant: ACME, kind: 'ai', body: aiLocalConnect(), webhook: false },
  'ai (openai_compatible)': { tenant: LLM, kind: 'ai', body: aiRemoteConnect(openai.url, openai.apiKey), webhook: false },
});
/** A refused connect per case, and the code the server must answer it with. */
const refusals = (): Record<string, [ConnectBody, ErrorCode]> => ({
  whatsapp: [whatsappConnect({ accessToken: REVOKED_WA_TOKEN }), 'WHATSAPP_AUTH_FAILED'],
  instagram: [instagramConnect({ accessToken: IG_NARROW_TOKEN }), 'INSTAGRAM_PERMISSION_DENIED'],
  email: [emailConnect(mailUser, WRONG_MAIL_PASSWORD), 'INTEGRATION_AUTH_FAILED'],
  stripe: [stripeConnect(STRIPE_REFUSED_KEY), 'INTEGRATION_AUTH_FAILED'],
  n8n: [n8nConnect(n8n.url, WRONG_N8N_KEY), 'INTEGRATION_AUTH_FAILED'],
  'ai (openai_compatible)': [aiRemoteConnect(openai.url, WRONG_OPENAI_KEY), 'INTEGRATION_AUTH_FAILED'],
  // The local models need no credentials: an unknown provider is what it can refuse.
  'ai (local)': [{ ...aiLocalConnect(), config: { ...aiLocalConnect().config, provider: 'remote-magic' } }, 'VALIDATION_FAILED'],
});
const CASES = ['whatsapp', 'instagram', 'email', 'stripe', 'n8n', 'ai (local)', 'ai (openai_compatible)'];

beforeAll(async () => {
  [database, graph, n8n, openai, mailUser] = await Promise.all([createTestDatabase(), startMetaGraph(), startN8nStandIn(), startOpenAiStandIn(), createMailUser()]);
  seedGraph(graph);
  const log = createLogger({ level: 'debug', nodeId: 'e2e' });
  // The server's logger as configured (levels, redaction), writing its JSON lines here instead of stdout.
  (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = { write: (line: string) => void logLines.push(line) };
  server = await startServer(
    testConfig({
      NODE_ID: 'e2e',
      DATABASE_URL: database.url,
      INTEGRATIONS_ALLOW_PRIVATE_HOSTS: 'true',
      STRIPE_API_URL: requiredEnv('TEST_STRIPE_MOCK_URL'),
      GRAPH_API_URL: graph.url,
      GRAPH_API_VERSION: GRAPH_VERSION,
      INTEGRATION_CHECK_INTERVAL_MS: '60000',
      INTEGRATION_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
      // One attempt and a breaker that never opens: each case sees exactly the provider's answer.
      INTEGRATION_CALL_ATTEMPTS: '1',
      INTEGRATION_BREAKER_THRESHOLD: '1000',
      INTEGRATION_RATE_LIMIT_PER_MINUTE: '10000',
    }),
    log,
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([graph?.close(), n8n?.close(), openai?.close()]);
  await database?.drop();
});

describe('connecting each kind', () => {
  it('captures the server log lines (the secret search below depends on it)', () => {
    expect(logLines.some((line) => (JSON.parse(line) as { msg?: string }).msg === 'server listening')).toBe(true);
  });

  it.each(CASES)('%s: refused credentials answer the provider code and store nothing', async (name) => {
    const { kind } = connectBodies()[name]!;
    const [bad, code] = refusals()[name]!;
    const client = await as(FRESH);
    const answer = await client.put(`/integrations/${kind}`, bad);
    const error = expectError(answer, code);
    expectNoSecret(JSON.stringify(answer.body), `${name} refusal`);
    if (name === 'instagram') expect(error.details?.['missingPermissions']).toEqual(['instagram_manage_messages']);
    expectError(await client.get(`/integrations/${kind}`), 'INTEGRATION_NOT_FOUND');
    expect((await client.get<{ integrations: View[] }>('/integrations')).body.integrations).toEqual([]);
    expect(await integrationRows(FRESH)).toEqual([]);
    expect(await outboxEvents(FRESH)).toEqual([]);
  });

  it.each(CASES)('%s: connects, answering the view with masked credentials only', async (name) => {
    const { tenant, kind, body, webhook } = connectBodies()[name]!;
    const client = await as(tenant);
    const answer = await client.put<View>(`/integrations/${kind}`, body);
    expect(answer.status).toBe(200);
    const view = answer.body;
    expect(view).toMatchObject({ kind, status: 'connected', errorMessage: null, health: { isHealthy: true, lastCheckedAt: expect.any(String), responseTime: expect.any(Number) } });
    expectNoSecret(JSON.stringify(view), `${name} connect answer`);
    // Every credential sent has a masked hint.
    const hinted = Object.keys(body.credentials).sort();
    expect(Object.keys(view.credentials).sort()).toEqual(hinted);
    if (webhook) {
      expect(view.webhookUrl).toBe(`${new URL(view.webhookUrl!).origin}/api/v1/webhooks/${kind}/${view.id}`);
    } else {
      expect(view.webhookUrl).toBeNull();
    }
    const list = await client.get<{ integrations: View[] }>('/integrations');
    expect(list.status).toBe(200);
    expect(list.body.integrations.find((entry) => entry.kind === kind)).toMatchObject({ id: view.id, status: 'connected' });
    const one = await client.get<View>(`/integrations/${kind}`);
    expect(one).toMatchObject({ status: 200, body: { id: view.id, status: 'connected', credentials: view.credentials, config: view.config } });
    expectNoSecret(JSON.stringify([list.body, one.body]), `${name} reads`);
  });

  it('keeps what the providers reported on connect in the config', async () => {
    const client = await as(ACME);
    expect((await client.get<View>('/integrations/whatsapp')).body.config).toMatchObject({ displayPhoneNumber: '+33 6 12 34 56 78', verifiedName: 'Glavito Demo' });
    expect((await client.get<View>('/integrations/instagram')).body.config).toMatchObject({ username: 'glavito.demo' });
    expect((await client.get<View>('/integrations/stripe')).body.config).toMatchObject({ accountId: expect.stringMatching(/^acct_/), webhookEndpointId: expect.stringMatching(/^we_/) });
    expect(graph.wabas.get('102290129340398')).toEqual([graph.appId]);
    expect(graph.pages.get('109876543210')).toEqual(['messages']);
    const list = (await client.get<{ integrations: View[] }>('/integrations')).body.integrations;
    expect(list.map((entry) => entry.kind).sort()).toEqual(['ai', 'email', 'instagram', 'n8n', 'stripe', 'whatsapp']);
  });

  it.each(CASES.filter((name) => name !== 'ai (local)'))('%s: a refused re-connect leaves the connected integration unchanged', async (name) => {
    const { tenant, kind } = connectBodies()[name]!;
    const [bad, code] = refusals()[name]!;
    const client = await as(tenant);
    const before = (await client.get<View>(`/integrations/${kind}`)).body;
    const rowBefore = (await integrationRows(tenant)).find((row) => row.kind === kind);
    const eventsBefore = (await outboxEvents(tenant)).length;
    expectError(await client.put(`/integrations/${kind}`, bad), code);
    const after = (await client.get<View>(`/integrations/${kind}`)).body;
    // A scheduled health check may land in between (it touches health and updatedAt only).
    const stable = ({ health: _health, updatedAt: _updatedAt, ...rest }: View) => rest;
    const stableRow = (row: Awaited<ReturnType<typeof integrationRows>>[number] | undefined) => row && { ...row, updated_at: undefined };
    expect(stable(after)).toEqual(stable(before));
    expect(stableRow((await integrationRows(tenant)).find((row) => row.kind === kind))).toEqual(stableRow(rowBefore));
    expect((await outboxEvents(tenant)).length).toBe(eventsBefore);
  });

  it('answers 400 VALIDATION_FAILED with field paths for invalid input, storing nothing', async () => {
    const client = await as(FRESH);
    const cases: [string, unknown, string[]][] = [
      ['whatsapp', whatsappConnect({ accessToken: 'EAAG not a token' }), ['body.credentials.accessToken']],
      ['whatsapp', { credentials: whatsappConnect().credentials, config: { phoneNumberId: 'abc', businessAccountId: '1' } }, ['body.config.phoneNumberId']],
      ['instagram', instagramConnect({ appSecret: 'short', verifyToken: 'x' }), ['body.credentials.appSecret', 'body.credentials.verifyToken']],
      ['email', { ...emailConnect(mailUser), config: { ...emailConnect(mailUser).config, fromAddress: 'nobody' } }, ['body.config.fromAddress']],
      ['stripe', { credentials: { secretKey: 'pk_test_123' }, config: {} }, ['body.credentials.secretKey']],
      ['n8n', { credentials: { apiKey: 'k' }, config: { baseUrl: 'ftp://n8n.example.com' } }, ['body.config.baseUrl']],
      ['ai', { credentials: {}, config: { provider: 'openai_compatible', model: 'gpt-4o-mini' } }, ['body.config.baseUrl']],
      ['n8n', { credentials: { apiKey: 'k' }, config: { baseUrl: n8n.url }, extra: true }, ['body']],
    ];
    for (const [kind, body, paths] of cases) {
      const error = expectError(await client.put(`/integrations/${kind}`, body), 'VALIDATION_FAILED');
      expect({ kind, paths: issuePaths(error).sort() }).toEqual({ kind, paths: [...paths].sort() });
    }
    // No connect route for an unknown kind: 405 in the error envelope, with the methods that path takes.
    const unknownKind = await fetch(`${server.url}/api/v1/integrations/telegram`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await tokenFor(FRESH, 'admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify(whatsappConnect()),
    });
    expect(unknownKind.status).toBe(405);
    expect(unknownKind.headers.get('allow')).toContain('GET');
    expect(((await unknownKind.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
    expect(await integrationRows(FRESH)).toEqual([]);
    expect(await outboxEvents(FRESH)).toEqual([]);
  });
});

describe('provider failures through the server', () => {
  it('answers INTEGRATION_PROVIDER_ERROR (502) when n8n fails on its side, storing nothing', async () => {
    const client = await as(FAULTS);
    n8n.faults.status = 500;
    try {
      const error = expectError(await client.put('/integrations/n8n', n8nConnect(n8n.url, n8n.apiKey)), 'INTEGRATION_PROVIDER_ERROR');
      expect(error.message).toContain('500');
    } finally {
      delete n8n.faults.status;
    }
    expectError(await client.get('/integrations/n8n'), 'INTEGRATION_NOT_FOUND');
    expect(await integrationRows(FAULTS)).toEqual([]);
  });

  it('answers INTEGRATION_TIMEOUT (504) when n8n answers after the call deadline, storing nothing', async () => {
    const client = await as(FAULTS);
    n8n.faults.delayMs = CALL_TIMEOUT_MS * 3;
    try {
      expectError(await client.put('/integrations/n8n', n8nConnect(n8n.url, n8n.apiKey)), 'INTEGRATION_TIMEOUT');
    } finally {
      delete n8n.faults.delayMs;
    }
    expect(await integrationRows(FAULTS)).toEqual([]);
    expect(await outboxEvents(FAULTS)).toEqual([]);
  });

  it('records a failing check on a connected integration as unhealthy (status error), and a passing one as recovered', async () => {
    const client = await as(FAULTS);
    expect((await client.put<View>('/integrations/n8n', n8nConnect(n8n.url, n8n.apiKey))).body.status).toBe('connected');
    n8n.faults.status = 503;
    let failed: ApiResponse<View>;
    try {
      failed = await client.post<View>('/integrations/n8n/check');
    } finally {
      delete n8n.faults.status;
    }
    expect(failed).toMatchObject({ status: 200, body: { status: 'error', errorMessage: expect.stringContaining('503'), health: { isHealthy: false } } });
    const recovered = await client.post<View>('/integrations/n8n/check');
    expect(recovered).toMatchObject({ status: 200, body: { status: 'connected', errorMessage: null, health: { isHealthy: true } } });
    const types = (await outboxEvents(FAULTS)).map((event) => [event.type, event.payload['status']]);
    expect(types).toEqual([
      ['configuration.integration.connected', undefined],
      ['integration.status.changed', 'connected'],
      ['integration.health.changed', 'error'],
      ['integration.status.changed', 'error'],
      ['integration.health.changed', 'connected'],
      ['integration.status.changed', 'connected'],
    ]);
  });
});

describe('lifecycle', () => {
  it('check, disable (webhook gone), enable, remove — with the outbox events of each step', async () => {
    const client = await as(LIFECYCLE);
    const connected = (await client.put<View>('/integrations/whatsapp', whatsappConnect())).body;
    expect(connected.status).toBe('connected');
    const hookPath = new URL(connected.webhookUrl!).pathname;
    const handshake = () =>
      fetch(`${server.url}${hookPath}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': WA_VERIFY, 'hub.challenge': '4242' }).toString()}`);

    const checked = await client.post<View>('/integrations/whatsapp/check');
    expect(checked).toMatchObject({ status: 200, body: { id: connected.id, status: 'connected', health: { isHealthy: true } } });
    expect(Date.parse(checked.body.health!.lastCheckedAt)).toBeGreaterThanOrEqual(Date.parse(connected.health!.lastCheckedAt));

    const disabled = await client.post<View>('/integrations/whatsapp/disable');
    expect(disabled).toMatchObject({ status: 200, body: { id: connected.id, status: 'disabled' } });
    expect((await handshake()).status).toBe(404);
    const body = whatsappWebhookBody('wamid.LIFECYCLE1');
    const refused = await fetch(`${server.url}${hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body) }, body });
    expect(refused.status).toBe(404);
    expect(await inboundRows(LIFECYCLE, 'whatsapp')).toEqual([]);
    expectError(await client.post('/integrations/whatsapp/check'), 'INTEGRATION_NOT_CONNECTED');
    // Disabling twice changes nothing.
    expect((await client.post<View>('/integrations/whatsapp/disable')).body.status).toBe('disabled');

    const enabled = await client.post<View>('/integrations/whatsapp/enable');
    expect(enabled).toMatchObject({ status: 200, body: { id: connected.id, status: 'connected', health: { isHealthy: true } } });
    const again = await handshake();
    expect({ status: again.status, text: await again.text() }).toEqual({ status: 200, text: '4242' });

    const removed = await client.delete('/integrations/whatsapp');
    expect(removed.status).toBe(204);
    expectError(await client.get('/integrations/whatsapp'), 'INTEGRATION_NOT_FOUND');
    expectError(await client.delete('/integrations/whatsapp'), 'INTEGRATION_NOT_FOUND');
    expectError(await client.post('/integrations/whatsapp/enable'), 'INTEGRATION_NOT_CONNECTED');
    expect((await handshake()).status).toBe(404);
    expect(await integrationRows(LIFECYCLE)).toEqual([]);

    const events = await outboxEvents(LIFECYCLE);
    for (const event of events) {
      const schema = integrationEventSchemas[event.type as IntegrationEventType];
      expect(schema).toBeDefined();
      expect(schema.safeParse(event.payload).error).toBeUndefined();
      expect(event.payload).toMatchObject({ tenantId: LIFECYCLE, integrationId: connected.id, kind: 'whatsapp', type: event.type });
    }
    expect(events.map((event) => ({ type: event.type, topic: event.topic }))).toEqual([
      { type: 'configuration.integration.connected', topic: expect.any(String) },
      { type: 'integration.status.changed', topic: expect.any(String) },
      { type: 'configuration.integration.disconnected', topic: expect.any(String) },
      { type: 'integration.status.changed', topic: expect.any(String) },
      { type: 'integration.status.changed', topic: expect.any(String) },
      { type: 'configuration.integration.disconnected', topic: expect.any(String) },
    ]);
    const [connectedEvent, toConnected, disabledEvent, toDisabled, reEnabled, removedEvent] = events.map((event) => event.payload);
    expect(connectedEvent).toMatchObject({ config: connected.config, actor: { userId: `admin-of-${LIFECYCLE}`, role: 'admin' } });
    expect(toConnected).toMatchObject({ previousStatus: 'pending', status: 'connected' });
    expect(disabledEvent).toMatchObject({ reason: 'disabled' });
    expect(toDisabled).toMatchObject({ previousStatus: 'connected', status: 'disabled' });
    expect(reEnabled).toMatchObject({ previousStatus: 'disabled', status: 'connected' });
    expect(removedEvent).toMatchObject({ reason: 'removed' });

    const audits = await sql<{ action: string; actor_id: string }>('select action, actor_id from audit_entry where tenant_id = ? order by id', [LIFECYCLE]);
    expect(audits.map((row) => row.action)).toEqual(['integration.connect', 'integration.disable', 'integration.enable', 'integration.remove']);
  });
});

describe('operations', () => {
  it('stripe: sync-plans creates a product and price per plan and keeps them in the config', async () => {
    const client = await as(ACME);
    const answer = await client.post<{ plans: { name: string; productId: string; priceId: string }[] }>('/integrations/stripe/sync-plans', {
      currency: 'EUR',
      plans: [
        { name: 'Starter', amount: 1900, interval: 'month' },
        { name: 'Pro', amount: 49_000, interval: 'year' },
      ],
    });
    expect(answer).toMatchObject({
      status: 200,
      body: {
        plans: [
          { name: 'Starter', productId: expect.stringMatching(/^prod_/), priceId: expect.stringMatching(/^price_/) },
          { name: 'Pro', productId: expect.stringMatching(/^prod_/), priceId: expect.stringMatching(/^price_/) },
        ],
      },
    });
    expect((await client.get<View>('/integrations/stripe')).body.config['plans']).toEqual(answer.body.plans);
  });

  it('stripe: connect-account creates the Connect account and its onboarding link', async () => {
    const client = await as(ACME);
    const answer = await client.post<{ accountId: string }>('/integrations/stripe/connect-account', {
      country: 'FR',
      refreshUrl: 'https://app.example.com/stripe/refresh',
      returnUrl: 'https://app.example.com/stripe/done',
    });
    expect(answer).toMatchObject({ status: 200, body: { accountId: expect.stringMatching(/^acct_/), onboardingUrl: expect.stringMatching(/^https:\/\//), expiresAt: expect.any(String) } });
    expect((await client.get<View>('/integrations/stripe')).body.config['connectAccountId']).toBe(answer.body.accountId);
  });

  it('n8n: create-workflow leaves the workflow active on n8n and referenced in the config', async () => {
    const client = await as(ACME);
    const templates = await client.get<{ templates: { id: string }[] }>('/integrations/n8n/templates');
    expect(templates.body.templates.map((template) => template.id)).toContain('ticket-created-notify');
    const answer = await client.post<{ template: string; id: string; active: boolean }>('/integrations/n8n/create-workflow', {
      template: 'ticket-created-notify',
      params: TEMPLATE_PARAMS['ticket-created-notify'],
    });
    expect(answer).toMatchObject({ status: 200, body: { template: 'ticket-created-notify', id: expect.any(String), active: true } });
    expect(n8n.workflows.get(answer.body.id)).toMatchObject({ active: true });
    expect((await client.get<View>('/integrations/n8n')).body.config['workflows']).toEqual([answer.body]);
    // Once per template: asking again answers the same workflow and creates none on n8n.
    const workflowsBefore = n8n.workflows.size;
    const again = await client.post('/integrations/n8n/create-workflow', { template: 'ticket-created-notify', params: TEMPLATE_PARAMS['ticket-created-notify'] });
    expect(again).toEqual({ status: 200, body: answer.body });
    expect(n8n.workflows.size).toBe(workflowsBefore);
  });

  it('instagram: sync-messages queues the inbound messages once for the tenant', async () => {
    const client = await as(ACME);
    const first = await client.post('/integrations/instagram/sync-messages', { since: '2026-11-10T00:00:00Z' });
    expect(first).toEqual({ status: 200, body: { fetched: 2, stored: 1, duplicates: 0 } });
    const second = await client.post('/integrations/instagram/sync-messages', { since: '2026-11-10T00:00:00Z' });
    expect(second).toEqual({ status: 200, body: { fetched: 2, stored: 0, duplicates: 1 } });
    expect((await inboundRows(ACME, 'instagram')).map((row) => row.external_id)).toEqual(['m_1']);
    expect(await inboundRows(GLOBEX, 'instagram')).toEqual([]);
  });

  it('ai: train runs in the background (202) until it succeeds, then analyze names a category', async () => {
    const client = await as(ACME);
    const started = await client.post<{ runId: string; state: string }>('/integrations/ai/train', { samples: SAMPLE_TICKETS });
    expect(started).toMatchObject({ status: 202, body: { runId: expect.any(String), operation: 'train', state: 'running' } });
    const view = await waitFor(
      async () => (await client.get<View>('/integrations/ai')).body,
      (current) => current.background?.state !== 'running',
    );
    expect(view.background).toMatchObject({ runId: started.body.runId, state: 'succeeded', percent: 100 });
    expect(view.training).toMatchObject({ accuracy: expect.any(Number), trainSize: expect.any(Number), testSize: expect.any(Number) });
    expect(view.training!['accuracy']).toBeGreaterThan(0.5);
    const labels = new Set(SAMPLE_TICKETS.map((sample) => sample.label));
    const analysis = await client.post<{ category?: { label: string }; language: { code: string }; sentiment: { label: string } }>('/integrations/ai/analyze', {
      text: 'I was charged twice for my subscription this month, please refund the extra payment',
    });
    expect(analysis.status).toBe(200);
    expect(analysis.body.language.code).toBe('en');
    expect(labels.has(analysis.body.category?.label ?? '')).toBe(true);
  });

  it('ai (openai_compatible): analyze goes through the provider; train is refused there', async () => {
    const client = await as(LLM);
    const analysis = await client.post('/integrations/ai/analyze', { text: 'My parcel is two weeks late and nobody answers.' });
    expect(analysis).toMatchObject({ status: 200, body: { language: { code: 'en' }, sentiment: { label: 'negative' } } });
    expect(openai.chats.at(-1)?.messages.at(-1)).toEqual({ role: 'user', content: 'My parcel is two weeks late and nobody answers.' });
    const started = await client.post<{ runId: string }>('/integrations/ai/train', { samples: SAMPLE_TICKETS.slice(0, 10) });
    expect(started.status).toBe(202);
    const view = await waitFor(
      async () => (await client.get<View>('/integrations/ai')).body,
      (current) => current.background?.state !== 'running',
    );
    expect(view.background).toMatchObject({ runId: started.body.runId, state: 'failed', error: { code: 'AI_MODEL_INIT_FAILED' } });
  });

  it('answers 409 INTEGRATION_NOT_CONNECTED for an operation on a kind the tenant has not connected', async () => {
    const client = await as(GLOBEX);
    expectError(await client.post('/integrations/stripe/sync-plans', { currency: 'EUR', plans: [{ name: 'A', amount: 1, interval: 'month' }] }), 'INTEGRATION_NOT_CONNECTED');
    expectError(await client.post('/integrations/instagram/sync-messages', { since: '2026-11-10T00:00:00Z' }), 'INTEGRATION_NOT_CONNECTED');
    expectError(await client.post('/integrations/ai/analyze', { text: 'hello' }), 'INTEGRATION_NOT_CONNECTED');
  });

  it('answers 400 VALIDATION_FAILED with paths for bad operation input', async () => {
    const client = await as(ACME);
    const cases: [string, unknown, string[]][] = [
      ['/integrations/stripe/sync-plans', { currency: 'EURO', plans: [{ name: '', amount: -1, interval: 'week' }] }, ['body.currency', 'body.plans.0.name', 'body.plans.0.amount', 'body.plans.0.interval']],
      ['/integrations/stripe/connect-account', { country: 'fr', refreshUrl: 'nope', returnUrl: 'https://a.example/done' }, ['body.country', 'body.refreshUrl']],
      ['/integrations/n8n/create-workflow', { template: 'nope' }, ['body.template']],
      ['/integrations/instagram/sync-messages', { since: 'yesterday' }, ['body.since']],
      ['/integrations/ai/analyze', { text: '' }, ['body.text']],
      ['/integrations/ai/train', { samples: [] }, ['body.samples']],
    ];
    for (const [path, body, paths] of cases) {
      const error = expectError(await client.post(path, body), 'VALIDATION_FAILED');
      expect({ path, paths: issuePaths(error).sort() }).toEqual({ path, paths: [...paths].sort() });
    }
  });
});

describe('webhooks end to end', () => {
  it('whatsapp: the handshake echoes the challenge, a signed delivery is queued for the tenant, a wrongly signed one is refused', async () => {
    const view = (await (await as(ACME)).get<View>('/integrations/whatsapp')).body;
    const hookPath = new URL(view.webhookUrl!).pathname;
    const query = (token: string) => new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '1158201444' }).toString();
    const handshake = await fetch(`${server.url}${hookPath}?${query(WA_VERIFY)}`);
    expect({ status: handshake.status, text: await handshake.text() }).toEqual({ status: 200, text: '1158201444' });
    expect((await fetch(`${server.url}${hookPath}?${query('wrong-verify-token')}`)).status).toBe(403);

    const post = (body: string, signature: string) =>
      fetch(`${server.url}${hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });
    const body = whatsappWebhookBody('wamid.E2E1');
    const accepted = await post(body, metaSignature(body));
    expect({ status: accepted.status, body: await accepted.json() }).toEqual({ status: 200, body: { received: 1, stored: 1, duplicates: 0 } });
    expect((await inboundRows(ACME, 'whatsapp')).map((row) => row.external_id)).toEqual(['wamid.E2E1']);

    const forged = whatsappWebhookBody('wamid.E2E2');
    const refused = await post(forged, metaSignature(forged, 'ffffffffffffffffffffffffffffffff'));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as ErrorAnswer).error.code).toBe('FORBIDDEN');
    expect((await inboundRows(ACME, 'whatsapp')).map((row) => row.external_id)).toEqual(['wamid.E2E1']);
  });

  it('stripe: an event signed with the connected whsec is queued for the tenant, a wrongly signed one is refused', async () => {
    const view = (await (await as(ACME)).get<View>('/integrations/stripe')).body;
    const hookPath = new URL(view.webhookUrl!).pathname;
    const post = (body: string, signature: string) =>
      fetch(`${server.url}${hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
    const body = stripeWebhookBody('evt_e2e_1');
    const accepted = await post(body, stripeSignature(body));
    expect({ status: accepted.status, body: await accepted.json() }).toEqual({ status: 200, body: { received: 1, stored: 1, duplicates: 0 } });
    expect((await inboundRows(ACME, 'stripe')).map((row) => row.external_id)).toEqual(['evt_e2e_1']);

    const forged = stripeWebhookBody('evt_e2e_2');
    const refused = await post(forged, stripeSignature(forged, 'whsec_someoneElsesSecret'));
    // Stripe's refusal has its own code (shared/errors.ts), not FORBIDDEN.
    expectError({ status: refused.status, body: (await refused.json()) as Record<string, unknown> }, 'STRIPE_WEBHOOK_FAILED');
    expect((await inboundRows(ACME, 'stripe')).map((row) => row.external_id)).toEqual(['evt_e2e_1']);
  });
});

describe('tenant scoping and roles', () => {
  it("tenant B's admin neither sees nor changes tenant A's integrations", async () => {
    const other = await as(GLOBEX);
    expect(await other.get('/integrations')).toEqual({ status: 200, body: { integrations: [] } });
    for (const kind of ['whatsapp', 'stripe', 'n8n']) {
      expectError(await other.get(`/integrations/${kind}`), 'INTEGRATION_NOT_FOUND');
      expectError(await other.post(`/integrations/${kind}/check`), 'INTEGRATION_NOT_CONNECTED');
      expectError(await other.post(`/integrations/${kind}/disable`), 'INTEGRATION_NOT_CONNECTED');
      expectError(await other.delete(`/integrations/${kind}`), 'INTEGRATION_NOT_FOUND');
    }
    const mine = (await (await as(ACME)).get<{ integrations: View[] }>('/integrations')).body.integrations;
    expect(mine.map((entry) => [entry.kind, entry.status]).sort()).toEqual([
      ['ai', 'connected'],
      ['email', 'connected'],
      ['instagram', 'connected'],
      ['n8n', 'connected'],
      ['stripe', 'connected'],
      ['whatsapp', 'connected'],
    ]);
  });

  it.each(['agent', 'viewer'] as const)('%s gets 403 FORBIDDEN on every integration route', async (role) => {
    const client = await as(ACME, role);
    const calls: [string, () => Promise<ApiResponse>][] = [
      ['GET /integrations', () => client.get('/integrations')],
      ['GET /integrations/n8n/templates', () => client.get('/integrations/n8n/templates')],
      ['GET /integrations/whatsapp', () => client.get('/integrations/whatsapp')],
      ...Object.values(connectBodies()).map(({ kind, body }): [string, () => Promise<ApiResponse>] => [`PUT /integrations/${kind}`, () => client.put(`/integrations/${kind}`, body)]),
      ...['check', 'enable', 'disable'].map((action): [string, () => Promise<ApiResponse>] => [`POST ${action}`, () => client.post(`/integrations/whatsapp/${action}`)]),
      ['DELETE /integrations/whatsapp', () => client.delete('/integrations/whatsapp')],
      ['POST stripe/sync-plans', () => client.post('/integrations/stripe/sync-plans', { currency: 'EUR', plans: [{ name: 'A', amount: 1, interval: 'month' }] })],
      ['POST stripe/connect-account', () => client.post('/integrations/stripe/connect-account', { refreshUrl: 'https://a.example/r', returnUrl: 'https://a.example/d' })],
      ['POST n8n/create-workflow', () => client.post('/integrations/n8n/create-workflow', { template: 'ticket-created-notify', params: TEMPLATE_PARAMS['ticket-created-notify'] })],
      ['POST instagram/sync-messages', () => client.post('/integrations/instagram/sync-messages', { since: '2026-11-10T00:00:00Z' })],
      ['POST ai/analyze', () => client.post('/integrations/ai/analyze', { text: 'hello' })],
      ['POST ai/train', () => client.post('/integrations/ai/train', { samples: SAMPLE_TICKETS.slice(0, 5) })],
    ];
    for (const [route, call] of calls) {
      const answer = await call();
      expect({ route, status: answer.status, code: (answer.body as ErrorAnswer | undefined)?.error?.code }).toEqual({ route, status: 403, code: 'FORBIDDEN' });
    }
    // Still there, unchanged.
    expect((await (await as(ACME)).get<View>('/integrations/whatsapp')).body.status).toBe('connected');
  });
});

describe('secrets never leave the credentials column, encrypted', () => {
  it('stores credentials as an AES-GCM envelope and keeps every secret out of rows, outbox, audit and logs', async () => {
    const rows = await sql<Record<string, unknown>>('select * from integration');
    expect(rows.length).toBeGreaterThanOrEqual(7);
    for (const row of rows) {
      const envelope = json<Record<string, unknown>>(row['credentials']);
      expect(Object.keys(envelope).sort()).toEqual(['data', 'iv', 'kid', 'tag']);
      expectNoSecret(JSON.stringify(row), `integration row ${String(row['tenant_id'])}/${String(row['kind'])}`);
    }
    const outbox = await sql('select * from outbox_event');
    expect(outbox.length).toBeGreaterThan(0);
    expectNoSecret(JSON.stringify(outbox), 'outbox_event');
    const audits = await sql('select * from audit_entry');
    expect(audits.length).toBeGreaterThan(0);
    expectNoSecret(JSON.stringify(audits), 'audit_entry');
    expectNoSecret(JSON.stringify(await sql('select * from inbound_message')), 'inbound_message');
    expect(logLines.length).toBeGreaterThan(10);
    expectNoSecret(logLines.join('\n'), 'server logs');
  });
});
