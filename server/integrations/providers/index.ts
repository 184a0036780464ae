// Every provider the server runs, built from its configuration: the base URLs of the fixed APIs
// (Meta Graph, Stripe) and the SSRF policy for user-supplied hosts (n8n, mail servers, AI).
import { AppError } from '../../../shared/errors.ts';
import type { IntegrationKind, Provider } from '../provider.ts';
import { assertPublicHost } from '../ssrf-guard.ts';
import { createAiProvider, type AiProvider } from './ai.ts';
import { createEmailProvider, type EmailProvider } from './email.ts';
import { createInstagramProvider, type InstagramProvider } from './instagram.ts';
import { createN8nProvider, type N8nProvider } from './n8n.ts';
import { createStripeProvider, type StripeProvider } from './stripe.ts';
import { createWhatsAppProvider, type WhatsAppProvider } from './whatsapp.ts';

export type Providers = {
  whatsapp: WhatsAppProvider;
  instagram: InstagramProvider;
  email: EmailProvider;
  stripe: StripeProvider;
  n8n: N8nProvider;
  ai: AiProvider;
};

/** A provider seen through the port only (credentials and config checked by its own schemas). */
export type AnyProvider = Provider<unknown, Record<string, unknown>>;

export type ProviderSettings = {
  graphUrl: string;
  graphVersion: string;
  stripeApiUrl: string;
  /** Deadline of one provider call (the per-call signal bounds it too). */
  timeoutMs: number;
  /** INTEGRATIONS_ALLOW_PRIVATE_HOSTS: user-supplied hosts may be loopback or private (self-hosted, tests). */
  allowPrivateHosts: boolean;
};

export function createProviders(settings: ProviderSettings): Providers {
  const graph = { graphUrl: settings.graphUrl, apiVersion: settings.graphVersion, timeoutMs: settings.timeoutMs };
  return {
    whatsapp: createWhatsAppProvider(graph),
    instagram: createInstagramProvider(graph),
    email: createEmailProvider({
      // Checked before every connection; the first approved address is the one connected to.
      resolveHost: async (host, { stage }) => {
        const checked = await assertPublicHost(host, { allowPrivate: settings.allowPrivateHosts, field: `config.${stage}.host` });
        const first = checked.addresses[0];
        if (!first) throw new AppError('INTEGRATION_URL_FORBIDDEN', `config.${stage}.host has no address`);
        return first.address;
      },
      timeoutMs: settings.timeoutMs,
      allowPlaintext: settings.allowPrivateHosts,
    }),
    stripe: createStripeProvider({ apiUrl: settings.stripeApiUrl, timeoutMs: settings.timeoutMs }),
    n8n: createN8nProvider({ allowPrivateHosts: settings.allowPrivateHosts }),
    ai: createAiProvider({ allowPrivateHosts: settings.allowPrivateHosts }),
  };
}

/** The provider of `kind`, through the port. */
export function providerOf(providers: Providers, kind: IntegrationKind): AnyProvider {
  return providers[kind] as unknown as AnyProvider;
}
