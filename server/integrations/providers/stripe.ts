// Stripe (stripe-node): checks the API key, creates the webhook endpoint the server receives
// events on (its signing secret is kept with the credentials), creates Connect accounts and their
// onboarding links, and turns the payment step's plans into products and prices. The API base URL
// is server configuration (STRIPE_API_URL: stripe-mock in tests), never user input.
import Stripe from 'stripe';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { maskSecret, untilAborted, type CallContext, type Provider } from '../provider.ts';

const credentialsSchema = z.strictObject({
  secretKey: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, 'must be a Stripe secret or restricted key (sk_test_…, sk_live_…, rk_…)').max(255),
  /**
   * The webhook signing secret: Stripe issues it when the endpoint is created (connect keeps it);
   * a tenant may also paste the one of an endpoint made in the Stripe dashboard.
   */
  webhookSecret: z.string().regex(/^whsec_[A-Za-z0-9_]+$/, 'must be a Stripe webhook signing secret (whsec_…)').max(255).optional(),
});
export type StripeCredentials = z.infer<typeof credentialsSchema>;

const configSchema = z.strictObject({
  accountId: z.string().max(255).optional(),
  webhookEndpointId: z.string().max(255).optional(),
  /** Where Stripe sends events (set by the server: its public URL plus the integration's webhook path). */
  webhookUrl: z.url({ protocol: /^https?$/ }).max(2048).optional(),
  /** The tenant's Connect account (createConnectAccount). */
  connectAccountId: z.string().max(255).optional(),
  /** The plans synchronized as products and prices (syncPlans). */
  plans: z.array(z.strictObject({ name: z.string().max(100), productId: z.string().max(255), priceId: z.string().max(255) })).max(20).optional(),
});
export type StripeConfig = z.infer<typeof configSchema>;

/** The events the platform acts on (subscriptions and payments of the tenant's customers). */
export const STRIPE_WEBHOOK_EVENTS = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
  'checkout.session.completed',
  'account.updated',
] as const;

export type StripePlan = { name: string; amount: number; interval: 'month' | 'year' };

export type StripeProvider = Provider<StripeCredentials, StripeConfig> & {
  /** A Connect (Express) account for the tenant and the link its owner completes onboarding at. */
  createConnectAccount(
    credentials: StripeCredentials,
    input: { country?: string; email?: string; refreshUrl: string; returnUrl: string },
    context: CallContext,
  ): Promise<{ accountId: string; onboardingUrl: string; expiresAt: string }>;
  /** One product and one recurring price per plan (idempotent per tenant, plan name, amount and interval). */
  syncPlans(credentials: StripeCredentials, currency: string, plans: readonly StripePlan[], context: CallContext): Promise<{ name: string; productId: string; priceId: string }[]>;
};

export function createStripeProvider(options: { apiUrl: string; timeoutMs: number }): StripeProvider {
  const api = new URL(options.apiUrl);
  const client = (credentials: StripeCredentials) =>
    new Stripe(credentials.secretKey, {
      host: api.hostname,
      port: Number(api.port || (api.protocol === 'https:' ? 443 : 80)),
      protocol: api.protocol === 'https:' ? 'https' : 'http',
      timeout: options.timeoutMs,
      // Retries, backoff and the circuit breaker belong to the integration actor.
      maxNetworkRetries: 0,
    });

  /** One Stripe call, its failure mapped onto the provider error contract (never echoing the key). */
  const call = async <T>(credentials: StripeCredentials, context: CallContext, work: (stripe: Stripe) => Promise<T>): Promise<T> => {
    const timeout = () => new AppError('INTEGRATION_TIMEOUT', 'Stripe did not answer in time');
    try {
      return await untilAborted(work(client(credentials)), context.signal, timeout);
    } catch (error) {
      throw stripeError(error, credentials.secretKey);
    }
  };

  return {
    kind: 'stripe',
    credentialsSchema,
    configSchema,
    mask: (credentials) => ({
      secretKey: maskSecret(credentials.secretKey),
      ...(credentials.webhookSecret ? { webhookSecret: maskSecret(credentials.webhookSecret) } : {}),
    }),

    async connect(credentials, config, context) {
      const account = await call(credentials, context, (stripe) => stripe.accounts.retrieveCurrent());
      if (config.webhookUrl === undefined) return { config: { accountId: account.id } };
      const endpoint = await call(credentials, context, (stripe) =>
        stripe.webhookEndpoints.create({
          url: config.webhookUrl!,
          enabled_events: [...STRIPE_WEBHOOK_EVENTS],
          description: `Glavito tenant ${context.tenantId}`,
          metadata: { tenantId: context.tenantId },
        }),
      );
      // Stripe returns the secret only in this answer (stripe-mock never does): else keep a pasted one.
      const webhookSecret = endpoint.secret ?? credentials.webhookSecret;
      if (webhookSecret === undefined) {
        throw new AppError('INTEGRATION_PROVIDER_ERROR', 'Stripe issued no webhook signing secret: add webhookSecret from the endpoint in the Stripe dashboard', {
          issues: [{ path: 'credentials.webhookSecret', message: 'required when Stripe does not issue one' }],
        });
      }
      return { config: { accountId: account.id, webhookEndpointId: endpoint.id }, credentials: { webhookSecret } };
    },

    async check(credentials, _config, context) {
      await call(credentials, context, (stripe) => stripe.balance.retrieve());
    },

    async createConnectAccount(credentials, input, context) {
      const account = await call(credentials, context, (stripe) =>
        stripe.accounts.create({
          type: 'express',
          ...(input.country ? { country: input.country } : {}),
          ...(input.email ? { email: input.email } : {}),
          metadata: { tenantId: context.tenantId },
        }),
      );
      const link = await call(credentials, context, (stripe) =>
        stripe.accountLinks.create({ account: account.id, refresh_url: input.refreshUrl, return_url: input.returnUrl, type: 'account_onboarding' }),
      );
      return { accountId: account.id, onboardingUrl: link.url, expiresAt: new Date(link.expires_at * 1000).toISOString() };
    },

    async syncPlans(credentials, currency, plans, context) {
      const results: { name: string; productId: string; priceId: string }[] = [];
      for (const plan of plans) {
        // Idempotency keys make a retried sync create nothing twice.
        const key = `${context.tenantId}:${plan.name}:${plan.amount}:${plan.interval}:${currency}`;
        const product = await call(credentials, context, (stripe) =>
          stripe.products.create({ name: plan.name, metadata: { tenantId: context.tenantId } }, { idempotencyKey: `product:${key}` }),
        );
        const price = await call(credentials, context, (stripe) =>
          stripe.prices.create(
            { product: product.id, currency: currency.toLowerCase(), unit_amount: plan.amount, recurring: { interval: plan.interval } },
            { idempotencyKey: `price:${key}` },
          ),
        );
        results.push({ name: plan.name, productId: product.id, priceId: price.id });
      }
      return results;
    },
  };
}

function stripeError(error: unknown, secretKey: string): AppError {
  if (error instanceof AppError) return error;
  const scrub = (message: string) => message.split(secretKey).join(maskSecret(secretKey));
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    return new AppError('INTEGRATION_AUTH_FAILED', `Stripe refused the API key: ${scrub(error.message)}`);
  }
  if (error instanceof Stripe.errors.StripeConnectionError && /timeout/i.test(error.message)) {
    return new AppError('INTEGRATION_TIMEOUT', 'Stripe did not answer in time');
  }
  if (error instanceof Stripe.errors.StripeError) {
    return new AppError('INTEGRATION_PROVIDER_ERROR', `Stripe answered ${error.statusCode ?? 'without a status'}: ${scrub(error.message)}`, {
      stripeType: error.type,
    });
  }
  return new AppError('INTEGRATION_PROVIDER_ERROR', `Stripe call failed: ${scrub((error as Error).message)}`);
}
