// The Glavito onboarding client SDK: typed REST and a live Yjs session provider.
export { OnboardingApiError, OnboardingClient, type OnboardingClientOptions } from './rest.ts';
export type { AuditPage, BackgroundRun, EventsPage, IntegrationKind, IntegrationView, Progress, SessionView, StepConfiguration, StepWrite } from './rest.ts';
export { SessionProvider, type PresenceSummary, type SessionProviderEvents, type SessionProviderOptions } from './session-provider.ts';
