// One JSON call to a user-supplied URL (the n8n instance, an OpenAI-compatible server): the URL
// passes the SSRF guard, the connection goes only to the address the guard approved (pinned, no
// redirects), the call's signal bounds it, and transport failures become the provider error
// contract — INTEGRATION_TIMEOUT when the deadline passed, INTEGRATION_PROVIDER_ERROR otherwise —
// with the secret scrubbed from every message. Status codes are the caller's to interpret.
import { fetch } from 'undici';
import { AppError } from '../../shared/errors.ts';
import { maskSecret, untilAborted, type CallContext } from './provider.ts';
import { assertPublicUrl, pinnedDispatcher } from './ssrf-guard.ts';

/** The status and the parsed JSON body (undefined when empty or not JSON). */
export type JsonAnswer = { status: number; body: unknown };

export type GuardedCall = {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Sent as JSON when present. */
  body?: unknown;
};

export type GuardedTarget = {
  /** The provider's name in messages ("n8n", "the AI provider"). */
  name: string;
  /** The input field the URL came from, for the SSRF error (`config.baseUrl`). */
  field: string;
  allowPrivate: boolean;
  /** Never appears in a message. */
  secret: string;
};

export async function guardedJsonCall(url: URL | string, call: GuardedCall, target: GuardedTarget, context: CallContext): Promise<JsonAnswer> {
  const checked = await assertPublicUrl(url, { allowPrivate: target.allowPrivate, field: target.field });
  const dispatcher = pinnedDispatcher(checked);
  const timeout = () => new AppError('INTEGRATION_TIMEOUT', `${target.name} did not answer in time`);
  try {
    const work = (async () => {
      const response = await fetch(checked.url, {
        method: call.method,
        dispatcher,
        redirect: 'manual',
        signal: context.signal,
        headers: { accept: 'application/json', ...call.headers, ...(call.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, body: parsed };
    })();
    return await untilAborted(work, context.signal, timeout);
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (context.signal.aborted) throw timeout();
    throw new AppError('INTEGRATION_PROVIDER_ERROR', `${target.name} call failed: ${scrubSecret((error as Error).message, target.secret)}`);
  } finally {
    void dispatcher.close().catch(() => {});
  }
}

/** `message` with every occurrence of `secret` masked. */
export function scrubSecret(message: string, secret: string): string {
  return message.split(secret).join(maskSecret(secret));
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
