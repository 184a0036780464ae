// The events integration actors emit (issue 6): the contract consumers of the configuration and
// integration-health topics rely on (docs/EVENTS.md shows each with an example). A draft is
// checked against its schema where it is built, so a malformed event fails at its source, inside
// the transaction that would have written it. No event carries credentials (invariant 5).
import crypto from 'node:crypto';
import { z } from 'zod';
import type { EventDraft } from '../db/fenced-writes.ts';
import type { Principal } from '../../shared/auth.ts';
import type { Integration } from '../db/entities.ts';
import { INTEGRATION_KINDS, INTEGRATION_STATUSES } from '../../shared/integrations.ts';
import { CONFIGURATION_TOPIC, INTEGRATION_HEALTH_TOPIC } from './topics.ts';


const envelope = {
  eventId: z.uuid(),
  occurredAt: z.iso.datetime({ offset: true }),
  tenantId: z.string().min(1).max(64),
  actor: z.object({ userId: z.string().min(1), role: z.string().min(1) }),
  integrationId: z.uuid(),
  kind: z.enum(INTEGRATION_KINDS),
};
const status = z.enum(INTEGRATION_STATUSES);
const errorMessage = z.string().max(1_000).optional();

export const integrationEventSchemas = {
  /** A health check's outcome differs from the previous one (healthy ↔ unhealthy, or another error). */
  'integration.health.changed': z.strictObject({
    ...envelope,
    type: z.literal('integration.health.changed'),
    status,
    isHealthy: z.boolean(),
    responseTime: z.number().nonnegative(),
    lastCheckedAt: z.iso.datetime({ offset: true }),
    errorMessage,
  }),
  /** The integration moved between pending, connected, error and disabled. */
  'integration.status.changed': z.strictObject({
    ...envelope,
    type: z.literal('integration.status.changed'),
    status,
    previousStatus: status,
    errorMessage,
  }),
  /** Credentials were accepted by the provider and the connection set up. */
  'configuration.integration.connected': z.strictObject({
    ...envelope,
    type: z.literal('configuration.integration.connected'),
    /** The provider's non-secret settings as stored. */
    config: z.record(z.string(), z.unknown()),
  }),
  /** The tenant removed or disabled the integration. */
  'configuration.integration.disconnected': z.strictObject({
    ...envelope,
    type: z.literal('configuration.integration.disconnected'),
    reason: z.enum(['removed', 'disabled']),
  }),
} as const;

export type IntegrationEventType = keyof typeof integrationEventSchemas;
export type IntegrationEvent<T extends IntegrationEventType> = z.infer<(typeof integrationEventSchemas)[T]>;

const TOPIC_OF: Record<IntegrationEventType, string> = {
  'integration.health.changed': INTEGRATION_HEALTH_TOPIC,
  'integration.status.changed': INTEGRATION_HEALTH_TOPIC,
  'configuration.integration.connected': CONFIGURATION_TOPIC,
  'configuration.integration.disconnected': CONFIGURATION_TOPIC,
};

/** Fields of an event besides the envelope, which integrationEvent fills in. */
export type IntegrationEventDetails<T extends IntegrationEventType> = Omit<
  IntegrationEvent<T>,
  'eventId' | 'type' | 'occurredAt' | 'tenantId' | 'actor' | 'integrationId' | 'kind'
>;

/** An outbox draft for `type`; `actor` undefined means the system (health checks, automatic changes). */
export function integrationEvent<T extends IntegrationEventType>(
  type: T,
  integration: Pick<Integration, 'id' | 'tenantId' | 'kind'>,
  actor: Principal | undefined,
  details: IntegrationEventDetails<T>,
): EventDraft {
  const payload = integrationEventSchemas[type].parse({
    eventId: crypto.randomUUID(),
    type,
    occurredAt: new Date().toISOString(),
    tenantId: integration.tenantId,
    actor: actor ? { userId: actor.userId, role: actor.role } : { userId: 'system', role: 'system' },
    integrationId: integration.id,
    kind: integration.kind,
    ...details,
  });
  return { topic: TOPIC_OF[type], type, payload };
}
