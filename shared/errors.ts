// Error codes of the seed specification plus the transport-level ones, each with its HTTP status.
// Server and clients share this table: a code never changes meaning.
export const ERROR_STATUS = {
  // Request shape and transport
  VALIDATION_FAILED: 400,
  CONFIGURATION_VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  // Identity and access
  AUTH_TOKEN_MISSING: 401,
  AUTH_TOKEN_INVALID: 401,
  AUTH_TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  // Onboarding (seed OnboardingService)
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ONBOARDING_SESSION_NOT_FOUND: 404,
  INVALID_STEP_TRANSITION: 409,
  ONBOARDING_SESSION_NOT_ACTIVE: 409,
  DOCUMENT_TOO_LARGE: 413,
  /** A live update builds on updates the server lacks: the client syncs and sends what it has. */
  SYNC_REQUIRED: 409,
  // Integrations (seed IntegrationService)
  WHATSAPP_AUTH_FAILED: 422,
  INSTAGRAM_PERMISSION_DENIED: 422,
  EMAIL_CONNECTION_TIMEOUT: 504,
  STRIPE_WEBHOOK_FAILED: 400,
  N8N_WORKFLOW_ERROR: 502,
  AI_MODEL_INIT_FAILED: 500,
  // Integrations: failures common to every provider
  INTEGRATION_NOT_FOUND: 404,
  INTEGRATION_NOT_CONNECTED: 409,
  /** A background operation of the integration (model training) is still running. */
  INTEGRATION_BUSY: 409,
  INTEGRATION_AUTH_FAILED: 422,
  INTEGRATION_TIMEOUT: 504,
  INTEGRATION_PROVIDER_ERROR: 502,
  INTEGRATION_CIRCUIT_OPEN: 503,
  INTEGRATION_URL_FORBIDDEN: 422,
  // Server
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** One failing field: `path` as in zod (`["branding", "primaryColor"]`), joined for display. */
export type FieldIssue = { path: string; message: string };

export type ErrorBody = {
  error: { code: ErrorCode; message: string; details?: { issues?: FieldIssue[] } & Record<string, unknown> };
};

/** An error meant for the caller: its code, message and details are sent as they are. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorBody['error']['details'];

  constructor(code: ErrorCode, message: string, details?: ErrorBody['error']['details']) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** Field issues from a zod error, with paths joined by dots (`steps.0.name`). */
export function fieldIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldIssue[] {
  return issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}
