// What the WhatsApp and Instagram providers share: one call to Meta's Graph API (versioned path,
// token in the Authorization header, never in the URL) and the mapping of Graph's error envelope
// onto the provider error contract. The base URL and API version are server configuration
// (the test stand-in in tests), never user input.
import { z } from 'zod';
import { AppError, fieldIssues, type ErrorCode } from '../../../shared/errors.ts';
import { maskSecret, type CallContext } from '../provider.ts';

export type GraphOptions = { graphUrl: string; apiVersion: string; timeoutMs: number };

/** Graph's error envelope: `{ error: { message, type, code, error_subcode?, fbtrace_id } }`. */
export type GraphError = { message: string; type: string; code: number; error_subcode?: number; fbtrace_id?: string };

/**
 * Why Graph refused a call made with valid-looking credentials: the token itself (code 190 and
 * kin, HTTP 401), a permission the token lacks (codes 10 and 200–299, HTTP 403), or an object id
 * the token cannot see (code 100, subcode 33).
 */
export type Refusal = 'token' | 'permission' | 'object';

export type GraphRequest = { method?: 'GET' | 'POST'; path: string; query?: Record<string, string> };

/** Graph ids are numeric strings. */
export const GRAPH_ID = /^[0-9]{1,32}$/;

/** Access tokens: long opaque strings of letters, digits and a few separators. */
export const ACCESS_TOKEN = /^[A-Za-z0-9_\-.|]{16,4096}$/;

/** Meta app secrets are 32 hexadecimal characters. */
export const APP_SECRET = /^[0-9a-f]{32}$/;

/**
 * The credentials of a Meta app connection (WhatsApp, Instagram): the token for Graph calls, the
 * app secret that signs webhook deliveries, and the verify token Meta's subscription handshake
 * echoes back.
 */
export function metaCredentialsSchema(tokenHint: string) {
  return z.strictObject({
    accessToken: z.string().regex(ACCESS_TOKEN, tokenHint),
    appSecret: z.string().regex(APP_SECRET, 'must be the Meta app secret (32 hexadecimal characters)'),
    verifyToken: z.string().regex(/^[\x21-\x7e]{8,255}$/, 'must be 8 to 255 printable characters without spaces'),
  });
}
export type MetaCredentials = z.infer<ReturnType<typeof metaCredentialsSchema>>;

export const maskMetaCredentials = (credentials: MetaCredentials) => ({
  accessToken: maskSecret(credentials.accessToken),
  appSecret: maskSecret(credentials.appSecret),
  verifyToken: maskSecret(credentials.verifyToken),
});

export function graphApi(
  options: GraphOptions,
  /** `authCode`: the provider's own code for refused credentials; `unknownId`: what an id Graph cannot see means. */
  service: { name: string; authCode: ErrorCode; unknownId: string },
) {
  const refused = (refusal: Refusal, message: string, graph: Record<string, unknown>) => {
    if (refusal === 'object') {
      return new AppError(service.authCode, `${service.name}: the token cannot reach this id: ${message}`, {
        graph,
        issues: [{ path: 'config', message: service.unknownId }],
      });
    }
    const what = refusal === 'token' ? 'refused the access token' : 'denied a permission to the token';
    return new AppError(service.authCode, `${service.name} ${what}: ${message}`, { graph });
  };

  if (!/^v[0-9]+\.[0-9]+$/.test(options.apiVersion)) throw new Error(`Graph API version must look like v21.0, not ${options.apiVersion}`);
  const base = new URL(options.graphUrl);

  return async function request<T>(schema: z.ZodType<T>, call: GraphRequest, accessToken: string, context: CallContext): Promise<T> {
    const scrub = (text: string) => text.split(accessToken).join(maskSecret(accessToken));
    const url = new URL(`${base.pathname.replace(/\/$/, '')}/${options.apiVersion}/${call.path}`, base);
    for (const [name, value] of Object.entries(call.query ?? {})) url.searchParams.set(name, value);
    const signal = AbortSignal.any([context.signal, AbortSignal.timeout(options.timeoutMs)]);
    const timeout = () => new AppError('INTEGRATION_TIMEOUT', `${service.name} (Graph API) did not answer in time`);

    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method: call.method ?? 'GET',
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        signal,
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw timeout();
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `${service.name} (Graph API) could not be reached: ${scrub((error as Error).message)}`);
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `${service.name} (Graph API) answered ${status} with a body that is not JSON`);
    }
    const envelope = graphError(body);
    if (envelope !== undefined || status >= 400) {
      const error = envelope ?? { message: 'no error envelope', type: 'unknown', code: 0 };
      const message = scrub(error.message);
      const graph = { status, type: error.type, code: error.code, ...(error.error_subcode !== undefined ? { subcode: error.error_subcode } : {}), ...(error.fbtrace_id ? { fbtraceId: error.fbtrace_id } : {}) };
      const refusal = status < 500 ? refusalOf(status, error) : undefined;
      if (refusal !== undefined) throw refused(refusal, message, graph);
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `${service.name} (Graph API) answered ${status}: ${message}`, { graph });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new AppError('INTEGRATION_PROVIDER_ERROR', `${service.name} (Graph API) answered ${status} with an unexpected body`, {
        issues: fieldIssues(parsed.error.issues),
      });
    }
    return parsed.data;
  };
}

function graphError(body: unknown): GraphError | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error: unknown = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const field = (name: string): unknown => (name in error ? (error as Record<string, unknown>)[name] : undefined);
  const message = field('message');
  const type = field('type');
  const code = field('code');
  const subcode = field('error_subcode');
  const trace = field('fbtrace_id');
  return {
    message: typeof message === 'string' ? message : 'no message',
    type: typeof type === 'string' ? type : 'unknown',
    code: typeof code === 'number' ? code : 0,
    ...(typeof subcode === 'number' ? { error_subcode: subcode } : {}),
    ...(typeof trace === 'string' ? { fbtrace_id: trace } : {}),
  };
}

function refusalOf(status: number, error: GraphError): Refusal | undefined {
  if (status === 401 || [102, 104, 190, 463, 467].includes(error.code)) return 'token';
  if (status === 403 || error.code === 10 || (error.code >= 200 && error.code <= 299)) return 'permission';
  if (error.code === 100 && error.error_subcode === 33) return 'object';
  return undefined;
}
