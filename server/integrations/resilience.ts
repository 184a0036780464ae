// How the integration actors call providers (cockatiel, a port of .NET's Polly): each call gets a
// timeout; provider-side failures (timeouts, provider errors) are retried with exponential backoff
// and jitter; and one circuit breaker per provider kind stops calling a provider that keeps
// failing, probing it again half-open after a pause. Refused credentials are the tenant's problem,
// not the provider's: they are neither retried nor counted by the breaker, so one tenant's bad key
// cannot cut every tenant off.
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { AppError } from '../../shared/errors.ts';
import type { CallContext, IntegrationKind } from './provider.ts';

/** Failures that say the provider (not the tenant's input) is in trouble. */
const PROVIDER_FAILURES = new Set(['INTEGRATION_TIMEOUT', 'INTEGRATION_PROVIDER_ERROR', 'EMAIL_CONNECTION_TIMEOUT', 'N8N_WORKFLOW_ERROR']);
export const isProviderFailure = (error: unknown) => !(error instanceof AppError) || PROVIDER_FAILURES.has(error.code);

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';
const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

export type ResilienceOptions = {
  /** Deadline of one provider call. */
  callTimeoutMs: number;
  /** Attempts per operation (1 = no retry). */
  attempts: number;
  /** Consecutive provider failures that open a provider's breaker. */
  breakerThreshold: number;
  /** How long an open breaker waits before letting one probe through (half-open). */
  breakerHalfOpenAfterMs: number;
  /** Called when a provider's breaker changes state (metrics, logs). */
  onBreakerChange?(kind: IntegrationKind, state: BreakerState): void;
};

export class ProviderCalls {
  readonly #options: ResilienceOptions;
  readonly #breakers = new Map<IntegrationKind, CircuitBreakerPolicy>();
  readonly #policies = new Map<IntegrationKind, IPolicy>();

  constructor(options: ResilienceOptions) {
    this.#options = options;
  }

  /** The breaker state of one provider kind on this node. */
  breakerState(kind: IntegrationKind): BreakerState {
    return STATE_NAMES[this.#breaker(kind).state];
  }

  /**
   * Runs `call` against provider `kind` for `tenantId` under the timeout, retry and breaker
   * policies (`retry: false`: timeout and breaker only); an open breaker answers
   * INTEGRATION_CIRCUIT_OPEN without calling the provider.
   */
  async run<T>(kind: IntegrationKind, tenantId: string, call: (context: CallContext) => Promise<T>, options: { retry?: boolean } = {}): Promise<T> {
    // Calls that create something (an account, a workflow) are not retried: a timeout may hide a success.
    const policy = options.retry === false ? this.#breaker(kind) : this.#policy(kind);
    try {
      return await policy.execute(({ signal }) =>
        call({ tenantId, signal: AbortSignal.any([signal, AbortSignal.timeout(this.#options.callTimeoutMs)]) }),
      );
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new AppError('INTEGRATION_CIRCUIT_OPEN', `${kind} keeps failing: calls are paused and retried in a moment`, { retryable: true });
      }
      throw error;
    }
  }

  #breaker(kind: IntegrationKind): CircuitBreakerPolicy {
    let breaker = this.#breakers.get(kind);
    if (!breaker) {
      breaker = circuitBreaker(handleWhen(isProviderFailure), {
        halfOpenAfter: this.#options.breakerHalfOpenAfterMs,
        breaker: new ConsecutiveBreaker(this.#options.breakerThreshold),
      });
      const created = breaker;
      created.onStateChange((state) => this.#options.onBreakerChange?.(kind, STATE_NAMES[state]));
      this.#breakers.set(kind, created);
    }
    return breaker;
  }

  #policy(kind: IntegrationKind): IPolicy {
    let policy = this.#policies.get(kind);
    if (!policy) {
      // Retry outside the breaker: each attempt counts, and an open breaker ends the retries.
      const retries = retry(handleWhen((error) => isProviderFailure(error) && !(error instanceof BrokenCircuitError)), {
        maxAttempts: Math.max(0, this.#options.attempts - 1),
        backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 5_000 }),
      });
      policy = wrap(retries, this.#breaker(kind));
      this.#policies.set(kind, policy);
    }
    return policy;
  }
}
