// A local stand-in for an OpenAI-compatible API, for the AI provider tests (no real one runs
// offline). It is not a model: it checks what the real API checks on the calls the provider makes
// and answers in the real shapes.
// - `Authorization: Bearer <key>`: missing or wrong → 401 with OpenAI's envelope
//   `{ error: { message, type: 'invalid_request_error', param: null, code } }` (`invalid_api_key`
//   for a wrong key, whose message shows only a masked form of it, as OpenAI's does);
// - GET /v1/models → `{ object: 'list', data: [{ id, object: 'model', created, owned_by }] }`;
// - POST /v1/chat/completions: a JSON body, `model` a string (400) naming a listed model (404
//   `model_not_found`), `messages` a non-empty array of `{ role, content }` (400); answers
//   `{ id, object: 'chat.completion', created, model, choices: [{ index, message: { role:
//   'assistant', content }, finish_reason: 'stop' }], usage }` with `reply(request)` as content;
// - anything else → 404 `unknown_url`.
// Faults: `faults.delayMs` (answer late) and `faults.status` (answer that status, OpenAI's
// `server_error` envelope).
import http from 'node:http';
import { listenOnFreePort } from './stand-in-server.ts';
import { randomUUID } from 'node:crypto';

export type ChatRequest = { model: string; messages: { role: string; content: string }[]; [key: string]: unknown };

export type OpenAiStandIn = {
  url: string;
  apiKey: string;
  models: string[];
  /** The assistant's content for a valid chat request (a fixed JSON analysis by default). */
  reply: (request: ChatRequest) => string;
  /** Valid chat requests received, in order. */
  chats: ChatRequest[];
  faults: { delayMs?: number; status?: number };
  close(): Promise<void>;
};

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export const DEFAULT_REPLY = (request: ChatRequest): string => {
  const system = request.messages.find((message) => message.role === 'system')?.content ?? '';
  // Offer a category only when the prompt listed some: the first one listed.
  const listed = /one of (\[[^\]]*\])/.exec(system);
  const labels = listed ? (JSON.parse(listed[1]!) as string[]) : [];
  return JSON.stringify({
    language: { code: 'en', confidence: 0.97 },
    sentiment: { label: 'negative', score: -0.6 },
    ...(labels[0] ? { category: { label: labels[0], confidence: 0.81 } } : {}),
  });
};

export async function startOpenAiStandIn(options: { apiKey?: string; models?: string[] } = {}): Promise<OpenAiStandIn> {
  const standIn: Omit<OpenAiStandIn, 'url' | 'close'> = {
    apiKey: options.apiKey ?? `sk-test-${randomUUID().replace(/-/g, '')}`,
    models: options.models ?? ['gpt-4o-mini', 'llama3.1:8b'],
    reply: DEFAULT_REPLY,
    chats: [],
    faults: {},
  };
  const error = (message: string, type: string, code: string | null, param: string | null = null) => ({ error: { message, type, param, code } });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => listening.json(res, status, body, standIn.faults.delayMs, 'application/json');
      if (standIn.faults.status) return answer(standIn.faults.status, error('The server had an error while processing your request. Sorry about that!', 'server_error', null));
      const authorization = req.headers.authorization;
      if (authorization === undefined || !authorization.startsWith('Bearer ')) {
        return answer(401, error("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null));
      }
      const key = authorization.slice('Bearer '.length);
      if (key !== standIn.apiKey) {
        const masked = `${key.slice(0, 3)}${'*'.repeat(Math.max(0, key.length - 7))}${key.slice(-4)}`;
        return answer(401, error(`Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'));
      }
      const path = new URL(req.url ?? '/', 'http://standin').pathname;
      if (req.method === 'GET' && path === '/v1/models') {
        return answer(200, { object: 'list', data: standIn.models.map((id) => ({ id, object: 'model', created: 1_715_367_049, owned_by: 'system' })) });
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return answer(400, error('We could not parse the JSON body of your request.', 'invalid_request_error', null));
        }
        if (typeof body !== 'object' || body === null) return answer(400, error('The request body must be a JSON object.', 'invalid_request_error', null));
        const request = body as Record<string, unknown>;
        if (typeof request.model !== 'string') return answer(400, error("you must provide a model parameter", 'invalid_request_error', null));
        if (!standIn.models.includes(request.model)) {
          return answer(404, error(`The model \`${request.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
        }
        const messages = request.messages;
        if (!Array.isArray(messages) || messages.length === 0) {
          return answer(400, error("Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter', 'messages'));
        }
        const invalid = messages.findIndex((message: unknown) => {
          const entry = message as { role?: unknown; content?: unknown } | null;
          return typeof entry !== 'object' || entry === null || typeof entry.role !== 'string' || !ROLES.has(entry.role) || typeof entry.content !== 'string';
        });
        if (invalid !== -1) return answer(400, error(`Invalid value for 'messages[${invalid}]'.`, 'invalid_request_error', 'invalid_value', `messages[${invalid}]`));
        const chat = request as ChatRequest;
        standIn.chats.push(chat);
        const content = standIn.reply(chat);
        return answer(200, {
          id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: chat.model,
          choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 },
        });
      }
      return answer(404, error(`Invalid URL (${req.method} ${path})`, 'invalid_request_error', 'unknown_url'));
    });
  });
  // The handler above runs only once this is set (requests come after listening).
  const listening = await listenOnFreePort(server);
  return Object.assign(standIn, { url: listening.url, close: listening.close });
}
