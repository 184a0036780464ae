// A local stand-in for Meta's Graph API (WhatsApp Cloud API and Instagram Graph API), because no
// Graph server runs offline. It checks what the real API checks, answering with Graph's error
// envelope `{ error: { message, type, code, error_subcode?, fbtrace_id } }`:
// - versioned paths: `/vXX.Y/...` with a version it serves; an unknown version is 400
//   OAuthException code 2500 ("Unknown path components"), one older than the oldest it serves is
//   400 OAuthException code 2635 (deprecated version). Real Graph routes an unversioned path to its
//   oldest version; the stand-in refuses it (400, code 2500) so that a forgotten version shows;
// - the access token, from `Authorization: Bearer` or the `access_token` query parameter: missing
//   or unknown is 401 OAuthException code 190 (with a WWW-Authenticate header, as Graph sends);
// - object ids: an id the token cannot see (or that does not exist) is 400 GraphMethodException
//   code 100, subcode 33 ("Unsupported get/post request. Object with ID ... does not exist ...");
//   a field the node does not have is 400 OAuthException code 100;
// - permissions per token: a call needing a permission the token lacks is 403 OAuthException,
//   code 10 for the WhatsApp and messaging permissions, code 200 for page ones (as Graph words them).
// Endpoints: GET /{phone-number-id}?fields=display_phone_number,verified_name,quality_rating;
// POST and GET /{waba-id}/subscribed_apps; GET /me?fields=id,username and /{ig-user-id};
// GET /me/permissions; POST /{page-id}/subscribed_apps?subscribed_fields=messages;
// GET /{ig-user-id}/conversations?platform=instagram; GET /{conversation-id}?fields=messages{...}.
// Faults for tests: `faults.delayMs` (answer late, for timeouts), `faults.status` (a 5xx with
// Graph's transient error), `faults.malformed` (a body that is not JSON).
import crypto from 'node:crypto';
import http from 'node:http';
import { listenOnFreePort } from './stand-in-server.ts';

export type GraphToken = {
  /** Permissions granted to the token (`instagram_basic`, `whatsapp_business_management`, ...). */
  permissions: string[];
  /** The object ids the token can see. */
  objects: string[];
  /** What `/me` is for this token. */
  me?: string;
};

export type PhoneNumber = { wabaId: string; display_phone_number: string; verified_name: string; quality_rating: string };
export type GraphMessage = { id: string; created_time: string; from: { id: string; username?: string }; message: string };
export type IgUser = { username: string; conversations: { id: string; updated_time: string; messages: GraphMessage[] }[] };

export type GraphState = {
  versions: string[];
  tokens: Map<string, GraphToken>;
  phoneNumbers: Map<string, PhoneNumber>;
  /** WhatsApp Business Accounts: the app ids subscribed to each. */
  wabas: Map<string, string[]>;
  igUsers: Map<string, IgUser>;
  /** Facebook pages: the webhook fields the app is subscribed to on each. */
  pages: Map<string, string[]>;
  appId: string;
  faults: { delayMs?: number; status?: number; malformed?: boolean };
  /** Every request: method, path and query (the token is in `authorization`, or the query). */
  requests: { method: string; url: string; authorization?: string }[];
};

export type MetaGraph = GraphState & { url: string; close(): Promise<void> };

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

const PERMISSION_CODE: Record<string, number> = {
  whatsapp_business_management: 10,
  whatsapp_business_messaging: 10,
  instagram_basic: 10,
  instagram_manage_messages: 10,
  pages_manage_metadata: 200,
  pages_messaging: 200,
};

function graphError(status: number, type: 'OAuthException' | 'GraphMethodException', code: number, message: string, subcode?: number): Answer {
  const error = { message, type, code, ...(subcode !== undefined ? { error_subcode: subcode } : {}), fbtrace_id: crypto.randomBytes(8).toString('base64url') };
  const headers: Record<string, string> = status === 401 ? { 'www-authenticate': `OAuth "Facebook Platform" "invalid_token" "${message}"` } : {};
  return { status, body: { error }, headers };
}

const unsupported = (method: string, id: string) =>
  graphError(
    400,
    'GraphMethodException',
    100,
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    33,
  );

/** Only the listed fields (plus `id`), or Graph's error for a field the node does not have. */
function pick(node: Record<string, unknown>, nodeType: string, fields: string | null, allowed: readonly string[]): Answer {
  const wanted = (fields ?? 'id').split(',').filter((field) => field !== '');
  const unknown = wanted.find((field) => field !== 'id' && !allowed.includes(field));
  if (unknown !== undefined) return graphError(400, 'OAuthException', 100, `(#100) Tried accessing nonexisting field (${unknown}) on node type (${nodeType})`);
  return { status: 200, body: Object.fromEntries([...new Set(['id', ...wanted])].map((field) => [field, node[field]])) };
}

export function answer(state: GraphState, method: string, url: URL, authorization: string | undefined): Answer {
  const [version, ...segments] = url.pathname.split('/').filter((part) => part !== '');
  if (version === undefined || !/^v[0-9]+\.[0-9]+$/.test(version)) {
    return graphError(400, 'OAuthException', 2500, `Unknown path components: ${url.pathname}`);
  }
  if (!state.versions.includes(version)) {
    const oldest = [...state.versions].sort((a, b) => parseFloat(a.slice(1)) - parseFloat(b.slice(1)))[0] ?? '';
    if (parseFloat(version.slice(1)) < parseFloat(oldest.slice(1))) {
      return graphError(400, 'OAuthException', 2635, `(#2635) You are calling a deprecated version of the Graph API. Please update to the latest version: ${state.versions.at(-1)}.`);
    }
    return graphError(400, 'OAuthException', 2500, `Unknown path components: /${version}`);
  }
  const bearer = authorization?.match(/^Bearer (.+)$/)?.[1];
  const tokenText = bearer ?? url.searchParams.get('access_token') ?? undefined;
  if (tokenText === undefined) return graphError(401, 'OAuthException', 190, 'An active access token must be used to query information about the current user.');
  const token = state.tokens.get(tokenText);
  if (token === undefined) return graphError(401, 'OAuthException', 190, 'Invalid OAuth access token - Cannot parse access token');

  const needs = (...permissions: string[]): Answer | undefined => {
    const missing = permissions.find((permission) => !token.permissions.includes(permission));
    if (missing === undefined) return undefined;
    const code = PERMISSION_CODE[missing] ?? 10;
    return graphError(403, 'OAuthException', code, code === 10 ? `(#10) Application does not have permission for this action` : `(#200) Requires ${missing} permission to manage the object`);
  };
  const [first, edge, ...rest] = segments;
  if (first === undefined || rest.length > 0) return graphError(400, 'OAuthException', 2500, `Unknown path components: ${url.pathname}`);
  const id = first === 'me' ? token.me : first;
  if (id === undefined) return graphError(400, 'OAuthException', 2500, 'An active access token must be used to query information about the current user.');
  const fields = url.searchParams.get('fields');

  if (first === 'me' && edge === 'permissions' && method === 'GET') {
    const known = Object.keys(PERMISSION_CODE);
    return { status: 200, body: { data: known.map((permission) => ({ permission, status: token.permissions.includes(permission) ? 'granted' : 'declined' })) } };
  }
  if (!token.objects.includes(id)) return unsupported(method, id);

  const phone = state.phoneNumbers.get(id);
  if (phone !== undefined && edge === undefined && method === 'GET') {
    return needs('whatsapp_business_management') ?? pick({ id, ...phone }, 'WhatsAppBusinessPhoneNumber', fields, ['display_phone_number', 'verified_name', 'quality_rating']);
  }
  const waba = state.wabas.get(id);
  if (waba !== undefined && edge === 'subscribed_apps') {
    const refused = needs('whatsapp_business_management');
    if (refused) return refused;
    if (method === 'POST') {
      if (!waba.includes(state.appId)) waba.push(state.appId);
      return { status: 200, body: { success: true } };
    }
    if (method === 'GET') return { status: 200, body: { data: waba.map((appId) => ({ whatsapp_business_api_data: { id: appId } })) } };
  }
  const page = state.pages.get(id);
  if (page !== undefined && edge === 'subscribed_apps' && method === 'POST') {
    const refused = needs('pages_manage_metadata');
    if (refused) return refused;
    const subscribed = url.searchParams.get('subscribed_fields');
    if (subscribed === null || subscribed === '') return graphError(400, 'OAuthException', 100, '(#100) The parameter subscribed_fields is required');
    for (const field of subscribed.split(',')) if (!page.includes(field)) page.push(field);
    return { status: 200, body: { success: true } };
  }
  const igUser = state.igUsers.get(id);
  if (igUser !== undefined && edge === undefined && method === 'GET') {
    return needs('instagram_basic') ?? pick({ id, username: igUser.username }, 'IGUser', fields, ['username']);
  }
  if (igUser !== undefined && edge === 'conversations' && method === 'GET') {
    const refused = needs('instagram_manage_messages');
    if (refused) return refused;
    if (url.searchParams.get('platform') !== 'instagram') return graphError(400, 'OAuthException', 100, '(#100) The platform parameter must be instagram or messenger');
    return { status: 200, body: { data: igUser.conversations.map((conversation) => ({ id: conversation.id, updated_time: conversation.updated_time })) } };
  }
  const conversation = [...state.igUsers.values()].flatMap((user) => user.conversations).find((candidate) => candidate.id === id);
  if (conversation !== undefined && edge === undefined && method === 'GET') {
    const refused = needs('instagram_manage_messages');
    if (refused) return refused;
    const withMessages = fields?.startsWith('messages') ?? false;
    return { status: 200, body: { id, ...(withMessages ? { messages: { data: conversation.messages } } : {}) } };
  }
  return unsupported(method, id);
}

/** Starts the stand-in on a free port of 127.0.0.1, serving `versions` (the first is the current one). */
export async function startMetaGraph(versions: string[] = ['v20.0', 'v21.0', 'v22.0']): Promise<MetaGraph> {
  const state: GraphState = {
    versions,
    tokens: new Map(),
    phoneNumbers: new Map(),
    wabas: new Map(),
    igUsers: new Map(),
    pages: new Map(),
    appId: '1234567890',
    faults: {},
    requests: [],
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://graph.local');
    state.requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const send = () => {
      if (state.faults.malformed) {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>Sorry, something went wrong.</html>');
        return;
      }
      const result =
        state.faults.status !== undefined
          ? graphError(state.faults.status, 'OAuthException', 2, 'An unexpected error has occurred. Please retry your request later.')
          : answer(state, req.method ?? 'GET', url, req.headers.authorization);
      res.writeHead(result.status, { 'content-type': 'application/json; charset=UTF-8', ...result.headers });
      res.end(JSON.stringify(result.body));
    };
    req.resume();
    req.on('end', () => {
      if (state.faults.delayMs) listening.later(send, state.faults.delayMs);
      else send();
    });
  });
  // The handler above runs only once this is set (requests come after listening).
  const listening = await listenOnFreePort(server);
  return Object.assign(state, { url: listening.url, close: listening.close });
}
