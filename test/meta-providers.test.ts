// The WhatsApp and Instagram providers against the local Graph API stand-in (test/support/meta-graph.ts):
// success, refused credentials (each provider's own code), a timeout, a provider error, a missing
// Instagram permission, a wrong API version refused by the stand-in, and that no error carries a token.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createInstagramProvider } from '../server/integrations/providers/instagram.ts';
import { createWhatsAppProvider } from '../server/integrations/providers/whatsapp.ts';
import { failure } from './support/failures.ts';
import { startMetaGraph, type MetaGraph } from './support/meta-graph.ts';

const context = (timeoutMs = 5_000) => ({ tenantId: 'tenant-a', signal: AbortSignal.timeout(timeoutMs) });
const WA_TOKEN = 'EAAGwhatsappSystemUserToken0123456789abcdef';
const IG_TOKEN = 'EAAGinstagramPageToken0123456789abcdefghij';
const IG_NARROW_TOKEN = 'EAAGinstagramBasicOnlyToken0123456789abcd';
const APP_SECRET = '0123456789abcdef0123456789abcdef';
const TOKENS = [WA_TOKEN, IG_TOKEN, IG_NARROW_TOKEN, APP_SECRET];

let graph: MetaGraph;

beforeAll(async () => {
  graph = await startMetaGraph();
});
afterAll(async () => {
  await graph.close();
});
beforeEach(() => {
  graph.faults = {};
  graph.requests.length = 0;
  graph.tokens.clear();
  graph.tokens.set(WA_TOKEN, { permissions: ['whatsapp_business_management', 'whatsapp_business_messaging'], objects: ['106540352242922', '102290129340398'] });
  graph.tokens.set(IG_TOKEN, {
    permissions: ['instagram_basic', 'instagram_manage_messages', 'pages_manage_metadata', 'pages_messaging'],
    objects: ['17841400000000001', '109876543210', 't_conv1', 't_conv2'],
    me: '17841400000000001',
  });
  graph.tokens.set(IG_NARROW_TOKEN, { permissions: ['instagram_basic'], objects: ['17841400000000001', '109876543210'], me: '17841400000000001' });
  graph.phoneNumbers.set('106540352242922', { wabaId: '102290129340398', display_phone_number: '+33 6 12 34 56 78', verified_name: 'Glavito Demo', quality_rating: 'GREEN' });
  graph.wabas.set('102290129340398', []);
  graph.pages.set('109876543210', []);
  graph.igUsers.set('17841400000000001', {
    username: 'glavito.demo',
    conversations: [
      {
        id: 't_conv1',
        updated_time: '2026-11-20T10:05:00+0000',
        messages: [
          { id: 'm_2', created_time: '2026-11-20T10:05:00+0000', from: { id: '17841400000000001', username: 'glavito.demo' }, message: 'Hello, how can we help?' },
          { id: 'm_1', created_time: '2026-11-20T10:00:00+0000', from: { id: '5550001', username: 'customer.one' }, message: 'Hi!' },
        ],
      },
      { id: 't_conv2', updated_time: '2026-11-01T08:00:00+0000', messages: [{ id: 'm_0', created_time: '2026-11-01T08:00:00+0000', from: { id: '5550002' }, message: 'old' }] },
    ],
  });
});

const options = (overrides: { apiVersion?: string; timeoutMs?: number } = {}) => ({ graphUrl: graph.url, apiVersion: 'v21.0', timeoutMs: 5_000, ...overrides });
const waCredentials = { accessToken: WA_TOKEN, appSecret: APP_SECRET, verifyToken: 'verify-me-please' };
const waConfig = { phoneNumberId: '106540352242922', businessAccountId: '102290129340398' };
const igCredentials = { accessToken: IG_TOKEN, appSecret: APP_SECRET, verifyToken: 'verify-me-too-please' };
const igConfig = { igUserId: '17841400000000001', pageId: '109876543210' };

/** No token nor app secret in the error's message or details. */
function expectNoSecrets(error: { message: string; details?: unknown }) {
  const text = JSON.stringify({ message: error.message, details: error.details });
  for (const secret of TOKENS) expect(text).not.toContain(secret);
}

describe('the Meta Graph stand-in', () => {
  it('refuses unversioned, unknown and deprecated versions, missing and unknown tokens, and ids the token cannot see', async () => {
    const get = async (path: string, token?: string) => {
      const response = await fetch(`${graph.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: response.status, error: ((await response.json()) as { error?: Record<string, unknown> }).error };
    };
    expect(await get('/106540352242922', WA_TOKEN)).toMatchObject({ status: 400, error: { type: 'OAuthException', code: 2500 } });
    expect(await get('/v99.0/106540352242922', WA_TOKEN)).toMatchObject({ status: 400, error: { type: 'OAuthException', code: 2500 } });
    expect(await get('/v2.0/106540352242922', WA_TOKEN)).toMatchObject({ status: 400, error: { type: 'OAuthException', code: 2635 } });
    expect(await get('/v21.0/106540352242922')).toMatchObject({ status: 401, error: { type: 'OAuthException', code: 190 } });
    expect(await get('/v21.0/106540352242922', 'nope')).toMatchObject({ status: 401, error: { type: 'OAuthException', code: 190, fbtrace_id: expect.any(String) } });
    expect(await get(`/v21.0/106540352242922?access_token=${WA_TOKEN}&fields=verified_name`, undefined)).toMatchObject({ status: 200, error: undefined });
    expect(await get('/v21.0/999?fields=verified_name', WA_TOKEN)).toMatchObject({ status: 400, error: { type: 'GraphMethodException', code: 100, error_subcode: 33 } });
    expect(await get('/v21.0/17841400000000001/conversations?platform=instagram', IG_NARROW_TOKEN)).toMatchObject({ status: 403, error: { code: 10 } });
  });
});

describe('the WhatsApp provider', () => {
  it('checks the phone number, subscribes the app to the business account and keeps the display details', async () => {
    const provider = createWhatsAppProvider(options());
    const result = await provider.connect(waCredentials, waConfig, context());
    expect(result).toEqual({ config: { displayPhoneNumber: '+33 6 12 34 56 78', verifiedName: 'Glavito Demo' } });
    expect(graph.wabas.get('102290129340398')).toEqual([graph.appId]);
    await expect(provider.check(waCredentials, waConfig, context())).resolves.toBeUndefined();
    // The token travels in the Authorization header, never in the URL.
    expect(graph.requests.every((request) => !request.url.includes(WA_TOKEN))).toBe(true);
    expect(provider.mask(waCredentials).accessToken).toMatch(/^EAAG…cdef$/);
    expect(provider.credentialsSchema.safeParse({ ...waCredentials, appSecret: 'short' }).success).toBe(false);
  });

  it('answers WHATSAPP_AUTH_FAILED for a refused token or a phone number the token cannot see, without echoing the token', async () => {
    const provider = createWhatsAppProvider(options());
    const badToken = 'EAAGrevokedTokenRevokedToken0000000000';
    const refused = await failure(provider.connect({ ...waCredentials, accessToken: badToken }, waConfig, context()));
    expect(refused.code).toBe('WHATSAPP_AUTH_FAILED');
    expect(refused.details?.graph).toMatchObject({ status: 401, code: 190 });
    expect(JSON.stringify({ message: refused.message, details: refused.details })).not.toContain(badToken);
    const unknown = await failure(provider.check(waCredentials, { ...waConfig, phoneNumberId: '111111111' }, context()));
    expect(unknown.code).toBe('WHATSAPP_AUTH_FAILED');
    expect(unknown.details?.issues).toEqual([{ path: 'config', message: expect.any(String) }]);
    expectNoSecrets(unknown);
  });

  it('answers INTEGRATION_TIMEOUT when Graph does not answer in time', async () => {
    graph.faults.delayMs = 3_000;
    const started = Date.now();
    const error = await failure(createWhatsAppProvider(options()).check(waCredentials, waConfig, context(300)));
    expect(error.code).toBe('INTEGRATION_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The provider's own timeout applies too.
    const own = await failure(createWhatsAppProvider(options({ timeoutMs: 200 })).check(waCredentials, waConfig, context()));
    expect(own.code).toBe('INTEGRATION_TIMEOUT');
  });

  it('answers INTEGRATION_PROVIDER_ERROR when Graph fails on its side or answers garbage', async () => {
    graph.faults.status = 500;
    const failed = await failure(createWhatsAppProvider(options()).check(waCredentials, waConfig, context()));
    expect(failed.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(failed.message).toContain('500');
    expectNoSecrets(failed);
    graph.faults = { malformed: true };
    const garbage = await failure(createWhatsAppProvider(options()).check(waCredentials, waConfig, context()));
    expect(garbage.code).toBe('INTEGRATION_PROVIDER_ERROR');
  });

  it('is refused by Graph when configured with a version Graph does not serve', async () => {
    const error = await failure(createWhatsAppProvider(options({ apiVersion: 'v99.0' })).check(waCredentials, waConfig, context()));
    expect(error.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(error.details?.graph).toMatchObject({ status: 400, code: 2500 });
    expect(() => createWhatsAppProvider(options({ apiVersion: '21' }))).toThrow();
  });
});

describe('the Instagram provider', () => {
  it('checks the permissions and the account, subscribes the page to messages, and syncs normalized messages', async () => {
    const provider = createInstagramProvider(options());
    expect(await provider.connect(igCredentials, igConfig, context())).toEqual({ config: { username: 'glavito.demo' } });
    expect(graph.pages.get('109876543210')).toEqual(['messages']);
    await expect(provider.check(igCredentials, igConfig, context())).resolves.toBeUndefined();
    const messages = await provider.syncMessages(igCredentials, igConfig, new Date('2026-11-10T00:00:00Z'), context());
    expect(messages).toEqual([
      { id: 'm_1', conversationId: 't_conv1', direction: 'inbound', from: { id: '5550001', username: 'customer.one' }, text: 'Hi!', createdAt: '2026-11-20T10:00:00.000Z' },
      { id: 'm_2', conversationId: 't_conv1', direction: 'outbound', from: { id: '17841400000000001', username: 'glavito.demo' }, text: 'Hello, how can we help?', createdAt: '2026-11-20T10:05:00.000Z' },
    ]);
    expect(await provider.syncMessages(igCredentials, igConfig, new Date('2026-11-20T10:00:00Z'), context())).toHaveLength(1);
  });

  it('answers INSTAGRAM_PERMISSION_DENIED naming the missing permissions', async () => {
    const error = await failure(createInstagramProvider(options()).connect({ ...igCredentials, accessToken: IG_NARROW_TOKEN }, igConfig, context()));
    expect(error.code).toBe('INSTAGRAM_PERMISSION_DENIED');
    expect(error.details?.missingPermissions).toEqual(['instagram_manage_messages']);
    expect(graph.pages.get('109876543210')).toEqual([]);
    // A call Graph itself refuses for a permission maps onto the same code.
    const sync = await failure(createInstagramProvider(options()).syncMessages({ ...igCredentials, accessToken: IG_NARROW_TOKEN }, igConfig, new Date(0), context()));
    expect(sync.code).toBe('INSTAGRAM_PERMISSION_DENIED');
    expect(sync.details?.graph).toMatchObject({ status: 403, code: 10 });
    expectNoSecrets(error);
    expectNoSecrets(sync);
  });

  it('answers INSTAGRAM_PERMISSION_DENIED for a refused token, without echoing it', async () => {
    const badToken = 'EAAGexpiredInstagramToken000000000000';
    const error = await failure(createInstagramProvider(options()).check({ ...igCredentials, accessToken: badToken }, igConfig, context()));
    expect(error.code).toBe('INSTAGRAM_PERMISSION_DENIED');
    expect(error.details?.graph).toMatchObject({ status: 401, code: 190 });
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(badToken);
  });

  it('answers INTEGRATION_TIMEOUT and INTEGRATION_PROVIDER_ERROR', async () => {
    graph.faults.delayMs = 3_000;
    const late = await failure(createInstagramProvider(options()).connect(igCredentials, igConfig, context(300)));
    expect(late.code).toBe('INTEGRATION_TIMEOUT');
    graph.faults = { status: 503 };
    const failed = await failure(createInstagramProvider(options()).syncMessages(igCredentials, igConfig, new Date(0), context()));
    expect(failed.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(failed.message).toContain('503');
    expectNoSecrets(late);
    expectNoSecrets(failed);
  });

  it('is refused by Graph when the version is wrong', async () => {
    const error = await failure(createInstagramProvider(options({ apiVersion: 'v1.0' })).check(igCredentials, igConfig, context()));
    expect(error.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(error.details?.graph).toMatchObject({ status: 400, code: 2635 });
  });
});
