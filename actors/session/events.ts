// Onboarding domain events, as written to the outbox (docs/EVENTS.md lists them with examples).
import crypto from 'node:crypto';
import type { Principal } from '../../shared/auth.ts';
import { ONBOARDING_TOPIC } from '../../server/events/topics.ts';
import type { EventDraft } from '../../server/db/fenced-writes.ts';
import type { SessionRecord } from './session-store.ts';

export type OnboardingEventType =
  | 'onboarding.session.started'
  | 'onboarding.step.updated'
  | 'onboarding.step.completed'
  | 'onboarding.step.skipped'
  | 'onboarding.session.paused'
  | 'onboarding.session.resumed'
  | 'onboarding.session.completed'
  | 'onboarding.session.abandoned';

/** The common envelope: consumers deduplicate on `eventId` (delivery is at least once). */
export function sessionEvent(
  session: Pick<SessionRecord, 'id' | 'tenantId'>,
  type: OnboardingEventType,
  actor: Principal | undefined,
  details: Record<string, unknown>,
): EventDraft {
  return {
    topic: ONBOARDING_TOPIC,
    type,
    payload: {
      eventId: crypto.randomUUID(),
      type,
      occurredAt: new Date().toISOString(),
      tenantId: session.tenantId,
      sessionId: session.id,
      actor: actor ? { userId: actor.userId, role: actor.role } : { userId: 'system', role: 'system' },
      ...details,
    },
  };
}
