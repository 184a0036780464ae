// What every fenced write shares, whichever actor makes it (sessions, integrations): the outbox
// events and audit entries written in the same transaction as the change (DESIGN.md invariant 7),
// and the error a write gets when a newer activation owns the row (invariant 2).
import type { EntityManager } from '@mikro-orm/sql';
import { AuditEntry, OutboxEvent, StepDuration } from './entities.ts';
import type { Database } from './orm.ts';

/** A domain event for the outbox; `topic` and `type` are listed in docs/EVENTS.md. */
export type EventDraft = { topic: string; type: string; payload: Record<string, unknown> };

export type AuditDraft = {
  actorId: string;
  actorRole: string;
  action: string;
  target: string;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  requestId?: string | undefined;
  ip?: string | undefined;
};

/** What a fenced write carries besides its main change. */
export type Effects = { events?: EventDraft[]; audits?: AuditDraft[]; durations?: { stepId: string; minutes: number }[] };

/** The row has moved to a newer epoch: another activation owns it; this one must stop. */
export class StaleEpochError extends Error {
  /** The row's epoch, when known; otherwise at least one above ours. */
  readonly currentEpoch: number;

  constructor(key: string, epoch: number, currentEpoch?: number) {
    super(`${key} is owned under a newer epoch than ${epoch}`);
    this.name = 'StaleEpochError';
    this.currentEpoch = currentEpoch ?? epoch + 1;
  }
}

/** Writes `effects` inside the caller's transaction `em`, after its main change. */
export async function writeEffects(em: EntityManager, dialect: Database['dialect'], tenantId: string, effects: Effects): Promise<void> {
  const now = new Date();
  if ((effects.events ?? []).length > 0) await lockTenantEvents(em, dialect, tenantId);
  for (const event of effects.events ?? []) {
    await em.insert(OutboxEvent, { tenantId, topic: event.topic, type: event.type, payload: event.payload, createdAt: now });
  }
  for (const audit of effects.audits ?? []) {
    await em.insert(AuditEntry, {
      tenantId,
      actorId: audit.actorId,
      actorRole: audit.actorRole,
      action: audit.action,
      target: audit.target,
      before: audit.before ?? null,
      after: audit.after ?? null,
      requestId: audit.requestId ?? null,
      ip: audit.ip ?? null,
      createdAt: now,
    });
  }
  for (const duration of effects.durations ?? []) {
    await em.insert(StepDuration, { stepId: duration.stepId, minutes: duration.minutes, createdAt: now });
  }
}

/**
 * PostgreSQL: serialises a tenant's event-writing transactions until they commit, so a tenant's
 * outbox ids are allocated in commit order and the relay, reading in id order, publishes them in
 * order (server/events/outbox-relay.ts). Taken last, after the row the write is fenced on: its
 * holder only inserts plain rows afterwards and waits for no other lock, so no deadlock. SQLite
 * runs one write transaction at a time already.
 */
async function lockTenantEvents(em: EntityManager, dialect: Database['dialect'], tenantId: string): Promise<void> {
  // The two-key form: its own key space, apart from the single-key locks (migrations, relay leader).
  if (dialect === 'postgresql') await em.execute('select pg_advisory_xact_lock(7311006, hashtext(?))', [tenantId]);
}
