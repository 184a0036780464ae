// Persistence of integrations (one row per tenant and kind). Every write of an integration actor is
// fenced on the row's owner epoch, as session writes are (DESIGN.md invariant 2), and carries its
// outbox events and audit entries in the same transaction (invariant 7). Every read is scoped by
// tenant, except the two the server makes on its own behalf: the health-check schedule and the
// webhook lookup by integration id (the id in the URL is the only thing a webhook carries).
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { Integration } from '../../server/db/entities.ts';
import { StaleEpochError, writeEffects, type Effects } from '../../server/db/fenced-writes.ts';
import type { Database } from '../../server/db/orm.ts';
import type { CredentialEnvelope } from '../../server/integrations/credentials.ts';
import type { HealthCheck, IntegrationKind } from '../../server/integrations/provider.ts';

export type IntegrationStatus = Integration['status'];

/** One integration as its actor holds it (credentials still encrypted). */
export type IntegrationRecord = {
  id: string;
  tenantId: string;
  kind: IntegrationKind;
  status: IntegrationStatus;
  errorMessage: string | null;
  credentials: CredentialEnvelope | null;
  credentialsMask: Record<string, string> | null;
  config: Record<string, unknown>;
  health: HealthCheck | null;
  artifacts: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
};

/** The actor key of a tenant's integration of one kind (placement hashes it onto a shard). */
export const integrationKey = (tenantId: string, kind: IntegrationKind) => `integration:${tenantId}:${kind}`;

function toRecord(row: Integration): IntegrationRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    kind: row.kind as IntegrationKind,
    status: row.status,
    errorMessage: row.errorMessage ?? null,
    credentials: row.credentials ?? null,
    credentialsMask: row.credentialsMask ?? null,
    config: row.config,
    health: row.health ?? null,
    artifacts: row.artifacts ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export class IntegrationStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Highest epoch an integration row carries (new shard epochs start above it). */
  async maxEpoch(): Promise<number> {
    const [row] = await this.#db.em().getConnection().execute<{ epoch: number | string | null }[]>('select max(owner_epoch) as epoch from integration');
    return Number(row?.epoch ?? 0);
  }

  async find(tenantId: string, kind: IntegrationKind): Promise<IntegrationRecord | null> {
    const row = await this.#db.em().findOne(Integration, { tenantId, kind });
    return row ? toRecord(row) : null;
  }

  async list(tenantId: string): Promise<IntegrationRecord[]> {
    const rows = await this.#db.em().find(Integration, { tenantId }, { orderBy: { kind: 'asc' } });
    return rows.map(toRecord);
  }

  /** A webhook's integration, by the id in its URL (the row then names the tenant). */
  async findById(id: string): Promise<IntegrationRecord | null> {
    const row = await this.#db.em().findOne(Integration, { id });
    return row ? toRecord(row) : null;
  }

  /** Integrations whose health is checked on a schedule (connected or failing), in key order. */
  async scheduled(): Promise<{ tenantId: string; kind: IntegrationKind }[]> {
    const rows = await this.#db.em().find(
      Integration,
      { status: { $in: ['connected', 'error'] } },
      { fields: ['tenantId', 'kind'], orderBy: { tenantId: 'asc', kind: 'asc' } },
    );
    return rows.map((row) => ({ tenantId: row.tenantId, kind: row.kind as IntegrationKind }));
  }

  /**
   * Activation: raises the row's epoch to `epoch` (refused if a newer owner claimed it) and loads
   * it; null when the tenant has no integration of this kind yet (the first save inserts it, and a
   * concurrent insert by another owner makes one of them stale).
   */
  async claim(tenantId: string, kind: IntegrationKind, epoch: number): Promise<IntegrationRecord | null> {
    return this.#db.em().transactional(async (em) => {
      const claimed = await em.nativeUpdate(Integration, { tenantId, kind, ownerEpoch: { $lte: epoch } }, { ownerEpoch: epoch });
      const row = await em.findOne(Integration, { tenantId, kind });
      if (claimed !== 1 && row) throw new StaleEpochError(integrationKey(tenantId, kind), epoch, row.ownerEpoch);
      return row ? toRecord(row) : null;
    });
  }

  /** Writes the integration's new state with its effects (one transaction, fenced on `epoch`). */
  async save(record: IntegrationRecord, epoch: number, effects: Effects): Promise<void> {
    const key = integrationKey(record.tenantId, record.kind);
    const { id, tenantId, kind, createdAt, ...change } = record;
    try {
      await this.#db.em().transactional(async (em) => {
        // The conditional update checks the epoch and locks the row until commit.
        const touched = await em.nativeUpdate(Integration, { tenantId, kind, ownerEpoch: epoch }, change);
        if (touched !== 1) {
          const current = await em.findOne(Integration, { tenantId, kind }, { fields: ['ownerEpoch'] });
          if (current) throw new StaleEpochError(key, epoch, current.ownerEpoch);
          await em.insert(Integration, { id, tenantId, kind, createdAt, ...change, ownerEpoch: epoch });
        }
        await writeEffects(em, this.#db.dialect, [{ tenantId, effects }]);
      });
    } catch (error) {
      // Another owner inserted the row first: this activation is stale.
      if (error instanceof UniqueConstraintViolationException) throw new StaleEpochError(key, epoch);
      throw error;
    }
  }

  /** Removes the integration (fenced on `epoch`) with its effects. */
  async remove(record: IntegrationRecord, epoch: number, effects: Effects): Promise<void> {
    const { tenantId, kind } = record;
    await this.#db.em().transactional(async (em) => {
      const removed = await em.nativeDelete(Integration, { tenantId, kind, ownerEpoch: epoch });
      if (removed !== 1) {
        const current = await em.findOne(Integration, { tenantId, kind }, { fields: ['ownerEpoch'] });
        if (current) throw new StaleEpochError(integrationKey(tenantId, kind), epoch, current.ownerEpoch);
        return;
      }
      await writeEffects(em, this.#db.dialect, [{ tenantId, effects }]);
    });
  }
}
