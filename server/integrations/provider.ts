// The port every integration provider implements (WhatsApp, Instagram, email, Stripe, n8n, AI).
// A provider is pure I/O against one external service: it validates credentials, sets the
// connection up and answers a health check. Retries, the circuit breaker, rate limits, scheduling,
// storage and encryption belong to the integration actor around it, not to the provider.
//
// Error contract: a provider throws AppError with
// - its own auth code when the provider refused the credentials (WHATSAPP_AUTH_FAILED,
//   INSTAGRAM_PERMISSION_DENIED, INTEGRATION_AUTH_FAILED for email/Stripe/n8n/AI HTTP, ...);
// - INTEGRATION_TIMEOUT (or EMAIL_CONNECTION_TIMEOUT for mail servers) when the call ran out of time;
// - INTEGRATION_PROVIDER_ERROR when the provider answered with an error of its own (5xx, malformed);
// - INTEGRATION_URL_FORBIDDEN when a user-supplied host fails the SSRF guard;
// and `details` never contain credentials.
import type { z } from 'zod';

import type { IntegrationKind } from '../../shared/integrations.ts';
export { INTEGRATION_KINDS, type IntegrationKind } from '../../shared/integrations.ts';

export type HealthCheck = { lastCheckedAt: string; isHealthy: boolean; responseTime: number };

export type ConnectResult<Credentials, Config> = { config?: Partial<Config>; credentials?: Partial<Credentials> };

/** What a provider call gets: an abort signal carrying the per-call timeout. */
export type CallContext = { tenantId: string; signal: AbortSignal };

export interface Provider<Credentials, Config> {
  readonly kind: IntegrationKind;
  /** Secret inputs (tokens, passwords, API keys): stored encrypted, never returned. */
  readonly credentialsSchema: z.ZodType<Credentials>;
  /** Non-secret settings (ids, hosts, options): stored and returned as they are. */
  readonly configSchema: z.ZodType<Config>;
  /** Masked hints for display, e.g. `{ accessToken: 'EAAG…x9f2' }`. */
  mask(credentials: Credentials): Record<string, string>;
  /**
   * Validates the credentials against the provider and sets the connection up (webhook
   * subscription, endpoint creation, ...); returns what the setup produced: config to keep (ids)
   * and secrets the provider issued (a webhook signing secret), stored encrypted with the rest.
   */
  connect(credentials: Credentials, config: Config, context: CallContext): Promise<ConnectResult<Credentials, Config>>;
  /** One cheap authenticated call; resolves when healthy, throws AppError otherwise. */
  check(credentials: Credentials, config: Config, context: CallContext): Promise<void>;
}

/** Runs `work` until `signal` aborts; the abort becomes `onAbort()` (the provider's timeout error). */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  // The work may still fail after the abort: that late failure is nobody's news.
  work.catch(() => {});
  if (signal.aborted) throw onAbort();
  let listener: (() => void) | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        listener = () => reject(onAbort());
        signal.addEventListener('abort', listener, { once: true });
      }),
    ]);
  } finally {
    if (listener) signal.removeEventListener('abort', listener);
  }
}

/** Masks a secret for display: the first and last four characters at most, never more than a third. */
export function maskSecret(secret: string): string {
  const visible = Math.min(4, Math.floor(secret.length / 6));
  return visible === 0 ? '…' : `${secret.slice(0, visible)}…${secret.slice(-visible)}`;
}
