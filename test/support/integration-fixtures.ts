// Connect payloads per integration kind for the end-to-end REST tests (test/integrations.test.ts),
// the Meta Graph stand-in's state they need, and provider-shaped webhook bodies. The secrets are
// distinct strings so a test can search for each one in responses, rows and logs.
import crypto from 'node:crypto';
import Stripe from 'stripe';
import type { MetaGraph } from './meta-graph.ts';
import type { MailUser } from './isolation.ts';

export const GRAPH_VERSION = 'v21.0';

export const WA_TOKEN = 'EAAGwhatsappE2eSystemUserToken0123456789ab';
export const WA_VERIFY = 'wa-verify-token-e2e-7f3a';
export const IG_TOKEN = 'EAAGinstagramE2ePageToken0123456789abcdefgh';
export const IG_NARROW_TOKEN = 'EAAGinstagramE2eBasicOnlyToken012345678ab';
export const IG_VERIFY = 'ig-verify-token-e2e-91c4';
/** Shared by the WhatsApp and Instagram apps (32 hexadecimal characters). */
export const APP_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
export const REVOKED_WA_TOKEN = 'EAAGrevokedE2eTokenRevoked000000000000';
/** Well-formed test keys (stripe-mock accepts `sk_test_<alphanumerics>`). */
export const STRIPE_KEY = 'sk_test_51E2eIntegrationsKeyAbCdEf4242';
export const STRIPE_WHSEC = 'whsec_e2eIntegrationsSigningSecret0123';
/** A live key: well-formed, but stripe-mock only accepts test keys. */
export const STRIPE_REFUSED_KEY = 'sk_live_51E2eRefusedByStripeMock9999';

export const WA_PHONE_ID = '106540352242922';
export const WA_WABA_ID = '102290129340398';
export const IG_USER_ID = '17841400000000001';
export const IG_PAGE_ID = '109876543210';

/** The tokens, phone number, business account, page and Instagram account the connect payloads name. */
export function seedGraph(graph: MetaGraph): void {
  graph.faults = {};
  graph.tokens.set(WA_TOKEN, { permissions: ['whatsapp_business_management', 'whatsapp_business_messaging'], objects: [WA_PHONE_ID, WA_WABA_ID] });
  graph.tokens.set(IG_TOKEN, {
    permissions: ['instagram_basic', 'instagram_manage_messages', 'pages_manage_metadata', 'pages_messaging'],
    objects: [IG_USER_ID, IG_PAGE_ID, 't_conv1', 't_conv2'],
    me: IG_USER_ID,
  });
  graph.tokens.set(IG_NARROW_TOKEN, { permissions: ['instagram_basic'], objects: [IG_USER_ID, IG_PAGE_ID], me: IG_USER_ID });
  graph.phoneNumbers.set(WA_PHONE_ID, { wabaId: WA_WABA_ID, display_phone_number: '+33 6 12 34 56 78', verified_name: 'Glavito Demo', quality_rating: 'GREEN' });
  graph.wabas.set(WA_WABA_ID, []);
  graph.pages.set(IG_PAGE_ID, []);
  graph.igUsers.set(IG_USER_ID, {
    username: 'glavito.demo',
    conversations: [
      {
        id: 't_conv1',
        updated_time: '2026-11-20T10:05:00+0000',
        messages: [
          { id: 'm_2', created_time: '2026-11-20T10:05:00+0000', from: { id: IG_USER_ID, username: 'glavito.demo' }, message: 'Hello, how can we help?' },
          { id: 'm_1', created_time: '2026-11-20T10:00:00+0000', from: { id: '5550001', username: 'customer.one' }, message: 'Hi!' },
        ],
      },
      { id: 't_conv2', updated_time: '2026-11-01T08:00:00+0000', messages: [{ id: 'm_0', created_time: '2026-11-01T08:00:00+0000', from: { id: '5550002' }, message: 'old' }] },
    ],
  });
}

export type ConnectBody = { credentials: Record<string, unknown>; config: Record<string, unknown> };

export const whatsappConnect = (overrides: Partial<Record<'accessToken' | 'appSecret' | 'verifyToken', string>> = {}): ConnectBody => ({
  credentials: { accessToken: WA_TOKEN, appSecret: APP_SECRET, verifyToken: WA_VERIFY, ...overrides },
  config: { phoneNumberId: WA_PHONE_ID, businessAccountId: WA_WABA_ID },
});

export const instagramConnect = (overrides: Partial<Record<'accessToken' | 'appSecret' | 'verifyToken', string>> = {}): ConnectBody => ({
  credentials: { accessToken: IG_TOKEN, appSecret: APP_SECRET, verifyToken: IG_VERIFY, ...overrides },
  config: { igUserId: IG_USER_ID, pageId: IG_PAGE_ID },
});

/** GreenMail, plaintext (INTEGRATIONS_ALLOW_PRIVATE_HOSTS allows it). */
export const emailConnect = (user: MailUser, password = user.password): ConnectBody => ({
  credentials: { username: user.email, password },
  config: { preset: 'custom', smtp: { ...user.smtp, security: 'none' }, imap: { ...user.imap, security: 'none' }, fromAddress: user.email },
});

/** stripe-mock returns no endpoint secret, so the signing secret is pasted with the key. */
export const stripeConnect = (secretKey = STRIPE_KEY): ConnectBody => ({ credentials: { secretKey, webhookSecret: STRIPE_WHSEC }, config: {} });

export const n8nConnect = (baseUrl: string, apiKey: string): ConnectBody => ({ credentials: { apiKey }, config: { baseUrl } });

export const aiLocalConnect = (): ConnectBody => ({ credentials: {}, config: { provider: 'local', model: 'naive-bayes' } });

export const aiRemoteConnect = (baseUrl: string, apiKey: string): ConnectBody => ({
  credentials: { apiKey },
  config: { provider: 'openai_compatible', model: 'gpt-4o-mini', baseUrl },
});

// ---- webhook bodies as the providers send them ----

export const metaSignature = (body: string, secret = APP_SECRET) => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

export const whatsappWebhookBody = (messageId: string, text = 'Bonjour') =>
  JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: WA_WABA_ID,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '33612345678', phone_number_id: WA_PHONE_ID },
              contacts: [{ profile: { name: 'Ada' }, wa_id: '33611111111' }],
              messages: [{ from: '33611111111', id: messageId, timestamp: '1764000000', type: 'text', text: { body: text } }],
            },
          },
        ],
      },
    ],
  });

export const stripeWebhookBody = (eventId: string) =>
  JSON.stringify({ id: eventId, object: 'event', type: 'invoice.paid', created: 1764000000, livemode: false, data: { object: { id: 'in_e2e', object: 'invoice', lines: { data: [] } } } });

export const stripeSignature = (payload: string, secret = STRIPE_WHSEC) => Stripe.webhooks.generateTestHeaderString({ payload, secret });
