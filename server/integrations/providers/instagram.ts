// Instagram messaging (Instagram Graph API on Meta's Graph API). `connect` reads the permissions
// granted to the token (instagram_basic and instagram_manage_messages are required; what is missing
// is named in the error), checks that the token can see the Instagram account, then subscribes the
// linked Facebook page to the `messages` webhook field; `check` reads `me`; `syncMessages` pulls the
// account's conversations and their messages since a point in time, normalized. The app secret
// and verify token serve the webhook (signature and GET handshake), verified elsewhere: here only
// their shape is checked. The Graph base URL and version are server configuration.
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import type { CallContext, Provider } from '../provider.ts';
import { GRAPH_ID, graphApi, maskMetaCredentials, metaCredentialsSchema, type GraphOptions } from './graph-api.ts';

export const INSTAGRAM_REQUIRED_PERMISSIONS = ['instagram_basic', 'instagram_manage_messages'] as const;

const credentialsSchema = metaCredentialsSchema('must be a Meta access token');
export type InstagramCredentials = z.infer<typeof credentialsSchema>;

const configSchema = z.strictObject({
  igUserId: z.string().regex(GRAPH_ID, 'must be a numeric Instagram professional account id'),
  pageId: z.string().regex(GRAPH_ID, 'must be the numeric id of the linked Facebook page'),
  /** Read from Graph on connect, for display. */
  username: z.string().max(255).optional(),
});
export type InstagramConfig = z.infer<typeof configSchema>;

const userSchema = z.object({ id: z.string(), username: z.string() });
const permissionsSchema = z.object({ data: z.array(z.object({ permission: z.string(), status: z.string() })) });
const successSchema = z.object({ success: z.literal(true) });
const graphTime = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be a time');
const conversationsSchema = z.object({ data: z.array(z.object({ id: z.string(), updated_time: graphTime })) });
const messageSchema = z.object({
  id: z.string(),
  created_time: graphTime,
  from: z.object({ id: z.string(), username: z.string().optional() }),
  message: z.string().optional(),
});
const conversationSchema = z.object({ id: z.string(), messages: z.object({ data: z.array(messageSchema) }).optional() });

/** One Instagram direct message, normalized. */
export type InstagramMessage = {
  id: string;
  conversationId: string;
  /** `inbound` when a customer wrote it, `outbound` when the account did. */
  direction: 'inbound' | 'outbound';
  from: { id: string; username?: string };
  text: string;
  createdAt: string;
};

export type InstagramProvider = Provider<InstagramCredentials, InstagramConfig> & {
  /** The messages of the account's conversations created after `since`, oldest first. */
  syncMessages(credentials: InstagramCredentials, config: InstagramConfig, since: Date, context: CallContext): Promise<InstagramMessage[]>;
};

export function createInstagramProvider(options: GraphOptions): InstagramProvider {
  const request = graphApi(options, {
    name: 'Instagram',
    authCode: 'INSTAGRAM_PERMISSION_DENIED',
    unknownId: 'the Instagram account id or page id is unknown to this token',
  });

  return {
    kind: 'instagram',
    credentialsSchema,
    configSchema,
    mask: maskMetaCredentials,

    async connect(credentials, config, context) {
      const permissions = await request(permissionsSchema, { path: 'me/permissions' }, credentials.accessToken, context);
      const granted = new Set(permissions.data.filter((entry) => entry.status === 'granted').map((entry) => entry.permission));
      const missing = INSTAGRAM_REQUIRED_PERMISSIONS.filter((permission) => !granted.has(permission));
      if (missing.length > 0) {
        throw new AppError('INSTAGRAM_PERMISSION_DENIED', `Instagram: the token lacks ${missing.join(', ')}`, { missingPermissions: missing });
      }
      const user = await request(userSchema, { path: config.igUserId, query: { fields: 'id,username' } }, credentials.accessToken, context);
      await request(successSchema, { method: 'POST', path: `${config.pageId}/subscribed_apps`, query: { subscribed_fields: 'messages' } }, credentials.accessToken, context);
      return { config: { username: user.username } };
    },

    async check(credentials, _config, context) {
      await request(userSchema, { path: 'me', query: { fields: 'id,username' } }, credentials.accessToken, context);
    },

    async syncMessages(credentials, config, since, context) {
      const conversations = await request(
        conversationsSchema,
        { path: `${config.igUserId}/conversations`, query: { platform: 'instagram', fields: 'id,updated_time' } },
        credentials.accessToken,
        context,
      );
      const messages: InstagramMessage[] = [];
      for (const conversation of conversations.data) {
        if (Date.parse(conversation.updated_time) <= since.getTime()) continue;
        const detail = await request(
          conversationSchema,
          { path: conversation.id, query: { fields: 'messages{id,created_time,from,message}' } },
          credentials.accessToken,
          context,
        );
        for (const message of detail.messages?.data ?? []) {
          const createdAt = new Date(Date.parse(message.created_time));
          if (createdAt.getTime() <= since.getTime()) continue;
          messages.push({
            id: message.id,
            conversationId: conversation.id,
            direction: message.from.id === config.igUserId ? 'outbound' : 'inbound',
            from: { id: message.from.id, ...(message.from.username !== undefined ? { username: message.from.username } : {}) },
            text: message.message ?? '',
            createdAt: createdAt.toISOString(),
          });
        }
      }
      return messages.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },
  };
}
