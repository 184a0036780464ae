// WhatsApp Business (Cloud API on Meta's Graph API). `connect` checks that the token can see the
// phone number (and reads its display number and verified name), then subscribes the app to the
// WhatsApp Business Account's webhooks; `check` reads the phone number again. The app secret and
// verify token serve the webhook (signature and GET handshake), verified elsewhere: here only
// their shape is checked. The Graph base URL and version are server configuration.
import { z } from 'zod';
import type { Provider } from '../provider.ts';
import { GRAPH_ID, graphApi, maskMetaCredentials, metaCredentialsSchema, type GraphOptions } from './graph-api.ts';

const credentialsSchema = metaCredentialsSchema('must be a Meta access token (a system user token, EAA…)');
export type WhatsAppCredentials = z.infer<typeof credentialsSchema>;

const configSchema = z.strictObject({
  phoneNumberId: z.string().regex(GRAPH_ID, 'must be a numeric phone number id'),
  businessAccountId: z.string().regex(GRAPH_ID, 'must be a numeric WhatsApp Business Account id'),
  /** Read from Graph on connect, for display. */
  displayPhoneNumber: z.string().max(64).optional(),
  verifiedName: z.string().max(255).optional(),
});
export type WhatsAppConfig = z.infer<typeof configSchema>;

const phoneNumberSchema = z.object({
  id: z.string(),
  display_phone_number: z.string(),
  verified_name: z.string(),
  quality_rating: z.string().optional(),
});
const successSchema = z.object({ success: z.literal(true) });

export type WhatsAppProvider = Provider<WhatsAppCredentials, WhatsAppConfig>;

export function createWhatsAppProvider(options: GraphOptions): WhatsAppProvider {
  const request = graphApi(options, {
    name: 'WhatsApp',
    authCode: 'WHATSAPP_AUTH_FAILED',
    unknownId: 'the phone number id or business account id is unknown to this token',
  });

  const phoneNumber = (credentials: WhatsAppCredentials, config: WhatsAppConfig, context: Parameters<WhatsAppProvider['check']>[2]) =>
    request(phoneNumberSchema, { path: config.phoneNumberId, query: { fields: 'display_phone_number,verified_name,quality_rating' } }, credentials.accessToken, context);

  return {
    kind: 'whatsapp',
    credentialsSchema,
    configSchema,
    mask: maskMetaCredentials,

    async connect(credentials, config, context) {
      const number = await phoneNumber(credentials, config, context);
      await request(successSchema, { method: 'POST', path: `${config.businessAccountId}/subscribed_apps` }, credentials.accessToken, context);
      return { config: { displayPhoneNumber: number.display_phone_number, verifiedName: number.verified_name } };
    },

    async check(credentials, config, context) {
      await phoneNumber(credentials, config, context);
    },
  };
}
