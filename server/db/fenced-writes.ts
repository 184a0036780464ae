// What every fenced write shares, whichever actor makes it (sessions, integrations): the outbox
// events and audit entries written in the same transaction as the change (DESIGN.md invariant 7),
// and the error a write gets when a newer activation owns the row (invariant 2).
import type { EntityName, RequiredEntityData } from '@mikro-orm/core';
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

/** Rows per multi-row INSERT: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const ROWS_PER_INSERT = 500;

/**
 * Inserts `rows` with multi-row INSERTs (one statement per ROWS_PER_INSERT rows, not one per row);
 * returns their ids in the order of `rows`. Both databases allocate the ids of a VALUES list in its
 * order and return them in that order.
 */
export async function insertRows<Entity extends object>(em: EntityManager, entity: EntityName<Entity>, rows: readonly RequiredEntityData<Entity>[]): Promise<number[]> {
  const ids: number[] = [];
  for (let from = 0; from < rows.length; from += ROWS_PER_INSERT) {
    const chunk = rows.slice(from, from + ROWS_PER_INSERT);
    const returned = await em.createQueryBuilder(entity).insert(chunk as RequiredEntityData<Entity>[]).execute<{ id: number | string }[]>('all', true);
    if (returned.length !== chunk.length) throw new Error(`inserted ${chunk.length} rows but ${returned.length} ids came back`);
    for (const row of returned) ids.push(Number(row.id));
  }
  return ids;
}

/** One tenant's effects within a write that may cover several tenants (a node's batch of live edits). */
export type TenantEffects = { tenantId: string; effects: Effects };

/**
 * Writes the effects inside the caller's transaction `em`, after its main change: the tenants'
 * event locks, then every event, audit entry and duration, each kind in multi-row INSERTs, in the
 * order given (so each tenant's events keep their order).
 */
export async function writeEffects(em: EntityManager, dialect: Database['dialect'], writes: readonly TenantEffects[]): Promise<void> {
  const now = new Date();
  const eventTenants = writes.filter((w) => (w.effects.events ?? []).length > 0).map((w) => w.tenantId);
  if (eventTenants.length > 0) await lockTenantEvents(em, dialect, eventTenants);
  const events = writes.flatMap(({ tenantId, effects }) =>
    (effects.events ?? []).map((event) => ({ tenantId, topic: event.topic, type: event.type, payload: event.payload, createdAt: now })),
  );
  const audits = writes.flatMap(({ tenantId, effects }) =>
    (effects.audits ?? []).map((audit) => ({
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
    })),
  );
  const durations = writes.flatMap(({ effects }) => (effects.durations ?? []).map((d) => ({ stepId: d.stepId, minutes: d.minutes, createdAt: now })));
  if (events.length > 0) await insertRows(em, OutboxEvent, events);
  if (audits.length > 0) await insertRows(em, AuditEntry, audits);
  if (durations.length > 0) await insertRows(em, StepDuration, durations);
}

/**
 * PostgreSQL: serialises a tenant's event-writing transactions until they commit, so a tenant's
 * outbox ids are allocated in commit order and the relay, reading in id order, publishes them in
 * order (server/events/outbox-relay.ts). Taken last, after the rows the write is fenced on: their
 * holders only insert plain rows afterwards and wait for no other lock, so no deadlock. SQLite
 * runs one write transaction at a time already.
 */
async function lockTenantEvents(em: EntityManager, dialect: Database['dialect'], tenantIds: readonly string[]): Promise<void> {
  if (dialect !== 'postgresql') return;
  // The two-key form: its own key space, apart from the single-key locks (migrations, relay leader).
  // Several tenants (a batch) are locked in one statement, in key order, so that two batches
  // never wait for each other in a cycle.
  const tenants = [...new Set(tenantIds)];
  await em.execute(
    `select pg_advisory_xact_lock(7311006, k) from (select distinct hashtext(t) as k from (values ${tenants.map(() => '(?::text)').join(', ')}) as v(t) order by k) as keys`,
    tenants,
  );
}
