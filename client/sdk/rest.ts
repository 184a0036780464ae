// Typed REST client for the onboarding API: the same zod-described wire shapes as the server
// (shared/api.ts). Works wherever `fetch` exists (Node 18+, browsers).
import type { z } from 'zod';
import type {
  auditPageSchema,
  auditQuerySchema,
  eventsPageSchema,
  eventsQuerySchema,
  progressSchema,
  sessionViewSchema,
  stepConfigListSchema,
  stepConfigSchema,
  stepWriteSchema,
} from '../../shared/api.ts';
import type { ErrorBody, ErrorCode } from '../../shared/errors.ts';
import type { BackgroundRun, IntegrationKind, IntegrationView } from '../../shared/integrations.ts';
import type { StepId } from '../../shared/steps.ts';

export type SessionView = z.output<typeof sessionViewSchema>;
export type Progress = z.output<typeof progressSchema>;
export type StepWrite = z.output<typeof stepWriteSchema>;
export type StepConfiguration = z.output<typeof stepConfigSchema>;
export type AuditPage = z.output<typeof auditPageSchema>;
export type EventsPage = z.output<typeof eventsPageSchema>;
export type { BackgroundRun, IntegrationKind, IntegrationView };

/** An error answer of the server, with its code, HTTP status and details (field paths). */
export class OnboardingApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: ErrorBody['error']['details'];

  constructor(status: number, body: ErrorBody) {
    super(body.error.message);
    this.name = 'OnboardingApiError';
    this.status = status;
    this.code = body.error.code;
    this.details = body.error.details;
  }
}

export type OnboardingClientOptions = {
  /** e.g. `https://onboarding.example.com` */
  baseUrl: string;
  /** The bearer token, or a function returning a fresh one for each request. */
  token: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
};

export class OnboardingClient {
  readonly #options: OnboardingClientOptions;

  constructor(options: OnboardingClientOptions) {
    this.#options = options;
  }

  /** Starts the tenant's onboarding, or returns the live session (`created` tells which). */
  async start(): Promise<{ view: SessionView; created: boolean }> {
    const { status, body } = await this.#call<SessionView>('POST', '/onboarding/sessions', {});
    return { view: body, created: status === 201 };
  }

  current = () => this.#body<SessionView>('GET', '/onboarding/sessions/current');
  get = (sessionId: string) => this.#body<SessionView>('GET', `/onboarding/sessions/${sessionId}`);
  progress = (sessionId: string) => this.#body<Progress>('GET', `/onboarding/sessions/${sessionId}/progress`);
  /** JSON merge patch of a step's data; resolves once the edit is durable. */
  updateStep = (sessionId: string, stepId: StepId, patch: Record<string, unknown>) =>
    this.#body<StepWrite>('PATCH', `/onboarding/sessions/${sessionId}/steps/${stepId}`, patch);
  completeStep = (sessionId: string, stepId: StepId) => this.#body<SessionView>('POST', `/onboarding/sessions/${sessionId}/steps/${stepId}/complete`, {});
  skipStep = (sessionId: string, stepId: StepId) => this.#body<SessionView>('POST', `/onboarding/sessions/${sessionId}/steps/${stepId}/skip`, {});
  pause = (sessionId: string) => this.#body<SessionView>('POST', `/onboarding/sessions/${sessionId}/pause`, {});
  resume = (sessionId: string) => this.#body<SessionView>('POST', `/onboarding/sessions/${sessionId}/resume`, {});
  complete = (sessionId: string) => this.#body<SessionView>('POST', `/onboarding/sessions/${sessionId}/complete`, {});
  steps = () => this.#body<{ steps: StepConfiguration[] }>('GET', '/onboarding/steps') as Promise<z.output<typeof stepConfigListSchema>>;
  step = (stepId: StepId) => this.#body<StepConfiguration>('GET', `/onboarding/steps/${stepId}`);
  audit = (query: Partial<z.input<typeof auditQuerySchema>> = {}) => this.#body<AuditPage>('GET', `/audit${queryString(query)}`);
  events = (query: Partial<z.input<typeof eventsQuerySchema>> = {}) => this.#body<EventsPage>('GET', `/events${queryString(query)}`);

  // Integrations (owners and admins). Credentials go in and never come back: views carry masked hints.
  integrations = async () => (await this.#body<{ integrations: IntegrationView[] }>('GET', '/integrations')).integrations;
  integration = (kind: IntegrationKind) => this.#body<IntegrationView>('GET', `/integrations/${kind}`);
  /** Resolves once the provider accepted the credentials and they are stored (encrypted). */
  connectIntegration = (kind: IntegrationKind, credentials: Record<string, unknown>, config: Record<string, unknown>) =>
    this.#body<IntegrationView>('PUT', `/integrations/${kind}`, { credentials, config });
  checkIntegration = (kind: IntegrationKind) => this.#body<IntegrationView>('POST', `/integrations/${kind}/check`, {});
  enableIntegration = (kind: IntegrationKind) => this.#body<IntegrationView>('POST', `/integrations/${kind}/enable`, {});
  disableIntegration = (kind: IntegrationKind) => this.#body<IntegrationView>('POST', `/integrations/${kind}/disable`, {});
  removeIntegration = async (kind: IntegrationKind) => void (await this.#call<undefined>('DELETE', `/integrations/${kind}`));
  /** A provider operation (`stripe`/`sync-plans`, `ai`/`train`, ...; docs/PROTOCOL.md lists them). */
  runIntegrationOperation = <T = unknown>(kind: IntegrationKind, operation: string, input: Record<string, unknown>) =>
    this.#body<T>('POST', `/integrations/${kind}/${operation}`, input);

  async #body<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.#call<T>(method, path, body)).body;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    const response = await (this.#options.fetch ?? fetch)(`${this.#options.baseUrl.replace(/\/$/, '')}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const parsed = (response.status === 204 ? undefined : await response.json()) as T | ErrorBody;
    if (!response.ok) throw new OnboardingApiError(response.status, parsed as ErrorBody);
    return { status: response.status, body: parsed as T };
  }
}

function queryString(query: Record<string, unknown>): string {
  const entries = Object.entries(query).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}
