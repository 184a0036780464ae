// Pure rules of an integration's health: what a check's outcome does to its status, and when the
// next check runs. No I/O, no clock: the actor passes `now` and `random`.
import type { HealthCheck } from '../../server/integrations/provider.ts';
import type { IntegrationStatus } from './integration-store.ts';

/** A check's outcome; `errorMessage` says what failed (never a secret: providers scrub theirs). */
export type CheckOutcome = { ok: true; responseTime: number } | { ok: false; responseTime: number; code: string; errorMessage: string };

export type HealthState = { status: IntegrationStatus; errorMessage: string | null; health: HealthCheck | null };

export type HealthTransition = HealthState & {
  /** isHealthy flipped, or the failure is a different one: worth an event. */
  healthChanged: boolean;
  statusChanged: boolean;
};

/** Statuses whose health is checked on a schedule. */
export const CHECKED_STATUSES: readonly IntegrationStatus[] = ['connected', 'error'];

/**
 * After a check: a connected integration that fails goes to `error` with the failure's message; a
 * failing one that passes comes back to `connected`. Pending and disabled integrations are never
 * checked, so their status does not move here.
 */
export function afterCheck(state: HealthState, outcome: CheckOutcome, now: Date): HealthTransition {
  const health: HealthCheck = { lastCheckedAt: now.toISOString(), isHealthy: outcome.ok, responseTime: Math.round(outcome.responseTime) };
  const checked = CHECKED_STATUSES.includes(state.status);
  const status: IntegrationStatus = checked ? (outcome.ok ? 'connected' : 'error') : state.status;
  const errorMessage = outcome.ok ? null : outcome.errorMessage;
  return {
    status,
    errorMessage: checked ? errorMessage : state.errorMessage,
    health,
    healthChanged: state.health?.isHealthy !== outcome.ok || (checked && state.errorMessage !== errorMessage),
    statusChanged: status !== state.status,
  };
}

/** Longest pause between checks of a failing integration. */
export const MAX_BACKOFF_MS = 15 * 60_000;

/**
 * Delay until the next scheduled check. Healthy: the interval, ±10 % jitter so a thousand actors
 * activated together do not check in lockstep. Failing: exponential backoff from the interval
 * (×2 per consecutive failure, capped at MAX_BACKOFF_MS or the interval if larger) with "equal
 * jitter" (half fixed, half random), so a provider that is down is not hammered by every tenant.
 */
export function nextCheckDelay(intervalMs: number, consecutiveFailures: number, random: () => number): number {
  if (consecutiveFailures === 0) return Math.round(intervalMs * (0.9 + 0.2 * random()));
  const backoff = Math.min(intervalMs * 2 ** Math.min(consecutiveFailures - 1, 20), Math.max(MAX_BACKOFF_MS, intervalMs));
  return Math.round(backoff / 2 + (backoff / 2) * random());
}

/**
 * Delay until the first check of a new activation: what is left of the interval since the last
 * check anyone made (durable in the row), so a failover neither checks twice in a row nor skips a
 * round. Never checked: soon, spread over a tenth of the interval.
 */
export function firstCheckDelay(health: HealthCheck | null, intervalMs: number, now: Date, random: () => number): number {
  const spread = intervalMs * 0.1 * random();
  if (!health) return Math.round(spread);
  const due = Date.parse(health.lastCheckedAt) + intervalMs - now.getTime();
  return Math.round(Math.max(0, Math.min(due, intervalMs)) + (due <= 0 ? spread : 0));
}
