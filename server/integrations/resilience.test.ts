import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../shared/errors.ts';
import { ProviderCalls, type BreakerState } from './resilience.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function calls(attempts = 1) {
  const changes: BreakerState[] = [];
  const provider = new ProviderCalls({
    callTimeoutMs: 200,
    attempts,
    breakerThreshold: 3,
    breakerHalfOpenAfterMs: 150,
    onBreakerChange: (_kind, state) => changes.push(state),
  });
  return { provider, changes };
}

const failWith = (code: 'INTEGRATION_PROVIDER_ERROR' | 'INTEGRATION_AUTH_FAILED') => async () => {
  throw new AppError(code, code);
};

describe('provider calls', () => {
  it('retries provider failures with backoff, but not refused credentials', async () => {
    const { provider } = calls(3);
    let tries = 0;
    const flaky = async () => {
      tries += 1;
      if (tries < 3) throw new AppError('INTEGRATION_PROVIDER_ERROR', 'try again');
      return 'ok';
    };
    await expect(provider.run('stripe', 't', flaky)).resolves.toBe('ok');
    expect(tries).toBe(3);
    let authTries = 0;
    await expect(provider.run('stripe', 't', async () => {
      authTries += 1;
      throw new AppError('INTEGRATION_AUTH_FAILED', 'bad key');
    })).rejects.toMatchObject({ code: 'INTEGRATION_AUTH_FAILED' });
    expect(authTries).toBe(1);
  });

  it('gives each call a deadline through its abort signal', async () => {
    const { provider } = calls();
    const hanging = ({ signal }: { signal: AbortSignal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new AppError('INTEGRATION_TIMEOUT', 'no answer'))));
    const started = Date.now();
    await expect(provider.run('n8n', 't', hanging)).rejects.toMatchObject({ code: 'INTEGRATION_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('opens the breaker of a provider after repeated failures, and closes it again through half-open', async () => {
    const { provider, changes } = calls();
    for (let i = 0; i < 3; i += 1) await expect(provider.run('stripe', 't', failWith('INTEGRATION_PROVIDER_ERROR'))).rejects.toMatchObject({ code: 'INTEGRATION_PROVIDER_ERROR' });
    expect(provider.breakerState('stripe')).toBe('open');
    let called = false;
    await expect(provider.run('stripe', 'other-tenant', async () => (called = true))).rejects.toMatchObject({ code: 'INTEGRATION_CIRCUIT_OPEN' });
    expect(called).toBe(false);
    // Other providers are not affected.
    await expect(provider.run('email', 't', async () => 'fine')).resolves.toBe('fine');
    await sleep(200);
    await expect(provider.run('stripe', 't', async () => 'recovered')).resolves.toBe('recovered');
    expect(provider.breakerState('stripe')).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'closed']);
  });

  it('does not count refused credentials against the provider', async () => {
    const { provider } = calls();
    for (let i = 0; i < 5; i += 1) await expect(provider.run('stripe', 't', failWith('INTEGRATION_AUTH_FAILED'))).rejects.toMatchObject({ code: 'INTEGRATION_AUTH_FAILED' });
    expect(provider.breakerState('stripe')).toBe('closed');
  });
});
