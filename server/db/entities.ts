// The persistent model, shared by PostgreSQL and the embedded SQLite (same entities, same
// migrations). `server/db/migrations` creates exactly these tables; a test compares the two.
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { INTEGRATION_STATUSES } from '../../shared/integrations.ts';

export const SESSION_STATUSES = ['active', 'paused', 'completed', 'abandoned'] as const;

/**
 * One tenant's onboarding session: status and step progress (the step machine's state). Its step
 * data lives in the Yjs document, persisted as the update log below.
 */
export const OnboardingSession = defineEntity({
  name: 'OnboardingSession',
  tableName: 'onboarding_session',
  properties: {
    id: p.string().length(36).primary(),
    tenantId: p.string().length(64).index(),
    status: p.enum(SESSION_STATUSES).default('active'),
    currentStep: p.string().length(64),
    steps: p.json<Record<string, { status: string; startedAt?: string; completedAt?: string }>>(),
    createdBy: p.string().length(128),
    // Fencing epoch of the shard lease under which the session's actor was last activated; every
    // commit of the update log checks it, so a stale owner cannot write (DESIGN.md, invariant 2).
    ownerEpoch: p.bigint('number').default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    lastActivityAt: p.datetime().onCreate(() => new Date()),
    completedAt: p.datetime().nullable(),
  },
  // One live (active or paused) session per tenant, enforced by the database so that concurrent
  // `start` calls on any node converge on the same session.
  uniques: [{ name: 'onboarding_session_one_live_per_tenant', properties: ['tenantId'], where: { status: { $in: ['active', 'paused'] } } }],
});
export type OnboardingSession = InferEntity<typeof OnboardingSession>;

/** The session's durable Yjs update log: an edit is acknowledged only once its row is committed. */
export const SessionUpdate = defineEntity({
  name: 'SessionUpdate',
  tableName: 'session_update',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    sessionId: p.string().length(36),
    epoch: p.bigint('number'),
    update: p.blob(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ properties: ['sessionId', 'id'] }],
});
export type SessionUpdate = InferEntity<typeof SessionUpdate>;

/** The compacted document: the state as of update `uptoUpdateId`; older updates are deleted. */
export const SessionSnapshot = defineEntity({
  name: 'SessionSnapshot',
  tableName: 'session_snapshot',
  properties: {
    sessionId: p.string().length(36).primary(),
    uptoUpdateId: p.bigint('number'),
    state: p.blob(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type SessionSnapshot = InferEntity<typeof SessionSnapshot>;

/** How long a step took in a completed session: feeds the time-remaining estimate. */
export const StepDuration = defineEntity({
  name: 'StepDuration',
  tableName: 'step_duration',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    stepId: p.string().length(64),
    minutes: p.double(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ properties: ['stepId', 'id'] }],
});
export type StepDuration = InferEntity<typeof StepDuration>;

/** Transactional outbox: domain events written with the state change, relayed at least once. */
export const OutboxEvent = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox_event',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    tenantId: p.string().length(64),
    topic: p.string().length(128),
    type: p.string().length(128),
    payload: p.json<Record<string, unknown>>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    publishedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['publishedAt', 'id'] }, { properties: ['tenantId', 'id'] }],
});
export type OutboxEvent = InferEntity<typeof OutboxEvent>;

/** Who changed what, when: one row per state change, secrets redacted before they get here. */
export const AuditEntry = defineEntity({
  name: 'AuditEntry',
  tableName: 'audit_entry',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    tenantId: p.string().length(64),
    actorId: p.string().length(128),
    actorRole: p.string().length(16),
    action: p.string().length(64),
    target: p.string().length(128),
    before: p.json<Record<string, unknown>>().nullable(),
    after: p.json<Record<string, unknown>>().nullable(),
    requestId: p.string().length(64).nullable(),
    ip: p.string().length(64).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ properties: ['tenantId', 'createdAt'] }],
});
export type AuditEntry = InferEntity<typeof AuditEntry>;

/**
 * One connection of a tenant to an external service (WhatsApp, Instagram, email, Stripe, n8n, AI),
 * owned at runtime by its integration actor. Credentials are stored only as an AES-256-GCM envelope
 * (key id beside the ciphertext); `credentialsMask` holds what may be shown (e.g. `sk_test_…4242`).
 */
export const Integration = defineEntity({
  name: 'Integration',
  tableName: 'integration',
  properties: {
    id: p.string().length(36).primary(),
    tenantId: p.string().length(64),
    kind: p.string().length(32),
    status: p.enum(INTEGRATION_STATUSES).default('pending'),
    errorMessage: p.text().nullable(),
    credentials: p.json<{ kid: string; iv: string; tag: string; data: string }>().nullable(),
    credentialsMask: p.json<Record<string, string>>().nullable(),
    config: p.json<Record<string, unknown>>(),
    health: p.json<{ lastCheckedAt: string; isHealthy: boolean; responseTime: number }>().nullable(),
    /** What a provider produced that is neither config nor secret, e.g. a trained classifier model (bounded). */
    artifacts: p.json<Record<string, unknown>>().nullable(),
    /** Fencing epoch of the integration actor that last wrote (as for sessions). */
    ownerEpoch: p.bigint('number').default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ properties: ['tenantId', 'kind'] }],
});
export type Integration = InferEntity<typeof Integration>;

/** Inbound channel messages (webhooks), acknowledged to the provider once stored; deduplicated per tenant by the provider's id. */
export const InboundMessage = defineEntity({
  name: 'InboundMessage',
  tableName: 'inbound_message',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    tenantId: p.string().length(64),
    channel: p.string().length(32),
    externalId: p.string().length(256),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime().onCreate(() => new Date()),
    processedAt: p.datetime().nullable(),
  },
  // Per tenant: two tenants may connect the same number or account and each get its messages.
  uniques: [{ properties: ['tenantId', 'channel', 'externalId'] }],
  indexes: [{ properties: ['tenantId', 'id'] }],
});
export type InboundMessage = InferEntity<typeof InboundMessage>;

export const entities = [OnboardingSession, SessionUpdate, SessionSnapshot, StepDuration, OutboxEvent, AuditEntry, Integration, InboundMessage];
