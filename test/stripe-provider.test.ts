// The Stripe provider against stripe-mock (Stripe's official API mock, started by the global
// setup): success, a refused key, a timeout and a provider error, and that no error carries the key.
import net from 'node:net';
import http from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { createStripeProvider } from '../server/integrations/providers/stripe.ts';
import { requiredEnv } from './support/isolation.ts';
import { failure } from './support/failures.ts';
import { localServers } from './support/local-servers.ts';

const context = (timeoutMs = 5_000) => ({ tenantId: 'tenant-a', signal: AbortSignal.timeout(timeoutMs) });
const stripeMock = () => createStripeProvider({ apiUrl: requiredEnv('TEST_STRIPE_MOCK_URL'), timeoutMs: 5_000 });
/** A server on a free port (one that never answers, or fails on its side). */
const listen = localServers();

describe('the Stripe provider', () => {
  const credentials = { secretKey: 'sk_test_123' };

  it('checks the key, creates the webhook endpoint and keeps its signing secret apart from the config', async () => {
    const provider = stripeMock();
    const webhookUrl = 'https://onboarding.example.com/api/v1/webhooks/stripe/x';
    // Real Stripe returns the endpoint's secret on creation; stripe-mock's fixture has none, so the
    // provider keeps the one pasted with the key, and without either it says what is missing.
    const missing = await failure(provider.connect(credentials, { webhookUrl }, context()));
    expect({ code: missing.code, issues: missing.details?.issues }).toEqual({
      code: 'INTEGRATION_PROVIDER_ERROR',
      issues: [{ path: 'credentials.webhookSecret', message: expect.any(String) }],
    });
    const result = await provider.connect({ ...credentials, webhookSecret: 'whsec_pasted' }, { webhookUrl }, context());
    expect(result.config).toEqual({ accountId: expect.stringMatching(/^acct_/), webhookEndpointId: expect.stringMatching(/^we_/) });
    expect(result.credentials).toEqual({ webhookSecret: 'whsec_pasted' });
    await expect(provider.check(credentials, {}, context())).resolves.toBeUndefined();
    expect(provider.mask({ secretKey: 'sk_test_51Habcdefghijklmnop4242' })).toEqual({ secretKey: 'sk_t…4242' });
  });

  it('creates a Connect account with its onboarding link, and one product and price per plan', async () => {
    const provider = stripeMock();
    const connect = await provider.createConnectAccount(credentials, { country: 'FR', refreshUrl: 'https://a.example/r', returnUrl: 'https://a.example/done' }, context());
    expect(connect).toEqual({ accountId: expect.stringMatching(/^acct_/), onboardingUrl: expect.stringMatching(/^https:\/\//), expiresAt: expect.any(String) });
    const plans = await provider.syncPlans(credentials, 'EUR', [{ name: 'Starter', amount: 1900, interval: 'month' }, { name: 'Pro', amount: 49_000, interval: 'year' }], context());
    expect(plans).toEqual([
      { name: 'Starter', productId: expect.stringMatching(/^prod_/), priceId: expect.stringMatching(/^price_/) },
      { name: 'Pro', productId: expect.stringMatching(/^prod_/), priceId: expect.stringMatching(/^price_/) },
    ]);
  });

  it('answers INTEGRATION_AUTH_FAILED for a key Stripe refuses, without echoing it', async () => {
    // stripe-mock, like Stripe, refuses a key that is not a well-formed test key.
    const badKey = 'sk_test_not_a_valid_key_9999';
    const error = await failure(stripeMock().check({ secretKey: badKey }, {}, context()));
    expect(error.code).toBe('INTEGRATION_AUTH_FAILED');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(badKey);
  });

  it('answers INTEGRATION_TIMEOUT when Stripe does not answer in time', async () => {
    const silent = await listen(net.createServer(() => {})); // accepts, never answers
    const provider = createStripeProvider({ apiUrl: silent, timeoutMs: 10_000 });
    const started = Date.now();
    const error = await failure(provider.check(credentials, {}, context(300)));
    expect(error.code).toBe('INTEGRATION_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('answers INTEGRATION_PROVIDER_ERROR when Stripe fails on its side', async () => {
    const failing = await listen(
      http.createServer((_req, res) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: 'An unknown error occurred' } }));
      }),
    );
    const error = await failure(createStripeProvider({ apiUrl: failing, timeoutMs: 5_000 }).check(credentials, {}, context()));
    expect(error.code).toBe('INTEGRATION_PROVIDER_ERROR');
    expect(error.message).toContain('500');
  });
});
